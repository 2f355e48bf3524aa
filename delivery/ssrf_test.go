package delivery

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var loopbackAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func TestCheckIPTableEdges(t *testing.T) {
	g := NewGuard(nil, false)
	for _, r := range forbiddenRanges {
		first := r.prefix.Addr()
		last := lastAddr(r.prefix)
		for _, ip := range []netip.Addr{first, last} {
			err := g.CheckIP(ip)
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Errorf("CheckIP(%s) in %s = %v, want ErrForbiddenAddress", ip, r.prefix, err)
				continue
			}
			// Narrower entries come first, so the name may be theirs.
			named := false
			for _, o := range forbiddenRanges {
				named = named || (o.prefix.Contains(ip) && strings.Contains(err.Error(), o.name))
			}
			if !named {
				t.Errorf("CheckIP(%s) = %q, names no range holding it", ip, err)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestCheckIP(t *testing.T) {
	g := NewGuard(nil, false)
	cases := []struct {
		ip   string
		name string // "" means the address is public and allowed
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.0.1.1", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		{"2001:4860:4860::8888", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:200::1", ""}, // just past 2001::/23
		{"::ffff:8.8.8.8", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"0.0.0.0", "this network"},
		{"10.1.2.3", "private"},
		{"100.64.0.1", "CGNAT"},
		{"169.254.169.254", "link-local"},
		{"172.31.255.255", "private"},
		{"192.0.0.8", "IETF protocol assignments"},
		{"192.88.99.1", "6to4 relay"},
		{"192.168.0.1", "private"},
		{"198.19.1.1", "benchmarking"},
		{"224.0.0.251", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "limited broadcast"},
		{"250.1.1.1", "reserved"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::127.0.0.1", "IPv4-compatible IPv6, embedding loopback 127.0.0.1"},
		{"::8.8.8.8", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "NAT64, embedding loopback 127.0.0.1"},
		{"64:ff9b::808:808", "NAT64"},
		{"64:ff9b:1::1", "local-use NAT64"},
		{"100::1", "discard-only"},
		{"2001::1", "Teredo"},
		{"2001:1ff::1", "IETF protocol assignments"},
		{"2001:db8::1", "documentation"},
		{"2002:7f00:1::", "6to4, embedding loopback 127.0.0.1"},
		{"2002:808:808::1", "6to4"},
		{"3fff:fff::1", "documentation"},
		{"fc00::1", "unique local"},
		{"fd12:3456:789a::1", "unique local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"::ffff:0:7f00:1", "reserved IPv6"}, // IPv4-translated, outside 2000::/3
		{"5f00::1", "reserved IPv6"},
	}
	for _, c := range cases {
		err := g.CheckIP(netip.MustParseAddr(c.ip))
		if c.name == "" {
			if err != nil {
				t.Errorf("CheckIP(%s) = %v, want allowed", c.ip, err)
			}
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("CheckIP(%s) = %v, want ErrForbiddenAddress naming %q", c.ip, err, c.name)
		}
	}
	if err := g.CheckIP(netip.Addr{}); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("CheckIP(zero Addr) = %v, want ErrForbiddenAddress", err)
	}
}

func TestCheckIPAllowlist(t *testing.T) {
	g := NewGuard([]netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/8"), // unmasked on purpose
		netip.MustParsePrefix("fd00:1::/32"),
	}, false)
	for _, ip := range []string{"127.0.0.1", "127.9.9.9", "::ffff:127.0.0.1", "fd00:1::5"} {
		if err := g.CheckIP(netip.MustParseAddr(ip)); err != nil {
			t.Errorf("allowlisted %s refused: %v", ip, err)
		}
	}
	for _, ip := range []string{"10.0.0.1", "::1", "fd00:2::1", "64:ff9b::7f00:1", "169.254.169.254"} {
		if err := g.CheckIP(netip.MustParseAddr(ip)); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckIP(%s) = %v, want ErrForbiddenAddress", ip, err)
		}
	}
}

func TestControl(t *testing.T) {
	g := NewGuard(nil, false)
	for _, addr := range []string{
		"127.0.0.1:80", "[::1]:443", "[::ffff:10.0.0.1]:80", "[fe80::1%eth0]:80",
		"169.254.169.254:80", "localhost:80", "not-an-address", "",
	} {
		if err := g.Control("tcp", addr, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control(%q) = %v, want ErrForbiddenAddress", addr, err)
		}
	}
	for _, addr := range []string{"8.8.8.8:443", "[2606:4700:4700::1111]:443"} {
		if err := g.Control("tcp", addr, nil); err != nil {
			t.Errorf("Control(%q) = %v, want nil", addr, err)
		}
	}
}

func TestCheckURLHostile(t *testing.T) {
	g := NewGuard(nil, false)
	cases := []struct {
		url       string
		forbidden bool // also errors.Is ErrForbiddenAddress
	}{
		// Shape.
		{"", false},
		{"https://example.com/" + strings.Repeat("a", maxURLLength), false},
		{" https://example.com/", false},
		{"https://example.com/ path", false},
		{"https://example.com/\t", false},
		{"https://exa\nmple.com/", false},
		{"https://example.com/\r\n", false},
		{"https://example.com/\x00", false},
		{"https://example.com/\x7f", false},
		{"https://example.com/\u00a0", false},
		{"https://example.com/\u2028", false},
		{"https://example.com/\xff", false},
		// Schemes.
		{"file:///etc/passwd", false},
		{"gopher://example.com:70/_GET", false},
		{"javascript:alert(1)", false},
		{"ftp://example.com/", false},
		{"ws://example.com/", false},
		{"//example.com/hook", false},
		{"example.com/hook", false},
		{"http:example.com", false},
		{"https:///hook", false},
		{"http://:80/", false},
		// Credentials.
		{"http://user@example.com/", false},
		{"http://user:pass@example.com/", false},
		{"http://user:pass%zz@example.com/", false},
		{"http://evil.com@127.0.0.1/", false},
		{"http://127.0.0.1:80@evil.com/", false},
		// Ports.
		{"http://example.com:0/", false},
		{"http://example.com:65536/", false},
		{"http://example.com:99999999999999999999/", false},
		{"http://example.com:-1/", false},
		{"http://example.com:8o/", false},
		// Host syntax.
		{"http://exa!mple.com/", false},
		{"http://exa..mple.com/", false},
		{"http://.example.com/", false},
		{"http://-example.com/", false},
		{"http://" + strings.Repeat("a", 64) + ".com/", false},
		{"http://bücher.de/", false},
		{"http://ex%20ample.com/", false},
		{"http://%31%32%37.0.0.1/", false}, // Go refuses escapes in hosts
		{"http://[::1/", false},
		{"http://[127.0.0.1]/", false},
		{"http://[2001:4860:4860::8888%25eth0]/", false},
		{"http://256.0.0.1/", false},
		{"http://1.2.3.4.5/", false},
		{"http://08.0.0.1/", false},
		{"http://example.123/", false},
		{"http://example.0x1f/", false},
		{"http://0x100000000/", false},
		{"http://0x08080808/", false}, // public, but not dotted decimal
		{"http://134744072/", false},  // 8.8.8.8 in decimal
		// Loopback by name.
		{"http://localhost/", true},
		{"http://LOCALHOST./", true},
		{"http://localhost:8080/hook", true},
		{"http://foo.localhost/", true},
		{"http://a.b.localhost./", true},
		{"http://localhost.localdomain/", true},
		{"http://localhost6/", true},
		{"http://ip6-localhost/", true},
		{"http://ip6-loopback:8080/", true},
		// IPv4 literals in every notation inet_aton accepts.
		{"http://127.0.0.1/", true},
		{"http://127.0.0.1./", true},
		{"http://127.0.0.1#@evil.com", true},
		{"http://127.0.0.1:8080/hook?x=1", true},
		{"http://127.1/", true},
		{"http://127.0.1/", true},
		{"http://2130706433/", true},
		{"http://0x7f000001/", true},
		{"http://0X7F000001/", true},
		{"http://0x7f.0.0.1/", true},
		{"http://0x7f.1/", true},
		{"http://0177.0.0.1/", true},
		{"http://0177.1/", true},
		{"http://017700000001/", true},
		{"http://0x7f.0.0x0.01/", true},
		{"http://0/", true},
		{"http://0.0.0.0/", true},
		{"http://0x/", true},
		{"http://10.0.0.1/", true},
		{"http://012.1/", true},
		{"http://172.16.5.4/", true},
		{"http://192.168.1.1/", true},
		{"http://3232235777/", true}, // 192.168.1.1
		{"http://100.64.0.1/", true},
		{"http://169.254.169.254/latest/meta-data", true},
		{"http://0xa9fea9fe/", true},
		{"http://198.18.0.1/", true},
		{"http://192.0.2.1/", true},
		{"http://224.0.0.1/", true},
		{"http://255.255.255.255/", true},
		{"http://240.0.0.1/", true},
		// IPv6 literals.
		{"http://[::1]/", true},
		{"http://[0:0:0:0:0:0:0:1]/", true},
		{"http://[::]/", true},
		{"http://[::ffff:127.0.0.1]/", true},
		{"http://[::ffff:7f00:1]/", true},
		{"http://[::ffff:169.254.169.254]/", true},
		{"http://[::127.0.0.1]/", true},
		{"http://[::8.8.8.8]/", true},
		{"http://[64:ff9b::7f00:1]/", true},
		{"http://[64:ff9b::808:808]/", true},
		{"http://[64:ff9b:1::1]/", true},
		{"http://[2002:7f00:1::]/", true},
		{"http://[2001::1]/", true},
		{"http://[2001:db8::1]/", true},
		{"http://[fc00::1]/", true},
		{"http://[fd12:3456::1]:8443/", true},
		{"http://[fe80::1%25eth0]/", true},
		{"http://[FE80::1]/", true},
		{"http://[fec0::1]/", true},
		{"http://[ff02::1]/", true},
		{"http://[100::1]/", true},
		{"http://[3fff::1]/", true},
		{"http://[::ffff:0:7f00:1]/", true},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, c := range cases {
		u, err := g.CheckURL(c.url)
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("CheckURL(%q) = %v, %v; want ErrInvalidURL", c.url, u, err)
			continue
		}
		if got := errors.Is(err, ErrForbiddenAddress); got != c.forbidden {
			t.Errorf("CheckURL(%q) = %v; ErrForbiddenAddress %v, want %v", c.url, err, got, c.forbidden)
		}
		if strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "%zz") {
			t.Errorf("CheckURL(%q) error repeats credentials: %v", c.url, err)
		}
	}
}

