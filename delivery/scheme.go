package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/herald-webhooks/herald/storage"
)

// Signing is how one request is signed, from its delivery's stamped
// policy. The zero value is Standard Webhooks with webhook-* headers.
type Signing struct {
	Scheme  storage.SignatureScheme
	HMAC    storage.HMACScheme
	Headers storage.HeaderStyle
	// DeliveryID is the (message, destination) delivery's id, for an
	// HMAC scheme's delivery-id header.
	DeliveryID string
	// Secret is the newest secret's literal text (whsec_...), the key of
	// an HMAC scheme that does not base64-decode it.
	Secret []byte
}

// HeaderStyleNamed returns the header style a configuration names
// ("webhook", "svix" or "both"; anything else is webhook).
func HeaderStyleNamed(name string) storage.HeaderStyle {
	switch name {
	case "svix":
		return storage.HeadersSvix
	case "both":
		return storage.HeadersBoth
	}
	return storage.HeadersWebhook
}

// signingFor returns the Signing of a delivery's stamped policy.
func signingFor(p *storage.Policy, deliveryID string) Signing {
	return Signing{Scheme: p.Scheme, HMAC: p.HMAC, Headers: p.Headers, DeliveryID: deliveryID}
}

// needsSecretText reports whether s keys its HMAC with the secret's text.
func (s *Signing) needsSecretText() bool {
	return s.Scheme == storage.SchemeHMAC && !s.HMAC.KeyBase64
}

// setSignature sets the signature headers of one request. keys are the
// decoded secrets, newest first.
func (s *Signing) setSignature(h http.Header, keys [][]byte, msgID string, ts int64, body []byte) {
	switch s.Scheme {
	case storage.SchemeNone:
		return
	case storage.SchemeHMAC:
		s.setHMAC(h, keys, ts, body)
		return
	}
	tsText := strconv.FormatInt(ts, 10)
	var sig string
	if s.Scheme == storage.SchemeV1a {
		sig = V1aSignatureHeader(keys, msgID, ts, body)
	} else {
		sig = SignatureHeader(keys, msgID, ts, body)
	}
	if s.Headers != storage.HeadersSvix {
		h.Set("Webhook-Id", msgID)
		h.Set("Webhook-Timestamp", tsText)
		h.Set("Webhook-Signature", sig)
	}
	if s.Headers == storage.HeadersSvix || s.Headers == storage.HeadersBoth {
		h.Set("Svix-Id", msgID)
		h.Set("Svix-Timestamp", tsText)
		h.Set("Svix-Signature", sig)
	}
}

// setHMAC signs with the newest key only: the schemes this reproduces put
// one signature in their header, which receivers compare whole, so during
// a rotation's grace period the old secret does not sign (DELIVERY.md).
func (s *Signing) setHMAC(h http.Header, keys [][]byte, ts int64, body []byte) {
	hm := &s.HMAC
	key := s.Secret
	if hm.KeyBase64 && len(keys) > 0 {
		key = keys[0]
	}
	tsText := strconv.FormatInt(ts, 10)
	mac := hmac.New(sha256.New, key)
	switch hm.Content {
	case storage.SignTimestampBody:
		mac.Write([]byte(tsText + "."))
	case storage.SignIDTimestampBody:
		mac.Write([]byte(s.DeliveryID + "." + tsText + "."))
	}
	mac.Write(body)
	sum := mac.Sum(nil)
	enc := hex.EncodeToString(sum)
	if hm.Base64 {
		enc = base64.StdEncoding.EncodeToString(sum)
	}
	h.Set(hm.Header, hm.Prefix+enc)
	if hm.TimestampHeader != "" {
		h.Set(hm.TimestampHeader, tsText)
	}
	if hm.DeliveryIDHeader != "" {
		h.Set(hm.DeliveryIDHeader, hm.DeliveryIDPrefix+s.DeliveryID)
	}
}
