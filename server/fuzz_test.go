package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
)

// decodeSeeds are request bodies for every type the API decodes, valid
// and hostile; the committed corpus under testdata/fuzz/FuzzDecodeRequests
// holds more.
var decodeSeeds = []string{
	// Valid requests.
	`{"name":"Acme","uid":"acme-1","metadata":{"k":"v"},"rateLimit":10}`,
	`{"url":"https://example.com/hook","description":"d","filterTypes":["job.completed"],"channels":["a:b"],"headers":{"X-Team":"1"},"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","version":1}`,
	`{"eventType":"job.completed","eventId":"evt-1","payload":{"id":"job_1"},"channels":["c"],"tags":["t"],"deliverAt":"2030-01-01T00:00:00Z"}`,
	`{"name":"job.completed","description":"d","schemas":{"1":{}},"featureFlags":["beta"],"groupName":"jobs"}`,
	`{"nodeId":"n2","raftAddr":"10.0.0.2:8485","httpAddr":"10.0.0.2:8484"}`,
	`{"uid":null,"rateLimit":null,"filterTypes":null,"secret":null}`,
	// Not JSON, or not an object.
	``, ` `, `null`, `"str"`, `1`, `[]`, `{`, `}`, `{"a":}`, `{"name":"x"}garbage`,
	"\xef\xbb\xbf{}", "{\"name\":\"\xff\xfe\"}", `{"name":"\u0000"}`, `{"name":"\ud800"}`,
	strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
	`{"metadata":` + strings.Repeat(`{"a":`, 1000) + `1` + strings.Repeat(`}`, 1000) + `}`,
	// Wrong types and out-of-range numbers.
	`{"name":1}`, `{"rateLimit":70000}`, `{"rateLimit":-1}`, `{"rateLimit":1.5}`, `{"rateLimit":0}`,
	`{"version":0}`, `{"disabled":"yes"}`, `{"metadata":{"k":1}}`, `{"metadata":{"":"v"}}`,
	`{"filterTypes":"job"}`, `{"filterTypes":[]}`, `{"filterTypes":[1]}`, `{"channels":[null]}`,
	`{"payload":1e999}`, `{"payload":[]}`, `{"payload":"x"}`, `{"payload":null}`,
	`{"deliverAt":"tomorrow"}`, `{"deliverAt":"9999-12-31T23:59:59Z"}`, `{"deliverAt":12}`,
	`{"payloadRetentionPeriod":99999999999999999999}`, `{"schemas":[1]}`,
	// Hostile values.
	`{"url":"http://[::1]/"}`, `{"url":"http://0x7f.1/"}`, `{"url":"http://u:p@example.com/"}`,
	`{"url":"` + strings.Repeat("a", 5000) + `"}`, `{"url":"javascript:alert(1)"}`,
	`{"headers":{"X-A\r\n":"v"}}`, `{"headers":{"Host":"evil"}}`, `{"headers":{"X-A":"v\r\nX-B: w"}}`,
	`{"secret":"whsec_!!"}`, `{"secret":"` + strings.Repeat("A", 200) + `"}`,
	`{"uid":"app_123"}`, `{"uid":"` + strings.Repeat("u", 300) + `"}`,
	`{"eventType":"a","eventType":"b","payload":{}}`, `{"eventTypes":["a"],"filterTypes":["b"]}`,
	// Valid for encoding/json, refused as not strict (checkStrictJSON).
	"{\"eventType\":\"a\",\"payload\":{\"s\":\"\xc3\x28\"}}", "{\"eventType\":\"a\",\"payload\":{\"\xff\":1}}",
	`{"eventType":"a","payload":{"s":"\udc00"}}`, `{"eventType":"a","payload":{"s":["\ud83d\ud83d"]}}`,
	`{"eventType":"a","payload":{"s":"\ud83d\ude00"}}`, `{"eventType":"a","payload":{"s":"\\ud800"}}`,
	`{"eventType":"a","payload":{"n":1e999999}}`, `{"eventType":"a","payload":{"n":[-1E309]}}`,
	`{"eventType":"a","payload":{"n":1e-999999}}`, `{"eventType":"a","payload":{"n":` + strings.Repeat("9", 309) + `}}`,
	`{"eventType":"a","payload":{"s":"1e999","t":"\"1e999"}}`, `{"rateLimit":1e999}`,
	`{"eventType":"a","payload":{"a":1,"a":1}}`, `{"eventType":"a","payload":{"x":[{"a":1},{"a":2,"b":{"a":3,"a":4}}]}}`,
	`{"eventType":"a","payload":{},"transformationsParams":{"k":1,"k":2}}`, `{"name":"x","name":"x"}`,
	`{"nodeId":"n2","raftAddr":"10.0.0.2:8485","keyId":"k","extra":1}`, `{"nodeId":"n2","RAFTADDR":"10.0.0.2:8485"}`,
	`{"throttleRate":-5}`, `{"rateLimit":65536}`, `{"version":-1}`, `{"application":{"name":"A","throttleRate":-5}}`,
	`{"expiry":-1}`, `{"gracePeriodSeconds":1e30}`,
}

