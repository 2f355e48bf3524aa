package server

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"
)

// portalBranding is a Herald addition to Svix's AppPortalAccessIn: how the
// portal opened by this link presents itself, over the node's [portal]
// settings. The values travel as the link's query parameters, which the
// portal reads like Svix's own (primaryColorLight...).
type portalBranding struct {
	PlatformName *string `json:"platformName"`
	LogoURL      *string `json:"logoUrl"`
	PrimaryColor *string `json:"primaryColor"`
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func (b *portalBranding) validate(v *violations) {
	if b.PlatformName != nil {
		n := *b.PlatformName
		v.check(n != "" && len(n) <= 64 && !strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }),
			"must be 1-64 characters without control characters", "platformName")
	}
	if b.LogoURL != nil {
		u, err := url.Parse(*b.LogoURL)
		v.check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(*b.LogoURL) <= 2048,
			"must be an http or https URL of at most 2048 characters", "logoUrl")
	}
	if b.PrimaryColor != nil {
		v.check(colorPattern.MatchString(*b.PrimaryColor), "must be a colour written #rrggbb", "primaryColor")
	}
}

// portalLink is the consumer portal's address for an app-portal token:
// the token (and the application it opens) ride in the fragment, which
// browsers never send to a server, so they stay out of access logs.
func (s *Server) portalLink(token, appID string, b *portalBranding) string {
	q := url.Values{}
	if b.PlatformName != nil {
		q.Set("platformName", *b.PlatformName)
	}
	if b.LogoURL != nil {
		q.Set("icon", *b.LogoURL)
	}
	if b.PrimaryColor != nil {
		q.Set("primaryColor", *b.PrimaryColor)
	}
	link := strings.TrimRight(s.cfg.PublicURL, "/") + "/app-portal/"
	if len(q) > 0 {
		link += "?" + q.Encode()
	}
	frag := url.Values{"app": {appID}}
	return link + "#token=" + url.QueryEscape(token) + "&" + frag.Encode()
}

// marshalUnescaped encodes v as JSON without escaping <, > and & (the
// link's query and fragment read as they are).
func marshalUnescaped(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings only: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// portalRedirect sends /app-portal to /app-portal/, keeping the query: the
// page's relative asset and API paths need the slash. Browsers carry the
// fragment (the token) over the redirect themselves.
func portalRedirect(c *fasthttp.RequestCtx) {
	target := "app-portal/"
	if q := c.URI().QueryString(); len(q) > 0 {
		target += "?" + string(q)
	}
	c.Response.Header.Set("Location", target)
	c.Response.Header.Set("Cache-Control", "no-store")
	c.SetStatusCode(fasthttp.StatusMovedPermanently)
}
