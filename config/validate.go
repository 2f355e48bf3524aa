package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/certs"
)

// Limits enforced by Validate.
const (
	// MaxRetries bounds the retry schedule so one message cannot pin
	// schedule keys and attempt records indefinitely.
	MaxRetries = 50
	// MaxRetryDelay bounds one retry wait; the delivery window is the sum.
	MaxRetryDelay = 7 * 24 * time.Hour
	// maxRaftAppendEntries is hashicorp/raft's own ceiling (ValidateConfig).
	maxRaftAppendEntries = 1024
	// minRaftTimeout is hashicorp/raft's floor for its timing settings.
	minRaftTimeout = 5 * time.Millisecond
)

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"json", "console"}
)

// Validate reports every invalid setting at once, one line per problem, each
// starting with the key as written in the config file.
func (c Config) Validate() error {
	v := &validator{}

	v.check(c.DataDir != "", "data_dir", "must not be empty")
	v.check(c.MappedMemoryLimit >= 0, "mapped_memory_limit_mib", "must be 0 (never trim) or more, got %d", c.MappedMemoryLimit)
	v.check(c.ProcsPerCPU >= 0 && c.ProcsPerCPU <= 16, "procs_per_cpu", "must be 0 (Go's default) to 16, got %d", c.ProcsPerCPU)
	v.check(c.MemoryLimit == 0 || c.MemoryLimit >= 64, "memory_limit_mib", "must be 0 (no limit) or at least 64, got %d", c.MemoryLimit)
	if c.DebugAddr != "" {
		v.listenAddr("debug_addr", c.DebugAddr)
	}
	// Key material is checked for shape only, and never echoed.
	if c.SecretsKey != "" {
		v.check(validKey(c.SecretsKey), "secrets_key", "must be the standard base64 of 32 bytes")
	}
	for i, k := range c.SecretsOldKeys {
		v.check(validKey(k), "secrets_old_keys", "entry %d must be the standard base64 of 32 bytes", i)
	}
	v.listenAddr("http_addr", c.HTTPAddr)
	v.listenAddr("raft_addr", c.RaftAddr)
	v.advertiseAddr("http_advertise", c.HTTPAdvertise, "http_addr", c.HTTPAddr)
	v.advertiseAddr("raft_advertise", c.RaftAdvertise, "raft_addr", c.RaftAddr)
	if c.NodeID != "" {
		v.check(validNodeID(c.NodeID), "node_id",
			"must be 1 to 128 characters from A-Z a-z 0-9 . _ -, got %q", c.NodeID)
	}
	for i, addr := range c.Join {
		if err := checkHostPort(addr, true); err != nil {
			v.fail("join", "entry %d %q: %v", i+1, addr, err)
		}
	}
	// The value is never quoted: it is a secret.
	v.check(!strings.ContainsFunc(c.AdminToken, isSpaceOrControl), "admin_token",
		"must not contain spaces or control characters")
	for i, s := range c.AllowPrivateCIDR {
		if _, err := netip.ParsePrefix(s); err != nil {
			v.fail("allow_private_cidr", "entry %d %q is not a CIDR such as 10.0.0.0/8 or fd00::/8 (use /32 or /128 for one address)", i+1, s)
		}
	}

	v.tls(c.TLS)
	if c.PublicURL != "" {
		v.check(validPublicURL(c.PublicURL), "public_url", "must be an absolute http or https URL without query or fragment, e.g. https://webhooks.example.com, got %q", c.PublicURL)
	}
	for i, s := range c.Portal.FrameAncestors {
		v.check(validFrameSource(s), "portal.frame_ancestors", "entry %d %q is not a CSP source such as 'self', 'none' or https://app.example.com", i+1, s)
	}
	v.check(len(c.Portal.PlatformName) <= 64 && !strings.ContainsFunc(c.Portal.PlatformName, isControl), "portal.platform_name", "must be at most 64 characters without control characters")
	if c.Portal.LogoURL != "" {
		v.check(validPublicURL(c.Portal.LogoURL) || strings.HasPrefix(c.Portal.LogoURL, "data:image/"), "portal.logo_url", "must be an http(s) URL or a data:image/ URL")
	}
	v.check(validColor(c.Portal.PrimaryColor), "portal.primary_color", "must be a colour written #rrggbb, got %q", c.Portal.PrimaryColor)

	v.oneOf("log.level", c.Log.Level, logLevels)
	v.oneOf("log.format", c.Log.Format, logFormats)

	a := c.API
	v.positive("api.max_payload_bytes", a.MaxPayloadBytes)
	// A payload travels in one Raft log entry; past 16 MiB it would not
	// fit the log store's value files.
	v.check(a.MaxPayloadBytes <= 16<<20, "api.max_payload_bytes", "must be at most 16777216 (16 MiB), got %d", a.MaxPayloadBytes)
	v.positive("api.max_request_body_bytes", a.MaxRequestBodyBytes)
	v.check(a.MaxPayloadBytes <= a.MaxRequestBodyBytes, "api.max_payload_bytes",
		"must not exceed api.max_request_body_bytes (%d), which carries the payload plus its envelope; got %d",
		a.MaxRequestBodyBytes, a.MaxPayloadBytes)
	v.positiveDuration("api.read_timeout", a.ReadTimeout)
	v.positiveDuration("api.write_timeout", a.WriteTimeout)
	v.positiveDuration("api.idle_timeout", a.IdleTimeout)
	v.positiveDuration("api.idempotency_ttl", a.IdempotencyTTL)
	v.positiveDuration("api.event_id_ttl", a.EventIDTTL)
	v.check(a.MaxHeaderBytes >= 4096, "api.max_header_bytes", "must be at least 4096, got %d", a.MaxHeaderBytes)
	v.positive("api.max_headers", a.MaxHeaders)
	v.positive("api.max_json_depth", a.MaxJSONDepth)
	v.positive("api.max_endpoints_per_app", a.MaxEndpointsPerApp)
	v.check(a.AdminRateLimit >= 0, "api.admin_rate_limit", "must not be negative, got %g", a.AdminRateLimit)
	v.check(a.AppRateLimit >= 0, "api.app_rate_limit", "must not be negative, got %g", a.AppRateLimit)

	d := c.Delivery
	if err := checkRetrySchedule(d.RetrySchedule); err != nil {
		v.fail("delivery.retry_schedule", "%v", err)
	}
	v.check(d.RetryJitter >= 0 && d.RetryJitter <= 0.5, "delivery.retry_jitter",
		"must be between 0 and 0.5, got %g", d.RetryJitter)
	v.positiveDuration("delivery.retry_after_max", d.RetryAfterMax)
	v.positiveDuration("delivery.request_timeout", d.RequestTimeout)
	v.positive("delivery.workers", d.Workers)
	v.positive("delivery.max_in_flight_per_endpoint", d.MaxInFlightPerEndpoint)
	v.check(d.ResponseBodyLimit >= 0, "delivery.response_body_limit", "must not be negative, got %d", d.ResponseBodyLimit)
	v.positiveDuration("delivery.drain_timeout", d.DrainTimeout)
	v.check(d.AutoDisableAfter.Duration >= 0, "delivery.auto_disable_after", "must not be negative, got %s", d.AutoDisableAfter.Duration)
	v.check(d.HeaderStyle == "webhook" || d.HeaderStyle == "svix" || d.HeaderStyle == "both", "delivery.header_style",
		`must be "webhook", "svix" or "both", got %q`, d.HeaderStyle)

	r := c.Raft
	// hashicorp/raft refuses these at start with messages that name its own
	// fields; checking here names ours.
	v.atLeast("raft.heartbeat_timeout", r.HeartbeatTimeout, minRaftTimeout)
	v.atLeast("raft.election_timeout", r.ElectionTimeout, minRaftTimeout)
	v.atLeast("raft.leader_lease_timeout", r.LeaderLeaseTimeout, minRaftTimeout)
	v.atLeast("raft.commit_timeout", r.CommitTimeout, time.Millisecond)
	v.check(r.ElectionTimeout.Duration >= r.HeartbeatTimeout.Duration, "raft.election_timeout",
		"must not be shorter than raft.heartbeat_timeout (%s), got %s", r.HeartbeatTimeout, r.ElectionTimeout)
	v.check(r.LeaderLeaseTimeout.Duration <= r.HeartbeatTimeout.Duration, "raft.leader_lease_timeout",
		"must not be longer than raft.heartbeat_timeout (%s), got %s", r.HeartbeatTimeout, r.LeaderLeaseTimeout)
	v.positiveDuration("raft.apply_timeout", r.ApplyTimeout)
	v.check(r.MaxAppendEntries > 0 && r.MaxAppendEntries <= maxRaftAppendEntries, "raft.max_append_entries",
		"must be between 1 and %d, got %d", maxRaftAppendEntries, r.MaxAppendEntries)
	v.positive("raft.snapshot_threshold", r.SnapshotThreshold)
	v.atLeast("raft.snapshot_interval", r.SnapshotInterval, minRaftTimeout)
	v.positive("raft.trailing_logs", r.TrailingLogs)
	v.positiveDuration("raft.join_timeout", r.JoinTimeout)
	v.positiveDuration("raft.join_interval", r.JoinInterval)

	st := c.Storage
	v.check(st.MinFreeMiB >= 0, "storage.min_free_mib", "must not be negative, got %d", st.MinFreeMiB)
	v.check(st.MinFreePercent >= 0 && st.MinFreePercent <= 50, "storage.min_free_percent",
		"must be between 0 and 50, got %g", st.MinFreePercent)
	// Badger's memory-mapped files grow into the reserve: without one, a
	// full disk is found by a fault instead of a refusal.
	v.check(st.ReserveMiB >= 16, "storage.reserve_mib", "must be at least 16, got %d", st.ReserveMiB)
	v.check(st.ReserveMiB < st.MinFreeMiB, "storage.reserve_mib",
		"must be less than storage.min_free_mib (%d): client writes stop first, then everything; got %d", st.MinFreeMiB, st.ReserveMiB)
	v.check(st.SpareMiB == 0 || st.SpareMiB >= 16 && st.SpareMiB <= 4096, "storage.spare_mib",
		"must be 0 (no spare file) or between 16 and 4096, got %d", st.SpareMiB)
	v.atLeast("storage.disk_check_interval", st.DiskCheckInterval, 10*time.Millisecond)
	v.atLeast("storage.payload_retention", st.PayloadRetention, time.Minute)
	v.check(st.RecordRetention.Duration >= st.PayloadRetention.Duration, "storage.record_retention",
		"must not be shorter than storage.payload_retention (%s), got %s", st.PayloadRetention, st.RecordRetention)
	v.atLeast("storage.purge_interval", st.PurgeInterval, 100*time.Millisecond)
	v.check(st.PurgeBatch >= 1 && st.PurgeBatch <= 10000, "storage.purge_batch", "must be between 1 and 10000, got %d", st.PurgeBatch)
	v.check(st.PurgeRate >= 1 && st.PurgeRate <= 1000000, "storage.purge_rate", "must be between 1 and 1000000 a second, got %d", st.PurgeRate)
	v.check(st.PurgeBusyShare > 0 && st.PurgeBusyShare <= 1, "storage.purge_busy_share", "must be more than 0 and at most 1, got %g", st.PurgeBusyShare)
	v.atLeast("storage.value_log_gc_interval", st.ValueLogGCInterval, 10*time.Second)

	return errors.Join(v.errs...)
}