func FuzzDecodeRequests(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	s := &Server{guard: delivery.NewGuard(nil, false), cfg: Config{MaxPayloadBytes: 1 << 20}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := new(fasthttp.RequestCtx)
		c.Request.SetBody(body)

		var app applicationIn
		checkClientError(t, "applicationIn", body, decodeThen(c, &app, app.validate))
		var ep endpointIn
		checkClientError(t, "endpointIn", body, decodeThen(c, &ep, func() error { return ep.validate(s) }))
		var msg messageIn
		checkClientError(t, "messageIn", body, decodeThen(c, &msg, func() error { return s.validateMessage(&msg, now) }))
		for _, fromPath := range []bool{false, true} {
			var et eventTypeIn
			checkClientError(t, "eventTypeIn", body, decodeThen(c, &et, func() error { return et.validate(fromPath) }))
		}
		var appPatch applicationPatch
		checkClientError(t, "applicationPatch", body, decodeBody(c, &appPatch))
		var epPatch endpointPatch
		checkClientError(t, "endpointPatch", body, decodeBody(c, &epPatch))
		var join joinIn
		joinErr := decodeBody(c, &join)
		checkClientError(t, "joinIn", body, joinErr)
		if strictErr := strictReference(body); strictErr != nil {
			// What a strict parser refuses, every decoder refuses.
			var generic struct{}
			if err := decodeBody(c, &generic); err == nil || joinErr == nil {
				t.Fatalf("body %q: accepted, but a strict parser refuses it: %v", body, strictErr)
			}
		}
	})
}

// strictReference is an independent statement of what Herald's decoders
// must refuse beyond encoding/json: JSON v2 decoding into any refuses
// invalid UTF-8, lone surrogates, duplicate keys and numbers a float64
// cannot hold.
func strictReference(body []byte) error {
	var v any
	return jsonv2.Unmarshal(body, &v)
}

// decodeThen decodes the body into v and, if that worked, validates it.
func decodeThen(c *fasthttp.RequestCtx, v any, validate func() error) error {
	if err := decodeBody(c, v); err != nil {
		return err
	}
	return validate()
}

// checkClientError fails unless err is nil or an error writeError answers
// with a 4xx: a raw error would become a 500 and a log line.
func checkClientError(t *testing.T, what string, body []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var (
		ae *apiError
		ve *validationError
	)
	switch {
	case errors.As(err, &ve):
		if len(ve.fields) == 0 {
			t.Fatalf("%s: body %q: validation error with no fields", what, body)
		}
		for _, fe := range ve.fields {
			if len(fe.Loc) == 0 || fe.Msg == "" || fe.Type == "" {
				t.Fatalf("%s: body %q: incomplete field error %+v", what, body, fe)
			}
		}
		if _, err := json.Marshal(ve.fields); err != nil {
			t.Fatalf("%s: body %q: field errors do not encode: %v", what, body, err)
		}
	case errors.As(err, &ae):
		if ae.status < 400 || ae.status > 499 {
			t.Fatalf("%s: body %q: status %d for a bad request", what, body, ae.status)
		}
	default:
		t.Fatalf("%s: body %q: error %T (%v) is neither *apiError nor *validationError: it would answer 500", what, body, err, err)
	}
}

