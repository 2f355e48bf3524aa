package storage

import "strings"

// Records are encoded with a leading format version byte. To add a field,
// append it at the end of Encode and decode it only when bytes remain
// (d.Remaining() > 0), so records written before stay readable; Decode
// currently reads exactly the fields below. Commands embed records, so a
// record change is also a command-format change (see raft/command.go).
const recordV1 = 1

// App is an application: one customer of the platform, owning endpoints and
// messages.
type App struct {
	ID           string
	UID          string
	Name         string
	Metadata     map[string]string
	ThrottleRate uint16 // deliveries/s per endpoint; 0 = unlimited
	CreatedAt    int64  // unix nanoseconds, stamped by the leader
	UpdatedAt    int64
	// Policy is the app's delivery policy (appended field): its
	// endpoints' deliveries inherit what their endpoint leaves unset.
	Policy Policy
	// Secret signs the deliveries to one-off destinations named on the
	// app's messages (whsec_..., sealed at rest like an endpoint's, see
	// SecretAAD); PrevSecrets are those a rotation replaced, signing too
	// until they expire. Appended fields; "" on apps made before them
	// until one is needed (see Tx.SetAppSecret).
	Secret      string
	PrevSecrets []PrevSecret
}

// SecretAAD is the additional data the app's sealed secret is bound to.
func (a *App) SecretAAD() []byte { return []byte("herald/app-secret/" + a.ID) }

// Endpoint is a URL that receives an application's messages.
type Endpoint struct {
	ID           string
	AppID        string
	UID          string
	URL          string
	Description  string
	Version      uint16
	Disabled     bool
	FilterTypes  []string          // event types it receives; empty = all
	Channels     []string          // channels it receives; empty = all
	Headers      map[string]string // values sealed (keyring) at rest, see HeaderAAD; older ones may be plain text
	Metadata     map[string]string
	Secret       string // whsec_... signing secret, sealed (keyring) at rest
	ThrottleRate uint16
	CreatedAt    int64
	UpdatedAt    int64
	// PrevSecrets are secrets a rotation replaced, newest first: messages
	// are signed with them too until they expire, so receivers can switch
	// to the new secret at their own pace. Sealed like Secret.
	PrevSecrets []PrevSecret
	// Policy is the endpoint's delivery policy (appended field); what it
	// leaves unset comes from the app.
	Policy Policy
}

// PrevSecret is a rotated-out signing secret and when it stops signing.
type PrevSecret struct {
	Secret    string
	ExpiresAt int64 // unix nanoseconds
}

// SecretAAD is the additional data the endpoint's sealed secret is bound
// to: a sealed secret copied onto another endpoint does not open.
func (ep *Endpoint) SecretAAD() []byte {
	return []byte("herald/endpoint-secret/" + ep.AppID + "/" + ep.ID)
}

// HeaderAAD is the additional data a sealed custom header value of the
// endpoint is bound to: the endpoint and the header's name (HTTP names are
// case-insensitive), so a sealed value moved to another header or endpoint
// does not open.
func (ep *Endpoint) HeaderAAD(name string) []byte {
	return []byte("herald/endpoint-header/" + ep.AppID + "/" + ep.ID + "/" + strings.ToLower(name))
}

// EventType names a kind of event that messages carry and endpoints filter on.
type EventType struct {
	Name         string
	Description  string
	Archived     bool
	Deprecated   bool
	FeatureFlags []string
	GroupName    string
	Schemas      []byte // raw JSON object, or nil
	CreatedAt    int64
	UpdatedAt    int64
}

// Message is one event accepted for delivery.
type Message struct {
	ID        string
	AppID     string
	EventType string
	EventID   string
	Channels  []string
	Tags      []string
	Payload   []byte // raw JSON object
	Timestamp int64  // accepted at, unix nanoseconds
	DeliverAt int64  // first attempt not before; 0 = at Timestamp
	// Destination is the one-off destination the message names (zero:
	// none), delivered besides the app's matching endpoints. Appended
	// field of the stored record; commands carry it apart (EncodeBase).
	Destination Destination
}

