package storage

import "time"

// ReplayMissing sends an endpoint, due at dueMs, the messages of its
// application created in [sinceNs, untilNs) that it never got: no delivery
// to it exists (it did not subscribe to their type then, was created after
// them, or was disabled), and it would receive them now. Messages it did
// get are left alone, whatever became of them: that is Svix's
// replay-missing. Like Recover it looks at most at limit messages after
// after (from sinceNs when empty) and returns the last one looked at, ""
// once the range is done.
func (tx *Tx) ReplayMissing(appID, epID string, sinceNs, untilNs int64, after string, limit int, dueMs int64) (queued int, cursor string) {
	ep, err := tx.getEndpoint(appID, epID)
	if err != nil {
		return 0, ""
	}
	prefix := messagePrefix(appID)
	from := append(messagePrefix(appID), boundID(PrefixMessage, time.Unix(0, sinceNs), false)...)
	if after != "" {
		from = append(messageKey(appID, after), 0)
	}
	// Keys first: most messages of a range usually went to the endpoint,
	// and their payloads need not be read at all inside the apply.
	ids, done := tx.idsUntil(prefix, from, untilNs, limit)
	read := 0
	for i, id := range ids {
		if tx.exists(deliveryKey(appID, id, epID)) {
			continue
		}
		var m Message
		if tx.get(messageKey(appID, id), func(v []byte) error { read += len(v); return decodeInto(v, m.Decode) }) != nil {
			continue
		}
		if m.Timestamp >= sinceNs && ep.Matches(&m) {
			tx.addDelivery(&m, &ep, tx.appPolicy(appID), dueMs*1e6, TriggerManual)
			queued++
		}
		// One entry reads a bounded amount of payload on every node: the
		// rest of the chunk goes in the next entry.
		if read >= replayBytesPerEntry && i < len(ids)-1 {
			return queued, id
		}
	}
	if done || len(ids) == 0 {
		return queued, ""
	}
	return queued, ids[len(ids)-1]
}

// replayBytesPerEntry bounds the message bytes one ReplayMissing entry
// decodes, so a range of large payloads does not hold the FSM for long.
const replayBytesPerEntry = 4 << 20