// FuzzDecodeMessage checks the message decoder's fast path against
// encoding/json and a strict reference: decodeMessage must accept exactly
// what both accept, and decode it as encoding/json does.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"EVENTTYPE":"a","Payload":{"x":[1,{"y":null}]},"eventid":"e"}`,
		`{"eventType":"a","eventtype":"b","payload":{}}`,
		`{"eventType":"a","payload":{ "sp" : "a b" , "n" : -0.5e-3 }}`,
		`{"eventType":"a","payload":{},"channels":[],"tags":null}`,
		`{"eventType":"a","payload":{},"deliverAt":"2030-01-01T00:00:00.123+02:00"}`,
		`{"eventType":"a","payload":{},"deliverAt":"2030-01-01T24:00:00Z"}`,
		`{"eventType":"a","payload":{},"payloadRetentionHours":1e3}`,
		`{"eventType":"a","payload":{},"payloadRetentionHours":"1"}`,
		`{"eventType":"\u00e9\ud83d\ude00","payload":{"s":"\ud800"}}`,
		` {"eventType":"a","payload":{}} `,
		`{"eventType":"a","payload":{},"application":{"name":"A","uid":"a","metadata":{"k":"v"},"rateLimit":5}}`,
		`{"eventType":"a","payload":{},"application":{"name":"A","rateLimit":70000}}`,
		`{"eventType":"a","payload":{},"application":null}`,
		`{"event_type":"a","payload":{}}`,
		`{"eventType":"a","payload":{},"deliver_at":"2030-01-01T00:00:00Z","Event-Id":"e"}`,
		`{"eventType":"a","payload":{},"application":{"name":"A","throttle_rate":5,"UID":"u"}}`,
		`{"eventType":"a","payload":{},"ſ":1,"eventtypE":"b"}`,
		`{"eventType":"a","payload":{},"destination":{"url":"https://example.com/h"}}`,
		`{"eventType":"a","payload":{},"destination":{"url":"https://example.com/h","headers":{}}}`,
		`{"eventType":"a","payload":{},"destination":{"URL":"x","url":"y"}}`,
		`{"eventType":"a","payload":{},"destination":null}`,
		`{"eventType":"a","payload":{},"Destination":{"Url":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want messageIn
		wantErr := json.Unmarshal(body, &want)
		if wantErr == nil {
			wantErr = strictReference(body)
		}
		if wantErr == nil {
			// Two spellings of one field ("eventType", "eventtype").
			if err := jsonv2.Unmarshal(body, new(messageIn), fastDecode); errors.Is(err, jsontext.ErrDuplicateName) {
				wantErr = err
			}
		}
		if wantErr == nil && want.Destination != nil {
			// Herald's own object: an unknown member is refused.
			var top struct {
				Destination jsontext.Value `json:"destination"`
			}
			if err := jsonv2.Unmarshal(body, &top, fastDecode); err == nil {
				wantErr = jsonv2.Unmarshal(top.Destination, new(destinationIn), fastDecode, jsonv2.RejectUnknownMembers(true))
			}
		}
		if len(bytes.TrimSpace(body)) == 0 {
			wantErr = errors.New("empty body")
		}
		c := new(fasthttp.RequestCtx)
		c.Request.SetBody(body)
		var got messageIn
		gotErr := decodeMessage(c, &got)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Fatalf("body %q: decodeMessage error %v, encoding/json error %v", body, gotErr, wantErr)
		case gotErr != nil:
			return
		}
		if !sameMessageIn(&got, &want) {
			t.Fatalf("body %q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// sameMessageIn compares two decoded messages field by field (times by
// instant and offset, not by their *Location pointers).
func sameMessageIn(a, b *messageIn) bool {
	sameTime := func(x, y *time.Time) bool {
		if x == nil || y == nil {
			return x == y
		}
		_, ox := x.Zone()
		_, oy := y.Zone()
		return x.Equal(*y) && ox == oy
	}
	return reflect.DeepEqual(a.EventType, b.EventType) && reflect.DeepEqual(a.EventID, b.EventID) &&
		bytes.Equal(a.Payload, b.Payload) && reflect.DeepEqual(a.Channels, b.Channels) &&
		reflect.DeepEqual(a.Tags, b.Tags) && sameTime(a.DeliverAt, b.DeliverAt) &&
		reflect.DeepEqual(a.PayloadRetentionPeriod, b.PayloadRetentionPeriod) &&
		reflect.DeepEqual(a.PayloadRetentionHours, b.PayloadRetentionHours) &&
		reflect.DeepEqual(a.Application, b.Application) && reflect.DeepEqual(a.Destination, b.Destination)
}
