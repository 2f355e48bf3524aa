package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const examplePath = "../config.example.toml"

// writeConfig writes content to a fresh herald.toml and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"data_dir", c.DataDir, "./herald-data"},
		{"http_addr", c.HTTPAddr, "127.0.0.1:8484"},
		{"http_advertise", c.HTTPAdvertise, ""},
		{"raft_addr", c.RaftAddr, "127.0.0.1:8485"},
		{"raft_advertise", c.RaftAdvertise, ""},
		{"node_id", c.NodeID, ""},
		{"join", c.Join, []string(nil)},
		{"admin_token", c.AdminToken, ""},
		{"allow_private_cidr", c.AllowPrivateCIDR, []string(nil)},
		{"https_only", c.HTTPSOnly, false},
		{"memory_limit_mib", c.MemoryLimit, 384},
		{"mapped_memory_limit_mib", c.MappedMemoryLimit, 96},
		{"procs_per_cpu", c.ProcsPerCPU, 3},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
		{"api.max_payload_bytes", c.API.MaxPayloadBytes, 1048576},
		{"api.max_request_body_bytes", c.API.MaxRequestBodyBytes, 1310720},
		{"api.read_timeout", c.API.ReadTimeout.Duration, 10 * time.Second},
		{"api.write_timeout", c.API.WriteTimeout.Duration, 10 * time.Second},
		{"api.idle_timeout", c.API.IdleTimeout.Duration, 60 * time.Second},
		{"api.idempotency_ttl", c.API.IdempotencyTTL.Duration, 24 * time.Hour},
		{"api.event_id_ttl", c.API.EventIDTTL.Duration, 24 * time.Hour},
		{"delivery.retry_schedule", c.RetryDelays(), []time.Duration{
			5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
		}},
		{"delivery.retry_jitter", c.Delivery.RetryJitter, 0.2},
		{"delivery.retry_after_max", c.Delivery.RetryAfterMax.Duration, time.Hour},
		{"delivery.request_timeout", c.Delivery.RequestTimeout.Duration, 15 * time.Second},
		{"delivery.workers", c.Delivery.Workers, 256},
		{"delivery.max_in_flight_per_endpoint", c.Delivery.MaxInFlightPerEndpoint, 64},
		{"delivery.response_body_limit", c.Delivery.ResponseBodyLimit, 4096},
		{"delivery.drain_timeout", c.Delivery.DrainTimeout.Duration, 20 * time.Second},
		{"delivery.header_style", c.Delivery.HeaderStyle, "webhook"},
		{"raft.heartbeat_timeout", c.Raft.HeartbeatTimeout.Duration, time.Second},
		{"raft.election_timeout", c.Raft.ElectionTimeout.Duration, time.Second},
		{"raft.leader_lease_timeout", c.Raft.LeaderLeaseTimeout.Duration, 500 * time.Millisecond},
		{"raft.commit_timeout", c.Raft.CommitTimeout.Duration, 5 * time.Millisecond},
		{"raft.apply_timeout", c.Raft.ApplyTimeout.Duration, 10 * time.Second},
		{"raft.max_append_entries", c.Raft.MaxAppendEntries, 64},
		{"raft.snapshot_threshold", c.Raft.SnapshotThreshold, 8192},
		{"raft.snapshot_interval", c.Raft.SnapshotInterval.Duration, 30 * time.Second},
		{"raft.trailing_logs", c.Raft.TrailingLogs, 10240},
		{"raft.join_timeout", c.Raft.JoinTimeout.Duration, 60 * time.Second},
		{"raft.join_interval", c.Raft.JoinInterval.Duration, time.Second},
		{"storage.spare_mib", c.Storage.SpareMiB, 64},
		{"storage.purge_batch", c.Storage.PurgeBatch, 500},
		{"storage.purge_rate", c.Storage.PurgeRate, 1000},
		{"storage.purge_busy_share", c.Storage.PurgeBusyShare, 0.1},
		{"storage.value_log_gc_interval", c.Storage.ValueLogGCInterval.Duration, 5 * time.Minute},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

// TestDefaultReturnsFreshSlices guards against a shared backing array: a
// caller editing one Config's schedule must not change the next Default.
func TestDefaultReturnsFreshSlices(t *testing.T) {
	a := Default()
	a.Delivery.RetrySchedule[0] = dur(time.Hour)
	if b := Default(); b.Delivery.RetrySchedule[0].Duration != 5*time.Second {
		t.Fatalf("Default() schedule changed to %v", b.Delivery.RetrySchedule[0])
	}
}

func TestExampleFileEqualsDefault(t *testing.T) {
	got, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs from Default():\n got %+v\nwant %+v", examplePath, got, want)
	}
}