func TestCheckURLGood(t *testing.T) {
	g := NewGuard(nil, false)
	for _, raw := range []string{
		"https://example.com/webhook",
		"https://example.com",
		"https://example.com:8443/hooks?x=1&y=2",
		"https://example.com:443",
		"http://example.com/",
		"HTTPS://API.Example.COM/Path",
		"https://example.com./hook",
		"https://sub_domain.example.com/",
		"https://xn--bcher-kva.de/",
		"https://1e100.net/",
		"https://my-host-.example.com/",
		"https://8.8.8.8/hook",
		"https://[2001:4860:4860::8888]/hook",
		"https://[2001:4860:4860::8888]:8443/hook",
		"https://[::ffff:8.8.8.8]/",
		"https://example.com/path#fragment",
		"https://example.com/a%20b",
		"https://example.com/café",
		"https://example.com/?email=a@b.com",
		"https://example.com/@user",
		// Names are resolved and checked at dial time, not here.
		"http://127.0.0.1.nip.io/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"https://localhost.example.com/",
	} {
		u, err := g.CheckURL(raw)
		if err != nil {
			t.Errorf("CheckURL(%q) = %v, want ok", raw, err)
			continue
		}
		if !strings.EqualFold(u.String(), raw) && u.Path != "/café" {
			t.Errorf("CheckURL(%q) returned %q; the URL must be kept as given", raw, u)
		}
	}
}

