package server

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// attemptFilter reads the status, status_code_class, event_types, channel
// and tag query parameters.
func attemptFilter(c *fasthttp.RequestCtx, v *violations) storage.AttemptFilter {
	f := storage.AttemptFilter{Message: messageFilter(c)}
	if s := query(c, "status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 4 {
			v.badQuery("must be 0 (success), 1 (pending), 2 (fail), 3 (sending) or 4 (canceled)", "status")
		} else {
			st := storage.Status(n)
			f.Status = &st
		}
	}
	if s := query(c, "status_code_class"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || (n != 0 && (n < 100 || n > 500 || n%100 != 0)):
			v.badQuery("must be 0, 100, 200, 300, 400 or 500", "status_code_class")
		case n == 0:
			f.StatusClass = -1
		default:
			f.StatusClass = n / 100
		}
	}
	return f
}

// listQuery reads the query of a list of attempts or deliveries: the page
// (newest first unless asked), the status and message filters, and
// with_content (default true).
func listQuery(c *fasthttp.RequestCtx) (opts storage.ListOptions, f storage.AttemptFilter, withContent bool, err error) {
	if opts, err = listOptions(c, true); err != nil {
		return opts, f, false, err
	}
	var v violations
	f = attemptFilter(c, &v)
	withContent = query(c, "with_content") == "" || queryBool(c, "with_content", &v)
	return opts, f, withContent, v.err()
}

func (s *Server) listAttemptsByEndpoint(c *fasthttp.RequestCtx, p principal) error {
	a, epID, err := s.loadDeliveryTarget(c, p)
	if err != nil {
		return err
	}
	opts, err := listOptions(c, true)
	if err != nil {
		return err
	}
	var v violations
	f := attemptFilter(c, &v)
	withMsg := queryBool(c, "with_msg", &v)
	withContent := query(c, "with_content") == "" || queryBool(c, "with_content", &v)
	if err := v.err(); err != nil {
		return err
	}
	var (
		page storage.Page[storage.Attempt]
		msgs map[string]storage.Message
	)
	err = s.store.View(func(r *storage.Reader) error {
		if page, err = r.ListAttemptsByEndpoint(a.ID, epID, f, opts); err != nil || !withMsg {
			return err
		}
		msgs = make(map[string]storage.Message)
		for _, at := range page.Items {
			if m, err := r.Message(a.ID, at.MsgID); err == nil {
				msgs[at.MsgID] = m
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(at *storage.Attempt) attemptOut {
		out := toAttemptOut(s.cfg.Keys, at, withContent)
		if m, ok := msgs[at.MsgID]; ok {
			mo := toMessageOut(&m, false)
			out.Msg = &mo
		}
		return out
	}))
	return nil
}

func (s *Server) listAttemptsByMessage(c *fasthttp.RequestCtx, p principal) error {
	a, m, err := s.loadMessage(c, p)
	if err != nil {
		return err
	}
	opts, f, withContent, err := listQuery(c)
	if err != nil {
		return err
	}
	f.EndpointID = query(c, "endpoint_id")
	var page storage.Page[storage.Attempt]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListAttemptsByMessage(a.ID, m.ID, f, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(at *storage.Attempt) attemptOut { return toAttemptOut(s.cfg.Keys, at, withContent) }))
	return nil
}

func (s *Server) getAttempt(c *fasthttp.RequestCtx, p principal) error {
	at, err := s.loadAttempt(c, p)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, toAttemptOut(s.cfg.Keys, &at, true))
	return nil
}

// getAttemptHeaders serves Svix's attempt headers route (internal in
// Svix's API description): the headers of the attempt object, with the
// names whose values are hidden listed in sensitive.
func (s *Server) getAttemptHeaders(c *fasthttp.RequestCtx, p principal) error {
	at, err := s.loadAttempt(c, p)
	if err != nil {
		return err
	}
	out := toAttemptOut(s.cfg.Keys, &at, true)
	body := struct {
		SentHeaders     map[string]string `json:"sentHeaders"`
		ResponseHeaders [][2]string       `json:"responseHeaders"`
		Sensitive       []string          `json:"sensitive"`
	}{SentHeaders: out.SentHeaders, ResponseHeaders: out.ResponseHeaders, Sensitive: []string{}}
	if body.SentHeaders == nil {
		body.SentHeaders = map[string]string{}
	}
	for name, v := range body.SentHeaders {
		if v == delivery.Redacted {
			body.Sensitive = append(body.Sensitive, name)
		}
	}
	slices.Sort(body.Sensitive)
	writeJSON(c, http.StatusOK, body)
	return nil
}

// loadAttempt reads the attempt the path names, under its message.
func (s *Server) loadAttempt(c *fasthttp.RequestCtx, p principal) (storage.Attempt, error) {
	var at storage.Attempt
	a, m, err := s.loadMessage(c, p)
	if err != nil {
		return at, err
	}
	err = s.store.View(func(r *storage.Reader) error {
		at, err = r.Attempt(a.ID, m.ID, pathParam(c, "attempt_id"))
		return err
	})
	if err == storage.ErrNotFound {
		return at, notFound("Attempt")
	}
	return at, err
}

