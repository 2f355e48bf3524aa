package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// Operational webhook endpoints (Svix's /api/v1/operational-webhook/endpoint):
// where Herald sends its failure notices (storage/notice.go). They are the
// endpoints of a hidden application, storage.OpsAppID, so they are stored,
// sealed, rotated and delivered to like any endpoint; these routes, for
// admin tokens only, are the one way to reach them.

const opsRoutePrefix = "/api/v1/operational-webhook/"

// isOpsRoute reports whether the request matched an operational webhook
// route: the shared endpoint handlers (secret rotation, headers) then look
// their endpoint up in the hidden application.
func isOpsRoute(c *fasthttp.RequestCtx) bool {
	pattern, _ := c.UserValue(router.MatchedRoutePathParam).(string)
	return strings.HasPrefix(pattern, opsRoutePrefix)
}

// opsEndpointIn is Svix's OperationalWebhookEndpointIn (create) and,
// without secret, OperationalWebhookEndpointUpdate (PUT).
type opsEndpointIn struct {
	URL          *string           `json:"url"`
	Description  *string           `json:"description"`
	UID          *string           `json:"uid"`
	Disabled     *bool             `json:"disabled"`
	FilterTypes  []string          `json:"filterTypes"`
	Metadata     map[string]string `json:"metadata"`
	RateLimit    *uint16           `json:"rateLimit"`
	ThrottleRate *uint16           `json:"throttleRate"`
	Secret       *string           `json:"secret"`
}

// opsEndpointOut is Svix's OperationalWebhookEndpointOut.
type opsEndpointOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid,omitempty"`
	URL          string            `json:"url"`
	Description  string            `json:"description"`
	Disabled     bool              `json:"disabled"`
	FilterTypes  []string          `json:"filterTypes,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	RateLimit    *uint16           `json:"rateLimit,omitempty"`
	ThrottleRate *uint16           `json:"throttleRate,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
}

func toOpsEndpointOut(ep *storage.Endpoint) opsEndpointOut {
	return opsEndpointOut{
		ID: ep.ID, UID: optString(ep.UID), URL: ep.URL, Description: ep.Description,
		Disabled: ep.Disabled, FilterTypes: ep.FilterTypes, Metadata: nonNilMap(ep.Metadata),
		RateLimit: optUint16(ep.ThrottleRate), ThrottleRate: optUint16(ep.ThrottleRate),
		CreatedAt: ts(ep.CreatedAt), UpdatedAt: ts(ep.UpdatedAt),
	}
}

// validateOpsEndpoint checks the fields common to create and PUT and
// copies them onto ep.
func (s *Server) validateOpsEndpoint(in *opsEndpointIn, ep *storage.Endpoint, v *violations) {
	if in.URL == nil || *in.URL == "" {
		v.add("field required", "url")
	} else {
		s.checkURL(v, *in.URL)
		ep.URL = *in.URL
	}
	if in.UID != nil {
		checkUID(v, *in.UID, storage.PrefixEndpoint)
	}
	if in.Description != nil {
		v.check(len(*in.Description) <= 1024, "must be at most 1024 characters", "description")
	}
	checkFilters(v, in.FilterTypes, nil)
	for _, t := range in.FilterTypes {
		v.check(slices.Contains(storage.OperationalEventTypes, t),
			"not an operational webhook event type: "+strings.Join(storage.OperationalEventTypes, ", "), "filterTypes")
	}
	checkMetadata(v, in.Metadata)
	checkRate(v, in.RateLimit, "rateLimit")
	checkRate(v, in.ThrottleRate, "throttleRate")
	ep.Description = deref(in.Description)
	ep.UID = deref(in.UID)
	ep.Disabled = in.Disabled != nil && *in.Disabled
	ep.FilterTypes = in.FilterTypes
	ep.Metadata = in.Metadata
	ep.ThrottleRate = rateOf(in.ThrottleRate, in.RateLimit)
	ep.Version = 1
}

