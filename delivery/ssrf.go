package delivery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrForbiddenAddress reports a destination in a private, local or reserved range.
	ErrForbiddenAddress = errors.New("forbidden destination address")
	// ErrInvalidURL reports an endpoint URL refused at creation; the wrapped text is fit for an API error.
	ErrInvalidURL = errors.New("invalid endpoint URL")
)

// maxURLLength bounds stored endpoint URLs; browsers and proxies agree on
// little beyond 2 KiB and a longer webhook URL is a mistake or an attack.
const maxURLLength = 2048

// embedKind says where an IPv6 range carries an IPv4 address, so the
// refusal can name what the address really points at.
type embedKind uint8

const (
	embedNone  embedKind = iota
	embedLow32           // IPv4-compatible ::a.b.c.d and NAT64 64:ff9b::a.b.c.d
	embed6to4            // 2002:AABB:CCDD::/48 carries a.b.c.d in bits 16..47
)

type namedRange struct {
	prefix netip.Prefix
	name   string
	embed  embedKind
}

// forbiddenRanges are never dialled unless an operator allows them
// explicitly. The table follows the IANA special-purpose registries; the
// first match names the refusal, so narrower ranges precede wider ones.
// IPv4-mapped IPv6 (::ffff:0:0/96) is not listed: it is unmapped and
// checked as IPv4, because that is where the kernel sends it.
var forbiddenRanges = []namedRange{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), "this network", embedNone},
	{netip.MustParsePrefix("10.0.0.0/8"), "private", embedNone},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)", embedNone},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", embedNone},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local", embedNone},
	{netip.MustParsePrefix("172.16.0.0/12"), "private", embedNone},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments", embedNone},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (TEST-NET-1)", embedNone},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast", embedNone},
	{netip.MustParsePrefix("192.168.0.0/16"), "private", embedNone},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking", embedNone},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (TEST-NET-2)", embedNone},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (TEST-NET-3)", embedNone},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast", embedNone},
	{netip.MustParsePrefix("255.255.255.255/32"), "limited broadcast", embedNone},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved", embedNone},

	// IPv6.
	{netip.MustParsePrefix("::/128"), "unspecified", embedNone},
	{netip.MustParsePrefix("::1/128"), "loopback", embedNone},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6", embedLow32},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64", embedLow32},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64", embedNone},
	{netip.MustParsePrefix("100::/64"), "discard-only", embedNone},
	{netip.MustParsePrefix("2001::/32"), "Teredo", embedNone},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments", embedNone},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation", embedNone},
	{netip.MustParsePrefix("2002::/16"), "6to4", embed6to4},
	{netip.MustParsePrefix("3fff::/20"), "documentation", embedNone},
	{netip.MustParsePrefix("fc00::/7"), "unique local", embedNone},
	{netip.MustParsePrefix("fe80::/10"), "link-local", embedNone},
	{netip.MustParsePrefix("fec0::/10"), "site-local", embedNone},
	{netip.MustParsePrefix("ff00::/8"), "multicast", embedNone},
}

// globalUnicast6 is the only IPv6 block IANA hands out for public
// unicast; anything outside it that the table misses is unassigned or
// special-purpose (e.g. ::ffff:0:a.b.c.d, 5f00::/16) and refused too.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// loopbackHostnames resolve to loopback on common systems (glibc, systemd
// nss-myhostname, Debian and Red Hat /etc/hosts) without touching DNS.
var loopbackHostnames = map[string]bool{
	"localhost":               true,
	"localhost.localdomain":   true,
	"localhost6":              true,
	"localhost6.localdomain6": true,
	"ip6-localhost":           true,
	"ip6-loopback":            true,
}

// Guard refuses outbound connections to internal networks (SSRF defence).
type Guard struct {
	allow []netip.Prefix
	// httpsOnly applies to CheckURL only: redirects are never followed,
	// so the scheme cannot change after the endpoint is accepted.
	httpsOnly bool
}

// NewGuard returns a Guard exempting the allow prefixes and, if httpsOnly, refusing http URLs.
func NewGuard(allow []netip.Prefix, httpsOnly bool) *Guard {
	g := &Guard{httpsOnly: httpsOnly}
	for _, p := range allow {
		if p.IsValid() {
			g.allow = append(g.allow, p.Masked())
		}
	}
	return g
}

