package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const listenUsage = `usage:
  herald listen [--port 9000] [--addr 127.0.0.1] [--secret whsec_...] [--status 200]

Runs a small webhook receiver that prints every request it gets: method,
path, headers and body, and, with --secret (or HERALD_LISTEN_SECRET), whether
its Standard Webhooks signature verifies (webhook-* headers, or Svix's
svix-* names). A request whose signature does not verify is answered 401, as
a real receiver would; the others get --status (default 200).
`

// listenMaxBody bounds what one delivery may send; a webhook is small.
const listenMaxBody = 4 << 20

// listenCmd runs the receiver until SIGINT or SIGTERM.
func listenCmd(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return listen(ctx, args, stdout, stderr, nil)
}

// listen serves until ctx ends; ready, when not nil, receives the bound
// address once the socket is listening (tests use port 0).
func listen(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) int {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, listenUsage) }
	port := fs.Int("port", 9000, "TCP port to listen on (0 picks a free one)")
	host := fs.String("addr", "127.0.0.1", "address to listen on")
	secret := fs.String("secret", os.Getenv("HERALD_LISTEN_SECRET"), "endpoint signing secret (whsec_...) to verify signatures with")
	status := fs.Int("status", http.StatusOK, "status code to answer verified (or unchecked) deliveries with")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 || *port < 0 || *port > 65535 || *status < 100 || *status > 599 {
		fs.Usage()
		return 2
	}
	var verifier *standardwebhooks.Webhook
	if *secret != "" {
		v, err := standardwebhooks.NewWebhook(*secret)
		if err != nil {
			fmt.Fprintf(stderr, "herald listen: --secret is not a signing secret (whsec_ followed by base64): %v\n", err)
			return 2
		}
		verifier = v
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(stderr, "herald listen: %v\n", err)
		return 1
	}
	r := &receiver{out: stdout, verifier: verifier, status: *status}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "herald listen: waiting for webhooks on http://%s/ (Ctrl-C stops)\n", ln.Addr())
	if verifier == nil {
		fmt.Fprintln(stdout, "herald listen: no --secret given, signatures are shown but not checked")
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "herald listen: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return 0
}

// receiver prints each request and answers it.
type receiver struct {
	out      io.Writer
	verifier *standardwebhooks.Webhook
	status   int

	mu sync.Mutex // one delivery's lines stay together
	n  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, listenMaxBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	verdict, ok := r.verify(body, req.Header)
	code := r.status
	if !ok {
		code = http.StatusUnauthorized
	}

	var b bytes.Buffer
	r.mu.Lock()
	r.n++
	fmt.Fprintf(&b, "\n--- delivery %d at %s: %s %s\n", r.n, time.Now().Format(time.RFC3339), req.Method, req.URL.RequestURI())
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range req.Header[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	b.WriteString("\n")
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		b.Write(pretty.Bytes())
	} else {
		b.Write(body)
	}
	fmt.Fprintf(&b, "\nsignature: %s\nanswered: %d\n", verdict, code)
	_, _ = r.out.Write(b.Bytes())
	r.mu.Unlock()

	w.WriteHeader(code)
}

// verify checks the Standard Webhooks signature when a secret was given.
// Svix's own header names (svix-id, svix-timestamp, svix-signature) are
// accepted too, since Svix documents both.
func (r *receiver) verify(body []byte, h http.Header) (string, bool) {
	h = h.Clone()
	for _, name := range []string{"id", "timestamp", "signature"} {
		if h.Get("webhook-"+name) == "" && h.Get("svix-"+name) != "" {
			h.Set("webhook-"+name, h.Get("svix-"+name))
		}
	}
	if r.verifier == nil {
		if h.Get("webhook-signature") == "" {
			return "none sent (not checked: no --secret)", true
		}
		return "present, not checked (no --secret)", true
	}
	if err := r.verifier.Verify(body, h); err != nil {
		return "INVALID (" + strings.TrimPrefix(err.Error(), "unable to verify payload, err: ") + ")", false
	}
	return "verified", true
}
