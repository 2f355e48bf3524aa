package raft

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// newHCLogTestLogger returns an adapter writing JSON lines into a buffer.
func newHCLogTestLogger(level zerolog.Level, name string) (hclog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return NewHCLogger(zerolog.New(&buf).Level(level), name), &buf
}

// hclogTestLines decodes every JSON line written so far and resets buf.
func hclogTestLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if raw == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("line %q: %v", raw, err)
		}
		lines = append(lines, m)
	}
	buf.Reset()
	return lines
}

func hclogTestOneLine(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	lines := hclogTestLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %v", len(lines), lines)
	}
	return lines[0]
}

func TestHCLoggerLevels(t *testing.T) {
	log, buf := newHCLogTestLogger(zerolog.TraceLevel, "")
	tests := []struct {
		emit func(string, ...any)
		want string
	}{
		{log.Trace, "trace"},
		{log.Debug, "debug"},
		{log.Info, "info"},
		{log.Warn, "warn"},
		{log.Error, "error"},
		{func(msg string, args ...any) { log.Log(hclog.NoLevel, msg, args...) }, "info"},
		{func(msg string, args ...any) { log.Log(hclog.Warn, msg, args...) }, "warn"},
	}
	for _, tt := range tests {
		tt.emit("entering follower state", "term", 3)
		line := hclogTestOneLine(t, buf)
		if line["level"] != tt.want || line["message"] != "entering follower state" || line["term"] != 3.0 {
			t.Errorf("line = %v, want level %q with constant message and term field", line, tt.want)
		}
		if _, ok := line["subsystem"]; ok {
			t.Errorf("unnamed logger wrote a subsystem: %v", line)
		}
	}
}

func TestHCLoggerTypedFields(t *testing.T) {
	log, buf := newHCLogTestLogger(zerolog.TraceLevel, "raft")
	log.Info("msg",
		"str", "s",
		"int", 5,
		"uint64", uint64(7),
		"bool", true,
		"dur", 1500*time.Millisecond,
		"error", errors.New("boom"),
		"id", hraft.ServerID("node1"), // string kind without String()
		"state", hraft.Leader, // a Stringer
		"fmt", hclog.Fmt("%d-%s", 1, "a"),
		"hex", hclog.Hex(255),
		"peers", []string{"a", "b"},
		42, "non-string key",
		"orphan",
	)
	got := hclogTestOneLine(t, buf)
	want := map[string]any{
		"level":              "info",
		"message":            "msg",
		"subsystem":          "raft",
		"str":                "s",
		"int":                5.0,
		"uint64":             7.0,
		"bool":               true,
		"dur":                1500.0, // zerolog's default duration unit is ms
		"error":              "boom",
		"id":                 "node1",
		"state":              "Leader",
		"fmt":                "1-a",
		"hex":                "0xff",
		"peers":              []any{"a", "b"},
		"42":                 "non-string key",
		"EXTRA_VALUE_AT_END": "orphan",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields:\n got %v\nwant %v", got, want)
	}
}

func TestHCLoggerWithAndNames(t *testing.T) {
	root, buf := newHCLogTestLogger(zerolog.InfoLevel, "raft")
	child := root.With("node", "n1", "term", 1).With("term", 2).Named("snapshot")

	child.Info("saved")
	line := hclogTestOneLine(t, buf)
	if line["node"] != "n1" || line["term"] != 2.0 || line["subsystem"] != "raft.snapshot" {
		t.Fatalf("child line = %v", line)
	}
	if got := child.ImpliedArgs(); !reflect.DeepEqual(got, []any{"node", "n1", "term", 2}) {
		t.Fatalf("ImpliedArgs = %v", got)
	}
	if child.Name() != "raft.snapshot" {
		t.Fatalf("Name = %q", child.Name())
	}

	reset := child.ResetNamed("transport")
	reset.Info("dial")
	if line := hclogTestOneLine(t, buf); line["subsystem"] != "transport" || line["node"] != "n1" {
		t.Fatalf("ResetNamed line = %v", line)
	}

	// The parent must be untouched by its children.
	root.Info("plain")
	line = hclogTestOneLine(t, buf)
	if _, ok := line["node"]; ok || line["subsystem"] != "raft" || len(root.ImpliedArgs()) != 0 {
		t.Fatalf("root line = %v, implied %v", line, root.ImpliedArgs())
	}

	root.With("odd").Info("x")
	if line := hclogTestOneLine(t, buf); line["EXTRA_VALUE_AT_END"] != "odd" {
		t.Fatalf("odd With line = %v", line)
	}
}

