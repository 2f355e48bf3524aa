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

	"golang.org/x/sys/unix"
)

// Badger (v4) reads and writes its value logs, tables and memtable logs
// through shared memory mappings, with no option to use plain file I/O.
// Every page it touches stays mapped into the process, so a node that has
// written a large backlog shows gigabytes of resident memory that are
// really the kernel's page cache: clean or writeback-able file pages that a
// store using read and write calls would not have counted as its own.
//
// TrimMappedFiles asks the kernel to reclaim those pages with
// madvise(MADV_PAGEOUT): dirty pages are written back first, nothing is
// lost, and a later access reads the page in again. MADV_PAGEOUT rather
// than MADV_DONTNEED because the ranges come from /proc/self/maps and a
// range may be unmapped and reused (say, by the Go runtime's own anonymous
// memory) between that read and the call: DONTNEED would zero such memory,
// PAGEOUT never discards data on any kind of mapping. It returns how many
// bytes of mappings were advised.
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
		// A range unmapped since the read fails with ENOMEM: fine.
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, unix.MADV_PAGEOUT)
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

// MajorFaults returns how many page faults of this process had to wait for
// a read from disk so far.
func MajorFaults() (int64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return ru.Majflt, nil
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
