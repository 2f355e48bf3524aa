package storage

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"
)

// Failure notices (Svix's operational webhooks) go through the delivery
// engine like any message: the operational webhook endpoints are the
// endpoints of a hidden application, OpsAppID, and a notice is a message
// of that application, written by the same apply that causes it (an
// attempt outcome, an endpoint change). Its id and time derive from the
// command, so every node writes the same notice; it is then scheduled,
// signed with its endpoint's secret, retried and recorded like any
// delivery. Nothing about the hidden application's own deliveries makes a
// notice, so notices never feed on themselves.

// OpsAppID is the hidden application holding the operational webhook
// endpoints and their notices. API-made ids are "app_" and a KSUID, and
// uids may not start with "app_", so no client application can take it;
// the API hides it from every application route and list.
const OpsAppID = "app_herald-operational"

// Operational webhook event types, Svix's names.
const (
	EventAttemptExhausted = "message.attempt.exhausted"
	EventAttemptFailing   = "message.attempt.failing"
	EventAttemptRecovered = "message.attempt.recovered"
	EventEndpointCreated  = "endpoint.created"
	EventEndpointUpdated  = "endpoint.updated"
	EventEndpointDeleted  = "endpoint.deleted"
	EventEndpointDisabled = "endpoint.disabled"
	EventEndpointEnabled  = "endpoint.enabled"
)

// OperationalEventTypes lists the event types notices are made of.
var OperationalEventTypes = []string{
	EventAttemptExhausted, EventAttemptFailing, EventAttemptRecovered,
	EventEndpointCreated, EventEndpointUpdated, EventEndpointDeleted,
	EventEndpointDisabled, EventEndpointEnabled,
}

// FailingAttempt is the failed attempt of a delivery that makes a
// message.attempt.failing notice: Svix sends it on the fourth failure.
const FailingAttempt = 4

// noticeBody is the JSON of a notice: Svix's {"type", "data"}, and the
// time of the event.
type noticeBody struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// attemptNotice is the data of message.attempt.* notices
// (Svix's MessageAttemptExhaustedEventData and its twins).
type attemptNotice struct {
	AppID       string        `json:"appId"`
	AppUID      string        `json:"appUid,omitempty"`
	EndpointID  string        `json:"endpointId"`
	LastAttempt attemptFailed `json:"lastAttempt"`
	MsgEventID  string        `json:"msgEventId,omitempty"`
	MsgID       string        `json:"msgId"`
}

