package raft

import (
	"fmt"
	"slices"

	"github.com/herald-webhooks/herald/storage"
)

// CommandType is the first byte of every Raft command. Values are only ever
// appended: a value, once released, means the same command forever, because
// old log entries and snapshots are replayed by newer binaries.
type CommandType byte

// Command types. Never reorder or reuse a value.
const (
	CmdCreateApp       CommandType = 1
	CmdUpdateApp       CommandType = 2
	CmdDeleteApp       CommandType = 3
	CmdCreateEndpoint  CommandType = 4
	CmdUpdateEndpoint  CommandType = 5
	CmdDeleteEndpoint  CommandType = 6
	CmdCreateEventType CommandType = 7
	CmdPutEventType    CommandType = 8
	CmdDeleteEventType CommandType = 9
	CmdCreateMessages  CommandType = 10
	CmdRecordOutcomes  CommandType = 11
	CmdResend          CommandType = 12
	CmdExpire          CommandType = 13
	CmdSetAdminHash    CommandType = 14
	CmdPutNode         CommandType = 15
	CmdDeleteNode      CommandType = 16
	CmdPutAppToken     CommandType = 17
	CmdRevokeAppTokens CommandType = 18
	CmdRecover         CommandType = 19
	CmdPutTask         CommandType = 20
	CmdReplayMissing   CommandType = 21
	CmdRemoveNode      CommandType = 22
	CmdAllowRejoin     CommandType = 23
	CmdSendExample     CommandType = 24
	CmdExpirePayloads  CommandType = 25
	CmdPurgeMessages   CommandType = 26
	CmdExpungeContent  CommandType = 27
	CmdSetAppSecret    CommandType = 28
)

// Command is one replicated state change.
type Command interface {
	Type() CommandType
	encode(e *storage.Encoder)
	decode(d *storage.Decoder)
}

// Idem carries a request's Idempotency-Key (as a hash) and the response the
// leader rendered for it, stored when the command succeeds so that a repeat
// of the key is answered the same way on every node.
type Idem struct {
	Hash      []byte
	Status    uint16
	Body      []byte
	ExpiresMs int64
}

// Meta is what the leader stamps on every API command: the time (the FSM
// never reads a clock) and the optional idempotency record.
type Meta struct {
	Time int64 // unix nanoseconds
	Idem *Idem
}

func (m *Meta) encode(e *storage.Encoder) {
	e.Varint(m.Time)
	if m.Idem == nil {
		e.Bool(false)
		return
	}
	e.Bool(true)
	e.Bytes(m.Idem.Hash)
	e.Uvarint(uint64(m.Idem.Status))
	e.Bytes(m.Idem.Body)
	e.Varint(m.Idem.ExpiresMs)
}

func (m *Meta) decode(d *storage.Decoder) {
	m.Time = d.Varint()
	if !d.Bool() {
		m.Idem = nil
		return
	}
	m.Idem = &Idem{
		Hash:      d.Bytes(),
		Status:    d.Uint16(),
		Body:      d.Bytes(),
		ExpiresMs: d.Varint(),
	}
}

// CreateApp creates an application.
type CreateApp struct {
	Meta
	App storage.App
}

// UpdateApp replaces an application (PUT and PATCH, merged by the API).
type UpdateApp struct {
	Meta
	App storage.App
}

// DeleteApp deletes an application and its endpoints.
type DeleteApp struct {
	Meta
	AppID string
}

// CreateEndpoint creates an endpoint.
type CreateEndpoint struct {
	Meta
	Endpoint storage.Endpoint
}

// UpdateEndpoint replaces an endpoint.
type UpdateEndpoint struct {
	Meta
	Endpoint storage.Endpoint
}

// DeleteEndpoint deletes an endpoint.
type DeleteEndpoint struct {
	Meta
	AppID      string
	EndpointID string
}

// CreateEventType creates (or unarchives) an event type.
type CreateEventType struct {
	Meta
	EventType storage.EventType
}

// PutEventType creates or replaces an event type.
type PutEventType struct {
	Meta
	EventType storage.EventType
}

// DeleteEventType archives (or expunges) an event type.
type DeleteEventType struct {
	Meta
	Name    string
	Expunge bool
}

// MessageItem is one accepted message with its request's metadata.
type MessageItem struct {
	Meta
	Message storage.NewMessage
}

// CreateMessages stores a group-committed batch of messages; each item
// succeeds or fails on its own.
type CreateMessages struct {
	Items []MessageItem
}

