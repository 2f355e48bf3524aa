package appliance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
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
	closeNode(t, n)

	assertNotAtRest(t, dataDir, "secret", []byte(secretB64), raw)
	// The key file is private.
	fi, err := os.Stat(filepath.Join(dataDir, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v %v", fi, err)
	}
}

// closeNode closes n now, so its data directory can be read.
func closeNode(t *testing.T, n *testNode) {
	t.Helper()
	ctxc, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctxc); err != nil {
		t.Fatal(err)
	}
}

// assertNotAtRest fails t if any needle is in a closed node's data
// directory: in any file read raw (Raft log, state, snapshots, whatever
// else is there), in the state's decoded records (Badger compresses its
// tables, so a raw read alone could miss a value) or in any decoded Raft
// log entry. It also checks sealed values are there, so the search proves
// something.
func assertNotAtRest(t *testing.T, dataDir, what string, needles ...[]byte) {
	t.Helper()
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
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if found(b) {
			t.Errorf("plaintext %s in %s", what, path)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk data dir: %v (%d files)", err, files)
	}
	// The state, decoded.
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
		t.Errorf("plaintext %s in the state's records", what)
	}
	if !bytes.Contains(dump.Bytes(), []byte("enc:v1:")) {
		t.Errorf("no sealed value in the state: the check would prove nothing")
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
			t.Errorf("plaintext %s in raft log entry %d", what, i)
		}
	}
}

// TestHeadersSealedAtRest: custom header values, credentials or not, and
// the signing secret never appear in plain text anywhere in the data
// directory, after automatic snapshots too; deliveries carry the values
// and the headers route shows the ones that are not credentials.
func TestHeadersSealedAtRest(t *testing.T) {
	const (
		secret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		authVal  = "Bearer hdr-auth-5b1e0c9a7d3f"
		teamVal  = "hdr-team-2c8d4e6f0a1b"
		apiKey   = "hdr-apikey-9f7e5d3c1b0a"
		patchVal = "hdr-patched-4a6c8e0f2d1b"
	)
	n := startNode(t, func(c *config.Config) {
		c.Raft.SnapshotThreshold = 16
		c.Raft.SnapshotInterval = config.Duration{Duration: 50 * time.Millisecond}
	})
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "sealed headers"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep1, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{
		Url: rc.URL("/one"), Secret: ptr(secret),
		Headers: &map[string]string{"Authorization": authVal, "X-Team": teamVal},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The other write paths: PUT then PATCH of the headers.
	ep2, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/two")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.sdk.Endpoint.UpdateHeaders(ctx(t), app.Id, ep2.Id, models.EndpointHeadersIn{Headers: map[string]string{"X-Api-Key": apiKey}}); err != nil {
		t.Fatal(err)
	}
	if err := n.sdk.Endpoint.PatchHeaders(ctx(t), app.Id, ep2.Id, models.EndpointHeadersPatchIn{Headers: map[string]string{"X-Patched": patchVal}}); err != nil {
		t.Fatal(err)
	}
	// And a PATCH of the endpoint itself, which rewrites the record.
	if _, err := n.sdk.Endpoint.Patch(ctx(t), app.Id, ep1.Id, models.EndpointPatch{Description: ptr("patched")}); err != nil {
		t.Fatal(err)
	}

	h, err := n.sdk.Endpoint.GetHeaders(ctx(t), app.Id, ep1.Id)
	if err != nil || !maps.Equal(h.Headers, map[string]string{"X-Team": teamVal}) || !slices.Equal(h.Sensitive, []string{"Authorization"}) {
		t.Fatalf("GetHeaders = %+v, %v", h, err)
	}
	h, err = n.sdk.Endpoint.GetHeaders(ctx(t), app.Id, ep2.Id)
	if err != nil || !maps.Equal(h.Headers, map[string]string{"X-Patched": patchVal}) || !slices.Equal(h.Sensitive, []string{"X-Api-Key"}) {
		t.Fatalf("GetHeaders = %+v, %v", h, err)
	}

	// Enough writes for the snapshot rule (16 entries) to fire, twice.
	const msgs = 40
	for i := range msgs {
		if _, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{"i": i}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := rc.waitFor(t, 2*msgs)
	for _, wh := range got {
		switch {
		case wh.Header.Get("Authorization") != "":
			if wh.Header.Get("Authorization") != authVal || wh.Header.Get("X-Team") != teamVal {
				t.Fatalf("delivery to the first endpoint carries %v", wh.Header)
			}
			verifyWebhook(t, secret, wh)
		case wh.Header.Get("X-Api-Key") != apiKey || wh.Header.Get("X-Patched") != patchVal:
			t.Fatalf("delivery to the second endpoint carries %v", wh.Header)
		}
	}
	snapDir := filepath.Join(n.cfg.DataDir, "snapshots")
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		entries, _ := os.ReadDir(snapDir)
		if len(entries) == 0 {
			return errors.New("no automatic snapshot yet")
		}
		return nil
	})
	dataDir := n.cfg.DataDir
	closeNode(t, n)

	secretB64 := strings.TrimPrefix(secret, "whsec_")
	raw, _ := base64.StdEncoding.DecodeString(secretB64)
	assertNotAtRest(t, dataDir, "header value or secret",
		[]byte(authVal), []byte("hdr-auth-5b1e0c9a7d3f"), []byte(teamVal), []byte(apiKey), []byte(patchVal),
		[]byte(secretB64), raw)
}