// listEndpointMessages lists the messages an endpoint was (or will be) sent,
// with their delivery status towards it.
func (s *Server) listEndpointMessages(c *fasthttp.RequestCtx, p principal) error {
	a, epID, err := s.loadDeliveryTarget(c, p)
	if err != nil {
		return err
	}
	opts, f, withContent, err := listQuery(c)
	if err != nil {
		return err
	}
	var page storage.Page[storage.EndpointMessage]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListEndpointMessages(a.ID, epID, f.Status, f.Message, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(em *storage.EndpointMessage) endpointMessageOut {
		return toEndpointMessageOut(em, withContent)
	}))
	return nil
}

// listAppDeliveries lists an application's deliveries across its
// endpoints (Herald addition): the app-wide log filtered by status, which
// Svix serves only per endpoint. Filtered pages may be short before the
// end (see storage.ListAppDeliveries); follow the iterator until done.
func (s *Server) listAppDeliveries(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	opts, f, withContent, err := listQuery(c)
	if err != nil {
		return err
	}
	var page storage.Page[storage.EndpointMessage]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListAppDeliveries(a.ID, f.Status, f.Message, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(em *storage.EndpointMessage) appDeliveryOut {
		return appDeliveryOut{
			endpointMessageOut: toEndpointMessageOut(em, withContent),
			EndpointID:         em.Delivery.EndpointID,
			DeliveryID:         storage.DeliveryID(em.Delivery.MsgID, em.Delivery.EndpointID),
		}
	}))
	return nil
}

// listMessageEndpoints lists a message's deliveries, one per endpoint, with
// each endpoint's status.
func (s *Server) listMessageEndpoints(c *fasthttp.RequestCtx, p principal) error {
	a, m, err := s.loadMessage(c, p)
	if err != nil {
		return err
	}
	opts, err := listOptions(c, false)
	if err != nil {
		return err
	}
	var (
		page storage.Page[storage.Delivery]
		eps  = map[string]storage.Endpoint{}
	)
	err = s.store.View(func(r *storage.Reader) error {
		if page, err = r.MessageDeliveries(a.ID, m.ID, opts); err != nil {
			return err
		}
		for _, dl := range page.Items {
			if storage.IsDestination(dl.EndpointID) {
				continue
			}
			if ep, err := r.Endpoint(a.ID, dl.EndpointID); err == nil {
				eps[dl.EndpointID] = ep
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(dl *storage.Delivery) messageEndpointOut {
		ep, ok := eps[dl.EndpointID]
		oneOff := dl.EndpointID == m.Destination.ID
		switch {
		case oneOff:
			// A one-off destination has no endpoint record: shown with
			// the URL the message named.
			ep = storage.Endpoint{ID: dl.EndpointID, URL: m.Destination.URL, Version: 1, CreatedAt: m.Timestamp, UpdatedAt: m.Timestamp}
		case !ok:
			ep = storage.Endpoint{ID: dl.EndpointID}
		}
		return messageEndpointOut{
			endpointOut: toEndpointOut(&ep),
			Status:      int(dl.Status), StatusText: dl.Status.String(),
			NextAttempt: optTime(dl.NextAttempt), Attempts: dl.Attempts,
			DeliveryID: storage.DeliveryID(dl.MsgID, dl.EndpointID),
			OneOff:     oneOff,
		}
	}))
	return nil
}

// resendMessage schedules a manual attempt of a message to one endpoint.
func (s *Server) resendMessage(c *fasthttp.RequestCtx, p principal) error {
	a, m, err := s.loadMessage(c, p)
	if err != nil {
		return err
	}
	if s.replayed(c, p) {
		return nil
	}
	// The endpoint, or the one-off destination the message names.
	epID := pathParam(c, "endpoint_id")
	if !storage.IsDestination(epID) || epID != m.Destination.ID {
		var ep storage.Endpoint
		err = s.store.View(func(r *storage.Reader) error {
			ep, err = r.Endpoint(a.ID, epID)
			return err
		})
		if err == storage.ErrNotFound {
			return notFound("Endpoint")
		}
		if err != nil {
			return err
		}
		epID = ep.ID
	}
	now := s.now()
	// Svix answers 202 with an empty JSON object (EmptyResponse); its
	// clients decode the body of any 2xx but 204, so it must be JSON.
	cmd := &raft.Resend{Meta: s.meta(c, p, now, http.StatusAccepted, emptyObject), AppID: a.ID, MsgID: m.ID, EndpointID: epID}
	return s.commit(c, cmd, http.StatusAccepted, emptyObject)
}

// emptyObject is the body of Svix's EmptyResponse.
var emptyObject = []byte("{}")
