package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

type messageIn struct {
	EventType *string         `json:"eventType"`
	EventID   *string         `json:"eventId"`
	Payload   json.RawMessage `json:"payload"`
	Channels  []string        `json:"channels"`
	Tags      []string        `json:"tags"`
	DeliverAt *time.Time      `json:"deliverAt"`
	// How long the payload is kept, in days or (taking precedence) hours,
	// as Svix defines them; absent, the server's payload retention. The
	// message itself stays listed, with an empty payload, until the record
	// retention removes it.
	PayloadRetentionPeriod *int64 `json:"payloadRetentionPeriod"`
	PayloadRetentionHours  *int64 `json:"payloadRetentionHours"`
	// Application creates the application named by uid in the path when
	// it does not exist yet, as in Svix; ignored when it does.
	Application *applicationIn `json:"application"`
	// Destination is a Herald extension: a one-off destination for this
	// message alone (handlers_destination.go).
	Destination *destinationIn `json:"destination"`
}

// payloadExpiry is when a new message's payload is dropped (unix ms): from
// its own retention, else the server's; 0 when neither is set.
func (s *Server) payloadExpiry(in *messageIn, now time.Time) int64 {
	retention := s.cfg.PayloadRetention
	switch {
	case in.PayloadRetentionHours != nil:
		retention = time.Duration(*in.PayloadRetentionHours) * time.Hour
	case in.PayloadRetentionPeriod != nil:
		retention = time.Duration(*in.PayloadRetentionPeriod) * 24 * time.Hour
	}
	if retention <= 0 {
		return 0
	}
	return now.Add(retention).UnixMilli()
}

// maxPayloadRetentionHours bounds a message's own payload retention
// (Svix: up to 90 days); longer than the record retention only means the
// payload goes with its message.
const maxPayloadRetentionHours = 90 * 24

func (s *Server) validateMessage(in *messageIn, now time.Time) error {
	var v violations
	if h := in.PayloadRetentionHours; h != nil {
		v.check(*h >= 1 && *h <= maxPayloadRetentionHours, "must be between 1 and 2160", "payloadRetentionHours")
	}
	if d := in.PayloadRetentionPeriod; d != nil {
		v.check(*d >= 1 && *d <= maxPayloadRetentionHours/24, "must be between 1 and 90", "payloadRetentionPeriod")
	}
	if in.EventType == nil {
		v.add("field required", "eventType")
	} else {
		v.check(namePattern.MatchString(*in.EventType), "event type names are 1-256 characters of a-z, A-Z, 0-9, '-', '_' and '.'", "eventType")
	}
	if in.EventID != nil {
		v.check(namePattern.MatchString(*in.EventID), "event ids are 1-256 characters of a-z, A-Z, 0-9, '-', '_' and '.'", "eventId")
		v.check(!strings.HasPrefix(*in.EventID, storage.PrefixMessage), "must not start with msg_, the prefix of message ids", "eventId")
	}
	switch {
	case len(in.Payload) == 0 || bytes.Equal(in.Payload, []byte("null")):
		v.add("field required", "payload")
	case !isJSONObject(in.Payload):
		v.add("must be a JSON object", "payload")
	case len(in.Payload) > s.cfg.MaxPayloadBytes:
		v.add("must be at most "+strconv.Itoa(s.cfg.MaxPayloadBytes)+" bytes", "payload")
	}
	checkMessageChannels(&v, in.Channels)
	v.check(len(in.Tags) <= 5, "at most 5 tags", "tags")
	for _, tag := range in.Tags {
		v.check(channelPattern.MatchString(tag), "tags are 1-256 characters of a-z, A-Z, 0-9, '-', '_', '.' and ':'", "tags")
	}
	if in.DeliverAt != nil {
		v.check(in.DeliverAt.Before(now.Add(90*24*time.Hour)), "must be within 90 days", "deliverAt")
	}
	return v.err()
}

// checkMessageChannels checks the channels a message names (Svix: 1 to 5,
// or none).
func checkMessageChannels(v *violations, channels []string) {
	if channels == nil {
		return
	}
	v.check(len(channels) >= 1 && len(channels) <= 5, "must hold 1 to 5 channels, or be left out", "channels")
	for _, ch := range channels {
		v.check(channelPattern.MatchString(ch), "channels are 1-256 characters of a-z, A-Z, 0-9, '-', '_', '.' and ':'", "channels")
	}
}

