package server

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
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
	// RetryJitter spreads each wait by up to this fraction either way
	// (0 to 0.5; 0 keeps a contract's schedule exact).
	RetryJitter *float64 `json:"retryJitter"`
	// Signature is how requests are signed.
	Signature *signatureIn `json:"signature"`
	// HeaderStyle names the Standard Webhooks headers: "webhook"
	// (webhook-id...), "svix" (svix-id...) or "both".
	HeaderStyle *string `json:"headerStyle"`
}

// signatureIn chooses a signature scheme: "standard-webhooks" (v1, the
// default), "standard-webhooks-v1a" (ed25519; the endpoint's public key is
// on GET .../secret), "none", or "hmac-sha256" configured by the other
// fields.
type signatureIn struct {
	Scheme           string  `json:"scheme"`
	Header           *string `json:"header"`
	SignedContent    *string `json:"signedContent"` // {body}, {timestamp}.{body}, {id}.{timestamp}.{body}
	Encoding         *string `json:"encoding"`      // hex (default) or base64
	Prefix           *string `json:"prefix"`        // e.g. sha256=
	Key              *string `json:"key"`           // secret-text (default) or secret-base64
	TimestampHeader  *string `json:"timestampHeader"`
	DeliveryIDHeader *string `json:"deliveryIdHeader"`
	DeliveryIDPrefix *string `json:"deliveryIdPrefix"`
}

// Names of the API's signature settings, in stored order.
var (
	schemeNames   = map[string]storage.SignatureScheme{"standard-webhooks": storage.SchemeStandard, "standard-webhooks-v1a": storage.SchemeV1a, "hmac-sha256": storage.SchemeHMAC, "none": storage.SchemeNone}
	contentNames  = map[string]storage.SignedContent{"{body}": storage.SignBody, "{timestamp}.{body}": storage.SignTimestampBody, "{id}.{timestamp}.{body}": storage.SignIDTimestampBody}
	headerStyles  = map[string]storage.HeaderStyle{"webhook": storage.HeadersWebhook, "svix": storage.HeadersSvix, "both": storage.HeadersBoth}
	reservedNames = []string{"user-agent", "authorization", "cookie"}
)

func nameOf[K comparable](m map[string]K, v K) string {
	for name, x := range m {
		if x == v {
			return name
		}
	}
	return ""
}

// toSignature validates a signature setting into p.
func toSignature(v *violations, in *signatureIn, p *storage.Policy) {
	loc := func(f string) []string { return []string{"deliveryPolicy", "signature", f} }
	scheme, ok := schemeNames[in.Scheme]
	if !ok {
		v.add(`must be "standard-webhooks", "standard-webhooks-v1a", "hmac-sha256" or "none"`, loc("scheme")...)
		return
	}
	p.Scheme = scheme
	hmacOnly := []*string{in.Header, in.SignedContent, in.Encoding, in.Prefix, in.Key, in.TimestampHeader, in.DeliveryIDHeader, in.DeliveryIDPrefix}
	if scheme != storage.SchemeHMAC {
		for _, f := range hmacOnly {
			if f != nil {
				v.add("only the hmac-sha256 scheme takes settings", loc("scheme")...)
				return
			}
		}
		return
	}
	h := &p.HMAC
	checkName := func(name *string, field string, required bool) string {
		if name == nil || *name == "" {
			v.check(!required, "field required: the header that carries the signature", loc(field)...)
			return ""
		}
		lk := strings.ToLower(*name)
		switch {
		case !headerName.MatchString(*name):
			v.add("not a valid header name", loc(field)...)
		case slices.Contains(forbiddenHeaders, lk) || slices.Contains(reservedNames, lk) || strings.HasPrefix(lk, "webhook-") || strings.HasPrefix(lk, "svix-"):
			v.add("this header is set by Herald or the transport and cannot carry a signature", loc(field)...)
		}
		return *name
	}
	h.Header = checkName(in.Header, "header", true)
	h.TimestampHeader = checkName(in.TimestampHeader, "timestampHeader", false)
	h.DeliveryIDHeader = checkName(in.DeliveryIDHeader, "deliveryIdHeader", false)
	if in.SignedContent != nil {
		c, ok := contentNames[*in.SignedContent]
		v.check(ok, `must be "{body}", "{timestamp}.{body}" or "{id}.{timestamp}.{body}"`, loc("signedContent")...)
		h.Content = c
	}
	if in.Encoding != nil {
		v.check(*in.Encoding == "hex" || *in.Encoding == "base64", `must be "hex" or "base64"`, loc("encoding")...)
		h.Base64 = *in.Encoding == "base64"
	}
	if in.Key != nil {
		v.check(*in.Key == "secret-text" || *in.Key == "secret-base64", `must be "secret-text" (the whsec_ secret's UTF-8 bytes) or "secret-base64" (the bytes its base64 encodes)`, loc("key")...)
		h.KeyBase64 = *in.Key == "secret-base64"
	}
	for _, f := range []struct {
		val   *string
		dst   *string
		field string
	}{{in.Prefix, &h.Prefix, "prefix"}, {in.DeliveryIDPrefix, &h.DeliveryIDPrefix, "deliveryIdPrefix"}} {
		if f.val != nil {
			v.check(len(*f.val) <= 64 && validHeaderValue(*f.val), "at most 64 printable characters", loc(f.field)...)
			*f.dst = *f.val
		}
	}
	if in.DeliveryIDPrefix != nil && in.DeliveryIDHeader == nil {
		v.add("give deliveryIdHeader too", loc("deliveryIdPrefix")...)
	}
}

