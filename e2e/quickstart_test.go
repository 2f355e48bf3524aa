//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"
)

// TestQuickStart follows the README: a node started with no token prints
// one, `herald listen` receives a webhook and verifies its signature, and
// a restart reminds the operator that a token exists.
func TestQuickStart(t *testing.T) {
	n := newNode(t)
	n.generatedToken = true
	n.start()

	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	listener := exec.Command(heraldBin, "listen", "--port", "0", "--secret", secret)
	out := &lockedBuffer{}
	listener.Stdout, listener.Stderr = out, out
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listener.Process.Kill(); _ = listener.Wait() })
	addrRe := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	var listenURL string
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if listenURL = addrRe.FindString(out.String()); listenURL == "" {
			return errors.New("herald listen has not said where it listens")
		}
		return nil
	})

	ctx := context.Background()
	c := n.client()
	if _, err := c.Application.Create(ctx, models.ApplicationIn{Name: "Acme", Uid: func(s string) *string { return &s }("acme")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Endpoint.Create(ctx, "acme", models.EndpointIn{Url: listenURL, Secret: &secret}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Message.Create(ctx, "acme", models.MessageIn{EventType: "job.completed", Payload: map[string]any{"jobId": "j_1"}}, nil); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		got := out.String()
		if !strings.Contains(got, "signature: verified") || !strings.Contains(got, `"jobId": "j_1"`) {
			return errors.New("no verified delivery printed yet:\n" + got)
		}
		return nil
	})

	if err := n.terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	n.start()
	if !strings.Contains(n.logs.String(), "Herald's admin token was generated on this cluster's first start") {
		t.Fatal("a restart with the generated token does not say that one exists and how to set one")
	}
}
