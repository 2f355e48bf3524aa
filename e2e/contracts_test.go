//go:build e2e

package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The delivery contracts of issue 11, from the receiver's side: Herald is
// configured through its API only, and each delivery is checked with the
// verification code the platform's customers would write from its
// documentation. Schedules are the contracts' own, compressed 10,000
// times (1 min -> 6 ms), with the policy's retryJitter at 0 as the
// contracts' exact schedules need, so the number and spacing of attempts
// can be checked in seconds.
//
// A, B and C name a per-job webhook_url, as those platforms do: each job
// (message) carries a one-off "destination", signed with the
// application's secret under its deliveryPolicy; D uses endpoints with
// filters. B and C also wait for the
// message.attempt.exhausted notice, exactly once, after the last attempt.

// captured is one request a contract receiver got.
type captured struct {
	header http.Header
	body   []byte
	at     time.Time
}

// contractReceiver records every request and answers status.
type contractReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []captured
	status int
}

func newContractReceiver(t *testing.T, status int) *contractReceiver {
	r := &contractReceiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, captured{header: req.Header.Clone(), body: body, at: time.Now()})
		st := r.status
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *contractReceiver) requests() []captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]captured(nil), r.got...)
}

func (r *contractReceiver) waitFor(t *testing.T, n int, within time.Duration) []captured {
	t.Helper()
	checkFor(t, within, 10*time.Millisecond, func() error {
		if got := len(r.requests()); got < n {
			return fmt.Errorf("%d requests, want %d", got, n)
		}
		return nil
	})
	return r.requests()
}

// api sends a JSON request with the admin token and decodes the answer.
func api(t *testing.T, n *node, method, path, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, n.baseURL().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// contractNode starts a node with its default configuration.
func contractNode(t *testing.T) *node {
	n := newNode(t)
	n.start()
	return n
}

// setUpOneOff creates an app with policy, for jobs that name their own
// webhook URL, and returns its id and the secret its deliveries are
// signed with (the application's).
func setUpOneOff(t *testing.T, n *node, policy string) (app, secret string) {
	t.Helper()
	var a struct{ ID string }
	api(t, n, "POST", "/api/v1/app", `{"name":"`+t.Name()+`","deliveryPolicy":`+policy+`}`, http.StatusCreated, &a)
	var s struct{ Key string }
	api(t, n, "GET", "/api/v1/app/"+a.ID+"/secret", "", http.StatusOK, &s)
	return a.ID, s.Key
}

// postJobTo posts a job event that names its own webhook URL.
func postJobTo(t *testing.T, n *node, app, eventType, webhookURL string) string {
	t.Helper()
	var m struct{ ID string }
	api(t, n, "POST", "/api/v1/app/"+app+"/msg", `{"eventType":"`+eventType+`","payload":`+jobBody+`,"destination":{"url":"`+webhookURL+`"}}`, http.StatusAccepted, &m)
	return m.ID
}

// jobBody is a payload as a platform posts it: key order, spacing and a
// unicode escape that must reach the receiver untouched.
const jobBody = `{"job_id":"job_42",  "status":"completed","title":"caf\u00e9"}`

func postJob(t *testing.T, n *node, app, eventType string) string {
	t.Helper()
	var m struct{ ID string }
	api(t, n, "POST", "/api/v1/app/"+app+"/msg", `{"eventType":"`+eventType+`","payload":`+jobBody+`}`, http.StatusAccepted, &m)
	return m.ID
}

// checkFaithful checks what every contract promises about the request.
func checkFaithful(t *testing.T, c captured) {
	t.Helper()
	if string(c.body) != jobBody {
		t.Errorf("body %q, want the payload as posted %q", c.body, jobBody)
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := c.header.Get("User-Agent"); !strings.HasPrefix(ua, "Herald-Webhooks/") {
		t.Errorf("User-Agent %q does not name Herald", ua)
	}
}

// checkSpacing checks attempts came after the waits of schedule, and not
// much later.
func checkSpacing(t *testing.T, got []captured, schedule []time.Duration) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		gap, want := got[i].at.Sub(got[i-1].at), schedule[i-1]
		if gap < want-2*time.Millisecond || gap > want+750*time.Millisecond {
			t.Errorf("attempt %d came %s after attempt %d, want %s", i+1, gap, i, want)
		}
	}
}

