package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// namePattern is what Svix accepts for event type names, channels and event
// ids.
var (
	namePattern    = regexp.MustCompile(`^[a-zA-Z0-9\-_.]{1,256}$`)
	channelPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_.:]{1,256}$`)
	headerName     = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,256}$")
)

// forbiddenHeaders may not be set per endpoint: they carry the signature,
// frame the request, or would let one endpoint's headers confuse receivers.
var forbiddenHeaders = []string{
	"connection", "content-encoding", "content-length", "content-type", "expect", "host",
	"keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
}

type endpointIn struct {
	URL          *string           `json:"url"`
	Description  *string           `json:"description"`
	UID          *string           `json:"uid"`
	Version      *uint16           `json:"version"`
	Disabled     *bool             `json:"disabled"`
	FilterTypes  []string          `json:"filterTypes"`
	EventTypes   []string          `json:"eventTypes"` // Svix's newer name for filterTypes
	Channels     []string          `json:"channels"`
	Headers      map[string]string `json:"headers"`
	Metadata     map[string]string `json:"metadata"`
	Secret       *string           `json:"secret"`
	RateLimit    *uint16           `json:"rateLimit"`
	ThrottleRate *uint16           `json:"throttleRate"`
	// Policy is a Herald extension (handlers_policy.go).
	Policy *policyIn `json:"deliveryPolicy"`
	policy storage.Policy
}

// checkURL refuses a URL an endpoint or destination may not have; loc is
// where the request gave it ("url" when empty).
func (s *Server) checkURL(v *violations, raw string, loc ...string) {
	if len(loc) == 0 {
		loc = []string{"url"}
	}
	u, err := s.guard.CheckURL(raw)
	if err == nil {
		// A name that resolves to a refused address is refused now, with
		// a clear message, and not only at every connection.
		err = s.guard.CheckResolves(context.Background(), u, s.cfg.Resolver)
	}
	if err != nil {
		msg := err.Error()
		if errors.Is(err, delivery.ErrForbiddenAddress) {
			msg = "the URL points at a private or reserved address: " + msg
		}
		v.add(msg, loc...)
	}
}

func checkFilters(v *violations, filterTypes, channels []string) {
	if filterTypes != nil {
		v.check(len(filterTypes) > 0, "must not be empty; omit it to receive every event type", "filterTypes")
		for _, t := range filterTypes {
			v.check(namePattern.MatchString(t), "event type names are 1-256 characters of a-z, A-Z, 0-9, '-', '_' and '.'", "filterTypes")
		}
	}
	if channels != nil {
		v.check(len(channels) > 0 && len(channels) <= 10, "must hold 1 to 10 channels; omit it to receive every channel", "channels")
		for _, ch := range channels {
			v.check(channelPattern.MatchString(ch), "channels are 1-256 characters of a-z, A-Z, 0-9, '-', '_', '.' and ':'", "channels")
		}
	}
}

func checkHeaders(v *violations, headers map[string]string) {
	v.check(len(headers) <= 20, "at most 20 headers", "headers")
	for k, val := range headers {
		lk := strings.ToLower(k)
		switch {
		case !headerName.MatchString(k):
			v.add("not a valid header name", "headers", k)
		case slices.Contains(forbiddenHeaders, lk) || strings.HasPrefix(lk, "webhook-") || strings.HasPrefix(lk, "svix-"):
			v.add("this header is set by Herald and may not be overridden", "headers", k)
		case !validHeaderValue(val) || len(val) > 4096:
			v.add("header values are at most 4096 printable characters (tabs allowed)", "headers", k)
		}
	}
}

// validHeaderValue reports whether v can be sent as an HTTP header value:
// visible ASCII, spaces and tabs, and obs-text bytes; no control
// characters, which net/http would refuse at send time on every attempt.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// normalizeSecret accepts a secret with or without the whsec_ prefix, as
// Svix does, and checks it decodes to 24-64 bytes.
func normalizeSecret(v *violations, s string) string {
	if !strings.HasPrefix(s, delivery.SecretPrefix) {
		s = delivery.SecretPrefix + s
	}
	if _, err := delivery.ParseSecret(s); err != nil {
		v.add("must be whsec_ followed by the base64 of 24 to 64 bytes", "secret")
	}
	return s
}

func (in *endpointIn) validate(s *Server) error {
	var v violations
	if in.EventTypes != nil {
		v.check(in.FilterTypes == nil, "give eventTypes or filterTypes, not both", "eventTypes")
		in.FilterTypes = in.EventTypes
	}
	if in.URL == nil || *in.URL == "" {
		v.add("field required", "url")
	} else {
		s.checkURL(&v, *in.URL)
	}
	if in.UID != nil {
		checkUID(&v, *in.UID, storage.PrefixEndpoint)
	}
	if in.Version != nil {
		v.check(*in.Version >= 1, "must be a whole number between 1 and 65535", "version")
	}
	if in.Description != nil {
		v.check(len(*in.Description) <= 1024, "must be at most 1024 characters", "description")
	}
	checkFilters(&v, in.FilterTypes, in.Channels)
	checkHeaders(&v, in.Headers)
	checkMetadata(&v, in.Metadata)
	checkRate(&v, in.RateLimit, "rateLimit")
	checkRate(&v, in.ThrottleRate, "throttleRate")
	if in.Secret != nil {
		*in.Secret = normalizeSecret(&v, *in.Secret)
	}
	in.policy = toPolicy(&v, in.Policy, false)
	return v.err()
}

// apply copies the request onto ep (all fields but the secret and headers,
// which only create sets).
func (in *endpointIn) apply(ep *storage.Endpoint) {
	ep.URL = *in.URL
	ep.Description = deref(in.Description)
	ep.UID = deref(in.UID)
	ep.Version = 1
	if in.Version != nil {
		ep.Version = *in.Version
	}
	ep.Disabled = in.Disabled != nil && *in.Disabled
	ep.FilterTypes = in.FilterTypes
	ep.Channels = in.Channels
	ep.Metadata = in.Metadata
	ep.ThrottleRate = rateOf(in.ThrottleRate, in.RateLimit)
	ep.Policy = in.policy
}

// checkEndpointLimit refuses a new endpoint for an application that has
// its maximum. Two creations racing past the check can exceed it by one
// each; the limit guards resources, not an invariant.
func (s *Server) checkEndpointLimit(appID string) error {
	if s.cfg.MaxEndpointsPerApp <= 0 {
		return nil
	}
	n := 0
	_ = s.store.View(func(r *storage.Reader) error { n = r.CountEndpoints(appID); return nil })
	if n >= s.cfg.MaxEndpointsPerApp {
		return errorf(http.StatusUnprocessableEntity, "limit_reached",
			"The application already has "+strconv.Itoa(n)+" endpoints, the most allowed.")
	}
	return nil
}

// loadEndpoint finds an application and one of its endpoints for p; on
// an operational webhook route, the hidden application and one of its
// endpoints (admin tokens only).
func (s *Server) loadEndpoint(c *fasthttp.RequestCtx, p principal) (storage.App, storage.Endpoint, error) {
	if isOpsRoute(c) {
		ep, err := s.loadOpsEndpoint(c, p)
		return storage.App{ID: storage.OpsAppID}, ep, err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return a, storage.Endpoint{}, err
	}
	var ep storage.Endpoint
	err = s.store.View(func(r *storage.Reader) error {
		ep, err = r.Endpoint(a.ID, pathParam(c, "endpoint_id"))
		return err
	})
	if err == storage.ErrNotFound {
		return a, ep, notFound("Endpoint")
	}
	return a, ep, err
}

func (s *Server) listEndpoints(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	opts, err := listOptions(c, true) // Svix lists endpoints newest first
	if err != nil {
		return err
	}
	var page storage.Page[storage.Endpoint]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListEndpoints(a.ID, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, toEndpointOut))
	return nil
}

func (s *Server) createEndpoint(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	if s.replayed(c, p) {
		return nil
	}
	var in endpointIn
	if err := decodeWithPolicy(c, &in); err != nil {
		return err
	}
	if err := in.validate(s); err != nil {
		return err
	}
	if err := appAllowsURL(&a, *in.URL); err != nil {
		return err
	}
	if err := s.checkEndpointLimit(a.ID); err != nil {
		return err
	}
	now := s.now()
	ep := storage.Endpoint{ID: storage.NewID(storage.PrefixEndpoint, now), AppID: a.ID, CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano()}
	in.apply(&ep)
	ep.Headers = s.sealHeaders(&ep, in.Headers)
	if in.Secret != nil {
		ep.Secret = *in.Secret
	} else if ep.Secret, err = delivery.GenerateSecret(); err != nil {
		return err
	}
	s.sealEndpoint(&ep)
	body, _ := json.Marshal(toEndpointOut(&ep))
	return s.commit(c, &raft.CreateEndpoint{Meta: s.meta(c, p, now, http.StatusCreated, body), Endpoint: ep}, http.StatusCreated, body)
}

func (s *Server) getEndpoint(c *fasthttp.RequestCtx, p principal) error {
	_, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, toEndpointOut(&ep))
	return nil
}

// updateEndpoint is PUT: replace the endpoint's settings (an absent uid
// clears it), or create one (201) when the path names none.
func (s *Server) updateEndpoint(c *fasthttp.RequestCtx, p principal) error {
	var in endpointIn
	if err := decodeWithPolicy(c, &in); err != nil {
		return err
	}
	in.Secret, in.Headers = nil, nil // not part of Svix's EndpointUpdate
	if err := in.validate(s); err != nil {
		return err
	}
	a, ep, err := s.loadEndpoint(c, p)
	if a.ID != "" {
		if err := appAllowsURL(&a, *in.URL); err != nil {
			return err
		}
	}
	now := s.now()
	switch {
	case err == nil:
		in.apply(&ep)
		ep.UpdatedAt = now.UnixNano()
		s.sealEndpoint(&ep)
		body, _ := json.Marshal(toEndpointOut(&ep))
		return s.commit(c, &raft.UpdateEndpoint{Meta: raft.Meta{Time: now.UnixNano()}, Endpoint: ep}, http.StatusOK, body)
	case isNotFound(err) && a.ID != "":
		if err := s.checkEndpointLimit(a.ID); err != nil {
			return err
		}
		// As in Svix, the new endpoint gets a fresh id and the body's uid;
		// the path names nothing that exists, so it is not used.
		ep = storage.Endpoint{ID: storage.NewID(storage.PrefixEndpoint, now), AppID: a.ID, CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano()}
		in.apply(&ep)
		if ep.Secret, err = delivery.GenerateSecret(); err != nil {
			return err
		}
		s.sealEndpoint(&ep)
		body, _ := json.Marshal(toEndpointOut(&ep))
		return s.commit(c, &raft.CreateEndpoint{Meta: raft.Meta{Time: now.UnixNano()}, Endpoint: ep}, http.StatusCreated, body)
	}
	return err
}

type endpointPatch struct {
	URL          *string            `json:"url"`
	Description  *string            `json:"description"`
	UID          nullable[string]   `json:"uid"`
	Version      *uint16            `json:"version"`
	Disabled     *bool              `json:"disabled"`
	FilterTypes  nullable[[]string] `json:"filterTypes"`
	Channels     nullable[[]string] `json:"channels"`
	Metadata     map[string]string  `json:"metadata"`
	Secret       nullable[string]   `json:"secret"`
	RateLimit    nullable[uint16]   `json:"rateLimit"`
	ThrottleRate nullable[uint16]   `json:"throttleRate"`
	// Policy replaces the delivery policy; null clears it.
	Policy nullable[policyIn] `json:"deliveryPolicy"`
}

func (s *Server) patchEndpoint(c *fasthttp.RequestCtx, p principal) error {
	var in endpointPatch
	if err := decodeWithPolicy(c, &in); err != nil {
		return err
	}
	a, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	var v violations
	if in.URL != nil {
		s.checkURL(&v, *in.URL)
		checkAppHTTPS(&v, &a, *in.URL, "url")
		ep.URL = *in.URL
	}
	if in.Description != nil {
		v.check(len(*in.Description) <= 1024, "must be at most 1024 characters", "description")
		ep.Description = *in.Description
	}
	if in.UID.Set {
		ep.UID = ""
		if !in.UID.Null {
			checkUID(&v, in.UID.Value, storage.PrefixEndpoint)
			ep.UID = in.UID.Value
		}
	}
	if in.Version != nil {
		v.check(*in.Version >= 1, "must be a whole number between 1 and 65535", "version")
		ep.Version = *in.Version
	}
	if in.Disabled != nil {
		ep.Disabled = *in.Disabled
	}
	if in.FilterTypes.Set {
		ep.FilterTypes = nil
		if !in.FilterTypes.Null {
			checkFilters(&v, in.FilterTypes.Value, nil)
			ep.FilterTypes = in.FilterTypes.Value
		}
	}
	if in.Channels.Set {
		ep.Channels = nil
		if !in.Channels.Null {
			checkFilters(&v, nil, in.Channels.Value)
			ep.Channels = in.Channels.Value
		}
	}
	if in.Metadata != nil {
		checkMetadata(&v, in.Metadata)
		ep.Metadata = in.Metadata
	}
	if in.Secret.Set {
		if in.Secret.Null {
			if ep.Secret, err = delivery.GenerateSecret(); err != nil {
				return err
			}
		} else {
			ep.Secret = normalizeSecret(&v, in.Secret.Value)
		}
	}
	for _, r := range []nullable[uint16]{in.RateLimit, in.ThrottleRate} {
		if r.Set {
			ep.ThrottleRate = 0
			if !r.Null {
				checkRate(&v, &r.Value, "throttleRate")
				ep.ThrottleRate = r.Value
			}
		}
	}
	if in.Policy.Set {
		ep.Policy = storage.Policy{}
		if !in.Policy.Null {
			ep.Policy = toPolicy(&v, &in.Policy.Value, false)
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	now := s.now()
	ep.UpdatedAt = now.UnixNano()
	s.sealEndpoint(&ep)
	body, _ := json.Marshal(toEndpointOut(&ep))
	return s.commit(c, &raft.UpdateEndpoint{Meta: raft.Meta{Time: now.UnixNano()}, Endpoint: ep}, http.StatusOK, body)
}

func (s *Server) deleteEndpoint(c *fasthttp.RequestCtx, p principal) error {
	a, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	cmd := &raft.DeleteEndpoint{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: a.ID, EndpointID: ep.ID}
	return s.commit(c, cmd, statusNoContent, noContent)
}

// getEndpointSecret is the one route that returns a signing secret.
func (s *Server) getEndpointSecret(c *fasthttp.RequestCtx, p principal) error {
	_, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	secret, err := s.openSecret(&ep)
	if err != nil {
		return err
	}
	writeSecret(c, secret)
	return nil
}

// Rotation, as in Svix: the replaced secret keeps signing (alongside the new
// one, in the same webhook-signature header) for a grace period, a day
// unless the request says otherwise, so receivers can move to the new
// secret without rejecting a message.
const (
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 7 * 24 * time.Hour
	maxPrevSecrets     = 5
)

// rotateEndpointSecret replaces an endpoint's signing secret with the one
// given, or a generated one, and keeps the old one signing for the grace
// period.
func (s *Server) rotateEndpointSecret(c *fasthttp.RequestCtx, p principal) error {
	in, err := decodeRotation(c)
	if err != nil {
		return err
	}
	_, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	now := s.now()
	secret, prev, err := in.rotate(ep.Secret, ep.PrevSecrets, now)
	if err != nil {
		return err
	}
	ep.Secret, ep.PrevSecrets, ep.UpdatedAt = secret, prev, now.UnixNano()
	s.sealEndpoint(&ep)
	return s.commit(c, &raft.UpdateEndpoint{Meta: s.meta(c, p, now, http.StatusNoContent, nil), Endpoint: ep}, statusNoContent, noContent)
}

// rotationIn is the body of a secret rotation (Svix's
// EndpointSecretRotateIn), for endpoints and applications alike.
type rotationIn struct {
	Key                *string `json:"key"`
	GracePeriodSeconds *int64  `json:"gracePeriodSeconds"`
}

// decodeRotation reads a rotation's body, which may be empty.
func decodeRotation(c *fasthttp.RequestCtx) (rotationIn, error) {
	var in rotationIn
	if len(bytes.TrimSpace(c.PostBody())) > 0 {
		if err := decodeBody(c, &in); err != nil {
			return in, err
		}
	}
	return in, nil
}

// rotate returns the new secret (plain text; the caller seals it) and the
// secrets that keep signing: the replaced one for the grace period, with
// the earlier ones still in theirs.
func (in *rotationIn) rotate(current string, old []storage.PrevSecret, now time.Time) (string, []storage.PrevSecret, error) {
	var v violations
	grace := defaultGracePeriod
	if in.GracePeriodSeconds != nil {
		g := *in.GracePeriodSeconds
		v.check(g >= 0 && g <= int64(maxGracePeriod/time.Second), "must be between 0 and 604800 (7 days)", "gracePeriodSeconds")
		grace = time.Duration(g) * time.Second
	}
	secret := ""
	var err error
	if in.Key != nil {
		secret = normalizeSecret(&v, *in.Key)
	} else if secret, err = delivery.GenerateSecret(); err != nil {
		return "", nil, err
	}
	if err := v.err(); err != nil {
		return "", nil, err
	}
	// No grace means the old secrets stop signing now, all of them: a
	// rotation without grace is what one does after a leak.
	var prev []storage.PrevSecret
	if grace > 0 && current != "" {
		prev = append(prev, storage.PrevSecret{Secret: current, ExpiresAt: now.Add(grace).UnixNano()})
		for _, ps := range old {
			if ps.ExpiresAt > now.UnixNano() && len(prev) < maxPrevSecrets {
				prev = append(prev, ps)
			}
		}
	}
	return secret, prev, nil
}

// sealEndpoint encrypts the endpoint's plaintext secret, and any header
// value stored before values were sealed, before they go into a Raft
// command, so the log, the state and snapshots only ever hold them sealed.
func (s *Server) sealEndpoint(ep *storage.Endpoint) {
	if s.cfg.Keys != nil && !keyring.IsSealed(ep.Secret) {
		ep.Secret = s.cfg.Keys.Seal([]byte(ep.Secret), ep.SecretAAD())
	}
	delivery.SealLegacyHeaders(s.cfg.Keys, ep)
}

// sealHeaders seals header values a request gives in plain text; ep must
// already have its id and application.
func (s *Server) sealHeaders(ep *storage.Endpoint, plain map[string]string) map[string]string {
	if plain == nil {
		return nil
	}
	sealed := make(map[string]string, len(plain))
	for name, v := range plain {
		sealed[name] = delivery.SealHeader(s.cfg.Keys, ep, name, v)
	}
	return sealed
}

// openSecret decrypts an endpoint's secret for the secret route.
func (s *Server) openSecret(ep *storage.Endpoint) (string, error) {
	if !keyring.IsSealed(ep.Secret) {
		return ep.Secret, nil
	}
	if s.cfg.Keys == nil {
		return "", errors.New("endpoint secret is sealed and no secrets key is configured")
	}
	plain, err := s.cfg.Keys.Open(ep.Secret, ep.SecretAAD())
	if err != nil {
		return "", fmt.Errorf("open endpoint secret: %w", err)
	}
	return string(plain), nil
}
