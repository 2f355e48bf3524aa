package appliance_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
)

// TestDeliveryPolicyAPI: applications and endpoints take a deliveryPolicy
// (a Herald extension), show it on GET, and refuse fields Herald does not
// know instead of dropping them.
func TestDeliveryPolicyAPI(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	var app struct {
		ID             string         `json:"id"`
		DeliveryPolicy map[string]any `json:"deliveryPolicy"`
	}
	r := n.do("POST", "/api/v1/app", `{"name":"b","deliveryPolicy":{"retrySchedule":["1m","5m","30m","2h","12h"],"attemptTimeout":"30s","disableOn410":false,"honorRetryAfter":false,"httpsOnly":true}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.status, r.body)
	}
	r.json(t, &app)
	r = n.do("GET", "/api/v1/app/"+app.ID, nil)
	r.json(t, &app)
	if got := fmt.Sprint(app.DeliveryPolicy); got != "map[attemptTimeout:30s disableOn410:false headerStyle:<nil> honorRetryAfter:false httpsOnly:true retryJitter:<nil> retrySchedule:[1m0s 5m0s 30m0s 2h0m0s 12h0m0s] signature:<nil>]" {
		t.Errorf("GET app deliveryPolicy = %s", got)
	}
	refused := []struct{ name, path, body, loc string }{
		{"unknown endpoint field", "/api/v1/app/" + app.ID + "/endpoint", `{"url":"https://example.com/h","retrySchedule":["1m"]}`, "retrySchedule"},
		{"policy setting beside deliveryPolicy", "/api/v1/app", `{"name":"x","httpsOnly":true}`, "httpsOnly"},
		{"unknown signature field", "/api/v1/app", `{"name":"x","deliveryPolicy":{"signature":{"scheme":"none","algo":"md5"}}}`, "algo"},
		{"unknown policy field", "/api/v1/app", `{"name":"x","deliveryPolicy":{"retries":3}}`, "retries"},
		{"bad schedule", "/api/v1/app", `{"name":"x","deliveryPolicy":{"retrySchedule":["soon"]}}`, "retrySchedule"},
		{"bad jitter", "/api/v1/app", `{"name":"x","deliveryPolicy":{"retryJitter":0.9}}`, "retryJitter"},
		{"bad timeout", "/api/v1/app", `{"name":"x","deliveryPolicy":{"attemptTimeout":"1h"}}`, "attemptTimeout"},
		{"httpsOnly on an endpoint", "/api/v1/app/" + app.ID + "/endpoint", `{"url":"https://example.com/h","deliveryPolicy":{"httpsOnly":true}}`, "httpsOnly"},
		{"unknown scheme", "/api/v1/app", `{"name":"x","deliveryPolicy":{"signature":{"scheme":"md5"}}}`, "scheme"},
		{"hmac without a header", "/api/v1/app", `{"name":"x","deliveryPolicy":{"signature":{"scheme":"hmac-sha256"}}}`, "header"},
		{"hmac into a reserved header", "/api/v1/app", `{"name":"x","deliveryPolicy":{"signature":{"scheme":"hmac-sha256","header":"webhook-signature"}}}`, "header"},
		{"bad signed content", "/api/v1/app", `{"name":"x","deliveryPolicy":{"signature":{"scheme":"hmac-sha256","header":"X-S","signedContent":"{body}.{id}"}}}`, "signedContent"},
		{"bad header style", "/api/v1/app", `{"name":"x","deliveryPolicy":{"headerStyle":"x-"}}`, "headerStyle"},
		{"http on an https-only app", "/api/v1/app/" + app.ID + "/endpoint", `{"url":"http://example.com/h"}`, "url"},
	}
	for _, c := range refused {
		r := n.do("POST", c.path, c.body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"`+c.loc+`"`) {
			t.Errorf("%s: %d %s, want 422 naming %s", c.name, r.status, r.body, c.loc)
		}
	}
	// Unknown fields of Svix's own objects stay ignored (strict-input):
	// only policy settings are refused when misplaced or unknown.
	if r := n.do("POST", "/api/v1/app", `{"name":"x","futureField":1}`); r.status != http.StatusCreated {
		t.Errorf("an unknown Svix field: %d %s, want 201", r.status, r.body)
	}
	if r := n.do("PATCH", "/api/v1/app/"+app.ID, `{"deliveryPolicy":{"retrys":[]}}`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("PATCH with an unknown policy field: %d %s, want 422", r.status, r.body)
	}
	// PATCH replaces the policy; null clears it.
	r = n.do("PATCH", "/api/v1/app/"+app.ID, `{"deliveryPolicy":null}`)
	r.json(t, &app)
	if r.status != http.StatusOK || fmt.Sprint(app.DeliveryPolicy) != "map[attemptTimeout:<nil> disableOn410:<nil> headerStyle:<nil> honorRetryAfter:<nil> httpsOnly:false retryJitter:<nil> retrySchedule:<nil> signature:<nil>]" {
		t.Errorf("PATCH null: %d %s", r.status, r.body)
	}
}

