package delivery

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/storage"
)

func headerValue(hs []storage.Header, name string) (string, bool) {
	i := slices.IndexFunc(hs, func(h storage.Header) bool { return h.Name == name })
	if i < 0 {
		return "", false
	}
	return hs[i].Value, true
}

// TestSendRecordsHeaders checks what the attempt log keeps of a request
// and its response: every header sent, signatures included, credentials
// redacted whatever their case, and the response's headers the same way.
func TestSendRecordsHeaders(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Receiver", "r1")
		w.Header().Add("Set-Cookie", "session=receiver-secret")
		w.Header().Set("WWW-Authenticate", `Bearer realm="x"`)
		w.WriteHeader(http.StatusAccepted)
	})
	s := loopbackSender(t, SenderConfig{UserAgent: "Herald-Test/1"})
	req, _ := signedRequest(t, rc.srv.URL)
	req.Headers = map[string]string{
		"authorization":       "Basic dXNlcjpodW50ZXIy",
		"Proxy-Authorization": "Bearer proxy-secret",
		"X-Api-Key":           "key-secret",
		"X-Customer-Token":    "token-secret",
		"X-Tenant":            "acme",
	}
	resp := s.Send(context.Background(), req)
	if resp.Err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("Send = %d, %v", resp.StatusCode, resp.Err)
	}
	got := rc.captured()
	if got.header.Get("Authorization") != "Basic dXNlcjpodW50ZXIy" {
		t.Fatalf("the receiver must still get the credential, got %q", got.header.Get("Authorization"))
	}
	want := map[string]string{
		"Authorization":       Redacted,
		"Proxy-Authorization": Redacted,
		"X-Api-Key":           Redacted,
		"X-Customer-Token":    Redacted,
		"X-Tenant":            "acme",
		"Content-Type":        "application/json",
		"User-Agent":          "Herald-Test/1",
		"Webhook-Id":          req.MsgID,
		"Webhook-Timestamp":   got.header.Get("Webhook-Timestamp"),
		"Webhook-Signature":   got.header.Get("Webhook-Signature"),
	}
	if len(resp.RequestHeaders) != len(want) {
		t.Errorf("request headers recorded: %v, want %d", resp.RequestHeaders, len(want))
	}
	for name, v := range want {
		if rv, ok := headerValue(resp.RequestHeaders, name); !ok || rv != v {
			t.Errorf("recorded request header %s = %q (present %v), want %q", name, rv, ok, v)
		}
	}
	if !slices.IsSortedFunc(resp.RequestHeaders, func(a, b storage.Header) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("request headers not in name order: %v", resp.RequestHeaders)
	}
	for name, v := range map[string]string{"X-Receiver": "r1", "Set-Cookie": Redacted, "Www-Authenticate": Redacted} {
		if rv, ok := headerValue(resp.Headers, name); !ok || rv != v {
			t.Errorf("recorded response header %s = %q (present %v), want %q", name, rv, ok, v)
		}
	}
	all := fmt.Sprint(resp.RequestHeaders, resp.Headers)
	for _, secret := range []string{"dXNlcjpodW50ZXIy", "proxy-secret", "key-secret", "token-secret", "receiver-secret"} {
		if strings.Contains(all, secret) {
			t.Errorf("recorded headers keep %q in the clear: %s", secret, all)
		}
	}
}

// TestSendRecordsHeadersWithoutResponse: a request that got no answer
// still records what was sent, and no response headers.
func TestSendRecordsHeadersWithoutResponse(t *testing.T) {
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, "http://127.0.0.1:1/")
	resp := s.Send(context.Background(), req)
	if resp.Err == nil {
		t.Fatal("expected an error")
	}
	if v, ok := headerValue(resp.RequestHeaders, "Webhook-Id"); !ok || v != req.MsgID {
		t.Errorf("request headers %v lack the webhook-id", resp.RequestHeaders)
	}
	if resp.Headers != nil {
		t.Errorf("response headers %v without a response", resp.Headers)
	}
}

// TestSendBoundsRecordedResponseHeaders: a receiver answering with many
// or huge headers costs the attempt log a bounded amount.
func TestSendBoundsRecordedResponseHeaders(t *testing.T) {
	for name, reply := range map[string]http.HandlerFunc{
		"many": func(w http.ResponseWriter, _ *http.Request) {
			for i := range 500 {
				w.Header().Set(fmt.Sprintf("X-H%03d", i), "v")
			}
		},
		"huge": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-A", strings.Repeat("a", 3000))
			w.Header().Set("X-B", strings.Repeat("b", 3000))
			w.Header().Set("X-C", "c")
		},
	} {
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t, reply)
			s := loopbackSender(t, SenderConfig{})
			req, _ := signedRequest(t, rc.srv.URL)
			resp := s.Send(context.Background(), req)
			if resp.Err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("Send = %d, %v", resp.StatusCode, resp.Err)
			}
			n := 0
			for _, h := range resp.Headers {
				n += len(h.Name) + len(h.Value)
			}
			if len(resp.Headers) > maxRecordedHeaders || n > maxRecordedHeaderBytes {
				t.Fatalf("recorded %d headers, %d bytes; bounds %d, %d", len(resp.Headers), n, maxRecordedHeaders, maxRecordedHeaderBytes)
			}
			if len(resp.Headers) == 0 {
				t.Fatal("nothing recorded")
			}
		})
	}
}

func TestSensitiveHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "proxy-authorization": true, "Cookie": true, "Set-Cookie": true,
		"X-Api-Key": true, "apikey": true, "X-Auth-Token": true, "X-Client-Secret": true, "X-Password": true,
		"X-Tenant": false, "Content-Type": false, "Webhook-Signature": false, "User-Agent": false,
	} {
		if got := SensitiveHeader(name); got != want {
			t.Errorf("SensitiveHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

func BenchmarkRecordHeaders(b *testing.B) {
	h := http.Header{}
	for k, v := range map[string]string{"User-Agent": "Herald-Webhooks/1", "Content-Type": "application/json",
		"Webhook-Id": "msg_2ZR6sH0uQy3n1fK5tQzAVi7l9cX", "Webhook-Timestamp": "1796306466",
		"Webhook-Signature": "v1,U0J+jBYZqc0q6RSjWvokKYzC4+8ReGNyJO6tQYlhpls=", "X-Api-Key": "k-123"} {
		h.Set(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(recordHeaders(h)) != len(h) {
			b.Fatal("headers lost")
		}
	}
}
