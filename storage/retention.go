package storage

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"
)

// Retention: what is stored ends. A payload is dropped at the time the
// leader stamped on its message when it was created (NewMessage's
// PayloadExpiresMs; the pexp/ index orders them by that time); a message
// with its deliveries and attempts and their index keys is removed once it
// is older than the record retention. Both run as replicated commands
// carrying the leader's time, and neither touches a message that still has
// a delivery pending: its payload is needed to send it.

// payloadExpiryKey is pexp/<at ms 8B>/<appID>/<msgID>.
func payloadExpiryKey(atMs int64, appID, msgID string) []byte {
	b := make([]byte, 0, len(pPayloadExp)+8+2+len(appID)+len(msgID))
	b = append(b, pPayloadExp...)
	b = binary.BigEndian.AppendUint64(b, uint64(atMs))
	b = append(b, '/')
	b = append(b, appID...)
	b = append(b, '/')
	b = append(b, msgID...)
	return b
}

func parsePayloadExpiryKey(k []byte) (atMs int64, appID, msgID string, ok bool) {
	rest, found := bytes.CutPrefix(k, []byte(pPayloadExp))
	if !found || len(rest) < 10 || rest[8] != '/' {
		return 0, "", "", false
	}
	app, msg, found := bytes.Cut(rest[9:], []byte{'/'})
	if !found {
		return 0, "", "", false
	}
	return int64(binary.BigEndian.Uint64(rest[:8])), string(app), string(msg), true
}

// pendingRecheck is how long a payload due to expire waits when its message
// still has a delivery pending.
const pendingRecheckMs = int64(time.Hour / time.Millisecond)

// ExpirePayloads drops the payloads due at or before nowMs, at most limit
// index entries, and returns how many entries it handled. A message still
// pending somewhere keeps its payload and is looked at again an hour later.
// It reads with one iterator and point lookups only: an iterator in the
// FSM's write transaction sorts the batch's pending writes each time one
// is made.
func (tx *Tx) ExpirePayloads(nowMs int64, limit int) int {
	type entry struct{ k, v []byte }
	var due []entry
	_ = tx.iterate([]byte(pPayloadExp), false, func(k, v []byte) error {
		at, _, _, ok := parsePayloadExpiryKey(k)
		if !ok || at > nowMs || len(due) >= limit {
			return errStop
		}
		due = append(due, entry{k, v})
		return nil
	})
	for _, e := range due {
		tx.del(e.k)
		_, appID, msgID, _ := parsePayloadExpiryKey(e.k)
		var eps []string
		_ = decodeInto(e.v, func(d *Decoder) { eps = d.Strings() })
		if tx.anyPending(appID, msgID, eps) {
			tx.set(payloadExpiryKey(nowMs+pendingRecheckMs, appID, msgID), e.v)
			continue
		}
		tx.dropPayload(appID, msgID)
	}
	return len(due)
}

// anyPending reports whether the message's delivery to one of eps is
// still to be attempted.
func (tx *Tx) anyPending(appID, msgID string, eps []string) bool {
	for _, ep := range eps {
		var dl Delivery
		if tx.get(deliveryKey(appID, msgID, ep), func(v []byte) error { return decodeInto(v, dl.Decode) }) == nil && dl.pending() {
			return true
		}
	}
	return false
}

func (dl *Delivery) pending() bool { return dl.Status == StatusPending || dl.Status == StatusSending }

// A purged message's pexp/ entry is left to come due: dropping the payload
// of a message that is gone only deletes the entry.

// dropPayload rewrites a message without its payload; a missing message or
// an empty payload is left as it is.
func (tx *Tx) dropPayload(appID, msgID string) bool {
	var m Message
	err := tx.get(messageKey(appID, msgID), func(v []byte) error { return decodeInto(v, m.Decode) })
	if err != nil || len(m.Payload) == 0 {
		return false
	}
	m.Payload = nil
	tx.set(messageKey(appID, msgID), encode(m.Encode))
	return true
}

// ExpungeContent drops a message's payload now (Svix's expunge): on every
// node, since it is a replicated command.
func (tx *Tx) ExpungeContent(appID, msgID string) error {
	if !tx.exists(messageKey(appID, msgID)) {
		return ErrNotFound
	}
	tx.dropPayload(appID, msgID)
	return nil
}

// ExpungeAttemptContent drops what the receiver answered to one attempt:
// its response body and headers (the receiver's content, which may carry
// personal data; the request headers are Herald's own and stay).
func (tx *Tx) ExpungeAttemptContent(appID, msgID, attemptID string) error {
	k := attemptKey(appID, msgID, attemptID)
	var a Attempt
	if err := tx.get(k, func(v []byte) error { return decodeInto(v, a.Decode) }); err != nil {
		return ErrNotFound
	}
	if len(a.Response) > 0 || len(a.ResponseHeaders) > 0 {
		a.Response, a.ResponseHeaders = nil, nil
		tx.set(k, encode(a.Encode))
	}
	return nil
}

