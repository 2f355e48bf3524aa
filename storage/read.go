package storage

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Reader is a consistent read-only view of the state (see Store.View).
type Reader struct {
	txn *badger.Txn
}

func (r *Reader) get(k []byte, fn func(v []byte) error) error {
	item, err := r.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if fn == nil {
		return nil
	}
	return item.Value(fn)
}

func (r *Reader) lookup(k []byte) (string, error) {
	var id string
	err := r.get(k, func(v []byte) error { id = string(v); return nil })
	return id, err
}

// App returns an application by id or uid.
func (r *Reader) App(idOrUID string) (App, error) {
	var a App
	decode := func(v []byte) error { return decodeInto(v, a.Decode) }
	// Ids are tried first, with one read; only a miss costs the uid lookup.
	if strings.HasPrefix(idOrUID, PrefixApp) {
		if err := r.get(appKey(idOrUID), decode); err != ErrNotFound {
			return a, err
		}
	}
	id, err := r.lookup(appUIDKey(idOrUID))
	if err != nil {
		return a, err
	}
	return a, r.get(appKey(id), decode)
}

// Endpoint returns an endpoint of an app by id or uid.
func (r *Reader) Endpoint(appID, idOrUID string) (Endpoint, error) {
	var ep Endpoint
	decode := func(v []byte) error { return decodeInto(v, ep.Decode) }
	if strings.HasPrefix(idOrUID, PrefixEndpoint) {
		if err := r.get(endpointKey(appID, idOrUID), decode); err != ErrNotFound {
			return ep, err
		}
	}
	id, err := r.lookup(epUIDKey(appID, idOrUID))
	if err != nil {
		return ep, err
	}
	return ep, r.get(endpointKey(appID, id), decode)
}

// EventType returns an event type by name.
func (r *Reader) EventType(name string) (EventType, error) {
	var t EventType
	err := r.get(eventTypeKey(name), func(v []byte) error { return decodeInto(v, t.Decode) })
	return t, err
}

// Message returns a message of an app by id, or by event id when idOrEventID
// is not a message id (Svix accepts both).
func (r *Reader) Message(appID, idOrEventID string) (Message, error) {
	var m Message
	decode := func(v []byte) error {
		if err := decodeInto(v, m.Decode); err != nil {
			return err
		}
		m.Payload = bytes.Clone(m.Payload)
		return nil
	}
	if strings.HasPrefix(idOrEventID, PrefixMessage) {
		if err := r.get(messageKey(appID, idOrEventID), decode); err != ErrNotFound {
			return m, err
		}
	}
	id, err := r.lookup(eventIDKey(appID, idOrEventID))
	if err != nil {
		return m, err
	}
	return m, r.get(messageKey(appID, id), decode)
}

// Delivery returns the state of a message towards one endpoint.
func (r *Reader) Delivery(appID, msgID, epID string) (Delivery, error) {
	var dl Delivery
	err := r.get(deliveryKey(appID, msgID, epID), func(v []byte) error { return decodeInto(v, dl.Decode) })
	return dl, err
}

// Attempt returns one attempt of a message.
func (r *Reader) Attempt(appID, msgID, attID string) (Attempt, error) {
	var at Attempt
	err := r.get(attemptKey(appID, msgID, attID), func(v []byte) error { return decodeInto(v, at.Decode) })
	return at, err
}

// AdminHash returns the hash of the generated admin token, or nil.
func (r *Reader) AdminHash() []byte {
	var h []byte
	_ = r.get([]byte(pAdminHash), func(v []byte) error { h = bytes.Clone(v); return nil })
	return h
}

// Idempotent returns a stored response for an idempotency key hash.
func (r *Reader) Idempotent(hash []byte) (IdempotentResponse, bool) {
	var resp IdempotentResponse
	err := r.get(idemKey(hash), func(v []byte) error { return decodeInto(v, resp.Decode) })
	return resp, err == nil
}

// AppToken returns the application-scoped token with the given hash.
func (r *Reader) AppToken(hash []byte) (AppToken, error) {
	var t AppToken
	err := r.get(tokenKey(hash), func(v []byte) error { return decodeInto(v, t.Decode) })
	return t, err
}

