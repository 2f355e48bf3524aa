// Package appliance wires one Herald node together: state store, Raft,
// delivery and the HTTP API, opened in that order and closed in reverse.
// main.go and the in-process cluster tests both build nodes through it.
package appliance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/certs"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/portal"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/server"
	"github.com/herald-webhooks/herald/storage"
)

// Version is the build's version, set by main from its link-time value.
var Version = "dev"

// Appliance is one running Herald node.
type Appliance struct {
	cfg        config.Config
	log        zerolog.Logger
	store      *storage.Store
	node       *raft.Node
	sender     *delivery.Sender
	dispatcher *delivery.Dispatcher
	api        *server.Server
	listener   net.Listener
	serveDone  chan error
	cluster    *clusterClient // nil without an admin token
	tls        *certs.Node    // nil without TLS
	keys       *keyring.Keyring
	disk       *storage.DiskGuard
	now        func() time.Time
	pacer      *purgePacer // the retention purge's, used by its task alone
	debug      *http.Server
	stopTasks  chan struct{}
	tasksDone  sync.WaitGroup
	closeOnce  sync.Once
	apiOnce    sync.Once

	// step is the shutdown step running now (shutdown.go);
	// shutdownDone is closed once every step has finished, and closeErr
	// is their outcome.
	step         atomic.Int32
	shutdownDone chan struct{}
	closeErr     error
}

// Options are things the caller provides that are not configuration.
type Options struct {
	// TokenOut receives the admin token generated on first start (the
	// terminal, for main); nil discards it.
	TokenOut io.Writer
	// Now overrides the clock (tests).
	Now func() time.Time
	// WrapRaftStream wraps the node's Raft transport (fault-injection
	// tests cut and heal a node's Raft traffic with it).
	WrapRaftStream func(hraft.StreamLayer) hraft.StreamLayer
	// OnAttempt is called each time this node's dispatcher starts a
	// delivery attempt (tests: which node dispatched what); nil in
	// production.
	OnAttempt func(msgID, endpointID string)
	// Resolver looks up the host names of URLs the API is given (tests);
	// nil: the system's. Every connection resolves through the system.
	Resolver delivery.Resolver
}

