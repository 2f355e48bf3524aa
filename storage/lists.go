package storage

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ListApps returns a page of applications in id (creation) order; the
// hidden one of the operational webhooks is not listed.
func (r *Reader) ListApps(opts ListOptions) (Page[App], error) {
	p, err := listPage(r, []byte(pApp), PrefixApp, opts, func(id string, v []byte) (App, bool, error) {
		if id == OpsAppID {
			return App{}, false, nil
		}
		var a App
		err := decodeInto(v, a.Decode)
		return a, err == nil, err
	})
	// A cursor on the hidden application (the last one looked at) is
	// moved to its visible neighbour on the same side, which pages the
	// same since the hidden one is skipped anyway: its id is not shown.
	if p.Iterator == OpsAppID {
		p.Iterator = ""
		if n := len(p.Items); n > 0 {
			p.Iterator = p.Items[n-1].ID
		}
	}
	if p.PrevIterator == "-"+OpsAppID {
		p.PrevIterator = ""
		if len(p.Items) > 0 {
			p.PrevIterator = "-" + p.Items[0].ID
		}
	}
	return p, err
}

// ListEndpoints returns a page of an app's endpoints in id order.
func (r *Reader) ListEndpoints(appID string, opts ListOptions) (Page[Endpoint], error) {
	return listPage(r, endpointPrefix(appID), PrefixEndpoint, opts, func(_ string, v []byte) (Endpoint, bool, error) {
		var ep Endpoint
		err := decodeInto(v, ep.Decode)
		return ep, err == nil, err
	})
}

// ListEventTypes returns a page of event types in name order.
func (r *Reader) ListEventTypes(opts ListOptions, includeArchived bool) (Page[EventType], error) {
	return r.ListVisibleEventTypes(opts, includeArchived, nil)
}

// ListVisibleEventTypes is ListEventTypes with only the types visible
// reports true for (nil: all), so pages and iterators name nothing else.
func (r *Reader) ListVisibleEventTypes(opts ListOptions, includeArchived bool, visible func(*EventType) bool) (Page[EventType], error) {
	hidden := map[string]bool{}
	p, err := listPage(r, []byte(pEventType), "", opts, func(name string, v []byte) (EventType, bool, error) {
		var t EventType
		if err := decodeInto(v, t.Decode); err != nil {
			return t, false, err
		}
		seen := visible == nil || visible(&t)
		if !seen {
			hidden[name] = true
		}
		return t, (includeArchived || !t.Archived) && seen, nil
	})
	// The cursors name the last type scanned, which may be one the caller
	// must not learn of: point them at the nearest type it was shown.
	// A page that showed nothing keeps the cursor it was asked with.
	n := len(p.Items)
	if hidden[p.Iterator] {
		if n > 0 {
			p.Iterator = p.Items[n-1].Name
		} else {
			p.Iterator = strings.TrimPrefix(opts.Iterator, "-")
		}
	}
	if hidden[strings.TrimPrefix(p.PrevIterator, "-")] {
		if n > 0 {
			p.PrevIterator = "-" + p.Items[0].Name
		} else if c := strings.TrimPrefix(opts.Iterator, "-"); c != "" {
			p.PrevIterator = "-" + c
		} else {
			p.PrevIterator = ""
		}
	}
	return p, err
}

// MessageFilter narrows a message list.
type MessageFilter struct {
	EventTypes []string // any of these; empty = all
	Channel    string
	Tag        string
}

func (f MessageFilter) empty() bool { return len(f.EventTypes) == 0 && f.Channel == "" && f.Tag == "" }

func (f MessageFilter) match(m *Message) bool {
	if len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, m.EventType) {
		return false
	}
	if f.Channel != "" && !slices.Contains(m.Channels, f.Channel) {
		return false
	}
	if f.Tag != "" && !slices.Contains(m.Tags, f.Tag) {
		return false
	}
	return true
}

