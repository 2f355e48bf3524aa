package delivery

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"
)

// The known answer published with the Svix SDK tests (webhook_test.go,
// TestWebhookSign), which is also the worked example of the Standard
// Webhooks spec; the reference library's own tests use the same secret
// and id but sign at time.Now, so the vector below is the fixed one.
const (
	kaSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	kaMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	kaTimestamp = 1614265330
	kaPayload   = `{"test": 2432232314}`
	kaSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB) (string, []byte) {
	t.Helper()
	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return secret, key
}

func webhookHeaders(msgID string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return h
}

// verifyBoth checks a header with the Standard Webhooks reference library
// and with the Svix SDK, the two verifiers receivers actually run.
func verifyBoth(t *testing.T, secret string, body []byte, h http.Header) {
	t.Helper()
	sw, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Verify(body, h); err != nil {
		t.Errorf("standard webhooks library rejected the signature: %v", err)
	}
	sx, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sx.Verify(body, h); err != nil {
		t.Errorf("svix SDK rejected the signature: %v", err)
	}
}

func TestSignKnownAnswer(t *testing.T) {
	key, err := ParseSecret(kaSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := string(Sign(nil, key, kaMsgID, kaTimestamp, []byte(kaPayload)))
	if got != kaSignature {
		t.Fatalf("Sign = %q, want %q", got, kaSignature)
	}
	if h := SignatureHeader([][]byte{key}, kaMsgID, kaTimestamp, []byte(kaPayload)); h != kaSignature {
		t.Fatalf("SignatureHeader = %q, want %q", h, kaSignature)
	}

	// The reference implementation must agree on the same vector.
	sw, err := standardwebhooks.NewWebhook(kaSecret)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := sw.Sign(kaMsgID, time.Unix(kaTimestamp, 0), []byte(kaPayload))
	if err != nil {
		t.Fatal(err)
	}
	if ref != kaSignature {
		t.Fatalf("reference library signs %q, want %q", ref, kaSignature)
	}
	h := webhookHeaders(kaMsgID, kaTimestamp, got)
	if err := sw.VerifyIgnoringTimestamp([]byte(kaPayload), h); err != nil {
		t.Fatalf("reference library rejects the known answer: %v", err)
	}
}

func TestSignAppends(t *testing.T) {
	_, key := mustSecret(t)
	dst := []byte("prefix:")
	out := Sign(dst, key, "msg_1", 1700000000, []byte("{}"))
	if !bytes.HasPrefix(out, []byte("prefix:v1,")) {
		t.Fatalf("Sign did not append to dst: %q", out)
	}
	if len(out) != len("prefix:")+signatureLen {
		t.Fatalf("signature length %d, want %d", len(out)-len("prefix:"), signatureLen)
	}
}

func TestSignatureHeaderVerifies(t *testing.T) {
	bodies := map[string][]byte{
		"json":  []byte(`{"type":"job.completed","data":{"id":"job_1","ok":true}}`),
		"empty": {},
		"large": bytes.Repeat([]byte("x"), 1<<20),
		"utf8":  []byte(`{"name":"Zoë — 東京 🚀"}`),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			secret, key := mustSecret(t)
			// A long id exercises the path where the prefix outgrows its stack buffer.
			for _, id := range []string{"msg_2ZR6sH0uQy3n1", "msg_" + strings.Repeat("a", 200)} {
				ts := time.Now().Unix()
				sig := SignatureHeader([][]byte{key}, id, ts, body)
				verifyBoth(t, secret, body, webhookHeaders(id, ts, sig))
			}
		})
	}
}

func TestSignatureHeaderRotation(t *testing.T) {
	_, newKey := mustSecret(t)
	oldSecret, oldKey := mustSecret(t)
	body := []byte(`{"type":"job.completed"}`)
	ts := time.Now().Unix()

	sig := SignatureHeader([][]byte{newKey, oldKey}, "msg_rot", ts, body)
	parts := strings.Split(sig, " ")
	if len(parts) != 2 {
		t.Fatalf("want two space-separated signatures, got %q", sig)
	}
	for _, p := range parts {
		if !strings.HasPrefix(p, "v1,") || len(p) != signatureLen {
			t.Fatalf("malformed signature %q", p)
		}
	}
	// The receiver still holds the old secret: only the second entry matches.
	verifyBoth(t, oldSecret, body, webhookHeaders("msg_rot", ts, sig))

	// A receiver with an unrelated secret must not verify.
	otherSecret, _ := mustSecret(t)
	sw, _ := standardwebhooks.NewWebhook(otherSecret)
	if err := sw.Verify(body, webhookHeaders("msg_rot", ts, sig)); err == nil {
		t.Fatal("unrelated secret verified the header")
	}
}