// PublicBase is where customers reach the API and portal, without a
// trailing slash: public_url, or <api scheme>://<http_advertise>.
func (c Config) PublicBase() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return c.APIScheme() + "://" + c.HTTPAdvertiseAddr()
}

func validPublicURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.RawQuery == "" && u.Fragment == "" && !strings.HasSuffix(s, "#") && !strings.ContainsFunc(s, isSpaceOrControl) && u.User == nil
}

// validFrameSource accepts the CSP source expressions a portal frame needs
// ('self', 'none', scheme://host[:port] with an optional *. wildcard), and
// nothing that could end the directive.
func validFrameSource(s string) bool {
	if s == "'self'" || s == "'none'" {
		return true
	}
	if s == "" || strings.ContainsAny(s, ";,'\"") || strings.ContainsFunc(s, isSpaceOrControl) {
		return false
	}
	scheme, host, ok := strings.Cut(s, "://")
	return ok && (scheme == "https" || scheme == "http") && host != "" && !strings.ContainsAny(host, "/\\")
}

func validColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, r := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// HTTPAdvertiseAddr is the API address to give other nodes and clients.
func (c Config) HTTPAdvertiseAddr() string {
	if c.HTTPAdvertise != "" {
		return c.HTTPAdvertise
	}
	return c.HTTPAddr
}