func TestHCLoggerSetLevel(t *testing.T) {
	root, buf := newHCLogTestLogger(zerolog.TraceLevel, "raft")
	if root.GetLevel() != hclog.Trace || !root.IsTrace() {
		t.Fatalf("initial level = %v, want trace from the zerolog logger", root.GetLevel())
	}
	child := root.Named("replication")
	root.SetLevel(hclog.Warn)

	child.Info("dropped")
	child.Warn("kept")
	lines := hclogTestLines(t, buf)
	if len(lines) != 1 || lines[0]["message"] != "kept" {
		t.Fatalf("after SetLevel(Warn) related logger wrote %v", lines)
	}
	if child.GetLevel() != hclog.Warn || child.IsInfo() || !child.IsWarn() || !child.IsError() {
		t.Fatalf("child level = %v, IsInfo %v, IsWarn %v", child.GetLevel(), child.IsInfo(), child.IsWarn())
	}

	root.SetLevel(hclog.Off)
	child.Error("dropped")
	if buf.Len() != 0 || child.IsError() {
		t.Fatalf("Off still writes: %q", buf.String())
	}
}

// The zerolog logger's own level still filters, and the Is* guards say so,
// so raft skips building messages nobody will see.
func TestHCLoggerFollowsZerologLevel(t *testing.T) {
	log, buf := newHCLogTestLogger(zerolog.WarnLevel, "raft")
	if log.GetLevel() != hclog.Warn || log.IsInfo() || log.IsDebug() || !log.IsWarn() {
		t.Fatalf("level = %v IsInfo %v IsWarn %v", log.GetLevel(), log.IsInfo(), log.IsWarn())
	}
	log.SetLevel(hclog.Debug)
	log.Info("dropped by zerolog")
	if buf.Len() != 0 || log.IsDebug() {
		t.Fatalf("zerolog level ignored: %q", buf.String())
	}
}

func TestHCLoggerStandardLogger(t *testing.T) {
	log, buf := newHCLogTestLogger(zerolog.TraceLevel, "raft")
	tests := []struct {
		name      string
		opts      *hclog.StandardLoggerOptions
		line      string
		level     string
		message   string
		useWriter bool
	}{
		{"infer warn", &hclog.StandardLoggerOptions{InferLevels: true}, "[WARN] disk slow", "warn", "disk slow", false},
		{"infer err", &hclog.StandardLoggerOptions{InferLevels: true}, "[ERR] failed", "error", "failed", false},
		{"infer none", &hclog.StandardLoggerOptions{InferLevels: true}, "plain line", "info", "plain line", false},
		{"infer with timestamp", &hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true},
			"2024/01/02 15:04:05 [DEBUG] x", "debug", "x", false},
		{"force level", &hclog.StandardLoggerOptions{ForceLevel: hclog.Error}, "[INFO] boom", "error", "boom", true},
		{"no options", nil, "[WARN] kept as is", "info", "[WARN] kept as is", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.useWriter {
				if _, err := log.StandardWriter(tt.opts).Write([]byte(tt.line + "\n")); err != nil {
					t.Fatalf("Write: %v", err)
				}
			} else {
				log.StandardLogger(tt.opts).Print(tt.line)
			}
			line := hclogTestOneLine(t, buf)
			if line["level"] != tt.level || line["message"] != tt.message || line["subsystem"] != "raft" {
				t.Fatalf("line = %v, want level %q message %q", line, tt.level, tt.message)
			}
		})
	}
}

func TestHCLogKeysDoNotCollide(t *testing.T) {
	var buf bytes.Buffer
	l := NewHCLogger(zerolog.New(&buf).With().Timestamp().Logger(), "raft")
	l.Warn("failed to contact", "server-id", "n2", "time", 460*time.Millisecond, "level", "x", "message", "y")
	line := buf.String()
	for _, k := range []string{`"time"`, `"level"`, `"message"`} {
		if strings.Count(line, k) != 1 {
			t.Fatalf("key %s appears %d times in %s", k, strings.Count(line, k), line)
		}
	}
	if !strings.Contains(line, `"raft_time"`) || !strings.Contains(line, `"server-id":"n2"`) {
		t.Fatalf("raft's own fields lost: %s", line)
	}
}
