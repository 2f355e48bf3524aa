package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

var (
	// ErrNoSigningKey reports a request without keys: Herald never sends unsigned webhooks.
	ErrNoSigningKey = errors.New("no signing key for endpoint")
)

const (
	defaultSendTimeout         = 15 * time.Second
	defaultResponseBodyLimit   = 4096
	defaultMaxIdleConnsPerHost = 64
	defaultUserAgent           = "Herald-Webhooks/1"

	// drainLimit is how much of an unread response body is discarded so
	// the connection can be reused; beyond it, closing is cheaper.
	drainLimit = 64 << 10
	// maxResponseHeaderBytes bounds what a hostile receiver can make
	// Herald buffer before the body (the net/http default is 10 MiB).
	maxResponseHeaderBytes = 64 << 10
)

// reservedHeaders may not be set by endpoint custom headers: the first
// three carry the signature, the rest describe the body or the connection
// and are Herald's to get right.
var reservedHeaders = map[string]bool{
	"Webhook-Id":        true,
	"Webhook-Timestamp": true,
	"Webhook-Signature": true,
	"Content-Type":      true,
	"Content-Length":    true,
	"Host":              true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"Te":                true,
	"Trailer":           true,
	"Upgrade":           true,
	"Keep-Alive":        true,
}

// SenderConfig configures a Sender; zero fields take defaults.
type SenderConfig struct {
	// Timeout bounds one attempt, from dialling to the end of the response body read (default 15s).
	Timeout time.Duration
	// ResponseBodyLimit is how many response body bytes are kept for the attempt log (0: 4096; negative: none).
	ResponseBodyLimit int
	// Guard vets every dialled address; nil means a Guard with no exemptions.
	Guard *Guard
	// UserAgent is sent on every request unless an endpoint header overrides it.
	UserAgent string
	// MaxIdleConnsPerHost keeps connections to busy endpoints warm (default 64).
	MaxIdleConnsPerHost int
}

// Sender POSTs signed webhooks over a shared, SSRF-guarded connection pool.
type Sender struct {
	client    *http.Client
	transport *http.Transport
	timeout   time.Duration
	bodyLimit int
	userAgent string
}

// Request is one delivery attempt to send.
type Request struct {
	// URL is the endpoint URL, already accepted by Guard.CheckURL.
	URL string
	// MsgID is sent as webhook-id; it is the same on every retry so receivers can deduplicate.
	MsgID string
	// Body is the JSON payload, sent and signed byte for byte.
	Body []byte
	// Headers are the endpoint's custom headers.
	Headers map[string]string
	// Keys are the signing keys, newest first; several during a secret rotation.
	Keys [][]byte
	// Now is the signing timestamp; the zero time means time.Now.
	Now time.Time
	// Timeout bounds this attempt; 0 means the sender's.
	Timeout time.Duration
	// Signing is how the request is signed (zero: Standard Webhooks).
	Signing Signing
}

// Response is the outcome of one attempt, ready for the attempt log.
type Response struct {
	// StatusCode is the HTTP status, or 0 if no response arrived.
	StatusCode int
	// Body holds at most ResponseBodyLimit bytes of the response body.
	Body []byte
	// Duration is the wall time of the attempt.
	Duration time.Duration
	// Err is set when no response arrived (dial, TLS, timeout); its text is safe to store.
	Err error
	// RetryAfter is the parsed Retry-After header, valid if HasRetryAfter.
	RetryAfter time.Duration
	// HasRetryAfter reports whether the response carried a usable Retry-After.
	HasRetryAfter bool
	// RequestHeaders are the headers sent, as the attempt log keeps them
	// (see recordHeaders); nil when no request was made.
	RequestHeaders []storage.Header
	// Headers are the response's headers, kept the same way.
	Headers []storage.Header
}