// RecordOutcomes stores a batch of attempt outcomes from the dispatcher.
type RecordOutcomes struct {
	Outcomes []storage.Outcome
	// Notices says the leader knows failure notices: the outcomes make
	// them and keep the endpoints' runs of failures. An entry from an
	// older leader has it false and is applied as that leader applied it,
	// so nodes of both versions keep the same state during an upgrade.
	Notices bool
	// AutoDisableNs is the leader's setting of how long an endpoint may
	// fail every attempt before it is disabled (0 = never), stamped here
	// so that no node applies its own.
	AutoDisableNs int64
}

// Flags of RecordOutcomes' appended trailer.
const (
	outcomesNotices     = 1 << 0
	outcomesWithHeaders = 1 << 1
)

// Resend schedules a manual attempt of a message to one endpoint.
type Resend struct {
	Meta
	AppID      string
	MsgID      string
	EndpointID string
}

// Expire deletes expired idempotency keys and event ids, at most Limit.
type Expire struct {
	NowMs int64
	Limit uint32
}

// SetAdminHash records the hash of the admin token generated on first start.
type SetAdminHash struct {
	Hash []byte
}

// PutNode records a cluster member in the registry.
type PutNode struct {
	Node storage.Node
}

// DeleteNode removes a cluster member from the registry.
type DeleteNode struct {
	ID string
}

// RemoveNode removes a cluster member from the registry and records a
// tombstone, so that the node cannot join again by itself.
type RemoveNode struct {
	ID string
	At int64 // unix ns, stamped by the leader
}

// AllowRejoin drops a removed node's tombstone: it may join again.
type AllowRejoin struct {
	ID string
}

// PutAppToken stores an application-scoped token (its hash).
type PutAppToken struct {
	Meta
	Token storage.AppToken
}

// RevokeAppTokens makes an application's tokens expire at At (unix ns):
// all, those of the listed sessions, or the one with TokenHash.
type RevokeAppTokens struct {
	Meta
	AppID      string
	TokenHash  []byte
	SessionIDs []string
	At         int64
}

// ExpirePayloads drops the payloads due at or before NowMs (the leader's
// clock), at most Limit (see storage.Tx.ExpirePayloads).
type ExpirePayloads struct {
	NowMs int64
	Limit uint32
}

// PurgeMessages removes messages created before BeforeNs, visiting
// applications after AfterApp, at most Limit messages (see
// storage.Tx.PurgeMessages).
type PurgeMessages struct {
	BeforeNs int64
	AfterApp string
	Limit    uint32
}

// ExpungeContent drops a message's payload now or, with AttemptID, the
// response body stored for one of its attempts.
type ExpungeContent struct {
	Meta
	AppID     string
	MsgID     string
	AttemptID string
}

func (*ExpirePayloads) Type() CommandType { return CmdExpirePayloads }
func (*PurgeMessages) Type() CommandType  { return CmdPurgeMessages }
func (*ExpungeContent) Type() CommandType { return CmdExpungeContent }

func (c *ExpirePayloads) encode(e *storage.Encoder) { e.Varint(c.NowMs); e.Uvarint(uint64(c.Limit)) }
func (c *ExpirePayloads) decode(d *storage.Decoder) { c.NowMs = d.Varint(); c.Limit = d.Uint32() }

func (c *PurgeMessages) encode(e *storage.Encoder) {
	e.Varint(c.BeforeNs)
	e.String(c.AfterApp)
	e.Uvarint(uint64(c.Limit))
}

func (c *PurgeMessages) decode(d *storage.Decoder) {
	c.BeforeNs = d.Varint()
	c.AfterApp = d.String()
	c.Limit = d.Uint32()
}

func (c *ExpungeContent) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	e.String(c.AppID)
	e.String(c.MsgID)
	e.String(c.AttemptID)
}

func (c *ExpungeContent) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.AppID = d.String()
	c.MsgID = d.String()
	c.AttemptID = d.String()
}

// EndpointRange names the messages of one endpoint's application created
// in [Since, Until) (unix ns), from the one after After (from Since when
// empty), at most Limit of them: a chunk of a recovery or a replay.
type EndpointRange struct {
	AppID      string
	EndpointID string
	Since      int64
	Until      int64
	After      string
	Limit      uint32
}

func (r *EndpointRange) encode(e *storage.Encoder) {
	e.String(r.AppID)
	e.String(r.EndpointID)
	e.Varint(r.Since)
	e.Varint(r.Until)
	e.String(r.After)
	e.Uvarint(uint64(r.Limit))
}

