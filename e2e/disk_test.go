//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// smallFS mounts a tmpfs of sizeMiB for the test and returns its path. It
// skips the test unless it runs as root and the mount works.
func smallFS(t *testing.T, sizeMiB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs: run the e2e tier as root to test a full disk")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): skipping the full-disk test", err, out)
	}
	// Registered after TempDir's own cleanup, so it runs first.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a file of size bytes (regular writes: the test, not Herald,
// uses the space).
func fill(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
		size -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fillUp writes to path until the filesystem has no byte left.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			buf = buf[:len(buf)/2]
		}
	}
}

// rawPost posts a message and returns the status, the body and the id.
func rawPost(n *node, appID string, payload []byte) (int, []byte, string, error) {
	body, _ := json.Marshal(map[string]any{"eventType": "job.completed", "payload": json.RawMessage(payload)})
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.httpAddr+"/api/v1/app/"+appID+"/msg", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, b, out.ID, nil
}

func rawGet(n *node, path string) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// TestFullDiskRefusesWritesAndResumes fills a small filesystem through the
// API: writes end in 507 with code insufficient_storage before the disk is
// full, the node neither crashes nor stops delivering, it restarts on the
// full disk and answers health and reads, and writes resume by themselves
// once space is freed. Every message answered 2xx is stored and delivered.
func TestFullDiskRefusesWritesAndResumes(t *testing.T) {
	mnt := smallFS(t, 256)
	cfg := filepath.Join(t.TempDir(), "herald.toml")
	// 48 MiB of free space is the write threshold, 16 MiB the reserve;
	// a spare file of 32 MiB is released when the disk is full.
	if err := os.WriteFile(cfg, []byte("[storage]\nmin_free_mib = 48\nmin_free_percent = 0\nreserve_mib = 16\nspare_mib = 32\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, "--config", cfg)
	n.dataDir = filepath.Join(mnt, "data")
	// Ballast the test frees at the end, to give space back.
	ballast := filepath.Join(mnt, "ballast")
	fill(t, ballast, 64<<20)
	n.start()

	r := newReceiver(t)
	appID := setup(t, n.client(), r)

	payload := []byte(`{"data":"` + strings.Repeat("x", 3000) + `"}`)
	var (
		mu      sync.Mutex
		acked   []string
		refused []byte
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(90 * time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				status, body, id, err := rawPost(n, appID, payload)
				mu.Lock()
				switch {
				case err != nil:
				case status/100 == 2:
					acked = append(acked, id)
				case status == http.StatusInsufficientStorage:
					refused = body
				}
				done := refused != nil
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	if refused == nil {
		t.Fatalf("no 507 within 90s (%d acked, %d MiB free)", len(acked), freeBytes(t, mnt)>>20)
	}
	var e struct{ Code, Detail string }
	if err := json.Unmarshal(refused, &e); err != nil || e.Code != "insufficient_storage" {
		t.Fatalf("507 body = %s, want code insufficient_storage", refused)
	}
	t.Logf("refused after %d acked messages, %d MiB free", len(acked), freeBytes(t, mnt)>>20)
	select {
	case err := <-n.exited:
		t.Fatalf("herald exited with the disk nearly full: %v", err)
	default:
	}

	// Reads and deliveries go on.
	if status, _, err := rawGet(n, "/api/v1/app/"+appID+"/msg/"+acked[0]); err != nil || status != http.StatusOK {
		t.Fatalf("read with the disk nearly full: %d %v", status, err)
	}
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if m := r.missing(acked); len(m) > 0 {
			return fmt.Errorf("%d of %d acked messages not delivered: %s", len(m), len(acked), joinIDs(m))
		}
		return nil
	})

	// Restart with the disk full: not a byte left.
	n.kill()
	filler := filepath.Join(mnt, "filler")
	fillUp(t, filler)
	if free := freeBytes(t, mnt); free != 0 {
		t.Fatalf("%d bytes free after filling the disk, want 0", free)
	}
	startNoWrite(t, n)
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		select {
		case err := <-n.exited:
			t.Fatalf("herald exited on a full disk: %v\n%s", err, n.logs)
		default:
		}
		status, _, err := rawGet(n, "/api/v1/health")
		if err != nil || status != http.StatusNoContent {
			return fmt.Errorf("health: %d %v", status, err)
		}
		for _, id := range []string{acked[0], acked[len(acked)-1]} {
			for _, path := range []string{"/msg/" + id, "/attempt/msg/" + id} {
				status, body, err := rawGet(n, "/api/v1/app/"+appID+path)
				if err != nil || status != http.StatusOK {
					return fmt.Errorf("read %s: %d %v %s", path, status, err, body)
				}
			}
		}
		return nil
	})
	status, body, _, err := rawPost(n, appID, payload)
	if err != nil || status != http.StatusInsufficientStorage {
		t.Fatalf("write on a full disk: %d %v %s, want 507", status, err, body)
	}
	var full struct{ Code string }
	if err := json.Unmarshal(body, &full); err != nil || full.Code != "insufficient_storage" {
		t.Fatalf("507 body on a full disk = %s, want code insufficient_storage", body)
	}

	// Space returns: writes resume without a restart.
	if err := errors.Join(os.Remove(filler), os.Remove(ballast)); err != nil {
		t.Fatal(err)
	}
	var resumed string
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		status, body, id, err := rawPost(n, appID, []byte(`{"after":"space returned"}`))
		if err != nil || status/100 != 2 {
			return fmt.Errorf("write after space returned: %d %v %s", status, err, body)
		}
		resumed = id
		return nil
	})
	want := append(acked, resumed)
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if m := r.missing(want); len(m) > 0 {
			return fmt.Errorf("%d acked messages not delivered: %s", len(m), joinIDs(m))
		}
		return nil
	})
	for _, id := range acked {
		if status, body, err := rawGet(n, "/api/v1/app/"+appID+"/msg/"+id); err != nil || status != http.StatusOK {
			t.Fatalf("acked message %s after the restart: %d %v %s", id, status, err, body)
		}
	}
	if f := r.failures(); len(f) > 0 {
		t.Fatalf("verification failures: %v", f)
	}
}

// startNoWrite starts n again and waits only for its process to run: a node
// on a full disk cannot take the readiness write start makes.
func startNoWrite(t *testing.T, n *node) {
	t.Helper()
	args := []string{"serve", "--data-dir", n.dataDir, "--http-addr", n.httpAddr, "--raft-addr", n.raftAddr,
		"--node-id", n.nodeID(), "--allow-private-cidr", "127.0.0.0/8"}
	n.cmd = exec.Command(heraldBin, append(args, n.args...)...)
	n.cmd.Env = append(os.Environ(), "HERALD_ADMIN_TOKEN="+adminToken)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(n.cmd, n.exited)
}
