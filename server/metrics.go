package server

import (
	"net/http"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// API metrics, process-wide.
var (
	messagesAccepted = metrics.NewCounter(`herald_messages_accepted_total`)
	requestsByClass  = [6]*metrics.Counter{
		nil,
		metrics.NewCounter(`herald_http_requests_total{class="1xx"}`),
		metrics.NewCounter(`herald_http_requests_total{class="2xx"}`),
		metrics.NewCounter(`herald_http_requests_total{class="3xx"}`),
		metrics.NewCounter(`herald_http_requests_total{class="4xx"}`),
		metrics.NewCounter(`herald_http_requests_total{class="5xx"}`),
	}
)

// countRequest counts an answered request by its status class.
func countRequest(c *fasthttp.RequestCtx) {
	if class := c.Response.StatusCode() / 100; class >= 1 && class <= 5 {
		requestsByClass[class].Inc()
	}
}

// serveMetrics answers /metrics in Prometheus text format (a Herald
// addition; admin token): process and Go runtime metrics, the API's and
// delivery's counters, and this node's Raft gauges.
func (s *Server) serveMetrics(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("text/plain; version=0.0.4")
	metrics.WritePrometheus(c, true)
	if s.cfg.NodeMetrics != nil {
		s.cfg.NodeMetrics(c)
	}
	return nil
}
