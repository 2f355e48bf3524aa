package appliance_test

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
)

// portalToken issues an application token through the SDK.
func portalToken(t *testing.T, n *testNode, appID string, in models.AppPortalAccessIn) string {
	t.Helper()
	out, err := n.sdk.Authentication.AppPortalAccess(ctx(t), appID, in, nil)
	if err != nil {
		t.Fatalf("AppPortalAccess: %v", err)
	}
	if !strings.HasPrefix(out.Token, "hrldapp_") || !strings.Contains(out.Url, out.Token) {
		t.Fatalf("AppPortalAccess = %+v", out)
	}
	return out.Token
}

// TestAppTokenScope: an application token reaches its own application and
// nothing else; every attempt on another application or an admin route is
// refused and changes nothing.
func TestAppTokenScope(t *testing.T) {
	n := startNode(t)
	rc := newReceiver(t)
	mine, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "mine"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "other", Uid: ptr("other")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherEp, err := n.sdk.Endpoint.Create(ctx(t), other.Id, models.EndpointIn{Url: rc.URL("/other")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherMsg, err := n.sdk.Message.Create(ctx(t), other.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{"x": 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.waitFor(t, 1)
	token := portalToken(t, n, mine.Id, models.AppPortalAccessIn{})

	// Its own application works, through the SDK.
	app, err := svix.New(token, &svix.SvixOptions{ServerUrl: mustURL(t, n.url)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Application.Get(ctx(t), mine.Id); err != nil {
		t.Fatalf("own app: %v", err)
	}
	ep, err := app.Endpoint.Create(ctx(t), mine.Id, models.EndpointIn{Url: rc.URL("/mine")}, nil)
	if err != nil {
		t.Fatalf("own endpoint create: %v", err)
	}
	if _, err := app.Endpoint.GetSecret(ctx(t), mine.Id, ep.Id); err != nil {
		t.Fatalf("own secret: %v", err)
	}
	if _, err := app.Message.List(ctx(t), mine.Id, nil); err != nil {
		t.Fatalf("own messages: %v", err)
	}

	before, idx := n.counts(), n.Store().AppliedIndex()
	o, oe, om := "/api/v1/app/"+other.Id, "/api/v1/app/"+other.Id+"/endpoint/"+otherEp.Id, "/api/v1/app/"+other.Id+"/msg/"+otherMsg.Id
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", o, "", 404},
		{"GET", "/api/v1/app/other", "", 404}, // by uid
		{"GET", o + "/endpoint", "", 404},
		{"GET", oe, "", 404},
		{"GET", oe + "/secret", "", 404},
		{"POST", oe + "/secret/rotate", `{}`, 404},
		{"POST", oe + "/recover", `{"since":"2026-01-01T00:00:00Z"}`, 404},
		{"GET", oe + "/headers", "", 404},
		{"PUT", oe + "/headers", `{"headers":{"X-A":"1"}}`, 404},
		{"PATCH", oe + "/headers", `{"headers":{"X-A":"1"}}`, 404},
		{"POST", o + "/endpoint", `{"url":"` + rc.URL("/x") + `"}`, 404},
		{"PATCH", oe, `{"description":"hijacked"}`, 404},
		{"PUT", oe, `{"url":"` + rc.URL("/x") + `"}`, 404},
		{"DELETE", oe, "", 404},
		{"GET", o + "/msg", "", 404},
		{"GET", om, "", 404},
		{"GET", o + "/attempt/msg/" + otherMsg.Id, "", 404},
		{"GET", o + "/attempt/endpoint/" + otherEp.Id, "", 404},
		{"GET", om + "/endpoint", "", 404},
		{"POST", om + "/endpoint/" + otherEp.Id + "/resend", "", 404},
		// Admin routes, even for its own application.
		{"GET", "/api/v1/app", "", 403},
		{"POST", "/api/v1/app", `{"name":"x"}`, 403},
		{"PATCH", "/api/v1/app/" + mine.Id, `{"name":"renamed"}`, 403},
		{"DELETE", "/api/v1/app/" + mine.Id, "", 403},
		{"POST", "/api/v1/app/" + mine.Id + "/msg", `{"eventType":"a.b","payload":{}}`, 403},
		{"POST", "/api/v1/event-type", `{"name":"x.y","description":""}`, 403},
		{"DELETE", "/api/v1/event-type/a.b", "", 403},
		{"POST", "/api/v1/auth/app-portal-access/" + mine.Id, `{}`, 403},
		{"POST", "/api/v1/auth/app-portal-access/" + other.Id, `{}`, 403},
		{"POST", "/api/v1/auth/app/" + other.Id + "/expire-all", `{}`, 403},
		{"GET", "/api/v1/cluster", "", 403},
		{"DELETE", "/api/v1/cluster/node/test-node", "", 403},
	}
	for _, tc := range cases {
		r := n.doToken(token, tc.method, tc.path, tc.body)
		if r.status != tc.status || !strings.Contains(r.header.Get("Content-Type"), "json") {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
		}
	}
	if after := n.counts(); after != before || n.Store().AppliedIndex() != idx {
		t.Fatalf("refused requests changed the state: %+v -> %+v, index %d -> %d", before, after, idx, n.Store().AppliedIndex())
	}
	got, err := n.sdk.Endpoint.Get(ctx(t), other.Id, otherEp.Id)
	if err != nil || got.Description != "" {
		t.Fatalf("other endpoint after the attempts: %+v %v", got, err)
	}
}

// TestAppTokenReadOnlyAndRevocation: read-only tokens read but never
// write; expire-all and logout revoke tokens.
func TestAppTokenReadOnlyAndRevocation(t *testing.T) {
	n := startNode(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ro := portalToken(t, n, app.Id, models.AppPortalAccessIn{ReadOnly: ptr(true)})
	base := "/api/v1/app/" + app.Id
	if r := n.doToken(ro, "GET", base+"/endpoint", nil); r.status != 200 {
		t.Fatalf("read-only list = %d %s", r.status, r.body)
	}
	if r := n.doToken(ro, "POST", base+"/endpoint", `{"url":"https://example.com/"}`); r.status != 403 {
		t.Fatalf("read-only create = %d %s, want 403", r.status, r.body)
	}

	// expire-all with a delay: still valid now, refused after it.
	rw := portalToken(t, n, app.Id, models.AppPortalAccessIn{SessionId: ptr("s1")})
	keep := portalToken(t, n, app.Id, models.AppPortalAccessIn{SessionId: ptr("s2")})
	if err := n.sdk.Authentication.ExpireAll(ctx(t), app.Id, models.ApplicationTokenExpireIn{Expiry: ptr(int64(1)), SessionIds: []string{"s1"}}, nil); err != nil {
		t.Fatalf("ExpireAll: %v", err)
	}
	if r := n.doToken(rw, "GET", base, nil); r.status != 200 {
		t.Fatalf("token before its delayed expiry = %d", r.status)
	}
	checkFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if r := n.doToken(rw, "GET", base, nil); r.status != 401 {
			return fmt.Errorf("expired session token still answers %d", r.status)
		}
		return nil
	})
	if r := n.doToken(keep, "GET", base, nil); r.status != 200 {
		t.Fatalf("another session's token = %d after expire-all of s1", r.status)
	}

	// Logout revokes the token it is sent with.
	if r := n.doToken(keep, "POST", "/api/v1/auth/logout", nil); r.status != 204 {
		t.Fatalf("logout = %d %s", r.status, r.body)
	}
	if r := n.doToken(keep, "GET", base, nil); r.status != 401 {
		t.Fatalf("token after logout = %d", r.status)
	}
	// Deleting the application kills its tokens.
	dead := portalToken(t, n, app.Id, models.AppPortalAccessIn{})
	if err := n.sdk.Application.Delete(ctx(t), app.Id); err != nil {
		t.Fatal(err)
	}
	if r := n.doToken(dead, "GET", base, nil); r.status != 401 {
		t.Fatalf("token of a deleted app = %d", r.status)
	}
	// Expiry outside 1 hour..7 days is refused.
	if _, err := n.sdk.Authentication.AppPortalAccess(ctx(t), "nope", models.AppPortalAccessIn{Expiry: ptr(uint64(60))}, nil); sdkStatus(t, err) != 422 {
		t.Fatalf("expiry of 60 s accepted")
	}
}

// TestRequestLimits: per-token rate limit (429 + Retry-After), header
// count and size (431), JSON depth (422), endpoints per app.
func TestRequestLimits(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.API.AppRateLimit = 2
		c.API.MaxHeaders = 20
		c.API.MaxHeaderBytes = 4096
		c.API.MaxJSONDepth = 8
		c.API.MaxEndpointsPerApp = 2
	})
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := portalToken(t, n, app.Id, models.AppPortalAccessIn{})
	limited := 0
	for range 10 {
		r := n.doToken(token, "GET", "/api/v1/app/"+app.Id, nil)
		if r.status == http.StatusTooManyRequests {
			limited++
			if r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatalf("10 quick requests at 2/s (burst 4): none limited")
	}

	var hdr []string
	for i := range 30 {
		hdr = append(hdr, fmt.Sprintf("X-Extra-%d", i), "1")
	}
	if r := n.do("GET", "/api/v1/app", nil, hdr...); r.status != 431 {
		t.Fatalf("30 extra headers = %d %s", r.status, r.body)
	}
	if r := n.do("GET", "/api/v1/app", nil, "X-Big", strings.Repeat("a", 8000)); r.status != 431 {
		t.Fatalf("8 KB header = %d %s", r.status, r.body)
	}
	deep := `{"eventType":"a.b","payload":` + strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10) + "}"
	before := n.counts()
	if r := n.do("POST", "/api/v1/app/"+app.Id+"/msg", deep); r.status != 422 {
		t.Fatalf("deep JSON = %d %s", r.status, r.body)
	}
	for i := range 2 {
		if _, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: fmt.Sprintf("https://example.com/%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: "https://example.com/3"}, nil); sdkStatus(t, err) != 422 {
		t.Fatalf("third endpoint over a limit of 2 accepted")
	}
	if after := n.counts(); after.Messages != before.Messages || after.Endpoints != before.Endpoints+2 {
		t.Fatalf("counts %+v -> %+v", before, after)
	}
}

// TestSlowClientsAreCut: a client that sends its request slower than
// api.read_timeout (slowloris) has its connection closed, and one that
// leaves a keep-alive connection idle is cut after api.idle_timeout.
func TestSlowClientsAreCut(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.API.ReadTimeout = config.Duration{Duration: 500 * time.Millisecond}
		c.API.IdleTimeout = config.Duration{Duration: 500 * time.Millisecond}
	})
	addr := strings.TrimPrefix(n.url, "http://")
	for _, tc := range []struct {
		name  string
		start string
	}{
		{"headers dribbled", "POST /api/v1/app HTTP/1.1\r\nHost: x\r\n"},
		{"body never finished", "POST /api/v1/app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + "\r\nContent-Length: 100\r\n\r\n{\"na"},
		{"idle keep-alive", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(tc.start)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 4096)
			for {
				if _, err := conn.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatalf("connection still open after %v", time.Since(start))
					}
					break // closed by the server
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("cut after %v, want about the 500ms timeout", d)
			}
		})
	}
}