// Destination is a one-off destination named on a message (the "webhook_url
// per job" pattern): delivered to like an endpoint, through the same
// delivery, schedule and attempt records, keyed by ID where an endpoint's
// id goes, but not an endpoint of the app.
type Destination struct {
	// ID is DestinationID of the app and the URL's origin, stamped by the
	// leader when the message is accepted.
	ID  string
	URL string
}

// IsZero reports a message without a one-off destination.
func (d *Destination) IsZero() bool { return d.ID == "" && d.URL == "" }

// Status is the state of a delivery or the outcome of an attempt. The values
// are Svix's MessageStatus numbers.
type Status uint8

// Status values, numbered as in the Svix API.
const (
	StatusSuccess  Status = 0
	StatusPending  Status = 1
	StatusFail     Status = 2
	StatusSending  Status = 3
	StatusCanceled Status = 4
)

// String returns Svix's statusText for s.
func (s Status) String() string {
	switch s {
	case StatusSuccess:
		return "success"
	case StatusPending:
		return "pending"
	case StatusFail:
		return "fail"
	case StatusSending:
		return "sending"
	case StatusCanceled:
		return "canceled"
	}
	return "unknown"
}

// Trigger says why an attempt was made.
type Trigger uint8

// Trigger values, numbered as Svix's MessageAttemptTriggerType.
const (
	TriggerScheduled Trigger = 0
	TriggerManual    Trigger = 1
)

// Delivery is the state of one message towards one endpoint.
type Delivery struct {
	AppID       string
	MsgID       string
	EndpointID  string
	Status      Status
	Attempts    uint32 // attempts made so far
	NextAttempt int64  // due time of the pending attempt; 0 = none
	LastAttempt int64  // time of the latest attempt; 0 = none
	// Policy is the delivery policy stamped when the delivery was created
	// (endpoint over app; unset fields: the server default). Appended.
	Policy Policy
	// FailingNoticed is set once a message.attempt.failing notice was
	// made for this delivery, so its next success makes a
	// message.attempt.recovered one (appended after Policy, only when set).
	FailingNoticed bool
}

// Attempt is the record of one HTTP request made for a delivery.
type Attempt struct {
	ID         string
	AppID      string
	MsgID      string
	EndpointID string
	Timestamp  int64 // when the request started, unix nanoseconds
	URL        string
	StatusCode int    // 0 when no response arrived
	Response   []byte // response body, truncated
	DurationMs int64
	Error      string // transport error text, empty on a response
	Trigger    Trigger
	Status     Status // StatusSuccess or StatusFail
	// RequestHeaders are the headers the request was sent with and
	// ResponseHeaders those of its response, in name order, credentials
	// redacted and bounded by the sender (appended fields). Attempts
	// recorded before carry neither: RequestHeaders is nil exactly when
	// the headers were not recorded, since every request sent has some.
	RequestHeaders  []Header
	ResponseHeaders []Header
}

// HeaderAAD is the additional data a sealed value of the attempt's
// recorded request header name is bound to (see delivery.SealRecordedHeaders).
func (at *Attempt) HeaderAAD(name string) []byte {
	return []byte("herald/attempt-header/" + at.AppID + "/" + at.ID + "/" + strings.ToLower(name))
}

// Header is one header line of a recorded request or response.
type Header struct {
	Name  string
	Value string
}

// Due is the value stored under a schedule key: what the dispatcher needs to
// start the attempt without another lookup.
type Due struct {
	AppID   string
	Attempt uint32 // 1-based number of the attempt to make
	Trigger Trigger
	// Policy is the delivery's stamped policy, copied here so the
	// dispatcher has it without another read (appended; nil when it sets
	// nothing, as for most: a pointer keeps schedule pages small).
	Policy *Policy
}

// Node is a cluster member as recorded in the replicated registry.
type Node struct {
	ID       string
	RaftAddr string
	HTTPAddr string
}

// RemovedNode is the tombstone of a node an operator removed: it may not
// join again until an operator allows it (see Tx.AllowRejoin).
type RemovedNode struct {
	ID string
	At int64 // unix ns, the leader's clock when it was removed
}