// deliveryStatus returns the delivery's status text towards the endpoint
// and whether another attempt is pending.
func deliveryStatus(t *testing.T, n *node, app, msg string) (string, bool) {
	t.Helper()
	var l struct {
		Data []struct {
			StatusText  string  `json:"statusText"`
			NextAttempt *string `json:"nextAttempt"`
		}
	}
	api(t, n, "GET", "/api/v1/app/"+app+"/msg/"+msg+"/endpoint", "", http.StatusOK, &l)
	if len(l.Data) != 1 {
		t.Fatalf("%d destinations", len(l.Data))
	}
	return l.Data[0].StatusText, l.Data[0].NextAttempt != nil
}

func TestContracts(t *testing.T) {
	n := contractNode(t)

	t.Run("A: hex HMAC of the body, verified with Node's crypto", func(t *testing.T) {
		rc := newContractReceiver(t, http.StatusOK)
		// httpsOnly is left out only because the test's receiver is
		// plain http; the refusal it makes is checked below.
		policy := `{"attemptTimeout":"5s","disableOn410":false,"honorRetryAfter":false,
			"signature":{"scheme":"hmac-sha256","header":"X-NetraFlow-Signature","signedContent":"{body}","encoding":"hex","key":"secret-text"}}`
		app, secret := setUpOneOff(t, n, policy)
		postJobTo(t, n, app, "job.completed", rc.srv.URL+"/netraflow/job_42")
		c := rc.waitFor(t, 1, 10*time.Second)[0]
		checkFaithful(t, c)
		// An https-only application refuses an http:// webhook_url when
		// the job is created.
		strict, _ := setUpOneOff(t, n, `{"httpsOnly":true}`)
		api(t, n, "POST", "/api/v1/app/"+strict+"/msg", `{"eventType":"job.completed","payload":{},"destination":{"url":"`+rc.srv.URL+`/x"}}`, http.StatusUnprocessableEntity, nil)
		sig := c.header.Get("X-NetraFlow-Signature")
		node, err := exec.LookPath("node")
		if err != nil {
			t.Skip("node is not installed: the Node.js verification of contract A was not run")
		}
		dir := t.TempDir()
		bodyFile := filepath.Join(dir, "body")
		if err := os.WriteFile(bodyFile, c.body, 0o600); err != nil {
			t.Fatal(err)
		}
		// As NetraFlow's docs tell customers to verify.
		script := `
const crypto = require('crypto'), fs = require('fs');
const [secret, sigHeader, file] = process.argv.slice(1);
const raw = fs.readFileSync(file);
const expected = crypto.createHmac('sha256', secret).update(raw).digest('hex');
const a = Buffer.from(expected), b = Buffer.from(sigHeader);
process.exit(a.length === b.length && crypto.timingSafeEqual(a, b) ? 0 : 1);`
		if out, err := exec.Command(node, "-e", script, secret, sig, bodyFile).CombinedOutput(); err != nil {
			t.Errorf("Node's verification refused the delivery (%v): %s", err, out)
		}
		// A wrong secret must fail it, or the check proves nothing.
		if err := exec.Command(node, "-e", script, secret+"x", sig, bodyFile).Run(); err == nil {
			t.Error("Node's verification accepted a wrong secret")
		}
	})

	t.Run("B: sha256= timestamped HMAC, delivery id, 6 attempts", func(t *testing.T) {
		rc := newContractReceiver(t, http.StatusInternalServerError)
		schedule := []time.Duration{6 * time.Millisecond, 30 * time.Millisecond, 180 * time.Millisecond, 720 * time.Millisecond, 4320 * time.Millisecond}
		app, secret := setUpOneOff(t, n, `{"attemptTimeout":"30s","disableOn410":false,"honorRetryAfter":false,
			"retrySchedule":["6ms","30ms","180ms","720ms","4320ms"],"retryJitter":0,
			"signature":{"scheme":"hmac-sha256","header":"X-Transcodely-Signature","signedContent":"{timestamp}.{body}",
				"encoding":"hex","prefix":"sha256=","key":"secret-text","timestampHeader":"X-Transcodely-Timestamp",
				"deliveryIdHeader":"X-Transcodely-Delivery-ID"}}`)
		exhausted := watchExhausted(t, n)
		msg := postJobTo(t, n, app, "job.completed", rc.srv.URL+"/transcodely/hooks?job=job_42")
		got := rc.waitFor(t, 6, 20*time.Second)
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if st, pending := deliveryStatus(t, n, app, msg); st != "fail" || pending {
				return fmt.Errorf("delivery %s, pending %v", st, pending)
			}
			return nil
		})
		if got = rc.requests(); len(got) != 6 {
			t.Fatalf("%d attempts, want 6 then abandoned", len(got))
		}
		checkSpacing(t, got, schedule)
		exhausted(t, msg, got[len(got)-1])
		python, pyErr := exec.LookPath("python3")
		for i, c := range got {
			checkFaithful(t, c)
			ts := c.header.Get("X-Transcodely-Timestamp")
			sig := c.header.Get("X-Transcodely-Signature")
			// Go, as a customer writes it: a 5-minute window, hmac.Equal.
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
				t.Errorf("attempt %d: timestamp %q outside the 5-minute window", i+1, ts)
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(ts + "."))
			mac.Write(c.body)
			if !hmac.Equal([]byte("sha256="+hex.EncodeToString(mac.Sum(nil))), []byte(sig)) {
				t.Errorf("attempt %d: Go verification failed", i+1)
			}
			if pyErr == nil {
				script := `
import hmac, hashlib, sys
secret, ts, sig, path = sys.argv[1:]
body = open(path, 'rb').read()
expected = 'sha256=' + hmac.new(secret.encode(), ts.encode() + b'.' + body, hashlib.sha256).hexdigest()
sys.exit(0 if hmac.compare_digest(expected, sig) else 1)`
				f := filepath.Join(t.TempDir(), "body")
				_ = os.WriteFile(f, c.body, 0o600)
				if out, err := exec.Command(python, "-c", script, secret, ts, sig, f).CombinedOutput(); err != nil {
					t.Errorf("attempt %d: Python's hmac.compare_digest refused it (%v): %s", i+1, err, out)
				}
			}
			if id := c.header.Get("X-Transcodely-Delivery-ID"); !strings.HasPrefix(id, "dlv_") || id != got[0].header.Get("X-Transcodely-Delivery-ID") {
				t.Errorf("attempt %d: delivery id %q, want the first attempt's dlv_ id", i+1, id)
			}
		}
		if pyErr != nil {
			t.Log("python3 is not installed: the Python verification of contract B was not run")
		}
	})

	t.Run("C: unsigned, 4 attempts then abandoned", func(t *testing.T) {
		rc := newContractReceiver(t, http.StatusBadGateway)
		schedule := []time.Duration{3 * time.Millisecond, 12 * time.Millisecond, 60 * time.Millisecond}
		app, _ := setUpOneOff(t, n, `{"retrySchedule":["3ms","12ms","60ms"],"retryJitter":0,"disableOn410":false,"honorRetryAfter":false,
			"signature":{"scheme":"none"}}`)
		exhausted := watchExhausted(t, n)
		msg := postJobTo(t, n, app, "job.failed", rc.srv.URL+"/c/webhook_uri")
		rc.waitFor(t, 4, 10*time.Second)
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if st, pending := deliveryStatus(t, n, app, msg); st != "fail" || pending {
				return fmt.Errorf("delivery %s, pending %v", st, pending)
			}
			return nil
		})
		got := rc.requests()
		if len(got) != 4 {
			t.Fatalf("%d attempts, want 4", len(got))
		}
		checkSpacing(t, got, schedule)
		exhausted(t, msg, got[len(got)-1])
		for i, c := range got {
			checkFaithful(t, c)
			for name := range c.header {
				if l := strings.ToLower(name); strings.HasPrefix(l, "webhook-") || strings.HasPrefix(l, "svix-") || strings.Contains(l, "signature") {
					t.Errorf("attempt %d of an unsigned contract carries %s", i+1, name)
				}
			}
		}
	})

	t.Run("D: Standard Webhooks, several endpoints with filters", func(t *testing.T) {
		completed, failed := newContractReceiver(t, http.StatusOK), newContractReceiver(t, http.StatusOK)
		var a struct{ ID string }
		api(t, n, "POST", "/api/v1/app", `{"name":"d"}`, http.StatusCreated, &a)
		secrets := map[*contractReceiver]string{}
		for rc, types := range map[*contractReceiver]string{completed: `["job.completed"]`, failed: `["job.failed"]`} {
			var e struct{ ID string }
			api(t, n, "POST", "/api/v1/app/"+a.ID+"/endpoint", `{"url":"`+rc.srv.URL+`","filterTypes":`+types+`}`, http.StatusCreated, &e)
			var s struct{ Key string }
			api(t, n, "GET", "/api/v1/app/"+a.ID+"/endpoint/"+e.ID+"/secret", "", http.StatusOK, &s)
			secrets[rc] = s.Key
		}
		m1 := postJob(t, n, a.ID, "job.completed")
		m2 := postJob(t, n, a.ID, "job.failed")
		for rc, want := range map[*contractReceiver]string{completed: m1, failed: m2} {
			c := rc.waitFor(t, 1, 10*time.Second)[0]
			checkFaithful(t, c)
			if id := c.header.Get("webhook-id"); id != want {
				t.Errorf("webhook-id %q, want %q", id, want)
			}
			wh, err := standardwebhooks.NewWebhook(secrets[rc])
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(c.body, c.header); err != nil {
				t.Errorf("Standard Webhooks library refused the delivery: %v", err)
			}
		}
		if len(completed.requests()) != 1 || len(failed.requests()) != 1 {
			t.Errorf("filters: %d and %d requests, want 1 each", len(completed.requests()), len(failed.requests()))
		}
	})
}

