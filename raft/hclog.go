package raft

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogExtraKey holds an odd trailing argument, under the name hclog uses.
const hclogExtraKey = "EXTRA_VALUE_AT_END"

// NewHCLogger returns an hclog.Logger that writes through log, so
// hashicorp/raft's logs share Herald's format, output and level.
func NewHCLogger(log zerolog.Logger, name string) hclog.Logger {
	level := new(atomic.Int32)
	level.Store(int32(hclogLevelFromZerolog(effectiveZerologLevel(log))))
	return newHCLogAdapter(log, name, nil, level)
}

// hclogAdapter implements hclog.Logger on top of zerolog. hclog messages
// are constant strings, so they stay the zerolog message and the key/value
// pairs become typed fields.
type hclogAdapter struct {
	root    zerolog.Logger // as given to NewHCLogger
	log     zerolog.Logger // root plus subsystem and implied fields
	name    string
	implied []any
	// level is shared by every logger derived from one NewHCLogger call,
	// because hclog expects SetLevel to affect related loggers too.
	level *atomic.Int32
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(root zerolog.Logger, name string, implied []any, level *atomic.Int32) *hclogAdapter {
	ctx := root.With()
	if name != "" {
		ctx = ctx.Str("subsystem", name)
	}
	if len(implied) > 0 {
		ctx = ctx.Fields(hclogFields(implied))
	}
	return &hclogAdapter{root: root, log: ctx.Logger(), name: name, implied: implied, level: level}
}

// Log emits msg at level; NoLevel is treated as Info rather than dropped.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if level == hclog.Off || level < a.GetLevel() {
		return
	}
	e := a.log.WithLevel(zerologLevelFromHclog(level))
	if e == nil {
		return
	}
	if len(args) > 0 {
		e = e.Fields(hclogFields(args))
	}
	e.Msg(msg)
}

// Trace emits msg at zerolog's trace level.
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }

// Debug emits msg at debug level.
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }

// Info emits msg at info level.
func (a *hclogAdapter) Info(msg string, args ...any) { a.Log(hclog.Info, msg, args...) }

// Warn emits msg at warn level.
func (a *hclogAdapter) Warn(msg string, args ...any) { a.Log(hclog.Warn, msg, args...) }

// Error emits msg at error level.
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

// IsTrace reports whether trace messages would be written.
func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }

// IsDebug reports whether debug messages would be written.
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }

// IsInfo reports whether info messages would be written.
func (a *hclogAdapter) IsInfo() bool { return a.enabled(hclog.Info) }

// IsWarn reports whether warn messages would be written.
func (a *hclogAdapter) IsWarn() bool { return a.enabled(hclog.Warn) }

// IsError reports whether error messages would be written.
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// enabled consults zerolog too, so raft skips building messages that
// zerolog would drop even when the hclog level lets them through.
func (a *hclogAdapter) enabled(level hclog.Level) bool {
	cur := a.GetLevel()
	if cur == hclog.Off || level < cur {
		return false
	}
	return zerologLevelFromHclog(level) >= effectiveZerologLevel(a.log)
}

// ImpliedArgs returns the key/value pairs added with With.
func (a *hclogAdapter) ImpliedArgs() []any {
	return append([]any(nil), a.implied...)
}

// With returns a logger that adds args to every message; a key given again
// replaces the earlier value, as in hclog.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	added := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			added = append(added, hclogExtraKey, args[i])
			break
		}
		added = append(added, hclogKey(args[i]), args[i+1])
	}
	implied := make([]any, 0, len(a.implied)+len(added))
	for i := 0; i < len(a.implied); i += 2 {
		if !hclogHasKey(added, a.implied[i].(string)) {
			implied = append(implied, a.implied[i], a.implied[i+1])
		}
	}
	implied = append(implied, added...)
	return newHCLogAdapter(a.root, a.name, implied, a.level)
}

func hclogHasKey(args []any, key string) bool {
	for i := 0; i < len(args); i += 2 {
		if args[i].(string) == key {
			return true
		}
	}
	return false
}

// Name returns the logger's name, the value of its subsystem field.
func (a *hclogAdapter) Name() string { return a.name }

// Named returns a logger whose name is this one's with name appended.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return newHCLogAdapter(a.root, name, a.implied, a.level)
}

// ResetNamed returns a logger named exactly name.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return newHCLogAdapter(a.root, name, a.implied, a.level)
}

// SetLevel changes the level of this logger and every related one. It can
// only make output quieter than the zerolog logger's own level allows.
func (a *hclogAdapter) SetLevel(level hclog.Level) {
	if level == hclog.NoLevel {
		level = hclog.DefaultLevel
	}
	a.level.Store(int32(level))
}

// GetLevel returns the level set by NewHCLogger or SetLevel.
func (a *hclogAdapter) GetLevel() hclog.Level { return hclog.Level(a.level.Load()) }