// AppToken is an API token scoped to one application (app portal access).
// Only its hash is stored; the token itself is shown once, to its creator.
type AppToken struct {
	Hash         []byte // sha256 of the token
	AppID        string
	SessionID    string
	ReadOnly     bool
	FeatureFlags []string
	CreatedAt    int64
	ExpiresAt    int64 // unix nanoseconds; revocation moves it earlier
	// Capabilities restrict what the token may do (Svix's app portal
	// capability names); empty means the default set: ViewBase alone when
	// ReadOnly, every capability otherwise. Appended field: written only
	// when set, so tokens without it keep their encoding.
	Capabilities []string
}

// Encode appends t's encoding.
func (t *AppToken) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.Bytes(t.Hash)
	e.String(t.AppID)
	e.String(t.SessionID)
	e.Bool(t.ReadOnly)
	e.Strings(t.FeatureFlags)
	e.Varint(t.CreatedAt)
	e.Varint(t.ExpiresAt)
	if len(t.Capabilities) > 0 {
		e.Strings(t.Capabilities)
	}
}

// Decode reads what Encode wrote.
func (t *AppToken) Decode(d *Decoder) {
	checkVersion(d)
	t.Hash = cloneBytes(d.Bytes())
	t.AppID = d.String()
	t.SessionID = d.String()
	t.ReadOnly = d.Bool()
	t.FeatureFlags = d.Strings()
	t.CreatedAt = d.Varint()
	t.ExpiresAt = d.Varint()
	if d.Remaining() > 0 {
		if t.Capabilities = d.Strings(); len(t.Capabilities) == 0 {
			d.fail() // never written empty: a stray byte, not a field
		}
	}
}

// IdempotentResponse is the first response to a request that carried an
// Idempotency-Key; a repeat of the key gets it back unchanged.
type IdempotentResponse struct {
	Status    uint16
	Body      []byte
	CreatedAt int64
}

// Encode appends a's encoding.
func (a *App) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(a.ID)
	e.String(a.UID)
	e.String(a.Name)
	e.Map(a.Metadata)
	e.Uvarint(uint64(a.ThrottleRate))
	e.Varint(a.CreatedAt)
	e.Varint(a.UpdatedAt)
	// Appended fields: written only when set, so records without them
	// keep their encoding. A secret follows the policy, which is then
	// written even when it sets nothing.
	if !a.Policy.IsZero() || a.Secret != "" {
		encodePolicy(e, &a.Policy)
	}
	if a.Secret != "" {
		e.String(a.Secret)
		EncodePrevSecrets(e, a.PrevSecrets)
	}
}

// Decode reads what Encode wrote.
func (a *App) Decode(d *Decoder) {
	checkVersion(d)
	a.ID = d.String()
	a.UID = d.String()
	a.Name = d.String()
	a.Metadata = d.Map()
	a.ThrottleRate = d.Uint16()
	a.CreatedAt = d.Varint()
	a.UpdatedAt = d.Varint()
	if d.Remaining() > 0 {
		decodePolicy(d, &a.Policy)
	}
	if d.Remaining() > 0 {
		if a.Secret = d.String(); a.Secret == "" {
			d.fail() // never written empty: a stray byte, not a field
			return
		}
		a.PrevSecrets = DecodePrevSecrets(d)
	}
}

// EncodePrevSecrets appends a counted list of rotated-out secrets.
func EncodePrevSecrets(e *Encoder, list []PrevSecret) {
	e.Uvarint(uint64(len(list)))
	for _, ps := range list {
		e.String(ps.Secret)
		e.Varint(ps.ExpiresAt)
	}
}

// DecodePrevSecrets reads what EncodePrevSecrets wrote; empty decodes as nil.
func DecodePrevSecrets(d *Decoder) []PrevSecret {
	n := d.Count()
	if n == 0 {
		return nil
	}
	list := make([]PrevSecret, 0, n)
	for range n {
		list = append(list, PrevSecret{Secret: d.String(), ExpiresAt: d.Varint()})
	}
	return list
}

