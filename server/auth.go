package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// Authentication and scopes. Two kinds of bearer token exist:
//
//   - admin tokens (configured, or generated on a cluster's first start)
//     may do everything;
//   - application tokens (app portal access) may read and manage one
//     application's endpoints, messages and attempts, and nothing else,
//     as far as their capabilities allow (see capabilities.go). They
//     expire and can be revoked.
//
// Only sha256 hashes of tokens are kept, compared in constant time, and no
// token is ever logged.

// principal is who a request acts as.
type principal struct {
	admin     bool
	appID     string     // an application token's application
	caps      capability // an application token's capabilities
	expiresAt int64      // an application token's expiry, unix ns
	flags     []string   // an application token's feature flags
	id        string     // stable name for idempotency scoping and rate limits
}

// handler is a route's work; it returns an error to be answered as JSON.
type handler func(c *fasthttp.RequestCtx, p principal) error

// authed wraps a handler with bearer-token authentication and the per-token
// rate limit, counted where the request is served.
func (s *Server) authed(h handler) fasthttp.RequestHandler {
	return s.authenticated(func(c *fasthttp.RequestCtx, p principal) error {
		if err := s.limits.allow(c, p); err != nil {
			return err
		}
		return h(c, p)
	})
}

// authenticated wraps a handler with bearer-token authentication and the
// route's capability check only.
func (s *Server) authenticated(h handler) fasthttp.RequestHandler {
	return func(c *fasthttp.RequestCtx) {
		p, err := s.authenticate(c)
		if err == nil {
			err = authorize(c, p)
		}
		if err == nil {
			err = h(c, p)
		}
		if err != nil {
			s.writeError(c, err)
		}
	}
}

// bearer returns the request's bearer token, or "".
func bearer(c *fasthttp.RequestCtx) string {
	token, ok := strings.CutPrefix(string(c.Request.Header.Peek("Authorization")), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate maps the bearer token to a principal.
func (s *Server) authenticate(c *fasthttp.RequestCtx) (principal, error) {
	token := bearer(c)
	if token == "" {
		return principal{}, errUnauthorized
	}
	sum := sha256.Sum256([]byte(token))
	for _, want := range s.cfg.AdminTokenHashes {
		if subtle.ConstantTimeCompare(sum[:], want) == 1 {
			return principal{admin: true, id: "admin"}, nil
		}
	}
	var (
		stored []byte
		app    storage.AppToken
		appErr error
	)
	_ = s.store.View(func(r *storage.Reader) error {
		stored = r.AdminHash()
		app, appErr = r.AppToken(sum[:])
		return nil
	})
	if stored != nil && subtle.ConstantTimeCompare(sum[:], stored) == 1 {
		return principal{admin: true, id: "admin"}, nil
	}
	// The lookup is by hash, so it leaks nothing about other tokens.
	if appErr == nil && s.now().UnixNano() < app.ExpiresAt {
		return principal{appID: app.AppID, caps: tokenCapabilities(&app), expiresAt: app.ExpiresAt, flags: app.FeatureFlags,
			id: "app:" + hex.EncodeToString(sum[:8])}, nil
	}
	return principal{}, errUnauthorized
}

// canAccessApp refuses an application token reaching another application.
// As in Svix, the other application is "not found" rather than forbidden,
// so a token cannot probe which ids exist.
func (p principal) canAccessApp(appID string) error {
	if p.admin || p.appID == appID {
		return nil
	}
	return notFound("Application")
}

// requireAdmin refuses application tokens on admin-only routes.
func (p principal) requireAdmin() error {
	if p.admin {
		return nil
	}
	return errForbidden
}

// tokenTTL bounds an application token's life (Svix: 1 hour to 7 days,
// default 7 days).
const (
	minTokenTTL     = time.Hour
	maxTokenTTL     = 7 * 24 * time.Hour
	defaultTokenTTL = maxTokenTTL
)

// seesEventType reports whether the caller may see an event type: one
// behind feature flags is shown to application tokens only when the token
// was issued with one of its flags (Svix's featureFlags on app-portal
// access); the admin sees every type.
func (p principal) seesEventType(t *storage.EventType) bool {
	if p.admin || len(t.FeatureFlags) == 0 {
		return true
	}
	for _, f := range t.FeatureFlags {
		if slices.Contains(p.flags, f) {
			return true
		}
	}
	return false
}
