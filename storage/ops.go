package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"slices"
	"time"
)

// The operations below are what the FSM calls, one per command. They are
// deterministic: they read only the state and their arguments (times are
// stamped into the arguments by the leader), and they check before they
// write, so a business error leaves the state unchanged.

func encode(fn func(e *Encoder)) []byte {
	var e Encoder
	fn(&e)
	return e.Buf
}

func (tx *Tx) getApp(id string) (App, error) {
	var a App
	err := tx.get(appKey(id), func(v []byte) error { return decodeInto(v, a.Decode) })
	return a, err
}

func (tx *Tx) getEndpoint(appID, epID string) (Endpoint, error) {
	var ep Endpoint
	err := tx.get(endpointKey(appID, epID), func(v []byte) error { return decodeInto(v, ep.Decode) })
	return ep, err
}

func decodeInto(v []byte, fn func(d *Decoder)) error {
	d := NewDecoder(v)
	fn(d)
	return d.Finish()
}

func (tx *Tx) lookup(k []byte) (string, bool) {
	var id string
	err := tx.get(k, func(v []byte) error { id = string(v); return nil })
	return id, err == nil
}

// CreateApp stores a new application.
func (tx *Tx) CreateApp(a App) error {
	if tx.exists(appKey(a.ID)) {
		return ErrConflict
	}
	if a.UID != "" {
		if _, taken := tx.lookup(appUIDKey(a.UID)); taken {
			return ErrUIDTaken
		}
		tx.set(appUIDKey(a.UID), []byte(a.ID))
	}
	tx.set(appKey(a.ID), encode(a.Encode))
	return nil
}

// UpdateApp replaces an application, keeping its creation time and its
// signing secrets (which only SetAppSecret changes, so an update racing a
// rotation cannot undo it).
func (tx *Tx) UpdateApp(a App) error {
	old, err := tx.getApp(a.ID)
	if err != nil {
		return err
	}
	a.Secret, a.PrevSecrets = old.Secret, old.PrevSecrets
	if a.UID != old.UID {
		if a.UID != "" {
			if owner, taken := tx.lookup(appUIDKey(a.UID)); taken && owner != a.ID {
				return ErrUIDTaken
			}
			tx.set(appUIDKey(a.UID), []byte(a.ID))
		}
		if old.UID != "" {
			tx.del(appUIDKey(old.UID))
		}
	}
	a.CreatedAt = old.CreatedAt
	tx.set(appKey(a.ID), encode(a.Encode))
	return nil
}

// SetAppSecret gives an application a new signing secret (sealed) with the
// ones a rotation keeps signing (prev). With ifAbsent it only gives one to
// an application that has none, and leaves a secret made meanwhile alone:
// that is how applications made before apps had secrets get theirs.
func (tx *Tx) SetAppSecret(appID, secret string, prev []PrevSecret, ifAbsent bool, nowNs int64) error {
	a, err := tx.getApp(appID)
	if err != nil {
		return err
	}
	if ifAbsent && a.Secret != "" {
		return nil
	}
	a.Secret, a.PrevSecrets = secret, prev
	a.UpdatedAt = nowNs
	tx.set(appKey(a.ID), encode(a.Encode))
	return nil
}

// DeleteApp removes an application and its endpoints. Its messages and
// attempts become unreachable (every read goes through the application);
// pending deliveries are dropped by the dispatcher when it finds the
// endpoint gone.
func (tx *Tx) DeleteApp(id string) error {
	a, err := tx.getApp(id)
	if err != nil {
		return err
	}
	var eps []Endpoint
	if err := tx.iterate(endpointPrefix(id), false, func(_, v []byte) error {
		var ep Endpoint
		if err := decodeInto(v, ep.Decode); err != nil {
			return err
		}
		eps = append(eps, ep)
		return nil
	}); err != nil {
		return err
	}
	for _, ep := range eps {
		tx.deleteEndpoint(ep)
	}
	// Its tokens die with it.
	var tokens [][]byte
	_ = tx.iterate(appTokenPrefix(id), true, func(k, _ []byte) error { tokens = append(tokens, k); return nil })
	for _, k := range tokens {
		if h, err := hex.DecodeString(string(k[len(appTokenPrefix(id)):])); err == nil {
			tx.del(tokenKey(h))
		}
		tx.del(k)
	}
	if a.UID != "" {
		tx.del(appUIDKey(a.UID))
	}
	tx.del(appKey(id))
	return nil
}

