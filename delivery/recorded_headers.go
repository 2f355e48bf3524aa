package delivery

import (
	"bytes"
	"net/http"
	"slices"

	"github.com/herald-webhooks/herald/storage"
)

// The headers of every attempt are kept in its record, for the delivery
// log: those sent and those received. Kept does not mean in the clear: a
// value that may be a credential is replaced by Redacted before it leaves
// the sender, so it reaches neither the Raft log nor the state nor a
// snapshot. Signatures are kept (they are not secrets, and receivers
// debugging a verification need them). What a receiver sends back is
// bounded, so a hostile one cannot make every attempt record large.

// Redacted replaces the value of a recorded header that may be a credential.
const Redacted = "[redacted]"

const (
	// maxRecordedHeaders bounds the headers kept per request or response;
	// those after it, in name order, are dropped.
	maxRecordedHeaders = 50
	// maxRecordedHeaderBytes bounds the names and values kept per request
	// or response; the value that crosses it is cut, those after dropped.
	maxRecordedHeaderBytes = 4096
)

// SensitiveHeader reports whether a header's value may be a credential:
// Authorization (basic and bearer auth to the receiver travel there),
// Proxy-Authorization, cookies, and names that say key, token, secret,
// password or auth. The headers routes hide these values, and attempt
// records store them redacted.
func SensitiveHeader(name string) bool {
	// Lower-cased on the stack: this runs for every header of every
	// attempt, and strings.ToLower would allocate for most names.
	var buf [64]byte
	lower := buf[:0]
	if len(name) > len(buf) {
		lower = make([]byte, 0, len(name))
	}
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	for _, part := range sensitiveParts {
		if bytes.Contains(lower, part) {
			return true
		}
	}
	return false
}

var sensitiveParts = [][]byte{[]byte("auth"), []byte("cookie"), []byte("token"), []byte("secret"),
	[]byte("password"), []byte("passwd"), []byte("api-key"), []byte("apikey")}

// recordHeaders returns h as attempt records keep it: one entry per
// value, in name order, sensitive values redacted, within the bounds
// above.
func recordHeaders(h http.Header) []storage.Header {
	if len(h) == 0 {
		return nil
	}
	var small [16]string
	names := small[:0]
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	n := 0
	for _, name := range names {
		n += len(h[name])
	}
	out := make([]storage.Header, 0, min(n, maxRecordedHeaders))
	budget := maxRecordedHeaderBytes
	for _, name := range names {
		sensitive := SensitiveHeader(name)
		for _, value := range h[name] {
			if len(out) == maxRecordedHeaders || budget <= len(name) {
				return out
			}
			if sensitive {
				value = Redacted
			}
			budget -= len(name)
			if len(value) > budget {
				value = value[:budget]
			}
			budget -= len(value)
			out = append(out, storage.Header{Name: name, Value: value})
		}
	}
	return out
}
