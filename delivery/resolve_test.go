package delivery

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"testing"
)

type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	list, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, s := range list {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestCheckResolves(t *testing.T) {
	r := fakeResolver{
		"public.example":   {"93.184.216.34"},
		"internal.example": {"93.184.216.34", "10.0.0.5"},
		"mapped.example":   {"::ffff:192.168.1.1"},
		"metadata.example": {"169.254.169.254"},
		"allowed.example":  {"10.1.2.3"},
	}
	g := NewGuard([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, false)
	cases := []struct {
		url     string
		refused bool
	}{
		{"https://public.example/h", false},
		{"https://internal.example/h", true},
		{"https://Internal.Example./h", true},
		{"https://mapped.example/h", true},
		{"https://metadata.example/h", true},
		{"https://allowed.example/h", false},
		{"https://unknown.example/h", false}, // does not resolve now: checked at each dial
		{"https://93.184.216.34/h", false},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		err = g.CheckResolves(context.Background(), u, r)
		if got := err != nil; got != c.refused || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("%s: %v, want refused %v", c.url, err, c.refused)
		}
	}
}