// Nodes returns the cluster registry.
func (r *Reader) Nodes() ([]Node, error) {
	var nodes []Node
	err := r.scan([]byte(pNode), false, func(_, v []byte) (bool, error) {
		var n Node
		if err := decodeInto(v, n.Decode); err != nil {
			return false, err
		}
		nodes = append(nodes, n)
		return true, nil
	})
	return nodes, err
}

// Removed reports whether the node with id was removed and may not re-join.
func (r *Reader) Removed(id string) bool {
	return r.get(removedKey(id), nil) == nil
}

// RemovedNodes returns the tombstones of removed nodes, by id.
func (r *Reader) RemovedNodes() ([]RemovedNode, error) {
	var out []RemovedNode
	err := r.scan([]byte(pRemoved), false, func(_, v []byte) (bool, error) {
		var n RemovedNode
		if err := decodeInto(v, n.Decode); err != nil {
			return false, err
		}
		out = append(out, n)
		return true, nil
	})
	return out, err
}

// scan calls fn for each key with prefix in order until fn returns false.
func (r *Reader) scan(prefix []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.Reverse = reverse
	it := r.txn.NewIterator(opts)
	defer it.Close()
	start := prefix
	if reverse {
		start = append(bytes.Clone(prefix), 0xff)
	}
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		var more bool
		err := item.Value(func(v []byte) error {
			var err error
			more, err = fn(item.Key(), v)
			return err
		})
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// ScheduleEntry is one pending attempt read from the schedule index.
type ScheduleEntry struct {
	Key ScheduleKey
	Due Due
}

// DueEntries returns up to limit schedule entries due at or before uptoMs,
// starting at the key from (inclusive; nil = the start), in due order, and
// the due time of the first entry past uptoMs (0 when there is none or the
// limit was reached first).
func (r *Reader) DueEntries(from []byte, uptoMs int64, limit int) (entries []ScheduleEntry, nextMs int64, err error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(pSchedule)
	// The values are a few bytes, always in the tree: Badger's prefetch
	// would start a goroutine per key to copy each, and the scheduler
	// waited for them to be scheduled (on a busy node, most of its time).
	opts.PrefetchValues = false
	it := r.txn.NewIterator(opts)
	defer it.Close()
	end := scheduleUpTo(uptoMs)
	if from == nil {
		from = []byte(pSchedule)
	}
	for it.Seek(from); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if bytes.Compare(k, end) >= 0 {
			sk, err := ParseScheduleKey(k)
			if err != nil {
				return nil, 0, err
			}
			return entries, sk.DueMs, nil
		}
		if len(entries) >= limit {
			return entries, 0, nil
		}
		sk, err := ParseScheduleKey(k)
		if err != nil {
			return nil, 0, err
		}
		e := ScheduleEntry{Key: sk}
		if err := item.Value(func(v []byte) error { return decodeInto(v, e.Due.Decode) }); err != nil {
			return nil, 0, err
		}
		entries = append(entries, e)
	}
	return entries, 0, nil
}

// ScheduleLen counts pending attempts (for metrics and tests); it walks keys
// only.
func (r *Reader) ScheduleLen() int {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(pSchedule)
	opts.PrefetchValues = false
	it := r.txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Seek(opts.Prefix); it.Valid(); it.Next() {
		n++
	}
	return n
}

// ListOptions selects one page of a list.
type ListOptions struct {
	Limit    int
	Iterator string // continue after this id; "-" + id pages backwards
	// Descending lists newest first (messages and attempts do by default).
	Descending bool
	Before     time.Time // only ids created before, zero = no bound
	After      time.Time // only ids created after, zero = no bound
}

// Page is one page of a list, in Svix's iterator terms.
type Page[T any] struct {
	Items        []T
	Iterator     string
	PrevIterator string
	Done         bool
}

// maxScan bounds the keys one filtered list call examines, so a filter that
// matches nothing cannot make a request walk a whole table.
const maxScan = 20000