// TestLegacyPlaintextHeaders: header values stored in plain text before
// values were sealed still work (delivery, headers route), and the next
// write of the endpoint, whatever it changes, seals them.
func TestLegacyPlaintextHeaders(t *testing.T) {
	n := startNode(t)
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "legacy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Written as an older Herald did: straight into a command, unsealed.
	now := time.Now()
	ep := storage.Endpoint{
		ID: storage.NewID(storage.PrefixEndpoint, now), AppID: app.Id, URL: rc.URL("/old"), Version: 1,
		Headers: map[string]string{"X-Api-Key": "legacy-key", "X-Team": "legacy-team"},
		Secret:  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano(),
	}
	resp, err := n.Node().Apply(&raft.CreateEndpoint{Meta: raft.Meta{Time: now.UnixNano()}, Endpoint: ep})
	if res, _ := resp.(raft.Result); err != nil || res.Err != nil {
		t.Fatalf("create legacy endpoint: %v %v", err, res.Err)
	}
	h, err := n.sdk.Endpoint.GetHeaders(ctx(t), app.Id, ep.ID)
	if err != nil || !maps.Equal(h.Headers, map[string]string{"X-Team": "legacy-team"}) || !slices.Equal(h.Sensitive, []string{"X-Api-Key"}) {
		t.Fatalf("GetHeaders = %+v, %v", h, err)
	}
	if _, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{"x": 1}}, nil); err != nil {
		t.Fatal(err)
	}
	if wh := rc.waitFor(t, 1)[0]; wh.Header.Get("X-Api-Key") != "legacy-key" || wh.Header.Get("X-Team") != "legacy-team" {
		t.Fatalf("delivery headers %v", wh.Header)
	}
	// A write that does not touch the headers seals them.
	if _, err := n.sdk.Endpoint.Patch(ctx(t), app.Id, ep.ID, models.EndpointPatch{Description: ptr("touched")}); err != nil {
		t.Fatal(err)
	}
	var stored storage.Endpoint
	if err := n.Store().View(func(r *storage.Reader) (err error) { stored, err = r.Endpoint(app.Id, ep.ID); return err }); err != nil {
		t.Fatal(err)
	}
	for k, v := range stored.Headers {
		if !strings.HasPrefix(v, "enc:v1:") {
			t.Errorf("header %s still plain text after a write", k)
		}
	}
	h, err = n.sdk.Endpoint.GetHeaders(ctx(t), app.Id, ep.ID)
	if err != nil || !maps.Equal(h.Headers, map[string]string{"X-Team": "legacy-team"}) {
		t.Fatalf("GetHeaders after sealing = %+v, %v", h, err)
	}
}