// CheckIP returns nil if ip may be dialled, or an error wrapping ErrForbiddenAddress.
func (g *Guard) CheckIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: not an IP address", ErrForbiddenAddress)
	}
	// A zone only picks an interface; the address itself decides where
	// the packet goes, and zoned prefixes never match in netip.
	ip = ip.WithZone("")
	if g.allowed(ip) {
		return nil
	}
	if ip.Is4In6() {
		// The kernel sends ::ffff:a.b.c.d to a.b.c.d over IPv4.
		return g.CheckIP(ip.Unmap())
	}
	if name := forbiddenName(ip); name != "" {
		return fmt.Errorf("%w: %s (%s)", ErrForbiddenAddress, ip, name)
	}
	return nil
}

func (g *Guard) allowed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forbiddenName names the range holding ip, or returns "" for a public address.
func forbiddenName(ip netip.Addr) string {
	for _, r := range forbiddenRanges {
		if !r.prefix.Contains(ip) {
			continue
		}
		// Ranges that tunnel IPv4 are refused whatever they carry, since
		// a relay or translator would forward to an address nobody
		// checked; naming the embedded target makes the refusal legible.
		if v4, ok := embeddedIPv4(ip, r.embed); ok {
			if inner := forbiddenName(v4); inner != "" {
				return r.name + ", embedding " + inner + " " + v4.String()
			}
		}
		return r.name
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return "reserved IPv6"
	}
	return ""
}

func embeddedIPv4(ip netip.Addr, kind embedKind) (netip.Addr, bool) {
	b := ip.As16()
	switch kind {
	case embedLow32:
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case embed6to4:
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// Control is a net.Dialer.Control hook that refuses forbidden addresses.
// It sees the address after DNS resolution, for every connection, which
// is what defeats DNS rebinding: a name that was public when the endpoint
// was created cannot later point the dialer at an internal host.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q", ErrForbiddenAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// The dialer always hands over a numeric address; anything else
		// means an unexpected path, so fail closed.
		return fmt.Errorf("%w: dial address %q is not an IP", ErrForbiddenAddress, address)
	}
	return g.CheckIP(ip)
}

// CheckURL validates an endpoint URL at creation and returns it parsed.
//
// Hostnames are deliberately not resolved here: DNS answers change, so a
// check now proves nothing about the connection made later, and resolving
// untrusted names at creation would itself let API callers probe internal
// DNS. Control re-checks every resolved address at dial time; this function
// only refuses what is internal by construction (IP literals in every
// notation a resolver might accept, and names that are loopback by
// convention), so that obvious mistakes fail early with a clear message.
func (g *Guard) CheckURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, invalidURL("URL is empty")
	}
	if len(raw) > maxURLLength {
		return nil, invalidURL(fmt.Sprintf("URL is longer than %d bytes", maxURLLength))
	}
	if !utf8.ValidString(raw) {
		return nil, invalidURL("URL is not valid UTF-8")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) {
			return nil, invalidURL("URL contains whitespace or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, credentials included; keep
		// only the parser's reason, and not even that for a bad escape,
		// which quotes bytes that may belong to a password.
		var esc url.EscapeError
		if errors.As(err, &esc) {
			return nil, invalidURL("URL contains an invalid percent-escape")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, invalidURL("URL cannot be parsed: " + err.Error())
	}
	switch u.Scheme { // url.Parse lowercases the scheme
	case "https":
	case "http":
		if g.httpsOnly {
			return nil, invalidURL("http URLs are not allowed on this server; use https")
		}
	case "":
		return nil, invalidURL("URL must be absolute, starting with https://")
	default:
		return nil, invalidURL(fmt.Sprintf("scheme %q is not allowed; use https or http", u.Scheme))
	}
	if u.Opaque != "" {
		return nil, invalidURL("URL must have the form " + u.Scheme + "://host/path")
	}
	if u.User != nil {
		return nil, invalidURL("URL must not contain credentials (user@host); send them as a custom header instead")
	}
	if u.Host == "" {
		return nil, invalidURL("URL has no host")
	}
	if err := checkPort(u.Port()); err != nil {
		return nil, err
	}
	if err := g.checkHost(u); err != nil {
		return nil, err
	}
	return u, nil
}

func invalidURL(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidURL, reason)
}