// Open starts a node from cfg. It returns once the API is listening; on a
// fresh one-node cluster it also waits for leadership so the first admin
// token can be generated and recorded.
func Open(cfg config.Config, opts Options, log zerolog.Logger) (*Appliance, error) {
	a := &Appliance{cfg: cfg, log: log, stopTasks: make(chan struct{}), shutdownDone: make(chan struct{}), now: opts.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit) << 20)
	}
	// A node listed in its own --join (one list for every node) ignores
	// itself; with nothing left to join, it bootstraps.
	var joinAddrs []string
	for _, addr := range cfg.Join {
		if addr != cfg.HTTPAddr && addr != cfg.HTTPAdvertise {
			joinAddrs = append(joinAddrs, addr)
		}
	}
	a.cfg.Join = joinAddrs
	joining := len(joinAddrs) > 0
	if joining && cfg.AdminToken == "" {
		return nil, errors.New("joining a cluster needs its admin token: set admin_token or " + config.AdminTokenEnv)
	}
	// TLS files are read first: a bad one fails the start before
	// anything is written.
	if cfg.TLS.Enabled() {
		var err error
		if a.tls, err = certs.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile, log.With().Str("component", "tls").Logger()); err != nil {
			return nil, err
		}
	}
	if cfg.AdminToken != "" {
		a.cluster = newClusterClient(cfg.AdminToken, a.peerTLS())
	}
	// Both ports are bound before anything touches the data directory: a
	// port in use fails the start with nothing written, rather than after
	// a first start has created a key, a node id and empty stores.
	apiLn, raftLn, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	if a.tls != nil {
		apiLn = tls.NewListener(apiLn, a.tls.API())
	}
	a.listener = apiLn
	closeListeners := func() {
		_ = apiLn.Close()
		_ = raftLn.Close()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		closeListeners()
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	nodeID, err := a.nodeID()
	if err != nil {
		closeListeners()
		return nil, err
	}
	// A joining node without a key of its own gets the cluster's keyring
	// when it joins (keys stays nil until then): it never makes its own.
	keys, err := loadKeyring(cfg, joining, log)
	if err != nil {
		closeListeners()
		return nil, err
	}
	// The guard is up before anything writes: on a node restarted with
	// its disk full it refuses from the first entry on.
	if err := errors.Join(os.MkdirAll(filepath.Join(cfg.DataDir, "raft"), 0o700), os.MkdirAll(filepath.Join(cfg.DataDir, "state"), 0o700)); err != nil {
		closeListeners()
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	a.disk = newDiskGuard(cfg, log.With().Str("component", "storage").Logger())
	if a.store, err = storage.OpenGC(filepath.Join(cfg.DataDir, "state"), log.With().Str("component", "storage").Logger(), cfg.Storage.ValueLogGCInterval.Duration); err != nil {
		a.disk.Close()
		closeListeners()
		return nil, err
	}

	// The FSM's hooks reach the dispatcher, which needs the node: the
	// pointer is filled in once both exist. A wake lost before then is
	// harmless, as dispatch starts with a full scan.
	var disp atomic.Pointer[delivery.Dispatcher]
	hooks := raft.Hooks{
		Scheduled: func(ms int64) {
			if d := disp.Load(); d != nil {
				d.Scheduled(ms)
			}
		},
		Restored: func() {
			if d := disp.Load(); d != nil {
				d.Restored()
			}
		},
	}
	rcfg := raft.Config{
		NodeID: nodeID, BindAddr: cfg.RaftAddr, AdvertiseAddr: cfg.RaftAdvertise, Dir: cfg.DataDir,
		HeartbeatTimeout: cfg.Raft.HeartbeatTimeout.Duration, ElectionTimeout: cfg.Raft.ElectionTimeout.Duration,
		LeaderLeaseTimeout: cfg.Raft.LeaderLeaseTimeout.Duration, CommitTimeout: cfg.Raft.CommitTimeout.Duration,
		ApplyTimeout: cfg.Raft.ApplyTimeout.Duration, MaxAppendEntries: cfg.Raft.MaxAppendEntries,
		SnapshotThreshold: uint64(cfg.Raft.SnapshotThreshold), SnapshotInterval: cfg.Raft.SnapshotInterval.Duration,
		TrailingLogs: uint64(cfg.Raft.TrailingLogs), ValueLogGCInterval: cfg.Storage.ValueLogGCInterval.Duration,
		WrapStream: opts.WrapRaftStream,
		Listener:   raftLn,
		DiskCheck:  a.disk.AllowEntry,
	}
	if a.tls != nil {
		rcfg.TLS = &raft.TLS{Server: a.tls.PeerServer(), Client: a.tls.PeerClient()}
	}
	bootstrap := !joining
	if a.node, err = raft.Open(rcfg, a.store, hooks, bootstrap, log.With().Str("component", "raft").Logger()); err != nil {
		_ = apiLn.Close() // raft.Open closed its own
		_ = a.store.Close()
		a.disk.Close()
		return nil, err
	}
	// Without a key, the join comes first, before the API serves: the
	// keyring it brings seals and opens every endpoint secret. (The API
	// port is bound, so requests meanwhile wait rather than fail.)
	joined := false
	if keys == nil {
		material, err := a.join(a.cluster, true)
		if err == nil {
			keys, err = installKeyring(cfg, material, log)
		}
		if err != nil {
			_ = a.node.Close()
			_ = a.store.Close()
			_ = apiLn.Close()
			return nil, err
		}
		joined = true
	}
	a.keys = keys

	guard := delivery.NewGuard(cfg.AllowPrivatePrefixes(), cfg.HTTPSOnly)
	a.sender = delivery.NewSender(delivery.SenderConfig{
		Timeout:           cfg.Delivery.RequestTimeout.Duration,
		ResponseBodyLimit: responseBodyLimit(cfg.Delivery.ResponseBodyLimit),
		// One warm connection for each attempt an endpoint may have in
		// flight: fewer would close and redial connections under load.
		MaxIdleConnsPerHost: cfg.Delivery.MaxInFlightPerEndpoint,
		Guard:               guard,
		UserAgent:           "Herald-Webhooks/" + Version,
	})
	a.dispatcher = delivery.NewDispatcher(delivery.DispatcherConfig{
		Workers:                cfg.Delivery.Workers,
		MaxInFlightPerEndpoint: cfg.Delivery.MaxInFlightPerEndpoint,
		Retry: delivery.RetryPolicy{
			Schedule: cfg.RetryDelays(), Jitter: cfg.Delivery.RetryJitter,
			RetryAfterMax: cfg.Delivery.RetryAfterMax.Duration,
		},
		DrainTimeout:     cfg.Delivery.DrainTimeout.Duration,
		AutoDisableAfter: cfg.Delivery.AutoDisableAfter.Duration,
		CatchUp:          cfg.Delivery.CatchUpOnRecovery,
		HeaderStyle:      delivery.HeaderStyleNamed(cfg.Delivery.HeaderStyle),
		Now:              opts.Now,
		Keys:             keys,
		OnAttempt:        opts.OnAttempt,
		Paused:           func() bool { return a.disk.Level() >= storage.DiskFull },
	}, a.node, a.store, a.sender, log.With().Str("component", "delivery").Logger())
	disp.Store(a.dispatcher)

	var hashes [][]byte
	if cfg.AdminToken != "" {
		sum := sha256.Sum256([]byte(cfg.AdminToken))
		hashes = append(hashes, sum[:])
	}
	site, err := portal.New(portal.Config{
		FrameAncestors: cfg.Portal.FrameAncestors, PlatformName: cfg.Portal.PlatformName,
		LogoURL: cfg.Portal.LogoURL, PrimaryColor: cfg.Portal.PrimaryColor,
	})
	if err != nil {
		a.closeBelowAPI()
		return nil, fmt.Errorf("build the consumer portal: %w", err)
	}
	a.api = server.New(server.Config{
		MaxRequestBodyBytes: cfg.API.MaxRequestBodyBytes,
		MaxPayloadBytes:     cfg.API.MaxPayloadBytes,
		ReadTimeout:         cfg.API.ReadTimeout.Duration,
		WriteTimeout:        cfg.API.WriteTimeout.Duration,
		IdleTimeout:         cfg.API.IdleTimeout.Duration,
		IdempotencyTTL:      cfg.API.IdempotencyTTL.Duration,
		EventIDTTL:          cfg.API.EventIDTTL.Duration,
		AdminTokenHashes:    hashes,
		PublicURL:           cfg.PublicBase(),
		Portal:              site.Serve,
		NodeMetrics:         a.nodeMetrics().WritePrometheus,
		Keys:                keys,
		AdminRateLimit:      cfg.API.AdminRateLimit,
		AppRateLimit:        cfg.API.AppRateLimit,
		MaxEndpointsPerApp:  cfg.API.MaxEndpointsPerApp,
		MaxHeaderBytes:      cfg.API.MaxHeaderBytes,
		MaxHeaders:          cfg.API.MaxHeaders,
		MaxJSONDepth:        cfg.API.MaxJSONDepth,
		PeerTLS:             a.peerTLS(),
		RequireNodeCert:     a.tls != nil && a.tls.CAs != nil,
		Now:                 opts.Now,
		Resolver:            opts.Resolver,
		Disk:                a.disk,
		PayloadRetention:    cfg.Storage.PayloadRetention.Duration,
		Version:             Version,
	}, a.node, a.store, guard, log.With().Str("component", "api").Logger())

	a.serveDone = make(chan error, 1)
	go func() { a.serveDone <- a.api.Serve(a.listener) }()
	log.Info().Str("component", "api").Str("addr", a.listener.Addr().String()).Bool("tls", a.tls != nil).Msg("API listening")

	if joining && !joined {
		// A member restarting with its --join kept needs no join: Raft
		// reconnects by itself, and keepRegistered refreshes its API
		// address through the leader. Insisting on the join would keep it
		// from starting whenever the members it names are down.
		// A node whose state holds its own removal joins again, to learn
		// from the leader whether an operator allowed it back.
		if a.node.IsVoter() && !a.node.Removed() {
			log.Info().Str("component", "raft").Msg("already a voter of the cluster: join skipped")
		} else if _, err := a.join(a.cluster, false); err != nil {
			_ = a.Close(context.Background())
			return nil, err
		}
	}
	if cfg.AdminToken == "" && bootstrap {
		if err := a.ensureAdminToken(opts.TokenOut); err != nil {
			_ = a.Close(context.Background())
			return nil, err
		}
	}
	if cfg.DebugAddr != "" {
		a.serveDebug(cfg.DebugAddr)
	}
	a.tasksDone.Add(3)
	// The leader's housekeeping: expiring idempotency keys and event ids.
	go a.every(10*time.Second, func() {
		if a.node.IsLeader() {
			a.expire()
		}
	})
	// And retention: expired payloads and records.
	go a.every(cfg.Storage.PurgeInterval.Duration, func() {
		if a.node.IsLeader() {
			a.purge()
		}
	})
	go a.keepRegistered(a.cluster)
	if limit := int64(cfg.MappedMemoryLimit) << 20; limit > 0 {
		a.tasksDone.Add(1)
		go a.every(100*time.Millisecond, func() { a.trimMappedMemory(limit) })
	}
	return a, nil
}

// listen binds the API and Raft ports.
func listen(cfg config.Config) (api, rft net.Listener, err error) {
	if api, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, nil, fmt.Errorf("listen for the API on %s: %w", cfg.HTTPAddr, err)
	}
	if rft, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
		_ = api.Close()
		return nil, nil, fmt.Errorf("listen for Raft on %s: %w", cfg.RaftAddr, err)
	}
	return api, rft, nil
}

