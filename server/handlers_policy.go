package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/storage"
)

// policyIn is the Herald extension "deliveryPolicy" on applications and
// endpoints: how their deliveries are made. A field left out (or null)
// inherits: an endpoint's from its application, an application's from the
// server's configuration. The resolved policy is stamped into each delivery
// when it is created.
type policyIn struct {
	// RetrySchedule holds the waits after attempts 1, 2, ... as Go
	// durations ("1m", "2h"); [] means a single attempt.
	RetrySchedule *[]string `json:"retrySchedule"`
	// AttemptTimeout bounds one attempt ("5s", at most 5m).
	AttemptTimeout *string `json:"attemptTimeout"`
	// DisableOn410: false makes a 410 Gone a plain failure.
	DisableOn410 *bool `json:"disableOn410"`
	// HonorRetryAfter: false ignores Retry-After on 429/502/503/504.
	HonorRetryAfter *bool `json:"honorRetryAfter"`
	// HTTPSOnly refuses http:// endpoint and destination URLs
	// (applications only).
	HTTPSOnly *bool `json:"httpsOnly"`
}

// policyOut shows a policy with null for what is inherited.
type policyOut struct {
	RetrySchedule   []string `json:"retrySchedule"`
	AttemptTimeout  *string  `json:"attemptTimeout"`
	DisableOn410    *bool    `json:"disableOn410"`
	HonorRetryAfter *bool    `json:"honorRetryAfter"`
	HTTPSOnly       *bool    `json:"httpsOnly,omitempty"`
}

// maxAttemptTimeout bounds a policy's attempt timeout: a worker is held
// for the whole attempt.
const maxAttemptTimeout = 5 * time.Minute

// toPolicy validates in (nil = nothing set) into a stored policy. forApp
// allows the application-only fields.
func toPolicy(v *violations, in *policyIn, forApp bool) storage.Policy {
	var p storage.Policy
	if in == nil {
		return p
	}
	if in.RetrySchedule != nil {
		list := *in.RetrySchedule
		if len(list) == 0 {
			p.NoRetries = true
		} else if sched, err := delivery.ParseRetrySchedule(strings.Join(list, ",")); err != nil {
			v.add(strings.TrimPrefix(err.Error(), delivery.ErrInvalidRetrySchedule.Error()+": "), "deliveryPolicy", "retrySchedule")
		} else {
			p.RetryScheduleMs = make([]int64, len(sched))
			for i, d := range sched {
				v.check(d >= time.Millisecond, "each wait must be at least 1ms", "deliveryPolicy", "retrySchedule")
				p.RetryScheduleMs[i] = d.Milliseconds()
			}
		}
	}
	if in.AttemptTimeout != nil {
		d, err := time.ParseDuration(*in.AttemptTimeout)
		switch {
		case err != nil:
			v.add("must be a duration like 5s or 30s", "deliveryPolicy", "attemptTimeout")
		case d < time.Second || d > maxAttemptTimeout:
			v.add("must be between 1s and 5m", "deliveryPolicy", "attemptTimeout")
		default:
			p.AttemptTimeoutMs = d.Milliseconds()
		}
	}
	p.On410 = choice(in.DisableOn410)
	p.RetryAfter = choice(in.HonorRetryAfter)
	if in.HTTPSOnly != nil {
		v.check(forApp, "set httpsOnly on the application; it applies to all its endpoints and destinations", "deliveryPolicy", "httpsOnly")
		p.HTTPSOnly = choice(in.HTTPSOnly)
	}
	return p
}

func choice(b *bool) storage.Choice {
	switch {
	case b == nil:
		return storage.Inherit
	case *b:
		return storage.Yes
	}
	return storage.No
}

func fromChoice(c storage.Choice) *bool {
	if c == storage.Inherit {
		return nil
	}
	b := c == storage.Yes
	return &b
}

// toPolicyOut renders p; forApp shows httpsOnly.
func toPolicyOut(p *storage.Policy, forApp bool) *policyOut {
	out := &policyOut{DisableOn410: fromChoice(p.On410), HonorRetryAfter: fromChoice(p.RetryAfter)}
	switch {
	case p.NoRetries:
		out.RetrySchedule = []string{}
	case p.RetryScheduleMs != nil:
		out.RetrySchedule = make([]string, len(p.RetryScheduleMs))
		for i, ms := range p.RetryScheduleMs {
			out.RetrySchedule[i] = (time.Duration(ms) * time.Millisecond).String()
		}
	}
	if p.AttemptTimeoutMs > 0 {
		s := (time.Duration(p.AttemptTimeoutMs) * time.Millisecond).String()
		out.AttemptTimeout = &s
	}
	if forApp {
		out.HTTPSOnly = fromChoice(p.HTTPSOnly)
		if out.HTTPSOnly == nil {
			f := false
			out.HTTPSOnly = &f
		}
	}
	return out
}

// checkAppHTTPS refuses an http:// URL for an application whose policy is
// https-only (the server-wide setting is the guard's).
func checkAppHTTPS(v *violations, a *storage.App, rawURL string, loc ...string) {
	if a.Policy.HTTPSOnly == storage.Yes && strings.HasPrefix(strings.ToLower(rawURL), "http://") {
		v.add("http URLs are not allowed for this application (deliveryPolicy.httpsOnly); use https", loc...)
	}
}

// appAllowsURL is checkAppHTTPS as an answer for a request's url field.
func appAllowsURL(a *storage.App, rawURL string) error {
	var v violations
	checkAppHTTPS(&v, a, rawURL, "url")
	return v.err()
}

// decodeStrict is decodeBody for objects that refuse fields Herald does not
// know (applications and endpoints with their delivery policy): a setting
// silently dropped would be a delivery contract silently broken.
func decodeStrict(c *fasthttp.RequestCtx, v any) error {
	if err := decodeBody(c, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(c.PostBody()))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return &validationError{fields: []fieldError{{
			Loc:  []string{"body", name},
			Msg:  "unknown field: Herald does not know it, so it refuses it instead of ignoring it",
			Type: "value_error.extra",
		}}}
	}
	return errors.New("decode body: " + msg)
}
