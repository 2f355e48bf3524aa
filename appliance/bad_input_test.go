package appliance_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
)

// TestBadInputChangesNothing sends invalid requests and checks each gets a
// JSON error with the right status and writes nothing at all.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{Uid: ptr("ep-uid")})
	m := f.send(t, "job.completed", map[string]any{"job": 1})
	f.waitFinal(t, m.Id) // no attempt left to write while the table runs

	appP := "/api/v1/app/" + f.app.Id
	epP := appP + "/endpoint/" + f.ep.Id
	msgP := appP + "/msg/" + m.Id
	unknownApp := "/api/v1/app/app_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ"
	bigPayload := `{"eventType":"job.completed","payload":{"blob":"` + strings.Repeat("x", 70<<10) + `"}}`
	hugeBody := `{"eventType":"job.completed","payload":{"blob":"` + strings.Repeat("x", 200<<10) + `"}}`
	msg := func(fields string) string { return `{"eventType":"job.completed","payload":{"a":1}` + fields + `}` }

	cases := []struct {
		name   string
		token  string // "-" sends none; "" the admin token
		method string
		path   string
		body   string
		status int
		code   string
	}{
		{"malformed JSON app", "", "POST", "/api/v1/app", `{"name":`, 422, "validation_error"},
		{"malformed JSON message", "", "POST", appP + "/msg", `{"eventType":"a",`, 422, "validation_error"},
		{"empty body", "", "POST", "/api/v1/app", ``, 422, "validation_error"},
		{"JSON array body", "", "POST", "/api/v1/app", `[1,2]`, 422, "validation_error"},
		{"name is a number", "", "POST", "/api/v1/app", `{"name":5}`, 422, "validation_error"},
		{"url is a number", "", "POST", appP + "/endpoint", `{"url":5}`, 422, "validation_error"},
		{"filterTypes is a string", "", "POST", appP + "/endpoint", `{"url":"` + rc.URL("/") + `","filterTypes":"a"}`, 422, "validation_error"},
		{"app name missing", "", "POST", "/api/v1/app", `{"uid":"x"}`, 422, "validation_error"},
		{"app name empty", "", "POST", "/api/v1/app", `{"name":""}`, 422, "validation_error"},
		{"app PUT name missing", "", "PUT", appP, `{}`, 422, "validation_error"},
		{"app PATCH empty name", "", "PATCH", appP, `{"name":""}`, 422, "validation_error"},
		{"endpoint url missing", "", "POST", appP + "/endpoint", `{}`, 422, "validation_error"},
		{"event type name missing", "", "POST", "/api/v1/event-type", `{"description":"x"}`, 422, "validation_error"},
		{"eventType missing", "", "POST", appP + "/msg", `{"payload":{"a":1}}`, 422, "validation_error"},
		{"payload missing", "", "POST", appP + "/msg", `{"eventType":"a"}`, 422, "validation_error"},
		{"payload null", "", "POST", appP + "/msg", `{"eventType":"a","payload":null}`, 422, "validation_error"},
		{"payload an array", "", "POST", appP + "/msg", `{"eventType":"a","payload":[1,2]}`, 422, "validation_error"},
		{"payload a string", "", "POST", appP + "/msg", `{"eventType":"a","payload":"hi"}`, 422, "validation_error"},
		{"eventType invalid characters", "", "POST", appP + "/msg", `{"eventType":"job completed!","payload":{}}`, 422, "validation_error"},
		{"eventId invalid characters", "", "POST", appP + "/msg", msg(`,"eventId":"a b"`), 422, "validation_error"},
		{"channel invalid characters", "", "POST", appP + "/msg", msg(`,"channels":["a b"]`), 422, "validation_error"},
		{"event type name invalid", "", "POST", "/api/v1/event-type", `{"name":"bad name/","description":""}`, 422, "validation_error"},
		{"event type PUT name invalid", "", "PUT", "/api/v1/event-type/bad%20name", `{"description":""}`, 422, "validation_error"},
		{"app uid invalid", "", "POST", "/api/v1/app", `{"name":"x","uid":"bad uid!"}`, 422, "validation_error"},
		{"app uid empty", "", "POST", "/api/v1/app", `{"name":"x","uid":""}`, 422, "validation_error"},
		{"endpoint uid invalid", "", "POST", appP + "/endpoint", `{"url":"` + rc.URL("/") + `","uid":"a/b"}`, 422, "validation_error"},
		{"app PATCH uid invalid", "", "PATCH", appP, `{"uid":"a b"}`, 422, "validation_error"},
		{"url not a URL", "", "POST", appP + "/endpoint", `{"url":"not a url"}`, 422, "validation_error"},
		{"url ftp scheme", "", "POST", appP + "/endpoint", `{"url":"ftp://example.com/"}`, 422, "validation_error"},
		{"url private address", "", "POST", appP + "/endpoint", `{"url":"http://10.0.0.1/hook"}`, 422, "validation_error"},
		{"url link-local metadata", "", "POST", appP + "/endpoint", `{"url":"http://169.254.169.254/latest"}`, 422, "validation_error"},
		{"url private on PATCH", "", "PATCH", epP, `{"url":"http://192.168.1.1/"}`, 422, "validation_error"},
		{"endpoint secret too short", "", "POST", appP + "/endpoint", `{"url":"` + rc.URL("/") + `","secret":"whsec_c2hvcnQ="}`, 422, "validation_error"},
		{"endpoint reserved header", "", "POST", appP + "/endpoint", `{"url":"` + rc.URL("/") + `","headers":{"webhook-id":"x"}}`, 422, "validation_error"},
		{"payload over max_payload_bytes", "", "POST", appP + "/msg", bigPayload, 422, "validation_error"},
		{"body over max_request_body_bytes", "", "POST", appP + "/msg", hugeBody, 413, "payload_too_large"},
		{"unknown app GET", "", "GET", unknownApp, ``, 404, "not_found"},
		{"unknown app uid GET", "", "GET", "/api/v1/app/no-such-uid", ``, 404, "not_found"},
		{"unknown app PATCH", "", "PATCH", unknownApp, `{"name":"x"}`, 404, "not_found"},
		{"unknown app DELETE", "", "DELETE", unknownApp, ``, 404, "not_found"},
		{"unknown app message", "", "POST", unknownApp + "/msg", msg(``), 404, "not_found"},
		{"unknown app endpoint create", "", "POST", unknownApp + "/endpoint", `{"url":"` + rc.URL("/") + `"}`, 404, "not_found"},
		{"unknown endpoint GET", "", "GET", appP + "/endpoint/ep_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", ``, 404, "not_found"},
		{"unknown endpoint PATCH", "", "PATCH", appP + "/endpoint/nope", `{"description":"x"}`, 404, "not_found"},
		{"unknown endpoint DELETE", "", "DELETE", appP + "/endpoint/nope", ``, 404, "not_found"},
		{"unknown endpoint secret", "", "GET", appP + "/endpoint/nope/secret", ``, 404, "not_found"},
		{"unknown message GET", "", "GET", appP + "/msg/msg_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", ``, 404, "not_found"},
		{"unknown message attempts", "", "GET", appP + "/attempt/msg/msg_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", ``, 404, "not_found"},
		{"resend unknown endpoint", "", "POST", msgP + "/endpoint/ep_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ/resend", ``, 404, "not_found"},
		{"resend unknown message", "", "POST", appP + "/msg/msg_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ/endpoint/" + f.ep.Id + "/resend", ``, 404, "not_found"},
		{"unknown event type", "", "GET", "/api/v1/event-type/no.such", ``, 404, "not_found"},
		{"unknown event type DELETE", "", "DELETE", "/api/v1/event-type/no.such", ``, 404, "not_found"},
		{"unknown route", "", "GET", "/api/v1/nothing-here", ``, 404, "not_found"},
		{"no token", "-", "GET", "/api/v1/app", ``, 401, "authentication_failed"},
		{"no token write", "-", "POST", "/api/v1/app", `{"name":"x"}`, 401, "authentication_failed"},
		{"wrong token", "wrong", "POST", appP + "/msg", msg(``), 401, "authentication_failed"},
		{"wrong token delete", "wrong", "DELETE", appP, ``, 401, "authentication_failed"},
		{"bad order", "", "GET", "/api/v1/app?order=sideways", ``, 422, "validation_error"},
		{"limit zero", "", "GET", "/api/v1/app?limit=0", ``, 422, "validation_error"},
		{"limit not a number", "", "GET", appP + "/msg?limit=ten", ``, 422, "validation_error"},
		{"limit over 250", "", "GET", appP + "/msg?limit=251", ``, 422, "validation_error"},
		{"limit negative", "", "GET", appP + "/endpoint?limit=-3", ``, 422, "validation_error"},
		{"before not a date", "", "GET", appP + "/msg?before=yesterday", ``, 422, "validation_error"},
		{"attempt status out of range", "", "GET", appP + "/attempt/msg/" + m.Id + "?status=9", ``, 422, "validation_error"},
		{"attempt status not a number", "", "GET", appP + "/attempt/endpoint/" + f.ep.Id + "?status=ok", ``, 422, "validation_error"},
		{"status code class invalid", "", "GET", appP + "/attempt/msg/" + m.Id + "?status_code_class=250", ``, 422, "validation_error"},
		{"include_archived not a bool", "", "GET", "/api/v1/event-type?include_archived=maybe", ``, 422, "validation_error"},
		{"with_content not a bool on create", "", "POST", appP + "/msg?with_content=perhaps", msg(``), 422, "validation_error"},
	}

	startIndex := n.Store().AppliedIndex()
	startCounts := n.counts()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := testToken
			switch tc.token {
			case "-":
				token = ""
			case "":
			default:
				token = tc.token
			}
			var body any
			if tc.body != "" {
				body = tc.body
			}
			idx := n.Store().AppliedIndex()
			r := n.doToken(token, tc.method, tc.path, body)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content-type %q, want application/json", ct)
			}
			var e map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &e); err != nil {
				t.Fatalf("error body is not a JSON object: %q", r.body)
			}
			var code string
			if err := json.Unmarshal(e["code"], &code); err != nil || code == "" {
				t.Errorf("error body has no string code: %s", r.body)
			} else if code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			if d := e["detail"]; len(d) == 0 || string(d) == "null" || string(d) == `""` || string(d) == "[]" {
				t.Errorf("error body has no detail: %s", r.body)
			}
			if tc.status == http.StatusUnprocessableEntity {
				var fields []struct {
					Loc  []string `json:"loc"`
					Msg  string   `json:"msg"`
					Type string   `json:"type"`
				}
				if err := json.Unmarshal(e["detail"], &fields); err != nil || len(fields) == 0 || len(fields[0].Loc) == 0 || fields[0].Msg == "" {
					t.Errorf("422 detail is not a list of {loc, msg, type}: %s", r.body)
				}
			}
			if got := n.Store().AppliedIndex(); got != idx {
				t.Errorf("applied index moved %d -> %d: the request was written", idx, got)
			}
		})
	}
	if got := n.Store().AppliedIndex(); got != startIndex {
		t.Errorf("applied index moved %d -> %d over the bad requests", startIndex, got)
	}
	if got := n.counts(); got != startCounts {
		t.Errorf("state changed over the bad requests: %+v -> %+v", startCounts, got)
	}
}

// TestPrivateAddressRefusedWithoutAllowlist checks the SSRF guard at
// endpoint creation on a node without the loopback exemption.
func TestPrivateAddressRefusedWithoutAllowlist(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(c *config.Config) { c.AllowPrivateCIDR = nil })
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Guarded"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx, counts := n.Store().AppliedIndex(), n.counts()
	for _, u := range []string{rc.URL("/hook"), "http://localhost:9/", "http://[::1]:9/", "http://10.1.2.3/"} {
		_, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: u}, nil)
		if err == nil {
			t.Errorf("endpoint %s accepted without an allowlist", u)
			continue
		}
		if st := sdkStatus(t, err); st != http.StatusUnprocessableEntity {
			t.Errorf("endpoint %s: status %d, want 422", u, st)
		}
	}
	if got := n.Store().AppliedIndex(); got != idx {
		t.Errorf("applied index moved %d -> %d", idx, got)
	}
	if got := n.counts(); got != counts {
		t.Errorf("state changed: %+v -> %+v", counts, got)
	}
}