// attemptFailed is Svix's MessageAttemptFailedData.
type attemptFailed struct {
	ID                 string    `json:"id"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	Timestamp          time.Time `json:"timestamp"`
}

// endpointNotice is the data of endpoint.* notices (Svix's
// EndpointDisabledEventData; the others have its first four fields).
type endpointNotice struct {
	AppID       string     `json:"appId"`
	AppUID      string     `json:"appUid,omitempty"`
	EndpointID  string     `json:"endpointId"`
	EndpointUID string     `json:"endpointUid,omitempty"`
	FailSince   *time.Time `json:"failSince,omitempty"`
	Trigger     string     `json:"trigger,omitempty"`
}

// Disable triggers of endpoint.disabled, Svix's values.
const (
	triggerManual    = "manual"
	triggerAutomatic = "automatic"
)

// notify writes a notice of eventType at atNs (unix ns) as a message of
// the hidden application, fanned out to its operational endpoints whose
// filters match, if any; seed makes its id unique and the same on every
// node.
func (tx *Tx) notify(eventType string, atNs int64, seed string, data any) {
	eps, err := tx.appEndpoints(OpsAppID)
	if err != nil || len(eps) == 0 {
		return
	}
	at := time.Unix(0, atNs).UTC()
	m := Message{
		ID:        DerivedID(PrefixMessage, at, eventType+"\x00"+seed),
		AppID:     OpsAppID,
		EventType: eventType,
		Timestamp: atNs,
	}
	if !tx.anyMatch(eps, &m) {
		return
	}
	m.Payload, err = json.Marshal(noticeBody{Type: eventType, Timestamp: at, Data: data})
	if err != nil {
		panic("storage: encode notice: " + err.Error()) // plain structs: cannot fail
	}
	_, _, _ = tx.CreateMessage(NewMessage{Message: m})
}

func (tx *Tx) anyMatch(eps []Endpoint, m *Message) bool {
	for i := range eps {
		if eps[i].Matches(m) {
			return true
		}
	}
	return false
}

// appUID returns an application's uid, "" when it has none or is gone.
func (tx *Tx) appUID(appID string) string {
	a, err := tx.getApp(appID)
	if err != nil {
		return ""
	}
	return a.UID
}

// notifyEndpoint writes an endpoint.* notice about ep.
func (tx *Tx) notifyEndpoint(eventType string, ep *Endpoint, atNs int64, trigger string, failSince int64) {
	if ep.AppID == OpsAppID {
		return
	}
	data := endpointNotice{AppID: ep.AppID, AppUID: tx.appUID(ep.AppID), EndpointID: ep.ID, EndpointUID: ep.UID, Trigger: trigger}
	if failSince != 0 {
		t := time.Unix(0, failSince).UTC()
		data.FailSince = &t
	}
	tx.notify(eventType, atNs, ep.ID+"\x00"+strconv.FormatInt(atNs, 10), data)
}

// notifyAttempt writes a message.attempt.* notice about the attempt at.
func (tx *Tx) notifyAttempt(eventType string, at *Attempt) {
	data := attemptNotice{
		AppID: at.AppID, AppUID: tx.appUID(at.AppID), EndpointID: at.EndpointID, MsgID: at.MsgID,
		LastAttempt: attemptFailed{ID: at.ID, ResponseStatusCode: at.StatusCode, Timestamp: time.Unix(0, at.Timestamp).UTC()},
	}
	var m Message
	if tx.get(messageKey(at.AppID, at.MsgID), func(v []byte) error { return decodeInto(v, m.Decode) }) == nil {
		data.MsgEventID = m.EventID
	}
	tx.notify(eventType, at.Timestamp, at.ID, data)
}

// noteAttempt makes the notices an attempt outcome calls for, and keeps
// the endpoint's failing-since time, disabling the endpoint once it has
// failed every attempt for autoDisableNs (0: never). live says the
// outcome moved its delivery on (it was not a stray second send); dl is
// the delivery as it is being written, so its notice flag can change.
//
// Attempts a person asked for (resend, recover) are not retries: they
// make no failing or exhausted notice, though they count as the
// endpoint's failures and successes.
func (tx *Tx) noteAttempt(o *Outcome, dl *Delivery, live bool, autoDisableNs int64) {
	at := &o.Attempt
	notices := at.AppID != OpsAppID
	if at.Status == StatusSuccess {
		if notices && dl.FailingNoticed {
			dl.FailingNoticed = false
			tx.notifyAttempt(EventAttemptRecovered, at)
		}
		if tx.failing(at.AppID, at.EndpointID).since != 0 {
			tx.setFailing(at.AppID, at.EndpointID, failRun{})
		}
		return
	}
	// An attempt sent ahead of its time that failed keeps its place and
	// its number (see delivery.decide): it is not the failure it would
	// have been at its time.
	early := o.NextDueMs != 0 && o.NextDueMs == o.Key.DueMs
	if notices && live && !early && at.Trigger != TriggerManual {
		if o.AttemptNo == FailingAttempt && !dl.FailingNoticed {
			// Flagged whether or not an operational endpoint took the
			// notice, as Svix makes its events: a recovery is told to
			// whoever listens for it then.
			dl.FailingNoticed = true
			tx.notifyAttempt(EventAttemptFailing, at)
		}
		if o.NextDueMs == 0 {
			tx.notifyAttempt(EventAttemptExhausted, at)
		}
	}
	run := tx.failing(at.AppID, at.EndpointID)
	if run.since == 0 || at.Timestamp-run.last > failingGapNs {
		if !tx.exists(endpointKey(at.AppID, at.EndpointID)) {
			return // deleted meanwhile, or a one-off destination: nothing to keep
		}
		run.since = at.Timestamp
	}
	run.last = max(run.last, at.Timestamp)
	tx.setFailing(at.AppID, at.EndpointID, run)
	if o.DisableEndpoint || (autoDisableNs > 0 && at.Timestamp-run.since >= autoDisableNs) {
		tx.disableEndpoint(at.AppID, at.EndpointID, at.Timestamp, run.since)
	}
}

// failingGapNs ends a run of failures: an endpoint whose failures are
// further apart than this (it got no traffic meanwhile) starts a new run,
// so that two failures days apart do not read as days of failing.
const failingGapNs = int64(24 * time.Hour)

// failRun is an endpoint's current run of failures: when it began and
// the latest failure (unix ns); zero when its last attempt succeeded.
type failRun struct{ since, last int64 }

// failing returns an endpoint's current run of failures (memoized for the
// batch).
func (tx *Tx) failing(appID, epID string) failRun {
	k := epFailingKey(appID, epID)
	if run, ok := tx.b.failing[string(k)]; ok {
		return run
	}
	var run failRun
	_ = tx.get(k, func(v []byte) error {
		var n int
		run.since, n = binary.Varint(v)
		run.last = run.since
		if n > 0 && n < len(v) {
			run.last, _ = binary.Varint(v[n:])
		}
		return nil
	})
	if tx.b.failing == nil {
		tx.b.failing = make(map[string]failRun)
	}
	tx.b.failing[string(k)] = run
	return run
}

// setFailing records an endpoint's run of failures; the zero run clears it.
func (tx *Tx) setFailing(appID, epID string, run failRun) {
	k := epFailingKey(appID, epID)
	if run.since == 0 {
		tx.del(k)
	} else {
		tx.set(k, binary.AppendVarint(binary.AppendVarint(nil, run.since), run.last))
	}
	if tx.b.failing == nil {
		tx.b.failing = make(map[string]failRun)
	}
	tx.b.failing[string(k)] = run
}

// disableEndpoint disables an endpoint that failed for too long (or
// answered 410 Gone) and tells so with an endpoint.disabled notice.
func (tx *Tx) disableEndpoint(appID, epID string, atNs, failSince int64) {
	ep, err := tx.getEndpoint(appID, epID)
	if err != nil || ep.Disabled {
		return
	}
	ep.Disabled = true
	ep.UpdatedAt = atNs
	tx.set(endpointKey(appID, ep.ID), encode(ep.Encode))
	tx.setFailing(appID, epID, failRun{})
	tx.notifyEndpoint(EventEndpointDisabled, &ep, atNs, triggerAutomatic, failSince)
}

// noteEndpointUpdate makes the notices of an endpoint change from old to
// ep: endpoint.updated, and endpoint.disabled (manual) or
// endpoint.enabled when the disabled flag flipped. Enabling restarts the
// failing-since clock.
func (tx *Tx) noteEndpointUpdate(old, ep *Endpoint) {
	if old.Disabled && !ep.Disabled && tx.failing(ep.AppID, ep.ID).since != 0 {
		tx.setFailing(ep.AppID, ep.ID, failRun{})
	}
	if ep.AppID == OpsAppID {
		return
	}
	tx.notifyEndpoint(EventEndpointUpdated, ep, ep.UpdatedAt, "", 0)
	switch {
	case !old.Disabled && ep.Disabled:
		tx.notifyEndpoint(EventEndpointDisabled, ep, ep.UpdatedAt, triggerManual, 0)
	case old.Disabled && !ep.Disabled:
		tx.notifyEndpoint(EventEndpointEnabled, ep, ep.UpdatedAt, "", 0)
	}
}

// ensureOpsApp creates the hidden application the first time an
// operational endpoint is made.
func (tx *Tx) ensureOpsApp(atNs int64) {
	if tx.exists(appKey(OpsAppID)) {
		return
	}
	a := App{ID: OpsAppID, Name: "Operational webhooks", CreatedAt: atNs, UpdatedAt: atNs}
	tx.set(appKey(OpsAppID), encode(a.Encode))
}
