package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/storage"
)

const backupUsage = `usage:
  herald backup --out FILE [--addr HOST:PORT] [--token TOKEN]
      a consistent online backup of a running cluster, taken on its leader
      through the API with the admin token (default $HERALD_ADMIN_TOKEN);
      --addr is any member's API address (default 127.0.0.1:8484)
  herald restore --in FILE [serve flags: --data-dir, --node-id, --raft-addr, --config, ...]
      builds a new node's data directory holding exactly the backup's state;
      start it with herald serve and the same flags, then grow the cluster
      with --join. The node needs the secrets key the backup names.
`

// backupCmd runs herald backup.
func backupCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the backup to")
	addr := fs.String("addr", "127.0.0.1:8484", "API address of any member")
	token := fs.String("token", os.Getenv(config.AdminTokenEnv), "admin token (default $"+config.AdminTokenEnv+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || *token == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, backupUsage)
		return 2
	}
	if err := runBackup(*addr, *token, *out, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "herald backup:", err)
		_ = os.Remove(*out + ".partial")
		return 1
	}
	return 0
}

func runBackup(addr, token, out string, stdout, stderr io.Writer) error {
	client := &http.Client{Timeout: 0}
	leader, err := leaderAddr(client, addr, token)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+leader+"/api/v1/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	estimate, _ := strconv.ParseInt(resp.Header.Get("X-Herald-Estimated-Bytes"), 10, 64)
	f, err := os.OpenFile(out+".partial", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	sum := sha256.New()
	bar := &progress{w: stderr, total: estimate}
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	h, err := storage.ReadBackupHeader(br)
	if err != nil {
		return err
	}
	if err := storage.WriteBackupHeader(io.MultiWriter(f, sum), h); err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(f, sum, bar), br)
	bar.done()
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	digest := sum.Sum(nil)
	if _, err := f.Write(digest); err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(out+".partial", out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s: %d bytes, applied index %d, taken on %s at %s\nsha256 %s\nneeds secrets key %s\n",
		out, n, h.AppliedIndex, h.NodeID, h.CreatedAt.Format(time.RFC3339), hex.EncodeToString(digest), h.SecretsKeyID)
	return nil
}

// leaderAddr asks a member for the cluster view and returns the leader's
// API address.
func leaderAddr(client *http.Client, addr, token string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/cluster", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var view struct {
		Nodes []struct {
			HTTPAddr string `json:"httpAddr"`
			Leader   bool   `json:"leader"`
		} `json:"nodes"`
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("cluster view: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		return "", fmt.Errorf("cluster view: %w", err)
	}
	for _, n := range view.Nodes {
		if n.Leader && n.HTTPAddr != "" {
			return n.HTTPAddr, nil
		}
	}
	return "", errors.New("the cluster has no leader with a known API address; retry shortly")
}

// progress draws a progress bar on w as bytes are written through it.
type progress struct {
	w     io.Writer
	total int64
	n     int64
	last  time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	const width = 30
	frac := 0.0
	if p.total > 0 {
		frac = min(float64(p.n)/float64(p.total), 1)
	}
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %.1f MiB", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, float64(p.n)/(1<<20))
}

func (p *progress) done() {
	// The estimate counts garbage a backup leaves out, or is unknown (0).
	p.total = p.n
	p.draw()
	fmt.Fprintln(p.w)
}

// restoreCmd runs herald restore.
func restoreCmd(args []string, stdout, stderr io.Writer) int {
	var in string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--in" || args[i] == "-in":
			if i+1 < len(args) {
				in = args[i+1]
				i++
			}
		case strings.HasPrefix(args[i], "--in="):
			in = strings.TrimPrefix(args[i], "--in=")
		default:
			rest = append(rest, args[i])
		}
	}
	if in == "" {
		fmt.Fprint(stderr, backupUsage)
		return 2
	}
	cfg, err := config.Parse(rest, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "herald restore: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	if err := runRestore(cfg, in, log); err != nil {
		fmt.Fprintln(stderr, "herald restore:", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s into %s; start it with: herald serve %s\n", in, cfg.DataDir, strings.Join(rest, " "))
	return 0
}

func runRestore(cfg config.Config, in string, log zerolog.Logger) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size() - sha256.Size
	if size <= 0 {
		return fmt.Errorf("%s is too short to be a backup", in)
	}
	// The checksum first: nothing is written from a damaged file.
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(f, 0, size)); err != nil {
		return err
	}
	want := make([]byte, sha256.Size)
	if _, err := f.ReadAt(want, size); err != nil {
		return err
	}
	if !bytes.Equal(sum.Sum(nil), want) {
		return fmt.Errorf("%s: checksum mismatch: the file is damaged or incomplete", in)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	h, err := storage.ReadBackupHeader(br)
	if err != nil {
		return err
	}
	return appliance.RestoreBackup(cfg, h, br, log)
}
