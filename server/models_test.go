package server

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// TestMarshalMessage checks that the spliced encoding decodes to exactly
// what encoding/json produces, for payloads that stress the splice.
func TestMarshalMessage(t *testing.T) {
	payloads := []string{
		`{}`,
		`{"a":1}`,
		"{ \"spaced\" : [ 1, 2 ],\n\t\"x\": {\"y\": null} }",
		`{"payload":0,"html":"<b>&amp;</b>","q":"\"payload\":0"}`,
		`{"unicode":"\u00e9\u2028","n":-1.5e10}`,
	}
	for _, p := range payloads {
		for _, withContent := range []bool{true, false} {
			m := storage.Message{
				ID: "msg_1", AppID: "app_1", EventType: "job.done", EventID: "evt-1",
				Channels: []string{"a:b"}, Tags: []string{"t"}, Payload: json.RawMessage(p),
				Timestamp: time.Date(2026, 11, 26, 1, 2, 3, 4, time.UTC).UnixNano(),
				DeliverAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixNano(),
			}
			mo := toMessageOut(&m, withContent)
			want, err := json.Marshal(mo)
			if err != nil {
				t.Fatal(err)
			}
			got := marshalMessage(mo)
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("payload %q: output is not JSON: %v\n%s", p, err, got)
			}
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("payload %q:\n got %s\nwant %s", p, got, want)
			}
		}
	}
}