func (r *EndpointRange) decode(d *storage.Decoder) {
	r.AppID = d.String()
	r.EndpointID = d.String()
	r.Since = d.Varint()
	r.Until = d.Varint()
	r.After = d.String()
	r.Limit = d.Uint32()
}

// Recover re-queues, at Meta.Time, an endpoint's failed deliveries of the
// messages of its range (see storage.Tx.Recover).
type Recover struct {
	Meta
	EndpointRange
}

// Type implements Command.
func (*Recover) Type() CommandType { return CmdRecover }

func (c *Recover) encode(e *storage.Encoder) { c.Meta.encode(e); c.EndpointRange.encode(e) }
func (c *Recover) decode(d *storage.Decoder) { c.Meta.decode(d); c.EndpointRange.decode(d) }

// PutTask records a background task's state (see storage.Tx.PutTask).
type PutTask struct {
	Task storage.Task
}

// Type implements Command.
func (*PutTask) Type() CommandType { return CmdPutTask }

func (c *PutTask) encode(e *storage.Encoder) { c.Task.Encode(e) }
func (c *PutTask) decode(d *storage.Decoder) { c.Task.Decode(d) }

// ReplayMissing sends an endpoint, at Meta.Time, the messages of its
// range it never got (see storage.Tx.ReplayMissing).
type ReplayMissing struct {
	Meta
	EndpointRange
}

// Type implements Command.
func (*ReplayMissing) Type() CommandType { return CmdReplayMissing }

func (c *ReplayMissing) encode(e *storage.Encoder) { c.Meta.encode(e); c.EndpointRange.encode(e) }
func (c *ReplayMissing) decode(d *storage.Decoder) { c.Meta.decode(d); c.EndpointRange.decode(d) }

// Type implements Command.
func (*RemoveNode) Type() CommandType { return CmdRemoveNode }

// Type implements Command.
func (*AllowRejoin) Type() CommandType { return CmdAllowRejoin }

func (c *RemoveNode) encode(e *storage.Encoder) { e.String(c.ID); e.Varint(c.At) }
func (c *RemoveNode) decode(d *storage.Decoder) { c.ID = d.String(); c.At = d.Varint() }

func (c *AllowRejoin) encode(e *storage.Encoder) { e.String(c.ID) }
func (c *AllowRejoin) decode(d *storage.Decoder) { c.ID = d.String() }

// Type implements Command.
func (*PutAppToken) Type() CommandType { return CmdPutAppToken }

// Type implements Command.
func (*RevokeAppTokens) Type() CommandType { return CmdRevokeAppTokens }

func (c *PutAppToken) encode(e *storage.Encoder) { c.Meta.encode(e); c.Token.Encode(e) }
func (c *PutAppToken) decode(d *storage.Decoder) { c.Meta.decode(d); c.Token.Decode(d) }

func (c *RevokeAppTokens) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	e.String(c.AppID)
	e.Bytes(c.TokenHash)
	e.Strings(c.SessionIDs)
	e.Varint(c.At)
}

func (c *RevokeAppTokens) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.AppID = d.String()
	c.TokenHash = d.Bytes()
	c.SessionIDs = d.Strings()
	c.At = d.Varint()
}

// Type implements Command.
func (*CreateApp) Type() CommandType { return CmdCreateApp }

// Type implements Command.
func (*UpdateApp) Type() CommandType { return CmdUpdateApp }

// Type implements Command.
func (*DeleteApp) Type() CommandType { return CmdDeleteApp }

// Type implements Command.
func (*CreateEndpoint) Type() CommandType { return CmdCreateEndpoint }

// Type implements Command.
func (*UpdateEndpoint) Type() CommandType { return CmdUpdateEndpoint }

// Type implements Command.
func (*DeleteEndpoint) Type() CommandType { return CmdDeleteEndpoint }

// Type implements Command.
func (*CreateEventType) Type() CommandType { return CmdCreateEventType }

// Type implements Command.
func (*PutEventType) Type() CommandType { return CmdPutEventType }

// Type implements Command.
func (*DeleteEventType) Type() CommandType { return CmdDeleteEventType }

// Type implements Command.
func (*CreateMessages) Type() CommandType { return CmdCreateMessages }

// Type implements Command.
func (*RecordOutcomes) Type() CommandType { return CmdRecordOutcomes }

// Type implements Command.
func (*Resend) Type() CommandType { return CmdResend }

