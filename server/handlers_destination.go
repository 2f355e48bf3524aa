package server

import (
	"errors"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// One-off destinations: a message may name a URL to deliver it to besides
// the app's endpoints (the "webhook_url per job" pattern), with
// "destination": {"url": ...} (a Herald extension on MessageIn). The URL is
// checked as an endpoint's is; the delivery is signed with the
// application's own secret (GET/rotate .../app/{app}/secret) under the
// application's delivery policy, and is addressed, where routes take an
// endpoint id, by the destination id that messages and attempts show
// (storage.DestinationID: one per application and URL origin). One-off
// destinations are not endpoints: no endpoint list or count shows them.

// destinationIn is the "destination" object of a message. It is Herald's
// own, so a field it does not know is refused: it will grow (headers,
// say), and a setting silently ignored would be a contract broken.
type destinationIn struct {
	URL *string `json:"url"`
}

func (destinationIn) closedObject() {}

// destinationOut shows a message's destination.
type destinationOut struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

func toDestinationOut(d *storage.Destination) *destinationOut {
	if d.IsZero() {
		return nil
	}
	return &destinationOut{ID: d.ID, URL: d.URL}
}

// destinationFor checks a message's destination (nil: none) for
// application a, as an endpoint URL is checked at creation: well formed,
// no http:// where the server or the application is https-only, no
// private or reserved address, literal or resolved.
func (s *Server) destinationFor(a *storage.App, in *destinationIn) (storage.Destination, error) {
	if in == nil {
		return storage.Destination{}, nil
	}
	var v violations
	if in.URL == nil || *in.URL == "" {
		v.add("field required: the URL to deliver this message to", "destination", "url")
		return storage.Destination{}, v.err()
	}
	s.checkURL(&v, *in.URL, "destination", "url")
	checkAppHTTPS(&v, a, *in.URL, "destination", "url")
	if err := v.err(); err != nil {
		return storage.Destination{}, err
	}
	return storage.Destination{ID: storage.DestinationID(a.ID, *in.URL), URL: *in.URL}, nil
}

// ensureAppSecret gives application a a signing secret if it has none (an
// application made before applications had one, or never sent to a
// destination), through Raft, and reloads it. Only on the leader.
func (s *Server) ensureAppSecret(a *storage.App) error {
	if a.Secret != "" {
		return nil
	}
	secret, err := delivery.GenerateSecret()
	if err != nil {
		return err
	}
	resp, err := s.node.Apply(&raft.SetAppSecret{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: a.ID, Secret: s.sealAppSecret(a, secret), IfAbsent: true})
	if err != nil {
		return err
	}
	if res, _ := resp.(raft.Result); res.Err != nil {
		return res.Err
	}
	fresh, err := s.store.CachedApp(a.ID)
	if err != nil {
		return err
	}
	a.Secret, a.PrevSecrets = fresh.Secret, fresh.PrevSecrets
	return nil
}

// sealAppSecret seals an application's plain-text secret for storage.
func (s *Server) sealAppSecret(a *storage.App, secret string) string {
	if s.cfg.Keys == nil {
		return secret
	}
	return s.cfg.Keys.Seal([]byte(secret), a.SecretAAD())
}

// getAppSecret returns the secret that signs the application's one-off
// destinations (a Herald addition, shaped as an endpoint's secret). An
// application without one gets one now, on the leader.
func (s *Server) getAppSecret(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	if a.Secret == "" {
		if !s.node.IsLeader() {
			return s.forward(c)
		}
		// Making the secret is a write: it meets a write's limits.
		if err := s.writeAllowed(c, p); err != nil {
			return err
		}
		if err := s.ensureAppSecret(&a); err != nil {
			return err
		}
	}
	secret := a.Secret
	if keyring.IsSealed(secret) {
		if s.cfg.Keys == nil {
			return errors.New("application secret is sealed and no secrets key is configured")
		}
		plain, err := s.cfg.Keys.Open(secret, a.SecretAAD())
		if err != nil {
			return err
		}
		secret = string(plain)
	}
	writeSecret(c, secret)
	return nil
}

// writeSecret answers a secret route: the whsec_ secret and, as a Herald
// extension, the public key that verifies Standard Webhooks v1a signatures
// made with the key pair derived from it.
func writeSecret(c *fasthttp.RequestCtx, secret string) {
	var publicKey string
	if key, err := delivery.ParseSecret(secret); err == nil {
		publicKey = delivery.V1aPublicKey(key)
	}
	writeJSON(c, http.StatusOK, struct {
		Key       string `json:"key"`
		PublicKey string `json:"publicKey,omitempty"`
	}{secret, publicKey})
}

// rotateAppSecret replaces the application's secret, as an endpoint's
// rotation does: the replaced one keeps signing for the grace period.
func (s *Server) rotateAppSecret(c *fasthttp.RequestCtx, p principal) error {
	in, err := decodeRotation(c)
	if err != nil {
		return err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	now := s.now()
	secret, prev, err := in.rotate(a.Secret, a.PrevSecrets, now)
	if err != nil {
		return err
	}
	cmd := &raft.SetAppSecret{Meta: s.meta(c, p, now, http.StatusNoContent, nil), AppID: a.ID, Secret: s.sealAppSecret(&a, secret), PrevSecrets: prev}
	return s.commit(c, cmd, statusNoContent, noContent)
}

// loadDeliveryTarget finds the application and what the path's
// endpoint_id names for the routes that take a one-off destination too
// (attempts and messages by endpoint, recover): an endpoint, or a
// destination id some message of the application was sent to.
func (s *Server) loadDeliveryTarget(c *fasthttp.RequestCtx, p principal) (storage.App, string, error) {
	id := pathParam(c, "endpoint_id")
	if !storage.IsDestination(id) {
		a, ep, err := s.loadEndpoint(c, p)
		return a, ep.ID, err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return a, "", err
	}
	known := false
	err = s.store.View(func(r *storage.Reader) error { known = r.DestinationUsed(a.ID, id); return nil })
	if err != nil {
		return a, "", err
	}
	if !known {
		// An endpoint whose uid began with dst_ before such uids were
		// refused is still found by it.
		a, ep, err := s.loadEndpoint(c, p)
		return a, ep.ID, err
	}
	return a, id, nil
}
