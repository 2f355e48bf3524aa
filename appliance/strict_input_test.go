package appliance_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/storage"
)

// apiFieldError is one entry of a 422 answer's detail.
type apiFieldError struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// TestStrictInput: JSON that encoding/json takes but that other parsers
// read differently (invalid UTF-8, lone surrogates, duplicate keys, numbers
// beyond a float64), anywhere in a body and payloads included, an unknown
// field on Herald's own objects, an integer out of its field's range and a
// query parameter that does not parse are each answered 422
// validation_error naming the field and the problem, and write nothing.
func TestStrictInput(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Strict"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: "https://example.com/hook"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	appP := "/api/v1/app/" + app.Id
	epP := appP + "/endpoint/" + ep.Id
	msg := func(payload string) string { return `{"eventType":"job.completed","payload":` + payload + `}` }
	cases := []struct {
		name, method, path, body string
		loc                      string // the error's loc, joined with "."
		msg                      string // a part of its message
	}{
		{"payload string invalid UTF-8", "POST", appP + "/msg", msg("{\"s\":\"caf\xe9\"}"), "body.payload.s", "valid UTF-8"},
		{"payload key invalid UTF-8", "POST", appP + "/msg", msg("{\"\xff\":1}"), "body.payload", "valid UTF-8"},
		{"eventType invalid UTF-8", "POST", appP + "/msg", "{\"eventType\":\"a\xc3\",\"payload\":{}}", "body.eventType", "valid UTF-8"},
		{"payload lone high surrogate", "POST", appP + "/msg", msg(`{"s":"\ud800"}`), "body.payload.s", "surrogate"},
		{"payload lone low surrogate", "POST", appP + "/msg", msg(`{"s":["x\udc00"]}`), "body.payload.s.0", "surrogate"},
		{"payload surrogates reversed", "POST", appP + "/msg", msg(`{"s":"\ude00\ud83d"}`), "body.payload.s", "surrogate"},
		{"eventId lone surrogate", "POST", appP + "/msg", `{"eventType":"a","eventId":"\ud800","payload":{}}`, "body.eventId", "surrogate"},
		{"payload number overflows", "POST", appP + "/msg", msg(`{"n":1e999999}`), "body.payload.n", "does not fit a 64-bit float"},
		{"payload nested number overflows", "POST", appP + "/msg", msg(`{"n":[1,{"m":-1E309}]}`), "body.payload.n.1.m", "does not fit a 64-bit float"},
		{"payload 400-digit integer", "POST", appP + "/msg", msg(`{"n":` + strings.Repeat("9", 400) + `}`), "body.payload.n", "does not fit a 64-bit float"},
		{"payload duplicate key", "POST", appP + "/msg", msg(`{"a":1,"a":2}`), "body.payload.a", "duplicate key"},
		{"payload nested duplicate key", "POST", appP + "/msg", msg(`{"x":[{"a":1},{"b":{"c":1,"c":1}}]}`), "body.payload.x.1.b.c", "duplicate key"},
		{"message duplicate eventType", "POST", appP + "/msg", `{"eventType":"a","eventType":"b","payload":{}}`, "body.eventType", "duplicate key"},
		{"duplicate key in an ignored field", "POST", appP + "/msg", `{"eventType":"a","payload":{},"transformationsParams":{"k":1,"k":2}}`, "body.transformationsParams.k", "duplicate key"},
		{"two spellings of one field", "POST", appP + "/msg", `{"eventType":"a","eventtype":"b","payload":{}}`, "body.eventtype", "duplicate key"},
		{"two spellings in a nested object", "POST", "/api/v1/app/new-app/msg", `{"eventType":"a","payload":{},"application":{"NAME":"A","name":"B"}}`, "body.application.name", "duplicate key"},
		{"app duplicate name", "POST", "/api/v1/app", `{"name":"a","name":"b"}`, "body.name", "duplicate key"},
		{"app name invalid UTF-8", "POST", "/api/v1/app", "{\"name\":\"\xed\xa0\x80\"}", "body.name", "valid UTF-8"},
		{"endpoint rateLimit overflows", "POST", appP + "/endpoint", `{"url":"https://example.com/x","rateLimit":1e999}`, "body.rateLimit", "does not fit a 64-bit float"},
		{"app throttleRate negative", "POST", "/api/v1/app", `{"name":"a","throttleRate":-5}`, "body.throttleRate", "between 1 and 65535"},
		{"app throttleRate zero", "POST", "/api/v1/app", `{"name":"a","throttleRate":0}`, "body.throttleRate", "between 1 and 65535"},
		{"app rateLimit too large", "POST", "/api/v1/app", `{"name":"a","rateLimit":70000}`, "body.rateLimit", "between 1 and 65535"},
		{"app throttleRate fractional", "POST", "/api/v1/app", `{"name":"a","throttleRate":1.5}`, "body.throttleRate", "between 1 and 65535"},
		{"app PATCH throttleRate negative", "PATCH", appP, `{"throttleRate":-5}`, "body.throttleRate", "between 1 and 65535"},
		{"endpoint PATCH rateLimit negative", "PATCH", epP, `{"rateLimit":-1}`, "body.rateLimit", "between 1 and 65535"},
		{"endpoint version negative", "POST", appP + "/endpoint", `{"url":"https://example.com/x","version":-1}`, "body.version", "between 1 and 65535"},
		{"message application throttleRate negative", "POST", "/api/v1/app/new-app/msg", `{"eventType":"a","payload":{},"application":{"name":"N","throttleRate":-5}}`, "body.application.throttleRate", "between 1 and 65535"},
		{"portal token expiry negative", "POST", "/api/v1/auth/app-portal-access/" + app.Id, `{"expiry":-1}`, "body.expiry", "between 3600 and 604800"},
		{"rotate grace period overflows int64", "POST", epP + "/secret/rotate", `{"gracePeriodSeconds":1e30}`, "body.gracePeriodSeconds", "between 0 and 604800"},
		{"join unknown field", "POST", "/api/v1/cluster/join", `{"nodeId":"n9","raftAddr":"127.0.0.1:1","keyId":"k","joinAsVoter":true}`, "body.joinAsVoter", "unknown field"},
		{"limit not a number", "GET", appP + "/msg?limit=abc", ``, "query.limit", "non-negative integer"},
		{"limit negative", "GET", appP + "/endpoint?limit=-3", ``, "query.limit", "non-negative integer"},
		{"order unknown", "GET", "/api/v1/app?order=sideways", ``, "query.order", "ascending or descending"},
		{"before not a date", "GET", appP + "/msg?before=yesterday", ``, "query.before", "RFC 3339"},
		{"attempt status not a number", "GET", appP + "/attempt/endpoint/" + ep.Id + "?status=ok", ``, "query.status", "must be 0"},
		{"status_code_class invalid", "GET", appP + "/attempt/endpoint/" + ep.Id + "?status_code_class=250", ``, "query.status_code_class", "must be 0, 100"},
		{"include_archived not a bool", "GET", "/api/v1/event-type?include_archived=maybe", ``, "query.include_archived", "true or false"},
		{"with_content not a bool on create", "POST", appP + "/msg?with_content=perhaps", msg(`{}`), "query.with_content", "true or false"},
	}
	startIndex, startCounts := n.Store().AppliedIndex(), n.counts()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := n.do(tc.method, tc.path, body)
			var e struct {
				Code   string          `json:"code"`
				Detail []apiFieldError `json:"detail"`
			}
			if r.status != http.StatusUnprocessableEntity || json.Unmarshal(r.body, &e) != nil || e.Code != "validation_error" || len(e.Detail) == 0 {
				t.Fatalf("answer %d %s, want 422 validation_error", r.status, r.body)
			}
			if loc := strings.Join(e.Detail[0].Loc, "."); loc != tc.loc || !strings.Contains(e.Detail[0].Msg, tc.msg) {
				t.Fatalf("detail %+v, want loc %s and a message with %q", e.Detail, tc.loc, tc.msg)
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

// TestStrictInputKeepsLeniency: what strictness must not refuse. A valid
// JSON body is taken whatever its Content-Type (curl -d sends a form type),
// unknown fields on Svix's objects are ignored as Svix does (its SDKs send
// fields Herald does not implement), and a payload is stored and returned
// byte for byte, escapes, spacing and number spellings included.
func TestStrictInputKeepsLeniency(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Lenient"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	appP := "/api/v1/app/" + app.Id
	payload := `{ "b" : 1.0E2,"a":"\u00e9\ud83d\ude00 é","esc":"\\ud800 \"1e999\"","n":[-0.0,1e308,-1e-999999,` +
		strings.Repeat("9", 300) + `],"same":{"a":1},"other":{"a":2}, "html":"<&>" }`
	cases := []struct {
		name, method, path, body string
		header                   []string
		status                   int
	}{
		{"form content type", "POST", appP + "/msg", `{"eventType":"job.completed","payload":` + payload + `}`,
			[]string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusAccepted},
		{"text content type", "POST", appP + "/msg", `{"eventType":"job.completed","payload":{"k":1}}`,
			[]string{"Content-Type", "text/plain"}, http.StatusAccepted},
		{"message unknown fields (transformationsParams)", "POST", appP + "/msg",
			`{"eventType":"job.completed","payload":{"k":1},"transformationsParams":{"x":1},"futureField":[1]}`, nil, http.StatusAccepted},
		{"app unknown field", "POST", "/api/v1/app", `{"name":"x","futureField":{"y":true}}`, nil, http.StatusCreated},
		{"event type unknown field", "POST", "/api/v1/event-type",
			`{"name":"job.completed","description":"d","futureField":"beta"}`, nil, http.StatusCreated},
		{"endpoint unknown field", "POST", appP + "/endpoint",
			`{"url":"https://example.com/hook","futureField":{"a":[1]}}`, nil, http.StatusCreated},
		{"field names in another case", "POST", appP + "/msg", `{"EventType":"job.completed","PAYLOAD":{"k":1}}`, nil, http.StatusAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := n.do(tc.method, tc.path, tc.body, tc.header...)
			if r.status != tc.status {
				t.Fatalf("answer %d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}

	r := n.do("POST", appP+"/msg", `{"eventType":"job.completed","payload":`+payload+`}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	var out models.MessageOut
	r.json(t, &out)
	want := []byte(`"payload":` + payload)
	if !bytes.Contains(r.body, want) {
		t.Errorf("202 body does not hold the payload as sent:\n got %s\nwant %s", r.body, want)
	}
	if g := n.do("GET", appP+"/msg/"+out.Id, nil); !bytes.Contains(g.body, want) {
		t.Errorf("GET body does not hold the payload as sent:\n got %s\nwant %s", g.body, want)
	}
	var stored storage.Message
	if err := n.Store().View(func(rd *storage.Reader) (err error) { stored, err = rd.Message(app.Id, out.Id); return err }); err != nil {
		t.Fatal(err)
	}
	if string(stored.Payload) != payload {
		t.Errorf("stored payload\n %s\nwant\n %s", stored.Payload, payload)
	}
}