// TestLimitsFromReview: the configured header size is the one applied, a
// forged forwarding header does not skip the rate limit, an unknown token
// capability is refused rather than ignored (TestAppTokenCapabilities
// covers the known ones), and the registry holds the advertised API
// address.
func TestLimitsFromReview(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.API.MaxHeaderBytes = 16384
		c.API.AdminRateLimit = 1
		c.HTTPAdvertise = "herald.internal:8484"
	})
	// 6,000-byte header: over fasthttp's default buffer, under ours.
	checkFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		if r := n.do("GET", "/api/v1/health", nil, "X-Big", strings.Repeat("a", 6000)); r.status != 204 {
			return fmt.Errorf("6 KB header = %d %s", r.status, r.body)
		}
		return nil
	})
	limited := 0
	for range 8 {
		if r := n.do("POST", "/api/v1/app", `{"name":"x"}`, "X-Herald-Forwarded-By", "forged"); r.status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatalf("a forged X-Herald-Forwarded-By skipped the admin rate limit of 1/s")
	}
	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		var v struct {
			Nodes []struct{ HTTPAddr string } `json:"nodes"`
		}
		r := n.do("GET", "/api/v1/cluster", nil)
		if r.status != 200 {
			return fmt.Errorf("cluster = %d", r.status)
		}
		r.json(t, &v)
		if len(v.Nodes) != 1 || v.Nodes[0].HTTPAddr != "herald.internal:8484" {
			return fmt.Errorf("registry = %+v, want the advertised address", v.Nodes)
		}
		return nil
	})
	checkFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		r := n.do("POST", "/api/v1/app", `{"name":"caps","uid":"caps"}`)
		if r.status != 201 {
			return fmt.Errorf("create app = %d", r.status)
		}
		return nil
	})
	var r rawResponse
	checkFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		r = n.do("POST", "/api/v1/auth/app-portal-access/caps", `{"capabilities":["ViewBase","Everything"]}`)
		if r.status == 429 {
			return fmt.Errorf("rate limited")
		}
		return nil
	})
	if r.status != 422 {
		t.Fatalf("unknown capability = %d %s, want 422", r.status, r.body)
	}
}