// loadOpsEndpoint finds the operational webhook endpoint the path names
// (by id or uid), for an admin token only.
func (s *Server) loadOpsEndpoint(c *fasthttp.RequestCtx, p principal) (storage.Endpoint, error) {
	var ep storage.Endpoint
	if err := p.requireAdmin(); err != nil {
		return ep, err
	}
	err := s.store.View(func(r *storage.Reader) error {
		var err error
		ep, err = r.Endpoint(storage.OpsAppID, pathParam(c, "endpoint_id"))
		return err
	})
	if err == storage.ErrNotFound {
		return ep, notFound("Endpoint")
	}
	return ep, err
}

func (s *Server) listOpsEndpoints(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	opts, err := listOptions(c, true) // newest first, as endpoints
	if err != nil {
		return err
	}
	var page storage.Page[storage.Endpoint]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListEndpoints(storage.OpsAppID, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, toOpsEndpointOut))
	return nil
}

func (s *Server) createOpsEndpoint(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	if s.replayed(c, p) {
		return nil
	}
	var in opsEndpointIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	now := s.now()
	ep := storage.Endpoint{ID: storage.NewID(storage.PrefixEndpoint, now), AppID: storage.OpsAppID, CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano()}
	var v violations
	s.validateOpsEndpoint(&in, &ep, &v)
	if in.Secret != nil {
		ep.Secret = normalizeSecret(&v, *in.Secret)
	}
	if err := v.err(); err != nil {
		return err
	}
	if ep.Secret == "" {
		var err error
		if ep.Secret, err = delivery.GenerateSecret(); err != nil {
			return err
		}
	}
	s.sealEndpoint(&ep)
	body, _ := json.Marshal(toOpsEndpointOut(&ep))
	return s.commit(c, &raft.CreateEndpoint{Meta: s.meta(c, p, now, http.StatusCreated, body), Endpoint: ep}, http.StatusCreated, body)
}

func (s *Server) getOpsEndpoint(c *fasthttp.RequestCtx, p principal) error {
	ep, err := s.loadOpsEndpoint(c, p)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, toOpsEndpointOut(&ep))
	return nil
}

// updateOpsEndpoint is PUT: it replaces the endpoint's settings (an absent
// uid clears it); its secret and headers have their own routes.
func (s *Server) updateOpsEndpoint(c *fasthttp.RequestCtx, p principal) error {
	var in opsEndpointIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	ep, err := s.loadOpsEndpoint(c, p)
	if err != nil {
		return err
	}
	var v violations
	v.check(in.Secret == nil, "not part of an update: rotate the secret with POST .../secret/rotate", "secret")
	s.validateOpsEndpoint(&in, &ep, &v)
	if err := v.err(); err != nil {
		return err
	}
	now := s.now()
	ep.UpdatedAt = now.UnixNano()
	s.sealEndpoint(&ep)
	body, _ := json.Marshal(toOpsEndpointOut(&ep))
	return s.commit(c, &raft.UpdateEndpoint{Meta: raft.Meta{Time: now.UnixNano()}, Endpoint: ep}, http.StatusOK, body)
}

func (s *Server) deleteOpsEndpoint(c *fasthttp.RequestCtx, p principal) error {
	ep, err := s.loadOpsEndpoint(c, p)
	if err != nil {
		return err
	}
	cmd := &raft.DeleteEndpoint{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: storage.OpsAppID, EndpointID: ep.ID}
	return s.commit(c, cmd, statusNoContent, noContent)
}

// getOpsEndpointSecret returns Svix's OperationalWebhookEndpointSecretOut.
func (s *Server) getOpsEndpointSecret(c *fasthttp.RequestCtx, p principal) error {
	ep, err := s.loadOpsEndpoint(c, p)
	if err != nil {
		return err
	}
	secret, err := s.openSecret(&ep)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, struct {
		Key string `json:"key"`
	}{secret})
	return nil
}
