package delivery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// captured is what a test receiver saw of one request.
type captured struct {
	header http.Header
	host   string
	body   []byte
}

// receiver is an httptest server on 127.0.0.1:0 that records requests.
type receiver struct {
	srv   *httptest.Server
	hits  atomic.Int64
	conns atomic.Int64
	mu    sync.Mutex
	last  captured
}

func newReceiver(t testing.TB, reply http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.last = captured{header: r.Header.Clone(), host: r.Host, body: body}
		rc.mu.Unlock()
		reply(w, r)
	}))
	rc.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.conns.Add(1)
		}
	}
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) captured() captured {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.last
}

func replyText(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func loopbackSender(t testing.TB, cfg SenderConfig) *Sender {
	t.Helper()
	if cfg.Guard == nil {
		cfg.Guard = NewGuard(loopbackAllow, false)
	}
	s := NewSender(cfg)
	t.Cleanup(s.Close)
	return s
}

func signedRequest(t testing.TB, url string) (Request, string) {
	t.Helper()
	secret, key := mustSecret(t)
	return Request{
		URL:   url,
		MsgID: "msg_2ZR6sH0uQy3n1fK5tQzAVi7l9cX",
		Body:  []byte(`{"type":"job.completed","data":{"id":"job_42"}}`),
		Keys:  [][]byte{key},
	}, secret
}

func TestSendSuccess(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusOK, `{"ok":true}`))
	s := loopbackSender(t, SenderConfig{UserAgent: "Herald-Test/1"})
	req, secret := signedRequest(t, rc.srv.URL+"/hook")

	resp := s.Send(context.Background(), req)
	if resp.Err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Send = %d, %v; want 200", resp.StatusCode, resp.Err)
	}
	if string(resp.Body) != `{"ok":true}` {
		t.Errorf("response body %q", resp.Body)
	}
	if resp.Duration <= 0 {
		t.Errorf("Duration %s, want > 0", resp.Duration)
	}
	if Classify(resp.StatusCode, resp.Err) != Succeeded {
		t.Errorf("Classify = %s", Classify(resp.StatusCode, resp.Err))
	}

	got := rc.captured()
	if !bytes.Equal(got.body, req.Body) {
		t.Errorf("receiver got body %q, want %q", got.body, req.Body)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Errorf("standard webhooks library rejects the request: %v", err)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		"User-Agent":   "Herald-Test/1",
		"Webhook-Id":   req.MsgID,
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
}

func TestSendTimestampAndRotation(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusNoContent, ""))
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, rc.srv.URL)
	oldSecret, oldKey := mustSecret(t)
	req.Keys = append(req.Keys, oldKey)
	req.Now = time.Unix(1700000000, 0)

	resp := s.Send(context.Background(), req)
	if resp.Err != nil || resp.StatusCode != http.StatusNoContent || resp.Body != nil {
		t.Fatalf("Send = %d, %q, %v; want 204 with no body", resp.StatusCode, resp.Body, resp.Err)
	}
	got := rc.captured()
	if ts := got.header.Get("Webhook-Timestamp"); ts != "1700000000" {
		t.Errorf("webhook-timestamp %q, want 1700000000", ts)
	}
	if n := len(strings.Fields(got.header.Get("Webhook-Signature"))); n != 2 {
		t.Errorf("%d signatures, want 2", n)
	}
	wh, _ := standardwebhooks.NewWebhook(oldSecret)
	if err := wh.VerifyIgnoringTimestamp(got.body, got.header); err != nil {
		t.Errorf("receiver holding the old secret rejects the request: %v", err)
	}
}