// walkKeys lists the dotted toml keys of t. It is written independently of
// knownKeys so the two check each other.
func walkKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			keys = append(keys, walkKeys(f.Type, prefix+name+".")...)
		} else {
			keys = append(keys, prefix+name)
		}
	}
	return keys
}

// exampleKeys returns the uncommented keys of a TOML file, prefixed with
// their [section].
func exampleKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	section := ""
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]") + "."
		default:
			if key, _, ok := strings.Cut(line, "="); ok {
				keys[section+strings.TrimSpace(key)] = true
			}
		}
	}
	return keys
}

func TestExampleFileListsEveryKey(t *testing.T) {
	want := walkKeys(reflect.TypeFor[Config](), "")
	if got := knownKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("knownKeys() = %v, want %v", got, want)
	}
	inFile := exampleKeys(t, examplePath)
	for _, key := range want {
		if !inFile[key] {
			t.Errorf("%s does not set key %q", examplePath, key)
		}
	}
	if len(inFile) != len(want) {
		t.Errorf("%s sets %d keys, Config has %d", examplePath, len(inFile), len(want))
	}
}

func TestLoadOverlaysFileOnDefaults(t *testing.T) {
	path := writeConfig(t, `
http_addr = "0.0.0.0:9000"
http_advertise = "10.0.0.1:9000"
join = ["10.0.0.2:8484"]

[delivery]
retry_schedule = ["1s", "2s"]
workers = 8

[raft]
snapshot_interval = "1m"
`)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.HTTPAddr = "0.0.0.0:9000"
	want.HTTPAdvertise = "10.0.0.1:9000"
	want.Join = []string{"10.0.0.2:8484"}
	want.Delivery.RetrySchedule = []Duration{dur(time.Second), dur(2 * time.Second)}
	want.Delivery.Workers = 8
	want.Raft.SnapshotInterval = dur(time.Minute)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"top level", "http_adr = \"x:1\"\n",
			[]string{`unknown key "http_adr"`, `did you mean "http_addr"`}},
		{"nested", "[delivery]\nretry_shedule = [\"5s\"]\n",
			[]string{`unknown key "delivery.retry_shedule"`, `did you mean "delivery.retry_schedule"`}},
		{"dotted", "raft.heartbeat = \"1s\"\n", []string{`unknown key "raft.heartbeat"`}},
		{"inline table", "log = { level = \"info\", colour = true }\n", []string{`unknown key "log.colour"`}},
		{"wrong table", "workers = 3\n", []string{`unknown key "workers"`, `did you mean "delivery.workers"`}},
		{"unknown table named once", "[metrics]\nlisten = \"x\"\n[metrics.extra]\nx = 1\n",
			[]string{`unknown key "metrics"`}},
		{"every key reported", "foo = 1\n[api]\nbar = 2\n", []string{`unknown key "foo"`, `unknown key "api.bar"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config file "+path+": ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "metrics.extra") {
				t.Errorf("error %q repeats keys under an unknown table", msg)
			}
		})
	}
}

func TestLoadRejectsWrongTypes(t *testing.T) {
	tests := []struct {
		name, content, key string
	}{
		{"string for int", "[delivery]\nworkers = \"ten\"\n", `"delivery.workers"`},
		{"int for duration", "[delivery]\nrequest_timeout = 15\n", `"delivery.request_timeout"`},
		{"bad duration", "[api]\nread_timeout = \"10 seconds\"\n", `"api.read_timeout"`},
		{"bad duration in list", "[delivery]\nretry_schedule = [\"5s\", \"5x\"]\n", `"delivery.retry_schedule"`},
		{"string for list", "join = \"10.0.0.1:8484\"\n", `"join"`},
		{"string for bool", "https_only = \"yes\"\n", `"https_only"`},
		{"int for table", "raft = 5\n", `"raft"`},
		{"float for int", "[raft]\ntrailing_logs = 1.5\n", `"raft.trailing_logs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.content))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), "key "+tt.key) {
				t.Errorf("error %q does not name key %s", err, tt.key)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if err == nil || !strings.Contains(err.Error(), "absent.toml") {
		t.Fatalf("Load(absent) = %v, want an error naming the file", err)
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"15s", 15 * time.Second, false},
		{"500ms", 500 * time.Millisecond, false},
		{"2h30m", 150 * time.Minute, false},
		{"0", 0, false},
		{"15", 0, true},
		{"1d", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr || d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, error %v", tt.in, d, err, tt.want, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		text, _ := d.MarshalText()
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %q via %q = %v, %v", tt.in, text, back, err)
		}
	}
}