// APIScheme is the URL scheme of this node's API, and of every node's in
// its cluster: https with TLS, else http.
func (c Config) APIScheme() string {
	if c.TLS.Enabled() {
		return "https"
	}
	return "http"
}

// RaftAdvertiseAddr is the Raft address to give other nodes.
func (c Config) RaftAdvertiseAddr() string {
	if c.RaftAdvertise != "" {
		return c.RaftAdvertise
	}
	return c.RaftAddr
}

// AllowPrivatePrefixes returns the networks exempt from the SSRF guard. Call
// it only on a validated Config: entries that do not parse are skipped. The
// prefixes are masked; addresses are not unmapped, so the guard must unmap
// IPv4-mapped IPv6 addresses before matching.
func (c Config) AllowPrivatePrefixes() []netip.Prefix {
	prefixes := make([]netip.Prefix, 0, len(c.AllowPrivateCIDR))
	for _, s := range c.AllowPrivateCIDR {
		if p, err := netip.ParsePrefix(s); err == nil {
			prefixes = append(prefixes, p.Masked())
		}
	}
	return prefixes
}

// RetryDelays returns the retry schedule as plain durations.
func (c Config) RetryDelays() []time.Duration {
	delays := make([]time.Duration, len(c.Delivery.RetrySchedule))
	for i, d := range c.Delivery.RetrySchedule {
		delays[i] = d.Duration
	}
	return delays
}

