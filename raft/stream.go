package raft

import (
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// tcpStream is the stream layer raft's network transport runs over: plain
// TCP, as hashicorp/raft's own TCP transport, but a type of ours so tests
// can wrap it (Config.WrapStream) to cut and heal a node's traffic.
type tcpStream struct {
	net.Listener
	advertise net.Addr
}

// listenTCP serves on ln, or on a new listener on bind when ln is nil.
func listenTCP(bind string, ln net.Listener, advertise net.Addr) (*tcpStream, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, err
		}
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, errNotAdvertisable
	}
	return &tcpStream{Listener: ln, advertise: advertise}, nil
}

// Dial connects to another node.
func (s *tcpStream) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

// Addr is the address other nodes reach this one at.
func (s *tcpStream) Addr() net.Addr { return s.advertise }
