package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is every setting of a Herald node.
type Config struct {
	// DataDir holds the Raft log, the state store and the generated node id.
	DataDir string `toml:"data_dir"`
	// HTTPAddr is the address the API listens on.
	HTTPAddr string `toml:"http_addr"`
	// HTTPAdvertise is the API address other nodes and clients use; empty means HTTPAddr.
	HTTPAdvertise string `toml:"http_advertise"`
	// PublicURL is the base (scheme, host, optional path) customers reach
	// the API and portal at; portal links start with it. Empty means
	// http://<http_advertise>.
	PublicURL string `toml:"public_url"`
	// RaftAddr is the address the Raft transport listens on.
	RaftAddr string `toml:"raft_addr"`
	// RaftAdvertise is the Raft address other nodes dial; empty means RaftAddr.
	RaftAdvertise string `toml:"raft_advertise"`
	// NodeID names this node in the cluster; empty means generate once and keep it in DataDir.
	NodeID string `toml:"node_id"`
	// Join lists HTTP addresses (host:port) of existing members to join through.
	Join []string `toml:"join"`
	// AdminToken is the bearer token with full API access; empty means generate on first start.
	AdminToken string `toml:"admin_token"`
	// AllowPrivateCIDR lists networks exempt from the SSRF guard.
	AllowPrivateCIDR []string `toml:"allow_private_cidr"`
	// HTTPSOnly refuses endpoints with http:// URLs.
	HTTPSOnly bool `toml:"https_only"`
	// MemoryLimit is the Go runtime's soft memory limit in MiB (GC works harder near it); 0 = none.
	MemoryLimit int `toml:"memory_limit_mib"`
	// MappedMemoryLimit is how much of Badger's memory-mapped files may stay
	// resident before Herald has the kernel reclaim their pages, in MiB;
	// 0 = never.
	MappedMemoryLimit int `toml:"mapped_memory_limit_mib"`
	// ProcsPerCPU is GOMAXPROCS, per CPU the process may use, while the
	// node takes many major page faults (0 or 1 = always Go's default);
	// the GOMAXPROCS environment variable, when set, wins.
	ProcsPerCPU int `toml:"procs_per_cpu"`
	// DebugAddr serves Go's pprof profiles (/debug/pprof/) when set; keep it on loopback.
	DebugAddr string `toml:"debug_addr"`
	// SecretsKey is the main key (base64 of 32 bytes) sealing endpoint secrets at rest; empty means the key file.
	SecretsKey string `toml:"secrets_key"`
	// SecretsKeyFile holds the main key; empty means <data_dir>/secrets.key, created on first start.
	SecretsKeyFile string `toml:"secrets_key_file"`
	// SecretsOldKeys are former main keys, still used to open secrets sealed under them.
	SecretsOldKeys []string `toml:"secrets_old_keys"`
	// Log configures the node's own logs.
	Log LogConfig `toml:"log"`
	// TLS configures HTTPS on the API and TLS between nodes.
	TLS TLSConfig `toml:"tls"`
	// API configures the HTTP front end.
	API APIConfig `toml:"api"`
	// Delivery configures outbound webhook requests and retries.
	Delivery DeliveryConfig `toml:"delivery"`
	// Raft configures replication timing and log compaction.
	Raft RaftConfig `toml:"raft"`
	// Portal configures the consumer portal served under /app-portal/.
	Portal PortalConfig `toml:"portal"`
	// Storage configures the data's lifecycle: free-space thresholds,
	// retention and space reclaiming.
	Storage StorageConfig `toml:"storage"`
}

// PortalConfig configures the consumer portal.
type PortalConfig struct {
	// FrameAncestors lists who may show the portal in a frame (CSP frame-ancestors sources).
	FrameAncestors []string `toml:"frame_ancestors"`
	// PlatformName is the name shown in the portal's header.
	PlatformName string `toml:"platform_name"`
	// LogoURL is the image shown beside the name; empty shows none.
	LogoURL string `toml:"logo_url"`
	// PrimaryColor is the accent colour, #rrggbb.
	PrimaryColor string `toml:"primary_color"`
}

