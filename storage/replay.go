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
	var msgs []Message
	done := true
	_ = tx.iterateFrom(prefix, from, false, func(k, v []byte) error {
		id := string(k[len(prefix):])
		if t, ok := IDTime(id); ok && t.UnixNano() >= untilNs {
			return errStop
		}
		if len(msgs) == limit {
			done = false
			return errStop
		}
		var m Message
		if err := decodeInto(v, m.Decode); err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	})
	for i := range msgs {
		m := &msgs[i]
		if m.Timestamp < sinceNs || tx.exists(deliveryKey(appID, m.ID, epID)) || !ep.Matches(m) {
			continue
		}
		tx.addDelivery(m, &ep, tx.appPolicy(appID), dueMs*1e6, TriggerManual)
		queued++
	}
	if done || len(msgs) == 0 {
		return queued, ""
	}
	return queued, msgs[len(msgs)-1].ID
}
