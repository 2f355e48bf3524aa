package storage

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
)

// The spare is a file of DiskLimits.SpareBytes the guard keeps beside the
// data. Its space counts as used whether the file is there or not, so the
// levels never depend on it; what it is for is a filesystem filled to the
// last byte by something else: the guard deletes it once the level is
// full, which gives Badger room to open (it replays its write-ahead logs
// through memory maps, which fault rather than fail on a full disk), to
// flush and to compact, and writes it again once the level is back to ok.

// spareHeld reports whether the spare file is there at full size.
func (g *DiskGuard) spareHeld() bool {
	info, err := os.Stat(g.limits.SpareFile)
	return err == nil && uint64(info.Size()) == g.limits.SpareBytes
}

// tendSpare releases the spare when the disk is full and, if write is
// set, writes it back when nothing is refused any more.
func (g *DiskGuard) tendSpare(level DiskLevel, write bool) {
	if g.limits.SpareFile == "" || g.limits.SpareBytes == 0 {
		return
	}
	g.spareMu.Lock()
	defer g.spareMu.Unlock()
	held := g.spareHeld()
	switch {
	case held && level == DiskFull:
		if err := os.Remove(g.limits.SpareFile); err != nil {
			g.log.Error().Err(err).Str("file", g.limits.SpareFile).Msg("disk full: cannot release the spare file")
			return
		}
		g.log.Warn().Str("file", g.limits.SpareFile).Uint64("bytes", g.limits.SpareBytes).
			Msg("disk full: spare file released for the stores; it is written again once space is freed")
	case !held && level == DiskOK && write:
		if err := writeSpare(g.limits.SpareFile, g.limits.SpareBytes); err != nil {
			g.log.Warn().Err(err).Str("file", g.limits.SpareFile).Msg("cannot write the spare file; trying again later")
			return
		}
		g.log.Info().Str("file", g.limits.SpareFile).Uint64("bytes", g.limits.SpareBytes).Msg("spare file written")
	}
}

// writeSpare writes size zero bytes to path (real blocks, not a sparse
// file) through a temporary file renamed into place, so a crash leaves
// either the whole spare or none.
func writeSpare(path string, size uint64) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, uint64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			return fmt.Errorf("write spare: %w", err)
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write spare: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write spare: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write spare: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// DropEmptyMemtables removes the zero-length memtable files (*.mem) in a
// Badger directory before it is opened. Badger creates one when it rotates
// a memtable and sizes it afterwards; a node killed in between (or whose
// disk was full then) leaves it empty, and Badger then refuses to open
// ("while opening fid: N err: Create a new file"). An empty file holds no
// entry, so nothing is lost.
func DropEmptyMemtables(dir string, log zerolog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".mem" || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() != 0 {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove empty memtable %s: %w", path, err)
		}
		log.Warn().Str("file", path).Msg("removed an empty memtable file a crash left")
	}
	return nil
}
