package delivery

import (
	"errors"

	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/storage"
)

// target is where an attempt goes and what signs it: an endpoint, or a
// one-off destination named on the message (storage.Destination), which
// has the application's secrets and no custom headers of its own.
type target struct {
	id          string
	url         string
	secret      string // sealed, as stored
	prevSecrets []storage.PrevSecret
	aad         []byte // what the sealed secrets are bound to
	endpoint    *storage.Endpoint
}

// resolveTarget finds where the entry's delivery goes. A one-off destination
// is read from the message and the application (both from the state or its
// cache: no endpoint record exists for it). storage.ErrNotFound means the
// delivery has nowhere to go any more (the endpoint or app was deleted).
func (d *Dispatcher) resolveTarget(e storage.ScheduleEntry, msg *storage.Message) (target, error) {
	if !storage.IsDestination(e.Key.EndpointID) {
		// Endpoints change rarely: from the store's cache.
		ep, err := d.store.CachedEndpoint(e.Due.AppID, e.Key.EndpointID)
		if err != nil {
			return target{}, err
		}
		return target{id: ep.ID, url: ep.URL, secret: ep.Secret, prevSecrets: ep.PrevSecrets, aad: ep.SecretAAD(), endpoint: &ep}, nil
	}
	if msg.Destination.ID != e.Key.EndpointID {
		return target{}, storage.ErrNotFound
	}
	app, err := d.store.CachedApp(e.Due.AppID)
	if err != nil {
		return target{}, err
	}
	if app.Secret == "" {
		return target{}, errNoAppSecret
	}
	return target{id: msg.Destination.ID, url: msg.Destination.URL, secret: app.Secret, prevSecrets: app.PrevSecrets, aad: app.SecretAAD()}, nil
}

// errNoAppSecret: a one-off destination's application has no signing
// secret. The API gives one before it accepts such a message, so this is a
// state that should not occur; the delivery waits like one whose secret
// cannot be opened.
var errNoAppSecret = errors.New("the application has no signing secret")

// signingKeys returns the keys that sign an attempt: the target's secret,
// then the secrets a rotation replaced that have not expired.
func (d *Dispatcher) signingKeys(t *target) ([][]byte, error) {
	key, err := d.signingKey(t.secret, t.aad)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{key}
	now := d.now().UnixNano()
	for _, ps := range t.prevSecrets {
		if ps.ExpiresAt <= now {
			continue
		}
		if k, err := d.signingKey(ps.Secret, t.aad); err == nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// signingKey opens a sealed secret and decodes it.
func (d *Dispatcher) signingKey(secret string, aad []byte) ([]byte, error) {
	plain, err := d.openSecret(secret, aad)
	if err != nil {
		return nil, err
	}
	return ParseSecret(plain)
}

// openSecret opens a sealed secret: its whsec_ text.
func (d *Dispatcher) openSecret(secret string, aad []byte) (string, error) {
	if keyring.IsSealed(secret) {
		if d.cfg.Keys == nil {
			return "", errors.New("no secrets key configured")
		}
		plain, err := d.cfg.Keys.Open(secret, aad)
		if err != nil {
			return "", err
		}
		secret = string(plain)
	}
	return secret, nil
}
