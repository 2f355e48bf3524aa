package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// checkEvery bounds how often a handshake looks at the key pair's files.
var checkEvery = time.Second

// Sentinel errors of the package.
var (
	// ErrNoCertificates means a CA file holds no PEM certificate.
	ErrNoCertificates = errors.New("no PEM certificate found")
)

// Keypair is a certificate and its key, read from files and reloaded when
// they change. It is safe for concurrent use.
type Keypair struct {
	certFile, keyFile string
	log               zerolog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  fileStamp // the files as they were when cert was read
	failed  fileStamp // the last version of the files that did not load
	checked time.Time
}

// fileStamp identifies a version of the two files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// LoadKeypair reads the certificate (PEM, leaf first, then any
// intermediates) and key files; it fails if they do not make a pair.
func LoadKeypair(certFile, keyFile string, log zerolog.Logger) (*Keypair, error) {
	k := &Keypair{certFile: certFile, keyFile: keyFile, log: log}
	stamp, _ := k.stamp()
	cert, err := readPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	k.cert, k.loaded, k.checked = cert, stamp, time.Now()
	k.logLoaded("TLS certificate loaded")
	return k, nil
}

// readPair loads and parses a key pair, with errors that name the files.
func readPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// CheckKeypair reports whether the files load as a key pair (config
// validation).
func CheckKeypair(certFile, keyFile string) error {
	_, err := readPair(certFile, keyFile)
	return err
}

// Reload reads the files again now. On failure the certificate in use
// stays, the error is logged and returned.
func (k *Keypair) Reload() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	stamp, _ := k.stamp()
	return k.reload(stamp)
}

// reload loads the files into k; k.mu is held.
func (k *Keypair) reload(stamp fileStamp) error {
	k.checked = time.Now()
	cert, err := readPair(k.certFile, k.keyFile)
	if err != nil {
		if stamp != k.failed {
			k.log.Error().Err(err).Msg("TLS certificate reload failed: keeping the one in use")
		}
		k.failed = stamp
		return err
	}
	k.cert, k.loaded, k.failed = cert, stamp, fileStamp{}
	k.logLoaded("TLS certificate reloaded")
	return nil
}

func (k *Keypair) logLoaded(msg string) {
	ev := k.log.Info().Str("cert_file", k.certFile)
	if leaf, err := x509.ParseCertificate(k.cert.Certificate[0]); err == nil {
		ev = ev.Str("subject", leaf.Subject.String()).Time("not_after", leaf.NotAfter)
	}
	ev.Msg(msg)
}

// stamp reads the files' modification times and sizes.
func (k *Keypair) stamp() (fileStamp, error) {
	var s fileStamp
	ci, err := os.Stat(k.certFile)
	if err != nil {
		return s, err
	}
	ki, err := os.Stat(k.keyFile)
	if err != nil {
		return s, err
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// Certificate returns the pair in use, first reloading it if the files
// changed since it was read (looked at no more than once a second).
func (k *Keypair) Certificate() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.checked) >= checkEvery {
		k.checked = time.Now()
		// A file missing for a moment (replaced by rename) is no change.
		if stamp, err := k.stamp(); err == nil && stamp != k.loaded && stamp != k.failed {
			_ = k.reload(stamp)
		}
	}
	return k.cert
}

// GetCertificate serves the pair to TLS clients (tls.Config.GetCertificate).
func (k *Keypair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate presents the pair to TLS servers that ask for one
// (tls.Config.GetClientCertificate).
func (k *Keypair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// LoadCAs reads a PEM bundle of CA certificates.
func LoadCAs(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("TLS CA file %s: %w", caFile, ErrNoCertificates)
	}
	return pool, nil
}

// Node is one node's TLS setup.
type Node struct {
	// Keypair is what the node presents, as a server and as a client.
	Keypair *Keypair
	// CAs verify other nodes' certificates, both ways; nil means the
	// system's roots verify the servers it calls and no client
	// certificate is asked for.
	CAs *x509.CertPool
}

// Load reads a node's TLS files; caFile may be empty.
func Load(certFile, keyFile, caFile string, log zerolog.Logger) (*Node, error) {
	kp, err := LoadKeypair(certFile, keyFile, log)
	if err != nil {
		return nil, err
	}
	n := &Node{Keypair: kp}
	if caFile != "" {
		if n.CAs, err = LoadCAs(caFile); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// API is the API listener's configuration: with a CA, a client
// certificate is asked for and verified if given, not required.
func (n *Node) API() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: n.Keypair.GetCertificate}
	if n.CAs != nil {
		c.ClientCAs = n.CAs
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c
}

// PeerServer is the Raft listener's configuration: with a CA, only
// clients with a certificate it signed get through (mutual TLS).
func (n *Node) PeerServer() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: n.Keypair.GetCertificate}
	if n.CAs != nil {
		c.ClientCAs = n.CAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// PeerClient is the configuration of every call to another node (Raft,
// join, forwarded writes, status): it verifies the server against the CA
// (or the system's roots) and the dialled host, and presents the node's
// certificate when asked.
func (n *Node) PeerClient() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: n.CAs, GetClientCertificate: n.Keypair.GetClientCertificate}
}
