package delivery

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// checkURLSeeds are hostile endpoint URLs in the notations resolvers,
// browsers and URL parsers disagree on; the committed corpus under
// testdata/fuzz/FuzzCheckURL holds more.
var checkURLSeeds = []string{
	"https://example.com/webhook",
	"https://[2001:4860:4860::8888]:8443/hook",
	"https://8.8.8.8/hook",
	// Numeric IPv4 forms inet_aton accepts.
	"http://2130706433/",
	"http://0x7f000001/",
	"http://0177.0.0.1/",
	"http://0x7f.1/",
	"http://127.1/",
	"http://017700000001/",
	"http://0000000177.0.0.1/",
	"http://127.000000000000.1/",
	"http://0xa9.0xfe.0xa9.0xfe/",
	"http://0251.0376.0251.0376/",
	"http://169.254.43518/",
	"http://2852039166/",
	"http://0x/",
	"http://0/",
	"http://127.0.0.1./",
	"http://0x7f000001./",
	// IPv6, including IPv4-mapped, -compatible and tunnelled forms.
	"http://[::1]/",
	"http://[::ffff:127.0.0.1]/",
	"http://[0:0:0:0:0:ffff:127.0.0.1]/",
	"http://[::ffff:a9fe:a9fe]/",
	"http://[::ffff:0:7f00:1]/",
	"http://[::127.0.0.1]/",
	"http://[64:ff9b::a9fe:a9fe]/",
	"http://[2002:a9fe:a9fe::1]/",
	"http://[fe80::1%25eth0]/",
	"https://[::ffff:127.0.0.1%25eth0]/",
	"http://[fe80::1%25%31]/",
	"http://[::]:80/",
	// Userinfo and parser confusion.
	"http://user:pass@example.com/",
	"http://evil.com@127.0.0.1/",
	"http://127.0.0.1:80@evil.com/",
	"http://127.0.0.1:80\\@evil.com/",
	"http://evil.com\\@127.0.0.1/",
	"http://127.0.0.1#@evil.com",
	"http://[::1]:80@evil/",
	"https://example.com:443:443/",
	"http://user:pass%zz@example.com/",
	// Names and look-alikes.
	"http://localhost/",
	"http://LocalHost./",
	"http://foo.localhost./",
	"http://localhost%2e/",
	"http://127。0。0。1/",
	"http://①②⑦.0.0.1/",
	"http://127.0.0.1%00.evil.com/",
	"http://169.254.169.254.nip.io/",
	"http://xn--bcher-kva.de/",
	// Shape.
	"",
	"//example.com/",
	"javascript:alert(1)",
	"HTTPS://EXAMPLE.COM",
	"http://example.com:0/",
	"http://example.com:65536/",
	"https://example.com/" + strings.Repeat("a", maxURLLength),
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range checkURLSeeds {
		f.Add(s)
	}
	guards := []*Guard{NewGuard(nil, false), NewGuard(nil, true)}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, g := range guards {
			u, err := g.CheckURL(raw)
			if err != nil {
				if u != nil {
					t.Fatalf("CheckURL(%q) returned a URL with error %v", raw, err)
				}
				if !errors.Is(err, ErrInvalidURL) {
					t.Fatalf("CheckURL(%q) = %v, want an error wrapping ErrInvalidURL", raw, err)
				}
				continue
			}
			if u == nil {
				t.Fatalf("CheckURL(%q) returned neither URL nor error", raw)
			}
			if len(raw) > maxURLLength {
				t.Fatalf("CheckURL accepted a %d-byte URL", len(raw))
			}
			switch {
			case u.Scheme == "https":
			case u.Scheme == "http" && !g.httpsOnly:
			default:
				t.Fatalf("CheckURL(%q) accepted scheme %q (httpsOnly %v)", raw, u.Scheme, g.httpsOnly)
			}
			if u.User != nil || u.Opaque != "" || u.Host == "" {
				t.Fatalf("CheckURL(%q) accepted user %v, opaque %q, host %q", raw, u.User, u.Opaque, u.Host)
			}
			assertPublicHost(t, g, raw, u.Hostname())
		}
	})
}

// assertPublicHost re-checks an accepted host independently of checkHost:
// no IP literal in any notation may point into a forbidden range.
func assertPublicHost(t *testing.T, g *Guard, raw, host string) {
	t.Helper()
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		t.Fatalf("CheckURL(%q) accepted an empty host", raw)
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			t.Fatalf("CheckURL(%q) accepted a zoned address %s", raw, ip)
		}
		if err := g.CheckIP(ip); err != nil {
			t.Fatalf("CheckURL(%q) accepted forbidden literal %s: %v", raw, ip, err)
		}
		if ip.Is4In6() {
			if err := g.CheckIP(ip.Unmap()); err != nil {
				t.Fatalf("CheckURL(%q) accepted mapped forbidden %s: %v", raw, ip, err)
			}
		}
		return
	}
	if ip, ok := parseInetAton(h); ok {
		// Anything inet_aton reads as an address must have been written
		// as dotted decimal, which ParseAddr above would have caught.
		t.Fatalf("CheckURL(%q) accepted host %q, which resolvers read as %s", raw, host, ip)
	}
	if loopbackHostnames[h] || strings.HasSuffix(h, ".localhost") {
		t.Fatalf("CheckURL(%q) accepted loopback name %q", raw, host)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			t.Fatalf("CheckURL(%q) accepted host %q with byte %q", raw, host, c)
		}
	}
}
