package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/certs/certstest"
	"github.com/herald-webhooks/herald/config"
)

// TestClusterCmdHTTPS: `herald cluster status` reaches a node serving
// HTTPS with --ca (or --insecure-skip-verify), and fails without.
func TestClusterCmdHTTPS(t *testing.T) {
	ca := certstest.NewCA(t, "test-ca")
	pair := ca.Issue("", "node1")
	cfg := config.Default()
	cfg.DataDir, cfg.HTTPAddr, cfg.RaftAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.NodeID, cfg.AdminToken, cfg.MemoryLimit = "node1", "cli-test-token", 0
	cfg.TLS = config.TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: ca.File}
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
	addr := a.HTTPAddr()

	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := clusterCmd(append([]string{"status", "--token", "cli-test-token"}, args...), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	for _, args := range [][]string{
		{"--addr", addr, "--ca", ca.File},
		{"--addr", "https://" + addr, "--ca", ca.File},
		{"--addr", addr, "--insecure-skip-verify"},
	} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, out := run(args...)
			if code == 0 && strings.Contains(out, `"leader": "node1"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster status %v: exit %d: %s", args, code, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--addr", addr}, 1},                                      // plain HTTP to an HTTPS node
		{[]string{"--addr", "https://" + addr}, 1},                         // the test CA is not a system root
		{[]string{"--addr", "http://" + addr, "--ca", ca.File}, 2},         // contradictory
		{[]string{"--addr", addr, "--ca", "/nonexistent/ca.pem"}, 2},       // unreadable CA
		{[]string{"--addr", "ftp://" + addr, "--insecure-skip-verify"}, 2}, // unknown scheme
	} {
		if code, out := run(tc.args...); code != tc.code {
			t.Errorf("cluster status %v: exit %d, want %d: %s", tc.args, code, tc.code, out)
		}
	}
}