// CreateEndpoint stores a new endpoint of an existing application. The
// first operational webhook endpoint (AppID OpsAppID) makes the hidden
// application it belongs to.
func (tx *Tx) CreateEndpoint(ep Endpoint) error {
	if ep.AppID != OpsAppID && !tx.exists(appKey(ep.AppID)) {
		return ErrNotFound
	}
	if tx.exists(endpointKey(ep.AppID, ep.ID)) {
		return ErrConflict
	}
	if ep.UID != "" {
		if _, taken := tx.lookup(epUIDKey(ep.AppID, ep.UID)); taken {
			return ErrUIDTaken
		}
	}
	if ep.AppID == OpsAppID {
		tx.ensureOpsApp(ep.CreatedAt)
	}
	if ep.UID != "" {
		tx.set(epUIDKey(ep.AppID, ep.UID), []byte(ep.ID))
	}
	tx.set(endpointKey(ep.AppID, ep.ID), encode(ep.Encode))
	tx.notifyEndpoint(EventEndpointCreated, &ep, ep.CreatedAt, "", 0)
	return nil
}

// UpdateEndpoint replaces an endpoint, keeping its creation time.
func (tx *Tx) UpdateEndpoint(ep Endpoint) error {
	old, err := tx.getEndpoint(ep.AppID, ep.ID)
	if err != nil {
		return err
	}
	if ep.UID != old.UID {
		if ep.UID != "" {
			if owner, taken := tx.lookup(epUIDKey(ep.AppID, ep.UID)); taken && owner != ep.ID {
				return ErrUIDTaken
			}
			tx.set(epUIDKey(ep.AppID, ep.UID), []byte(ep.ID))
		}
		if old.UID != "" {
			tx.del(epUIDKey(ep.AppID, old.UID))
		}
	}
	ep.CreatedAt = old.CreatedAt
	tx.set(endpointKey(ep.AppID, ep.ID), encode(ep.Encode))
	tx.noteEndpointUpdate(&old, &ep)
	return nil
}

// DeleteEndpoint removes an endpoint at nowNs (the leader's clock). Its
// pending deliveries are dropped when the dispatcher reaches them.
func (tx *Tx) DeleteEndpoint(appID, epID string, nowNs int64) error {
	ep, err := tx.getEndpoint(appID, epID)
	if err != nil {
		return err
	}
	tx.deleteEndpoint(ep)
	tx.notifyEndpoint(EventEndpointDeleted, &ep, nowNs, "", 0)
	return nil
}

func (tx *Tx) deleteEndpoint(ep Endpoint) {
	if ep.UID != "" {
		tx.del(epUIDKey(ep.AppID, ep.UID))
	}
	tx.del(endpointKey(ep.AppID, ep.ID))
	if tx.failing(ep.AppID, ep.ID).since != 0 {
		tx.setFailing(ep.AppID, ep.ID, failRun{})
	}
}

// CreateEventType stores a new event type, or unarchives an archived one
// (Svix's create semantics). An active one with the name is a conflict.
func (tx *Tx) CreateEventType(t EventType) error {
	var old EventType
	err := tx.get(eventTypeKey(t.Name), func(v []byte) error { return decodeInto(v, old.Decode) })
	switch {
	case err == nil && !old.Archived:
		return ErrConflict
	case err == nil:
		t.CreatedAt = old.CreatedAt
	case err != ErrNotFound:
		return err
	}
	tx.set(eventTypeKey(t.Name), encode(t.Encode))
	return nil
}

// PutEventType creates or replaces an event type; created reports which.
func (tx *Tx) PutEventType(t EventType) (created bool, err error) {
	var old EventType
	err = tx.get(eventTypeKey(t.Name), func(v []byte) error { return decodeInto(v, old.Decode) })
	switch {
	case err == nil:
		t.CreatedAt = old.CreatedAt
	case err == ErrNotFound:
		created = true
	default:
		return false, err
	}
	tx.set(eventTypeKey(t.Name), encode(t.Encode))
	return created, nil
}

