package server

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// statsScanLimit bounds the deliveries one stats request looks at, so a
// busy endpoint's week cannot make the request unbounded; past it the
// counts are of the newest statsScanLimit messages in the range.
const statsScanLimit = 200_000

// endpointStatsOut is Svix's EndpointStats; Truncated is a Herald addition,
// set when the range held more than statsScanLimit messages.
type endpointStatsOut struct {
	Success   int  `json:"success"`
	Fail      int  `json:"fail"`
	Pending   int  `json:"pending"`
	Sending   int  `json:"sending"`
	Truncated bool `json:"truncated,omitempty"`
}

// endpointStats counts the endpoint's deliveries by status over the
// messages created in [since, until) (Svix: default the last 28 days).
func (s *Server) endpointStats(c *fasthttp.RequestCtx, p principal) error {
	a, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	var v violations
	now := s.now()
	since, until := now.Add(-28*24*time.Hour), now
	if t := queryTime(c, "since", &v); !t.IsZero() {
		since = t
	}
	if t := queryTime(c, "until", &v); !t.IsZero() && t.Before(now) {
		until = t // no message is newer than now; later bounds change nothing
	}
	if err := v.err(); err != nil {
		return err
	}
	if !until.After(since) {
		v.addQuery("must be after since", "until")
		return v.err()
	}
	var (
		counts    [5]int
		truncated bool
	)
	err = s.store.View(func(r *storage.Reader) error {
		counts, truncated, err = r.EndpointStats(a.ID, ep.ID, since, until, statsScanLimit)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, endpointStatsOut{
		Success: counts[storage.StatusSuccess], Fail: counts[storage.StatusFail],
		Pending: counts[storage.StatusPending], Sending: counts[storage.StatusSending], Truncated: truncated,
	})
	return nil
}
