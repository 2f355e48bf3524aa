// Command bench is Herald's load driver. It starts Herald (or targets a
// running node), starts a local receiver, creates an app and its endpoints,
// drives concurrent clients for a while and prints one table of figures:
// events/s acknowledged, deliveries/s, ingest-to-first-attempt latency,
// ingest request latency, errors and peak RSS.
//
//	go run ./scripts/bench -duration 20s -concurrency 64
//	go run ./scripts/bench -target http://127.0.0.1:8484 -token $TOKEN -rate 1000
//	go run ./scripts/bench -backlog 1000000   # receiver down while loading, then up: drain rate
//
// All traffic stays on loopback.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

type options struct {
	target      string
	token       string
	heraldBin   string
	dataDir     string
	duration    time.Duration
	concurrency int
	rate        int
	payload     int
	fanout      int
	oneoff      int
	backlog     int
	drain       time.Duration
	pids        string
	extraArgs   string
	cluster     bool
}

func main() {
	var o options
	flag.StringVar(&o.target, "target", "", "API base URL of a running node (default: start one)")
	flag.StringVar(&o.token, "token", os.Getenv("HERALD_ADMIN_TOKEN"), "admin token for -target")
	flag.StringVar(&o.heraldBin, "herald", "", "herald binary to start (default: build one)")
	flag.StringVar(&o.dataDir, "data-dir", "", "data directory for the started node (default: a temp dir)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long clients send")
	flag.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients")
	flag.IntVar(&o.rate, "rate", 0, "target events/s across all clients (0 = as fast as possible)")
	flag.IntVar(&o.payload, "payload", 1024, "payload size in bytes")
	flag.IntVar(&o.fanout, "fanout", 1, "endpoints per app (each event is delivered this many times)")
	flag.IntVar(&o.oneoff, "oneoff", 0, "name a one-off destination on every event, spread over this many receiver origins (listeners); 0 = none")
	flag.IntVar(&o.backlog, "backlog", 0, "send this many events with the receiver down, then bring it up and measure the drain")
	flag.DurationVar(&o.drain, "drain", 120*time.Second, "how long to wait for deliveries to catch up after sending")
	flag.StringVar(&o.pids, "pids", "", "comma-separated pids of running Herald processes to report RSS for (with -target)")
	flag.StringVar(&o.extraArgs, "herald-args", "", "extra flags for the started node(s), space separated")
	flag.BoolVar(&o.cluster, "cluster", false, "start three nodes with scripts/cluster.sh and spread the clients over them")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	rcv, err := startReceiver(o.oneoff)
	if err != nil {
		return err
	}
	defer rcv.srv.Shutdown()

	var (
		procs   []*os.Process
		targets []string
	)
	switch {
	case o.cluster:
		ps, bases, token, stop, err := startCluster(o)
		if err != nil {
			return err
		}
		defer stop()
		procs, targets, o.token = ps, bases, token
		o.target = bases[0]
	case o.target == "":
		p, base, token, stop, err := startHerald(o)
		if err != nil {
			return err
		}
		defer stop()
		procs = append(procs, p)
		o.target, o.token = base, token
	default:
		for _, s := range strings.Split(o.pids, ",") {
			if pid, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					procs = append(procs, p)
				}
			}
		}
	}
	rss := newRSSWatcher(procs)
	defer rss.stop()

	if len(targets) == 0 {
		targets = []string{o.target}
	}
	var apis []*apiClient
	for _, t := range targets {
		apis = append(apis, &apiClient{base: strings.TrimSuffix(t, "/"), token: o.token, c: &fasthttp.Client{MaxConnsPerHost: o.concurrency + 16}})
	}
	api := apis[0]
	appID, err := api.setup(rcv, o.fanout)
	if err != nil {
		return err
	}

	res := &results{}
	if o.backlog > 0 {
		rcv.down.Store(true)
		fmt.Printf("loading %d events with the receiver down...\n", o.backlog)
		drive(apis, appID, o, res, o.backlog, rcv.origins)
		fmt.Printf("backlog of %d acknowledged; bringing the receiver up\n", res.acked.Load())
		res.delivered.Store(0)
		rcv.reset()
		cpu0 := cpuSeconds(procs)
		rcv.down.Store(false)
		start := time.Now()
		want := res.acked.Load() * o.perEvent()
		elapsed := waitDelivered(rcv, want, o.drain).Sub(start)
		cpu1 := cpuSeconds(procs)
		fmt.Printf("\n%-44s %s\n", "backlog acknowledged (events)", strconv.FormatInt(res.acked.Load(), 10))
		fmt.Printf("%-44s %d in %v\n", "drained deliveries", rcv.unique.Load(), elapsed.Round(time.Millisecond))
		fmt.Printf("%-44s %.0f\n", "drain rate (deliveries/s)", float64(rcv.unique.Load())/elapsed.Seconds())
		reportCPUFor("draining", "delivery", procs, cpu0, cpu1, elapsed, rcv.unique.Load())
		rss.report()
		return nil
	}

	cpu0 := cpuSeconds(procs)
	start := time.Now()
	drive(apis, appID, o, res, 0, rcv.origins)
	sendTime := time.Since(start)
	cpu1 := cpuSeconds(procs)
	want := res.acked.Load() * o.perEvent()
	total := waitDelivered(rcv, want, o.drain).Sub(start)
	report(o, res, rcv, sendTime, total)
	reportCPU(procs, cpu0, cpu1, sendTime, res.acked.Load())
	rss.report()
	return nil
}

