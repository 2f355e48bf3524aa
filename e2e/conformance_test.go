//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
)

// notServed is what the Svix Go SDK offers and Herald deliberately does
// not serve; the conformance test calls everything else. Keep it short and
// give the reason: the README repeats it.
var notServed = map[string]string{
	"Connector, Environment, Ingest, Integration, Streaming":                                              "Svix Cloud products (transformation templates, environments, ingest sources, integrations, event streams), not webhook delivery",
	"Authentication.Stream*, Authentication.GetStreamPollerToken, Authentication.RotateStreamPollerToken": "token management for Svix's event streams",
	"Message.Poller":      "Svix's polling endpoints (consumers pull messages instead of receiving webhooks)",
	"Endpoint.BulkReplay": "Svix's newer bulk replay; replay-missing and recover cover its cases",
}

// openapiChecker is an http.RoundTripper that validates every response
// against Herald's own OpenAPI document (as the node serves it) and
// records which documented operations were exercised.
type openapiChecker struct {
	base   http.RoundTripper
	router routers.Router
	doc    *openapi3.T

	mu       sync.Mutex
	seen     map[string]bool
	problems []string
}

func newOpenAPIChecker(t *testing.T, base string) *openapiChecker {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", resp.StatusCode, raw)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("the served document is not valid OpenAPI 3: %v", err)
	}
	return &openapiChecker{base: http.DefaultTransport, router: router, doc: doc, seen: map[string]bool{}}
}