// watchExhausted makes an operational webhook endpoint for
// message.attempt.exhausted notices on a receiver of its own, and returns
// the check that a message's notice came exactly once, after its last
// attempt (last), signed with the operational endpoint's secret.
func watchExhausted(t *testing.T, n *node) func(t *testing.T, msg string, last captured) {
	t.Helper()
	ops := newContractReceiver(t, http.StatusOK)
	var e struct{ ID string }
	api(t, n, "POST", "/api/v1/operational-webhook/endpoint",
		`{"url":"`+ops.srv.URL+`","filterTypes":["message.attempt.exhausted"]}`, http.StatusCreated, &e)
	var s struct{ Key string }
	api(t, n, "GET", "/api/v1/operational-webhook/endpoint/"+e.ID+"/secret", "", http.StatusOK, &s)
	t.Cleanup(func() {
		api(t, n, "DELETE", "/api/v1/operational-webhook/endpoint/"+e.ID, "", http.StatusNoContent, nil)
	})
	type notice struct {
		Type string
		Data struct {
			MsgID       string `json:"msgId"`
			LastAttempt struct{ Timestamp time.Time }
		}
	}
	return func(t *testing.T, msg string, last captured) {
		t.Helper()
		var mine []captured
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			mine = mine[:0]
			for _, c := range ops.requests() {
				var nt notice
				if json.Unmarshal(c.body, &nt) == nil && nt.Data.MsgID == msg {
					mine = append(mine, c)
				}
			}
			if len(mine) == 0 {
				return fmt.Errorf("no message.attempt.exhausted notice for %s", msg)
			}
			return nil
		})
		// The delivery is final already (the caller waited for it): no
		// later outcome can make another notice.
		if len(mine) != 1 {
			t.Fatalf("%d exhausted notices for %s, want exactly one", len(mine), msg)
		}
		c := mine[0]
		wh, err := standardwebhooks.NewWebhook(s.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(c.body, c.header); err != nil {
			t.Errorf("exhausted notice not signed with the operational endpoint's secret: %v", err)
		}
		var nt notice
		_ = json.Unmarshal(c.body, &nt)
		if nt.Type != "message.attempt.exhausted" {
			t.Errorf("notice type %q", nt.Type)
		}
		if !c.at.After(last.at) {
			t.Errorf("exhausted notice came at %v, before the last attempt at %v", c.at, last.at)
		}
		if ts := nt.Data.LastAttempt.Timestamp; ts.After(last.at) || last.at.Sub(ts) > 5*time.Second {
			t.Errorf("notice's lastAttempt.timestamp %v is not the last attempt's (received at %v)", ts, last.at)
		}
	}
}