// Type implements Command.
func (*Expire) Type() CommandType { return CmdExpire }

// Type implements Command.
func (*SetAdminHash) Type() CommandType { return CmdSetAdminHash }

// Type implements Command.
func (*PutNode) Type() CommandType { return CmdPutNode }

// Type implements Command.
func (*DeleteNode) Type() CommandType { return CmdDeleteNode }

func (c *CreateApp) encode(e *storage.Encoder) { c.Meta.encode(e); c.App.Encode(e) }
func (c *CreateApp) decode(d *storage.Decoder) { c.Meta.decode(d); c.App.Decode(d) }
func (c *UpdateApp) encode(e *storage.Encoder) { c.Meta.encode(e); c.App.Encode(e) }
func (c *UpdateApp) decode(d *storage.Decoder) { c.Meta.decode(d); c.App.Decode(d) }
func (c *DeleteApp) encode(e *storage.Encoder) { c.Meta.encode(e); e.String(c.AppID) }
func (c *DeleteApp) decode(d *storage.Decoder) { c.Meta.decode(d); c.AppID = d.String() }

func (c *CreateEndpoint) encode(e *storage.Encoder) { c.Meta.encode(e); c.Endpoint.Encode(e) }
func (c *CreateEndpoint) decode(d *storage.Decoder) { c.Meta.decode(d); c.Endpoint.Decode(d) }
func (c *UpdateEndpoint) encode(e *storage.Encoder) { c.Meta.encode(e); c.Endpoint.Encode(e) }
func (c *UpdateEndpoint) decode(d *storage.Decoder) { c.Meta.decode(d); c.Endpoint.Decode(d) }

func (c *DeleteEndpoint) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	e.String(c.AppID)
	e.String(c.EndpointID)
}

func (c *DeleteEndpoint) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.AppID = d.String()
	c.EndpointID = d.String()
}

func (c *CreateEventType) encode(e *storage.Encoder) { c.Meta.encode(e); c.EventType.Encode(e) }
func (c *CreateEventType) decode(d *storage.Decoder) { c.Meta.decode(d); c.EventType.Decode(d) }
func (c *PutEventType) encode(e *storage.Encoder)    { c.Meta.encode(e); c.EventType.Encode(e) }
func (c *PutEventType) decode(d *storage.Decoder)    { c.Meta.decode(d); c.EventType.Decode(d) }

func (c *DeleteEventType) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	e.String(c.Name)
	e.Bool(c.Expunge)
}

func (c *DeleteEventType) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.Name = d.String()
	c.Expunge = d.Bool()
}

func (c *CreateMessages) encode(e *storage.Encoder) {
	e.Uvarint(uint64(len(c.Items)))
	for i := range c.Items {
		it := &c.Items[i]
		it.Meta.encode(e)
		it.Message.EncodeBase(e)
		e.Varint(it.Message.EventIDExpiresMs)
	}
	// Payload expiries came later: appended after the items, and only
	// when one is set (or a destination follows), so entries written
	// before decode unchanged.
	hasDest := slices.ContainsFunc(c.Items, func(it MessageItem) bool { return !it.Message.Destination.IsZero() })
	if hasDest || slices.ContainsFunc(c.Items, func(it MessageItem) bool { return it.Message.PayloadExpiresMs != 0 }) {
		e.Uvarint(uint64(len(c.Items)))
		for i := range c.Items {
			e.Varint(c.Items[i].Message.PayloadExpiresMs)
		}
	}
	// One-off destinations came later still: after the expiries, only
	// when a message names one.
	if hasDest {
		e.Uvarint(uint64(len(c.Items)))
		for i := range c.Items {
			storage.EncodeDestination(e, &c.Items[i].Message.Destination)
		}
	}
}

func (c *CreateMessages) decode(d *storage.Decoder) {
	c.Items = make([]MessageItem, d.Count())
	for i := range c.Items {
		it := &c.Items[i]
		it.Meta.decode(d)
		it.Message.DecodeBase(d)
		it.Message.EventIDExpiresMs = d.Varint()
	}
	if d.Remaining() > 0 {
		if d.Count() != len(c.Items) {
			d.Fail()
			return
		}
		for i := range c.Items {
			c.Items[i].Message.PayloadExpiresMs = d.Varint()
		}
	}
	if d.Remaining() > 0 {
		if d.Count() != len(c.Items) {
			d.Fail()
			return
		}
		for i := range c.Items {
			storage.DecodeDestination(d, &c.Items[i].Message.Destination)
		}
	}
}

