package storage

// Policy is how deliveries are made: set on an application or an endpoint
// (each field may be left to the level above), and stamped, resolved
// endpoint -> application, into each delivery and its schedule entries when
// the delivery is created, so that a later change does not rewrite what an
// existing delivery was promised. A zero field means "inherit" (and, in a
// stamped delivery, "the server default").
type Policy struct {
	// RetryScheduleMs holds the delays in milliseconds after attempts 1,
	// 2, ...; nil inherits. NoRetries says the schedule is empty on
	// purpose (one attempt only), which nil cannot.
	RetryScheduleMs []int64
	NoRetries       bool
	// AttemptTimeoutMs bounds one attempt; 0 inherits.
	AttemptTimeoutMs int64
	// On410 is what a 410 Gone answer does: Inherit, Yes (disable the
	// endpoint) or No (a plain failure).
	On410 Choice
	// RetryAfter is whether Retry-After on a 429/502/503/504 stretches
	// the schedule.
	RetryAfter Choice
	// HTTPSOnly refuses http:// URLs at creation (applications only).
	HTTPSOnly Choice
	// Scheme is how requests are signed; HMAC configures SchemeHMAC.
	Scheme SignatureScheme
	HMAC   HMACScheme
	// Headers names Standard Webhooks' headers: webhook-*, svix-*, or both.
	Headers HeaderStyle
	// JitterSet says JitterPct (0-50) replaces the server's retry jitter:
	// each wait is spread by up to that percentage either way.
	JitterSet bool
	JitterPct uint8
}

// SignatureScheme is how a delivery's requests are signed. Values are
// stored; only ever append.
type SignatureScheme uint8

const (
	SchemeInherit  SignatureScheme = 0
	SchemeStandard SignatureScheme = 1 // Standard Webhooks v1 (HMAC-SHA256, webhook-signature)
	SchemeHMAC     SignatureScheme = 2 // a configurable HMAC-SHA256 header (HMACScheme)
	SchemeNone     SignatureScheme = 3 // unsigned
	SchemeV1a      SignatureScheme = 4 // Standard Webhooks v1a (ed25519, key pair derived from the secret)
)

// HMACScheme is a configurable HMAC-SHA256 signature, to reproduce the
// schemes platforms document ("X-Foo-Signature: sha256=<hex>").
type HMACScheme struct {
	Header  string // the signature header, e.g. X-Transcodely-Signature
	Content SignedContent
	Base64  bool   // base64 (standard) instead of lowercase hex
	Prefix  string // put before the signature, e.g. "sha256="
	// KeyBase64 keys the HMAC with the base64-decoded bytes after whsec_
	// (as Standard Webhooks does) instead of the secret's literal UTF-8
	// bytes, "whsec_" included.
	KeyBase64        bool
	TimestampHeader  string // sends the signing time (Unix seconds) in this header; "" = none
	DeliveryIDHeader string // sends the delivery id in this header; "" = none
	DeliveryIDPrefix string // put before the delivery id in that header
}

// SignedContent is what an HMACScheme signs. Stored; only ever append.
type SignedContent uint8

const (
	SignBody            SignedContent = 0 // {body}
	SignTimestampBody   SignedContent = 1 // {timestamp}.{body}
	SignIDTimestampBody SignedContent = 2 // {id}.{timestamp}.{body}
)

// HeaderStyle names the Standard Webhooks headers. Stored; only ever append.
type HeaderStyle uint8

const (
	HeadersInherit HeaderStyle = 0
	HeadersWebhook HeaderStyle = 1 // webhook-id, webhook-timestamp, webhook-signature
	HeadersSvix    HeaderStyle = 2 // svix-id, svix-timestamp, svix-signature
	HeadersBoth    HeaderStyle = 3 // both sets
)

// Choice is a yes/no setting that may be left to the level above.
type Choice uint8

// Choice values are stored; only ever append.
const (
	Inherit Choice = 0
	Yes     Choice = 1
	No      Choice = 2
)

// Or returns c, or fallback when c is Inherit.
func (c Choice) Or(fallback Choice) Choice {
	if c == Inherit {
		return fallback
	}
	return c
}

