package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// AdminTokenEnv is the environment variable that sets admin_token. It is the
// only setting read from the environment: a token belongs in a secret store,
// not in a world-readable file or in the process list.
const AdminTokenEnv = "HERALD_ADMIN_TOKEN"

// UsageError means the command line itself is wrong, or asks for help
// (errors.Is(err, flag.ErrHelp)); Usage is the flag summary to show.
type UsageError struct {
	// Err is the problem with the command line.
	Err error
	// Usage is the text of Usage(), so the caller need not rebuild it.
	Usage string
}

// Error returns the problem followed by the usage text.
func (e *UsageError) Error() string { return e.Err.Error() + "\n\n" + e.Usage }

// Unwrap exposes flag.ErrHelp and friends to errors.Is.
func (e *UsageError) Unwrap() error { return e.Err }

// flagSpec ties one flag to the Config field it overrides. Flags parse into a
// scratch Config and only the flags actually given are copied over, so an
// absent flag never resets a value from the file.
type flagSpec struct {
	name, arg, help string
	// key is the config file key, shown in usage so operators can map
	// between the two.
	key string
	// bind registers the flag on fs, storing into scratch.
	bind func(fs *flag.FlagSet, name string, scratch *Config)
	// apply copies the flag's value from scratch to dst.
	apply func(dst, scratch *Config)
}

func stringFlag(name, arg, key, help string, field func(*Config) *string) flagSpec {
	return flagSpec{
		name: name, arg: arg, key: key, help: help,
		bind:  func(fs *flag.FlagSet, name string, c *Config) { fs.StringVar(field(c), name, "", "") },
		apply: func(dst, c *Config) { *field(dst) = *field(c) },
	}
}

func listFlag(name, arg, key, help string, field func(*Config) *[]string) flagSpec {
	return flagSpec{
		name: name, arg: arg + "[," + arg + "...]", key: key, help: help + "; may repeat",
		bind:  func(fs *flag.FlagSet, name string, c *Config) { fs.Var((*listValue)(field(c)), name, "") },
		apply: func(dst, c *Config) { *field(dst) = *field(c) },
	}
}

func durationFlag(name, key, help string, field func(*Config) *Duration) flagSpec {
	return flagSpec{
		name: name, arg: "DURATION", key: key, help: help,
		bind: func(fs *flag.FlagSet, name string, c *Config) {
			fs.Func(name, "", func(v string) error { return field(c).UnmarshalText([]byte(v)) })
		},
		apply: func(dst, c *Config) { *field(dst) = *field(c) },
	}
}

var serveFlags = []flagSpec{
	stringFlag("data-dir", "DIR", "data_dir", "directory for the Raft log, state and node id",
		func(c *Config) *string { return &c.DataDir }),
	stringFlag("http-addr", "HOST:PORT", "http_addr", "API listen address",
		func(c *Config) *string { return &c.HTTPAddr }),
	stringFlag("http-advertise", "HOST:PORT", "http_advertise", "API address other nodes and clients use (default: --http-addr)",
		func(c *Config) *string { return &c.HTTPAdvertise }),
	stringFlag("public-url", "URL", "public_url", "base URL customers reach the API and portal at (default: http://<http-advertise>)",
		func(c *Config) *string { return &c.PublicURL }),
	stringFlag("raft-addr", "HOST:PORT", "raft_addr", "Raft listen address",
		func(c *Config) *string { return &c.RaftAddr }),
	stringFlag("raft-advertise", "HOST:PORT", "raft_advertise", "Raft address other nodes dial (default: --raft-addr)",
		func(c *Config) *string { return &c.RaftAdvertise }),
	stringFlag("node-id", "ID", "node_id", "node id (default: generated on first start, kept in the data dir)",
		func(c *Config) *string { return &c.NodeID }),
	listFlag("join", "HTTPADDR", "join", "API address of an existing member to join (a node without a secrets key receives the cluster's with the join)",
		func(c *Config) *[]string { return &c.Join }),
	stringFlag("admin-token", "TOKEN", "admin_token", "admin bearer token; prefer "+AdminTokenEnv+", which the process list does not show",
		func(c *Config) *string { return &c.AdminToken }),
	listFlag("allow-private-cidr", "CIDR", "allow_private_cidr", "network exempt from the SSRF guard",
		func(c *Config) *[]string { return &c.AllowPrivateCIDR }),
	{
		name: "retry-schedule", arg: "5s,5m,...", key: "delivery.retry_schedule",
		help: "waits before each retry, replacing the whole schedule",
		bind: func(fs *flag.FlagSet, name string, c *Config) {
			fs.Var((*scheduleValue)(&c.Delivery.RetrySchedule), name, "")
		},
		apply: func(dst, c *Config) { dst.Delivery.RetrySchedule = c.Delivery.RetrySchedule },
	},
	{
		name: "auto-disable-after", arg: "DURATION", key: "delivery.auto_disable_after",
		help: "disable an endpoint that fails every attempt this long (0s: never)",
		bind: func(fs *flag.FlagSet, name string, c *Config) {
			fs.TextVar(&c.Delivery.AutoDisableAfter, name, Duration{}, "")
		},
		apply: func(dst, c *Config) { dst.Delivery.AutoDisableAfter = c.Delivery.AutoDisableAfter },
	},
	{
		name: "https-only", key: "https_only", help: "refuse endpoints with http:// URLs",
		bind:  func(fs *flag.FlagSet, name string, c *Config) { fs.BoolVar(&c.HTTPSOnly, name, false, "") },
		apply: func(dst, c *Config) { dst.HTTPSOnly = c.HTTPSOnly },
	},
	stringFlag("tls-cert-file", "FILE", "tls.cert_file", "PEM certificate: the API serves HTTPS and nodes talk TLS",
		func(c *Config) *string { return &c.TLS.CertFile }),
	stringFlag("tls-key-file", "FILE", "tls.key_file", "PEM private key of --tls-cert-file",
		func(c *Config) *string { return &c.TLS.KeyFile }),
	stringFlag("tls-ca-file", "FILE", "tls.ca_file", "PEM CA bundle signing the nodes' certificates; makes node-to-node TLS mutual",
		func(c *Config) *string { return &c.TLS.CAFile }),
	durationFlag("value-log-gc-interval", "storage.value_log_gc_interval", "how often Badger's value-log garbage collection gives back deleted data's space",
		func(c *Config) *Duration { return &c.Storage.ValueLogGCInterval }),
	stringFlag("log-level", "LEVEL", "log.level", "trace, debug, info, warn or error",
		func(c *Config) *string { return &c.Log.Level }),
	stringFlag("log-format", "FORMAT", "log.format", "json or console",
		func(c *Config) *string { return &c.Log.Format }),
}

