package server

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// uidPattern is what Svix accepts as an application or endpoint uid.
var uidPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_.]{1,256}$`)

type applicationIn struct {
	Name         *string           `json:"name"`
	UID          *string           `json:"uid"`
	Metadata     map[string]string `json:"metadata"`
	RateLimit    *uint16           `json:"rateLimit"`
	ThrottleRate *uint16           `json:"throttleRate"`
	// Policy is a Herald extension (handlers_policy.go).
	Policy *policyIn `json:"deliveryPolicy"`
	policy storage.Policy
}

func (in *applicationIn) validate() error {
	var v violations
	v.check(in.Name != nil && *in.Name != "", "field required: a non-empty name", "name")
	if in.Name != nil {
		v.check(len(*in.Name) <= 256, "must be at most 256 characters", "name")
	}
	if in.UID != nil {
		checkUID(&v, *in.UID, storage.PrefixApp)
	}
	checkRate(&v, in.RateLimit, "rateLimit")
	checkRate(&v, in.ThrottleRate, "throttleRate")
	checkMetadata(&v, in.Metadata)
	in.policy = toPolicy(&v, in.Policy, true)
	return v.err()
}

func checkUID(v *violations, uid, idPrefix string) {
	switch {
	case !uidPattern.MatchString(uid):
		v.add("must be 1-256 characters of a-z, A-Z, 0-9, '-', '_' and '.'", "uid")
	case strings.HasPrefix(uid, idPrefix):
		v.add("must not start with "+idPrefix+", the prefix of ids", "uid")
	case idPrefix == storage.PrefixEndpoint && strings.HasPrefix(uid, storage.PrefixDestination):
		// Routes that take an endpoint id take a destination id too.
		v.add("must not start with "+storage.PrefixDestination+", the prefix of one-off destination ids", "uid")
	}
}

func checkRate(v *violations, r *uint16, field string) {
	if r != nil && *r == 0 {
		v.add("must be a whole number between 1 and 65535", field)
	}
}

func checkMetadata(v *violations, m map[string]string) {
	v.check(len(m) <= 64, "at most 64 metadata entries", "metadata")
	for k, val := range m {
		if len(k) == 0 || len(k) > 256 || len(val) > 4096 {
			v.add("metadata keys are 1-256 characters, values at most 4096", "metadata", k)
		}
	}
}

func rateOf(in ...*uint16) uint16 {
	for _, r := range in {
		if r != nil {
			return *r
		}
	}
	return 0
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// loadApp finds an application by id or uid on behalf of p.
func (s *Server) loadApp(p principal, idOrUID string) (storage.App, error) {
	// Every message names its app: the lookup comes from the store's
	// cache, and the shared map is copied for callers that change it.
	a, err := s.store.CachedApp(idOrUID)
	a.Metadata = maps.Clone(a.Metadata)
	if err == nil && a.ID == storage.OpsAppID {
		// The operational webhooks' hidden application is reached only
		// through their own routes (handlers_opwebhook.go).
		err = storage.ErrNotFound
	}
	if err == storage.ErrNotFound {
		return a, notFound("Application")
	}
	if err != nil {
		return storage.App{}, err
	}
	if err := p.canAccessApp(a.ID); err != nil {
		// Nothing of another application leaks to the caller, not even
		// to code paths that treat "not found" as "create".
		return storage.App{}, err
	}
	return a, nil
}

func (s *Server) listApps(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	opts, err := listOptions(c, false)
	if err != nil {
		return err
	}
	var page storage.Page[storage.App]
	err = s.store.View(func(r *storage.Reader) error {
		var err error
		page, err = r.ListApps(opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, toApplicationOut))
	return nil
}

func (s *Server) createApp(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	if s.replayed(c, p) {
		return nil
	}
	var in applicationIn
	if err := decodeWithPolicy(c, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	if in.UID != nil && string(c.QueryArgs().Peek("get_if_exists")) == "true" {
		if a, err := s.loadApp(p, *in.UID); err == nil {
			writeJSON(c, http.StatusOK, toApplicationOut(&a))
			return nil
		}
	}
	now := s.now()
	a := storage.App{
		ID: storage.NewID(storage.PrefixApp, now), UID: deref(in.UID), Name: *in.Name,
		Metadata: in.Metadata, ThrottleRate: rateOf(in.ThrottleRate, in.RateLimit),
		CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano(), Policy: in.policy,
	}
	body, _ := json.Marshal(toApplicationOut(&a))
	return s.commit(c, &raft.CreateApp{Meta: s.meta(c, p, now, http.StatusCreated, body), App: a}, http.StatusCreated, body)
}

func (s *Server) getApp(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, toApplicationOut(&a))
	return nil
}

// updateApp is PUT: replace the application (an absent uid clears it), or
// create one (201) when the path names none. As in Svix, a created app gets
// a fresh id and the body's uid; the path value is not used.
func (s *Server) updateApp(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in applicationIn
	if err := decodeWithPolicy(c, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	now := s.now()
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	created := false
	switch {
	case err == nil:
	case isNotFound(err) && p.admin:
		created = true
		a = storage.App{ID: storage.NewID(storage.PrefixApp, now), CreatedAt: now.UnixNano()}
	default:
		return err
	}
	a.Name = *in.Name
	a.UID = deref(in.UID)
	a.Metadata = in.Metadata
	a.ThrottleRate = rateOf(in.ThrottleRate, in.RateLimit)
	a.Policy = in.policy
	a.UpdatedAt = now.UnixNano()
	if created {
		body, _ := json.Marshal(toApplicationOut(&a))
		return s.commit(c, &raft.CreateApp{Meta: raft.Meta{Time: now.UnixNano()}, App: a}, http.StatusCreated, body)
	}
	body, _ := json.Marshal(toApplicationOut(&a))
	return s.commit(c, &raft.UpdateApp{Meta: raft.Meta{Time: now.UnixNano()}, App: a}, http.StatusOK, body)
}

type applicationPatch struct {
	Name         *string           `json:"name"`
	UID          nullable[string]  `json:"uid"`
	Metadata     map[string]string `json:"metadata"`
	RateLimit    nullable[uint16]  `json:"rateLimit"`
	ThrottleRate nullable[uint16]  `json:"throttleRate"`
	// Policy replaces the delivery policy; null clears it.
	Policy nullable[policyIn] `json:"deliveryPolicy"`
}

func (s *Server) patchApp(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in applicationPatch
	if err := decodeWithPolicy(c, &in); err != nil {
		return err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	var v violations
	if in.Name != nil {
		v.check(*in.Name != "" && len(*in.Name) <= 256, "must be 1-256 characters", "name")
		a.Name = *in.Name
	}
	if in.UID.Set {
		a.UID = ""
		if !in.UID.Null {
			checkUID(&v, in.UID.Value, storage.PrefixApp)
			a.UID = in.UID.Value
		}
	}
	if in.Metadata != nil {
		checkMetadata(&v, in.Metadata)
		a.Metadata = in.Metadata
	}
	for _, r := range []nullable[uint16]{in.RateLimit, in.ThrottleRate} {
		if r.Set {
			a.ThrottleRate = 0
			if !r.Null {
				checkRate(&v, &r.Value, "throttleRate")
				a.ThrottleRate = r.Value
			}
		}
	}
	if in.Policy.Set {
		a.Policy = storage.Policy{}
		if !in.Policy.Null {
			a.Policy = toPolicy(&v, &in.Policy.Value, true)
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	now := s.now()
	a.UpdatedAt = now.UnixNano()
	body, _ := json.Marshal(toApplicationOut(&a))
	return s.commit(c, &raft.UpdateApp{Meta: raft.Meta{Time: now.UnixNano()}, App: a}, http.StatusOK, body)
}

func (s *Server) deleteApp(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	return s.commit(c, &raft.DeleteApp{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: a.ID}, statusNoContent, noContent)
}

func isNotFound(err error) bool {
	ae, ok := err.(*apiError)
	return ok && ae.status == http.StatusNotFound
}