// signatureOut shows a signature setting.
func toSignatureOut(p *storage.Policy) *signatureIn {
	if p.Scheme == storage.SchemeInherit {
		return nil
	}
	out := &signatureIn{Scheme: nameOf(schemeNames, p.Scheme)}
	if p.Scheme != storage.SchemeHMAC {
		return out
	}
	h := &p.HMAC
	str := func(s string) *string { return &s }
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out.Header = str(h.Header)
	out.SignedContent = str(nameOf(contentNames, h.Content))
	out.Encoding = str("hex")
	if h.Base64 {
		out.Encoding = str("base64")
	}
	out.Prefix = str(h.Prefix)
	out.Key = str("secret-text")
	if h.KeyBase64 {
		out.Key = str("secret-base64")
	}
	out.TimestampHeader = opt(h.TimestampHeader)
	out.DeliveryIDHeader = opt(h.DeliveryIDHeader)
	out.DeliveryIDPrefix = opt(h.DeliveryIDPrefix)
	return out
}

// policyOut shows a policy with null for what is inherited.
type policyOut struct {
	RetrySchedule   []string     `json:"retrySchedule"`
	AttemptTimeout  *string      `json:"attemptTimeout"`
	DisableOn410    *bool        `json:"disableOn410"`
	HonorRetryAfter *bool        `json:"honorRetryAfter"`
	HTTPSOnly       *bool        `json:"httpsOnly,omitempty"`
	RetryJitter     *float64     `json:"retryJitter"`
	Signature       *signatureIn `json:"signature"`
	HeaderStyle     *string      `json:"headerStyle"`
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
	if in.RetryJitter != nil {
		j := *in.RetryJitter
		v.check(j >= 0 && j <= 0.5, "must be between 0 and 0.5", "deliveryPolicy", "retryJitter")
		p.JitterSet, p.JitterPct = true, uint8(math.Round(min(max(j, 0), 0.5)*100))
	}
	if in.Signature != nil {
		toSignature(v, in.Signature, &p)
	}
	if in.HeaderStyle != nil {
		style, ok := headerStyles[*in.HeaderStyle]
		v.check(ok, `must be "webhook", "svix" or "both"`, "deliveryPolicy", "headerStyle")
		p.Headers = style
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
	out.Signature = toSignatureOut(p)
	if p.JitterSet {
		j := float64(p.JitterPct) / 100
		out.RetryJitter = &j
	}
	if p.Headers != storage.HeadersInherit {
		name := nameOf(headerStyles, p.Headers)
		out.HeaderStyle = &name
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

// policyFields are the names of deliveryPolicy's fields, refused at the
// top level of an application or endpoint: Svix's objects ignore unknown
// fields (decodeBody), but a policy setting put beside deliveryPolicy
// instead of in it would silently leave the delivery contract at its
// default.
var policyFields = map[string]bool{
	"retryschedule": true, "attempttimeout": true, "disableon410": true, "honorretryafter": true,
	"httpsonly": true, "retryjitter": true, "signature": true, "headerstyle": true,
}

// decodeWithPolicy is decodeBody for applications and endpoints: it also
// refuses a policy field outside deliveryPolicy, and any field inside
// deliveryPolicy (and its signature) that Herald does not know.
func decodeWithPolicy(c *fasthttp.RequestCtx, v any) error {
	if err := decodeBody(c, v); err != nil {
		return err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(c.PostBody(), &top) != nil {
		return nil // not an object: decodeBody has said so
	}
	for name, raw := range top {
		lname := strings.ToLower(name)
		if policyFields[lname] {
			return extraField([]string{"body", name}, "a delivery policy setting: put it inside deliveryPolicy")
		}
		if lname != "deliverypolicy" || string(raw) == "null" {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var p policyIn
		if err := dec.Decode(&p); err != nil {
			if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				return extraField([]string{"body", name, strings.Trim(field, `"`)}, "unknown field: deliveryPolicy has no such setting, so Herald refuses it instead of ignoring it")
			}
		}
	}
	return nil
}

func extraField(loc []string, msg string) error {
	return &validationError{fields: []fieldError{{Loc: loc, Msg: msg, Type: "value_error.extra"}}}
}
