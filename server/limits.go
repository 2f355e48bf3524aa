package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"
)

// rateLimits holds a token bucket per principal (golang.org/x/time/rate),
// local to this node: reads are counted on the node that serves them,
// writes on the leader (see write).
type rateLimits struct {
	admin, app float64 // requests per second; 0 = unlimited
	mu         sync.Mutex
	buckets    map[string]*bucket
	sweptAt    time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newRateLimits(admin, app float64) *rateLimits {
	return &rateLimits{admin: admin, app: app, buckets: map[string]*bucket{}, sweptAt: time.Now()}
}

// allow takes one request from p's bucket, or answers 429 with Retry-After.
func (l *rateLimits) allow(c *fasthttp.RequestCtx, p principal) error {
	perSec := l.app
	if p.admin {
		perSec = l.admin
	}
	if perSec <= 0 {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	b := l.buckets[p.id]
	if b == nil {
		// Bursts of twice the rate absorb a client's natural jitter.
		b = &bucket{lim: rate.NewLimiter(rate.Limit(perSec), max(1, int(2*perSec)))}
		l.buckets[p.id] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay > 0 {
		r.CancelAt(now)
	}
	l.sweep(now)
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	c.Response.Header.Set("Retry-After", strconv.Itoa(int(delay.Seconds())+1))
	return errorf(http.StatusTooManyRequests, "rate_limited", "Too many requests for this token; retry after the Retry-After delay.")
}

// sweep forgets buckets idle for a minute (a full bucket is the same as no
// bucket), so expired tokens do not accumulate. Called with l.mu held.
func (l *rateLimits) sweep(now time.Time) {
	if now.Sub(l.sweptAt) < time.Minute {
		return
	}
	l.sweptAt = now
	for id, b := range l.buckets {
		if now.Sub(b.used) > time.Minute {
			delete(l.buckets, id)
		}
	}
}
