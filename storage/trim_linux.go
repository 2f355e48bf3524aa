//go:build linux

package storage

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Badger (v4) reads and writes its value logs, tables and memtable logs
// through shared memory mappings, with no option to use plain file I/O.
// Every page it touches stays mapped into the process, so a node that has
// written a large backlog shows gigabytes of resident memory that are
// really the kernel's page cache: clean or writeback-able file pages that a
// store using read and write calls would not have counted as its own.
//
// TrimMappedFiles drops the mappings' page-table entries with
// madvise(MADV_DONTNEED). For a shared file mapping that loses nothing:
// dirty pages stay dirty in the page cache and are written back (and
// msync'd) as before, and the next access faults the page back in from the
// cache. It returns how many bytes of mappings were trimmed.
func TrimMappedFiles(dir string) (int64, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var trimmed int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, path, ok := sharedFileMapping(sc.Bytes())
		if !ok || !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			continue
		}
		// A mapping unmapped since the read fails with ENOMEM: fine.
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_DONTNEED)
		if errno == 0 {
			trimmed += int64(end - start)
		}
	}
	return trimmed, sc.Err()
}

// sharedFileMapping parses one line of /proc/self/maps
// ("start-end perms offset dev inode path") and reports a shared mapping of
// a file.
func sharedFileMapping(line []byte) (start, end uintptr, path string, ok bool) {
	fields := bytes.Fields(line)
	if len(fields) < 6 || len(fields[1]) < 4 || fields[1][3] != 's' || fields[5][0] != '/' {
		return 0, 0, "", false
	}
	lo, hi, found := bytes.Cut(fields[0], []byte{'-'})
	if !found {
		return 0, 0, "", false
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, "", false
	}
	// Paths may hold spaces: the path is the rest of the line.
	i := bytes.Index(line, fields[5])
	return uintptr(s), uintptr(e), string(line[i:]), true
}

// MappedFileRSS returns the process's resident memory in file-backed
// mappings (RssFile in /proc/self/status), in bytes.
func MappedFileRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("RssFile:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb << 10, err
		}
	}
	return 0, nil
}
