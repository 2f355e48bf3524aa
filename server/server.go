package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// Config is what the API needs from the node's configuration.
type Config struct {
	MaxRequestBodyBytes int
	MaxPayloadBytes     int
	ReadTimeout         time.Duration
	WriteTimeout        time.Duration
	IdleTimeout         time.Duration
	IdempotencyTTL      time.Duration
	EventIDTTL          time.Duration
	// AdminTokenHashes are sha256 hashes of the configured admin tokens;
	// the hash of a generated token lives in the replicated state.
	AdminTokenHashes [][]byte
	// AdminRateLimit and AppRateLimit are requests per second per token
	// (admin tokens, application tokens); 0 = unlimited.
	AdminRateLimit float64
	AppRateLimit   float64
	// PublicURL is this node's API as clients reach it (for the URLs the
	// API hands out), e.g. http://10.0.0.1:8484.
	PublicURL string
	// NodeMetrics writes this node's own gauges (Raft state) after the
	// process-wide metrics on /metrics.
	NodeMetrics func(w io.Writer)
	// Keys seals endpoint secrets before they enter Raft and opens them for
	// the secret route.
	Keys *keyring.Keyring
	// MaxEndpointsPerApp caps an application's endpoints.
	MaxEndpointsPerApp int
	// MaxHeaderBytes bounds the request line and headers; MaxHeaders the
	// number of headers; MaxJSONDepth the nesting of a JSON body.
	MaxHeaderBytes int
	MaxHeaders     int
	MaxJSONDepth   int
	// Portal serves the consumer portal under /app-portal/ (nil: none).
	Portal fasthttp.RequestHandler
	// PeerTLS, when set, is the TLS client configuration for calls to
	// other members (forwarded writes, status), which then use https.
	PeerTLS *tls.Config
	// RequireNodeCert refuses joins from clients without a certificate
	// the API listener verified (mutual TLS between nodes is on).
	RequireNodeCert bool
	Now             func() time.Time
	// Resolver looks up the host names of endpoint and destination URLs
	// when they are given (nil: the system's).
	Resolver delivery.Resolver
	// Version is the build's version, recorded in backups.
	Version string
	// PayloadRetention is how long a payload is kept when its message
	// names no retention of its own; 0 = until the message is purged.
	PayloadRetention time.Duration
	// Disk refuses client writes while the data's filesystems are nearly
	// full; nil never refuses.
	Disk *storage.DiskGuard
}

// Server is Herald's HTTP API: Svix v1 compatible routes over fasthttp.
// Reads are served from the local state; writes go through Raft.
type Server struct {
	cfg       Config
	node      *raft.Node
	store     *storage.Store
	guard     *delivery.Guard
	log       zerolog.Logger
	now       func() time.Time
	messages  *raft.Batcher[raft.MessageItem]
	http      *fasthttp.Server
	forwarder *fasthttp.Client // to the leader and other members
	closing   atomic.Bool
	limits    *rateLimits
	tasks     sync.WaitGroup  // background work started by requests (recover)
	taskMu    sync.Mutex      // orders tasks.Add before Shutdown's Wait
	ownTasks  map[string]bool // background tasks this node runs now (under taskMu)
	// headersIn holds the request header of each connection whose
	// current request's headers have arrived and that has not reached a
	// handler yet, so transportError can tell a body that stopped
	// arriving from a connection that never sent a byte (see
	// transportError).
	headersIn sync.Map // *fasthttp.RequestHeader -> struct{}
}

