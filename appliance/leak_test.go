package appliance_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/appliance"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNothingLeaks runs a full flow with trace logging (Herald, Raft and
// Badger) and checks that no token, signing secret or custom header value
// appears in the logs, and that the secret appears in the API only on the
// secret route.
func TestNothingLeaks(t *testing.T) {
	const (
		secret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		secretKey   = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		headerValue = "Bearer customer-api-key-5f2b9c"
	)
	cfg := testConfig(t)
	cfg.Log.Level = "trace"
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.TraceLevel)
	a, err := appliance.Open(cfg, appliance.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeNode := func() {
		if !closed {
			closed = true
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = a.Close(ctx)
		}
	}
	t.Cleanup(closeNode)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !a.Node().IsLeader() {
			return errors.New("not the leader yet")
		}
		return nil
	})
	n := &testNode{Appliance: a, t: t, cfg: cfg, url: "http://" + a.HTTPAddr()}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	n.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	n.sdk, err = svix.New(testToken, &svix.SvixOptions{ServerUrl: mustURL(t, n.url)})
	if err != nil {
		t.Fatal(err)
	}

	ok := newReceiver(t)
	failing := newReceiver(t, reply{Status: 500}, reply{Status: 500}, reply{Status: 200})
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "leaks"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{
		Url: ok.URL("/hook"), Secret: ptr(secret), Headers: &map[string]string{"Authorization": headerValue},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: failing.URL("/hook"), Secret: ptr(secret)}, nil); err != nil {
		t.Fatal(err)
	}
	portal, err := n.sdk.Authentication.AppPortalAccess(ctx(t), app.Id, models.AppPortalAccessIn{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{"x": 1}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ok.waitFor(t, 3)
	failing.waitFor(t, 5)
	if got := ok.webhooks()[0].Header.Get("Authorization"); got != headerValue {
		t.Fatalf("custom header not delivered: %q", got)
	}
	// Wrong tokens and a bad request on the way.
	n.doToken("wrong-token", "GET", "/api/v1/app", nil)
	n.doToken(portal.Token, "GET", "/api/v1/app", nil)

	// The API shows the secret on the secret route only.
	base := "/api/v1/app/" + app.Id
	for _, path := range []string{base + "/endpoint", base + "/endpoint/" + ep.Id, base + "/msg", base + "/attempt/endpoint/" + ep.Id} {
		if r := n.do("GET", path, nil); strings.Contains(string(r.body), secretKey) || strings.Contains(string(r.body), headerValue) {
			t.Errorf("GET %s shows the secret or a header value: %s", path, r.body)
		}
	}
	if r := n.do("GET", base+"/endpoint/"+ep.Id+"/secret", nil); !strings.Contains(string(r.body), secret) {
		t.Errorf("secret route = %s", r.body)
	}
	closeNode()

	out := logs.String()
	if !strings.Contains(out, `"level":"debug"`) {
		t.Fatalf("no debug logging captured; the check would prove nothing")
	}
	for name, s := range map[string]string{
		"admin token": testToken, "app token": portal.Token, "app token body": strings.TrimPrefix(portal.Token, "hrldapp_"),
		"secret": secretKey, "header value": headerValue,
	} {
		if strings.Contains(out, s) {
			i := strings.Index(out, s)
			t.Errorf("the %s appears in the logs: ...%s...", name, out[max(0, i-200):min(len(out), i+100)])
		}
	}
}
