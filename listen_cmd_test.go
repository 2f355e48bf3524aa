package main

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// lockedBuffer is an io.Writer the receiver and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestListenVerifiesDeliveries(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() { done <- listen(ctx, []string{"--port", "0", "--secret", secret}, &out, &errOut, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("listen exited with %d: %s", code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not start")
	}
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("listen exit code %d", code)
		}
	}()

	body := []byte(`{"type":"job.completed","data":{"jobId":"j_1"}}`)
	// One timestamp for the signature and its header: two readings of the
	// clock can straddle a second.
	signedAt := time.Now()
	post := func(prefix, sig string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hook", bytes.NewReader(body))
		req.Header.Set(prefix+"-id", "msg_1")
		req.Header.Set(prefix+"-timestamp", strconv.FormatInt(signedAt.Unix(), 10))
		req.Header.Set(prefix+"-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good, err := wh.Sign("msg_1", signedAt, body)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		prefix, sig string
		status      int
		verdict     string
	}{
		{"webhook", good, 200, "signature: verified"},
		{"svix", good, 200, "signature: verified"},
		{"webhook", "v1,AAAA" + good[7:], 401, "signature: INVALID"},
	}
	for _, c := range cases {
		before := len(out.String())
		if got := post(c.prefix, c.sig); got != c.status {
			t.Errorf("%s headers: status %d, want %d", c.prefix, got, c.status)
		}
		printed := out.String()[before:]
		if !strings.Contains(printed, c.verdict) || !strings.Contains(printed, `"jobId": "j_1"`) {
			t.Errorf("%s headers: printed %q, want %q and the body", c.prefix, printed, c.verdict)
		}
	}
}

func TestListenRejectsBadSecret(t *testing.T) {
	var out, errOut lockedBuffer
	if code := listen(context.Background(), []string{"--secret", "nope!"}, &out, &errOut, nil); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "--secret") {
		t.Fatalf("stderr %q does not name the flag", errOut.String())
	}
}