// New builds the API over a node and its state.
func New(cfg Config, node *raft.Node, store *storage.Store, guard *delivery.Guard, log zerolog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{limits: newRateLimits(cfg.AdminRateLimit, cfg.AppRateLimit), cfg: cfg, node: node, store: store, guard: guard, log: log, now: cfg.Now,
		forwarder: &fasthttp.Client{Name: "herald-forward", MaxConnsPerHost: 512, ReadTimeout: forwardTimeout, WriteTimeout: forwardTimeout,
			TLSConfig: cfg.PeerTLS}}
	s.messages = raft.NewBatcher(node, raft.BatcherConfig{
		// 1 MiB entries: a lagging follower is sent max_append_entries of
		// them at once, so their size bounds its catch-up memory.
		MaxItems: 512, MaxBytes: 1 << 20, MaxInFlight: 8, QueueLen: 8192,
	}, func(items []raft.MessageItem) raft.Command {
		return &raft.CreateMessages{Items: items}
	}, func(resp any, n int) []raft.Result {
		rs, _ := resp.([]raft.Result)
		return rs
	}, func(it raft.MessageItem) int {
		n := 256 + len(it.Message.Payload)
		if it.Idem != nil {
			n += len(it.Idem.Body)
		}
		return n
	})
	// A new leader ends the tasks a former leader left running.
	node.OnLeadership(func(leader bool) {
		if leader {
			s.goTask(s.failOrphanedTasks)
		}
	})
	if node.IsLeader() { // it led before the subscription
		s.goTask(s.failOrphanedTasks)
	}
	s.http = &fasthttp.Server{
		Handler:            s.limitBody(s.Handler()),
		Name:               "herald",
		MaxRequestBodySize: cfg.MaxRequestBodyBytes,
		// Streamed so an oversized body can be answered 413 after it is
		// read off the connection; closing with unread bytes would reset
		// the connection and the client would never see the answer.
		StreamRequestBody: true,
		// The read buffer bounds the request line and headers together.
		ReadBufferSize:        cfg.MaxHeaderBytes,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		NoDefaultServerHeader: false,
		NoDefaultDate:         false,
		ErrorHandler:          s.transportError,
		HeaderReceived:        s.headerReceived,
		Logger:                fasthttpLogger{log},
	}
	return s
}

