package delivery

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/storage"
)

// Custom header values are sealed at rest, every one of them: which
// headers carry credentials is a guess from their names (Authorization,
// X-Api-Key, X-Whatever-Token...), and a guess that misses a credential
// would leave it in the Raft log, the state and every snapshot. Sealing
// all values costs one small AEAD open per header per attempt.
//
// The API seals values before they enter a Raft command; the dispatcher
// and the headers route open them. Values stored before sealing existed
// are plain text, read as they are, and sealed the next time the endpoint
// is written (see SealLegacyHeaders).

// ErrNoKeyring reports a sealed value on a node configured without a secrets key.
var ErrNoKeyring = errors.New("a value is sealed and no secrets key is configured")

// SealHeader seals the plaintext value of ep's custom header name. It
// seals whatever the value looks like: a client may well send a value
// that starts with "enc:". With no keyring (some tests) it returns the
// value unchanged.
func SealHeader(keys *keyring.Keyring, ep *storage.Endpoint, name, value string) string {
	if keys == nil {
		return value
	}
	return keys.Seal([]byte(value), ep.HeaderAAD(name))
}

// SealLegacyHeaders seals ep's header values still stored in plain text,
// so any write of an endpoint also finishes its migration to sealed
// values.
// The map is replaced, not changed in place: it may be shared with a
// cached copy of the endpoint.
func SealLegacyHeaders(keys *keyring.Keyring, ep *storage.Endpoint) {
	if keys == nil {
		return
	}
	var sealed map[string]string
	for name, v := range ep.Headers {
		if keyring.IsSealed(v) {
			continue
		}
		if sealed == nil {
			sealed = maps.Clone(ep.Headers)
		}
		sealed[name] = SealHeader(keys, ep, name, v)
	}
	if sealed != nil {
		ep.Headers = sealed
	}
}

// OpenHeaders returns ep's custom headers with their values opened. The
// error names the header, never its value.
func OpenHeaders(keys *keyring.Keyring, ep *storage.Endpoint) (map[string]string, error) {
	if len(ep.Headers) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(ep.Headers))
	for name, v := range ep.Headers {
		if !keyring.IsSealed(v) {
			out[name] = v // stored before values were sealed
			continue
		}
		if keys == nil {
			return nil, fmt.Errorf("open header %q: %w", name, ErrNoKeyring)
		}
		plain, err := keys.Open(v, ep.HeaderAAD(name))
		if err != nil {
			return nil, fmt.Errorf("open header %q: %w", name, err)
		}
		out[name] = string(plain)
	}
	return out, nil
}

// SealRecordedHeaders seals, in at's recorded request headers, the values
// of ep's custom headers (custom: their names as configured): they are
// sealed at rest in the endpoint, and must not be plain text in the
// attempt log either. Values the sender redacted stay as they are. With
// no keyring (some tests) it changes nothing.
func SealRecordedHeaders(keys *keyring.Keyring, at *storage.Attempt, custom map[string]string) {
	if keys == nil || len(custom) == 0 {
		return
	}
	for i := range at.RequestHeaders {
		h := &at.RequestHeaders[i]
		if h.Value == Redacted || !isCustom(custom, h.Name) {
			continue
		}
		h.Value = keys.Seal([]byte(h.Value), at.HeaderAAD(h.Name))
	}
}

func isCustom(custom map[string]string, name string) bool {
	for k := range custom {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// OpenRecordedHeaders returns at's recorded request headers with sealed
// values opened; one that cannot be opened (no keyring, or another
// cluster's) reads Redacted. The list is a copy when anything was opened.
func OpenRecordedHeaders(keys *keyring.Keyring, at *storage.Attempt) []storage.Header {
	out, cloned := at.RequestHeaders, false
	for i, h := range at.RequestHeaders {
		if !keyring.IsSealed(h.Value) {
			continue
		}
		if !cloned {
			out, cloned = slices.Clone(at.RequestHeaders), true
		}
		out[i].Value = Redacted
		if keys != nil {
			if plain, err := keys.Open(h.Value, at.HeaderAAD(h.Name)); err == nil {
				out[i].Value = string(plain)
			}
		}
	}
	return out
}