// Encode appends ep's encoding.
func (ep *Endpoint) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(ep.ID)
	e.String(ep.AppID)
	e.String(ep.UID)
	e.String(ep.URL)
	e.String(ep.Description)
	e.Uvarint(uint64(ep.Version))
	e.Bool(ep.Disabled)
	e.Strings(ep.FilterTypes)
	e.Strings(ep.Channels)
	e.Map(ep.Headers)
	e.Map(ep.Metadata)
	e.String(ep.Secret)
	e.Uvarint(uint64(ep.ThrottleRate))
	e.Varint(ep.CreatedAt)
	e.Varint(ep.UpdatedAt)
	// Appended field (see the top of this file): written only when there
	// is something to write, so records without it keep their encoding.
	// A policy follows the previous secrets, whose count is then written
	// even when it is zero.
	hasPolicy := !ep.Policy.IsZero()
	if len(ep.PrevSecrets) > 0 || hasPolicy {
		EncodePrevSecrets(e, ep.PrevSecrets)
	}
	if hasPolicy {
		encodePolicy(e, &ep.Policy)
	}
}

// Decode reads what Encode wrote.
func (ep *Endpoint) Decode(d *Decoder) {
	checkVersion(d)
	ep.ID = d.String()
	ep.AppID = d.String()
	ep.UID = d.String()
	ep.URL = d.String()
	ep.Description = d.String()
	ep.Version = d.Uint16()
	ep.Disabled = d.Bool()
	ep.FilterTypes = d.Strings()
	ep.Channels = d.Strings()
	ep.Headers = d.Map()
	ep.Metadata = d.Map()
	ep.Secret = d.String()
	ep.ThrottleRate = d.Uint16()
	ep.CreatedAt = d.Varint()
	ep.UpdatedAt = d.Varint()
	if d.Remaining() > 0 {
		n := d.Count()
		if n == 0 && d.Remaining() == 0 {
			d.fail() // written empty only before a policy: a stray byte, not a field
			return
		}
		if n > 0 {
			ep.PrevSecrets = make([]PrevSecret, 0, n)
		}
		for range n {
			ep.PrevSecrets = append(ep.PrevSecrets, PrevSecret{Secret: d.String(), ExpiresAt: d.Varint()})
		}
	}
	if d.Remaining() > 0 {
		decodePolicy(d, &ep.Policy)
	}
}

// Encode appends t's encoding.
func (t *EventType) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(t.Name)
	e.String(t.Description)
	e.Bool(t.Archived)
	e.Bool(t.Deprecated)
	e.Strings(t.FeatureFlags)
	e.String(t.GroupName)
	e.Bytes(t.Schemas)
	e.Varint(t.CreatedAt)
	e.Varint(t.UpdatedAt)
}

// Decode reads what Encode wrote.
func (t *EventType) Decode(d *Decoder) {
	checkVersion(d)
	t.Name = d.String()
	t.Description = d.String()
	t.Archived = d.Bool()
	t.Deprecated = d.Bool()
	t.FeatureFlags = d.Strings()
	t.GroupName = d.String()
	t.Schemas = cloneBytes(d.Bytes())
	t.CreatedAt = d.Varint()
	t.UpdatedAt = d.Varint()
}

// Encode appends m's encoding as stored: EncodeBase, then the appended
// destination when there is one.
func (m *Message) Encode(e *Encoder) {
	m.EncodeBase(e)
	if !m.Destination.IsZero() {
		e.Bytes(encode(m.Destination.encode))
	}
}

// Decode reads what Encode wrote. Payload aliases the decoder's input.
func (m *Message) Decode(d *Decoder) {
	m.DecodeBase(d)
	if d.Remaining() > 0 {
		b := d.Bytes()
		if len(b) == 0 {
			d.fail() // never written empty
			return
		}
		if err := decodeInto(b, m.Destination.decode); err != nil {
			d.fail()
		}
	}
}

// EncodeBase appends the fields every message record has had from the
// start: the form commands embed, where more fields follow the message and
// an appended field could not be told from them (they carry the
// destination apart).
func (m *Message) EncodeBase(e *Encoder) {
	e.Byte(recordV1)
	e.String(m.ID)
	e.String(m.AppID)
	e.String(m.EventType)
	e.String(m.EventID)
	e.Strings(m.Channels)
	e.Strings(m.Tags)
	e.Bytes(m.Payload)
	e.Varint(m.Timestamp)
	e.Varint(m.DeliverAt)
}

