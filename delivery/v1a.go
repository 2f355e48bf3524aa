package delivery

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// Standard Webhooks v1a signs with ed25519. Herald derives an endpoint's
// key pair from its signing secret (the seed is HMAC-SHA256 of a fixed
// label under the secret's key bytes), so the pair needs no storage of
// its own, is sealed at rest with the secret, and rotates with it: during
// a rotation's grace period the replaced secret's key signs too, one
// "v1a,<base64>" entry per key, as Standard Webhooks allows.

// PublicKeyPrefix starts a v1a public key, as in Standard Webhooks.
const PublicKeyPrefix = "whpk_"

// v1aSeedLabel is what the ed25519 seed is derived from; never change it,
// or every receiver's public key changes.
const v1aSeedLabel = "herald standard-webhooks v1a ed25519 seed"

// V1aKey returns the ed25519 key pair of a secret's key bytes.
func V1aKey(secretKey []byte) ed25519.PrivateKey {
	mac := hmac.New(sha256.New, secretKey)
	mac.Write([]byte(v1aSeedLabel))
	return ed25519.NewKeyFromSeed(mac.Sum(nil))
}

// V1aPublicKey returns the whpk_ public key receivers verify v1a with.
func V1aPublicKey(secretKey []byte) string {
	pub := V1aKey(secretKey).Public().(ed25519.PublicKey)
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// V1aSignatureHeader builds a webhook-signature value of v1a entries, one
// per key, space separated.
func V1aSignatureHeader(keys [][]byte, msgID string, ts int64, body []byte) string {
	content := make([]byte, 0, len(msgID)+24+len(body))
	content = append(content, msgID...)
	content = append(content, '.')
	content = strconv.AppendInt(content, ts, 10)
	content = append(content, '.')
	content = append(content, body...)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1a,")
		b.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(V1aKey(k), content)))
	}
	return b.String()
}