func TestSendCustomHeadersCannotOverride(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusOK, ""))
	s := loopbackSender(t, SenderConfig{})
	req, secret := signedRequest(t, rc.srv.URL)
	req.Headers = map[string]string{
		"X-Api-Key":         "k-123",
		"x-tenant":          "acme",
		"User-Agent":        "custom/1",
		"webhook-signature": "v1,forged",
		"WEBHOOK-ID":        "msg_forged",
		"Webhook-Timestamp": "1",
		"content-type":      "text/plain",
		"Content-Length":    "1",
		"Host":              "evil.example",
		"Transfer-Encoding": "chunked",
	}

	resp := s.Send(context.Background(), req)
	if resp.Err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Send = %d, %v", resp.StatusCode, resp.Err)
	}
	got := rc.captured()
	for name, want := range map[string]string{
		"X-Api-Key":    "k-123",
		"X-Tenant":     "acme",
		"User-Agent":   "custom/1",
		"Webhook-Id":   req.MsgID,
		"Content-Type": "application/json",
	} {
		if v := got.header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("header %s = %q, want exactly %q", name, v, want)
		}
	}
	if strings.Contains(got.header.Get("Webhook-Signature"), "forged") {
		t.Error("custom header replaced the signature")
	}
	if got.host != rc.srv.Listener.Addr().String() {
		t.Errorf("Host %q, want %q", got.host, rc.srv.Listener.Addr())
	}
	if !bytes.Equal(got.body, req.Body) {
		t.Errorf("body %q, want %q", got.body, req.Body)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, replyText(http.StatusOK, "target"))
	redirector := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL+"/elsewhere", http.StatusFound)
	})
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, redirector.srv.URL)

	resp := s.Send(context.Background(), req)
	if resp.Err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("Send = %d, %v; want 302 and no error", resp.StatusCode, resp.Err)
	}
	if n := target.hits.Load(); n != 0 {
		t.Fatalf("redirect target hit %d times, want 0", n)
	}
	if v := Classify(resp.StatusCode, resp.Err); v != Retry {
		t.Fatalf("Classify(302) = %s, want retry", v)
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before rc.srv.Close
	const timeout = 300 * time.Millisecond
	s := loopbackSender(t, SenderConfig{Timeout: timeout})
	req, _ := signedRequest(t, rc.srv.URL)

	resp := s.Send(context.Background(), req)
	if resp.Err == nil || !errors.Is(resp.Err, context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want a deadline error", resp.Err)
	}
	if !strings.Contains(resp.Err.Error(), "timed out after") {
		t.Errorf("Err %q does not say it timed out", resp.Err)
	}
	if resp.StatusCode != 0 {
		t.Errorf("StatusCode %d, want 0", resp.StatusCode)
	}
	if resp.Duration < timeout || resp.Duration > timeout+2*time.Second {
		t.Errorf("Duration %s, want about %s", resp.Duration, timeout)
	}
	if Classify(resp.StatusCode, resp.Err) != Retry {
		t.Error("timeout not classified as retry")
	}
}

func TestSendParentCancel(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusOK, ""))
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, rc.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if resp := s.Send(ctx, req); !errors.Is(resp.Err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", resp.Err)
	}
}

func TestSendTruncatesResponseBody(t *testing.T) {
	big := strings.Repeat("0123456789", 100_000) // 1 MB, beyond the drain limit too
	rc := newReceiver(t, replyText(http.StatusInternalServerError, big))
	s := loopbackSender(t, SenderConfig{ResponseBodyLimit: 100})
	req, _ := signedRequest(t, rc.srv.URL)

	resp := s.Send(context.Background(), req)
	if resp.Err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Send = %d, %v", resp.StatusCode, resp.Err)
	}
	if string(resp.Body) != big[:100] {
		t.Fatalf("Body is %d bytes %q..., want the first 100", len(resp.Body), resp.Body[:min(len(resp.Body), 20)])
	}
}

func TestSendTruncatesDeclaredLength(t *testing.T) {
	big := strings.Repeat("z", 50_000)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		io.WriteString(w, big)
	})
	s := loopbackSender(t, SenderConfig{ResponseBodyLimit: 10})
	req, _ := signedRequest(t, rc.srv.URL)
	if resp := s.Send(context.Background(), req); string(resp.Body) != big[:10] || cap(resp.Body) != 10 {
		t.Fatalf("Body %q (cap %d), want 10 bytes exactly", resp.Body, cap(resp.Body))
	}
}

func TestSendHTTP2(t *testing.T) {
	var proto atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int64(r.ProtoMajor))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := loopbackSender(t, SenderConfig{})
	// Trust the test certificate; everything else is the production transport.
	s.transport.TLSClientConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	req, _ := signedRequest(t, srv.URL)
	if resp := s.Send(context.Background(), req); resp.Err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Send = %d, %v", resp.StatusCode, resp.Err)
	}
	if p := proto.Load(); p != 2 {
		t.Fatalf("request used HTTP/%d, want HTTP/2", p)
	}
}

func TestSendDefaultBodyLimit(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusOK, strings.Repeat("x", 10_000)))
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, rc.srv.URL)
	if resp := s.Send(context.Background(), req); len(resp.Body) != defaultResponseBodyLimit {
		t.Fatalf("Body is %d bytes, want %d", len(resp.Body), defaultResponseBodyLimit)
	}
}

func TestSendRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		status int
		header string
		want   time.Duration // tolerance one second for the date form
		has    bool
	}{
		{http.StatusServiceUnavailable, "120", 2 * time.Minute, true},
		{http.StatusTooManyRequests, date, 90 * time.Second, true},
		{http.StatusTooManyRequests, "", 0, false},
		{http.StatusTooManyRequests, "later", 0, false},
	}
	for _, c := range cases {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			w.WriteHeader(c.status)
		})
		s := loopbackSender(t, SenderConfig{})
		req, _ := signedRequest(t, rc.srv.URL)
		resp := s.Send(context.Background(), req)
		if resp.Err != nil || resp.StatusCode != c.status || resp.HasRetryAfter != c.has {
			t.Errorf("Retry-After %q: Send = %d, has %v, %v", c.header, resp.StatusCode, resp.HasRetryAfter, resp.Err)
			continue
		}
		if d := resp.RetryAfter - c.want; d < -time.Second-time.Millisecond || d > time.Second {
			t.Errorf("Retry-After %q parsed as %s, want about %s", c.header, resp.RetryAfter, c.want)
		}
	}
}

func TestSendReusesConnections(t *testing.T) {
	// A body larger than the kept limit exercises the drain path.
	rc := newReceiver(t, replyText(http.StatusOK, strings.Repeat("y", 3*defaultResponseBodyLimit)))
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, rc.srv.URL)
	for i := range 20 {
		if resp := s.Send(context.Background(), req); resp.Err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("send %d: %d, %v", i, resp.StatusCode, resp.Err)
		}
	}
	if n := rc.conns.Load(); n != 1 {
		t.Fatalf("20 sequential sends opened %d connections, want 1", n)
	}
}

func TestSendRefusesLoopbackWithoutAllowlist(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusOK, ""))
	port := strconv.Itoa(rc.srv.Listener.Addr().(*net.TCPAddr).Port)
	for name, cfg := range map[string]SenderConfig{
		"no guard": {},
		"guard":    {Guard: NewGuard(nil, false)},
	} {
		s := NewSender(cfg)
		t.Cleanup(s.Close)
		for _, url := range []string{rc.srv.URL, "http://localhost:" + port + "/"} {
			req, _ := signedRequest(t, url)
			resp := s.Send(context.Background(), req)
			if !errors.Is(resp.Err, ErrForbiddenAddress) || resp.StatusCode != 0 {
				t.Errorf("%s: Send(%s) = %d, %v; want ErrForbiddenAddress", name, url, resp.StatusCode, resp.Err)
			}
		}
	}
	if n := rc.hits.Load(); n != 0 {
		t.Fatalf("receiver hit %d times, want 0", n)
	}
}

func TestSendWithoutKeys(t *testing.T) {
	rc := newReceiver(t, replyText(http.StatusOK, ""))
	s := loopbackSender(t, SenderConfig{})
	req, _ := signedRequest(t, rc.srv.URL)
	req.Keys = nil
	if resp := s.Send(context.Background(), req); !errors.Is(resp.Err, ErrNoSigningKey) {
		t.Fatalf("Err = %v, want ErrNoSigningKey", resp.Err)
	}
	if n := rc.hits.Load(); n != 0 {
		t.Fatalf("unsigned request reached the receiver")
	}
}

func TestSendErrorsOmitSecrets(t *testing.T) {
	s := loopbackSender(t, SenderConfig{})
	req, secret := signedRequest(t, "http://127.0.0.1:1/")
	req.Headers = map[string]string{"Authorization": "Bearer topsecret", "X-Bad": "a\r\nb"}
	resp := s.Send(context.Background(), req)
	if resp.Err == nil {
		t.Fatal("expected an error")
	}
	for _, leak := range []string{"topsecret", strings.TrimPrefix(secret, SecretPrefix)[:12], "v1,"} {
		if strings.Contains(resp.Err.Error(), leak) {
			t.Fatalf("error %q leaks %q", resp.Err, leak)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	// A lean receiver, so the figures are mostly the sender's own (the
	// server runs in-process and its allocations are counted too).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(srv.Close)
	s := loopbackSender(b, SenderConfig{})
	_, key := mustSecret(b)
	req := Request{
		URL:     srv.URL + "/hook",
		MsgID:   "msg_2ZR6sH0uQy3n1fK5tQzAVi7l9cX",
		Body:    bytes.Repeat([]byte("a"), 1024),
		Headers: map[string]string{"X-Api-Key": "k-123"},
		Keys:    [][]byte{key},
	}
	ctx := context.Background()
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if resp := s.Send(ctx, req); resp.Err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("Send = %d, %v", resp.StatusCode, resp.Err)
		}
	}
}
