//go:build !linux

package storage

// TrimMappedFiles does nothing outside Linux (see trim_linux.go).
func TrimMappedFiles(string) (int64, error) { return 0, nil }

// MajorFaults is not counted outside Linux.
func MajorFaults() (int64, error) { return 0, nil }

// MappedFileRSS is not measured outside Linux.
func MappedFileRSS() (int64, error) { return 0, nil }
