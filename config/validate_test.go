package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // empty: valid
	}{
		{"default", func(c *Config) {}, ""},
		{"ipv6 and hostnames", func(c *Config) {
			c.HTTPAddr, c.RaftAddr = "[::1]:8484", "localhost:8485"
			c.Join = []string{"herald-2.internal:8484", "[fd00::2]:8484"}
		}, ""},
		{"port 0 for tests", func(c *Config) { c.HTTPAddr, c.RaftAddr = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"all interfaces with advertise", func(c *Config) {
			c.HTTPAddr, c.HTTPAdvertise = ":8484", "10.0.0.1:8484"
			c.RaftAddr, c.RaftAdvertise = "0.0.0.0:8485", "herald-1:8485"
		}, ""},
		{"cidrs", func(c *Config) { c.AllowPrivateCIDR = []string{"10.0.0.0/8", "fd00::/8", "192.168.1.7/32"} }, ""},
		{"zero response body", func(c *Config) { c.Delivery.ResponseBodyLimit = 0 }, ""},
		{"portal", func(c *Config) {
			c.PublicURL = "https://webhooks.example.com/herald/"
			c.Portal = PortalConfig{FrameAncestors: []string{"'self'", "https://*.example.com"}, PlatformName: "Acme", LogoURL: "https://cdn.example.com/l.png", PrimaryColor: "#AA0011"}
		}, ""},
		{"public url without scheme", func(c *Config) { c.PublicURL = "webhooks.example.com" }, "public_url: must be an absolute http or https URL"},
		{"public url with fragment", func(c *Config) { c.PublicURL = "https://a.example/#x" }, "public_url: must be an absolute"},
		{"frame ancestor injection", func(c *Config) { c.Portal.FrameAncestors = []string{"https://a.example; script-src *"} }, "portal.frame_ancestors: entry 1"},
		{"frame ancestor self unquoted", func(c *Config) { c.Portal.FrameAncestors = []string{"self"} }, "portal.frame_ancestors: entry 1"},
		{"colour", func(c *Config) { c.Portal.PrimaryColor = "blue" }, "portal.primary_color: must be a colour"},
		{"logo", func(c *Config) { c.Portal.LogoURL = "javascript:alert(1)" }, "portal.logo_url: must be"},

		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir: must not be empty"},
		{"bad cidr", func(c *Config) { c.AllowPrivateCIDR = []string{"10.0.0.0/8", "10.0.0.300/8"} },
			`allow_private_cidr: entry 2 "10.0.0.300/8" is not a CIDR`},
		{"bare ip is not a cidr", func(c *Config) { c.AllowPrivateCIDR = []string{"10.0.0.1"} }, "allow_private_cidr: entry 1"},
		{"no port", func(c *Config) { c.HTTPAddr = "127.0.0.1" }, `http_addr: "127.0.0.1": want host:port`},
		{"named port", func(c *Config) { c.RaftAddr = "127.0.0.1:raft" }, `raft_addr: "127.0.0.1:raft": port "raft"`},
		{"port too big", func(c *Config) { c.RaftAddr = "127.0.0.1:65536" }, `port "65536"`},
		{"scheme", func(c *Config) { c.Join = []string{"http://a:8484"} }, `join: entry 1 "http://a:8484": want host:port without a scheme`},
		{"join without host", func(c *Config) { c.Join = []string{":8484"} }, "join: entry 1 \":8484\": host is empty"},
		{"bad hostname", func(c *Config) { c.HTTPAdvertise = "a b:1" }, `http_advertise: "a b:1": host "a b"`},
		{"advertise unspecified", func(c *Config) { c.RaftAdvertise = "0.0.0.0:8485" }, "raft_advertise: \"0.0.0.0:8485\": must name a host"},
		{"listen on all without advertise", func(c *Config) { c.HTTPAddr = "0.0.0.0:8484" },
			"http_advertise: must be set when http_addr (\"0.0.0.0:8484\") listens on all interfaces"},
		{"listen on all ipv6 without advertise", func(c *Config) { c.RaftAddr = "[::]:8485" }, "raft_advertise: must be set"},
		{"node id", func(c *Config) { c.NodeID = "node 1" }, `node_id: must be 1 to 128 characters`},
		{"token whitespace", func(c *Config) { c.AdminToken = "abc def" }, "admin_token: must not contain spaces"},
		{"empty schedule", func(c *Config) { c.Delivery.RetrySchedule = nil }, "delivery.retry_schedule: must have 1 to 50 entries, got 0"},
		{"long schedule", func(c *Config) { c.Delivery.RetrySchedule = make([]Duration, 51) }, "delivery.retry_schedule: must have 1 to 50 entries, got 51"},
		{"zero delay", func(c *Config) { c.Delivery.RetrySchedule[2] = dur(0) }, "delivery.retry_schedule: entry 3 (0s) must be more than 0"},
		{"delay over a week", func(c *Config) { c.Delivery.RetrySchedule[0] = dur(8 * 24 * time.Hour) }, "delivery.retry_schedule: entry 1 (192h0m0s)"},
		{"jitter", func(c *Config) { c.Delivery.RetryJitter = 0.6 }, "delivery.retry_jitter: must be between 0 and 0.5, got 0.6"},
		{"negative jitter", func(c *Config) { c.Delivery.RetryJitter = -0.1 }, "delivery.retry_jitter"},
		{"header style", func(c *Config) { c.Delivery.HeaderStyle = "Svix" }, `delivery.header_style: must be "webhook", "svix" or "both", got "Svix"`},
		{"level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: must be one of trace, debug, info, warn, error, got "verbose"`},
		{"level case", func(c *Config) { c.Log.Level = "INFO" }, "log.level"},
		{"format", func(c *Config) { c.Log.Format = "text" }, `log.format: must be one of json, console, got "text"`},
		{"payload over body", func(c *Config) { c.API.MaxPayloadBytes = c.API.MaxRequestBodyBytes + 1 }, "api.max_payload_bytes: must not exceed api.max_request_body_bytes (1310720), which carries the payload plus its envelope; got 1310721"},
		{"zero body", func(c *Config) { c.API.MaxRequestBodyBytes = 0 }, "api.max_request_body_bytes: must be positive, got 0"},
		{"zero timeout", func(c *Config) { c.API.ReadTimeout = dur(0) }, `api.read_timeout: must be a positive duration such as "10s", got "0s"`},
		{"negative ttl", func(c *Config) { c.API.EventIDTTL = dur(-time.Second) }, "api.event_id_ttl"},
		{"workers", func(c *Config) { c.Delivery.Workers = 0 }, "delivery.workers: must be positive, got 0"},
		{"in flight", func(c *Config) { c.Delivery.MaxInFlightPerEndpoint = -1 }, "delivery.max_in_flight_per_endpoint"},
		{"response body", func(c *Config) { c.Delivery.ResponseBodyLimit = -1 }, "delivery.response_body_limit: must not be negative"},
		{"request timeout", func(c *Config) { c.Delivery.RequestTimeout = dur(0) }, "delivery.request_timeout"},
		{"drain", func(c *Config) { c.Delivery.DrainTimeout = dur(0) }, "delivery.drain_timeout"},
		{"retry after", func(c *Config) { c.Delivery.RetryAfterMax = dur(0) }, "delivery.retry_after_max"},
		{"heartbeat floor", func(c *Config) { c.Raft.HeartbeatTimeout = dur(time.Millisecond) }, "raft.heartbeat_timeout: must be at least 5ms"},
		{"election below heartbeat", func(c *Config) { c.Raft.ElectionTimeout = dur(500 * time.Millisecond) },
			"raft.election_timeout: must not be shorter than raft.heartbeat_timeout (1s), got 500ms"},
		{"lease above heartbeat", func(c *Config) { c.Raft.LeaderLeaseTimeout = dur(2 * time.Second) },
			"raft.leader_lease_timeout: must not be longer than raft.heartbeat_timeout (1s), got 2s"},
		{"commit floor", func(c *Config) { c.Raft.CommitTimeout = dur(0) }, "raft.commit_timeout: must be at least 1ms"},
		{"append entries", func(c *Config) { c.Raft.MaxAppendEntries = 2000 }, "raft.max_append_entries: must be between 1 and 1024, got 2000"},
		{"snapshot threshold", func(c *Config) { c.Raft.SnapshotThreshold = 0 }, "raft.snapshot_threshold"},
		{"snapshot interval", func(c *Config) { c.Raft.SnapshotInterval = dur(0) }, "raft.snapshot_interval"},
		{"trailing logs", func(c *Config) { c.Raft.TrailingLogs = 0 }, "raft.trailing_logs"},
		{"apply", func(c *Config) { c.Raft.ApplyTimeout = dur(0) }, "raft.apply_timeout"},
		{"join timeout", func(c *Config) { c.Raft.JoinTimeout = dur(0) }, "raft.join_timeout"},
		{"join interval", func(c *Config) { c.Raft.JoinInterval = dur(0) }, "raft.join_interval"},
		{"spare too small", func(c *Config) { c.Storage.SpareMiB = 8 }, "storage.spare_mib: must be 0 (no spare file) or between 16 and 4096, got 8"},
		{"no spare", func(c *Config) { c.Storage.SpareMiB = 0 }, ""},
		{"purge rate", func(c *Config) { c.Storage.PurgeRate = 0 }, "storage.purge_rate: must be between 1 and 1000000 a second, got 0"},
		{"purge busy share zero", func(c *Config) { c.Storage.PurgeBusyShare = 0 }, "storage.purge_busy_share: must be more than 0 and at most 1, got 0"},
		{"purge busy share above one", func(c *Config) { c.Storage.PurgeBusyShare = 1.5 }, "storage.purge_busy_share"},
		{"purge busy share one", func(c *Config) { c.Storage.PurgeBusyShare = 1 }, ""},
		{"value log gc", func(c *Config) { c.Storage.ValueLogGCInterval = dur(time.Second) }, "storage.value_log_gc_interval: must be at least 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	c.Delivery.Workers = 0
	c.AllowPrivateCIDR = []string{"nope"}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("Validate() reported %d problems, want 3:\n%v", len(lines), err)
	}
	for _, prefix := range []string{"allow_private_cidr: ", "log.level: ", "delivery.workers: "} {
		if !strings.Contains(err.Error(), prefix) {
			t.Errorf("Validate() = %q, missing %q", err, prefix)
		}
	}
}

func TestAllowPrivatePrefixes(t *testing.T) {
	c := Default()
	if got := c.AllowPrivatePrefixes(); len(got) != 0 {
		t.Errorf("default prefixes = %v, want none", got)
	}
	c.AllowPrivateCIDR = []string{"10.1.2.3/8", "fd00::/8", "192.168.1.7/32"}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("192.168.1.7/32"),
	}
	if got := c.AllowPrivatePrefixes(); !reflect.DeepEqual(got, want) {
		t.Errorf("AllowPrivatePrefixes() = %v, want %v", got, want)
	}
}

func TestRetryDelaysIsACopy(t *testing.T) {
	c := Default()
	delays := c.RetryDelays()
	delays[0] = time.Hour
	if c.Delivery.RetrySchedule[0].Duration != 5*time.Second {
		t.Error("editing RetryDelays() changed the Config")
	}
}

func TestAdvertiseAddr(t *testing.T) {
	c := Default()
	wantEq(t, "HTTPAdvertiseAddr", c.HTTPAdvertiseAddr(), "127.0.0.1:8484")
	wantEq(t, "RaftAdvertiseAddr", c.RaftAdvertiseAddr(), "127.0.0.1:8485")
	c.HTTPAdvertise, c.RaftAdvertise = "a.example:1", "a.example:2"
	wantEq(t, "HTTPAdvertiseAddr", c.HTTPAdvertiseAddr(), "a.example:1")
	wantEq(t, "RaftAdvertiseAddr", c.RaftAdvertiseAddr(), "a.example:2")
}

// TestAdminTokenNeverInErrors feeds a distinctive token through every error
// path: it must never be echoed, since errors end up in logs and terminals.
func TestAdminTokenNeverInErrors(t *testing.T) {
	const token = "tokSECRET4242"
	files := []struct{ name, content string }{
		{"unquoted", "admin_token = " + token + "\n"},
		{"starts with digits", "admin_token = 4242" + token + "\n"},
		{"unterminated", "admin_token = \"" + token + "\n"},
		{"bad escape", "admin_token = \"" + token + `\q"` + "\n"},
		{"multi-line bad escape", "admin_token = \"\"\"\n" + token + `\q` + "\n\"\"\"\n"},
		{"literal unterminated", "admin_token = '" + token + "\n"},
		{"wrong type", "admin_token = [\"" + token + "\"]\n"},
		{"whitespace", "admin_token = \"" + token + " x\"\n"},
		{"unknown key after", "admin_token = \"" + token + "\"\nbogus = 1\n"},
		{"misspelt key", "admin_tokn = \"" + token + "\"\n"},
		{"bad value after", "admin_token = \"" + token + "\"\n[delivery]\nworkers = \"x\"\n"},
		{"invalid elsewhere", "admin_token = \"" + token + "\"\nhttp_addr = \"nope\"\n[log]\nlevel = \"x\"\n"},
		{"syntax after", "admin_token = \"" + token + "\"\nx = = 1\n"},
	}
	var errs []error
	for _, f := range files {
		_, err := Parse([]string{"--config", writeConfig(t, f.content)}, nil)
		if err == nil {
			t.Errorf("%s: Parse succeeded", f.name)
		}
		errs = append(errs, err)
	}
	withToken := [][]string{
		{"--admin-token", token, "--log-level", "x"},
		{"--admin-token", token, "--retry-schedule", "0s"},
		{"--admin-token", token, "--bogus"},
		{"--admin-token", token, "--https-only=maybe"},
		{"--admin-token", token + " x"},
		{"--admin-token=", token},
		{"--https-only", token},
		{token},
		{"--admin-token", token, "-" + token},
		{"--admin-token", token, "--https-only=" + token},
	}
	for _, args := range withToken {
		_, err := Parse(args, nil)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", args)
		}
		errs = append(errs, err)
	}
	_, err := Parse([]string{"--node-id", "bad id"}, env(map[string]string{AdminTokenEnv: token + "\tx"}))
	errs = append(errs, err)

	for i, err := range errs {
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("error %d leaks the token: %v", i, err)
		}
	}
}
