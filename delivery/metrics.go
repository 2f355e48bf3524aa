package delivery

import "github.com/VictoriaMetrics/metrics"

// Process-wide delivery metrics, exposed in Prometheus text format on the
// API's /metrics route (see server).
var (
	attemptsSucceeded = metrics.NewCounter(`herald_attempts_total{outcome="success"}`)
	attemptsFailed    = metrics.NewCounter(`herald_attempts_total{outcome="fail"}`)
	attemptsRetried   = metrics.NewCounter(`herald_attempts_retry_scheduled_total`)
	deliveriesFailed  = metrics.NewCounter(`herald_deliveries_failed_total`)
	endpointsDisabled = metrics.NewCounter(`herald_endpoints_disabled_total`)
	attemptDuration   = metrics.NewHistogram(`herald_attempt_duration_seconds`)
	outcomesLost      = metrics.NewCounter(`herald_attempt_outcomes_not_recorded_total`)
	catchUpsStarted   = metrics.NewCounter(`herald_endpoint_catch_ups_total`)
)