// StorageConfig configures the data's lifecycle: free-space thresholds,
// retention and space reclaiming.
type StorageConfig struct {
	// MinFreeMiB and MinFreePercent: client writes are refused (507) while
	// the free space of a data directory's filesystem is under either.
	MinFreeMiB     int     `toml:"min_free_mib"`
	MinFreePercent float64 `toml:"min_free_percent"`
	// ReserveMiB is the free space kept for delivery outcomes, expiry and
	// deletes; under it no new log entry is written at all.
	ReserveMiB int `toml:"reserve_mib"`
	// SpareMiB is the spare file kept in the data directory and deleted
	// when the disk is full, so the stores can open, flush and compact on
	// a filesystem something else filled; 0 keeps none.
	SpareMiB int `toml:"spare_mib"`
	// DiskCheckInterval is how often free space is measured.
	DiskCheckInterval Duration `toml:"disk_check_interval"`
	// PayloadRetention is how long a payload is kept when its message
	// names no retention of its own.
	PayloadRetention Duration `toml:"payload_retention"`
	// RecordRetention is how long messages, deliveries and attempts are
	// kept (at least PayloadRetention); pending deliveries are never removed.
	RecordRetention Duration `toml:"record_retention"`
	// PurgeInterval is how often the leader looks for expired data.
	PurgeInterval Duration `toml:"purge_interval"`
	// PurgeBatch is how many messages (or payloads) one purge entry removes.
	PurgeBatch int `toml:"purge_batch"`
	// PurgeRate is the most payloads or messages the purge removes a
	// second; one entry removes at most a tenth of it.
	PurgeRate int `toml:"purge_rate"`
	// PurgeBusyShare is the share of the time the purge's entries may take
	// while client writes or delivery outcomes wait for the log.
	PurgeBusyShare float64 `toml:"purge_busy_share"`
	// ValueLogGCInterval is how often Badger's value-log garbage collection
	// runs on the state and the Raft log.
	ValueLogGCInterval Duration `toml:"value_log_gc_interval"`
}

// LogConfig configures the node's own logs.
type LogConfig struct {
	// Level is the minimum level written: trace, debug, info, warn or error.
	Level string `toml:"level"`
	// Format is json (for collectors) or console (for people).
	Format string `toml:"format"`
}