// TestAppTokenCapabilities: tokens restricted to a list of Svix's
// capabilities, and read-only tokens, reach exactly the route classes
// their capabilities open; every refusal is a 403 insufficient_capability
// that changes nothing; bad lists are a 422 that issues no token; the
// session route tells each token what it may do.
func TestAppTokenCapabilities(t *testing.T) {
	n := startNode(t)
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "caps", Uid: ptr("caps-app")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/hook")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{"x": 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.waitFor(t, 1)

	type capList = []models.AppPortalCapability
	tokens := map[string]models.AppPortalAccessIn{
		"default":              {},
		"readOnly":             {ReadOnly: ptr(true)},
		"ViewBase":             {Capabilities: capList{"ViewBase"}},
		"ViewEndpointSecret":   {Capabilities: capList{"ViewBase", "ViewEndpointSecret"}},
		"ManageEndpointSecret": {Capabilities: capList{"ViewBase", "ManageEndpointSecret"}},
		"CreateAttempts":       {Capabilities: capList{"ViewBase", "CreateAttempts"}},
		"ManageEndpoint":       {Capabilities: capList{"ViewBase", "ManageEndpoint"}},
	}
	base := "/api/v1/app/" + app.Id
	epPath := base + "/endpoint/" + ep.Id
	classes := []struct {
		name, method, path, body string
		status                   int      // when allowed
		allowed                  []string // tokens allowed
	}{
		{"ViewBase", "GET", epPath, "", 200, []string{"default", "readOnly", "ViewBase", "ViewEndpointSecret", "ManageEndpointSecret", "CreateAttempts", "ManageEndpoint"}},
		{"ViewEndpointSecret", "GET", epPath + "/secret", "", 200, []string{"default", "ViewEndpointSecret", "ManageEndpointSecret", "ManageEndpoint"}},
		{"ManageEndpointSecret", "POST", epPath + "/secret/rotate", `{}`, 204, []string{"default", "ManageEndpointSecret", "ManageEndpoint"}},
		{"ManageEndpoint", "PATCH", epPath, `{"description":"changed"}`, 200, []string{"default", "ManageEndpoint"}},
		{"ManageEndpoint headers", "PUT", epPath + "/headers", `{"headers":{"X-A":"1"}}`, 204, []string{"default", "ManageEndpoint"}},
		{"CreateAttempts", "POST", base + "/msg/" + msg.Id + "/endpoint/" + ep.Id + "/resend", "", 202, []string{"default", "CreateAttempts"}},
		{"admin only", "POST", base + "/msg", `{"eventType":"a.b","payload":{}}`, 0, nil},
	}
	attempts := 1 // the message's first delivery
	for name, in := range tokens {
		token := portalToken(t, n, app.Id, in)
		for _, cl := range classes {
			idx := n.Store().AppliedIndex()
			r := n.doToken(token, cl.method, cl.path, cl.body)
			if slices.Contains(cl.allowed, name) {
				if r.status != cl.status {
					t.Errorf("%s token, %s (%s %s) = %d %s, want %d", name, cl.name, cl.method, cl.path, r.status, r.body, cl.status)
				}
				if cl.name == "CreateAttempts" {
					// The resend's outcome is written later: wait for it,
					// so it is not taken for a refusal's write.
					attempts++
					checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
						if c := n.counts().Attempts; c != attempts {
							return fmt.Errorf("%d attempts recorded, want %d", c, attempts)
						}
						return nil
					})
				}
				continue
			}
			var e struct{ Code, Detail string }
			r.json(t, &e)
			wantCode := "insufficient_capability"
			if cl.allowed == nil {
				wantCode = "insufficient access"
			}
			if r.status != 403 || e.Code != wantCode {
				t.Errorf("%s token, %s (%s %s) = %d %s, want 403 %s", name, cl.name, cl.method, cl.path, r.status, r.body, wantCode)
			}
			if got := n.Store().AppliedIndex(); got != idx {
				t.Errorf("%s token, refused %s moved the applied index %d -> %d", name, cl.name, idx, got)
			}
		}

		// The session route: what the portal shows.
		var s struct {
			Kind         string
			AppID        string `json:"appId"`
			AppUID       *string
			ReadOnly     *bool
			Capabilities []string
			ExpiresAt    time.Time
		}
		r := n.doToken(token, "GET", "/api/v1/auth/session", nil)
		if r.status != 200 {
			t.Fatalf("session for %s token = %d %s", name, r.status, r.body)
		}
		r.json(t, &s)
		wantCaps := map[string][]string{
			"default":  {"ViewBase", "ViewEndpointSecret", "ManageEndpointSecret", "ManageTransformations", "CreateAttempts", "ManageEndpoint"},
			"readOnly": {"ViewBase"},
		}[name]
		if wantCaps == nil {
			wantCaps = []string{"ViewBase"}
			if name != "ViewBase" {
				wantCaps = append(wantCaps, name)
			}
		}
		wantRO := name == "readOnly" || name == "ViewBase" || name == "ViewEndpointSecret"
		if s.Kind != "app_portal" || s.AppID != app.Id || s.AppUID == nil || *s.AppUID != "caps-app" || s.ReadOnly == nil || *s.ReadOnly != wantRO ||
			!slices.Equal(s.Capabilities, wantCaps) || time.Until(s.ExpiresAt) < 6*24*time.Hour {
			t.Errorf("session for %s token = %s", name, r.body)
		}
	}
	if r := n.do("GET", "/api/v1/auth/session", nil); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"kind":"admin"}` {
		t.Errorf("session for the admin token = %d %s", r.status, r.body)
	}
	if r := n.doToken("", "GET", "/api/v1/auth/session", nil); r.status != 401 {
		t.Errorf("session without a token = %d", r.status)
	}

	// Bad capability lists: 422, and no token issued.
	idx := n.Store().AppliedIndex()
	for _, body := range []string{
		`{"capabilities":["ViewBase","Superpowers"]}`,
		`{"capabilities":["ManageEndpoint"]}`,
		`{"capabilities":[]}`,
		`{"capabilities":["ViewBase","ViewEndpointSecret"],"readOnly":true}`,
		`{"capabilities":"ViewBase"}`,
	} {
		if r := n.do("POST", "/api/v1/auth/app-portal-access/"+app.Id, body); r.status != 422 || strings.Contains(string(r.body), "hrldapp_") {
			t.Errorf("app-portal-access %s = %d %s, want 422", body, r.status, r.body)
		}
	}
	if got := n.Store().AppliedIndex(); got != idx {
		t.Errorf("refused app-portal-access requests moved the applied index %d -> %d", idx, got)
	}
}
