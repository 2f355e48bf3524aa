package server

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// backupBarrierTimeout bounds the wait for the leader's state to hold
// everything committed before the backup starts.
const backupBarrierTimeout = 10 * time.Second

// backup streams a consistent copy of the state (a Herald addition,
// GET /api/v1/backup, admin only): a header line, then the state snapshot
// at one applied index. It is taken on the leader after a barrier, so it
// holds every write acknowledged before the request. `herald backup`
// adds the checksum.
func (s *Server) backup(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	if !s.node.IsLeader() {
		c.Response.Header.Set("X-Herald-Leader", s.node.LeaderHTTPAddr())
		return errNotLeader
	}
	if err := s.node.Barrier(backupBarrierTimeout); err != nil {
		return err
	}
	sn, err := s.store.Snapshot()
	if err != nil {
		return err
	}
	h := storage.BackupHeader{
		Format: storage.BackupFormat, CreatedAt: s.now().UTC(), NodeID: s.node.ID(),
		AppliedIndex: sn.AppliedIndex(), Version: s.cfg.Version,
	}
	if s.cfg.Keys != nil {
		h.SecretsKeyID = s.cfg.Keys.ID()
	}
	c.Response.Header.Set("X-Herald-Estimated-Bytes", strconv.FormatInt(s.store.Size(), 10))
	c.SetContentType("application/octet-stream")
	c.SetStatusCode(http.StatusOK)
	conn := c.Conn()
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer sn.Release()
		// The server's write timeout covers a whole response; a backup
		// takes as long as it takes, as long as it moves.
		dw := &deadlineWriter{w: w, conn: conn}
		if err := storage.WriteBackupHeader(dw, h); err != nil {
			return
		}
		if _, err := sn.WriteTo(dw); err != nil {
			s.log.Warn().Err(err).Msg("backup stream failed")
			return
		}
		_ = w.Flush()
	})
	return nil
}

// deadlineWriter pushes the connection's write deadline on as data moves.
type deadlineWriter struct {
	w    *bufio.Writer
	conn net.Conn
	last time.Time
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.last) > time.Second {
		d.last = now
		_ = d.conn.SetWriteDeadline(now.Add(30 * time.Second))
	}
	return d.w.Write(p)
}