// DeleteEventType archives an event type, or removes it when expunge is set.
func (tx *Tx) DeleteEventType(name string, expunge bool, now int64) error {
	var t EventType
	if err := tx.get(eventTypeKey(name), func(v []byte) error { return decodeInto(v, t.Decode) }); err != nil {
		return err
	}
	if expunge {
		tx.del(eventTypeKey(name))
		return nil
	}
	t.Archived = true
	t.UpdatedAt = now
	tx.set(eventTypeKey(name), encode(t.Encode))
	return nil
}

// NewMessage is a message to store together with how long its event id
// stays reserved (unix ms, stamped by the leader).
type NewMessage struct {
	Message
	EventIDExpiresMs int64
	// PayloadExpiresMs is when the payload is dropped (unix ms, stamped
	// by the leader from the message's or the server's retention); 0 =
	// kept until the message itself is purged.
	PayloadExpiresMs int64
}

// CreateMessage stores a message and fans it out: one delivery and one
// schedule key for every enabled endpoint of the app whose event-type and
// channel filters match. It returns the number of deliveries created, or
// ErrEventIDTaken with the id of the message that holds the event id.
//
// It may be re-applied on top of its own partial writes (see
// Batch.commitPartial): it recognises its own message id and rewrites the
// same keys.
func (tx *Tx) CreateMessage(nm NewMessage) (fanout int, existing string, err error) {
	m := &nm.Message
	if !tx.appExists(m.AppID) {
		return 0, "", ErrNotFound
	}
	if m.EventID != "" {
		if owner, taken := tx.lookup(eventIDKey(m.AppID, m.EventID)); taken && owner != m.ID {
			return 0, owner, ErrEventIDTaken
		}
	}
	eps, err := tx.matchingEndpoints(m)
	if err != nil {
		return 0, "", err
	}
	if m.Destination.ID != "" {
		// The one-off destination is delivered to like an endpoint that
		// sets no policy of its own: the app's applies.
		eps = append(eps, &Endpoint{ID: m.Destination.ID, AppID: m.AppID})
	}
	var appPolicy Policy
	if len(eps) > 0 {
		appPolicy = tx.appPolicy(m.AppID)
	}
	tx.set(messageKey(m.AppID, m.ID), encode(m.Encode))
	if m.EventID != "" {
		k := eventIDKey(m.AppID, m.EventID)
		tx.setExpiring(k, []byte(m.ID), nm.EventIDExpiresMs)
	}
	due := m.Timestamp
	if m.DeliverAt > due {
		due = m.DeliverAt
	}
	if nm.PayloadExpiresMs != 0 {
		// The endpoints let the expiry see whether a delivery is still
		// pending with point reads, not a scan.
		ids := make([]string, len(eps))
		for i, ep := range eps {
			ids[i] = ep.ID
		}
		tx.set(payloadExpiryKey(nm.PayloadExpiresMs, m.AppID, m.ID), encode(func(e *Encoder) { e.Strings(ids) }))
	}
	for _, ep := range eps {
		tx.addDelivery(m, ep, appPolicy, due, TriggerScheduled)
	}
	return len(eps), "", nil
}

// appPolicy returns an application's delivery policy, memoized for the
// batch (zero when the app cannot be read: its deliveries inherit the
// server default).
func (tx *Tx) appPolicy(id string) Policy {
	if p, ok := tx.b.appPolicies[id]; ok {
		return p
	}
	app, err := tx.getApp(id)
	if err != nil {
		return Policy{}
	}
	if tx.b.appPolicies == nil {
		tx.b.appPolicies = make(map[string]Policy)
	}
	tx.b.appPolicies[id] = app.Policy
	return app.Policy
}