// TestDeliveryPolicyApplied: an endpoint's schedule and 410 handling take
// effect: four attempts 30 ms apart, then the delivery fails, and a 410
// does not disable the endpoint.
func TestDeliveryPolicyApplied(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newScriptedReceiver(t, func(int) reply { return reply{Status: http.StatusGone, Body: "gone"} })
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	r := n.do("PATCH", "/api/v1/app/"+f.app.Id+"/endpoint/"+f.ep.Id,
		`{"deliveryPolicy":{"retrySchedule":["30ms","30ms","30ms"],"disableOn410":false,"attemptTimeout":"2s"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("patch endpoint: %d %s", r.status, r.body)
	}
	m := f.send(t, "job.failed", map[string]any{"job": 1})
	d := f.waitFinal(t, m.Id)
	if d.Status != models.MESSAGESTATUS_FAIL {
		t.Errorf("final status %d, want fail", d.Status)
	}
	ats := f.attempts(t, m.Id)
	if len(ats) != 4 {
		t.Fatalf("%d attempts, want 4 (the first and three retries)", len(ats))
	}
	for i := 1; i < len(ats); i++ {
		if gap := ats[i].Timestamp.Sub(ats[i-1].Timestamp); gap < 20*time.Millisecond {
			t.Errorf("attempt %d came %s after the one before, want about 30ms", i+1, gap)
		}
	}
	ep, err := n.sdk.Endpoint.Get(ctx(t), f.app.Id, f.ep.Id)
	if err != nil || (ep.Disabled != nil && *ep.Disabled) {
		t.Errorf("a 410 disabled the endpoint though its policy says not to: %+v, %v", ep, err)
	}
}

// TestSignatureSchemeAPI: an application signs the way its deliveryPolicy
// says (here contract B: sha256=<hex HMAC of "{timestamp}.{body}"> keyed
// with the secret's text, a timestamp header and a delivery id that stays
// the same on a retry), and shows the setting on GET.
func TestSignatureSchemeAPI(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t, reply{Status: http.StatusInternalServerError})
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	r := n.do("PATCH", "/api/v1/app/"+f.app.Id, `{"deliveryPolicy":{"signature":{"scheme":"hmac-sha256",
		"header":"X-Transcodely-Signature","signedContent":"{timestamp}.{body}","prefix":"sha256=",
		"timestampHeader":"X-Transcodely-Timestamp","deliveryIdHeader":"X-Transcodely-Delivery-ID"}}}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"signedContent":"{timestamp}.{body}"`) {
		t.Fatalf("patch app: %d %s", r.status, r.body)
	}
	body := `{"job":"j_1", "status":"done","note":"caf\u00e9"}`
	mr := n.do("POST", "/api/v1/app/"+f.app.Id+"/msg", `{"eventType":"job.completed","payload":`+body+`}`)
	if mr.status != http.StatusAccepted {
		t.Fatalf("send: %d %s", mr.status, mr.body)
	}
	whs := rc.waitFor(t, 2)
	for i, wh := range whs {
		if string(wh.Body) != body {
			t.Errorf("attempt %d body %q, want the payload as posted %q", i+1, wh.Body, body)
		}
		ts := wh.Header.Get("X-Transcodely-Timestamp")
		mac := hmac.New(sha256.New, []byte(f.secret))
		mac.Write([]byte(ts + "." + string(wh.Body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if got := wh.Header.Get("X-Transcodely-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
			t.Errorf("attempt %d signature %q, want %q", i+1, got, want)
		}
		if wh.Header.Get("Webhook-Signature") != "" {
			t.Errorf("attempt %d also has a webhook-signature", i+1)
		}
	}
	id1, id2 := whs[0].Header.Get("X-Transcodely-Delivery-ID"), whs[1].Header.Get("X-Transcodely-Delivery-ID")
	if !strings.HasPrefix(id1, "dlv_") || id1 != id2 {
		t.Errorf("delivery ids %q and %q, want one dlv_ id on every attempt", id1, id2)
	}
	// The API names the same delivery id on the attempts and the destination.
	var m struct{ ID string }
	mr.json(t, &m)
	var ats struct{ Data []struct{ DeliveryID string } }
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		n.do("GET", "/api/v1/app/"+f.app.Id+"/attempt/msg/"+m.ID, nil).json(t, &ats)
		if len(ats.Data) < 2 {
			return fmt.Errorf("%d attempts recorded", len(ats.Data))
		}
		return nil
	})
	var dests struct{ Data []struct{ DeliveryID string } }
	n.do("GET", "/api/v1/app/"+f.app.Id+"/msg/"+m.ID+"/endpoint", nil).json(t, &dests)
	if len(ats.Data) < 2 || ats.Data[0].DeliveryID != id1 || ats.Data[1].DeliveryID != id1 || len(dests.Data) != 1 || dests.Data[0].DeliveryID != id1 {
		t.Errorf("API delivery ids: attempts %+v, destinations %+v; want %s", ats.Data, dests.Data, id1)
	}
}

// TestHeaderStyle: the server's header_style names the Standard Webhooks
// headers, and an application's headerStyle overrides it.
func TestHeaderStyle(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(c *config.Config) { c.Delivery.HeaderStyle = "both" })
	rc := newReceiver(t)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	f.send(t, "job.completed", map[string]any{"job": 1})
	wh := rc.waitFor(t, 1)[0]
	if wh.Header.Get("Svix-Id") == "" || wh.Header.Get("Svix-Id") != wh.Header.Get("Webhook-Id") ||
		wh.Header.Get("Svix-Signature") != wh.Header.Get("Webhook-Signature") {
		t.Errorf("server style both: headers %v", wh.Header)
	}
	verifyWebhook(t, f.secret, wh)
	r := n.do("PATCH", "/api/v1/app/"+f.app.Id, `{"deliveryPolicy":{"headerStyle":"svix"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("patch app: %d %s", r.status, r.body)
	}
	f.send(t, "job.completed", map[string]any{"job": 2})
	wh = rc.waitFor(t, 2)[1]
	if wh.Header.Get("Svix-Signature") == "" || wh.Header.Get("Webhook-Signature") != "" {
		t.Errorf("app style svix: headers %v", wh.Header)
	}
	sv, err := svix.NewWebhook(f.secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Verify(wh.Body, wh.Header); err != nil {
		t.Errorf("Svix SDK verifier rejects a svix-style delivery: %v", err)
	}
}

// TestV1aScheme: an application on Standard Webhooks v1a sends ed25519
// signatures that verify with the public key the API gives for the
// endpoint.
func TestV1aScheme(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	r := n.do("PATCH", "/api/v1/app/"+f.app.Id, `{"deliveryPolicy":{"signature":{"scheme":"standard-webhooks-v1a"}}}`)
	if r.status != http.StatusOK {
		t.Fatalf("patch app: %d %s", r.status, r.body)
	}
	var sec struct{ Key, PublicKey string }
	n.do("GET", "/api/v1/app/"+f.app.Id+"/endpoint/"+f.ep.Id+"/secret", nil).json(t, &sec)
	pk, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec.PublicKey, "whpk_"))
	if err != nil || len(pk) != ed25519.PublicKeySize || sec.Key != f.secret {
		t.Fatalf("secret answer %+v (%v)", sec, err)
	}
	f.send(t, "job.completed", map[string]any{"job": 1})
	wh := rc.waitFor(t, 1)[0]
	h := wh.Header
	sig, ok := strings.CutPrefix(h.Get("Webhook-Signature"), "v1a,")
	raw, err := base64.StdEncoding.DecodeString(sig)
	if !ok || err != nil {
		t.Fatalf("webhook-signature %q", h.Get("Webhook-Signature"))
	}
	if !ed25519.Verify(pk, []byte(h.Get("Webhook-Id")+"."+h.Get("Webhook-Timestamp")+"."+string(wh.Body)), raw) {
		t.Error("v1a signature does not verify with the endpoint's public key")
	}
}
