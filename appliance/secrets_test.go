package appliance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// TestSecretsSealedAtRest: an endpoint's signing secret never appears in
// plain text in the data directory: not in any file, not in the state's
// decoded records, not in any Raft log entry, not in the snapshot; yet
// deliveries are signed with it and the secret route returns it.
func TestSecretsSealedAtRest(t *testing.T) {
	const secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	secretB64 := strings.TrimPrefix(secret, "whsec_")
	raw, _ := base64.StdEncoding.DecodeString(secretB64)

	n := startNode(t)
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "sealed"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/hook"), Secret: ptr(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate through PATCH too, so both write paths are covered.
	if _, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{"x": 1}}, nil); err != nil {
		t.Fatal(err)
	}
	verifyWebhook(t, secret, rc.waitFor(t, 1)[0])
	got, err := n.sdk.Endpoint.GetSecret(ctx(t), app.Id, ep.Id)
	if err != nil || got.Key != secret {
		t.Fatalf("secret route = %+v, %v", got, err)
	}
	if err := n.Node().Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	dataDir := n.cfg.DataDir
	ctxc, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctxc); err != nil {
		t.Fatal(err)
	}

	needles := [][]byte{[]byte(secretB64), raw}
	found := func(b []byte) bool {
		for _, nd := range needles {
			if bytes.Contains(b, nd) {
				return true
			}
		}
		return false
	}
	// Every file, raw.
	files := 0
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if found(b) {
			t.Errorf("plaintext secret in %s", path)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk data dir: %v (%d files)", err, files)
	}
	// The state, decoded (Badger compresses its tables).
	st, err := storage.Open(filepath.Join(dataDir, "state"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	sn, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := sn.WriteTo(&dump); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	st.Close()
	if found(dump.Bytes()) {
		t.Errorf("plaintext secret in the state's records")
	}
	if !bytes.Contains(dump.Bytes(), []byte("enc:v1:")) {
		t.Errorf("no sealed secret in the state: the check would prove nothing")
	}
	// Every Raft log entry, decoded.
	logs, err := raft.OpenLogStore(filepath.Join(dataDir, "raft"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	first, _ := logs.FirstIndex()
	last, _ := logs.LastIndex()
	if last == 0 {
		t.Fatalf("empty raft log")
	}
	for i := first; i <= last; i++ {
		var l hraft.Log
		if err := logs.GetLog(i, &l); err != nil {
			continue
		}
		if found(l.Data) {
			t.Errorf("plaintext secret in raft log entry %d", i)
		}
	}
	// The key file is private.
	fi, err := os.Stat(filepath.Join(dataDir, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v %v", fi, err)
	}
}
