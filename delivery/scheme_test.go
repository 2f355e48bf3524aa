package delivery

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/storage"
)

// TestSigningSchemes checks each scheme's headers against a signature
// computed here the way a receiver's documentation says to.
func TestSigningSchemes(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		msgID  = "msg_1"
		dlvID  = "dlv_x"
		ts     = int64(1_700_000_000)
	)
	body := []byte(`{"b": 1,  "a":"\u00e9"}`)
	key, err := ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(k []byte, content string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(content))
		return m.Sum(nil)
	}
	cases := []struct {
		name string
		s    Signing
		want map[string]string // header: value ("" = absent)
	}{
		{"standard", Signing{}, map[string]string{
			"Webhook-Id": msgID, "Webhook-Timestamp": "1700000000",
			"Webhook-Signature": "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID+".1700000000."+string(body))),
			"Svix-Id":           "",
		}},
		{"svix headers", Signing{Headers: storage.HeadersSvix}, map[string]string{
			"Svix-Id": msgID, "Svix-Timestamp": "1700000000",
			"Svix-Signature": "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID+".1700000000."+string(body))),
			"Webhook-Id":     "",
		}},
		{"both", Signing{Headers: storage.HeadersBoth}, map[string]string{"Svix-Id": msgID, "Webhook-Id": msgID}},
		{"none", Signing{Scheme: storage.SchemeNone}, map[string]string{"Webhook-Id": "", "Webhook-Signature": "", "Svix-Id": ""}},
		{"A: hex of the body, key the secret's text", Signing{Scheme: storage.SchemeHMAC, HMAC: storage.HMACScheme{Header: "X-NetraFlow-Signature"}}, map[string]string{
			"X-Netraflow-Signature": hex.EncodeToString(mac([]byte(secret), string(body))), "Webhook-Id": "",
		}},
		{"B: sha256= hex of timestamp.body, timestamp and delivery id", Signing{Scheme: storage.SchemeHMAC, HMAC: storage.HMACScheme{
			Header: "X-Transcodely-Signature", Content: storage.SignTimestampBody, Prefix: "sha256=",
			TimestampHeader: "X-Transcodely-Timestamp", DeliveryIDHeader: "X-Transcodely-Delivery-ID",
		}}, map[string]string{
			"X-Transcodely-Signature":   "sha256=" + hex.EncodeToString(mac([]byte(secret), "1700000000."+string(body))),
			"X-Transcodely-Timestamp":   "1700000000",
			"X-Transcodely-Delivery-Id": dlvID,
		}},
		{"base64 of id.timestamp.body, decoded key, id prefix", Signing{Scheme: storage.SchemeHMAC, HMAC: storage.HMACScheme{
			Header: "X-Sig", Content: storage.SignIDTimestampBody, Base64: true, KeyBase64: true,
			DeliveryIDHeader: "X-Id", DeliveryIDPrefix: "id=",
		}}, map[string]string{
			"X-Sig": base64.StdEncoding.EncodeToString(mac(key, dlvID+".1700000000."+string(body))),
			"X-Id":  "id=" + dlvID,
		}},
	}
	for _, c := range cases {
		c.s.DeliveryID = dlvID
		if c.s.needsSecretText() {
			c.s.Secret = []byte(secret)
		}
		h := http.Header{}
		c.s.setSignature(h, [][]byte{key}, msgID, ts, body)
		for name, want := range c.want {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", c.name, name, got, want)
			}
		}
	}
}

// TestV1a: v1a entries verify with the public key derived from each live
// secret, one entry per key during a rotation.
func TestV1a(t *testing.T) {
	newKey, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	oldKey, _ := ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("an older secret of 32 bytes.....")))
	body := []byte(`{"a":1}`)
	h := http.Header{}
	s := Signing{Scheme: storage.SchemeV1a}
	s.setSignature(h, [][]byte{newKey, oldKey}, "msg_1", 1_700_000_000, body)
	entries := strings.Fields(h.Get("Webhook-Signature"))
	if len(entries) != 2 {
		t.Fatalf("signature header %q, want two entries", h.Get("Webhook-Signature"))
	}
	for i, key := range [][]byte{newKey, oldKey} {
		pk, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(V1aPublicKey(key), PublicKeyPrefix))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(entries[i], "v1a,"))
		if err != nil || !strings.HasPrefix(entries[i], "v1a,") {
			t.Fatalf("entry %q", entries[i])
		}
		if !ed25519.Verify(pk, []byte("msg_1.1700000000."+string(body)), sig) {
			t.Errorf("entry %d does not verify with its public key", i)
		}
	}
	if V1aPublicKey(newKey) == V1aPublicKey(oldKey) || V1aPublicKey(newKey) != V1aPublicKey(newKey) {
		t.Error("public keys not derived one per secret")
	}
}