// createMessage accepts an event: 202 only once the message and its fan-out
// are committed by a quorum. Concurrent requests share Raft entries through
// the group-commit batcher.
func (s *Server) createMessage(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	// No local replay check here, unlike other creates: the SDKs send an
	// idempotency key with every message, repeats are rare, and the FSM
	// answers a repeat with the stored response anyway. This saves a state
	// read on the ingest hot path.
	var in messageIn
	if err := decodeMessage(c, &in); err != nil {
		return err
	}
	ref := pathParam(c, "app_id")
	a, err := s.loadApp(p, ref)
	if isNotFound(err) && in.Application != nil {
		if a, err = s.createAppFor(c, ref, in.Application); errors.Is(err, storage.ErrUIDTaken) {
			a, err = s.loadApp(p, ref) // created meanwhile by a concurrent request
		}
	}
	if err != nil {
		return err
	}
	now := s.now()
	if err := s.validateMessage(&in, now); err != nil {
		return err
	}
	dest, err := s.destinationFor(&a, in.Destination)
	if err != nil {
		return err
	}
	if !dest.IsZero() {
		// Its delivery is signed with the app's secret, which must exist
		// before the message is committed.
		if err := s.ensureAppSecret(&a); err != nil {
			return err
		}
	}
	m := storage.Message{
		ID: storage.NewID(storage.PrefixMessage, now), AppID: a.ID, EventType: *in.EventType,
		EventID: deref(in.EventID), Channels: in.Channels, Tags: in.Tags,
		Payload: in.Payload, Timestamp: now.UnixNano(), Destination: dest,
	}
	if in.DeliverAt != nil && in.DeliverAt.After(now) {
		m.DeliverAt = in.DeliverAt.UnixNano()
	}
	var v violations
	withContent := query(c, "with_content") == "" || queryBool(c, "with_content", &v)
	if err := v.err(); err != nil {
		return err
	}
	body := marshalMessage(toMessageOut(&m, withContent))
	item := raft.MessageItem{
		Meta: s.meta(c, p, now, http.StatusAccepted, body),
		Message: storage.NewMessage{Message: m, EventIDExpiresMs: now.Add(s.cfg.EventIDTTL).UnixMilli(),
			PayloadExpiresMs: s.payloadExpiry(&in, now)},
	}
	if s.closing.Load() {
		return errShuttingDown
	}
	res, err := s.messages.Submit(c, item)
	if err != nil {
		return err
	}
	if res.Err == nil && res.Replay == nil {
		messagesAccepted.Inc()
	}
	return s.answer(c, res, http.StatusAccepted, body)
}

func (s *Server) loadMessage(c *fasthttp.RequestCtx, p principal) (storage.App, storage.Message, error) {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return a, storage.Message{}, err
	}
	var m storage.Message
	err = s.store.View(func(r *storage.Reader) error {
		m, err = r.Message(a.ID, pathParam(c, "msg_id"))
		return err
	})
	if err == storage.ErrNotFound {
		return a, m, notFound("Message")
	}
	return a, m, err
}

func (s *Server) getMessage(c *fasthttp.RequestCtx, p principal) error {
	_, m, err := s.loadMessage(c, p)
	if err != nil {
		return err
	}
	var v violations
	withContent := query(c, "with_content") == "" || queryBool(c, "with_content", &v)
	if err := v.err(); err != nil {
		return err
	}
	writeRaw(c, http.StatusOK, marshalMessage(toMessageOut(&m, withContent)))
	return nil
}

func (s *Server) listMessages(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	opts, err := listOptions(c, true)
	if err != nil {
		return err
	}
	var v violations
	withContent := query(c, "with_content") == "" || queryBool(c, "with_content", &v)
	if err := v.err(); err != nil {
		return err
	}
	f := messageFilter(c)
	var page storage.Page[storage.Message]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListMessages(a.ID, f, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(m *storage.Message) messageOut { return toMessageOut(m, withContent) }))
	return nil
}

// messageFilter reads the event_types, channel and tag query parameters.
func messageFilter(c *fasthttp.RequestCtx) storage.MessageFilter {
	return storage.MessageFilter{EventTypes: queryList(c, "event_types"), Channel: query(c, "channel"), Tag: query(c, "tag")}
}
