package storage

import (
	"bytes"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// AppDestinations counts the deliveries (Svix's "message destinations") of
// an application's messages created in [sinceNs, untilNs).
func (r *Reader) AppDestinations(appID string, sinceNs, untilNs int64) (int, error) {
	prefix := messagePrefix(appID)
	from := append(bytes.Clone(prefix), boundID(PrefixMessage, time.Unix(0, sinceNs), false)...)
	var ids []string
	err := r.scanFrom(prefix, from, func(k []byte) bool {
		id := string(k[len(prefix):])
		if t, ok := IDTime(id); ok && t.UnixNano() >= untilNs {
			return false
		}
		ids = append(ids, id)
		return true
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := r.scanFrom(deliveryPrefix(appID, id), deliveryPrefix(appID, id), func([]byte) bool { n++; return true })
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// EndpointSubscriptions returns the event types that an application's
// enabled endpoints name in their filters, sorted, and whether one of them
// has no filter (it takes every type).
func (r *Reader) EndpointSubscriptions(appID string) (types []string, catchAll bool, err error) {
	err = r.scan(endpointPrefix(appID), false, func(_, v []byte) (bool, error) {
		var ep Endpoint
		if err := decodeInto(v, ep.Decode); err != nil {
			return false, err
		}
		if ep.Disabled {
			return true, nil
		}
		if len(ep.FilterTypes) == 0 {
			catchAll = true
		}
		types = append(types, ep.FilterTypes...)
		return true, nil
	})
	slices.Sort(types)
	return slices.Compact(types), catchAll, err
}

// scanFrom calls fn with each key under prefix from from on, keys only,
// until fn returns false.
func (r *Reader) scanFrom(prefix, from []byte, fn func(k []byte) bool) error {
	it := r.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(from); it.Valid(); it.Next() {
		if !fn(it.Item().Key()) {
			return nil
		}
	}
	return nil
}