// PurgeMessages removes messages created before beforeNs, with their
// deliveries, attempts and index keys, visiting applications in id order
// from the one after afterApp (from the first when empty). It stops after
// limit messages and returns how many it removed and the application to
// continue after. The purge is through when it removed fewer than limit
// and the cursor is "". Messages with a delivery pending are kept.
func (tx *Tx) PurgeMessages(beforeNs int64, afterApp string, limit int) (removed int, cursor string) {
	var apps []string
	from := []byte(pApp)
	if afterApp != "" {
		from = append(appKey(afterApp), 0)
	}
	_ = tx.iterateFrom([]byte(pApp), from, true, func(k, _ []byte) error {
		apps = append(apps, string(k[len(pApp):]))
		if len(apps) >= purgeAppsPerRound {
			return errStop
		}
		return nil
	})
	upper := boundID(PrefixMessage, time.Unix(0, beforeNs), false)
	prev := afterApp
	for _, appID := range apps {
		// Messages still pending are stepped over; a few times the limit
		// of them is looked at before the round ends.
		var old []string
		prefix := messagePrefix(appID)
		_ = tx.iterate(prefix, true, func(k, _ []byte) error {
			id := string(k[len(prefix):])
			if id >= upper || len(old) >= purgeScanFactor*limit {
				return errStop
			}
			old = append(old, id)
			return nil
		})
		if len(old) == 0 {
			prev = appID
			continue
		}
		// Ids sort by time, and delivery and attempt keys by message id
		// first: one pass over each covers every old message.
		last := old[len(old)-1]
		dls := map[string][]string{} // msg -> endpoints
		pending := map[string]bool{}
		dlPrefix := key(pDelivery+appID, "")
		_ = tx.iterateFrom(dlPrefix, deliveryPrefix(appID, old[0]), false, func(k, v []byte) error {
			msg, ep, ok := strings.Cut(string(k[len(dlPrefix):]), "/")
			if !ok || msg > last {
				return errStop
			}
			dls[msg] = append(dls[msg], ep)
			var dl Delivery
			if decodeInto(v, dl.Decode) != nil || dl.pending() {
				pending[msg] = true
			}
			return nil
		})
		atts := map[string][][2]string{} // msg -> (attempt, endpoint)
		attPrefix := key(pAttempt+appID, "")
		_ = tx.iterateFrom(attPrefix, attemptPrefix(appID, old[0]), false, func(k, v []byte) error {
			msg, att, ok := strings.Cut(string(k[len(attPrefix):]), "/")
			if !ok || msg > last {
				return errStop
			}
			var a Attempt
			_ = decodeInto(v, a.Decode)
			atts[msg] = append(atts[msg], [2]string{att, a.EndpointID})
			return nil
		})
		for _, msgID := range old {
			if removed >= limit {
				// More of this application next time: continue after
				// the one before it.
				return removed, prev
			}
			if pending[msgID] {
				continue
			}
			tx.deleteMessage(appID, msgID, dls[msgID], atts[msgID])
			removed++
		}
		prev = appID
	}
	if len(apps) >= purgeAppsPerRound {
		return removed, prev
	}
	return removed, ""
}

// purgeScanFactor bounds, as a multiple of the limit, the old messages one
// purge looks at in an application.
const purgeScanFactor = 4

// purgeAppsPerRound bounds the applications one purge command visits.
const purgeAppsPerRound = 256

// deleteMessage removes a message and everything stored about it: its
// deliveries (to eps) and attempts (id, endpoint) with their index keys.
func (tx *Tx) deleteMessage(appID, msgID string, eps []string, atts [][2]string) {
	var eventID string
	if err := tx.get(messageKey(appID, msgID), func(v []byte) error {
		var m Message
		err := decodeInto(v, m.Decode)
		eventID = m.EventID
		return err
	}); err == nil && eventID != "" {
		if owner, ok := tx.lookup(eventIDKey(appID, eventID)); ok && owner == msgID {
			tx.del(eventIDKey(appID, eventID))
		}
	}
	for _, ep := range eps {
		tx.del(deliveryKey(appID, msgID, ep))
		tx.del(epMsgKey(appID, ep, msgID))
	}
	for _, a := range atts {
		tx.del(attemptKey(appID, msgID, a[0]))
		tx.del(epAttemptKey(appID, a[1], a[0]))
	}
	tx.del(messageKey(appID, msgID))
}

// RetentionStats is what the retention purge has left: for /metrics.
type RetentionStats struct {
	// OldestMessage is the creation time of the oldest message stored
	// (zero when there is none).
	OldestMessage time.Time
}

// RetentionStats finds the oldest message: the first of each application
// (ids sort by time), at most maxApps applications looked at.
func (r *Reader) RetentionStats(maxApps int) RetentionStats {
	var st RetentionStats
	var apps []string
	_ = r.scan([]byte(pApp), false, func(k, _ []byte) (bool, error) {
		apps = append(apps, string(k[len(pApp):]))
		return len(apps) < maxApps, nil
	})
	for _, appID := range apps {
		prefix := messagePrefix(appID)
		_ = r.scan(prefix, false, func(k, _ []byte) (bool, error) {
			if t, ok := IDTime(string(k[len(prefix):])); ok && (st.OldestMessage.IsZero() || t.Before(st.OldestMessage)) {
				st.OldestMessage = t
			}
			return false, nil
		})
	}
	return st
}
