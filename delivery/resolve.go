package delivery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolveTimeout bounds the look-up made when an endpoint is created.
const resolveTimeout = 2 * time.Second

// CheckResolves resolves the host name of a URL that CheckURL accepted and
// refuses it when an address it resolves to is refused, so a name pointing
// at an internal network is turned away when the endpoint is created, with
// a clear message, not only at each connection. A name that does not
// resolve now is accepted: a receiver's DNS may not exist yet, and every
// connection is checked again after its own resolution (Control).
func (g *Guard) CheckResolves(ctx context.Context, u *url.URL, r Resolver) error {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if _, err := netip.ParseAddr(host); err == nil || loopbackHostnames[host] || strings.HasSuffix(host, ".localhost") {
		return nil // literal addresses and loopback names: CheckURL decided
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.CheckIP(a.Unmap()); err != nil {
			return fmt.Errorf("%w: %w: host %s resolves to %s", ErrInvalidURL, ErrForbiddenAddress, host, a.Unmap())
		}
	}
	return nil
}