// addDelivery creates the delivery of m to an endpoint, its first attempt
// due at dueNs (unix nanoseconds), stamped with the endpoint's policy over
// the application's (appPolicy).
func (tx *Tx) addDelivery(m *Message, ep *Endpoint, appPolicy Policy, dueNs int64, trigger Trigger) {
	dueMs := dueNs / 1e6
	policy := ep.Policy.Over(appPolicy)
	policy.HTTPSOnly = Inherit // checked at creation; nothing to stamp
	dl := Delivery{AppID: m.AppID, MsgID: m.ID, EndpointID: ep.ID, Status: StatusPending, NextAttempt: dueNs, Policy: policy}
	tx.set(deliveryKey(m.AppID, m.ID, ep.ID), encode(dl.Encode))
	tx.set(epMsgKey(m.AppID, ep.ID, m.ID), nil)
	tx.schedule(ScheduleKey{DueMs: dueMs, MsgID: m.ID, EndpointID: ep.ID}, Due{AppID: m.AppID, Attempt: 1, Trigger: trigger, Policy: policy.Ref()})
}

// CreateMessageFor stores a message and schedules its delivery to one
// endpoint only, whatever its filters (Svix's send-example). It may be
// re-applied on top of its own partial writes, like CreateMessage.
func (tx *Tx) CreateMessageFor(nm NewMessage, epID string) error {
	m := &nm.Message
	if !tx.appExists(m.AppID) {
		return ErrNotFound
	}
	ep, err := tx.getEndpoint(m.AppID, epID)
	if err != nil {
		return ErrNotFound
	}
	tx.set(messageKey(m.AppID, m.ID), encode(m.Encode))
	tx.addDelivery(m, &ep, tx.appPolicy(m.AppID), m.Timestamp, TriggerScheduled)
	return nil
}

// appExists reports whether an application exists, memoized for the batch
// (see Batch.appsSeen).
func (tx *Tx) appExists(id string) bool {
	if tx.b.appsSeen[id] {
		return true
	}
	if !tx.exists(appKey(id)) {
		return false
	}
	if tx.b.appsSeen == nil {
		tx.b.appsSeen = make(map[string]bool)
	}
	tx.b.appsSeen[id] = true
	return true
}

func (tx *Tx) schedule(k ScheduleKey, d Due) {
	tx.set(k.Bytes(), encode(d.Encode))
	if b := tx.b; b.minDue == 0 || k.DueMs < b.minDue {
		b.minDue = k.DueMs
	}
}

func (tx *Tx) matchingEndpoints(m *Message) ([]*Endpoint, error) {
	eps, err := tx.appEndpoints(m.AppID)
	if err != nil {
		return nil, err
	}
	var out []*Endpoint
	for i := range eps {
		if eps[i].Matches(m) {
			out = append(out, &eps[i])
		}
	}
	return out, nil
}

// appEndpoints returns an application's endpoints, from the store's cache
// when it has them. Fan-out reads them for every message, and a Badger
// iterator inside a write transaction sorts all of the batch's pending
// writes each time it is created, so without the cache a large batch costs
// quadratic time. Any write to an endpoint key drops the app's entry (see
// Tx.set and Tx.del), so the cache always equals the state.
func (tx *Tx) appEndpoints(appID string) ([]Endpoint, error) {
	if eps, ok := tx.b.s.cachedEndpoints(appID); ok {
		return eps, nil
	}
	var eps []Endpoint
	err := tx.iterate(endpointPrefix(appID), false, func(_, v []byte) error {
		var ep Endpoint
		if err := decodeInto(v, ep.Decode); err != nil {
			return err
		}
		eps = append(eps, ep)
		return nil
	})
	if err == nil {
		tx.b.s.cacheEndpoints(appID, eps)
	}
	return eps, err
}

// Matches reports whether ep should receive m: it is enabled, its event-type
// filter (if any) names m's event type, and its channel filter (if any)
// shares a channel with m.
func (ep *Endpoint) Matches(m *Message) bool {
	if ep.Disabled {
		return false
	}
	if len(ep.FilterTypes) > 0 && !slices.Contains(ep.FilterTypes, m.EventType) {
		return false
	}
	if len(ep.Channels) > 0 && !slices.ContainsFunc(m.Channels, func(c string) bool {
		return slices.Contains(ep.Channels, c)
	}) {
		return false
	}
	return true
}

// Outcome is the result of one dispatched schedule key: the attempt made
// (Attempt.ID empty when none was, e.g. the endpoint was gone), and what
// follows: another attempt at NextDueMs, or the final status.
type Outcome struct {
	Key             ScheduleKey
	AttemptNo       uint32 // 1-based number of the attempt just made
	Attempt         Attempt
	NextDueMs       int64  // 0 = no further attempt
	Final           Status // status when NextDueMs is 0
	DisableEndpoint bool   // the endpoint answered 410 Gone
}

