package delivery

import (
	"net/http"
	"slices"
	"strings"

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
	n := strings.ToLower(name)
	switch n {
	case "x-api-key", "api-key", "apikey":
		return true
	}
	for _, part := range sensitiveParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

var sensitiveParts = []string{"auth", "cookie", "token", "secret", "password", "passwd", "api-key", "apikey"}

// recordHeaders returns h as attempt records keep it: one entry per
// value, in name order, sensitive values redacted, within the bounds
// above.
func recordHeaders(h http.Header) []storage.Header {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]storage.Header, 0, min(len(h), maxRecordedHeaders))
	budget := maxRecordedHeaderBytes
	add := func(name, value string) bool {
		if len(out) == maxRecordedHeaders || budget <= len(name) {
			return false
		}
		if SensitiveHeader(name) {
			value = Redacted
		}
		budget -= len(name)
		if len(value) > budget {
			value = value[:budget]
		}
		budget -= len(value)
		out = append(out, storage.Header{Name: name, Value: value})
		return true
	}
	for _, name := range names {
		for _, v := range h[name] {
			if !add(name, v) {
				return out
			}
		}
	}
	return out
}
