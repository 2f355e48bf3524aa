package server

import "path/filepath"

// diskStateOut is a node's disk as the cluster view shows it (a Herald
// addition): its refusal state and each data directory's filesystem.
type diskStateOut struct {
	// State is ok, refusing_writes (client writes get 507) or full (no
	// new entries at all).
	State string       `json:"state"`
	Dirs  []diskDirOut `json:"dirs"`
}

type diskDirOut struct {
	Dir        string `json:"dir"`
	TotalBytes uint64 `json:"totalBytes"`
	FreeBytes  uint64 `json:"freeBytes"`
	UsedBytes  uint64 `json:"usedBytes"`
	State      string `json:"state"`
}

// diskState reports this node's disk; nil without a guard.
func (s *Server) diskState() *diskStateOut {
	g := s.cfg.Disk
	if g == nil {
		return nil
	}
	out := &diskStateOut{State: g.Level().String()}
	for _, u := range g.Usage() {
		out.Dirs = append(out.Dirs, diskDirOut{Dir: filepath.Base(u.Dir), TotalBytes: u.TotalBytes,
			FreeBytes: u.FreeBytes, UsedBytes: u.UsedBytes, State: u.Level.String()})
	}
	return out
}