// RecordOutcomes records a batch of outcomes (see RecordOutcome). With
// notices (set by every leader that knows them) it also makes the failure
// notices and keeps the endpoints' runs of failures, disabling an endpoint
// that has failed every attempt for autoDisableNs (the leader's setting;
// 0 = never). Without, outcomes are applied as before notices existed, so
// that entries an older leader wrote leave the same state on every node.
func (tx *Tx) RecordOutcomes(outcomes []Outcome, notices bool, autoDisableNs int64) {
	for i := range outcomes {
		tx.recordOutcome(&outcomes[i], notices, autoDisableNs)
	}
}

// RecordOutcome stores an attempt and moves its delivery on: it deletes the
// dispatched schedule key and either schedules the next attempt or sets the
// final status. An outcome whose schedule key is gone (a second send by a
// deposed leader, or a manual resend racing a retry) is still recorded as an
// attempt, but schedules nothing. It makes the failure notices the attempt
// calls for (notice.go) and never disables an endpoint for failing long.
func (tx *Tx) RecordOutcome(o Outcome) { tx.recordOutcome(&o, true, 0) }

func (tx *Tx) recordOutcome(o *Outcome, notices bool, autoDisableNs int64) {
	appID := o.Attempt.AppID
	keyBytes := o.Key.Bytes()
	live := tx.exists(keyBytes)
	if o.Attempt.ID != "" {
		at := &o.Attempt
		tx.set(attemptKey(appID, at.MsgID, at.ID), encode(at.Encode))
		tx.set(epAttemptKey(appID, at.EndpointID, at.ID), []byte(at.MsgID))
	}
	var dl Delivery
	dlKey := deliveryKey(appID, o.Key.MsgID, o.Key.EndpointID)
	if err := tx.get(dlKey, func(v []byte) error { return decodeInto(v, dl.Decode) }); err != nil {
		dl = Delivery{AppID: appID, MsgID: o.Key.MsgID, EndpointID: o.Key.EndpointID}
	}
	if o.Attempt.ID != "" {
		dl.Attempts = max(dl.Attempts, o.AttemptNo)
		dl.LastAttempt = max(dl.LastAttempt, o.Attempt.Timestamp)
	}
	switch {
	case live && o.NextDueMs > 0:
		// The next key is the same one when an attempt sent ahead of its
		// time failed (it keeps its place): then it is only rewritten.
		if o.NextDueMs != o.Key.DueMs {
			tx.del(keyBytes)
		}
		next := ScheduleKey{DueMs: o.NextDueMs, MsgID: o.Key.MsgID, EndpointID: o.Key.EndpointID}
		tx.schedule(next, Due{AppID: appID, Attempt: o.AttemptNo + 1, Policy: dl.Policy.Ref()})
		dl.Status = StatusPending
		dl.NextAttempt = o.NextDueMs * 1e6
	case live:
		tx.del(keyBytes)
		dl.Status = o.Final
		dl.NextAttempt = 0
	case o.Attempt.Status == StatusSuccess:
		dl.Status = StatusSuccess
	}
	switch {
	case notices && o.Attempt.ID != "":
		tx.noteAttempt(o, &dl, live, autoDisableNs)
	case !notices && o.DisableEndpoint:
		if ep, err := tx.getEndpoint(appID, o.Key.EndpointID); err == nil && !ep.Disabled {
			ep.Disabled = true
			ep.UpdatedAt = o.Attempt.Timestamp
			tx.set(endpointKey(appID, ep.ID), encode(ep.Encode))
		}
	}
	tx.set(dlKey, encode(dl.Encode))
}

