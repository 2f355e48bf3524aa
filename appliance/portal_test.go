package appliance_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/config"
)

// TestPortalLinkAndPage: app-portal-access links start at public_url,
// carry the token and application in the fragment and the branding as
// query parameters; the node serves the page they open, with the
// configured frame-ancestors.
func TestPortalLinkAndPage(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(c *config.Config) {
		c.PublicURL = "https://webhooks.example.com/herald/"
		c.Portal.FrameAncestors = []string{"'self'", "https://app.example.com"}
	})
	var app struct{ ID string }
	n.do(http.MethodPost, "/api/v1/app", map[string]any{"name": "Portal", "uid": "portal-app"}).json(t, &app)

	var out struct{ URL, Token string }
	r := n.do(http.MethodPost, "/api/v1/auth/app-portal-access/portal-app", map[string]any{
		"platformName": "Acme & Co", "logoUrl": "https://cdn.example.com/logo.png", "primaryColor": "#aa0011",
	})
	r.json(t, &out)
	if strings.Contains(string(r.body), `\u0026`) {
		t.Errorf("link escaped for HTML: %s", r.body)
	}
	u, err := url.Parse(out.URL)
	if err != nil || u.Scheme != "https" || u.Host != "webhooks.example.com" || u.Path != "/herald/app-portal/" {
		t.Fatalf("link %q (%v): want it under public_url", out.URL, err)
	}
	q := u.Query()
	if q.Get("platformName") != "Acme & Co" || q.Get("icon") != "https://cdn.example.com/logo.png" || q.Get("primaryColor") != "#aa0011" {
		t.Errorf("branding in query: %v", q)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	if !strings.HasPrefix(u.Fragment, "token=") || frag.Get("token") != out.Token || frag.Get("app") != app.ID {
		t.Errorf("fragment %q: want token=%s&app=%s", u.Fragment, out.Token, app.ID)
	}
	for field, bad := range map[string]any{"primaryColor": "red", "logoUrl": "javascript:alert(1)", "platformName": ""} {
		if r := n.do(http.MethodPost, "/api/v1/auth/app-portal-access/portal-app", map[string]any{field: bad}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s %v: status %d, want 422", field, bad, r.status)
		}
	}

	page := n.doToken("", http.MethodGet, "/app-portal/", nil)
	csp := page.header.Get("Content-Security-Policy")
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `src="assets/app.js"`) ||
		!strings.Contains(csp, "frame-ancestors 'self' https://app.example.com") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("portal page: %d, CSP %q", page.status, csp)
	}
	req, _ := http.NewRequest(http.MethodGet, n.url+"/app-portal?darkMode=true", nil)
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "app-portal/?darkMode=true" {
		t.Errorf("/app-portal: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
