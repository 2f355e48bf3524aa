package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
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
	readOnly := in.ReadOnly != nil && *in.ReadOnly
	caps := checkCapabilities(&v, in.Capabilities, readOnly)
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
		ReadOnly: readOnly, CreatedAt: now.UnixNano(), ExpiresAt: now.Add(ttl).UnixNano(),
	}
	// The default sets (everything; ViewBase when read-only) are stored
	// as no list, as tokens were before capabilities existed.
	if in.Capabilities != nil && caps != allCapabilities && !(readOnly && caps == capViewBase) {
		t.Capabilities = caps.names()
	}
	out := struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}{URL: s.cfg.PublicURL + "/app-portal/#token=" + token, Token: token}
	body, _ := json.Marshal(out)
	return s.commit(c, &raft.PutAppToken{Meta: raft.Meta{Time: now.UnixNano()}, Token: t}, http.StatusOK, body)
}

// checkCapabilities validates a requested capability list and returns the
// set the token gets: every capability when no list is given (Svix's
// default), ViewBase alone for a read-only token.
func checkCapabilities(v *violations, list []string, readOnly bool) capability {
	if list == nil {
		if readOnly {
			return capViewBase
		}
		return allCapabilities
	}
	if len(list) > 2*len(capabilityNames) {
		v.add("at most 12 entries", "capabilities")
		return 0
	}
	var set capability
	for i, name := range list {
		c, ok := parseCapability(name)
		if !ok {
			v.add("unknown capability; use ViewBase, ViewEndpointSecret, ManageEndpointSecret, ManageTransformations, CreateAttempts or ManageEndpoint", "capabilities", strconv.Itoa(i))
			continue
		}
		set |= c
	}
	v.check(set&capViewBase != 0 || len(list) == 0, "must include ViewBase, which every token needs", "capabilities")
	v.check(len(list) > 0, "must not be empty; omit it for every capability", "capabilities")
	if readOnly && set&^capViewBase != 0 {
		v.add("a read-only token has ViewBase only; drop readOnly or the other capabilities", "capabilities")
	}
	return set
}

// appSessionOut is GET /api/v1/auth/session for an application token, a
// Herald addition: the token as the API sees it, so a portal shows only
// the controls the token may use. An admin token answers {"kind":"admin"}.
// readOnly is true when no capability lets the token change anything.
type appSessionOut struct {
	Kind         string    `json:"kind"` // "app_portal"
	AppID        string    `json:"appId"`
	AppUID       *string   `json:"appUid"`
	ReadOnly     bool      `json:"readOnly"`
	Capabilities []string  `json:"capabilities"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

// session answers the caller's view of its own token.
func (s *Server) session(c *fasthttp.RequestCtx, p principal) error {
	if p.admin {
		writeJSON(c, http.StatusOK, struct {
			Kind string `json:"kind"`
		}{"admin"})
		return nil
	}
	a, err := s.loadApp(p, p.appID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, appSessionOut{
		Kind: "app_portal", AppID: a.ID, AppUID: optString(a.UID), ReadOnly: p.caps&^readCapabilities == 0,
		Capabilities: p.caps.names(), ExpiresAt: ts(p.expiresAt),
	})
	return nil
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
