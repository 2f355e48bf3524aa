// Package keyring encrypts endpoint signing secrets and custom header values at rest with
// XChaCha20-Poly1305 under a main key from config or a key file.
//
// A sealed value reads "enc:v1:<key id>:<base64url(nonce || ciphertext)>".
//
// Invariants:
//
//   - Nothing secret leaves the package: no error, String method or log line
//     carries a key, a plaintext or bytes derived from either. Key ids are
//     the first 8 bytes of SHA-256 of the key; they are not secret, and a
//     sealed value names its key so rotation needs no trial decryption.
//   - Every Seal draws a fresh 24-byte random nonce. XChaCha20's nonce is
//     large enough for random nonces to never repeat in practice, so no
//     counter has to be stored, replicated or recovered after a crash.
//   - Sealing is random, so it happens before a value enters a Raft
//     command (on the node that accepts the request), never in the FSM,
//     which must stay deterministic. Every node of a cluster must therefore
//     hold the same current key and the same old keys.
//   - The additional data binds a sealed value to its place (for instance
//     the application and endpoint ids), so a sealed secret copied into
//     another record does not open. The version and key id are
//     authenticated too, so a v1 value can never be read as another format.
//   - Losing every key that sealed a value loses that value: rotation adds
//     a new current key, keeps the previous one as an old key until
//     NeedsRewrap reports nothing left, and only then drops it.
//   - A created key file is complete or absent: it is written to a
//     temporary file with mode 0600, synced, and linked into place without
//     ever replacing a key file another process created meanwhile.
package keyring

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length in bytes of every main key.
const KeySize = chacha20poly1305.KeySize

const (
	// sealedPrefix starts every sealed value of this format version.
	sealedPrefix = "enc:v1:"
	// idLen is the length of a key id: 8 bytes of SHA-256, in hex.
	idLen = 16
	// headerLen covers "enc:v1:<id>:", the part authenticated before the
	// caller's additional data; it has a fixed length so the two cannot
	// run into each other.
	headerLen = len(sealedPrefix) + idLen + 1
	// minPayload is a nonce and a tag around an empty plaintext.
	minPayload = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	// maxKeyFileBytes bounds what LoadOrCreateKeyFile reads: a key file
	// holds 44 characters and a newline, so anything far larger is not one.
	maxKeyFileBytes = 1024
)

var (
	// ErrUnknownKey reports a value sealed under a key this keyring does not hold.
	ErrUnknownKey = errors.New("sealed with an unknown key")
	// ErrCorrupt reports a sealed value that is malformed or fails authentication.
	ErrCorrupt = errors.New("sealed value is corrupt or was sealed for another record")
	// ErrInvalidKey reports a main key of the wrong length or encoding; the reason never quotes it.
	ErrInvalidKey = errors.New("invalid encryption key")
)

// Keyring seals with its current key and opens with the current or any old key.
// It is safe for concurrent use.
type Keyring struct {
	currentID string
	current   cipher.AEAD
	byID      map[string]cipher.AEAD
}

// New returns a Keyring sealing under current and also opening values sealed under old.
func New(current []byte, old ...[]byte) (*Keyring, error) {
	aead, id, err := newAEAD(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	k := &Keyring{currentID: id, current: aead, byID: map[string]cipher.AEAD{id: aead}}
	for i, key := range old {
		aead, id, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("old key %d: %w", i+1, err)
		}
		if _, dup := k.byID[id]; !dup {
			k.byID[id] = aead
		}
	}
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, string, error) {
	if len(key) != KeySize {
		return nil, "", fmt.Errorf("%w: key is %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return aead, keyID(key), nil
}

func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:idLen/2])
}

// ID returns the id of the current key.
func (k *Keyring) ID() string { return k.currentID }

// String names the keyring by its key ids only, so printing it leaks nothing.
func (k *Keyring) String() string {
	return fmt.Sprintf("keyring(current=%s, keys=%d)", k.currentID, len(k.byID))
}

// GoString is String, so %#v does not dump the ciphers' key schedules.
func (k *Keyring) GoString() string { return k.String() }