func (c *openapiChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(check)
	if err != nil {
		c.fail("%s %s: no documented route: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: check, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.fail("%s %s -> %d: response does not match the document: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID] = true
	c.mu.Unlock()
	return resp, nil
}

func (c *openapiChecker) fail(format string, args ...any) {
	c.mu.Lock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// unexercised lists the documented operations no call reached.
func (c *openapiChecker) unexercised() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !c.seen[op.OperationID] {
				out = append(out, op.OperationID+" ("+method+" "+path+")")
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestSDKConformance drives every resource group of the official Svix Go
// SDK against the real binary. Every call must succeed and decode (no
// 404/405, no missing required field), every response must match Herald's
// OpenAPI document as the node serves it, and every operation of that
// document must be exercised, so neither the document nor the SDK surface
// can drift from the code unnoticed.
func TestSDKConformance(t *testing.T) {
	n := newNode(t)
	n.start()
	rc := newReceiver(t)
	base := n.baseURL().String()
	checker := newOpenAPIChecker(t, base)
	hc := &http.Client{Transport: checker, Timeout: 30 * time.Second}
	sdk, err := svix.New(adminToken, &svix.SvixOptions{ServerUrl: n.baseURL(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	called := map[string]bool{}
	call := func(name string, err error) {
		t.Helper()
		called[name] = true
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	must := func(name string, err error) {
		t.Helper()
		called[name] = true
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	str := func(s string) *string { return &s }
	since := time.Now().Add(-time.Minute)

	call("Health.Get", sdk.Health.Get(ctx))

	// Event types.
	_, err = sdk.EventType.Create(ctx, models.EventTypeIn{Name: "job.completed", Description: "A job finished"}, nil)
	must("EventType.Create", err)
	_, err = sdk.EventType.Get(ctx, "job.completed")
	call("EventType.Get", err)
	_, err = sdk.EventType.List(ctx, &svix.EventTypeListOptions{WithContent: ptrTo(true)})
	call("EventType.List", err)
	_, err = sdk.EventType.Update(ctx, "job.failed", models.EventTypeUpdate{Description: "A job failed"})
	call("EventType.Update", err)
	_, err = sdk.EventType.Patch(ctx, "job.failed", models.EventTypePatch{Description: str("A job failed for good")})
	call("EventType.Patch", err)
	spec := `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"webhooks":{"job.cancelled":{"post":{"description":"Cancelled","requestBody":{"content":{"application/json":{"schema":{"type":"object"}}}}}}}}`
	_, err = sdk.EventType.ImportOpenapi(ctx, models.EventTypeImportOpenApiIn{SpecRaw: &spec}, nil)
	call("EventType.ImportOpenapi", err)

	// Applications.
	app, err := sdk.Application.Create(ctx, models.ApplicationIn{Name: "Acme", Uid: str("acme")}, nil)
	must("Application.Create", err)
	_, err = sdk.Application.GetOrCreate(ctx, models.ApplicationIn{Name: "Acme", Uid: str("acme")}, nil)
	call("Application.GetOrCreate", err)
	_, err = sdk.Application.Get(ctx, "acme")
	call("Application.Get", err)
	_, err = sdk.Application.List(ctx, nil)
	call("Application.List", err)
	_, err = sdk.Application.Update(ctx, "acme", models.ApplicationIn{Name: "Acme Inc", Uid: str("acme")})
	call("Application.Update", err)
	_, err = sdk.Application.Patch(ctx, "acme", models.ApplicationPatch{Name: str("Acme Corp")})
	call("Application.Patch", err)

	// Endpoints.
	ep, err := sdk.Endpoint.Create(ctx, app.Id, models.EndpointIn{Url: rc.srv.URL + "/hook", Uid: str("main"), FilterTypes: []string{"job.completed"}}, nil)
	must("Endpoint.Create", err)
	rc.secret = mustSecret(t, sdk, app.Id, ep.Id)
	_, err = sdk.Endpoint.Get(ctx, app.Id, "main")
	call("Endpoint.Get", err)
	_, err = sdk.Endpoint.List(ctx, app.Id, nil)
	call("Endpoint.List", err)
	_, err = sdk.Endpoint.Update(ctx, app.Id, ep.Id, models.EndpointUpdate{Url: rc.srv.URL + "/hook", Description: str("main hook")})
	call("Endpoint.Update", err)
	_, err = sdk.Endpoint.Patch(ctx, app.Id, ep.Id, models.EndpointPatch{Description: str("patched")})
	call("Endpoint.Patch", err)
	call("Endpoint.UpdateHeaders", sdk.Endpoint.UpdateHeaders(ctx, app.Id, ep.Id, models.EndpointHeadersIn{Headers: map[string]string{"X-Team": "jobs"}}))
	call("Endpoint.PatchHeaders", sdk.Endpoint.PatchHeaders(ctx, app.Id, ep.Id, models.EndpointHeadersPatchIn{Headers: map[string]string{"X-Env": "test"}}))
	_, err = sdk.Endpoint.GetHeaders(ctx, app.Id, ep.Id)
	call("Endpoint.GetHeaders", err)
	_, err = sdk.Endpoint.TransformationGet(ctx, app.Id, ep.Id)
	call("Endpoint.TransformationGet", err)
	call("Endpoint.PatchTransformation", sdk.Endpoint.PatchTransformation(ctx, app.Id, ep.Id, models.EndpointTransformationPatch{Enabled: ptrTo(false)}))
	call("Endpoint.TransformationPartialUpdate", sdk.Endpoint.TransformationPartialUpdate(ctx, app.Id, ep.Id, models.EndpointTransformationIn{}))

	// Operational webhook endpoints (failure notices).
	opEp, err := sdk.OperationalWebhookEndpoint.Create(ctx, models.OperationalWebhookEndpointIn{
		Url: rc.srv.URL + "/ops", Uid: str("ops"), FilterTypes: []string{"message.attempt.exhausted"}, Metadata: &map[string]string{"team": "ops"},
	}, nil)
	must("OperationalWebhookEndpoint.Create", err)
	_, err = sdk.OperationalWebhookEndpoint.Get(ctx, opEp.Id)
	call("OperationalWebhookEndpoint.Get", err)
	_, err = sdk.OperationalWebhookEndpoint.List(ctx, nil)
	call("OperationalWebhookEndpoint.List", err)
	_, err = sdk.OperationalWebhookEndpoint.Update(ctx, opEp.Id, models.OperationalWebhookEndpointUpdate{Url: rc.srv.URL + "/ops", Description: str("notices"), ThrottleRate: ptrTo(uint16(10))})
	call("OperationalWebhookEndpoint.Update", err)
	call("OperationalWebhookEndpoint.UpdateHeaders", sdk.OperationalWebhookEndpoint.UpdateHeaders(ctx, opEp.Id, models.OperationalWebhookEndpointHeadersIn{Headers: map[string]string{"X-Team": "ops"}}))
	_, err = sdk.OperationalWebhookEndpoint.GetHeaders(ctx, opEp.Id)
	call("OperationalWebhookEndpoint.GetHeaders", err)
	_, err = sdk.OperationalWebhookEndpoint.GetSecret(ctx, opEp.Id)
	call("OperationalWebhookEndpoint.GetSecret", err)
	call("OperationalWebhookEndpoint.RotateSecret", sdk.OperationalWebhookEndpoint.RotateSecret(ctx, opEp.Id, models.OperationalWebhookEndpointSecretIn{}, nil))
	call("OperationalWebhookEndpoint.Delete", sdk.OperationalWebhookEndpoint.Delete(ctx, opEp.Id))

	// Messages and attempts.
	msg, err := sdk.Message.Create(ctx, app.Id, models.MessageIn{EventType: "job.completed", Payload: map[string]any{"jobId": "j_1"}}, nil)
	must("Message.Create", err)
	_, err = sdk.Message.Precheck(ctx, app.Id, models.MessagePrecheckIn{EventType: "job.completed"}, nil)
	call("Message.Precheck", err)
	_, err = sdk.Message.Get(ctx, app.Id, msg.Id, nil)
	call("Message.Get", err)
	_, err = sdk.Message.List(ctx, app.Id, nil)
	call("Message.List", err)
	var attempts *models.ListResponseMessageAttemptOut
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		attempts, err = sdk.MessageAttempt.ListByMsg(ctx, app.Id, msg.Id, nil)
		if err != nil {
			return err
		}
		if len(attempts.Data) == 0 {
			return errors.New("no attempt yet")
		}
		return nil
	})
	called["MessageAttempt.ListByMsg"] = true
	_, err = sdk.MessageAttempt.ListByEndpoint(ctx, app.Id, ep.Id, &svix.MessageAttemptListByEndpointOptions{WithMsg: ptrTo(true)})
	call("MessageAttempt.ListByEndpoint", err)
	_, err = sdk.MessageAttempt.ListAttemptedMessages(ctx, app.Id, ep.Id, nil)
	call("MessageAttempt.ListAttemptedMessages", err)
	_, err = sdk.MessageAttempt.ListAttemptedDestinations(ctx, app.Id, msg.Id, nil)
	call("MessageAttempt.ListAttemptedDestinations", err)
	_, err = sdk.MessageAttempt.Get(ctx, app.Id, msg.Id, attempts.Data[0].Id, nil)
	call("MessageAttempt.Get", err)
	{
		// Svix's attempt headers route, which no SDK calls (internal in Svix).
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/app/"+app.Id+"/msg/"+msg.Id+"/attempt/"+attempts.Data[0].Id+"/headers", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("GET attempt headers: %v", err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusOK {
			t.Errorf("GET attempt headers: %d", resp.StatusCode)
		}
	}
	_, err = sdk.MessageAttempt.Resend(ctx, app.Id, msg.Id, ep.Id, nil)
	call("MessageAttempt.Resend", err)

	// Secrets, recovery, replay, tasks.
	_, err = sdk.Endpoint.GetSecret(ctx, app.Id, ep.Id)
	call("Endpoint.GetSecret", err)
	call("Endpoint.RotateSecret", sdk.Endpoint.RotateSecret(ctx, app.Id, ep.Id, models.EndpointSecretRotateIn{}, nil))
	rec, err := sdk.Endpoint.Recover(ctx, app.Id, ep.Id, models.RecoverIn{Since: since}, nil)
	call("Endpoint.Recover", err)
	_, err = sdk.Endpoint.ReplayMissing(ctx, app.Id, ep.Id, models.ReplayIn{Since: since}, nil)
	call("Endpoint.ReplayMissing", err)
	if rec != nil {
		_, err = sdk.BackgroundTask.Get(ctx, rec.Id)
		call("BackgroundTask.Get", err)
	}
	_, err = sdk.BackgroundTask.List(ctx, nil)
	call("BackgroundTask.List", err)
	_, err = sdk.Statistics.AggregateAppStats(ctx, models.AppUsageStatsIn{Since: since, Until: time.Now().Add(time.Minute)}, nil)
	call("Statistics.AggregateAppStats", err)
	_, err = sdk.Statistics.AggregateEventTypes(ctx)
	call("Statistics.AggregateEventTypes", err)

	// Authentication.
	_, err = sdk.Authentication.AppPortalAccess(ctx, app.Id, models.AppPortalAccessIn{}, nil)
	call("Authentication.AppPortalAccess", err)
	_, err = sdk.Authentication.DashboardAccess(ctx, app.Id, nil)
	call("Authentication.DashboardAccess", err)
	portal, err := sdk.Authentication.AppPortalAccess(ctx, app.Id, models.AppPortalAccessIn{}, nil)
	must("Authentication.AppPortalAccess", err)
	scoped, err := svix.New(portal.Token, &svix.SvixOptions{ServerUrl: n.baseURL(), HTTPClient: hc})
	must("svix.New", err)
	// Herald's session route, for both kinds of token (no SDK call).
	for _, token := range []string{adminToken, portal.Token} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/auth/session", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("GET /api/v1/auth/session: %v", err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /api/v1/auth/session: %d", resp.StatusCode)
		}
	}
	call("Authentication.Logout", scoped.Authentication.Logout(ctx, nil))
	call("Authentication.ExpireAll", sdk.Authentication.ExpireAll(ctx, app.Id, models.ApplicationTokenExpireIn{}, nil))

	// Herald's additions, through the same checking client.
	for _, path := range []string{"/metrics", "/api/v1/cluster", "/api/v1/cluster/node", "/api/v1/backup", "/api/v1/app/" + app.Id + "/delivery?status=0&limit=2"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	// The application's secret (one-off destinations): read, then rotate.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/app/" + app.Id + "/secret"},
		{http.MethodPost, "/api/v1/app/" + app.Id + "/secret/rotate"},
	} {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", r.method, r.path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Errorf("%s %s: %d", r.method, r.path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/openapi.json", nil)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
	}
	// The join and removal routes, with input they refuse: the answers
	// are still checked against the document.
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/cluster/join", `{}`},
		{http.MethodDelete, "/api/v1/cluster/node/not-a-member", ""},
		{http.MethodPost, "/api/v1/cluster/node/not-a-member/allow-rejoin", ""},
	} {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", r.method, r.path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d, want a 4xx refusal", r.method, r.path, resp.StatusCode)
		}
	}

	// The portal's test send and stats (before the deletes: the example
	// goes to this endpoint only).
	ex, err := sdk.Endpoint.SendExample(ctx, app.Id, ep.Id, models.EventExampleIn{EventType: "svix.ping"}, nil)
	call("Endpoint.SendExample", err)
	if err == nil && ex.EventType != "svix.ping" {
		t.Errorf("SendExample answered %+v", ex)
	}
	_, err = sdk.Endpoint.GetStats(ctx, app.Id, ep.Id, nil)
	call("Endpoint.GetStats", err)

	// Content expunge: the attempt's response, then the payload.
	call("MessageAttempt.ExpungeContent", sdk.MessageAttempt.ExpungeContent(ctx, app.Id, msg.Id, attempts.Data[0].Id))
	call("Message.ExpungeContent", sdk.Message.ExpungeContent(ctx, app.Id, msg.Id))
	_, err = sdk.Message.ExpungeAllContents(ctx, app.Id, nil)
	call("Message.ExpungeAllContents", err)

	// Deletes last.
	call("Endpoint.Delete", sdk.Endpoint.Delete(ctx, app.Id, ep.Id))
	call("EventType.Delete", sdk.EventType.Delete(ctx, "job.failed", nil))
	call("Application.Delete", sdk.Application.Delete(ctx, app.Id))

	for _, p := range checker.problems {
		t.Error(p)
	}
	if missing := checker.unexercised(); len(missing) > 0 {
		t.Errorf("documented operations no call exercised:\n  %s", strings.Join(missing, "\n  "))
	}
	var uncovered []string
	for _, m := range sdkMethods(reflect.ValueOf(sdk).Elem(), "") {
		// The SDK offers operational webhook endpoints under two names.
		m = strings.Replace(m, "OperationalWebhook.Endpoint.", "OperationalWebhookEndpoint.", 1)
		if !called[m] && !notServedCovers(m) {
			uncovered = append(uncovered, m)
		}
	}
	if len(uncovered) > 0 {
		t.Errorf("SDK methods neither called here nor listed in notServed:\n  %s", strings.Join(uncovered, "\n  "))
	}
}