func (c *RecordOutcomes) encode(e *storage.Encoder) {
	e.Uvarint(uint64(len(c.Outcomes)))
	for i := range c.Outcomes {
		o := &c.Outcomes[i]
		e.Varint(o.Key.DueMs)
		e.String(o.Key.MsgID)
		e.String(o.Key.EndpointID)
		e.Uvarint(uint64(o.AttemptNo))
		o.Attempt.EncodeCore(e)
		e.Varint(o.NextDueMs)
		e.Byte(byte(o.Final))
		e.Bool(o.DisableEndpoint)
	}
	// Appended later: a trailer of flags, the leader's auto-disable
	// window, and the attempts' headers when one has them. Written only
	// when it says something, so entries of older leaders, which have
	// none, decode unchanged (as Notices false).
	var flags byte
	if c.Notices {
		flags |= outcomesNotices
	}
	if slices.ContainsFunc(c.Outcomes, func(o storage.Outcome) bool { return o.Attempt.HasHeaders() }) {
		flags |= outcomesWithHeaders
	}
	if flags == 0 && c.AutoDisableNs == 0 {
		return
	}
	e.Byte(flags)
	e.Varint(c.AutoDisableNs)
	if flags&outcomesWithHeaders != 0 {
		e.Uvarint(uint64(len(c.Outcomes)))
		for i := range c.Outcomes {
			c.Outcomes[i].Attempt.EncodeHeaders(e)
		}
	}
}

func (c *RecordOutcomes) decode(d *storage.Decoder) {
	c.Outcomes = make([]storage.Outcome, d.Count())
	for i := range c.Outcomes {
		o := &c.Outcomes[i]
		o.Key.DueMs = d.Varint()
		o.Key.MsgID = d.String()
		o.Key.EndpointID = d.String()
		o.AttemptNo = d.Uint32()
		o.Attempt.DecodeCore(d)
		o.NextDueMs = d.Varint()
		o.Final = storage.Status(d.Byte())
		o.DisableEndpoint = d.Bool()
	}
	if d.Remaining() == 0 {
		return
	}
	flags := d.Byte()
	c.Notices = flags&outcomesNotices != 0
	c.AutoDisableNs = d.Varint()
	switch {
	case flags&^(outcomesNotices|outcomesWithHeaders) != 0:
		d.Fail() // a flag this version does not know
	case flags&outcomesWithHeaders != 0:
		if d.Count() != len(c.Outcomes) {
			d.Fail()
			return
		}
		for i := range c.Outcomes {
			c.Outcomes[i].Attempt.DecodeHeaders(d)
		}
		if !slices.ContainsFunc(c.Outcomes, func(o storage.Outcome) bool { return o.Attempt.HasHeaders() }) {
			d.Fail() // never flagged without headers
		}
	case flags == 0 && c.AutoDisableNs == 0:
		d.Fail() // never written saying nothing: stray bytes, not a field
	}
}

func (c *Resend) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	e.String(c.AppID)
	e.String(c.MsgID)
	e.String(c.EndpointID)
}

func (c *Resend) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.AppID = d.String()
	c.MsgID = d.String()
	c.EndpointID = d.String()
}

func (c *Expire) encode(e *storage.Encoder) { e.Varint(c.NowMs); e.Uvarint(uint64(c.Limit)) }
func (c *Expire) decode(d *storage.Decoder) { c.NowMs = d.Varint(); c.Limit = d.Uint32() }

func (c *SetAdminHash) encode(e *storage.Encoder) { e.Bytes(c.Hash) }
func (c *SetAdminHash) decode(d *storage.Decoder) { c.Hash = d.Bytes() }

func (c *PutNode) encode(e *storage.Encoder) { c.Node.Encode(e) }
func (c *PutNode) decode(d *storage.Decoder) { c.Node.Decode(d) }

func (c *DeleteNode) encode(e *storage.Encoder) { e.String(c.ID) }
func (c *DeleteNode) decode(d *storage.Decoder) { c.ID = d.String() }