// cpuSeconds reads the user+system CPU time of each process, and last of
// the driver itself (its clients and the receiver), from /proc.
func cpuSeconds(procs []*os.Process) []float64 {
	out := make([]float64, 0, len(procs)+1)
	for _, p := range procs {
		out = append(out, procCPU(strconv.Itoa(p.Pid)))
	}
	return append(out, procCPU("self"))
}

// procCPU returns utime+stime of /proc/<pid>/stat in seconds (the kernel
// counts in ticks of 1/100 s on Linux).
func procCPU(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the 3rd field, utime the 14th, stime the 15th.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// reportCPU prints the cores each process used while the clients sent, and
// Herald's CPU time per acknowledged event: on a machine the processes
// share, it says where the cores went.
func reportCPU(procs []*os.Process, before, after []float64, d time.Duration, acked int64) {
	reportCPUFor("sending", "acknowledged event", procs, before, after, d, acked)
}

// reportCPUFor prints each process's cores over d, during what, and
// Herald's CPU per unit (n of them).
func reportCPUFor(during, unit string, procs []*os.Process, before, after []float64, d time.Duration, n int64) {
	var herald float64
	for i, p := range procs {
		used := after[i] - before[i]
		herald += used
		fmt.Printf("%-44s %.2f cores\n", fmt.Sprintf("CPU while %s, herald pid %d", during, p.Pid), used/d.Seconds())
	}
	self := after[len(after)-1] - before[len(before)-1]
	fmt.Printf("%-44s %.2f cores\n", "CPU while "+during+", driver and receiver", self/d.Seconds())
	if n > 0 && len(procs) > 0 {
		fmt.Printf("%-44s %.0f µs\n", "herald CPU per "+unit, herald/float64(n)*1e6)
	}
}

// results are the client side counters.
type results struct {
	acked, errors, delivered atomic.Int64
	mu                       sync.Mutex
	latencies                []time.Duration
	firstErr                 atomic.Value
}

func (r *results) addLatency(d time.Duration) {
	r.mu.Lock()
	if len(r.latencies) < 2_000_000 {
		r.latencies = append(r.latencies, d)
	}
	r.mu.Unlock()
}

// drive runs the clients for o.duration, or until count events are acked;
// client i sends to apis[i % len(apis)].
// perEvent is how many deliveries each acknowledged event makes.
func (o options) perEvent() int64 {
	if o.oneoff > 0 {
		return int64(o.fanout) + 1
	}
	return int64(o.fanout)
}

func drive(apis []*apiClient, appID string, o options, res *results, count int, origins []string) {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	if count > 0 {
		ctx, cancel = context.WithCancel(context.Background())
	}
	defer cancel()
	var tick <-chan time.Time
	if o.rate > 0 {
		// One token per event, spread evenly; clients take tokens.
		t := time.NewTicker(time.Second / time.Duration(o.rate))
		defer t.Stop()
		tick = t.C
	}
	pad := strings.Repeat("x", max(o.payload-64, 0))
	var issued, seq atomic.Int64
	var wg sync.WaitGroup
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	go func() {
		var last int64
		for range progress.C {
			a := res.acked.Load()
			fmt.Fprintf(os.Stderr, "  acked %8d (%6d/s)  errors %d\n", a, a-last, res.errors.Load())
			last = a
		}
	}()
	for i := range o.concurrency {
		api := apis[i%len(apis)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 0, o.payload+128)
			for ctx.Err() == nil {
				if count > 0 && issued.Add(1) > int64(count) {
					return
				}
				if tick != nil {
					select {
					case <-tick:
					case <-ctx.Done():
						return
					}
				}
				sent := time.Now()
				body = body[:0]
				body = append(body, `{"eventType":"bench.event","payload":{"sentAt":`...)
				body = strconv.AppendInt(body, sent.UnixNano(), 10)
				body = append(body, `,"pad":"`...)
				body = append(body, pad...)
				body = append(body, `"}`...)
				if len(origins) > 0 {
					n := seq.Add(1)
					body = append(body, `,"destination":{"url":"http://`...)
					body = append(body, origins[n%int64(len(origins))]...)
					body = append(body, `/job/`...)
					body = strconv.AppendInt(body, n, 10)
					body = append(body, `"}`...)
				}
				body = append(body, '}')
				status, err := api.post("/api/v1/app/"+appID+"/msg", body)
				if err == nil && status == fasthttp.StatusAccepted {
					res.acked.Add(1)
					res.addLatency(time.Since(sent))
					continue
				}
				res.errors.Add(1)
				if err == nil {
					err = fmt.Errorf("status %d", status)
				}
				res.firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
}

// waitDelivered waits until want unique deliveries arrived or the timeout
// passed, and returns when the last of them arrived (so a few deliveries
// that never come, e.g. retries exhausted, do not dilute a rate).
func waitDelivered(rcv *receiver, want int64, timeout time.Duration) time.Time {
	start := time.Now()
	deadline := start.Add(timeout)
	last, shown := int64(-1), int64(0)
	lastAt, shownAt := start, start
	for time.Now().Before(deadline) {
		got := rcv.unique.Load()
		now := time.Now()
		if got != last {
			lastAt = now
			last = got
		}
		if got >= want {
			return lastAt
		}
		if now.Sub(shownAt) >= time.Second {
			fmt.Fprintf(os.Stderr, "  %6.1fs delivered %d of %d (%.0f/s)\n", now.Sub(start).Seconds(), got, want,
				float64(got-shown)/now.Sub(shownAt).Seconds())
			shown, shownAt = got, now
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "  drain timeout: %d of %d delivered\n", rcv.unique.Load(), want)
	return lastAt
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(int(float64(len(ds))*p), len(ds)-1)]
}

func report(o options, res *results, rcv *receiver, sendTime, total time.Duration) {
	res.mu.Lock()
	lat := slices.Clone(res.latencies)
	res.mu.Unlock()
	slices.Sort(lat)
	first := rcv.latencies()
	slices.Sort(first)
	row := func(k, v string) { fmt.Printf("%-44s %s\n", k, v) }
	fmt.Println()
	row("clients / payload / fan-out", fmt.Sprintf("%d / %d B / %d", o.concurrency, o.payload, o.fanout))
	if o.rate > 0 {
		row("offered rate (events/s)", strconv.Itoa(o.rate))
	}
	row("events acknowledged", fmt.Sprintf("%d in %v", res.acked.Load(), sendTime.Round(time.Millisecond)))
	row("events/s acknowledged", fmt.Sprintf("%.0f", float64(res.acked.Load())/sendTime.Seconds()))
	row("deliveries (unique)", fmt.Sprintf("%d (%d duplicates)", rcv.unique.Load(), rcv.dups.Load()))
	row("deliveries/s (send start to last delivery)", fmt.Sprintf("%.0f", float64(rcv.unique.Load())/total.Seconds()))
	row("ingest->first attempt p50/p95/p99", fmt.Sprintf("%v / %v / %v", pct(first, .50), pct(first, .95), pct(first, .99)))
	row("ingest request latency p50/p99", fmt.Sprintf("%v / %v", pct(lat, .50), pct(lat, .99)))
	errText := strconv.FormatInt(res.errors.Load(), 10)
	if e, ok := res.firstErr.Load().(string); ok {
		errText += " (first: " + e + ")"
	}
	row("errors", errText)
}

// apiClient is a minimal Herald API client on fasthttp, so the driver's own
// overhead stays small next to the server's.
type apiClient struct {
	base, token string
	c           *fasthttp.Client
}

func (a *apiClient) post(path string, body []byte) (int, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(a.base + path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	err := a.c.DoTimeout(req, resp, 30*time.Second)
	return resp.StatusCode(), err
}

func (a *apiClient) postJSON(path string, in, out any) error {
	body, _ := json.Marshal(in)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(a.base + path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.SetBody(body)
	if err := a.c.DoTimeout(req, resp, 30*time.Second); err != nil {
		return err
	}
	if resp.StatusCode()/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode(), resp.Body())
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(resp.Body(), out)
}

func (a *apiClient) get(path string, out any) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(a.base + path)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if err := a.c.DoTimeout(req, resp, 30*time.Second); err != nil {
		return err
	}
	if resp.StatusCode() != 200 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode(), resp.Body())
	}
	return json.Unmarshal(resp.Body(), out)
}

func (a *apiClient) setup(rcv *receiver, fanout int) (string, error) {
	var app struct{ ID string }
	if err := a.postJSON("/api/v1/app", map[string]any{"name": "bench"}, &app); err != nil {
		return "", err
	}
	for i := range fanout {
		var ep struct{ ID string }
		url := fmt.Sprintf("http://%s/hook/%d", rcv.addr, i)
		if err := a.postJSON("/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": url}, &ep); err != nil {
			return "", err
		}
	}
	return app.ID, nil
}

