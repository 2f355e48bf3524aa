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
}

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
		p.On410 == Inherit && p.RetryAfter == Inherit && p.HTTPSOnly == Inherit
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
	return p
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
}
