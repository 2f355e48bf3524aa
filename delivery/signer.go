package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// SecretPrefix starts every endpoint secret, as in Standard Webhooks and Svix.
const SecretPrefix = "whsec_"

const (
	// Standard Webhooks asks for 24..64 bytes of key; fewer is guessable,
	// more buys nothing with HMAC-SHA256 and bloats stored records.
	minSecretBytes       = 24
	maxSecretBytes       = 64
	generatedSecretBytes = 32

	// signatureLen is len("v1,") plus the base64 of a SHA-256 sum.
	signatureLen = 3 + 44
)

var (
	// ErrInvalidSecret reports a malformed endpoint secret; the wrapped reason never quotes it.
	ErrInvalidSecret = errors.New("invalid webhook secret")
)

// GenerateSecret returns a fresh random endpoint secret in whsec_ form.
func GenerateSecret() (string, error) {
	var key [generatedSecretBytes]byte
	if _, err := rand.Read(key[:]); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key[:]), nil
}

// ParseSecret decodes a whsec_ secret into its HMAC key bytes.
func ParseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: must start with %q", ErrInvalidSecret, SecretPrefix)
	}
	// encoding/base64 silently skips CR and LF; a secret pasted with a
	// line break would otherwise be accepted here yet stored differently
	// from what the receiver was given.
	if strings.ContainsAny(enc, "\r\n") {
		return nil, fmt.Errorf("%w: contains a line break", ErrInvalidSecret)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// The decoder's error carries only an offset, but the reason is
		// spelled out rather than wrapped so nothing derived from the
		// secret can ever reach an API response or a log line.
		return nil, fmt.Errorf("%w: not valid standard base64 after the prefix", ErrInvalidSecret)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d to %d",
			ErrInvalidSecret, len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// Sign appends one Standard Webhooks signature ("v1,<base64>") to dst.
func Sign(dst []byte, key []byte, msgID string, ts int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	// The signed content is "<id>.<timestamp>.<body>", written in two
	// parts so the body is never copied. Anything handed to the hash
	// escapes, so the scratch space comes from a pool instead of the heap.
	sc := signScratchPool.Get().(*signScratch)
	p := append(sc.prefix[:0], msgID...)
	p = append(p, '.')
	p = strconv.AppendInt(p, ts, 10)
	p = append(p, '.')
	mac.Write(p)
	mac.Write(body)
	dst = append(dst, "v1,"...)
	dst = base64.StdEncoding.AppendEncode(dst, mac.Sum(sc.sum[:0]))
	signScratchPool.Put(sc)
	return dst
}

// signScratch holds Sign's temporary buffers; the prefix fits any
// realistic message id (ids longer than ~100 bytes simply allocate).
type signScratch struct {
	prefix [128]byte
	sum    [sha256.Size]byte
}

var signScratchPool = sync.Pool{New: func() any { return new(signScratch) }}

// SignatureHeader builds the webhook-signature value, one signature per key, space separated.
func SignatureHeader(keys [][]byte, msgID string, ts int64, body []byte) string {
	if len(keys) == 0 {
		return ""
	}
	// One exact-size buffer turned into the string without a copy: during
	// rotation several keys sign every request, so this is a hot path.
	var b strings.Builder
	b.Grow(len(keys)*(signatureLen+1) - 1)
	var sig [signatureLen]byte
	for i, key := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(Sign(sig[:0], key, msgID, ts, body))
	}
	return b.String()
}

// maxSignatureEntries bounds how many entries of a webhook-signature header
// are looked at: a sender signs with one key, or a few during rotation, so
// more is an attack on the verifier's time, not a real header.
const maxSignatureEntries = 64

// ParseSignatureHeader returns the base64 signatures of the v1 entries of a webhook-signature header.
//
// Entries are separated by spaces; other versions (v1a, v2...), empty
// entries and malformed ones are skipped, and only the first
// maxSignatureEntries non-empty entries are considered. A v1 signature is
// the canonical standard base64 of a SHA-256 HMAC, so anything else after
// "v1," is malformed.
func ParseSignatureHeader(h string) []string {
	var sigs []string
	for n := 0; n < maxSignatureEntries; n++ {
		h = strings.TrimLeft(h, " ")
		if h == "" {
			break
		}
		entry := h
		if i := strings.IndexByte(h, ' '); i >= 0 {
			entry, h = h[:i], h[i+1:]
		} else {
			h = ""
		}
		version, sig, ok := strings.Cut(entry, ",")
		if ok && version == "v1" && isSignature(sig) {
			sigs = append(sigs, sig)
		}
	}
	return sigs
}

// isSignature reports whether s is the padded, canonical standard base64
// of a SHA-256 sum, the one spelling Sign produces.
func isSignature(s string) bool {
	if len(s) != signatureLen-3 {
		return false
	}
	var sum [sha256.Size + 1]byte
	n, err := base64.StdEncoding.Strict().Decode(sum[:], []byte(s))
	return err == nil && n == sha256.Size
}

// Verify reports whether header carries a v1 signature of (msgID, ts, body) under key.
//
// It checks the signature only: a receiver must also refuse timestamps
// too far from its own clock, which Verify cannot know.
func Verify(key []byte, msgID string, ts int64, body []byte, header string) bool {
	sigs := ParseSignatureHeader(header)
	if len(sigs) == 0 {
		return false
	}
	var buf [signatureLen]byte
	want := Sign(buf[:0], key, msgID, ts, body)[len("v1,"):]
	ok := false
	for _, sig := range sigs {
		// Every entry is compared, in constant time, so the time taken
		// says nothing about which entry, or how much of one, matched.
		if hmac.Equal([]byte(sig), want) {
			ok = true
		}
	}
	return ok
}