// every runs fn at each tick of interval until the node closes. The caller
// has counted it in tasksDone.
func (a *Appliance) every(interval time.Duration, fn func()) {
	defer a.tasksDone.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.stopTasks:
			return
		case <-t.C:
		}
		fn()
	}
}

// trimMappedMemory keeps the resident pages of Badger's memory-mapped
// files (value logs, tables) near limit; it runs ten times a second: see
// storage.TrimMappedFiles. Only this node's data directory is trimmed. The
// check is cheap (one read of /proc/self/status), and it has to be
// frequent: every read of a payload from a value log maps the page and,
// through the kernel's fault-around, up to 15 neighbours, so a node
// retrying a large backlog maps hundreds of MiB a second.
func (a *Appliance) trimMappedMemory(limit int64) {
	if rss, err := storage.MappedFileRSS(); err != nil || rss <= limit {
		return
	}
	if _, err := storage.TrimMappedFiles(a.cfg.DataDir); err != nil {
		a.log.Warn().Err(err).Str("component", "storage").Msg("trim mapped files failed")
	}
}

// responseBodyLimit maps response_body_limit (0 = store none) to the
// sender's setting (negative = none).
func responseBodyLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// nodeMetrics is this node's own gauge set (several nodes may share a
// process in tests, so these are not process-wide).
func (a *Appliance) nodeMetrics() *metrics.Set {
	set := metrics.NewSet()
	gauge := func(name string, f func(st raft.Status) float64) {
		set.NewGauge(name, func() float64 { return f(a.node.Status()) })
	}
	gauge(`herald_raft_is_leader`, func(st raft.Status) float64 {
		if st.State == "Leader" {
			return 1
		}
		return 0
	})
	gauge(`herald_raft_term`, func(st raft.Status) float64 { return float64(st.Term) })
	gauge(`herald_raft_commit_index`, func(st raft.Status) float64 { return float64(st.CommitIndex) })
	gauge(`herald_raft_applied_index`, func(st raft.Status) float64 { return float64(st.AppliedIndex) })
	gauge(`herald_raft_last_log_index`, func(st raft.Status) float64 { return float64(st.LastLogIndex) })
	set.NewGauge(`herald_deliveries_in_flight`, func() float64 { return float64(a.dispatcher.InFlight()) })
	a.diskMetrics(set)
	return set
}

