package server

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// Usage statistics, as Svix serves them: each request starts a background
// task whose data, once finished, holds the figures.

type appStat struct {
	MessageDestinations int     `json:"messageDestinations"`
	AppID               string  `json:"appId"`
	AppUID              *string `json:"appUid"`
}

type eventTypeUsage struct {
	AppID                          string   `json:"appId"`
	ExplicitlySubscribedEventTypes []string `json:"explicitlySubscribedEventTypes"`
	HasCatchAllEndpoint            bool     `json:"hasCatchAllEndpoint"`
}

// appUsageStats counts, per application, the deliveries of the messages
// created in [since, until): Svix's messageDestinations.
func (s *Server) appUsageStats(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in struct {
		AppIDs []string   `json:"appIds"`
		Since  *time.Time `json:"since"`
		Until  *time.Time `json:"until"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	var v violations
	v.check(in.Since != nil, "field required", "since")
	v.check(in.Until != nil, "field required", "until")
	if in.Since != nil && in.Until != nil {
		v.check(in.Until.After(*in.Since), "must be after since", "until")
		v.check(!in.Since.Before(idEpoch), "must not be before 2014-05-13", "since")
		v.check(in.Until.Year() < 2200, "must be before 2200", "until")
	}
	if err := v.err(); err != nil {
		return err
	}
	apps, unresolved, err := s.resolveApps(p, in.AppIDs)
	if err != nil {
		return err
	}
	if len(in.AppIDs) > 0 && len(apps) == 0 {
		var v violations
		v.add("none of these applications exist", "appIds")
		return v.err()
	}
	since, until := in.Since.UnixNano(), in.Until.UnixNano()
	t, err := s.startTask(taskAppStats, "", "", func() (any, error) {
		stats := make([]appStat, 0, len(apps))
		err := s.store.View(func(r *storage.Reader) error {
			for _, a := range apps {
				n, err := r.AppDestinations(a.ID, since, until)
				if err != nil {
					return err
				}
				stats = append(stats, appStat{MessageDestinations: n, AppID: a.ID, AppUID: optString(a.UID)})
			}
			return nil
		})
		return map[string]any{"appStats": stats}, err
	})
	if err != nil {
		return err
	}
	if unresolved == nil {
		unresolved = []string{}
	}
	writeJSON(c, http.StatusAccepted, struct {
		taskOut
		UnresolvedAppIDs []string `json:"unresolvedAppIds"`
	}{toTaskOut(&t), unresolved})
	return nil
}

// aggregateEventTypes lists, per application, the event types its enabled
// endpoints subscribe to by name and whether one takes every type.
func (s *Server) aggregateEventTypes(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	apps, _, err := s.resolveApps(p, nil)
	if err != nil {
		return err
	}
	t, err := s.startTask(taskEventTypes, "", "", func() (any, error) {
		usage := make([]eventTypeUsage, 0, len(apps))
		err := s.store.View(func(r *storage.Reader) error {
			for _, a := range apps {
				types, all, err := r.EndpointSubscriptions(a.ID)
				if err != nil {
					return err
				}
				if types == nil {
					types = []string{}
				}
				usage = append(usage, eventTypeUsage{AppID: a.ID, ExplicitlySubscribedEventTypes: types, HasCatchAllEndpoint: all})
			}
			return nil
		})
		return map[string]any{"event_types": usage}, err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusAccepted, toTaskOut(&t))
	return nil
}

// resolveApps returns the applications named by id or uid and the names
// that match none; no names means every application.
func (s *Server) resolveApps(p principal, names []string) (apps []storage.App, unresolved []string, err error) {
	if len(names) == 0 {
		err = s.store.View(func(r *storage.Reader) error {
			opts := storage.ListOptions{Limit: 250}
			for {
				page, err := r.ListApps(opts)
				if err != nil {
					return err
				}
				apps = append(apps, page.Items...)
				if page.Done || page.Iterator == "" {
					return nil
				}
				opts.Iterator = page.Iterator
			}
		})
		return apps, nil, err
	}
	for _, name := range names {
		a, err := s.loadApp(p, name)
		if err != nil {
			unresolved = append(unresolved, name)
			continue
		}
		apps = append(apps, a)
	}
	return apps, unresolved, nil
}
