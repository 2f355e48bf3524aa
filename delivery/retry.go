package delivery

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

var (
	// ErrInvalidRetrySchedule reports a retry schedule that cannot be used.
	ErrInvalidRetrySchedule = errors.New("invalid retry schedule")
)

// DefaultRetrySchedule holds the delays after the first, immediate attempt: 8 attempts over about 28 hours.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

const (
	// A week between two attempts already outlives most message
	// retention; a longer gap is almost certainly a typo (5h vs 5000h).
	maxRetryDelay = 7 * 24 * time.Hour
	// Each entry becomes a stored attempt; 50 bounds a delivery's history.
	maxRetryEntries = 50
)

// ParseRetrySchedule parses a comma-separated list of Go durations such as "5s,5m,30m".
func ParseRetrySchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidRetrySchedule)
	}
	fields := strings.Split(s, ",")
	if len(fields) > maxRetryEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrInvalidRetrySchedule, len(fields), maxRetryEntries)
	}
	out := make([]time.Duration, 0, len(fields))
	for i, f := range fields {
		// "5s, 5m" is how people type lists; spaces around entries are
		// harmless, unlike an empty entry, which is a likely typo.
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, fmt.Errorf("%w: entry %d is empty", ErrInvalidRetrySchedule, i+1)
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d %q is not a duration like 30s, 5m or 2h", ErrInvalidRetrySchedule, i+1, f)
		}
		if d <= 0 || d > maxRetryDelay {
			return nil, fmt.Errorf("%w: entry %d %q must be above 0 and at most %s", ErrInvalidRetrySchedule, i+1, f, maxRetryDelay)
		}
		out = append(out, d)
	}
	return out, nil
}

// RetryPolicy decides when a failed delivery is attempted again.
type RetryPolicy struct {
	// Schedule holds the delays after attempts 1, 2, ...; its length is the number of retries.
	Schedule []time.Duration
	// Jitter spreads each delay uniformly by ±Jitter (0.2 = ±20%) so retries after an outage do not arrive in lockstep.
	Jitter float64
	// RetryAfterMax bounds how far a receiver's Retry-After may push a retry; zero ignores Retry-After.
	RetryAfterMax time.Duration
	// Keep410 makes a 410 Gone a plain failure instead of disabling the endpoint.
	Keep410 bool
}

// With returns p changed by a delivery's stamped policy (its unset fields
// keep p's values, the server default).
func (p RetryPolicy) With(sp *storage.Policy) RetryPolicy {
	switch {
	case sp.NoRetries:
		p.Schedule = nil
	case sp.RetryScheduleMs != nil:
		p.Schedule = make([]time.Duration, len(sp.RetryScheduleMs))
		for i, ms := range sp.RetryScheduleMs {
			p.Schedule[i] = time.Duration(ms) * time.Millisecond
		}
	}
	if sp.RetryAfter == storage.No {
		p.RetryAfterMax = 0
	}
	if sp.JitterSet {
		p.Jitter = float64(sp.JitterPct) / 100
	}
	switch sp.On410 {
	case storage.No:
		p.Keep410 = true
	case storage.Yes:
		p.Keep410 = false
	}
	return p
}

// Verdict is what one attempt's outcome means for its delivery.
type Verdict int

// Verdict values are explicit and only ever appended, because they may be
// recorded in replicated attempt records; zero is deliberately no verdict.
const (
	// Succeeded means the receiver accepted the message (2xx).
	Succeeded Verdict = 1
	// Retry means the attempt failed and the delivery should be tried again if the schedule allows.
	Retry Verdict = 2
	// GiveUp means the delivery has failed for good (the schedule is exhausted).
	GiveUp Verdict = 3
	// DisableEndpoint means the receiver answered 410 Gone: fail the delivery and disable the endpoint.
	DisableEndpoint Verdict = 4
)

// String names the verdict for logs and metrics labels.
func (v Verdict) String() string {
	switch v {
	case Succeeded:
		return "succeeded"
	case Retry:
		return "retry"
	case GiveUp:
		return "give_up"
	case DisableEndpoint:
		return "disable_endpoint"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Classify maps one attempt's HTTP status or transport error to a verdict.
//
// It never returns GiveUp: only the schedule decides that a delivery is
// over. As in Svix, every non-2xx but 410 is retried: a 400 or 404 from a
// receiver is usually a deploy in progress or a misrouted path that gets
// fixed, and a 3xx means a redirect Herald will not follow.
func Classify(status int, err error) Verdict {
	switch {
	case err != nil:
		return Retry
	case status >= 200 && status <= 299:
		return Succeeded
	case status == http.StatusGone:
		return DisableEndpoint
	}
	return Retry
}

// ParseRetryAfter reads a Retry-After header (delay-seconds or HTTP-date) as a delay from now.
func ParseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		switch {
		case secs <= 0:
			return 0, true
		case secs > maxSecs:
			// Callers cap it anyway; saturate rather than overflow.
			return time.Duration(1<<63 - 1), true
		}
		return time.Duration(secs) * time.Second, true
	} else if errors.Is(err, strconv.ErrRange) {
		if strings.HasPrefix(h, "-") {
			return 0, true
		}
		return time.Duration(1<<63 - 1), true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// NextDelay returns the wait before retrying after the failed attempt number attempt (1-based), or false when none is left.
//
// rnd returns a float in [0,1), such as math/rand/v2's Float64; nil means
// no jitter. Retry-After is honoured only for statuses whose meaning is
// "come back later" (429, 502, 503, 504): it may lengthen the scheduled
// delay up to RetryAfterMax, never shorten it, so a receiver cannot make
// Herald hammer it nor park a delivery indefinitely.
func (p RetryPolicy) NextDelay(attempt int, status int, retryAfter time.Duration, hasRetryAfter bool, rnd func() float64) (time.Duration, bool) {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > len(p.Schedule) {
		return 0, false
	}
	d := p.Schedule[attempt-1]
	if j := min(p.Jitter, 1); j > 0 && rnd != nil {
		d = time.Duration(float64(d) * (1 + j*(2*rnd()-1)))
	}
	if hasRetryAfter && honoursRetryAfter(status) && p.RetryAfterMax > 0 {
		d = max(d, min(retryAfter, p.RetryAfterMax))
	}
	return max(d, 0), true
}

func honoursRetryAfter(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