// Resend schedules a manual attempt of a message to an endpoint at dueMs.
func (tx *Tx) Resend(appID, msgID, epID string, dueMs int64) error {
	if !tx.destinationExists(appID, msgID, epID) {
		return ErrNotFound
	}
	var dl Delivery
	dlKey := deliveryKey(appID, msgID, epID)
	if err := tx.get(dlKey, func(v []byte) error { return decodeInto(v, dl.Decode) }); err != nil {
		dl = Delivery{AppID: appID, MsgID: msgID, EndpointID: epID}
		tx.set(epMsgKey(appID, epID, msgID), nil)
	}
	// A retry already pending is replaced, not doubled: two live keys
	// would run two retry chains, and the later one could overwrite the
	// other's success.
	if dl.Status == StatusPending && dl.NextAttempt != 0 {
		tx.del(ScheduleKey{DueMs: dl.NextAttempt / 1e6, MsgID: msgID, EndpointID: epID}.Bytes())
	}
	dl.Status = StatusPending
	dl.NextAttempt = dueMs * 1e6
	tx.set(dlKey, encode(dl.Encode))
	tx.schedule(ScheduleKey{DueMs: dueMs, MsgID: msgID, EndpointID: epID},
		Due{AppID: appID, Attempt: dl.Attempts + 1, Trigger: TriggerManual, Policy: dl.Policy.Ref()})
	return nil
}

// destinationExists reports whether the message exists and epID is one of
// its possible destinations: an endpoint of the app, or the one-off
// destination the message names.
func (tx *Tx) destinationExists(appID, msgID, epID string) bool {
	if !IsDestination(epID) {
		return tx.exists(messageKey(appID, msgID)) && tx.exists(endpointKey(appID, epID))
	}
	var m Message
	if tx.get(messageKey(appID, msgID), func(v []byte) error { return decodeInto(v, m.Decode) }) != nil {
		return false
	}
	return m.Destination.ID == epID
}

// Recover re-queues an endpoint's failed deliveries of messages created in
// [sinceNs, untilNs), due at dueMs, like a manual resend of each. It walks
// the endpoint's messages in id (creation) order from the one after after
// (from sinceNs when after is empty) and looks at most at limit of them,
// so a large range takes several calls: it returns how many deliveries it
// re-queued and the last message it looked at, or "" once the range is
// done.
func (tx *Tx) Recover(appID, epID string, sinceNs, untilNs int64, after string, limit int, dueMs int64) (requeued int, cursor string) {
	prefix := epMsgPrefix(appID, epID)
	from := epMsgKey(appID, epID, boundID(PrefixMessage, time.Unix(0, sinceNs), false))
	if after != "" {
		from = append(epMsgKey(appID, epID, after), 0)
	}
	ids, done := tx.idsUntil(prefix, from, untilNs, limit)
	for _, id := range ids {
		var dl Delivery
		if tx.get(deliveryKey(appID, id, epID), func(v []byte) error { return decodeInto(v, dl.Decode) }) != nil || dl.Status != StatusFail {
			continue
		}
		if tx.Resend(appID, id, epID, dueMs) == nil {
			requeued++
		}
	}
	if done || len(ids) == 0 {
		return requeued, ""
	}
	return requeued, ids[len(ids)-1]
}

// idsUntil lists, keys only, the message ids under prefix from from on,
// stopping before the first created at or after untilNs or after limit of
// them; done is false when the limit stopped it.
func (tx *Tx) idsUntil(prefix, from []byte, untilNs int64, limit int) (ids []string, done bool) {
	done = true
	_ = tx.iterateFrom(prefix, from, true, func(k, _ []byte) error {
		id := string(k[len(prefix):])
		if t, ok := IDTime(id); ok && t.UnixNano() >= untilNs {
			return errStop
		}
		if len(ids) == limit {
			done = false
			return errStop
		}
		ids = append(ids, id)
		return nil
	})
	return ids, done
}

// Idempotent returns the stored response for an idempotency key hash, if
// one is stored and has not expired at nowMs.
func (tx *Tx) Idempotent(hash []byte) (IdempotentResponse, bool) {
	var r IdempotentResponse
	err := tx.get(idemKey(hash), func(v []byte) error { return decodeInto(v, r.Decode) })
	return r, err == nil
}

// PutIdempotent stores the response to a request with an idempotency key
// until expiresMs.
func (tx *Tx) PutIdempotent(hash []byte, r IdempotentResponse, expiresMs int64) {
	tx.setExpiring(idemKey(hash), encode(r.Encode), expiresMs)
}