// loadKeyring builds the keyring that seals endpoint secrets: the main key
// from the config or its key file (created, mode 0600, on first start),
// plus former keys still needed to open older secrets (from the config,
// and those received from the cluster on joining). A joining node with
// no key file gets nil: its keyring comes from the cluster.
func loadKeyring(cfg config.Config, joining bool, log zerolog.Logger) (*keyring.Keyring, error) {
	var (
		current []byte
		old     [][]byte
		err     error
	)
	if cfg.SecretsKey != "" {
		if current, err = keyring.ParseKey(cfg.SecretsKey); err != nil {
			return nil, fmt.Errorf("secrets_key: %w", err)
		}
	} else {
		path := keyFilePath(cfg)
		if _, err := os.Lstat(path); joining && errors.Is(err, os.ErrNotExist) {
			log.Info().Str("file", path).Msg("no secrets key yet: the cluster's keyring comes with the join")
			return nil, nil
		}
		if old, err = keyring.LoadOldKeysFile(keyring.OldKeysFile(path)); err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		var created bool
		if current, created, err = keyring.LoadOrCreateKeyFile(path); err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		if created {
			log.Warn().Str("file", path).Msg("created the main key sealing endpoint secrets; back it up, and copy it to every node that joins this cluster")
		}
	}
	keys, err := newKeyring(cfg, current, old)
	if err != nil {
		return nil, err
	}
	log.Info().Str("key_id", keys.ID()).Int("old_keys", len(old)).Msg("secrets keyring loaded")
	return keys, nil
}

