package appliance_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
)

// TestClusterJoinGetsKeyring: a node started with --join and the admin
// token alone, no key of its own, receives the cluster's secrets keyring
// with the join, keeps it in its key file and opens the secrets the
// cluster sealed, also after a restart; the key never appears in a log.
// A node with a key of its own that differs is refused, and only the
// admin token gets the keyring.
func TestClusterJoinGetsKeyring(t *testing.T) {
	c := newCluster(t, 2)
	leader := c.waitReady(2)
	appID := createApp(t, leader.node(), "sealed before the join")
	epID, secret := createEndpoint(t, leader.node(), appID, "https://example.com/hook")

	noKey := func(cfg *config.Config) { cfg.SecretsKey = "" }
	m := c.add("node3", noKey)
	m.start(leader.node().HTTPAddr())
	leader = c.waitReady(3)
	c.waitCaughtUp(m, leader)

	keyFile := filepath.Join(m.dir, "secrets.key")
	b, err := os.ReadFile(keyFile)
	if err != nil || string(bytes.TrimSpace(b)) != clusterSecretsKey {
		t.Fatalf("key file of the joined node: %v, holds the cluster's key: %v", err, string(bytes.TrimSpace(b)) == clusterSecretsKey)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v, %v", fi.Mode(), err)
	}
	checkSecret := func() {
		t.Helper()
		r := m.node().do(http.MethodGet, "/api/v1/app/"+appID+"/endpoint/"+epID+"/secret", nil)
		if r.status != http.StatusOK || jsonObject(t, r.body)["key"] != secret {
			t.Fatalf("secret read on the joined node: %d %s", r.status, r.body)
		}
	}
	checkSecret()
	m.stop()
	m.start() // its key file now: no join, no transfer
	c.waitReady(3)
	checkSecret()

	for _, o := range c.members {
		raw, _ := base64.StdEncoding.DecodeString(clusterSecretsKey)
		for _, s := range []string{clusterSecretsKey, base64.RawURLEncoding.EncodeToString(raw)} {
			if o.log.contains(s) {
				t.Errorf("%s logged the secrets key", o.id)
			}
		}
	}

	// A node with a key of its own that is not the cluster's is refused,
	// with the reason.
	other := c.add("node4", func(cfg *config.Config) {
		cfg.SecretsKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	})
	cfg := c.config(other, []string{leader.node().HTTPAddr()})
	if a, err := appliance.Open(cfg, appliance.Options{}, zerolog.New(other.log)); err == nil {
		_ = a.Close(t.Context())
		t.Fatal("a node with another secrets key joined")
	} else if !strings.Contains(err.Error(), "secrets_key_mismatch") {
		t.Errorf("join with another key: %v, want secrets_key_mismatch", err)
	}

	// The keyring goes only to the admin token.
	join := map[string]any{"nodeId": "node9", "raftAddr": reserveRaftAddr(t), "wantKeyring": true}
	app := portalToken(t, leader.node(), appID, models.AppPortalAccessIn{})
	for token, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized, app: http.StatusForbidden} {
		r := leader.node().doToken(token, http.MethodPost, "/api/v1/cluster/join", join)
		if r.status != want || strings.Contains(string(r.body), clusterSecretsKey) {
			t.Errorf("join asking for the keyring with token %.8q: %d %s, want %d", token, r.status, r.body, want)
		}
	}
}