// StandardLogger returns a *log.Logger that writes through this logger.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each write as one message.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &hclogStdWriter{
		log:           a,
		inferLevels:   opts.InferLevels,
		withTimestamp: opts.InferLevelsWithTimestamp,
		forceLevel:    opts.ForceLevel,
	}
}

// hclogStdWriter mirrors hclog's own standard-library adapter, which is
// unexported: lines may carry a "[LEVEL]" prefix that picks their level.
type hclogStdWriter struct {
	log           hclog.Logger
	inferLevels   bool
	withTimestamp bool
	forceLevel    hclog.Level
}

// hclogTimestamp matches the characters a leading timestamp is made of.
var hclogTimestamp = regexp.MustCompile(`^[\d\s\:\/\.\+-TZ]*`)

// Write logs p, without its trailing newline, as one message.
func (w *hclogStdWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, " \t\n"))
	switch {
	case w.forceLevel != hclog.NoLevel:
		_, line = hclogPickLevel(line)
		w.log.Log(w.forceLevel, line)
	case w.inferLevels:
		if w.withTimestamp {
			line = line[hclogTimestamp.FindStringIndex(line)[1]:]
		}
		level, rest := hclogPickLevel(line)
		w.log.Log(level, rest)
	default:
		w.log.Info(line)
	}
	return len(p), nil
}

func hclogPickLevel(line string) (hclog.Level, string) {
	for _, p := range [...]struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace},
		{"[DEBUG]", hclog.Debug},
		{"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn},
		{"[ERROR]", hclog.Error},
		{"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, line
}

// hclogFields turns hclog key/value args into a list zerolog encodes as
// typed fields: non-string keys are stringified, hclog's formatting
// wrappers and fmt.Stringers become strings, and an odd trailing value gets
// hclog's EXTRA_VALUE_AT_END key. Everything else keeps its Go type, so
// numbers, durations, times and errors stay typed, and any other value is
// JSON-encoded, which is what zerolog's Interface does.
func hclogFields(args []any) []any {
	fields := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			fields = append(fields, hclogExtraKey, hclogValue(args[i]))
			break
		}
		fields = append(fields, hclogKey(args[i]), hclogValue(args[i+1]))
	}
	return fields
}

func hclogKey(k any) string {
	s, ok := k.(string)
	if !ok {
		s = fmt.Sprint(k)
	}
	// raft's own keys must not collide with the ones zerolog writes (it
	// logs "time" as a duration): duplicate JSON keys break collectors.
	switch s {
	case zerolog.TimestampFieldName, zerolog.LevelFieldName, zerolog.MessageFieldName, "component", "subsystem":
		return "raft_" + s
	}
	return s
}

func hclogValue(v any) any {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		format, ok := v[0].(string)
		if !ok {
			return fmt.Sprint(v...)
		}
		return fmt.Sprintf(format, v[1:]...)
	case hclog.Hex:
		return "0x" + strconv.FormatInt(int64(v), 16)
	case hclog.Octal:
		return "0" + strconv.FormatInt(int64(v), 8)
	case hclog.Binary:
		return "0b" + strconv.FormatInt(int64(v), 2)
	case hclog.Quote:
		return strconv.Quote(string(v))
	case hclog.CapturedStacktrace:
		return string(v)
	case string, error, bool, time.Duration, time.Time, []byte, nil,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return v
	case fmt.Stringer:
		return hclogStringer(v)
	}
	return v
}

// hclogStringer calls String, guarding against a nil pointer receiver,
// which is a common way for a Stringer to panic inside a log call.
func hclogStringer(s fmt.Stringer) string {
	if rv := reflect.ValueOf(s); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "<nil>"
	}
	return s.String()
}

// effectiveZerologLevel is the lowest level log writes, which the global
// level can raise above the logger's own.
func effectiveZerologLevel(log zerolog.Logger) zerolog.Level {
	return max(log.GetLevel(), zerolog.GlobalLevel())
}

func zerologLevelFromHclog(level hclog.Level) zerolog.Level {
	switch level {
	case hclog.Trace:
		return zerolog.TraceLevel
	case hclog.Debug:
		return zerolog.DebugLevel
	case hclog.Warn:
		return zerolog.WarnLevel
	case hclog.Error:
		return zerolog.ErrorLevel
	case hclog.Off:
		return zerolog.Disabled
	default:
		return zerolog.InfoLevel
	}
}

func hclogLevelFromZerolog(level zerolog.Level) hclog.Level {
	switch {
	case level <= zerolog.TraceLevel:
		return hclog.Trace
	case level == zerolog.DebugLevel:
		return hclog.Debug
	case level == zerolog.InfoLevel:
		return hclog.Info
	case level == zerolog.WarnLevel:
		return hclog.Warn
	case level == zerolog.NoLevel || level == zerolog.Disabled:
		return hclog.Off
	default: // error, fatal, panic
		return hclog.Error
	}
}