// receiver counts unique deliveries (by webhook-id and path) and records
// the time from the client's send to the first attempt's arrival.
type receiver struct {
	addr           string
	origins        []string // listeners for one-off destinations
	srv            *fasthttp.Server
	down           atomic.Bool
	unique, dups   atomic.Int64
	mu             sync.Mutex
	seen           map[string]struct{}
	firstLatencies []time.Duration
}

// startReceiver listens on one port, and on oneoff more for the one-off
// destinations (each port is an origin of its own to Herald).
func startReceiver(oneoff int) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{addr: ln.Addr().String(), seen: make(map[string]struct{})}
	r.srv = &fasthttp.Server{Handler: r.handle, Concurrency: 1 << 16}
	go func() { _ = r.srv.Serve(ln) }()
	for range oneoff {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		r.origins = append(r.origins, l.Addr().String())
		go func() { _ = r.srv.Serve(l) }()
	}
	return r, nil
}

var sentAtKey = []byte(`"sentAt":`)

func (r *receiver) handle(c *fasthttp.RequestCtx) {
	if r.down.Load() {
		c.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return
	}
	now := time.Now()
	key := string(c.Request.Header.Peek("webhook-id")) + string(c.Path())
	r.mu.Lock()
	_, dup := r.seen[key]
	if !dup {
		r.seen[key] = struct{}{}
		if i := bytes.Index(c.PostBody(), sentAtKey); i >= 0 {
			rest := c.PostBody()[i+len(sentAtKey):]
			j := bytes.IndexAny(rest, ",}")
			if ns, err := strconv.ParseInt(string(rest[:max(j, 0)]), 10, 64); err == nil && len(r.firstLatencies) < 2_000_000 {
				r.firstLatencies = append(r.firstLatencies, now.Sub(time.Unix(0, ns)))
			}
		}
	}
	r.mu.Unlock()
	if dup {
		r.dups.Add(1)
	} else {
		r.unique.Add(1)
	}
	c.SetStatusCode(fasthttp.StatusOK)
}