// newCommand returns an empty command of type t, or nil for an unknown type.
func newCommand(t CommandType) Command {
	switch t {
	case CmdCreateApp:
		return &CreateApp{}
	case CmdUpdateApp:
		return &UpdateApp{}
	case CmdDeleteApp:
		return &DeleteApp{}
	case CmdCreateEndpoint:
		return &CreateEndpoint{}
	case CmdUpdateEndpoint:
		return &UpdateEndpoint{}
	case CmdDeleteEndpoint:
		return &DeleteEndpoint{}
	case CmdCreateEventType:
		return &CreateEventType{}
	case CmdPutEventType:
		return &PutEventType{}
	case CmdDeleteEventType:
		return &DeleteEventType{}
	case CmdCreateMessages:
		return &CreateMessages{}
	case CmdRecordOutcomes:
		return &RecordOutcomes{}
	case CmdResend:
		return &Resend{}
	case CmdExpire:
		return &Expire{}
	case CmdSetAdminHash:
		return &SetAdminHash{}
	case CmdPutNode:
		return &PutNode{}
	case CmdDeleteNode:
		return &DeleteNode{}
	case CmdPutAppToken:
		return &PutAppToken{}
	case CmdRevokeAppTokens:
		return &RevokeAppTokens{}
	case CmdSendExample:
		return &SendExample{}
	case CmdRecover:
		return &Recover{}
	case CmdPutTask:
		return &PutTask{}
	case CmdReplayMissing:
		return &ReplayMissing{}
	case CmdRemoveNode:
		return &RemoveNode{}
	case CmdAllowRejoin:
		return &AllowRejoin{}
	case CmdExpirePayloads:
		return &ExpirePayloads{}
	case CmdPurgeMessages:
		return &PurgeMessages{}
	case CmdExpungeContent:
		return &ExpungeContent{}
	case CmdSetAppSecret:
		return &SetAppSecret{}
	}
	return nil
}

// Encode returns the envelope of c: its type byte, then its body.
func Encode(c Command) []byte {
	e := storage.Encoder{Buf: make([]byte, 0, sizeHint(c))}
	e.Byte(byte(c.Type()))
	c.encode(&e)
	return e.Buf
}

// sizeHint estimates an encoded command's size, so batch commands are
// encoded into one allocation instead of a series of doublings.
func sizeHint(c Command) int {
	n := 256
	switch c := c.(type) {
	case *CreateMessages:
		for i := range c.Items {
			it := &c.Items[i]
			n += 192 + len(it.Message.Payload) + len(it.Message.EventType) + len(it.Message.EventID)
			if it.Idem != nil {
				n += 64 + len(it.Idem.Body)
			}
		}
	case *RecordOutcomes:
		for i := range c.Outcomes {
			o := &c.Outcomes[i]
			n += 192 + o.Attempt.SizeHint()
		}
	}
	return n
}

// Decode reads an envelope. Byte slices in the command alias b.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty command: %w", storage.ErrCorrupt)
	}
	c := newCommand(CommandType(b[0]))
	if c == nil {
		return nil, fmt.Errorf("unknown command type %d: %w", b[0], storage.ErrCorrupt)
	}
	d := storage.NewDecoder(b[1:])
	c.decode(d)
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decode command type %d: %w", b[0], err)
	}
	return c, nil
}

// SendExample stores an example message and delivers it to one endpoint
// only (Svix's send-example): no other endpoint of the app sees it.
type SendExample struct {
	Meta
	Message    storage.NewMessage
	EndpointID string
}

// Type implements Command.
func (*SendExample) Type() CommandType { return CmdSendExample }

func (c *SendExample) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	c.Message.EncodeBase(e)
	e.Varint(c.Message.EventIDExpiresMs)
	e.String(c.EndpointID)
}

func (c *SendExample) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.Message.DecodeBase(d)
	c.Message.EventIDExpiresMs = d.Varint()
	c.EndpointID = d.String()
}

// SetAppSecret gives an application a new signing secret, the one its
// one-off destinations are signed with: a rotation (with the secrets kept
// signing for their grace period), or, with IfAbsent, the first secret of
// an application made before applications had one.
type SetAppSecret struct {
	Meta
	AppID       string
	Secret      string // sealed
	PrevSecrets []storage.PrevSecret
	IfAbsent    bool
}

// Type implements Command.
func (*SetAppSecret) Type() CommandType { return CmdSetAppSecret }

func (c *SetAppSecret) encode(e *storage.Encoder) {
	c.Meta.encode(e)
	e.String(c.AppID)
	e.String(c.Secret)
	storage.EncodePrevSecrets(e, c.PrevSecrets)
	e.Bool(c.IfAbsent)
}

func (c *SetAppSecret) decode(d *storage.Decoder) {
	c.Meta.decode(d)
	c.AppID = d.String()
	c.Secret = d.String()
	c.PrevSecrets = storage.DecodePrevSecrets(d)
	c.IfAbsent = d.Bool()
}