func checkPort(port string) error {
	if port == "" {
		return nil
	}
	// url.Parse guarantees digits only; the value is what is left to check.
	n := 0
	for _, c := range port {
		n = n*10 + int(c-'0')
		if n > 65535 {
			break
		}
	}
	if n < 1 || n > 65535 {
		return invalidURL("port must be between 1 and 65535")
	}
	return nil
}

func (g *Guard) checkHost(u *url.URL) error {
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return invalidURL("bracketed host is not a valid IPv6 address")
		}
		if err := g.checkLiteral(ip); err != nil {
			return err
		}
		if ip.Zone() != "" {
			// A zone names a local interface: never a public endpoint.
			return invalidURL("IPv6 zone identifiers are not allowed")
		}
		return nil
	}

	// Resolvers ignore case and one trailing dot; so must the checks.
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return invalidURL("URL has no host")
	}
	if loopbackHostnames[host] || strings.HasSuffix(host, ".localhost") {
		// Such names never reach DNS; they mean the loopback addresses,
		// so an operator who allowed loopback may use them.
		if g.CheckIP(netip.IPv6Loopback()) == nil || g.CheckIP(netip.AddrFrom4([4]byte{127, 0, 0, 1})) == nil {
			return nil
		}
		return fmt.Errorf("%w: %w: host %s is a loopback name", ErrInvalidURL, ErrForbiddenAddress, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return g.checkLiteral(ip)
	}
	if endsInNumber(host) {
		// Such a host is an IPv4 address to libc, to browsers (WHATWG
		// URL) and to curl, whatever Go's own resolver makes of it.
		ip, ok := parseInetAton(host)
		if !ok {
			return invalidURL("host looks like an IPv4 address but is not a valid one")
		}
		if err := g.checkLiteral(ip); err != nil {
			return err
		}
		// Even a public result is refused: resolvers disagree on these
		// forms, so the stored URL would not say where requests go.
		return invalidURL(fmt.Sprintf("write the IPv4 address in dotted-decimal form (%s)", ip))
	}
	return checkHostname(host)
}

func (g *Guard) checkLiteral(ip netip.Addr) error {
	if err := g.CheckIP(ip); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	return nil
}

// checkHostname enforces DNS name syntax (letters, digits, hyphens, and
// underscores, which real internal names do use) so percent-escapes,
// Unicode look-alikes and stray punctuation cannot slip past.
func checkHostname(host string) error {
	if len(host) > 253 {
		return invalidURL("host name is longer than 253 characters")
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 {
			return invalidURL("host name has an empty label or one longer than 63 characters")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				if c >= utf8.RuneSelf {
					return invalidURL("host name must be ASCII; use its punycode (xn--) form")
				}
				return invalidURL(fmt.Sprintf("host name contains the invalid character %q", c))
			}
		}
		if label[0] == '-' {
			return invalidURL("host name label starts with a hyphen")
		}
	}
	return nil
}

// endsInNumber reports whether the last label is decimal or 0x-hex, the
// WHATWG URL test for "this host is meant as an IPv4 address".
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		for i := 0; i < len(h); i++ {
			if !isHexDigit(h[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// parseInetAton parses IPv4 the way glibc inet_aton does: one to four
// parts, each decimal, octal (leading 0) or hex (0x); the last part fills
// the remaining bytes, so 127.1 is 127.0.0.1 and 2130706433 is too.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseInetPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	for _, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
	}
	// The last part covers 32, 24, 16 or 8 bits for 1, 2, 3 or 4 parts.
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n := vals[last]
	for i, v := range vals[:last] {
		n |= v << (24 - 8*i)
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func parseInetPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:] // glibc reads a bare "0x" as zero
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var v uint64
	for i := 0; i < len(p); i++ {
		c := p[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && isHexDigit(c):
			d = uint64(c|0x20-'a') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}
