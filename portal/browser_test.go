//go:build browser

package portal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/herald-webhooks/herald/internal/testutil"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"
	"github.com/segmentio/ksuid"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// The browser tier: a real node, a real receiver on loopback and headless
// Chromium driving the portal as a customer would. Run with
//
//	go test -tags browser ./portal/
//
// HERALD_SCREENSHOTS names a directory for the screenshots of the main
// pages (default: a temporary directory, kept only with -v failures);
// `make portal-screenshots` refreshes the ones under docs/portal/.

const adminToken = "browser-test-admin"

// xssBody is both a payload field and the receiver's answer to it: shown
// as text, it must never run.
const xssBody = `<script>window.__xss=1</script><img src=x onerror="window.__xss=1">`

// okBody is the receiver's answer to every other webhook.
const okBody = `{"received":true}`

type hit struct {
	header http.Header
	body   []byte
}

// receiver records every webhook and answers 200 with okBody, or with
// xssBody to a payload that carries it.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{r.Header.Clone(), b})
		rc.mu.Unlock()
		if bytes.Contains(b, []byte("__xss")) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, xssBody)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Receiver-Trace", "trace-7")
		_, _ = io.WriteString(w, okBody)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// checkFor polls with a deadline (testutil.CheckFor).
var checkFor = testutil.CheckFor

type node struct {
	t    *testing.T
	base string
	app  *appliance.Appliance
}

func startNode(t *testing.T) *node {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.NodeID = "browser-node"
	cfg.AdminToken = adminToken
	cfg.AllowPrivateCIDR = []string{"127.0.0.0/8"} // the receiver is on loopback
	cfg.MemoryLimit = 0
	cfg.Log.Level = "error"
	cfg.Portal.PlatformName = "Acme Render"
	cfg.Raft.HeartbeatTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.ElectionTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: 100 * time.Millisecond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := appliance.Open(cfg, appliance.Options{}, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	n := &node{t: t, base: "http://" + a.HTTPAddr(), app: a}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !a.Node().IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	return n
}

// call makes an admin API request and decodes the answer into out.
func (n *node) call(method, path string, in, out any) {
	n.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(n.t.Context(), method, n.base+path, body)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		n.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			n.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// portalLink asks for a link as a platform would, pointed at the node's
// real port (the configured advertise address says :0).
func (n *node) portalLink(app string, body map[string]any) string {
	var out struct{ URL string }
	n.call(http.MethodPost, "/api/v1/auth/app-portal-access/"+app, body, &out)
	i := strings.Index(out.URL, "/app-portal/")
	if i < 0 || !strings.Contains(out.URL, "#token=hrldapp_") {
		n.t.Fatalf("portal link %q", out.URL)
	}
	return n.base + out.URL[i:]
}

func newBrowser(t *testing.T) context.Context {
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Fatal("no Chromium found: install it (apt-get install -y chromium); .ci/run does")
	}
	profile := t.TempDir() // removed after the browser is stopped (cleanups run last-in first-out)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		// A cold Chromium on a busy 2-core machine took just over
		// chromedp's 20 s default to print its DevTools address (seen in
		// CI); the wait ends as soon as it does.
		chromedp.WSURLReadTimeout(90 * time.Second),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for the browser process to exit
	})
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab opens a new tab (its own sessionStorage) in the browser.
func tab(t *testing.T, browser context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The first Run opens the tab and ties it to the context it is given:
	// run's deadline contexts would close it. In front, since Chromium
	// throttles the timers of background tabs to one a second.
	if err := chromedp.Run(ctx, page.BringToFront()); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// run runs actions with a deadline, failing the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into out.
func eval(t *testing.T, ctx context.Context, expr string, out any) {
	t.Helper()
	run(t, ctx, "eval "+expr, chromedp.Evaluate(expr, out))
}

// waitJS waits until the expression is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	run(t, ctx, what, chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond)))
}

// goHash moves the page to a route of the portal (a same-document
// navigation, which chromedp.Navigate would wait on for a load that never
// comes).
func goHash(route string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`location.hash = %q; true`, route), nil)
}

// fill sets a controlled input's value the way typing does (an input event).
func fill(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q;
		el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true})); return true })()`, sel, value), nil)
}

// clickText clicks the first element of tag whose text is text.
func clickText(tag, text string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const el = [...document.querySelectorAll(%q)].find(e => e.textContent.trim() === %q);
		if (!el) throw new Error('no %s %s'); el.click(); return true })()`, tag, text, tag, text), nil)
}

func waitText(sel, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, sel, text)
}