// Handler returns the routed handler (tests drive it without a socket).
func (s *Server) Handler() fasthttp.RequestHandler {
	r := router.New()
	r.RedirectTrailingSlash = false
	// authorize looks the matched route up in routeAccess.
	r.SaveMatchedRoutePath = true
	r.HandleMethodNotAllowed = true
	r.NotFound = func(c *fasthttp.RequestCtx) {
		if s.cfg.Portal != nil && c.IsGet() && string(c.Path()) == "/app-portal" {
			portalRedirect(c)
			return
		}
		s.writeError(c, notFound("Route"))
	}
	r.MethodNotAllowed = func(c *fasthttp.RequestCtx) {
		s.writeError(c, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed on this path."))
	}
	r.PanicHandler = func(c *fasthttp.RequestCtx, v any) {
		s.log.Error().Interface("panic", v).Str("path", string(c.Path())).Msg("handler panicked")
		s.writeError(c, errorf(http.StatusInternalServerError, "internal_error", "Internal error."))
	}
	s.routes(r)
	return apiTrailingSlash(r.Handler)
}

// apiTrailingSlash serves every API path with or without a trailing slash,
// as Svix does (its docs write `POST /api/v1/app/`), without a redirect:
// a client would re-send a write to the Location only sometimes.
func apiTrailingSlash(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(c *fasthttp.RequestCtx) {
		if p := c.Path(); len(p) > len("/api/") && p[len(p)-1] == '/' && bytes.HasPrefix(p, []byte("/api/")) {
			c.URI().SetPath(string(p[:len(p)-1]))
		}
		h(c)
	}
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if s.closing.Load() {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for those in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	s.taskMu.Lock()
	s.closing.Store(true)
	s.taskMu.Unlock()
	err := s.http.ShutdownWithContext(ctx)
	s.messages.Close()
	s.tasks.Wait() // each stops after its current Raft entry
	return err
}

// maxDrain bounds how much of an oversized body is read to answer 413
// cleanly; past it the connection is simply closed.
const maxDrain = 16 << 20

// limitBody enforces the request limits before any handler runs: header
// count, body size (bodies with a Content-Length up to the limit arrive
// fully read; chunked bodies are read here, up to the limit) and JSON
// nesting depth.
func (s *Server) limitBody(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	limit := s.cfg.MaxRequestBodyBytes
	return func(c *fasthttp.RequestCtx) {
		s.headersIn.Delete(&c.Request.Header)
		if s.cfg.MaxHeaders > 0 && c.Request.Header.Len() > s.cfg.MaxHeaders {
			c.SetConnectionClose()
			s.writeError(c, errTooManyHeaders)
			return
		}
		cl := c.Request.Header.ContentLength()
		stream := c.RequestBodyStream()
		switch {
		case cl > limit:
			if stream != nil {
				_, _ = io.CopyN(io.Discard, stream, maxDrain)
			}
			c.SetConnectionClose()
			s.writeError(c, errBodyTooLarge)
			return
		case cl == -1 && stream != nil:
			body, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
			if isTimeout(err) {
				c.SetConnectionClose()
				s.writeError(c, errRequestTimeout)
				return
			}
			if err != nil || len(body) > limit {
				c.SetConnectionClose()
				s.writeError(c, errBodyTooLarge)
				return
			}
			c.Request.SetBody(body)
		}
		if s.cfg.MaxJSONDepth > 0 && jsonTooDeep(c.PostBody(), s.cfg.MaxJSONDepth) {
			s.writeError(c, jsonDecodeError([]string{"body"}, "JSON nested deeper than "+strconv.Itoa(s.cfg.MaxJSONDepth)+" levels"))
			countRequest(c)
			return
		}
		h(c)
		countRequest(c)
	}
}

// jsonTooDeep reports whether body nests arrays and objects deeper than
// limit, without parsing it: brackets inside strings do not count.
func jsonTooDeep(body []byte, limit int) bool {
	// Depth never exceeds the number of opening brackets, which the
	// vectorised bytes.Count finds far faster than the walk below: most
	// bodies are settled here.
	if bytes.Count(body, []byte{'{'})+bytes.Count(body, []byte{'['}) <= limit {
		return false
	}
	depth, inString, escaped := 0, false, false
	for _, b := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			if depth++; depth > limit {
				return true
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return false
}

// headerReceived notes that a request's headers arrived (see headersIn).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	s.headersIn.Store(h, struct{}{})
	return fasthttp.RequestConfig{} // the server's own limits
}

// transportError answers errors fasthttp hits before a handler runs, most
// importantly a body over the size limit.
//
// A read timeout is answered by what the client did. A connection on which
// nothing arrived is closed without a word: it is idle, and any answer
// would be read as the reply to a request the client sends at that
// moment, which would then be lost. fasthttp (v1.74) already closes
// keep-alive connections idle since their last response that way; a new
// connection's silence reaches this handler as the bare read error.
// A request whose headers or body started but did not finish is answered
// 408, which clients treat as "the server closed; retry".
func (s *Server) transportError(c *fasthttp.RequestCtx, err error) {
	_, headersIn := s.headersIn.LoadAndDelete(&c.Request.Header)
	if isTimeout(err) {
		var bare net.Error
		if nothingRead := errors.As(err, &bare) && error(bare) == err && !headersIn; nothingRead {
			// The response fasthttp writes after this goes nowhere.
			_ = c.Conn().Close()
			return
		}
		s.writeError(c, errRequestTimeout)
		return
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		s.writeError(c, errBodyTooLarge)
		return
	}
	if strings.Contains(err.Error(), "small read buffer") {
		s.writeError(c, errHeadersTooLarge)
		return
	}
	s.writeError(c, errorf(http.StatusBadRequest, "bad_request", "The request could not be read."))
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type fasthttpLogger struct{ log zerolog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug().Msgf(format, args...)
}

// peerURL is the URL of uri (path and query) on another member's API at
// addr (host:port): https when members talk TLS.
func (s *Server) peerURL(addr, uri string) string {
	if s.cfg.PeerTLS != nil {
		return "https://" + addr + uri
	}
	return "http://" + addr + uri
}

// nodeOnly lets through only clients that presented a certificate the
// listener verified against the cluster's CA, when RequireNodeCert is
// set: joining makes the caller a voter, which the admin token alone must
// not do when nodes are meant to prove they belong. (The API port cannot
// require certificates of every client: the platform's have none.)
func (s *Server) nodeOnly(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if !s.cfg.RequireNodeCert {
		return h
	}
	return func(c *fasthttp.RequestCtx) {
		if st := c.TLSConnectionState(); st == nil || len(st.VerifiedChains) == 0 {
			s.writeError(c, errorf(http.StatusForbidden, "node_certificate_required",
				"Joining needs a node certificate signed by the cluster's CA (tls.ca_file)."))
			return
		}
		h(c)
	}
}

// validHostPort reports whether s is host:port with a numeric port.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// pathParam returns a route parameter.
func pathParam(c *fasthttp.RequestCtx, name string) string {
	v, _ := c.UserValue(name).(string)
	return v
}

// parseLimit reads the limit query parameter (Svix: default 50, at most
// 250).
func parseLimit(c *fasthttp.RequestCtx, v *violations) int {
	s := query(c, "limit")
	if s == "" {
		return 50
	}
	n, err := strconv.ParseUint(s, 10, 32)
	switch {
	case err != nil:
		v.badQuery("must be a non-negative integer", "limit")
	case n > 250:
		v.addQuery("Given limit must not exceed 250", "limit")
	case n == 0:
		v.addQuery("must be at least 1", "limit")
	default:
		return int(n)
	}
	return 50
}
