package storage

import (
	"crypto/sha256"
	"encoding/base32"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/ksuid"
)

// ID prefixes, as in the Svix API.
const (
	PrefixApp      = "app_"
	PrefixEndpoint = "ep_"
	PrefixMessage  = "msg_"
	PrefixAttempt  = "atmpt_"
)

var idGen struct {
	sync.Mutex
	last ksuid.KSUID
}

// NewID returns prefix + a KSUID for now. KSUIDs carry whole seconds, so
// within one process they are made strictly increasing: lists ordered by id
// are ordered by creation even within a second.
func NewID(prefix string, now time.Time) string {
	id, err := ksuid.NewRandomWithTime(now)
	if err != nil {
		panic("storage: no randomness for ids: " + err.Error())
	}
	idGen.Lock()
	if ksuid.Compare(id, idGen.last) <= 0 {
		id = idGen.last.Next()
	}
	idGen.last = id
	idGen.Unlock()
	return prefix + id.String()
}

// IDTime returns the creation time carried by an id made by NewID.
func IDTime(id string) (time.Time, bool) {
	i := strings.IndexByte(id, '_')
	if i < 0 {
		return time.Time{}, false
	}
	k, err := ksuid.Parse(id[i+1:])
	if err != nil {
		return time.Time{}, false
	}
	return k.Time(), true
}

// boundID returns the smallest (or, with upper, largest) id with prefix and
// a KSUID at time t, for seeking a time-ordered list to a date.
func boundID(prefix string, t time.Time, upper bool) string {
	payload := make([]byte, 16)
	if upper {
		for i := range payload {
			payload[i] = 0xff
		}
	}
	k, err := ksuid.FromParts(t, payload)
	if err != nil {
		return prefix
	}
	return prefix + k.String()
}

// ValidID reports whether id has the prefix followed by a well-formed KSUID.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return false
	}
	_, err := ksuid.Parse(rest)
	return err == nil
}

// DeliveryID names the delivery of a message to one destination: the same
// on every retry and resend of it, different for each destination, and
// derived from the two ids, so it needs no storage and every node computes
// the same one ("dlv_" + 26 base32 characters of a SHA-256).
func DeliveryID(msgID, destID string) string {
	sum := sha256.Sum256([]byte(msgID + "\x00" + destID))
	return PrefixDelivery + deliveryIDEncoding.EncodeToString(sum[:16])
}

// PrefixDelivery starts delivery ids.
const PrefixDelivery = "dlv_"

var deliveryIDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// DerivedID returns prefix + a KSUID at t whose payload is derived from
// seed: the FSM makes ids this way for records it creates by itself (a
// failure notice), so every node makes the same one without randomness.
func DerivedID(prefix string, t time.Time, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	// KSUID time starts in 2014; an earlier time would wrap around to a
	// far future one.
	if epoch := ksuid.Nil.Time(); t.Before(epoch) {
		t = epoch
	}
	k, _ := ksuid.FromParts(t, sum[:16]) // fails only on the payload's length
	return prefix + k.String()
}

// PrefixDestination starts the ids of one-off destinations.
const PrefixDestination = "dst_"

// DestinationID names the one-off destinations of an application that
// share an origin (scheme, host and port of rawURL): every message naming
// a URL there is delivered under this id where an endpoint's id goes, so
// the origin gets one flow state in the dispatcher (in-flight limit,
// backoff, catch-up) and one attempts and recover listing, like an
// endpoint, while the records stay per message. Derived, never stored
// apart: the leader stamps it into the message (Destination.ID).
func DestinationID(appID, rawURL string) string {
	origin := rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		scheme := strings.ToLower(u.Scheme)
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[scheme]
		}
		origin = scheme + "://" + net.JoinHostPort(strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port)
	}
	sum := sha256.Sum256([]byte("herald/destination\x00" + appID + "\x00" + origin))
	return PrefixDestination + deliveryIDEncoding.EncodeToString(sum[:16])
}

// IsDestination reports whether id names a one-off destination rather
// than an endpoint.
func IsDestination(id string) bool { return strings.HasPrefix(id, PrefixDestination) }