func checkRetrySchedule(schedule []Duration) error {
	if len(schedule) == 0 || len(schedule) > MaxRetries {
		return fmt.Errorf("must have 1 to %d entries, got %d", MaxRetries, len(schedule))
	}
	for i, d := range schedule {
		if d.Duration <= 0 || d.Duration > MaxRetryDelay {
			return fmt.Errorf("entry %d (%s) must be more than 0 and at most %s (7 days)", i+1, d, MaxRetryDelay)
		}
	}
	return nil
}

// checkHostPort accepts host:port with a numeric port (0 allowed, for tests
// that let the kernel pick). needHost refuses an empty host, which is fine to
// listen on but not to dial.
func checkHostPort(addr string, needHost bool) error {
	if strings.Contains(addr, "://") {
		return errors.New("want host:port without a scheme")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, such as 127.0.0.1:8484 or [::1]:8484")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		if needHost {
			return errors.New("host is empty")
		}
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("host %q is neither an IP address nor a hostname", host)
	}
	return nil
}

func validHostname(host string) bool {
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !isAlnum(r) && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// unspecifiedHost reports whether addr listens on every interface, which
// another node cannot dial.
func unspecifiedHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

func validNodeID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !isAlnum(r) && r != '.' && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f
}

// validator collects problems so an operator fixes them all in one edit.
type validator struct {
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(key+": "+format, args...))
}

func (v *validator) check(ok bool, key, format string, args ...any) {
	if !ok {
		v.fail(key, format, args...)
	}
}

func (v *validator) positive(key string, n int) {
	v.check(n > 0, key, "must be positive, got %d", n)
}

func (v *validator) positiveDuration(key string, d Duration) {
	v.check(d.Duration > 0, key, "must be a positive duration such as \"10s\", got %q", d)
}

func (v *validator) atLeast(key string, d Duration, floor time.Duration) {
	v.check(d.Duration >= floor, key, "must be at least %s, got %q", floor, d)
}

func (v *validator) oneOf(key, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.fail(key, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
}

func (v *validator) listenAddr(key, addr string) {
	if err := checkHostPort(addr, false); err != nil {
		v.fail(key, "%q: %v", addr, err)
	}
}

// advertiseAddr checks the address other nodes will dial: the explicit
// advertise value, or else the listen address, which must then name a host.
func (v *validator) advertiseAddr(key, addr, listenKey, listen string) {
	if addr != "" {
		if err := checkHostPort(addr, true); err != nil {
			v.fail(key, "%q: %v", addr, err)
		} else if unspecifiedHost(addr) {
			v.fail(key, "%q: must name a host other nodes can reach", addr)
		}
		return
	}
	if unspecifiedHost(listen) {
		v.fail(key, "must be set when %s (%q) listens on all interfaces: other nodes need an address they can dial", listenKey, listen)
	}
}

// tls checks that the TLS settings come as a whole and that their files
// load, so a typo fails the start instead of the first handshake.
func (v *validator) tls(t TLSConfig) {
	switch {
	case t.CertFile == "" && t.KeyFile == "" && t.CAFile == "":
		return
	case t.CertFile == "" && t.KeyFile != "":
		v.fail("tls.cert_file", "must be set when tls.key_file is: a key needs its certificate")
		return
	case t.CertFile != "" && t.KeyFile == "":
		v.fail("tls.key_file", "must be set when tls.cert_file is: the certificate's private key (PEM)")
		return
	case t.CertFile == "":
		v.fail("tls.ca_file", "needs tls.cert_file and tls.key_file: with a CA, every node presents a certificate it signed")
		return
	}
	if err := certs.CheckKeypair(t.CertFile, t.KeyFile); err != nil {
		v.fail("tls.cert_file", "%v", err)
	}
	if t.CAFile != "" {
		if _, err := certs.LoadCAs(t.CAFile); err != nil {
			v.fail("tls.ca_file", "%v", err)
		}
	}
}

// validKey reports whether s is the standard base64 of 32 bytes.
func validKey(s string) bool {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	return err == nil && len(b) == 32
}