// newKeyring builds the keyring from the main key, the former keys given
// and those of secrets_old_keys.
func newKeyring(cfg config.Config, current []byte, old [][]byte) (*keyring.Keyring, error) {
	for i, s := range cfg.SecretsOldKeys {
		k, err := keyring.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("secrets_old_keys entry %d: %w", i, err)
		}
		old = append(old, k)
	}
	keys, err := keyring.New(current, old...)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return keys, nil
}

// keyFilePath is where the main key is kept when the config does not hold it.
func keyFilePath(cfg config.Config) string {
	if cfg.SecretsKeyFile != "" {
		return cfg.SecretsKeyFile
	}
	return filepath.Join(cfg.DataDir, "secrets.key")
}

// installKeyring keeps the keyring a joining node received from the
// cluster: the main key in the key file, former keys beside it, so a
// restart needs no second transfer.
func installKeyring(cfg config.Config, m *keyring.Material, log zerolog.Logger) (*keyring.Keyring, error) {
	current, old, err := m.Keys()
	if err != nil {
		return nil, fmt.Errorf("keyring received from the cluster: %w", err)
	}
	path := keyFilePath(cfg)
	if err := keyring.InstallKeyFile(path, current); err != nil {
		return nil, fmt.Errorf("install the cluster's secrets key: %w", err)
	}
	if len(old) > 0 {
		if err := keyring.InstallOldKeysFile(keyring.OldKeysFile(path), old); err != nil {
			return nil, fmt.Errorf("install the cluster's former secrets keys: %w", err)
		}
	}
	keys, err := newKeyring(cfg, current, old)
	if err != nil {
		return nil, err
	}
	log.Info().Str("key_id", keys.ID()).Int("old_keys", len(old)).Str("file", path).
		Msg("secrets keyring received from the cluster and saved")
	return keys, nil
}

// serveDebug serves Go's profiler on addr (debug_addr) until Close.
func (a *Appliance) serveDebug(addr string) {
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(int(time.Millisecond))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.debug = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.debug.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Warn().Err(err).Str("addr", addr).Msg("debug listener stopped")
		}
	}()
	a.log.Info().Str("addr", addr).Msg("profiler listening")
}

