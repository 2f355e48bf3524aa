package appliance_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/svix/svix-webhooks/go/models"
)

// TestEndpointSecretRotation rotates an endpoint's secret with the Svix SDK:
// the new secret is the one returned, and during the grace period every
// delivery carries a signature for the old secret too, so a receiver still
// on the old secret keeps accepting; a grace period of 0 drops the
// replaced secret at once. Bad input changes nothing.
func TestEndpointSecretRotation(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	rc := newReceiver(t)
	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Rotation"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/hook")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := func() string {
		t.Helper()
		s, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, ep.Id)
		if err != nil {
			t.Fatalf("GetSecret: %v", err)
		}
		return s.Key
	}
	deliver := func(want int) webhook {
		t.Helper()
		if _, err := sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "job.done", Payload: map[string]any{"n": want}}, nil); err != nil {
			t.Fatalf("Message.Create: %v", err)
		}
		return rc.waitFor(t, want)[want-1]
	}
	rejects := func(secret string, wh webhook) bool {
		sw, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		return sw.Verify(wh.Body, wh.Header) != nil
	}
	sigs := func(wh webhook) int { return len(strings.Fields(wh.Header.Get("webhook-signature"))) }

	first := secret()
	if err := sdk.Endpoint.RotateSecret(ctx(t), app.Id, ep.Id, models.EndpointSecretRotateIn{}, nil); err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	second := secret()
	if second == first {
		t.Fatal("RotateSecret kept the secret")
	}
	checkSecretFormat(t, second)
	wh := deliver(1)
	verifyWebhook(t, second, wh)
	verifyWebhook(t, first, wh) // still within the default 24 h grace
	if sigs(wh) != 2 {
		t.Errorf("webhook-signature %q: want the new and the old signature", wh.Header.Get("webhook-signature"))
	}

	// A given key, no grace: every old secret stops signing at once (the
	// rotation one makes after a leak).
	third := "whsec_" + strings.Repeat("QUJD", 8)
	zero := uint32(0)
	if err := sdk.Endpoint.RotateSecret(ctx(t), app.Id, ep.Id, models.EndpointSecretRotateIn{Key: &third, GracePeriodSeconds: &zero}, nil); err != nil {
		t.Fatalf("RotateSecret with a key: %v", err)
	}
	if got := secret(); got != third {
		t.Fatalf("secret after rotating to a given key = %q", got)
	}
	wh = deliver(2)
	verifyWebhook(t, third, wh)
	if !rejects(second, wh) || !rejects(first, wh) || sigs(wh) != 1 {
		t.Errorf("secrets rotated out with no grace still sign: %q", wh.Header.Get("webhook-signature"))
	}

	// Bad input: a clear 422, and nothing changes. (First, both attempts'
	// outcomes are recorded: they commit after the receiver answered.)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if c := n.counts().Attempts; c != 2 {
			return fmt.Errorf("%d attempts recorded, want 2", c)
		}
		return nil
	})
	before := n.counts()
	path := "/api/v1/app/" + app.Id + "/endpoint/" + ep.Id + "/secret/rotate"
	for _, body := range []string{`{"gracePeriodSeconds":604801}`, `{"gracePeriodSeconds":-1}`, `{"key":"whsec_!!"}`, `{"key":1}`, `[`} {
		r := n.do(http.MethodPost, path, body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"detail"`) {
			t.Errorf("rotate with %s: %d %s, want 422", body, r.status, r.body)
		}
	}
	if got := secret(); got != third {
		t.Errorf("a refused rotation changed the secret to %q", got)
	}
	if after := n.counts(); after != before {
		t.Errorf("a refused rotation changed the state: %+v -> %+v", before, after)
	}
	if r := n.do(http.MethodPost, "/api/v1/app/"+app.Id+"/endpoint/ep_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ/secret/rotate", nil); r.status != http.StatusNotFound {
		t.Errorf("rotate an unknown endpoint: %d, want 404", r.status)
	}
}