// auditJS lists accessibility problems on the page as it stands: controls
// without an accessible name or out of the tab order, and text whose
// contrast with its background fails WCAG AA (4.5:1, 3:1 for large text).
const auditJS = `(() => {
  const problems = [];
  for (const e of document.querySelectorAll('input, select, textarea, button, a[href], summary')) {
    if (e.type === 'hidden' || e.closest('[hidden]')) continue;
    const name = e.labels && e.labels.length ? [...e.labels].map(l => l.textContent).join(' ')
      : (e.getAttribute('aria-label') || (/^(BUTTON|A|SUMMARY)$/.test(e.tagName) ? e.textContent : ''));
    if (!name.trim()) problems.push('no accessible name: ' + e.outerHTML.slice(0, 80));
    if (e.tabIndex < 0) problems.push('not in the tab order: ' + e.outerHTML.slice(0, 80));
  }
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a >= 0.99) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const n = walk.currentNode, el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    if (el.closest('svg, .sr-only, option, :disabled, .skip')) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || el.getClientRects().length === 0) continue;
    const fg = parse(cs.color), bg = background(el);
    if (!fg) continue;
    const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(cs.fontSize), large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push('contrast ' + ratio.toFixed(2) + ': ' + el.tagName + ' "' + n.textContent.trim().slice(0, 30) + '"');
  }
  return problems;
})()`

// audit fails the test for every accessibility problem auditJS finds.
func audit(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	var problems []string
	eval(t, ctx, auditJS, &problems)
	for _, p := range problems {
		t.Errorf("%s: %s", page, p)
	}
}

type shooter struct{ dir string }