// Seal encrypts plaintext under the current key, authenticating aad with it.
func (k *Keyring) Seal(plaintext, aad []byte) string {
	var hdr [headerLen]byte
	h := append(hdr[:0], sealedPrefix...)
	h = append(h, k.currentID...)
	h = append(h, ':')

	buf := make([]byte, chacha20poly1305.NonceSizeX, minPayload+len(plaintext))
	// crypto/rand.Read never fails: on a broken system it crashes the
	// program rather than hand out predictable bytes.
	_, _ = rand.Read(buf)
	buf = k.current.Seal(buf, buf, plaintext, additionalData(h, aad))

	out := make([]byte, 0, headerLen+base64.RawURLEncoding.EncodedLen(len(buf)))
	out = append(out, h...)
	out = base64.RawURLEncoding.AppendEncode(out, buf)
	return string(out)
}

// Open decrypts a value from Seal, failing with ErrUnknownKey or ErrCorrupt.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, payload, ok := parseSealed(sealed)
	if !ok {
		return nil, ErrCorrupt
	}
	aead := k.byID[id]
	if aead == nil {
		// The id is checked to be 16 hex digits, so quoting it is safe,
		// and it tells the operator which old key to put back.
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, id)
	}
	// Strict decoding refuses non-zero padding bits, so each sealed value
	// has exactly one spelling; parseSealed already refused CR and LF,
	// which the decoder would otherwise skip.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil || len(raw) < minPayload {
		return nil, ErrCorrupt
	}
	nonce, ct := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	pt, err := aead.Open(ct[:0], nonce, ct, additionalData([]byte(sealed[:headerLen]), aad))
	if err != nil {
		return nil, ErrCorrupt
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// additionalData is the sealed value's header followed by the caller's
// additional data.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// parseSealed splits a v1 sealed value into its key id and payload.
func parseSealed(s string) (id, payload string, ok bool) {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok || len(rest) < idLen+1 || rest[idLen] != ':' {
		return "", "", false
	}
	id, payload = rest[:idLen], rest[idLen+1:]
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", false
		}
	}
	if strings.ContainsAny(payload, "\r\n") {
		return "", "", false
	}
	return id, payload, true
}

// IsSealed reports whether s is in sealed form (prefix "enc:"), whatever its version.
//
// The whole "enc:" prefix is reserved rather than just "enc:v1:" so that a
// value from a later format version is never mistaken for a plaintext
// secret: Open then fails with ErrCorrupt instead.
func IsSealed(s string) bool {
	return strings.HasPrefix(s, "enc:")
}

// NeedsRewrap reports whether sealed is a v1 value under one of the old keys.
//
// It is false for the current key, for unknown keys (which cannot be
// opened to be rewrapped) and for anything not sealed.
func (k *Keyring) NeedsRewrap(sealed string) bool {
	id, _, ok := parseSealed(sealed)
	return ok && id != k.currentID && k.byID[id] != nil
}

// ParseKey decodes a main key written as standard base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	// The decoder skips CR and LF; a key split across lines is refused
	// rather than silently accepted here and mistyped elsewhere.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: contains a line break", ErrInvalidKey)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		// The decoder's error quotes an offset only, but the reason is
		// spelled out so nothing derived from the key can reach a log.
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidKey)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	return key, nil
}

// LoadOrCreateKeyFile reads the main key at path, creating it (mode 0600) if absent.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = createKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use its key, never replace it,
		// since that process may already have sealed values under it.
		key, err = readKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode
	// of the file read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o and is readable by other users; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("key file %s: %w: file is too large to be a key", path, ErrInvalidKey)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	key, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a fresh key to path, failing with fs.ErrExist if a
// file appeared there meanwhile.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // never fails; see Seal
	contents := base64.StdEncoding.AppendEncode(nil, key)
	contents = append(contents, '\n')

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // on failure; see below for success
	// CreateTemp already uses 0600; Chmod says so explicitly and holds
	// even if that default ever changes.
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(contents)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := publish(tmpName, path); err != nil {
		return nil, err
	}
	// Drop the temporary name before the directory sync, so a crash
	// cannot leave a second copy of the key behind.
	_ = os.Remove(tmpName)
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sync key file directory: %w", err)
	}
	return key, nil
}

// publish moves the finished temporary file to path without replacing an
// existing file. A hard link is atomic and fails if path exists; rename is
// the fallback for file systems without hard links, and it could replace
// a key created in the instant after the check.
func publish(tmpName, path string) error {
	err := os.Link(tmpName, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fs.ErrExist
	}
	if rerr := os.Rename(tmpName, path); rerr != nil {
		return fmt.Errorf("install key file: %w", rerr)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