// listPage walks the ids stored under prefix (keys prefix+id) in the order
// opts asks, starting after the iterator, and collects up to opts.Limit
// items that visit accepts.
func listPage[T any](r *Reader, prefix []byte, idPrefix string, opts ListOptions,
	visit func(id string, v []byte) (T, bool, error)) (Page[T], error) {
	var p Page[T]
	limit := opts.Limit
	if limit <= 0 {
		limit = 50
	}
	reverse := opts.Descending
	cursor := opts.Iterator
	backwards := strings.HasPrefix(cursor, "-")
	// Svix: a newest-first list asked for items after a time, with no
	// iterator, returns the items right after that time (as if paging back
	// from it), still newest first.
	if opts.Descending && !opts.After.IsZero() && cursor == "" {
		cursor = "-"
		backwards = true
	}
	if backwards {
		cursor = cursor[1:]
		reverse = !reverse
	}
	it := r.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: reverse, PrefetchValues: true, PrefetchSize: min(limit+1, 100)})
	defer it.Close()

	start := bytes.Clone(prefix)
	if reverse {
		start = append(start, 0xff)
	}
	// Time bounds become seeks on the time-ordered ids where they narrow
	// the start, and stop conditions on the other side.
	if idPrefix != "" {
		if !opts.After.IsZero() && !reverse {
			start = append(bytes.Clone(prefix), boundID(idPrefix, opts.After, false)...)
		}
		// Ids carry whole seconds: seek past every id of Before's second
		// and let the check below drop those not before it.
		if !opts.Before.IsZero() && reverse {
			start = append(bytes.Clone(prefix), boundID(idPrefix, opts.Before, true)...)
		}
	}
	if cursor != "" {
		c := append(bytes.Clone(prefix), cursor...)
		if (!reverse && bytes.Compare(c, start) > 0) || (reverse && bytes.Compare(c, start) < 0) {
			start = c
		}
	}
	scanned := 0
	last := ""
	var ids []string
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		id := string(item.Key()[len(prefix):])
		if id == cursor {
			continue
		}
		if idPrefix != "" && (!opts.Before.IsZero() || !opts.After.IsZero()) {
			// Composite ids ("<msgID>/<endpointID>") sort and date by their first part.
			tid, _, _ := strings.Cut(id, "/")
			if t, ok := IDTime(tid); ok {
				if !opts.Before.IsZero() && !t.Before(opts.Before) {
					if reverse {
						continue
					}
					p.Done = true
					break
				}
				if !opts.After.IsZero() && !t.After(opts.After) {
					if !reverse {
						continue
					}
					p.Done = true
					break
				}
			}
		}
		if len(p.Items) == limit || scanned == maxScan {
			break
		}
		scanned++
		last = id
		var (
			v   T
			ok  bool
			err error
		)
		if verr := item.Value(func(raw []byte) error {
			v, ok, err = visit(id, raw)
			return err
		}); verr != nil {
			return p, verr
		}
		if ok {
			p.Items = append(p.Items, v)
			ids = append(ids, id)
		}
	}
	if !it.Valid() {
		p.Done = true
	}
	if backwards {
		slices.Reverse(p.Items)
		slices.Reverse(ids)
		if len(ids) > 0 {
			p.Iterator = ids[len(ids)-1]
		}
		if last != "" {
			p.PrevIterator = "-" + last
		}
		return p, nil
	}
	p.Iterator = last
	if len(ids) > 0 {
		p.PrevIterator = "-" + ids[0]
	}
	return p, nil
}

// AnyEndpointMatches reports whether at least one of the application's
// endpoints would be sent m now (Svix's message precheck).
func (r *Reader) AnyEndpointMatches(appID string, m *Message) (bool, error) {
	found := false
	err := r.scan(endpointPrefix(appID), false, func(_, v []byte) (bool, error) {
		var ep Endpoint
		if err := decodeInto(v, ep.Decode); err != nil {
			return false, err
		}
		found = ep.Matches(m)
		return !found, nil
	})
	return found, err
}

// DestinationUsed reports whether a message of the app was sent (or is to
// be sent) to the one-off destination id: it has a delivery index entry,
// which is all a one-off destination has in place of an endpoint record.
func (r *Reader) DestinationUsed(appID, id string) bool {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = epMsgPrefix(appID, id)
	it := r.txn.NewIterator(opts)
	defer it.Close()
	it.Seek(opts.Prefix)
	return it.Valid()
}
