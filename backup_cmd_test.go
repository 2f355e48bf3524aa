package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/internal/testutil"
)

var checkFor = testutil.CheckFor

const backupTestToken = "backup-test-token"

func backupTestConfig(t *testing.T, dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTPAddr = "127.0.0.1:0"
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a fixed Raft address: a restore records it
	if err != nil {
		t.Fatal(err)
	}
	cfg.RaftAddr = ln.Addr().String()
	ln.Close()
	cfg.AdminToken = backupTestToken
	cfg.AllowPrivateCIDR = []string{"127.0.0.0/8"}
	cfg.Log.Level = "error"
	cfg.MemoryLimit = 0
	cfg.Raft.HeartbeatTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.ElectionTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: 100 * time.Millisecond}
	cfg.Delivery.DrainTimeout = config.Duration{Duration: time.Second}
	return cfg
}

func openBackupTestNode(t *testing.T, cfg config.Config) *appliance.Appliance {
	t.Helper()
	a, err := appliance.Open(cfg, appliance.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !a.Node().IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("node did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a
}

func closeBackupTestNode(a *appliance.Appliance) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.Close(ctx)
}

func call(t *testing.T, addr, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+backupTestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestBackupUnderLoadRestoresIntoNewCluster backs a node up while clients
// write, restores the backup into a new node with the same secrets key, and
// finds there every message acknowledged before the backup began, the same
// endpoint secret, and the deliveries that were pending, now delivered by
// the new node.
func TestBackupUnderLoadRestoresIntoNewCluster(t *testing.T) {
	var (
		mu       sync.Mutex
		received = map[string]bool{}
		record   atomic.Bool
	)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if record.Load() {
			mu.Lock()
			received[r.Header.Get("webhook-id")] = true
			mu.Unlock()
		}
	}))
	defer rc.Close()

	cfgA := backupTestConfig(t, t.TempDir())
	a := openBackupTestNode(t, cfgA)
	closeA := sync.OnceFunc(func() { closeBackupTestNode(a) })
	defer closeA()
	addrA := a.HTTPAddr()
	var app, ep struct{ ID string }
	_, body := call(t, addrA, "POST", "/api/v1/app", map[string]any{"name": "backup"})
	_ = json.Unmarshal(body, &app)
	_, body = call(t, addrA, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": rc.URL + "/hook"})
	_ = json.Unmarshal(body, &ep)
	_, secretA := call(t, addrA, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil)

	// Deliveries still pending when the backup is taken, due after it.
	var pending []string
	for range 20 {
		status, body := call(t, addrA, "POST", "/api/v1/app/"+app.ID+"/msg",
			map[string]any{"eventType": "a", "payload": map[string]any{"pending": true}, "deliverAt": time.Now().Add(5 * time.Second)})
		var m struct{ ID string }
		if status != http.StatusAccepted || json.Unmarshal(body, &m) != nil {
			t.Fatalf("pending message: %d %s", status, body)
		}
		pending = append(pending, m.ID)
	}

	type ack struct {
		id string
		at time.Time
	}
	var (
		acksMu sync.Mutex
		acks   []ack
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				status, body := call(t, addrA, "POST", "/api/v1/app/"+app.ID+"/msg",
					map[string]any{"eventType": "a", "payload": map[string]any{"x": strings.Repeat("y", 500)}})
				var m struct{ ID string }
				if status == http.StatusAccepted && json.Unmarshal(body, &m) == nil {
					acksMu.Lock()
					acks = append(acks, ack{m.ID, time.Now()})
					acksMu.Unlock()
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // load before the backup (not an assertion)
	file := filepath.Join(t.TempDir(), "herald.backup")
	backupStart := time.Now()
	var out, progressOut bytes.Buffer
	if err := runBackup(addrA, backupTestToken, file, &out, &progressOut); err != nil {
		t.Fatalf("backup: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // load after it, too
	stop.Store(true)
	wg.Wait()
	closeA()
	if !strings.Contains(out.String(), "sha256 ") || !strings.Contains(progressOut.String(), "100%") {
		t.Fatalf("backup output:\n%s\n%s", out.String(), progressOut.String())
	}
	var before []string
	for _, a := range acks {
		if a.at.Before(backupStart) {
			before = append(before, a.id)
		}
	}
	if len(before) == 0 {
		t.Fatal("no message acknowledged before the backup")
	}

	// A new node without the secrets key is refused, naming the key.
	cfgB := backupTestConfig(t, t.TempDir())
	cfgB.NodeID = "restored"
	if err := runRestore(cfgB, file, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "secrets key") {
		t.Fatalf("restore without the key: %v", err)
	}
	key, err := os.ReadFile(filepath.Join(cfgA.DataDir, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgB.DataDir, "secrets.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	// A damaged file is refused before anything is written.
	damaged := file + ".damaged"
	data, _ := os.ReadFile(file)
	data[len(data)/2] ^= 0xff
	_ = os.WriteFile(damaged, data, 0o600)
	if err := runRestore(cfgB, damaged, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("restore of a damaged file: %v", err)
	}
	if err := runRestore(cfgB, file, zerolog.Nop()); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := runRestore(cfgB, file, zerolog.Nop()); err == nil {
		t.Fatal("a second restore into the same directory succeeded")
	}

	record.Store(true)
	b := openBackupTestNode(t, cfgB)
	defer closeBackupTestNode(b)
	addrB := b.HTTPAddr()
	for _, id := range append(before, pending...) {
		if status, body := call(t, addrB, "GET", "/api/v1/app/"+app.ID+"/msg/"+id, nil); status != http.StatusOK {
			t.Fatalf("message %s acknowledged before the backup: %d %s", id, status, body)
		}
	}
	if _, secretB := call(t, addrB, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil); !bytes.Equal(secretA, secretB) {
		t.Fatalf("endpoint secret after restore %s, want %s", secretB, secretA)
	}
	// The restored node takes writes and delivers what was pending.
	if status, body := call(t, addrB, "POST", "/api/v1/app/"+app.ID+"/msg", map[string]any{"eventType": "a", "payload": map[string]any{}}); status != http.StatusAccepted {
		t.Fatalf("write on the restored node: %d %s", status, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		var missing []string
		for _, id := range pending {
			if !received[id] {
				missing = append(missing, id)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending deliveries not resumed by the restored node: %v", len(missing), missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restored node grows into a cluster: a node joining it gets the
	// state through Raft's snapshot of the backup.
	cfgC := backupTestConfig(t, t.TempDir())
	cfgC.NodeID = "joined"
	cfgC.Join = []string{addrB}
	if err := os.WriteFile(filepath.Join(cfgC.DataDir, "secrets.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := appliance.Open(cfgC, appliance.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatalf("join the restored node: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	}()
	deadline = time.Now().Add(20 * time.Second)
	for _, id := range []string{before[0], before[len(before)-1], pending[0]} {
		for {
			status, body := call(t, c.HTTPAddr(), "GET", "/api/v1/app/"+app.ID+"/msg/"+id, nil)
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %s on the joined node: %d %s", id, status, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("%d messages acknowledged before the backup, %d during it, all %d pending delivered after restore: %s",
		len(before), len(acks)-len(before), len(pending), fmt.Sprint(strings.TrimSpace(out.String())))
}

// TestBackupDroppedClientReleases cuts backup connections early, some
// without reading a byte and some after a little: the server releases
// each backup's snapshot (its read transaction and the store's shared
// lock) and goroutine at once, a backup and writes then go through, and
// the size estimate the progress bar shows is of the order of the backup.
func TestBackupDroppedClientReleases(t *testing.T) {
	cfg := backupTestConfig(t, t.TempDir())
	a := openBackupTestNode(t, cfg)
	defer closeBackupTestNode(a)
	addr := a.HTTPAddr()
	var app struct{ ID string }
	_, body := call(t, addr, "POST", "/api/v1/app", map[string]any{"name": "drop"})
	_ = json.Unmarshal(body, &app)
	// Some MiB of state: more than the socket buffers hold, so the server
	// is still writing when the client goes.
	big := strings.Repeat("z", 60<<10)
	for i := range 100 {
		if status, body := call(t, addr, "POST", "/api/v1/app/"+app.ID+"/msg",
			map[string]any{"eventType": "a", "payload": map[string]any{"i": i, "big": big}}); status != http.StatusAccepted {
			t.Fatalf("message %d: %d %s", i, status, body)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	base := runtime.NumGoroutine()

	var estimate int64
	for i := range 10 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /api/v1/backup HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, backupTestToken)
		if i%2 == 1 {
			// Read the headers and a little of the body before going.
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("backup %d: %v %v", i, resp, err)
			}
			estimate, _ = strconv.ParseInt(resp.Header.Get("X-Herald-Estimated-Bytes"), 10, 64)
			if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
				t.Fatalf("backup %d body: %v", i, err)
			}
		}
		conn.Close()
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := a.Store().OpenSnapshots(); n != 0 {
			return fmt.Errorf("%d backup snapshots still held after their clients went", n)
		}
		return nil
	})

	file := filepath.Join(t.TempDir(), "after.backup")
	var out, progressOut bytes.Buffer
	if err := runBackup(addr, backupTestToken, file, &out, &progressOut); err != nil {
		t.Fatalf("backup after dropped ones: %v", err)
	}
	if status, body := call(t, addr, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "a", "payload": map[string]any{"after": true}}); status != http.StatusAccepted {
		t.Fatalf("write after dropped backups: %d %s", status, body)
	}
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if size := info.Size(); estimate < size/2 || estimate > size*4 {
		t.Fatalf("estimated %d bytes for a backup of %d", estimate, size)
	}
	if !strings.Contains(progressOut.String(), "100%") {
		t.Fatalf("progress:\n%s", progressOut.String())
	}
	http.DefaultClient.CloseIdleConnections()
	// Ten leaked backups would leave ten goroutines or more; a few come
	// and go with the node's own work.
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > base+5 {
			return fmt.Errorf("%d goroutines, %d before the dropped backups", n, base)
		}
		return nil
	})
}