func TestCheckURLAllowlist(t *testing.T) {
	g := NewGuard(loopbackAllow, false)
	for _, raw := range []string{
		"http://127.0.0.1:8080/hook",
		"http://[::ffff:127.0.0.1]/",
		"http://localhost:9000/",
		"http://foo.localhost/",
	} {
		if _, err := g.CheckURL(raw); err != nil {
			t.Errorf("CheckURL(%q) with loopback allowed = %v, want ok", raw, err)
		}
	}
	for _, raw := range []string{
		"http://10.0.0.1/",
		"http://[::1]/",
		"http://169.254.169.254/",
		"http://127.1/", // allowed range, but still not dotted decimal
	} {
		if _, err := g.CheckURL(raw); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("CheckURL(%q) with loopback allowed = %v, want ErrInvalidURL", raw, err)
		}
	}
}

func TestCheckURLHTTPSOnly(t *testing.T) {
	g := NewGuard(nil, true)
	if _, err := g.CheckURL("https://example.com/hook"); err != nil {
		t.Fatalf("https refused: %v", err)
	}
	_, err := g.CheckURL("http://example.com/hook")
	if !errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http with httpsOnly = %v, want ErrInvalidURL mentioning https", err)
	}
}

func TestParseInetAton(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1":      "127.0.0.1",
		"127.1":          "127.0.0.1",
		"127.0.1":        "127.0.0.1",
		"2130706433":     "127.0.0.1",
		"0x7f000001":     "127.0.0.1",
		"0177.0.0.1":     "127.0.0.1",
		"0x7f.0x0.0.01":  "127.0.0.1",
		"1.2.65535":      "1.2.255.255",
		"1.16777215":     "1.255.255.255",
		"4294967295":     "255.255.255.255",
		"0":              "0.0.0.0",
		"0x":             "0.0.0.0",
		"00":             "0.0.0.0",
		"1.2.3.4.5":      "",
		"256.1.1.1":      "",
		"1.2.65536":      "",
		"1.16777216":     "",
		"4294967296":     "",
		"08":             "",
		"0x1g":           "",
		"1..1":           "",
		"":               "",
		"99999999999999": "",
	}
	for in, want := range cases {
		ip, ok := parseInetAton(in)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != want {
			t.Errorf("parseInetAton(%q) = %q, want %q", in, got, want)
		}
	}
}

// guardedClient dials only through g.Control, like the Sender does.
func guardedClient(t *testing.T, g *Guard) *http.Client {
	t.Helper()
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, Control: g.Control}).DialContext,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestControlEndToEnd(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	t.Run("refused without allowlist", func(t *testing.T) {
		client := guardedClient(t, NewGuard(nil, false))
		for _, target := range []string{srv.URL, "http://localhost:" + strconv.Itoa(port) + "/"} {
			resp, err := client.Get(target)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s succeeded, want a refused dial", target)
			}
			var ue *url.Error
			if !errors.As(err, &ue) || !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("GET %s = %v, want url.Error wrapping ErrForbiddenAddress", target, err)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("handler ran %d times, want 0", n)
		}
	})

	t.Run("accepted with allowlist", func(t *testing.T) {
		client := guardedClient(t, NewGuard(loopbackAllow, false))
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatalf("GET with loopback allowed: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if n := hits.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
	})
}