const configFlag = "config"

// Parse builds the configuration of `herald serve` from its arguments (not
// including "serve") and the environment, then validates it. getenv may be
// nil, meaning no environment. Command-line mistakes come back as
// *UsageError.
func Parse(args []string, getenv func(string) string) (Config, error) {
	var scratch Config
	var configPath string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	// Usage goes into the returned error instead, so the caller decides
	// where it is printed.
	fs.SetOutput(io.Discard)
	fs.StringVar(&configPath, configFlag, "", "")
	for _, s := range serveFlags {
		s.bind(fs, s.name, &scratch)
	}
	if err := fs.Parse(args); err != nil {
		// The flag package quotes bad flag names and values, which could be
		// the token given earlier on the same line.
		return Config{}, &UsageError{Err: redact(err, scratch.AdminToken), Usage: Usage()}
	}
	if fs.NArg() > 0 {
		// The arguments are not echoed: a stray one may be a token that
		// lost its flag, as in `--admin-token= TOKEN`.
		return Config{}, &UsageError{
			Err:   fmt.Errorf("serve takes no positional arguments, got %d (flag parsing stops at the first argument that is not a flag)", fs.NArg()),
			Usage: Usage(),
		}
	}

	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	cfg := Default()
	if given[configFlag] {
		var err error
		if cfg, err = Load(configPath); err != nil {
			return Config{}, err
		}
	}
	if getenv != nil {
		if token := strings.TrimSpace(getenv(AdminTokenEnv)); token != "" {
			cfg.AdminToken = token
		}
	}
	for _, s := range serveFlags {
		if given[s.name] {
			s.apply(&cfg, &scratch)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// redact removes known secrets from err's text. The chain is kept when there
// is nothing to remove, so errors.Is still works on ordinary errors.
func redact(err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// Usage returns the flag summary of `herald serve`.
func Usage() string {
	def := Default()
	defaults := map[string]string{
		"data-dir":   def.DataDir,
		"http-addr":  def.HTTPAddr,
		"raft-addr":  def.RaftAddr,
		"log-level":  def.Log.Level,
		"log-format": def.Log.Format,
	}
	var b strings.Builder
	b.WriteString("usage: herald serve [flags]\n\n")
	b.WriteString("Precedence: defaults < --config file < " + AdminTokenEnv + " < flags.\n")
	b.WriteString("Each flag overrides the config file key in brackets.\n\n")
	fmt.Fprintf(&b, "  --%-36s %s\n", configFlag+" FILE", "TOML config file; unknown keys are refused (see config.example.toml)")
	for _, s := range serveFlags {
		help := s.help
		if d := defaults[s.name]; d != "" {
			help += " (default " + d + ")"
		}
		fmt.Fprintf(&b, "  --%-36s %s [%s]\n", strings.TrimSpace(s.name+" "+s.arg), help, s.key)
	}
	return b.String()
}

// listValue accumulates comma-separated items over repeated flags.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	for item := range strings.SplitSeq(s, ",") {
		// Skip empties so "a,b," and a bare --join= (to clear the file's
		// list) both work.
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// scheduleValue parses a comma-separated retry schedule; the last flag wins.
type scheduleValue []Duration

func (s *scheduleValue) String() string {
	parts := make([]string, len(*s))
	for i, d := range *s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

func (s *scheduleValue) Set(text string) error {
	var schedule []Duration
	for i, item := range strings.Split(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return fmt.Errorf("entry %d is empty", i+1)
		}
		var d Duration
		if err := d.UnmarshalText([]byte(item)); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		schedule = append(schedule, d)
	}
	if err := checkRetrySchedule(schedule); err != nil {
		return err
	}
	*s = schedule
	return nil
}