// IsZero reports a policy that sets nothing.
func (p *Policy) IsZero() bool {
	return p.RetryScheduleMs == nil && !p.NoRetries && p.AttemptTimeoutMs == 0 &&
		p.On410 == Inherit && p.RetryAfter == Inherit && p.HTTPSOnly == Inherit &&
		p.Scheme == SchemeInherit && p.HMAC == (HMACScheme{}) && p.Headers == HeadersInherit &&
		!p.JitterSet && p.JitterPct == 0
}

// Over returns p with the fields it leaves to the level above taken from
// parent.
func (p Policy) Over(parent Policy) Policy {
	if p.RetryScheduleMs == nil && !p.NoRetries {
		p.RetryScheduleMs, p.NoRetries = parent.RetryScheduleMs, parent.NoRetries
	}
	if p.AttemptTimeoutMs == 0 {
		p.AttemptTimeoutMs = parent.AttemptTimeoutMs
	}
	p.On410 = p.On410.Or(parent.On410)
	p.RetryAfter = p.RetryAfter.Or(parent.RetryAfter)
	p.HTTPSOnly = p.HTTPSOnly.Or(parent.HTTPSOnly)
	if p.Scheme == SchemeInherit {
		p.Scheme, p.HMAC = parent.Scheme, parent.HMAC
	}
	if p.Headers == HeadersInherit {
		p.Headers = parent.Headers
	}
	if !p.JitterSet {
		p.JitterSet, p.JitterPct = parent.JitterSet, parent.JitterPct
	}
	return p
}

// Ref returns p, or nil when it sets nothing (see Due.Policy).
func (p Policy) Ref() *Policy {
	if p.IsZero() {
		return nil
	}
	return &p
}

// policyV1 leads a policy's encoding.
const policyV1 = 1

// encodePolicy appends p's encoding, nested in a record.
func encodePolicy(e *Encoder, p *Policy) {
	e.Byte(policyV1)
	e.Uvarint(uint64(len(p.RetryScheduleMs)))
	for _, ms := range p.RetryScheduleMs {
		e.Varint(ms)
	}
	e.Bool(p.NoRetries)
	e.Varint(p.AttemptTimeoutMs)
	e.Byte(byte(p.On410))
	e.Byte(byte(p.RetryAfter))
	e.Byte(byte(p.HTTPSOnly))
	e.Byte(byte(p.Scheme))
	h := &p.HMAC
	e.String(h.Header)
	e.Byte(byte(h.Content))
	e.Bool(h.Base64)
	e.String(h.Prefix)
	e.Bool(h.KeyBase64)
	e.String(h.TimestampHeader)
	e.String(h.DeliveryIDHeader)
	e.String(h.DeliveryIDPrefix)
	e.Byte(byte(p.Headers))
	e.Bool(p.JitterSet)
	e.Byte(p.JitterPct)
}

// decodePolicy reads what encodePolicy wrote.
func decodePolicy(d *Decoder, p *Policy) {
	if d.Byte() != policyV1 {
		d.fail()
		return
	}
	if n := d.Count(); n > 0 {
		p.RetryScheduleMs = make([]int64, n)
		for i := range p.RetryScheduleMs {
			p.RetryScheduleMs[i] = d.Varint()
		}
	}
	p.NoRetries = d.Bool()
	p.AttemptTimeoutMs = d.Varint()
	p.On410 = Choice(d.Byte())
	p.RetryAfter = Choice(d.Byte())
	p.HTTPSOnly = Choice(d.Byte())
	p.Scheme = SignatureScheme(d.Byte())
	h := &p.HMAC
	h.Header = d.String()
	h.Content = SignedContent(d.Byte())
	h.Base64 = d.Bool()
	h.Prefix = d.String()
	h.KeyBase64 = d.Bool()
	h.TimestampHeader = d.String()
	h.DeliveryIDHeader = d.String()
	h.DeliveryIDPrefix = d.String()
	p.Headers = HeaderStyle(d.Byte())
	p.JitterSet = d.Bool()
	p.JitterPct = d.Byte()
}
