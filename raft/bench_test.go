package raft

import (
	"strings"
	"testing"

	hraft "github.com/hashicorp/raft"

	"github.com/herald-webhooks/herald/storage"
)

// benchItems is a group-commit batch of n messages with 1 KiB payloads.
func benchItems(n int, base int) []MessageItem {
	payload := []byte(`{"pad":"` + strings.Repeat("x", 1010) + `"}`)
	items := make([]MessageItem, n)
	for i := range items {
		items[i] = MessageItem{
			Meta: Meta{Time: 1e18, Idem: &Idem{Hash: make([]byte, 32), Status: 202, Body: []byte(`{"id":"msg"}`), ExpiresMs: 2e12}},
			Message: storage.NewMessage{Message: storage.Message{
				ID: "msg_" + strings.Repeat("0", 20) + itoa(base+i), AppID: "app_1", EventType: "job.completed",
				Payload: payload, Timestamp: 1e18,
			}},
		}
		items[i].Idem.Hash[0], items[i].Idem.Hash[1], items[i].Idem.Hash[2] = byte(base+i), byte((base+i)>>8), byte((base+i)>>16)
	}
	return items
}

func itoa(i int) string {
	const digits = "0123456789"
	s := make([]byte, 7)
	for j := len(s) - 1; j >= 0; j-- {
		s[j] = digits[i%10]
		i /= 10
	}
	return string(s)
}

// BenchmarkEncodeCreateMessages measures building one group-commit command
// of 256 messages.
func BenchmarkEncodeCreateMessages(b *testing.B) {
	cmd := &CreateMessages{Items: benchItems(256, 0)}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(Encode(cmd))
	}
	b.SetBytes(int64(n))
}

// BenchmarkDecodeCreateMessages measures decoding that command on apply.
func BenchmarkDecodeCreateMessages(b *testing.B) {
	data := Encode(&CreateMessages{Items: benchItems(256, 0)})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFSMApplyBatch measures the FSM applying one raft batch of 8
// entries of 64 messages each (512 messages, one endpoint each) in one
// storage batch, as group commit produces under load. Reported per message.
func BenchmarkFSMApplyBatch(b *testing.B) {
	store := openStateStore(b, "")
	fsm := NewFSM(store, Hooks{}, quietLogger(b))
	setup := []*hraft.Log{
		commandLog(1, &CreateApp{App: storage.App{ID: "app_1"}}),
		commandLog(2, &CreateEndpoint{Endpoint: storage.Endpoint{ID: "ep_1", AppID: "app_1", URL: "https://example.com/"}}),
	}
	fsm.ApplyBatch(setup)
	index := uint64(2)
	base := 0
	b.ReportAllocs()
	for b.Loop() {
		logs := make([]*hraft.Log, 8)
		for i := range logs {
			index++
			logs[i] = commandLog(index, &CreateMessages{Items: benchItems(64, base)})
			base += 64
		}
		for _, r := range fsm.ApplyBatch(logs) {
			for _, res := range r.([]Result) {
				if res.Err != nil || res.Fanout != 1 {
					b.Fatalf("result %+v", res)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(base), "ns/msg")
}