// sdkMethods lists the methods the SDK client offers, as
// "Resource.Method" (nested resources: "Message.Poller.Poll"), found by
// reflection so a new SDK release cannot add a method nobody looks at.
func sdkMethods(v reflect.Value, prefix string) []string {
	var out []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
			continue
		}
		name := prefix + f.Name
		for j := range f.Type.NumMethod() {
			out = append(out, name+"."+f.Type.Method(j).Name)
		}
		if fv := v.Field(i); !fv.IsNil() {
			out = append(out, sdkMethods(fv.Elem(), name+".")...)
		}
	}
	slices.Sort(out)
	return out
}

// notServedCovers reports whether a notServed key names the method: a key
// is a comma-separated list of patterns, each a resource ("Ingest", which
// covers everything beneath it), "Resource.*", a prefix ending in '*', or
// an exact "Resource.Method".
func notServedCovers(method string) bool {
	for key := range notServed {
		for _, pat := range strings.Split(key, ",") {
			pat = strings.TrimSpace(pat)
			switch {
			case strings.HasSuffix(pat, "*"):
				if strings.HasPrefix(method, strings.TrimSuffix(pat, "*")) {
					return true
				}
			case method == pat || strings.HasPrefix(method, pat+"."):
				return true
			}
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

func mustSecret(t *testing.T, sdk *svix.Svix, appID, epID string) string {
	t.Helper()
	s, err := sdk.Endpoint.GetSecret(context.Background(), appID, epID)
	if err != nil {
		t.Fatal(err)
	}
	return s.Key
}