// DecodeBase reads what EncodeBase wrote. Payload aliases the input.
func (m *Message) DecodeBase(d *Decoder) {
	checkVersion(d)
	m.ID = d.String()
	m.AppID = d.String()
	m.EventType = d.String()
	m.EventID = d.String()
	m.Channels = d.Strings()
	m.Tags = d.Strings()
	m.Payload = d.Bytes()
	m.Timestamp = d.Varint()
	m.DeliverAt = d.Varint()
}

// destinationV1 leads a destination's encoding; fields added later are
// appended after URL and read when bytes remain.
const destinationV1 = 1

func (dst *Destination) encode(e *Encoder) {
	e.Byte(destinationV1)
	e.String(dst.ID)
	e.String(dst.URL)
}

func (dst *Destination) decode(d *Decoder) {
	if d.Byte() != destinationV1 {
		d.fail()
		return
	}
	dst.ID = d.String()
	dst.URL = d.String()
}

// EncodeDestination appends a message's destination for a command: a
// length-prefixed encoding, empty for none.
func EncodeDestination(e *Encoder, dst *Destination) {
	if dst.IsZero() {
		e.Bytes(nil)
		return
	}
	e.Bytes(encode(dst.encode))
}

// DecodeDestination reads what EncodeDestination wrote.
func DecodeDestination(d *Decoder, dst *Destination) {
	b := d.Bytes()
	if len(b) == 0 {
		*dst = Destination{}
		return
	}
	if err := decodeInto(b, dst.decode); err != nil {
		d.Fail()
	}
}

// Encode appends dl's encoding.
func (dl *Delivery) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(dl.AppID)
	e.String(dl.MsgID)
	e.String(dl.EndpointID)
	e.Byte(byte(dl.Status))
	e.Uvarint(uint64(dl.Attempts))
	e.Varint(dl.NextAttempt)
	e.Varint(dl.LastAttempt)
	// Appended, only when set; the flag follows the policy, which is then
	// written even when it is zero.
	if !dl.Policy.IsZero() || dl.FailingNoticed {
		encodePolicy(e, &dl.Policy)
	}
	if dl.FailingNoticed {
		e.Bool(true)
	}
}

// Decode reads what Encode wrote.
func (dl *Delivery) Decode(d *Decoder) {
	checkVersion(d)
	dl.AppID = d.String()
	dl.MsgID = d.String()
	dl.EndpointID = d.String()
	dl.Status = Status(d.Byte())
	dl.Attempts = d.Uint32()
	dl.NextAttempt = d.Varint()
	dl.LastAttempt = d.Varint()
	if d.Remaining() > 0 {
		decodePolicy(d, &dl.Policy)
	}
	if d.Remaining() > 0 {
		if dl.FailingNoticed = d.Bool(); !dl.FailingNoticed {
			d.fail() // never written false: a stray byte, not a field
		}
	}
}

// Encode appends at's encoding.
func (at *Attempt) Encode(e *Encoder) {
	at.EncodeCore(e)
	// Appended fields: written only when recorded, so attempts without
	// them keep their encoding.
	if at.HasHeaders() {
		at.EncodeHeaders(e)
	}
}

// Decode reads what Encode wrote.
func (at *Attempt) Decode(d *Decoder) {
	at.DecodeCore(d)
	if d.Remaining() > 0 {
		if at.DecodeHeaders(d); !at.HasHeaders() {
			d.fail() // never written empty: a stray byte, not a field
		}
	}
}

// HasHeaders reports whether at carries recorded headers.
func (at *Attempt) HasHeaders() bool {
	return len(at.RequestHeaders) > 0 || len(at.ResponseHeaders) > 0
}

// EncodeCore appends the fields every attempt has had since the first
// format; a command that embeds attempts among other fields writes their
// headers after them (see raft.RecordOutcomes).
func (at *Attempt) EncodeCore(e *Encoder) {
	e.Byte(recordV1)
	e.String(at.ID)
	e.String(at.AppID)
	e.String(at.MsgID)
	e.String(at.EndpointID)
	e.Varint(at.Timestamp)
	e.String(at.URL)
	e.Varint(int64(at.StatusCode))
	e.Bytes(at.Response)
	e.Varint(at.DurationMs)
	e.String(at.Error)
	e.Byte(byte(at.Trigger))
	e.Byte(byte(at.Status))
}