// ListMessages returns a page of an app's messages in id (creation) order,
// newest first with opts.Descending (the API's default).
func (r *Reader) ListMessages(appID string, f MessageFilter, opts ListOptions) (Page[Message], error) {
	return listPage(r, messagePrefix(appID), PrefixMessage, opts, func(_ string, v []byte) (Message, bool, error) {
		var m Message
		if err := decodeInto(v, m.Decode); err != nil {
			return m, false, err
		}
		m.Payload = bytes.Clone(m.Payload)
		return m, f.match(&m), nil
	})
}

// AttemptFilter narrows an attempt list.
type AttemptFilter struct {
	EndpointID string
	Status     *Status
	// StatusClass is the hundreds digit of the response code (2 for 2xx);
	// 0 = any, and -1 selects attempts that got no response.
	StatusClass int
	// Message narrows by the attempted message's event type, channel, tag.
	Message MessageFilter
}

func (f AttemptFilter) match(at *Attempt) bool {
	if f.EndpointID != "" && at.EndpointID != f.EndpointID {
		return false
	}
	if f.Status != nil && at.Status != *f.Status {
		return false
	}
	switch {
	case f.StatusClass == -1 && at.StatusCode != 0:
		return false
	case f.StatusClass > 0 && at.StatusCode/100 != f.StatusClass:
		return false
	}
	return true
}

// ListAttemptsByMessage returns a page of a message's attempts, newest first.
func (r *Reader) ListAttemptsByMessage(appID, msgID string, f AttemptFilter, opts ListOptions) (Page[Attempt], error) {
	if !f.Message.empty() {
		m, err := r.Message(appID, msgID)
		if err != nil || !f.Message.match(&m) {
			return Page[Attempt]{Done: true}, err
		}
	}
	return listPage(r, attemptPrefix(appID, msgID), PrefixAttempt, opts, func(_ string, v []byte) (Attempt, bool, error) {
		var at Attempt
		if err := decodeInto(v, at.Decode); err != nil {
			return at, false, err
		}
		return at, f.match(&at), nil
	})
}

// ListAttemptsByEndpoint returns a page of an endpoint's attempts, newest
// first.
func (r *Reader) ListAttemptsByEndpoint(appID, epID string, f AttemptFilter, opts ListOptions) (Page[Attempt], error) {
	matches := r.messageMatcher(appID, f.Message)
	return listPage(r, epAttemptPrefix(appID, epID), PrefixAttempt, opts, func(attID string, v []byte) (Attempt, bool, error) {
		at, err := r.Attempt(appID, string(v), attID)
		if err == ErrNotFound {
			return at, false, nil
		}
		if err != nil {
			return at, false, err
		}
		if !f.match(&at) {
			return at, false, nil
		}
		ok, err := matches(at.MsgID)
		return at, ok, err
	})
}

// messageMatcher returns a check of message ids against f, reading each
// message once.
func (r *Reader) messageMatcher(appID string, f MessageFilter) func(msgID string) (bool, error) {
	if f.empty() {
		return func(string) (bool, error) { return true, nil }
	}
	seen := map[string]bool{}
	return func(msgID string) (bool, error) {
		if ok, done := seen[msgID]; done {
			return ok, nil
		}
		m, err := r.Message(appID, msgID)
		if err != nil && err != ErrNotFound {
			return false, err
		}
		ok := err == nil && f.match(&m)
		seen[msgID] = ok
		return ok, nil
	}
}

// EndpointMessage is a message as one endpoint sees it: with its delivery.
type EndpointMessage struct {
	Message  Message
	Delivery Delivery
}

