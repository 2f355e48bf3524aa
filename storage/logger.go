package storage

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// BadgerLogger routes Badger's printf-style logs into zerolog. Badger is
// chatty at info level about routine compactions, so info and debug both go
// to debug.
type BadgerLogger struct {
	log zerolog.Logger
}

// NewBadgerLogger returns a Badger logger writing to log.
func NewBadgerLogger(log zerolog.Logger) *BadgerLogger {
	return &BadgerLogger{log: log}
}

// Errorf logs at error level.
func (l *BadgerLogger) Errorf(f string, v ...any) { l.out(l.log.Error(), f, v) }

// Warningf logs at warn level.
func (l *BadgerLogger) Warningf(f string, v ...any) { l.out(l.log.Warn(), f, v) }

// Infof logs at debug level.
func (l *BadgerLogger) Infof(f string, v ...any) { l.out(l.log.Debug(), f, v) }

// Debugf logs at debug level.
func (l *BadgerLogger) Debugf(f string, v ...any) { l.out(l.log.Debug(), f, v) }

func (l *BadgerLogger) out(ev *zerolog.Event, f string, v []any) {
	if ev == nil {
		return
	}
	ev.Str("detail", strings.TrimSpace(fmt.Sprintf(f, v...))).Msg("badger")
}