// shot saves the whole page as it looks at width px: the viewport is
// stretched to the page's height for the capture, then restored.
func (s shooter) shot(t *testing.T, ctx context.Context, name string, width int64) {
	t.Helper()
	var (
		height int64
		buf    []byte
	)
	eval(t, ctx, `document.documentElement.scrollHeight`, &height)
	run(t, ctx, "screenshot "+name,
		// Only the tab in front paints: a background tab never yields a frame.
		page.BringToFront(),
		emulation.SetDeviceMetricsOverride(width, max(height, 600), 1, width < 600),
		chromedp.CaptureScreenshot(&buf),
		emulation.ClearDeviceMetricsOverride(),
	)
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPortalInBrowser(t *testing.T) {
	n := startNode(t)
	rc := newReceiver(t)
	shots := shooter{dir: os.Getenv("HERALD_SCREENSHOTS")}
	if shots.dir == "" {
		shots.dir = t.TempDir()
	}
	if err := os.MkdirAll(shots.dir, 0o755); err != nil {
		t.Fatal(err)
	}

	var app struct{ ID string }
	n.call(http.MethodPost, "/api/v1/app", map[string]any{"name": "Customer One", "uid": "customer-1"}, &app)
	for _, et := range []struct{ name, desc string }{
		{"job.created", "A render job was accepted."},
		{"job.completed", "A render job finished; the output is ready."},
		{"job.failed", "A render job failed."},
	} {
		n.call(http.MethodPost, "/api/v1/event-type", map[string]any{
			"name": et.name, "description": et.desc,
			"schemas": map[string]any{"1": map[string]any{"type": "object", "examples": []any{
				map[string]any{"jobId": "job_42", "status": strings.TrimPrefix(et.name, "job."), "output": "https://cdn.example.com/job_42.mp4"},
			}}},
		}, nil)
	}

	// Each step builds on the one before: after a failure the rest would
	// only repeat it.
	step := func(name string, fn func(t *testing.T)) {
		if !t.Failed() {
			t.Run(name, fn)
		}
	}
	browser := newBrowser(t)
	ctx := tab(t, browser)
	link := n.portalLink("customer-1", nil)
	var epID, secret string

	step("open the link", func(t *testing.T) {
		run(t, ctx, "open", page.BringToFront(), chromedp.Navigate(link))
		waitJS(t, ctx, "endpoints page", waitText("h1", "Endpoints"))
		var href string
		eval(t, ctx, `location.href`, &href)
		if strings.Contains(href, "hrldapp_") || strings.Contains(href, "token") {
			t.Errorf("token left in the address bar: %s", href)
		}
		var stored bool
		eval(t, ctx, `sessionStorage.getItem('herald.portal.token').startsWith('hrldapp_')`, &stored)
		if !stored {
			t.Error("token not kept in sessionStorage")
		}
		// First paint on a loopback server well under a second.
		var fcp float64
		eval(t, ctx, `(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime`, &fcp)
		if fcp < 0 || fcp > 1000 {
			t.Errorf("first contentful paint at %.0f ms", fcp)
		}
		var brand string
		eval(t, ctx, `document.querySelector('.brand').textContent`, &brand)
		if brand != "Acme Render" {
			t.Errorf("platform name = %q", brand)
		}
	})

	step("create an endpoint with filters, a header and basic auth", func(t *testing.T) {
		run(t, ctx, "add", clickText("a", "Add endpoint"))
		waitJS(t, ctx, "form", `!!document.querySelector('#f-url') && document.querySelectorAll('input[name=eventType]').length === 3`)
		// A bad URL is refused next to the field, in words.
		run(t, ctx, "bad url", fill("#f-url", "not a url"), clickText("button", "Create endpoint"))
		waitJS(t, ctx, "url error", `!!document.querySelector('#err-url')`)
		run(t, ctx, "fill",
			fill("#f-url", rc.srv.URL+"/hooks"),
			fill("#f-desc", "Render farm receiver"),
			chromedp.Click(`input[value="job.completed"]`, chromedp.ByQuery),
			chromedp.Click(`input[value="job.created"]`, chromedp.ByQuery),
			chromedp.Click(`details.advanced > summary`, chromedp.ByQuery),
			clickText("button", "Add header"),
		)
		run(t, ctx, "header and auth",
			fill("#hk0", "X-Team"), fill("#hv0", "blue"),
			chromedp.Click(`input[name=auth][value=basic]`, chromedp.ByQuery),
		)
		run(t, ctx, "credentials", fill("#f-user", "hook-user"), fill("#f-pass", "s3cret pass"))
		shots.shot(t, ctx, "new-endpoint", 1280)
		audit(t, ctx, "new endpoint form")
		run(t, ctx, "create", clickText("button", "Create endpoint"))
		waitJS(t, ctx, "detail page", `location.hash.startsWith('#/endpoints/ep_') && !!document.querySelector('.ep-title')`)
		eval(t, ctx, `location.hash.split('/')[2]`, &epID)
		waitJS(t, ctx, "stats", `document.querySelectorAll('.bar-row').length === 2`)
		var overview string
		eval(t, ctx, `document.querySelector('.kv').textContent`, &overview)
		for _, want := range []string{"job.completed", "job.created", "X-Team", "Authorization (hidden)"} {
			if !strings.Contains(overview, want) {
				t.Errorf("overview lacks %q: %s", want, overview)
			}
		}
		shots.shot(t, ctx, "endpoint", 1280)
		audit(t, ctx, "endpoint detail")
	})

	var msgID string
	step("send a test event", func(t *testing.T) {
		run(t, ctx, "send", fill("#test-type", "job.completed"), clickText("button", "Send example"))
		waitJS(t, ctx, "outcome", `(document.querySelector('[data-testid=test-status]')||{}).textContent === 'HTTP 200'`)
		var resp string
		eval(t, ctx, `document.querySelector('[data-testid=test-response]').textContent`, &resp)
		if resp != okBody {
			t.Errorf("response shown = %q", resp)
		}
		hits := rc.got()
		if len(hits) != 1 {
			t.Fatalf("receiver got %d requests", len(hits))
		}
		h := hits[0]
		wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("hook-user:s3cret pass"))
		if h.header.Get("X-Team") != "blue" || h.header.Get("Authorization") != wantAuth {
			t.Errorf("headers: X-Team %q, Authorization %q", h.header.Get("X-Team"), h.header.Get("Authorization"))
		}
		if !bytes.Contains(h.body, []byte(`"jobId":"job_42"`)) {
			t.Errorf("body %s is not the schema example", h.body)
		}
		msgID = h.header.Get("webhook-id")
		shots.shot(t, ctx, "test-send", 1280)
		audit(t, ctx, "test send")
	})

	step("rotate the secret", func(t *testing.T) {
		run(t, ctx, "reveal", clickText("button", "Reveal"))
		waitJS(t, ctx, "revealed", `document.querySelector('[data-testid=secret]').textContent.startsWith('whsec_') && !document.querySelector('[data-testid=secret]').textContent.includes('•')`)
		eval(t, ctx, `document.querySelector('[data-testid=secret]').textContent`, &secret)
		run(t, ctx, "rotate", clickText("button", "Rotate…"), clickText("button", "Rotate secret"))
		waitJS(t, ctx, "rotated", fmt.Sprintf(`(() => { const s = document.querySelector('[data-testid=secret]').textContent; return s.startsWith('whsec_') && !s.includes('•') && s !== %q })()`, secret))
		var now string
		eval(t, ctx, `document.querySelector('[data-testid=secret]').textContent`, &now)
		var api struct{ Key string }
		n.call(http.MethodGet, "/api/v1/app/"+app.ID+"/endpoint/"+epID+"/secret", nil, &api)
		if api.Key != now {
			t.Errorf("page shows %q, API has %q", now, api.Key)
		}
	})

	step("edit, disable and enable", func(t *testing.T) {
		run(t, ctx, "edit", clickText("a", "Edit"))
		waitJS(t, ctx, "form filled", `(document.querySelector('#f-desc')||{}).value === 'Render farm receiver'`)
		run(t, ctx, "rate", fill("#f-rate", "0"), clickText("button", "Save changes"))
		waitJS(t, ctx, "rate error", waitText("#err-throttleRate", "whole number"))
		run(t, ctx, "save", fill("#f-rate", "25"), fill("#f-desc", "Render farm (EU)"), clickText("button", "Save changes"))
		waitJS(t, ctx, "saved", waitText(".kv", "Render farm (EU)")+` && `+waitText(".kv", "25 / s")+` && `+waitText(".kv", "Authorization (hidden)"))
		run(t, ctx, "disable", clickText("button", "Disable"))
		waitJS(t, ctx, "disabled", waitText(".kv .badge", "Disabled"))
		run(t, ctx, "enable", clickText("button", "Enable"))
		waitJS(t, ctx, "enabled", waitText(".kv .badge", "Enabled"))
		// The test send panel's "Open in the logs" link is gone with the
		// reload; come back to the message through the log below.
		run(t, ctx, "back", goHash("/messages/"+msgID))
	})

	step("the attempt in the log, and resend", func(t *testing.T) {
		waitJS(t, ctx, "attempt listed", `document.querySelectorAll('details.attempt').length === 1`)
		run(t, ctx, "open attempt", chromedp.Click(`details.attempt > summary`, chromedp.ByQuery))
		waitJS(t, ctx, "attempt open", `document.querySelector('details.attempt').open`)
		var resp, payload string
		eval(t, ctx, `document.querySelector('[data-testid=response]').textContent`, &resp)
		eval(t, ctx, `document.querySelector('[data-testid=payload]').textContent`, &payload)
		if resp != okBody || !strings.Contains(payload, `"jobId": "job_42"`) {
			t.Errorf("attempt response %q, payload %q", resp, payload)
		}
		// The headers as recorded when the attempt was made, credentials
		// redacted, as text.
		var hdrs map[string]map[string]string
		eval(t, ctx, `Object.fromEntries(['request-headers', 'response-headers'].map(id => [id,
			Object.fromEntries([...document.querySelectorAll('[data-testid='+id+'] tr')].map(r => [r.querySelector('th').textContent, r.querySelector('td').textContent]))]))`, &hdrs)
		sent, got := hdrs["request-headers"], hdrs["response-headers"]
		if sent["X-Team"] != "blue" || sent["Authorization"] != "[redacted]" || sent["Webhook-Id"] != msgID ||
			!strings.HasPrefix(sent["Webhook-Signature"], "v1,") || sent["Content-Type"] != "application/json" {
			t.Errorf("request headers shown: %v", sent)
		}
		if got["X-Receiver-Trace"] != "trace-7" || got["Content-Type"] != "application/json" {
			t.Errorf("response headers shown: %v", got)
		}
		var text string
		eval(t, ctx, `document.body.textContent`, &text)
		if cred := base64.StdEncoding.EncodeToString([]byte("hook-user:s3cret pass")); strings.Contains(text, cred) || strings.Contains(text, "Rebuilt") || strings.Contains(text, "not stored") {
			t.Error("the page shows the credential, or still says headers are rebuilt or not stored")
		}
		shots.shot(t, ctx, "log", 1280)
		audit(t, ctx, "message detail")
		run(t, ctx, "resend", clickText("button", "Resend"))
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if c := len(rc.got()); c != 2 {
				return fmt.Errorf("receiver got %d requests, want 2", c)
			}
			return nil
		})
		if id := rc.got()[1].header.Get("webhook-id"); id != msgID {
			t.Errorf("resend webhook-id %q, want %q", id, msgID)
		}
		waitJS(t, ctx, "second attempt", `document.querySelectorAll('details.attempt').length === 2`)
	})

	var xssMsg string
	step("XSS payloads render as text", func(t *testing.T) {
		var m struct{ ID string }
		n.call(http.MethodPost, "/api/v1/app/"+app.ID+"/msg", map[string]any{
			"eventType": "job.completed", "payload": map[string]any{"html": xssBody, "svg": `<svg onload="window.__xss=1">`},
		}, &m)
		xssMsg = m.ID
		run(t, ctx, "open", goHash("/messages/"+m.ID))
		waitJS(t, ctx, "attempt", `document.querySelectorAll('details.attempt').length === 1`)
		run(t, ctx, "open attempt", chromedp.Click(`details.attempt > summary`, chromedp.ByQuery))
		var ok bool
		eval(t, ctx, `window.__xss === undefined && document.querySelectorAll('main img, main script, main svg[onload]').length === 0 &&
			document.querySelector('[data-testid=payload]').textContent.includes('<script>window.__xss=1</script>') &&
			document.querySelector('[data-testid=response]').textContent === `+"`"+xssBody+"`", &ok)
		if !ok {
			t.Error("an XSS payload was interpreted, or not shown as text")
		}
	})

	step("an attempt recorded before headers were stored", func(t *testing.T) {
		// What a node before this version replicated: an outcome whose
		// attempt carries no headers (on the XSS message, so the pages
		// the screenshots show keep only real attempts). Its id is made
		// at its own time, older than the real attempt's, as it would be.
		at := time.Now().Add(-time.Hour)
		k, err := ksuid.NewRandomWithTime(at)
		if err != nil {
			t.Fatal(err)
		}
		oldID := storage.PrefixAttempt + k.String()
		_, err = n.app.Node().Apply(&raft.RecordOutcomes{Outcomes: []storage.Outcome{{
			Key:       storage.ScheduleKey{DueMs: at.UnixMilli(), MsgID: xssMsg, EndpointID: epID},
			AttemptNo: 2,
			Attempt: storage.Attempt{ID: oldID, AppID: app.ID, MsgID: xssMsg, EndpointID: epID,
				Timestamp: at.UnixNano(), URL: rc.srv.URL + "/hooks", StatusCode: 200, Response: []byte(okBody), DurationMs: 3, Status: storage.StatusSuccess},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "open", goHash("/messages/"+msgID), goHash("/messages/"+xssMsg))
		waitJS(t, ctx, "two attempts", `document.querySelectorAll('details.attempt').length === 2`)
		sel := fmt.Sprintf(`details.attempt[data-id=%q]`, oldID)
		var last bool
		eval(t, ctx, `document.querySelector('li:last-child > `+sel+`') !== null`, &last)
		if !last {
			t.Error("the older attempt is not listed last")
		}
		run(t, ctx, "open it", chromedp.Click(sel+` > summary`, chromedp.ByQuery))
		waitJS(t, ctx, "not recorded", `(() => { const d = document.querySelector('`+sel+`');
			return d.open && /Not recorded/.test(d.querySelector('[data-testid=request-headers]').textContent) &&
				/Not recorded/.test(d.querySelector('[data-testid=response-headers]').textContent) && !d.querySelector('table.hdrs') })()`)
	})

	step("list and logs", func(t *testing.T) {
		// A second, disabled endpoint that never had a delivery.
		n.call(http.MethodPost, "/api/v1/app/"+app.ID+"/endpoint", map[string]any{
			"url": "http://127.0.0.2:9/staging", "description": "Staging (paused)", "filterTypes": []string{"job.failed"}, "disabled": true,
		}, nil)
		run(t, ctx, "list", goHash("/endpoints"))
		waitJS(t, ctx, "two endpoints", `document.querySelectorAll('.endpoint-card').length === 2 && ![...document.querySelectorAll('.rate')].some(e => e.textContent === '…')`)
		var rates string
		eval(t, ctx, `[...document.querySelectorAll('.rate')].map(e => e.textContent).join()`, &rates)
		if rates != "100%,—" && rates != "—,100%" {
			t.Errorf("success rates %q, want 100%% and none", rates)
		}
		shots.shot(t, ctx, "list", 1280)
		audit(t, ctx, "endpoint list")
		run(t, ctx, "logs", clickText("a", "Logs"))
		waitJS(t, ctx, "messages", `document.querySelectorAll('table.messages tbody tr').length === 2`)
		run(t, ctx, "filter failed", fill("#lf-status", "2"))
		waitJS(t, ctx, "none failed", waitText("p.empty", "No messages match"))
		run(t, ctx, "filter succeeded", fill("#lf-status", "0"))
		waitJS(t, ctx, "two succeeded", `document.querySelectorAll('table.messages tbody tr').length === 2`)
	})

	step("dark theme", func(t *testing.T) {
		run(t, ctx, "detail", goHash("/endpoints/"+epID))
		waitJS(t, ctx, "detail", `!!document.querySelector('.ep-title') && document.querySelectorAll('.bar-row').length === 2`)
		run(t, ctx, "toggle", chromedp.Click(`button.theme`, chromedp.ByQuery))
		waitJS(t, ctx, "dark", `document.documentElement.dataset.theme === 'dark'`)
		shots.shot(t, ctx, "endpoint-dark", 1280)
		audit(t, ctx, "endpoint detail, dark")
		run(t, ctx, "dark log", goHash("/messages/"+msgID))
		waitJS(t, ctx, "attempts", `document.querySelectorAll('details.attempt').length === 2`)
		run(t, ctx, "open attempt", chromedp.Click(`details.attempt > summary`, chromedp.ByQuery))
		waitJS(t, ctx, "headers", `!!document.querySelector('details.attempt[open] [data-testid=response-headers] tr')`)
		shots.shot(t, ctx, "log-dark", 1280)
		audit(t, ctx, "message detail, dark")
		run(t, ctx, "phone width, dark", emulation.SetDeviceMetricsOverride(375, 740, 2, true))
		var overflow int
		eval(t, ctx, `document.documentElement.scrollWidth - window.innerWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("message detail is %d px wider than a 375 px screen", overflow)
		}
		shots.shot(t, ctx, "phone-log-dark", 375)
		run(t, ctx, "desktop again", emulation.ClearDeviceMetricsOverride())
		run(t, ctx, "dark form", goHash("/endpoints/new"))
		waitJS(t, ctx, "form", `document.querySelectorAll('input[name=eventType]').length === 3`)
		run(t, ctx, "open advanced", chromedp.Click(`details.advanced > summary`, chromedp.ByQuery), fill("#f-url", "http://10.1.2.3/hook"), clickText("button", "Create endpoint"))
		waitJS(t, ctx, "private address refused", waitText("#err-url", "private or reserved address"))
		audit(t, ctx, "new endpoint form, dark")
		run(t, ctx, "cancel", clickText("a", "Cancel"))
		run(t, ctx, "toggle back", chromedp.Click(`button.theme`, chromedp.ByQuery))
		waitJS(t, ctx, "light", `document.documentElement.dataset.theme === 'light'`)
	})

	step("phone width", func(t *testing.T) {
		run(t, ctx, "375px", emulation.SetDeviceMetricsOverride(375, 740, 2, true), goHash("/endpoints/"+epID))
		waitJS(t, ctx, "detail", `!!document.querySelector('.ep-title') && document.querySelectorAll('.bar-row').length === 2`)
		var overflow int
		eval(t, ctx, `document.documentElement.scrollWidth - window.innerWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("page is %d px wider than a 375 px screen", overflow)
		}
		shots.shot(t, ctx, "phone", 375)
		run(t, ctx, "logs", emulation.SetDeviceMetricsOverride(375, 740, 2, true), goHash("/logs"))
		waitJS(t, ctx, "messages", `document.querySelectorAll('table.messages tbody tr').length === 2`)
		eval(t, ctx, `document.documentElement.scrollWidth - window.innerWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("logs page is %d px wider than a 375 px screen", overflow)
		}
		shots.shot(t, ctx, "phone-logs", 375)
		run(t, ctx, "message", emulation.SetDeviceMetricsOverride(375, 740, 2, true), goHash("/messages/"+msgID))
		waitJS(t, ctx, "attempts", `document.querySelectorAll('details.attempt').length === 2`)
		run(t, ctx, "open attempt", chromedp.Click(`details.attempt > summary`, chromedp.ByQuery))
		waitJS(t, ctx, "headers", `!!document.querySelector('details.attempt[open] [data-testid=response-headers] tr')`)
		eval(t, ctx, `document.documentElement.scrollWidth - window.innerWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("message detail is %d px wider than a 375 px screen", overflow)
		}
		shots.shot(t, ctx, "phone-log", 375)
		run(t, ctx, "desktop", emulation.ClearDeviceMetricsOverride())
	})

	step("a one-off destination's delivery", func(t *testing.T) {
		before := len(rc.got())
		url := rc.srv.URL + "/jobs/job_7/webhook"
		var m struct{ ID string }
		n.call(http.MethodPost, "/api/v1/app/"+app.ID+"/msg", map[string]any{
			"eventType": "job.completed", "payload": map[string]any{"jobId": "job_7"}, "destination": map[string]any{"url": url},
		}, &m)
		run(t, ctx, "open", goHash("/messages/"+m.ID))
		// The app's endpoint gets the message too: two deliveries, one
		// of them to the one-off destination, shown by its URL.
		waitJS(t, ctx, "delivery", waitText("[data-testid=oneoff]", url)+` && `+waitText("#delh + ul", "one-off destination"))
		waitJS(t, ctx, "attempts", `document.querySelectorAll('details.attempt').length === 2 && `+waitText("details.attempt summary", url))
		var link bool
		eval(t, ctx, `!!document.querySelector('#delh + ul a[href*="dst_"]')`, &link)
		if link {
			t.Error("the one-off destination links to an endpoint page")
		}
		waitJS(t, ctx, "destination in details", waitText("[data-testid=destination]", url))
		oneOff := fmt.Sprintf(`[...document.querySelectorAll('details.attempt')].find(d => d.querySelector('summary').textContent.includes(%q))`, url)
		run(t, ctx, "open attempt", chromedp.Evaluate(oneOff+`.querySelector('summary').click()`, nil))
		waitJS(t, ctx, "request", oneOff+`.open && `+oneOff+`.querySelector('code').textContent === 'POST '+`+fmt.Sprintf("%q", url)+` && `+oneOff+`.querySelector('.hdrs').textContent.toLowerCase().includes('webhook-signature')`)
		audit(t, ctx, "message detail, one-off destination")
		run(t, ctx, "resend", chromedp.Evaluate(fmt.Sprintf(`document.querySelector('button[aria-label="Resend to %s"]').click()`, url), nil))
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if c := len(rc.got()); c != before+3 {
				return fmt.Errorf("receiver got %d requests, want %d", c, before+3)
			}
			return nil
		})
		waitJS(t, ctx, "third attempt", `document.querySelectorAll('details.attempt').length === 3`)
	})

	// Each capability list a platform may hand out, in its own tab of the
	// same browser: which controls the pages show, and that the API
	// refuses what they hide (and allows what they show), with the
	// token's own calls from the page.
	step("capability lists", func(t *testing.T) {
		list := []string{"Add endpoint"}
		detail := []string{"Edit", "Disable", "Delete…", "Send example", "Reveal", "Copy", "Rotate…", "Recover"}
		message := []string{"Resend"}
		manage := []string{"Add endpoint", "Edit", "Disable", "Delete…"}
		secret := []string{"Reveal", "Copy"}
		attempts := []string{"Send example", "Recover", "Resend"}
		ep := "app/" + app.ID + "/endpoint/" + epID
		// API probes: what each is, and the capability-free answer class.
		type probe struct{ method, path, body string }
		probes := map[string]probe{
			"manage":   {"PATCH", ep, `{"description":"Render farm (EU)"}`},
			"secret":   {"GET", ep + "/secret", ""},
			"rotate":   {"POST", ep + "/secret/rotate", `{}`},
			"attempts": {"POST", ep + "/recover", `{"since":"` + time.Now().UTC().Format(time.RFC3339) + `"}`},
			"read":     {"GET", "app/" + app.ID + "/delivery?status=0", ""},
		}
		for _, tc := range []struct {
			name   string
			link   map[string]any
			shown  []string        // controls present
			allows map[string]bool // probes the API allows; the rest must be 403
			banner bool            // the read-only banner
		}{
			{"ViewBase", map[string]any{"capabilities": []string{"ViewBase"}}, nil,
				map[string]bool{"read": true}, true},
			{"readOnly", map[string]any{"readOnly": true}, nil,
				map[string]bool{"read": true}, true},
			{"ViewBase+ViewEndpointSecret", map[string]any{"capabilities": []string{"ViewBase", "ViewEndpointSecret"}}, secret,
				map[string]bool{"read": true, "secret": true}, true},
			{"ViewBase+ManageEndpointSecret", map[string]any{"capabilities": []string{"ViewBase", "ManageEndpointSecret"}}, append(slices.Clone(secret), "Rotate…"),
				map[string]bool{"read": true, "secret": true, "rotate": true}, false},
			{"ViewBase+CreateAttempts", map[string]any{"capabilities": []string{"ViewBase", "CreateAttempts"}}, attempts,
				map[string]bool{"read": true, "attempts": true}, false},
			{"ViewBase+ManageEndpoint", map[string]any{"capabilities": []string{"ViewBase", "ManageEndpoint"}}, append(slices.Clone(manage), append(slices.Clone(secret), "Rotate…")...),
				map[string]bool{"read": true, "manage": true, "secret": true, "rotate": true}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tb := tab(t, browser)
				run(t, tb, "open", chromedp.Navigate(n.portalLink("customer-1", tc.link)))
				waitJS(t, tb, "list", `document.querySelectorAll('.endpoint-card').length === 2`)
				var banner bool
				eval(t, tb, `!!document.querySelector('.banner')`, &banner)
				if banner != tc.banner {
					t.Errorf("read-only banner shown %v, want %v", banner, tc.banner)
				}
				controls := func(names []string) []string {
					var got []string
					js, _ := json.Marshal(names)
					eval(t, tb, `[...document.querySelectorAll('a,button')].map(e => e.textContent.trim()).filter(x => `+string(js)+`.includes(x))`, &got)
					return got
				}
				check := func(page string, all []string) {
					t.Helper()
					var want []string
					for _, c := range all {
						if slices.Contains(tc.shown, c) {
							want = append(want, c)
						}
					}
					got := controls(all)
					slices.Sort(got)
					got = slices.Compact(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("%s shows %v, want %v", page, got, want)
					}
				}
				check("endpoint list", list)
				run(t, tb, "detail", goHash("/endpoints/"+epID))
				waitJS(t, tb, "detail", `!!document.querySelector('.ep-title') && document.querySelectorAll('.bar-row').length === 2`)
				if slices.Contains(tc.shown, "Send example") {
					waitJS(t, tb, "event types", `document.querySelectorAll('#test-type option').length > 0`)
				}
				check("endpoint detail", detail)
				var secretShown bool
				eval(t, tb, `!!document.querySelector('[data-testid=secret]')`, &secretShown)
				if secretShown != slices.Contains(tc.shown, "Reveal") {
					t.Errorf("secret panel shown %v", secretShown)
				}
				if secretShown {
					run(t, tb, "reveal", clickText("button", "Reveal"))
					waitJS(t, tb, "revealed", `document.querySelector('[data-testid=secret]').textContent.startsWith('whsec_') && !document.querySelector('[data-testid=secret]').textContent.includes('•')`)
				}
				run(t, tb, "message", goHash("/messages/"+msgID))
				waitJS(t, tb, "message", `document.querySelectorAll('details.attempt').length > 0 && document.querySelectorAll('.plain li').length > 0`)
				check("message detail", message)
				for name, p := range probes {
					var status int
					run(t, tb, "probe "+name, chromedp.Evaluate(fmt.Sprintf(`fetch('/api/v1/' + %q, {method: %q, body: %q || undefined,
						headers: {Authorization: 'Bearer ' + sessionStorage.getItem('herald.portal.token'), 'Content-Type': 'application/json'}}).then(r => r.status)`,
						p.path, p.method, p.body), &status, func(ep *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return ep.WithAwaitPromise(true) }))
					if allowed := tc.allows[name]; allowed != (status < 300) || (!allowed && status != http.StatusForbidden) {
						t.Errorf("%s %s answered %d; allowed %v", p.method, p.path, status, allowed)
					}
				}
			})
		}
	})

	step("theming parameters", func(t *testing.T) {
		th := tab(t, browser)
		link := n.portalLink("customer-1", map[string]any{"platformName": "Render Co"})
		themed := strings.Replace(link, "#token=", "&primaryColorLight=%23aa0011&darkMode=true&primaryColorDark=%23ffb000&hideNavigation=true&next=/logs#token=", 1)
		run(t, th, "open", chromedp.Navigate(themed))
		waitJS(t, th, "logs page", waitText("h1", "Logs"))
		var got []string
		eval(t, th, `[document.querySelector('.brand').textContent, document.documentElement.dataset.theme,
			getComputedStyle(document.documentElement).getPropertyValue('--primary').trim(), String(!!document.querySelector('nav'))]`, &got)
		if strings.Join(got, " ") != "Render Co dark #ffb000 false" {
			t.Errorf("name, theme, colour, navigation = %q", got)
		}
	})

	// The page a revoked or expired link lands on: the notice, and
	// nothing to navigate to or press but the theme switch.
	expiredPage := func(t *testing.T, tb context.Context) {
		t.Helper()
		waitJS(t, tb, "expired page", waitText("h1", "This link has expired"))
		var rest int
		eval(t, tb, `document.querySelectorAll('nav, main a, main button, main input, .endpoint-card').length`, &rest)
		if rest != 0 {
			t.Errorf("the expired page has %d links, controls or endpoints", rest)
		}
	}

	step("logged-out link", func(t *testing.T) {
		link := n.portalLink("customer-1", nil)
		lo := tab(t, browser)
		run(t, lo, "open", chromedp.Navigate(link))
		waitJS(t, lo, "list", `document.querySelectorAll('.endpoint-card').length === 2`)
		// The platform (or the customer's own session) logs the token out.
		var status int
		run(t, lo, "logout", chromedp.Evaluate(`fetch('/api/v1/auth/logout', {method: 'POST',
			headers: {Authorization: 'Bearer ' + sessionStorage.getItem('herald.portal.token')}}).then(r => r.status)`, &status,
			func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if status != http.StatusNoContent {
			t.Fatalf("logout answered %d", status)
		}
		run(t, lo, "reload", chromedp.Reload())
		expiredPage(t, lo)
		// Opening the link again does not bring it back.
		run(t, lo, "reopen", chromedp.Navigate(link))
		expiredPage(t, lo)
	})

	step("expired link", func(t *testing.T) {
		old := n.portalLink("customer-1", nil)
		n.call(http.MethodPost, "/api/v1/auth/app/"+app.ID+"/expire-all", map[string]any{}, nil)
		ex := tab(t, browser)
		run(t, ex, "open", chromedp.Navigate(old))
		expiredPage(t, ex)
		audit(t, ex, "expired page")
		// The first tab's token was revoked too: its next call lands there.
		run(t, ctx, "reload", chromedp.Reload())
		waitJS(t, ctx, "expired page", waitText("h1", "This link has expired"))
	})
}