// TLSConfig configures HTTPS on the API and TLS between nodes. With a
// certificate and key, the API serves HTTPS and all node-to-node traffic
// (Raft, joins, forwarded writes, status calls) runs over TLS.
type TLSConfig struct {
	// CertFile is the PEM certificate (leaf first, then intermediates) the node presents; empty = no TLS.
	CertFile string `toml:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `toml:"key_file"`
	// CAFile is a PEM bundle of the CAs that sign the nodes' certificates;
	// with it, peers are verified against it and must present one (mutual TLS).
	CAFile string `toml:"ca_file"`
}

// Enabled reports whether the node runs with TLS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

// APIConfig configures the HTTP front end.
type APIConfig struct {
	// MaxPayloadBytes caps the size of one message payload.
	MaxPayloadBytes int `toml:"max_payload_bytes"`
	// MaxRequestBodyBytes caps a whole request body: the payload plus its JSON envelope.
	MaxRequestBodyBytes int `toml:"max_request_body_bytes"`
	// ReadTimeout bounds reading one request, so slow clients cannot hold connections.
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing one response.
	WriteTimeout Duration `toml:"write_timeout"`
	// IdleTimeout closes keep-alive connections with no request for this long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// IdempotencyTTL is how long an idempotency-key answer is replayed.
	IdempotencyTTL Duration `toml:"idempotency_ttl"`
	// EventIDTTL is how long a message eventId is remembered to refuse duplicates.
	EventIDTTL Duration `toml:"event_id_ttl"`
	// MaxHeaderBytes caps a request's header block.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// MaxHeaders caps the number of request headers.
	MaxHeaders int `toml:"max_headers"`
	// MaxJSONDepth caps the nesting of arrays and objects in a request body.
	MaxJSONDepth int `toml:"max_json_depth"`
	// MaxEndpointsPerApp caps the endpoints of one application.
	MaxEndpointsPerApp int `toml:"max_endpoints_per_app"`
	// AdminRateLimit is requests per second allowed per admin token; 0 = unlimited.
	AdminRateLimit float64 `toml:"admin_rate_limit"`
	// AppRateLimit is requests per second allowed per application token; 0 = unlimited.
	AppRateLimit float64 `toml:"app_rate_limit"`
}

// DeliveryConfig configures outbound webhook requests and retries.
type DeliveryConfig struct {
	// RetrySchedule is the wait before each retry; the first attempt is immediate.
	RetrySchedule []Duration `toml:"retry_schedule"`
	// RetryJitter spreads each wait by up to this fraction either way.
	RetryJitter float64 `toml:"retry_jitter"`
	// RetryAfterMax caps how long a receiver's Retry-After header may delay a retry.
	RetryAfterMax Duration `toml:"retry_after_max"`
	// RequestTimeout bounds one delivery attempt, connection included.
	RequestTimeout Duration `toml:"request_timeout"`
	// Workers is the number of attempts in flight across all endpoints.
	Workers int `toml:"workers"`
	// MaxInFlightPerEndpoint is the number of attempts in flight to one endpoint.
	MaxInFlightPerEndpoint int `toml:"max_in_flight_per_endpoint"`
	// ResponseBodyLimit is how many bytes of a receiver's response are stored; 0 stores none.
	ResponseBodyLimit int `toml:"response_body_limit"`
	// CatchUpOnRecovery sends an endpoint's waiting retries as soon as a retry to it succeeds.
	CatchUpOnRecovery bool `toml:"catch_up_on_recovery"`
	// DrainTimeout is how long shutdown waits for attempts in flight.
	DrainTimeout Duration `toml:"drain_timeout"`
	// AutoDisableAfter disables an endpoint that has failed every attempt
	// for this long (with an endpoint.disabled notice); 0 never does.
	AutoDisableAfter Duration `toml:"auto_disable_after"`
	// HeaderStyle names the Standard Webhooks headers of deliveries whose
	// policy does not: "webhook" (webhook-id...), "svix" (svix-id...) or "both".
	HeaderStyle string `toml:"header_style"`
}

// RaftConfig configures replication timing and log compaction.
type RaftConfig struct {
	// HeartbeatTimeout is how long a follower waits for the leader before calling an election.
	HeartbeatTimeout Duration `toml:"heartbeat_timeout"`
	// ElectionTimeout is how long a candidate waits for votes.
	ElectionTimeout Duration `toml:"election_timeout"`
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a quorum.
	LeaderLeaseTimeout Duration `toml:"leader_lease_timeout"`
	// CommitTimeout is the longest a follower waits to learn the commit index with no new entries.
	CommitTimeout Duration `toml:"commit_timeout"`
	// ApplyTimeout bounds one write waiting for a quorum before it fails.
	ApplyTimeout Duration `toml:"apply_timeout"`
	// MaxAppendEntries is the most log entries sent in one replication request (at most 1024).
	MaxAppendEntries int `toml:"max_append_entries"`
	// SnapshotThreshold is how many new log entries a snapshot needs (and as many log bytes as the last one).
	SnapshotThreshold int `toml:"snapshot_threshold"`
	// SnapshotInterval is how often the snapshot rules are checked.
	SnapshotInterval Duration `toml:"snapshot_interval"`
	// TrailingLogs is how many entries are kept after a snapshot so slow followers avoid a full restore.
	TrailingLogs int `toml:"trailing_logs"`
	// JoinTimeout is how long a joining node keeps trying before it gives up.
	JoinTimeout Duration `toml:"join_timeout"`
	// JoinInterval is the wait between join attempts.
	JoinInterval Duration `toml:"join_interval"`
	// LeaveOnShutdown removes the node from the cluster when it stops.
	LeaveOnShutdown bool `toml:"leave_on_shutdown"`
}

// Default returns the settings of `herald serve` with no file, environment or
// flags: a working single-node appliance on localhost.
func Default() Config {
	return Config{
		MemoryLimit:       384,
		MappedMemoryLimit: 96,
		ProcsPerCPU:       3,
		DataDir:           "./herald-data",
		HTTPAddr:          "127.0.0.1:8484",
		RaftAddr:          "127.0.0.1:8485",
		Log:               LogConfig{Level: "info", Format: "json"},
		API: APIConfig{
			MaxPayloadBytes:     1 << 20,
			MaxRequestBodyBytes: 1<<20 + 256<<10,
			ReadTimeout:         dur(10 * time.Second),
			WriteTimeout:        dur(10 * time.Second),
			IdleTimeout:         dur(60 * time.Second),
			IdempotencyTTL:      dur(24 * time.Hour),
			EventIDTTL:          dur(24 * time.Hour),
			MaxHeaderBytes:      16 << 10,
			MaxHeaders:          64,
			MaxJSONDepth:        64,
			MaxEndpointsPerApp:  50,
			AppRateLimit:        50,
		},
		Delivery: DeliveryConfig{
			RetrySchedule: []Duration{
				dur(5 * time.Second), dur(5 * time.Minute), dur(30 * time.Minute),
				dur(2 * time.Hour), dur(5 * time.Hour), dur(10 * time.Hour), dur(10 * time.Hour),
			},
			RetryJitter:            0.2,
			RetryAfterMax:          dur(time.Hour),
			RequestTimeout:         dur(15 * time.Second),
			Workers:                256,
			MaxInFlightPerEndpoint: 64,
			ResponseBodyLimit:      4096,
			CatchUpOnRecovery:      true,
			DrainTimeout:           dur(20 * time.Second),
			AutoDisableAfter:       dur(5 * 24 * time.Hour),
			HeaderStyle:            "webhook",
		},
		Raft: RaftConfig{
			HeartbeatTimeout:   dur(time.Second),
			ElectionTimeout:    dur(time.Second),
			LeaderLeaseTimeout: dur(500 * time.Millisecond),
			CommitTimeout:      dur(5 * time.Millisecond),
			ApplyTimeout:       dur(10 * time.Second),
			MaxAppendEntries:   64,
			SnapshotThreshold:  8192,
			SnapshotInterval:   dur(30 * time.Second),
			TrailingLogs:       10240,
			JoinTimeout:        dur(60 * time.Second),
			JoinInterval:       dur(time.Second),
		},
		Portal: PortalConfig{
			FrameAncestors: []string{"'self'"},
			PlatformName:   "Webhooks",
			PrimaryColor:   "#2457d6",
		},
		Storage: StorageConfig{
			MinFreeMiB:         1024,
			MinFreePercent:     5,
			ReserveMiB:         256,
			SpareMiB:           64,
			DiskCheckInterval:  dur(100 * time.Millisecond),
			PayloadRetention:   dur(30 * 24 * time.Hour),
			RecordRetention:    dur(30 * 24 * time.Hour),
			PurgeInterval:      dur(10 * time.Second),
			PurgeBatch:         500,
			PurgeRate:          1000,
			PurgeBusyShare:     0.1,
			ValueLogGCInterval: dur(5 * time.Minute),
		},
	}
}

func dur(d time.Duration) Duration { return Duration{d} }

// Load returns the defaults overlaid with the TOML file at path. It does not
// validate: Parse does, once flags and environment are applied too.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := cfg.loadFile(path); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		// Not wrapped: the library's error may quote the offending text,
		// which can be the admin token.
		return fmt.Errorf("config file %s: %s", path, describeDecodeError(err, data))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return unknownKeysError(path, undecoded)
	}
	c.normalize()
	return nil
}

// normalize makes an empty list in the file equal to an absent one, so that
// `join = []` and no join key load the same Config.
func (c *Config) normalize() {
	if len(c.Join) == 0 {
		c.Join = nil
	}
	if len(c.AllowPrivateCIDR) == 0 {
		c.AllowPrivateCIDR = nil
	}
	if len(c.SecretsOldKeys) == 0 {
		c.SecretsOldKeys = nil
	}
}

const secretKey = "admin_token"

// describeDecodeError rewrites a TOML error as "line N, key K: problem". A
// syntax error on the admin_token line has its detail withheld, because the
// lexer quotes what it could not parse, e.g. an unquoted token.
func describeDecodeError(err error, data []byte) string {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		// Type mismatches arrive as plain errors that name the key and the
		// types but never the value.
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		m := lastKeyPattern.FindStringSubmatch(msg)
		switch {
		case m == nil:
			return msg
		case m[1] == "":
			return "key " + m[2] + ":" + msg[len(m[0]):]
		default:
			return "line " + m[1] + ", key " + m[2] + ":" + msg[len(m[0]):]
		}
	}
	msg := pe.Message
	if pe.LastKey == secretKey || lineMentions(data, pe.Position.Line, secretKey) ||
		pe.LastKey == "" && lineMentions(data, pe.Position.Line-1, secretKey) {
		msg = "invalid value (not shown: " + secretKey + " is a secret); write it as a quoted string: " + secretKey + ` = "..."`
	}
	if pe.LastKey == "" {
		return fmt.Sprintf("line %d: %s", pe.Position.Line, msg)
	}
	return fmt.Sprintf("line %d, key %q: %s", pe.Position.Line, pe.LastKey, msg)
}

// lastKeyPattern matches the library's `line 3 (last key "a.b"):` so type
// errors read like every other error here.
var lastKeyPattern = regexp.MustCompile(`^(?:line (\d+) )?\(last key ("[^"]*")\):`)

// lineMentions reports whether line n (1-based) of data contains word.
func lineMentions(data []byte, n int, word string) bool {
	lines := strings.Split(string(data), "\n")
	return n >= 1 && n <= len(lines) && strings.Contains(lines[n-1], word)
}

func unknownKeysError(path string, undecoded []toml.Key) error {
	reported := map[string]bool{}
	known := knownKeys()
	var errs []error
	for _, k := range undecoded {
		// A misspelt table makes every key below it unknown too; naming the
		// table once is enough.
		if len(k) > 1 && reported[toml.Key(k[:len(k)-1]).String()] {
			reported[k.String()] = true
			continue
		}
		name := k.String()
		reported[name] = true
		msg := fmt.Sprintf("config file %s: unknown key %q", path, name)
		if s := suggestKey(name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// knownKeys lists every dotted key of Config, in declaration order.
func knownKeys() []string {
	return tomlKeys(reflect.TypeFor[Config](), "")
}

func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			keys = append(keys, tomlKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// suggestKey returns the known key an unknown one was probably meant to be:
// the same name in another table, or a near spelling.
func suggestKey(unknown string, known []string) string {
	leaf := unknown[strings.LastIndex(unknown, ".")+1:]
	for _, k := range known {
		if k[strings.LastIndex(k, ".")+1:] == leaf {
			return k
		}
	}
	best, bestDist := "", 3 // more than two edits is a different word
	for _, k := range known {
		if d := editDistance(unknown, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
