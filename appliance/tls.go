package appliance

import (
	"crypto/tls"
	"errors"
)

// errNoTLS means a TLS reload was asked of a node that runs without TLS.
var errNoTLS = errors.New("TLS is not configured (tls.cert_file)")

// peerTLS is the TLS client configuration of every call this node makes
// to another member (Raft aside): joins, registration, leaving, forwarded
// writes and status calls. Nil without TLS, and the calls use http.
func (a *Appliance) peerTLS() *tls.Config {
	if a.tls == nil {
		return nil
	}
	return a.tls.PeerClient()
}

// ReloadTLS reads the TLS certificate and key files again (main calls it
// on SIGHUP). A pair that does not load leaves the one in use serving,
// and the error is logged and returned.
func (a *Appliance) ReloadTLS() error {
	if a.tls == nil {
		return errNoTLS
	}
	return a.tls.Keypair.Reload()
}
