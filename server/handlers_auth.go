package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// AppTokenPrefix starts every application token, so leaked tokens are easy
// to recognise in scanners.
const AppTokenPrefix = "hrldapp_"

type appPortalAccessIn struct {
	Application  *applicationIn `json:"application"`
	Expiry       *uint64        `json:"expiry"`
	FeatureFlags []string       `json:"featureFlags"`
	ReadOnly     *bool          `json:"readOnly"`
	SessionID    *string        `json:"sessionId"`
	Capabilities []string       `json:"capabilities"`
	portalBranding
}

// appPortalAccess issues an application-scoped token (Svix's app portal
// access). The token is returned once and only its hash is replicated, so
// this route takes no idempotency key: a stored replay would keep the token.
func (s *Server) appPortalAccess(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in appPortalAccessIn
	if len(c.PostBody()) > 0 {
		if err := decodeBody(c, &in); err != nil {
			return err
		}
	}
	var v violations
	ttl := defaultTokenTTL
	if in.Expiry != nil {
		ttl = time.Duration(*in.Expiry) * time.Second
		v.check(ttl >= minTokenTTL && ttl <= maxTokenTTL, "must be between 3600 (1 hour) and 604800 (7 days) seconds", "expiry")
	}
	if in.SessionID != nil {
		v.check(len(*in.SessionID) <= 256, "must be at most 256 characters", "sessionId")
	}
	v.check(len(in.FeatureFlags) <= 64, "at most 64 feature flags", "featureFlags")
	// Tokens carry no capability set yet: a restricted list would be
	// silently widened to every capability, so it is refused instead.
	if len(in.Capabilities) > 0 && !allCapabilities(in.Capabilities) {
		v.add("restricting a token's capabilities is not supported; omit capabilities (all) or set readOnly", "capabilities")
	}
	in.portalBranding.validate(&v)
	if err := v.err(); err != nil {
		return err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if isNotFound(err) && in.Application != nil {
		a, err = s.createAppFor(c, pathParam(c, "app_id"), in.Application)
	}
	if err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := AppTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	t := storage.AppToken{
		Hash: sum[:], AppID: a.ID, SessionID: deref(in.SessionID), FeatureFlags: in.FeatureFlags,
		ReadOnly: in.ReadOnly != nil && *in.ReadOnly, CreatedAt: now.UnixNano(), ExpiresAt: now.Add(ttl).UnixNano(),
	}
	out := struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}{URL: s.portalLink(token, a.ID, &in.portalBranding), Token: token}
	body := marshalUnescaped(out) // the link's '&' stays readable in a terminal
	return s.commit(c, &raft.PutAppToken{Meta: raft.Meta{Time: now.UnixNano()}, Token: t}, http.StatusOK, body)
}

// allCapabilities reports whether list grants every app-portal capability.
func allCapabilities(list []string) bool {
	for _, c := range []string{"ViewBase", "ViewEndpointSecret", "ManageEndpointSecret", "ManageTransformations", "CreateAttempts", "ManageEndpoint"} {
		if !slices.Contains(list, c) {
			return false
		}
	}
	return true
}

// createAppFor creates the application an app-portal request names, as
// Svix does when the body carries one: its uid must be the path's.
func (s *Server) createAppFor(c *fasthttp.RequestCtx, ref string, in *applicationIn) (storage.App, error) {
	var v violations
	v.check(in.UID != nil && *in.UID == ref, "must be set and equal the application uid in the path", "application", "uid")
	if err := v.err(); err != nil {
		return storage.App{}, err
	}
	if err := in.validate(); err != nil {
		return storage.App{}, err
	}
	now := s.now()
	a := storage.App{
		ID: storage.NewID(storage.PrefixApp, now), UID: *in.UID, Name: *in.Name, Metadata: in.Metadata,
		ThrottleRate: rateOf(in.ThrottleRate, in.RateLimit), CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano(),
	}
	resp, err := s.node.Apply(&raft.CreateApp{Meta: raft.Meta{Time: now.UnixNano()}, App: a})
	if err != nil {
		return a, err
	}
	if res, _ := resp.(raft.Result); res.Err != nil {
		return a, res.Err
	}
	return a, nil
}

type expireAllIn struct {
	Expiry     *int64   `json:"expiry"`
	SessionIDs []string `json:"sessionIds"`
}

// expireAll revokes an application's tokens (all, or those of some
// sessions), now or after a delay.
func (s *Server) expireAll(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in expireAllIn
	if len(c.PostBody()) > 0 {
		if err := decodeBody(c, &in); err != nil {
			return err
		}
	}
	var v violations
	delay := time.Duration(0)
	if in.Expiry != nil {
		delay = time.Duration(*in.Expiry) * time.Second
		v.check(*in.Expiry >= 0 && delay <= maxTokenTTL, "must be between 0 and 604800 seconds", "expiry")
	}
	if err := v.err(); err != nil {
		return err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	now := s.now()
	cmd := &raft.RevokeAppTokens{Meta: raft.Meta{Time: now.UnixNano()}, AppID: a.ID, SessionIDs: in.SessionIDs, At: now.Add(delay).UnixNano()}
	return s.commit(c, cmd, statusNoContent, noContent)
}

// logout revokes the application token the request carries.
func (s *Server) logout(c *fasthttp.RequestCtx, p principal) error {
	if p.admin {
		c.SetStatusCode(http.StatusNoContent)
		return nil
	}
	sum := sha256.Sum256([]byte(bearer(c)))
	now := s.now()
	cmd := &raft.RevokeAppTokens{Meta: raft.Meta{Time: now.UnixNano()}, AppID: p.appID, TokenHash: sum[:], At: now.UnixNano()}
	return s.commit(c, cmd, statusNoContent, noContent)
}
