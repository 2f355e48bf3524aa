package server

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// benchMessageBody is a message request with a 1 KiB payload, the shape the
// load driver sends.
var benchMessageBody = []byte(`{"eventType":"job.completed","eventId":"evt-12345","payload":{"sentAt":1700000000000000000,"jobId":"job_123","pad":"` +
	strings.Repeat("x", 960) + `"}}`)

// BenchmarkDecodeMessage measures the ingest hot path before Raft: decoding
// and validating a message request and rendering its 202 body.
func BenchmarkDecodeMessage(b *testing.B) {
	s := &Server{cfg: Config{MaxPayloadBytes: 1 << 20, MaxJSONDepth: 64}}
	var c fasthttp.RequestCtx
	c.Request.SetBody(benchMessageBody)
	now := time.Now()
	b.SetBytes(int64(len(benchMessageBody)))
	b.ReportAllocs()
	for b.Loop() {
		if jsonTooDeep(c.PostBody(), 64) {
			b.Fatal("too deep")
		}
		var in messageIn
		if err := decodeMessage(&c, &in); err != nil {
			b.Fatal(err)
		}
		if err := s.validateMessage(&in, now); err != nil {
			b.Fatal(err)
		}
		m := storage.Message{ID: "msg_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", AppID: "app_1", EventType: *in.EventType, EventID: *in.EventID,
			Payload: in.Payload, Timestamp: now.UnixNano()}
		if len(marshalMessage(toMessageOut(&m, true))) == 0 {
			b.Fatal("empty body")
		}
	}
}

// benchEndpointBody is an endpoint creation as the SDKs send it.
var benchEndpointBody = []byte(`{"url":"https://example.com/hooks/1","description":"Job events","uid":"ep-1",` +
	`"filterTypes":["job.completed","job.failed"],"channels":["team-1"],"metadata":{"owner":"ops"},"rateLimit":100}`)

// BenchmarkDecodeBody measures the decoder of every request but messages,
// here an endpoint creation.
func BenchmarkDecodeBody(b *testing.B) {
	var c fasthttp.RequestCtx
	c.Request.SetBody(benchEndpointBody)
	b.SetBytes(int64(len(benchEndpointBody)))
	b.ReportAllocs()
	for b.Loop() {
		var in endpointIn
		if err := decodeBody(&c, &in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHasHugeNumber is the check the message fast path adds to JSON
// v2's own (see decodeMessage), on the body of BenchmarkDecodeMessage.
func BenchmarkHasHugeNumber(b *testing.B) {
	b.SetBytes(int64(len(benchMessageBody)))
	for b.Loop() {
		if hasHugeNumber(benchMessageBody) {
			b.Fatal("huge number")
		}
	}
}