func (r *receiver) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.firstLatencies = nil
}

func (r *receiver) latencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.firstLatencies)
}

// startHerald builds (if needed) and starts a one-node Herald on free
// loopback ports with a temporary data directory.
func startHerald(o options) (*os.Process, string, string, func(), error) {
	bin := o.heraldBin
	tmp, err := os.MkdirTemp("", "herald-bench")
	if err != nil {
		return nil, "", "", nil, err
	}
	if bin == "" {
		if bin, err = buildHerald(tmp); err != nil {
			return nil, "", "", nil, err
		}
	}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	httpAddr, raftAddr := freePort(), freePort()
	token := "bench-token"
	args := []string{"serve", "--data-dir", dataDir, "--http-addr", httpAddr, "--raft-addr", raftAddr,
		"--allow-private-cidr", "127.0.0.0/8", "--log-level", "warn"}
	if o.extraArgs != "" {
		args = append(args, strings.Fields(o.extraArgs)...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HERALD_ADMIN_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		os.RemoveAll(tmp)
	}
	base := "http://" + httpAddr
	api := &apiClient{base: base, token: token, c: &fasthttp.Client{}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out any
		err := api.get("/api/v1/app?limit=1", &out)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", "", nil, errors.New("herald did not become ready: " + err.Error())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Reads work before leadership; wait until a write commits.
	for {
		err := api.postJSON("/api/v1/event-type", map[string]any{"name": "bench.event", "description": "bench"}, nil)
		if err == nil || strings.Contains(err.Error(), " 409 ") {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", "", nil, errors.New("herald accepts no writes: " + err.Error())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cmd.Process, base, token, stop, nil
}

// startCluster runs scripts/cluster.sh start with a fresh directory and the
// given (or a freshly built) binary, and returns the three nodes.
func startCluster(o options) ([]*os.Process, []string, string, func(), error) {
	bin := o.heraldBin
	dir, err := os.MkdirTemp("", "herald-bench-cluster")
	if err != nil {
		return nil, nil, "", nil, err
	}
	if bin == "" {
		if bin, err = buildHerald(dir); err != nil {
			return nil, nil, "", nil, err
		}
	}
	const token = "bench-cluster-token"
	env := append(os.Environ(), "CLUSTER_DIR="+filepath.Join(dir, "data"), "HERALD_BIN="+bin,
		"HERALD_ADMIN_TOKEN="+token, "HERALD_FLAGS=--log-level warn "+o.extraArgs)
	script := func(arg string) error {
		cmd := exec.Command("scripts/cluster.sh", arg)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	stop := func() {
		_ = script("stop")
		os.RemoveAll(dir)
	}
	if err := script("start"); err != nil {
		stop()
		return nil, nil, "", nil, err
	}
	var procs []*os.Process
	var bases []string
	for n := 1; n <= 3; n++ {
		b, err := os.ReadFile(filepath.Join(dir, "data", fmt.Sprintf("node%d.pid", n)))
		if err != nil {
			stop()
			return nil, nil, "", nil, err
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		p, _ := os.FindProcess(pid)
		procs = append(procs, p)
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:84%d4", n))
	}
	return procs, bases, token, stop, nil
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rssWatcher samples each process's resident set size (and reads the kernel's
// high-water mark) while the run lasts.
type rssWatcher struct {
	procs []*os.Process
	peak  []int64
	anon  []int64 // peak anonymous RSS (heap, stacks), without file-backed pages
	done  chan struct{}
	wg    sync.WaitGroup
}

func newRSSWatcher(procs []*os.Process) *rssWatcher {
	w := &rssWatcher{procs: procs, peak: make([]int64, len(procs)), anon: make([]int64, len(procs)), done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			for i, p := range w.procs {
				if kb := procStatusKB(p.Pid, "VmHWM:"); kb > w.peak[i] {
					w.peak[i] = kb
				}
				if kb := procStatusKB(p.Pid, "RssAnon:"); kb > w.anon[i] {
					w.anon[i] = kb
				}
			}
			select {
			case <-w.done:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *rssWatcher) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
		w.wg.Wait()
	}
}

func (w *rssWatcher) report() {
	w.stop()
	for i, p := range w.procs {
		fmt.Printf("%-44s %.1f MiB (anonymous %.1f MiB; the rest is mapped files)\n",
			fmt.Sprintf("peak RSS of herald pid %d", p.Pid), float64(w.peak[i])/1024, float64(w.anon[i])/1024)
	}
}

func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// buildHerald builds a static herald binary into dir (the driver runs from
// the repository root).
func buildHerald(dir string) (string, error) {
	bin := filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build herald (run from the repository root): %w", err)
	}
	return bin, nil
}