// nodeID returns the configured id, or the one generated on first start and
// kept in the data directory.
func (a *Appliance) nodeID() (string, error) {
	if a.cfg.NodeID != "" {
		return a.cfg.NodeID, nil
	}
	path := filepath.Join(a.cfg.DataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	var raw [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := "node-" + fmt.Sprintf("%x", raw)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

// ensureAdminToken generates the admin token on a cluster's first start:
// the token is shown once, and only its hash is replicated. A node whose
// state already holds the hash (any restart) has nothing to do; a first
// start waits for its own leadership, since only a leader can record it.
func (a *Appliance) ensureAdminToken(out io.Writer) error {
	recorded := func() bool {
		var existing []byte
		_ = a.store.View(func(r *storage.Reader) error { existing = r.AdminHash(); return nil })
		return existing != nil
	}
	if recorded() {
		a.remindAdminToken(out)
		return nil
	}
	deadline := time.Now().Add(a.cfg.Raft.ApplyTimeout.Duration + 10*time.Second)
	for !a.node.IsLeader() {
		if recorded() {
			return nil // another leader recorded it, and it reached us
		}
		if time.Now().After(deadline) {
			// Not fatal: a restarted node of a cluster whose leader is
			// elsewhere gets the hash by replication.
			a.log.Warn().Str("component", "api").Msg("not leader: no admin token generated here; set admin_token, or use the token the cluster's first node printed")
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.node.Barrier(a.cfg.Raft.ApplyTimeout.Duration); err != nil {
		return fmt.Errorf("wait for raft: %w", err)
	}
	if recorded() {
		a.remindAdminToken(out)
		return nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := "hrld_" + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	if _, err := a.node.Apply(&raft.SetAdminHash{Hash: sum[:]}); err != nil {
		return fmt.Errorf("record admin token: %w", err)
	}
	if out != nil {
		fmt.Fprintf(out, "\nHerald generated an admin token. It is shown only this once; keep it safe:\n\n    %s\n\n", token)
	}
	a.log.Info().Str("component", "api").Msg("admin token generated and shown once on the terminal; only its hash is stored")
	return nil
}

// adminTokenReminder is shown at each start of a node that uses the
// generated token, whose value is nowhere to be read again.
const adminTokenReminder = `
Herald's admin token was generated on this cluster's first start and shown
once; only its hash is kept. To use a token of your own instead (or if that
one is lost), start with HERALD_ADMIN_TOKEN=<token> (or --admin-token):
it is accepted beside the generated one.

`

// remindAdminToken says, on a start without a configured token where the
// cluster already has a generated one, that it exists and how to set one.
func (a *Appliance) remindAdminToken(out io.Writer) {
	if out != nil {
		fmt.Fprint(out, adminTokenReminder)
	}
	a.log.Info().Str("component", "api").Msg("admin token: the generated one is in use (only its hash is stored); set HERALD_ADMIN_TOKEN to use a token of your own")
}

// expire deletes what has expired, 10,000 records per Raft entry, as many
// entries as it takes (up to a bound per round): under sustained ingest
// every message leaves an idempotency record behind, far more than one
// entry a round could keep up with.
func (a *Appliance) expire() {
	const limit, maxRounds = 10000, 100
	now := time.Now().UnixMilli()
	for range maxRounds {
		resp, err := a.node.Apply(&raft.Expire{NowMs: now, Limit: limit})
		if err != nil {
			a.log.Warn().Err(err).Str("component", "raft").Msg("expire records failed")
			return
		}
		if res, _ := resp.(raft.Result); res.Count < limit {
			return
		}
	}
}

// HTTPAddr returns the address the API listens on.
func (a *Appliance) HTTPAddr() string { return a.listener.Addr().String() }

// Node returns the Raft node (tests, cluster operations).
func (a *Appliance) Node() *raft.Node { return a.node }

// Store returns the state store (tests).
func (a *Appliance) Store() *storage.Store { return a.store }

// Close shuts the node down in order: let deliveries in flight finish (up
// to the drain timeout) and hand leadership over, stop taking requests,
// then close Raft and storage. It returns when that is done or when ctx
// ends, whichever comes first: a step still running then (a Raft shutdown
// waiting on peers that stopped answering) is abandoned, not waited for.
// Close logs what it abandoned and returns ErrShutdownAbandoned; the steps
// go on in the background (ShutdownDone), and the process should exit.
func (a *Appliance) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		go func() {
			defer close(a.shutdownDone)
			a.closeErr = a.shutdown(ctx)
		}()
	})
	select {
	case <-a.shutdownDone:
		return a.closeErr
	case <-ctx.Done():
	}
	select {
	case <-a.shutdownDone:
		return a.closeErr
	default:
	}
	left := a.stepsLeft()
	a.log.Error().Str("step", left[0]).Strs("abandoned", left).Msg("shutdown abandoned: a step did not finish in time")
	return fmt.Errorf("%w: %s did not finish in time", ErrShutdownAbandoned, left[0])
}

// shutdown runs Close's steps in order.
func (a *Appliance) shutdown(ctx context.Context) error {
	var err error
	a.setStep(stepTasks)
	close(a.stopTasks)
	a.tasksDone.Wait()
	if a.debug != nil {
		_ = a.debug.Close()
	}
	if a.cfg.Raft.LeaveOnShutdown {
		a.setStep(stepLeave)
		a.leave(a.cluster)
	}
	// In a cluster, deliveries drain and a leader hands over while the
	// API still serves: a leader that shut its API first left the whole
	// cluster refusing writes until it had drained (up to the drain
	// timeout) and stepped down; after the handover this node forwards
	// writes. Alone, the node stops its intake first, then drains.
	a.setStep(stepAPI)
	if !a.hasPeers() {
		a.stopAPI(ctx, &err)
	}
	a.setStep(stepDrain)
	a.dispatcher.Close()
	a.setStep(stepHandOver)
	a.stepDown()
	a.setStep(stepAPI)
	a.stopAPI(ctx, &err)
	if cerr := a.closeBelowAPI(); cerr != nil && err == nil {
		err = cerr
	}
	a.log.Info().Msg("shutdown complete")
	return err
}

// hasPeers reports whether other voters share this node's cluster.
func (a *Appliance) hasPeers() bool {
	members, err := a.node.Members()
	if err != nil {
		return false
	}
	voters := 0
	for _, m := range members {
		if m.Suffrage == "Voter" {
			voters++
		}
	}
	return voters > 1
}

// stopAPI stops the HTTP API once (requests in progress finish).
func (a *Appliance) stopAPI(ctx context.Context, err *error) {
	a.apiOnce.Do(func() {
		if a.api != nil && a.listener != nil {
			if serr := a.api.Shutdown(ctx); serr != nil && *err == nil {
				*err = fmt.Errorf("stop API: %w", serr)
			}
			<-a.serveDone
		}
	})
}

// stepDown hands leadership to another voter, if this node leads, so the
// others need not wait for an election timeout.
func (a *Appliance) stepDown() {
	if err := a.node.TransferLeadership(); err != nil {
		a.log.Warn().Err(err).Str("component", "raft").Msg("leadership transfer on shutdown failed")
	}
}

func (a *Appliance) closeBelowAPI() error {
	a.setStep(stepDrain)
	a.dispatcher.Close() // a no-op when Close drained it already
	a.sender.Close()
	a.setStep(stepHandOver)
	a.stepDown()
	var err error
	a.setStep(stepRaft)
	if nerr := a.node.Close(); nerr != nil {
		err = nerr
	}
	a.setStep(stepStore)
	if serr := a.store.Close(); serr != nil && err == nil {
		err = fmt.Errorf("close state store: %w", serr)
	}
	a.disk.Close()
	return err
}