// NewSender builds a Sender with its own connection pool.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSendTimeout
	}
	switch {
	case cfg.ResponseBodyLimit == 0:
		cfg.ResponseBodyLimit = defaultResponseBodyLimit
	case cfg.ResponseBodyLimit < 0:
		cfg.ResponseBodyLimit = 0
	}
	if cfg.Guard == nil {
		// Fail closed: forgetting to wire a guard must not open the network.
		cfg.Guard = NewGuard(nil, false)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultUserAgent
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}

	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   cfg.Guard.Control,
	}
	transport := &http.Transport{
		// Never a proxy from the environment: the guard checks the address
		// actually dialled, which for a proxy is the proxy, not the endpoint.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    min(10*time.Second, cfg.Timeout),
		MaxIdleConns:           0, // bounded per host and by IdleConnTimeout
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// The stored response body should be what the receiver wrote, and
		// transparent gunzip would let a tiny reply expand unboundedly
		// before the read limit is reached.
		DisableCompression: true,
	}
	return &Sender{
		client: &http.Client{
			Transport: transport,
			// A redirect is a failed attempt (DESIGN: 3xx is a failure);
			// following it would also dial a target no one vetted at creation.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport: transport,
		timeout:   cfg.Timeout,
		bodyLimit: cfg.ResponseBodyLimit,
		userAgent: cfg.UserAgent,
	}
}

// Close releases idle connections; in-flight sends finish normally.
func (s *Sender) Close() {
	s.transport.CloseIdleConnections()
}

// Send makes one signed POST and reports its outcome; it never returns an error separately.
func (s *Sender) Send(ctx context.Context, r Request) Response {
	start := time.Now()
	if len(r.Keys) == 0 && r.Signing.Scheme != storage.SchemeNone {
		return Response{Err: ErrNoSigningKey}
	}
	now := r.Now
	if now.IsZero() {
		now = start
	}
	ts := now.Unix()

	timeout := s.timeout
	if r.Timeout > 0 {
		timeout = r.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Response{Err: fmt.Errorf("build request: %w", err), Duration: time.Since(start)}
	}
	h := req.Header
	h.Set("User-Agent", s.userAgent)
	for k, v := range r.Headers {
		if ck := http.CanonicalHeaderKey(k); !reservedHeaders[ck] {
			h.Set(ck, v)
		}
	}
	h.Set("Content-Type", "application/json")
	r.Signing.setSignature(h, r.Keys, r.MsgID, ts, r.Body)
	sent := recordHeaders(h)

	resp, err := s.client.Do(req)
	if err != nil {
		d := time.Since(start)
		return Response{Err: describe(err, d), Duration: d, RequestHeaders: sent}
	}
	out := Response{StatusCode: resp.StatusCode, RequestHeaders: sent, Headers: recordHeaders(resp.Header)}
	out.RetryAfter, out.HasRetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())

	// Once the status line is in, the receiver has decided; a body that
	// fails to arrive is kept as far as it got and does not turn a 2xx
	// into a failure (which would resend a message already accepted).
	out.Body = readLimited(resp.Body, resp.ContentLength, s.bodyLimit)
	// Draining lets the connection go back to the pool; a receiver that
	// streams more than drainLimit costs a reconnect rather than our time.
	io.CopyN(io.Discard, resp.Body, drainLimit)
	resp.Body.Close()
	out.Duration = time.Since(start)
	return out
}

// readLimited reads at most limit bytes, sized exactly when the length is
// known, since the slice is kept until the attempt is recorded.
func readLimited(body io.Reader, contentLength int64, limit int) []byte {
	var buf []byte
	if contentLength >= 0 {
		buf = make([]byte, min(contentLength, int64(limit)))
		n, _ := io.ReadFull(body, buf)
		buf = buf[:n]
	} else {
		buf, _ = io.ReadAll(io.LimitReader(body, int64(limit)))
	}
	if len(buf) == 0 {
		return nil
	}
	return buf
}

// describe turns a transport error into a message fit for the attempt
// log. net/http errors name the URL and the cause but never request
// headers, so neither the signature nor a custom header secret can leak.
func describe(err error, elapsed time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s: %w", elapsed.Round(time.Millisecond), err)
	}
	return err
}