// DecodeCore reads what EncodeCore wrote.
func (at *Attempt) DecodeCore(d *Decoder) {
	checkVersion(d)
	at.ID = d.String()
	at.AppID = d.String()
	at.MsgID = d.String()
	at.EndpointID = d.String()
	at.Timestamp = d.Varint()
	at.URL = d.String()
	at.StatusCode = int(d.Varint())
	at.Response = cloneBytes(d.Bytes())
	at.DurationMs = d.Varint()
	at.Error = d.String()
	at.Trigger = Trigger(d.Byte())
	at.Status = Status(d.Byte())
}

// EncodeHeaders appends at's request and response headers.
func (at *Attempt) EncodeHeaders(e *Encoder) {
	encodeHeaders(e, at.RequestHeaders)
	encodeHeaders(e, at.ResponseHeaders)
}

// DecodeHeaders reads what EncodeHeaders wrote.
func (at *Attempt) DecodeHeaders(d *Decoder) {
	at.RequestHeaders = decodeHeaders(d)
	at.ResponseHeaders = decodeHeaders(d)
}

// SizeHint is about the encoded size of at's variable-length fields, for
// sizing batches and buffers; the fixed fields add up to about 128 bytes.
func (at *Attempt) SizeHint() int {
	n := len(at.Response) + len(at.URL) + len(at.Error)
	for _, hs := range [2][]Header{at.RequestHeaders, at.ResponseHeaders} {
		for _, h := range hs {
			n += 2 + len(h.Name) + len(h.Value)
		}
	}
	return n
}

func encodeHeaders(e *Encoder, hs []Header) {
	e.Uvarint(uint64(len(hs)))
	for _, h := range hs {
		e.String(h.Name)
		e.String(h.Value)
	}
}

func decodeHeaders(d *Decoder) []Header {
	n := d.Count()
	if n == 0 {
		return nil
	}
	hs := make([]Header, n)
	for i := range hs {
		hs[i] = Header{Name: d.String(), Value: d.String()}
	}
	return hs
}

// Encode appends du's encoding.
func (du *Due) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(du.AppID)
	e.Uvarint(uint64(du.Attempt))
	e.Byte(byte(du.Trigger))
	if du.Policy != nil && !du.Policy.IsZero() { // appended, only when set
		encodePolicy(e, du.Policy)
	}
}

// Decode reads what Encode wrote.
func (du *Due) Decode(d *Decoder) {
	checkVersion(d)
	du.AppID = d.String()
	du.Attempt = d.Uint32()
	du.Trigger = Trigger(d.Byte())
	if d.Remaining() > 0 {
		du.Policy = new(Policy)
		decodePolicy(d, du.Policy)
	}
}

// Encode appends n's encoding.
func (n *Node) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(n.ID)
	e.String(n.RaftAddr)
	e.String(n.HTTPAddr)
}

// Decode reads what Encode wrote.
func (n *Node) Decode(d *Decoder) {
	checkVersion(d)
	n.ID = d.String()
	n.RaftAddr = d.String()
	n.HTTPAddr = d.String()
}

// Encode appends n's encoding.
func (n *RemovedNode) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(n.ID)
	e.Varint(n.At)
}

// Decode reads what Encode wrote.
func (n *RemovedNode) Decode(d *Decoder) {
	checkVersion(d)
	n.ID = d.String()
	n.At = d.Varint()
}

// Encode appends r's encoding.
func (r *IdempotentResponse) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.Uvarint(uint64(r.Status))
	e.Bytes(r.Body)
	e.Varint(r.CreatedAt)
}

// Decode reads what Encode wrote.
func (r *IdempotentResponse) Decode(d *Decoder) {
	checkVersion(d)
	r.Status = d.Uint16()
	r.Body = cloneBytes(d.Bytes())
	r.CreatedAt = d.Varint()
}

func checkVersion(d *Decoder) {
	if v := d.Byte(); v != recordV1 && d.err == nil {
		d.fail()
	}
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
