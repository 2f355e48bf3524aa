package storage

import (
	"bytes"
	"testing"

	"github.com/rs/zerolog"
)

func TestBadgerLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	bl := NewBadgerLogger(zerolog.New(&buf).Level(zerolog.InfoLevel))
	bl.Infof("replaying %d tables\n", 3)
	bl.Debugf("noise")
	if buf.Len() != 0 {
		t.Fatalf("info/debug from Badger written at info level: %s", buf.String())
	}
	bl.Warningf("slow %s\n", "compaction")
	bl.Errorf("broken %d", 1)
	want := `{"level":"warn","detail":"slow compaction","message":"badger"}` + "\n" +
		`{"level":"error","detail":"broken 1","message":"badger"}` + "\n"
	if buf.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", buf.String(), want)
	}
}