// setExpiring writes k and an expiry entry that deletes it at atMs (0 =
// never). The entry holds a checksum of the value, so an old entry cannot
// delete a value written again under the same key after it.
func (tx *Tx) setExpiring(k, v []byte, atMs int64) {
	tx.set(k, v)
	if atMs > 0 {
		tx.set(expiryKey(atMs, k), binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(v)))
	}
}

// Expire deletes records whose time has passed (idempotency keys, event
// ids), at most limit of them; it returns how many it deleted.
func (tx *Tx) Expire(nowMs int64, limit int) int {
	type entry struct{ k, sum []byte }
	var due []entry
	_ = tx.iterate([]byte(pExpiry), false, func(k, v []byte) error {
		at, _, ok := expiryTarget(k)
		if !ok || at > nowMs || len(due) >= limit {
			return errStop
		}
		due = append(due, entry{k, v})
		return nil
	})
	for _, e := range due {
		_, target, _ := expiryTarget(e.k)
		var current []byte
		err := tx.get(target, func(v []byte) error { current = bytes.Clone(v); return nil })
		if err == nil && (len(e.sum) != 4 || binary.BigEndian.Uint32(e.sum) == crc32.ChecksumIEEE(current)) {
			tx.del(target)
		}
		tx.del(e.k)
	}
	return len(due)
}

// tokenGrace keeps an expired token's record a while, so a request with it
// is answered "expired" rather than "unknown" in the logs of the day.
const tokenGraceMs = int64(24 * 60 * 60 * 1000)

// PutAppToken stores an application-scoped token.
func (tx *Tx) PutAppToken(t AppToken) error {
	if !tx.exists(appKey(t.AppID)) {
		return ErrNotFound
	}
	tx.setExpiring(tokenKey(t.Hash), encode(t.Encode), t.ExpiresAt/1e6+tokenGraceMs)
	tx.setExpiring(appTokenKey(t.AppID, t.Hash), nil, t.ExpiresAt/1e6+tokenGraceMs)
	return nil
}

// RevokeAppTokens makes an application's tokens expire at atNs (if later
// than that): all of them, those of the given sessions, or the one with
// the given hash.
func (tx *Tx) RevokeAppTokens(appID string, hash []byte, sessions []string, atNs int64) {
	var hashes [][]byte
	if hash != nil {
		hashes = append(hashes, hash)
	} else {
		prefix := appTokenPrefix(appID)
		_ = tx.iterate(prefix, true, func(k, _ []byte) error {
			if h, err := hex.DecodeString(string(k[len(prefix):])); err == nil {
				hashes = append(hashes, h)
			}
			return nil
		})
	}
	for _, h := range hashes {
		var t AppToken
		if tx.get(tokenKey(h), func(v []byte) error { return decodeInto(v, t.Decode) }) != nil || t.AppID != appID {
			continue
		}
		if len(sessions) > 0 && !slices.Contains(sessions, t.SessionID) {
			continue
		}
		if t.ExpiresAt > atNs {
			t.ExpiresAt = atNs
			// Rewritten with a new expiry entry: the old one's checksum no
			// longer matches and would leave the record behind forever.
			tx.setExpiring(tokenKey(h), encode(t.Encode), t.ExpiresAt/1e6+tokenGraceMs)
		}
	}
}

// SetAdminHash stores the hash of the generated admin token.
func (tx *Tx) SetAdminHash(hash []byte) { tx.set([]byte(pAdminHash), bytes.Clone(hash)) }

// PutNode records a cluster member.
func (tx *Tx) PutNode(n Node) { tx.set(nodeKey(n.ID), encode(n.Encode)) }

// DeleteNode forgets a cluster member.
func (tx *Tx) DeleteNode(id string) { tx.del(nodeKey(id)) }

// RemoveNode forgets a cluster member and keeps a tombstone of it, so
// that it cannot join again by itself.
func (tx *Tx) RemoveNode(n RemovedNode) {
	tx.del(nodeKey(n.ID))
	tx.set(removedKey(n.ID), encode(n.Encode))
}

// AllowRejoin drops a removed node's tombstone; ErrNotFound if it has none.
func (tx *Tx) AllowRejoin(id string) error {
	if !tx.exists(removedKey(id)) {
		return ErrNotFound
	}
	tx.del(removedKey(id))
	return nil
}
