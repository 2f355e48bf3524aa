package appliance_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/appliance"
)

// TestStartFailsOnBusyPortBeforeWriting: a node whose API or Raft port is
// taken fails to start, and has written nothing: its data directory does
// not exist afterwards (no key, node id or empty stores left behind).
func TestStartFailsOnBusyPortBeforeWriting(t *testing.T) {
	for _, port := range []string{"api", "raft"} {
		t.Run(port, func(t *testing.T) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			cfg := testConfig(t)
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			cfg.SecretsKey = ""
			if port == "api" {
				cfg.HTTPAddr = busy.Addr().String()
			} else {
				cfg.RaftAddr = busy.Addr().String()
			}
			lw := &testLogWriter{t: t}
			t.Cleanup(lw.stop)
			a, err := appliance.Open(cfg, appliance.Options{}, zerolog.New(lw))
			if err == nil {
				_ = a.Close(t.Context())
				t.Fatalf("Open with the %s port %s in use succeeded", port, busy.Addr())
			}
			if !strings.Contains(err.Error(), busy.Addr().String()) {
				t.Errorf("error %q does not name the busy address %s", err, busy.Addr())
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, fs.ErrNotExist) {
				entries, _ := os.ReadDir(cfg.DataDir)
				t.Errorf("data directory after the failed start: %v (entries %v), want none", err, entries)
			}
		})
	}
}