// ListEndpointMessages returns a page of the messages sent (or to be sent)
// to an endpoint, newest first, with their delivery state.
func (r *Reader) ListEndpointMessages(appID, epID string, status *Status, mf MessageFilter, opts ListOptions) (Page[EndpointMessage], error) {
	return listPage(r, epMsgPrefix(appID, epID), PrefixMessage, opts, func(msgID string, _ []byte) (EndpointMessage, bool, error) {
		var em EndpointMessage
		var err error
		if em.Delivery, err = r.Delivery(appID, msgID, epID); err == ErrNotFound {
			return em, false, nil
		} else if err != nil {
			return em, false, err
		}
		if status != nil && em.Delivery.Status != *status {
			return em, false, nil
		}
		if em.Message, err = r.Message(appID, msgID); err == ErrNotFound {
			return em, false, nil
		}
		return em, err == nil && mf.match(&em.Message), err
	})
}

// ListAppDeliveries returns a page of an application's deliveries, across
// its endpoints, with their messages: newest message first, and a
// message's endpoints in id order (reversed when paging backwards). The
// page's iterator is "<msgID>/<endpointID>". It walks the delivery
// records, which sort by message id, so with a status or message filter a
// page may hold fewer than the limit and still not be done: like every
// filtered list, one call examines at most maxScan records and the
// iterator continues after the last one examined.
func (r *Reader) ListAppDeliveries(appID string, status *Status, mf MessageFilter, opts ListOptions) (Page[EndpointMessage], error) {
	var (
		last    Message // deliveries of one message are neighbours: read it once
		lastErr error
	)
	return listPage(r, key(pDelivery+appID, ""), PrefixMessage, opts, func(_ string, v []byte) (EndpointMessage, bool, error) {
		var em EndpointMessage
		if err := decodeInto(v, em.Delivery.Decode); err != nil {
			return em, false, err
		}
		if status != nil && em.Delivery.Status != *status {
			return em, false, nil
		}
		if last.ID != em.Delivery.MsgID || lastErr != nil {
			last, lastErr = r.Message(appID, em.Delivery.MsgID)
		}
		switch {
		case lastErr == ErrNotFound:
			return em, false, nil
		case lastErr != nil:
			return em, false, lastErr
		}
		em.Message = last
		return em, mf.match(&em.Message), nil
	})
}

// MessageDeliveries returns a page of a message's deliveries, one per
// endpoint, in endpoint id order.
func (r *Reader) MessageDeliveries(appID, msgID string, opts ListOptions) (Page[Delivery], error) {
	return listPage(r, deliveryPrefix(appID, msgID), PrefixEndpoint, ListOptions{Limit: opts.Limit, Iterator: opts.Iterator},
		func(_ string, v []byte) (Delivery, bool, error) {
			var dl Delivery
			err := decodeInto(v, dl.Decode)
			return dl, err == nil, err
		})
}

// CountEndpoints counts an application's endpoints (keys only).
func (r *Reader) CountEndpoints(appID string) int {
	n := 0
	prefix := endpointPrefix(appID)
	it := r.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.Valid(); it.Next() {
		n++
	}
	return n
}

// EndpointStats counts an endpoint's deliveries of messages created in
// [since, until) by status (indexed by Status), newest first, looking at
// no more than limit of them; truncated reports that the limit was hit.
// Keys are message ids, which sort by creation time, so the walk touches
// only the range asked for.
func (r *Reader) EndpointStats(appID, epID string, since, until time.Time, limit int) (counts [5]int, truncated bool, err error) {
	prefix := epMsgPrefix(appID, epID)
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.Reverse = true
	opts.PrefetchValues = false
	it := r.txn.NewIterator(opts)
	defer it.Close()
	low := string(epMsgKey(appID, epID, boundID(PrefixMessage, since, false)))
	seen := 0
	for it.Seek(epMsgKey(appID, epID, boundID(PrefixMessage, until, true))); it.Valid(); it.Next() {
		k := it.Item().Key()
		if string(k) < low {
			break
		}
		if seen++; seen > limit {
			return counts, true, nil
		}
		dl, err := r.Delivery(appID, string(k[len(prefix):]), epID)
		if err == ErrNotFound {
			continue
		} else if err != nil {
			return counts, false, err
		}
		if int(dl.Status) < len(counts) {
			counts[dl.Status]++
		}
	}
	return counts, false, nil
}