func TestSignatureHeaderNoKeys(t *testing.T) {
	if got := SignatureHeader(nil, "msg", 1, nil); got != "" {
		t.Fatalf("SignatureHeader(nil) = %q, want empty", got)
	}
}

func TestSignatureBindsEveryField(t *testing.T) {
	_, key := mustSecret(t)
	base := string(Sign(nil, key, "msg_a", 100, []byte("body")))
	variants := map[string]string{
		"id":   string(Sign(nil, key, "msg_b", 100, []byte("body"))),
		"ts":   string(Sign(nil, key, "msg_a", 101, []byte("body"))),
		"body": string(Sign(nil, key, "msg_a", 100, []byte("bodY"))),
		// "msg_a.1" + "00." must not collide with "msg_a" + ".100.".
		"shift": string(Sign(nil, key, "msg_a.1", 0, []byte("body"))),
	}
	for name, v := range variants {
		if v == base {
			t.Errorf("changing %s did not change the signature", name)
		}
	}
}

func TestGenerateSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("duplicate secret generated")
		}
		seen[s] = true
		key, err := ParseSecret(s)
		if err != nil {
			t.Fatalf("generated secret does not parse: %v", err)
		}
		if len(key) != generatedSecretBytes {
			t.Fatalf("generated key is %d bytes, want %d", len(key), generatedSecretBytes)
		}
	}
}

func TestParseSecret(t *testing.T) {
	enc := func(n int) string {
		return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, n))
	}
	good := []string{
		kaSecret,
		SecretPrefix + enc(24),
		SecretPrefix + enc(32),
		SecretPrefix + enc(64),
	}
	for _, s := range good {
		if _, err := ParseSecret(s); err != nil {
			t.Errorf("ParseSecret(%d chars) = %v, want ok", len(s), err)
		}
	}

	bad := map[string]string{
		"empty":           "",
		"prefix only":     SecretPrefix,
		"missing prefix":  enc(32),
		"wrong prefix":    "whsek_" + enc(32),
		"upper prefix":    "WHSEC_" + enc(32),
		"too short":       SecretPrefix + enc(23),
		"too long":        SecretPrefix + enc(65),
		"url base64":      SecretPrefix + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xFB}, 32)),
		"unpadded":        SecretPrefix + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)),
		"bad chars":       SecretPrefix + "!!!!" + enc(30),
		"space":           SecretPrefix + enc(16) + " " + enc(16),
		"newline":         SecretPrefix + enc(24) + "\n" + enc(24),
		"carriage return": SecretPrefix + enc(24) + "\r",
		"double prefix":   SecretPrefix + SecretPrefix + enc(32),
	}
	for name, s := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSecret(s)
			if !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("ParseSecret = %v, want ErrInvalidSecret", err)
			}
			if body := strings.TrimPrefix(s, SecretPrefix); len(body) > 8 && strings.Contains(err.Error(), body[:8]) {
				t.Fatalf("error message leaks the secret: %v", err)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	_, key := mustSecret(b)
	body := bytes.Repeat([]byte("a"), 1024)
	dst := make([]byte, 0, signatureLen)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst = Sign(dst[:0], key, "msg_2ZR6sH0uQy3n1fK5tQzAVi7l9cX", 1700000000, body)
	}
}

func BenchmarkSignatureHeader(b *testing.B) {
	_, k1 := mustSecret(b)
	_, k2 := mustSecret(b)
	keys := [][]byte{k1, k2}
	body := bytes.Repeat([]byte("a"), 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = SignatureHeader(keys, "msg_2ZR6sH0uQy3n1fK5tQzAVi7l9cX", 1700000000, body)
	}
}
