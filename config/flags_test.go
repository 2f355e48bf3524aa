package config

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParsePrecedence(t *testing.T) {
	file := `
http_addr = "127.0.0.1:7000"
raft_addr = "127.0.0.1:7001"
admin_token = "from-file"
https_only = true
[log]
level = "debug"
`
	tests := []struct {
		name  string
		file  string // empty: no --config
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"defaults alone", "", nil, nil, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c, Default()) {
				t.Errorf("got %+v, want Default()", c)
			}
		}},
		{"file over defaults", file, nil, nil, func(t *testing.T, c Config) {
			wantEq(t, "http_addr", c.HTTPAddr, "127.0.0.1:7000")
			wantEq(t, "admin_token", c.AdminToken, "from-file")
			wantEq(t, "https_only", c.HTTPSOnly, true)
			wantEq(t, "log.level", c.Log.Level, "debug")
			wantEq(t, "data_dir", c.DataDir, "./herald-data")
		}},
		{"flags over file", file, nil,
			[]string{"--http-addr", "127.0.0.1:9000", "-log-level=warn", "--https-only=false", "--data-dir", "/var/lib/herald"},
			func(t *testing.T, c Config) {
				wantEq(t, "http_addr", c.HTTPAddr, "127.0.0.1:9000")
				wantEq(t, "log.level", c.Log.Level, "warn")
				wantEq(t, "https_only", c.HTTPSOnly, false)
				wantEq(t, "data_dir", c.DataDir, "/var/lib/herald")
				// Flags not given leave the file's values alone.
				wantEq(t, "raft_addr", c.RaftAddr, "127.0.0.1:7001")
				wantEq(t, "admin_token", c.AdminToken, "from-file")
			}},
		{"env over file", file, map[string]string{AdminTokenEnv: "from-env"}, nil, func(t *testing.T, c Config) {
			wantEq(t, "admin_token", c.AdminToken, "from-env")
		}},
		{"env used without file", "", map[string]string{AdminTokenEnv: " from-env\n"}, nil, func(t *testing.T, c Config) {
			wantEq(t, "admin_token", c.AdminToken, "from-env")
		}},
		{"empty env ignored", file, map[string]string{AdminTokenEnv: ""}, nil, func(t *testing.T, c Config) {
			wantEq(t, "admin_token", c.AdminToken, "from-file")
		}},
		{"flag over env", file, map[string]string{AdminTokenEnv: "from-env"}, []string{"--admin-token", "from-flag"},
			func(t *testing.T, c Config) {
				wantEq(t, "admin_token", c.AdminToken, "from-flag")
			}},
		{"other env ignored", "", map[string]string{"HERALD_HTTP_ADDR": "0.0.0.0:1"}, nil, func(t *testing.T, c Config) {
			wantEq(t, "http_addr", c.HTTPAddr, "127.0.0.1:8484")
		}},
		{"every flag", "", nil, []string{
			"--data-dir", "d", "--http-addr", "0.0.0.0:1", "--http-advertise", "a.example:1",
			"--raft-addr", "0.0.0.0:2", "--raft-advertise", "a.example:2", "--node-id", "herald-1",
			"--join", "b.example:1", "--admin-token", "t", "--allow-private-cidr", "10.0.0.0/8",
			"--retry-schedule", "1s", "--https-only", "--log-level", "error", "--log-format", "console",
			"--value-log-gc-interval", "90s",
		}, func(t *testing.T, c Config) {
			want := Default()
			want.DataDir, want.HTTPAddr, want.HTTPAdvertise = "d", "0.0.0.0:1", "a.example:1"
			want.RaftAddr, want.RaftAdvertise, want.NodeID = "0.0.0.0:2", "a.example:2", "herald-1"
			want.Join, want.AdminToken, want.AllowPrivateCIDR = []string{"b.example:1"}, "t", []string{"10.0.0.0/8"}
			want.Delivery.RetrySchedule = []Duration{dur(time.Second)}
			want.HTTPSOnly, want.Log = true, LogConfig{Level: "error", Format: "console"}
			want.Storage.ValueLogGCInterval = dur(90 * time.Second)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			c, err := Parse(args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func wantEq[T comparable](t *testing.T, key string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", key, got, want)
	}
}

func TestParseLists(t *testing.T) {
	file := "join = [\"file.example:8484\"]\nallow_private_cidr = [\"192.168.0.0/16\"]\n"
	tests := []struct {
		name      string
		args      []string
		wantJoin  []string
		wantCIDRs []string
	}{
		{"file kept without flags", nil, []string{"file.example:8484"}, []string{"192.168.0.0/16"}},
		{"repeated", []string{"--join", "a:1", "--join", "b:2", "--allow-private-cidr", "10.0.0.0/8", "--allow-private-cidr", "fd00::/8"},
			[]string{"a:1", "b:2"}, []string{"10.0.0.0/8", "fd00::/8"}},
		{"comma separated", []string{"--join", "a:1, b:2,", "--allow-private-cidr=10.0.0.0/8,fd00::/8"},
			[]string{"a:1", "b:2"}, []string{"10.0.0.0/8", "fd00::/8"}},
		{"mixed", []string{"--join", "a:1,b:2", "--join=c:3"}, []string{"a:1", "b:2", "c:3"}, []string{"192.168.0.0/16"}},
		{"empty flag clears the file's list", []string{"--join=", "--allow-private-cidr", ""}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--config", writeConfig(t, file)}, tt.args...)
			c, err := Parse(args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Join, tt.wantJoin) {
				t.Errorf("join = %q, want %q", c.Join, tt.wantJoin)
			}
			if !reflect.DeepEqual(c.AllowPrivateCIDR, tt.wantCIDRs) {
				t.Errorf("allow_private_cidr = %q, want %q", c.AllowPrivateCIDR, tt.wantCIDRs)
			}
		})
	}
}

func TestParseRetrySchedule(t *testing.T) {
	tests := []struct {
		arg     string
		want    []time.Duration
		wantErr string
	}{
		{"5s,5m,1h", []time.Duration{5 * time.Second, 5 * time.Minute, time.Hour}, ""},
		{" 1s , 2s ", []time.Duration{time.Second, 2 * time.Second}, ""},
		{"168h", []time.Duration{168 * time.Hour}, ""},
		{"", nil, "entry 1 is empty"},
		{"5s,,5m", nil, "entry 2 is empty"},
		{"5s,5x", nil, `entry 2: invalid duration "5x"`},
		{"5", nil, `invalid duration "5"`},
		{"0s", nil, "entry 1 (0s) must be more than 0"},
		{"5s,-1s", nil, "entry 2 (-1s) must be more than 0"},
		{"169h", nil, "at most 168h0m0s"},
		{strings.Repeat("1s,", 50) + "1s", nil, "must have 1 to 50 entries, got 51"},
	}
	for _, tt := range tests {
		c, err := Parse([]string{"--retry-schedule", tt.arg}, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("--retry-schedule %q: error %v, want it to contain %q", tt.arg, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "-retry-schedule") {
				t.Errorf("--retry-schedule %q: error %v does not name the flag", tt.arg, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("--retry-schedule %q: %v", tt.arg, err)
			continue
		}
		if got := c.RetryDelays(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("--retry-schedule %q = %v, want %v", tt.arg, got, tt.want)
		}
	}
}

func TestParseLastRetryScheduleWins(t *testing.T) {
	c, err := Parse([]string{"--retry-schedule", "1s,2s", "--retry-schedule", "3s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RetryDelays(); !reflect.DeepEqual(got, []time.Duration{3 * time.Second}) {
		t.Errorf("schedule = %v, want [3s]", got)
	}
}

func TestParseCommandLineErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"positional", []string{"extra"}, "no positional arguments, got 1"},
		{"positional after flags", []string{"--http-addr", "127.0.0.1:1", "a", "b"}, "got 2"},
		{"flag after positional", []string{"a", "--http-addr", "127.0.0.1:1"}, "got 3"},
		{"unknown flag", []string{"--http-adr", "x"}, "flag provided but not defined: -http-adr"},
		{"missing value", []string{"--data-dir"}, "flag needs an argument: -data-dir"},
		{"bad bool", []string{"--https-only=maybe"}, "https-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.args, nil)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a *UsageError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "usage: herald serve") {
				t.Errorf("error %q does not include the usage", err)
			}
		})
	}
}

func TestParseHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		_, err := Parse([]string{arg}, nil)
		var ue *UsageError
		if !errors.Is(err, flag.ErrHelp) || !errors.As(err, &ue) {
			t.Fatalf("Parse(%s) = %v, want a *UsageError wrapping flag.ErrHelp", arg, err)
		}
		if ue.Usage != Usage() {
			t.Errorf("UsageError.Usage differs from Usage()")
		}
	}
}

func TestUsageListsEveryFlag(t *testing.T) {
	u := Usage()
	for _, name := range []string{
		"config", "data-dir", "http-addr", "http-advertise", "raft-addr", "raft-advertise", "node-id",
		"join", "admin-token", "allow-private-cidr", "retry-schedule", "https-only", "log-level", "log-format",
		"value-log-gc-interval",
	} {
		if !strings.Contains(u, "--"+name+" ") {
			t.Errorf("usage does not list --%s:\n%s", name, u)
		}
	}
	known := map[string]bool{}
	for _, k := range knownKeys() {
		known[k] = true
	}
	for _, s := range serveFlags {
		if !known[s.key] {
			t.Errorf("flag --%s names unknown key %q", s.name, s.key)
		}
	}
}

func TestParseValidates(t *testing.T) {
	_, err := Parse([]string{"--log-level", "loud"}, nil)
	if err == nil || !strings.Contains(err.Error(), `log.level: must be one of trace, debug, info, warn, error, got "loud"`) {
		t.Fatalf("Parse = %v, want a log.level error", err)
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		t.Errorf("a bad value is not a command-line syntax error: %v", err)
	}
}

func TestParseConfigFileErrors(t *testing.T) {
	if _, err := Parse([]string{"--config", writeConfig(t, "bogus = 1\n")}, nil); err == nil ||
		!strings.Contains(err.Error(), `unknown key "bogus"`) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := Parse([]string{"--config="}, nil); err == nil || !strings.Contains(err.Error(), "read config file") {
		t.Errorf("empty --config: %v", err)
	}
}
