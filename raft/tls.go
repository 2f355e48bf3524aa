package raft

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
)

// TLS is the Raft transport's TLS setup (Config.TLS): one configuration
// for the connections this node accepts, one for those it dials.
type TLS struct {
	// Server verifies the nodes that connect (with a CA, it requires
	// their certificate: mutual TLS).
	Server *tls.Config
	// Client verifies the node dialled against the address's host and
	// presents this node's certificate when asked.
	Client *tls.Config
}

// tlsStream runs raft's network transport over TLS, on the same listener
// and advertised address as the plain stream it wraps.
type tlsStream struct {
	*tcpStream
	tls *TLS
}

// withTLS wraps stream in TLS when t is set.
func withTLS(stream *tcpStream, t *TLS) hraft.StreamLayer {
	if t == nil {
		return stream
	}
	return &tlsStream{tcpStream: stream, tls: t}
}

// Accept returns the next connection; its handshake runs on its first
// read, in the transport's goroutine for the connection, so a slow or
// hostile client never holds up the accept loop. A failed handshake
// fails that read, and the transport drops the connection.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.tcpStream.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, s.tls.Server)}, nil
}

// handshakeTimeout bounds the TLS handshake of an accepted connection: a
// client that connects and never says hello would otherwise hold its
// goroutine and file descriptor for good (the transport sets no read
// deadline of its own).
var handshakeTimeout atomic.Int64 // nanoseconds

func init() { handshakeTimeout.Store(int64(10 * time.Second)) }

// handshakeConn runs the server handshake on the first read, under a
// deadline that is lifted once it completes.
type handshakeConn struct {
	*tls.Conn
	done bool
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	if !c.done {
		_ = c.SetDeadline(time.Now().Add(time.Duration(handshakeTimeout.Load())))
		if err := c.Handshake(); err != nil {
			return 0, err
		}
		_ = c.SetDeadline(time.Time{})
		c.done = true
	}
	return c.Conn.Read(b)
}

// Dial connects to another node and completes the handshake within
// timeout, so a peer that is not what it claims to be fails the dial.
func (s *tlsStream) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.tls.Client}
	return d.Dial("tcp", string(address))
}
