package server

import (
	"net/http"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// routes registers every path, Svix's v1 layout.
func (s *Server) routes(r *router.Router) {
	r.GET("/api/v1/health", s.health)
	r.GET("/api/v1/openapi.json", s.serveOpenAPI)

	r.GET("/api/v1/app", s.authed(s.listApps))
	r.POST("/api/v1/app", s.write(s.createApp))
	r.GET("/api/v1/app/{app_id}", s.authed(s.getApp))
	r.PUT("/api/v1/app/{app_id}", s.write(s.updateApp))
	r.PATCH("/api/v1/app/{app_id}", s.write(s.patchApp))
	r.DELETE("/api/v1/app/{app_id}", s.write(s.deleteApp))
	// Herald additions: the secret that signs one-off destinations.
	r.GET("/api/v1/app/{app_id}/secret", s.authed(s.getAppSecret))
	r.POST("/api/v1/app/{app_id}/secret/rotate", s.write(s.rotateAppSecret))

	r.GET("/api/v1/app/{app_id}/endpoint", s.authed(s.listEndpoints))
	r.POST("/api/v1/app/{app_id}/endpoint", s.write(s.createEndpoint))
	r.GET("/api/v1/app/{app_id}/endpoint/{endpoint_id}", s.authed(s.getEndpoint))
	r.PUT("/api/v1/app/{app_id}/endpoint/{endpoint_id}", s.write(s.updateEndpoint))
	r.PATCH("/api/v1/app/{app_id}/endpoint/{endpoint_id}", s.write(s.patchEndpoint))
	r.DELETE("/api/v1/app/{app_id}/endpoint/{endpoint_id}", s.write(s.deleteEndpoint))
	r.GET("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", s.authed(s.getEndpointSecret))
	r.POST("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", s.write(s.rotateEndpointSecret))
	r.POST("/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", s.write(s.recoverEndpoint))
	r.POST("/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", s.write(s.replayMissing))
	r.GET("/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", s.authed(s.getEndpointHeaders))
	r.PUT("/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", s.write(s.updateEndpointHeaders))
	r.PATCH("/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", s.write(s.patchEndpointHeaders))
	r.GET("/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", s.authed(s.listEndpointMessages))
	r.GET("/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", s.authed(s.endpointStats))
	r.POST("/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", s.write(s.sendExample))
	r.GET("/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", s.authed(s.getTransformation))
	r.PATCH("/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", s.write(s.patchTransformation))

	r.GET("/api/v1/operational-webhook/endpoint", s.authed(s.listOpsEndpoints))
	r.POST("/api/v1/operational-webhook/endpoint", s.write(s.createOpsEndpoint))
	r.GET("/api/v1/operational-webhook/endpoint/{endpoint_id}", s.authed(s.getOpsEndpoint))
	r.PUT("/api/v1/operational-webhook/endpoint/{endpoint_id}", s.write(s.updateOpsEndpoint))
	r.DELETE("/api/v1/operational-webhook/endpoint/{endpoint_id}", s.write(s.deleteOpsEndpoint))
	r.GET("/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", s.authed(s.getOpsEndpointSecret))
	r.POST("/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", s.write(s.rotateEndpointSecret))
	r.GET("/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", s.authed(s.getEndpointHeaders))
	r.PUT("/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", s.write(s.updateEndpointHeaders))

	r.GET("/api/v1/event-type", s.authed(s.listEventTypes))
	r.POST("/api/v1/event-type", s.write(s.createEventType))
	r.POST("/api/v1/event-type/import/openapi", s.write(s.importOpenAPI))
	r.GET("/api/v1/event-type/{event_type_name}", s.authed(s.getEventType))
	r.PUT("/api/v1/event-type/{event_type_name}", s.write(s.updateEventType))
	r.PATCH("/api/v1/event-type/{event_type_name}", s.write(s.patchEventType))
	r.DELETE("/api/v1/event-type/{event_type_name}", s.write(s.deleteEventType))

	r.GET("/api/v1/app/{app_id}/msg", s.authed(s.listMessages))
	r.POST("/api/v1/app/{app_id}/msg", s.write(s.createMessage))
	r.POST("/api/v1/app/{app_id}/msg/precheck/active", s.authed(s.precheckMessage))
	r.POST("/api/v1/app/{app_id}/msg/expunge-all-contents", s.write(s.expungeAllContents))
	r.GET("/api/v1/app/{app_id}/msg/{msg_id}", s.authed(s.getMessage))
	r.GET("/api/v1/app/{app_id}/msg/{msg_id}/endpoint", s.authed(s.listMessageEndpoints))
	r.POST("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", s.write(s.resendMessage))
	r.GET("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", s.authed(s.getAttempt))
	r.GET("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/headers", s.authed(s.getAttemptHeaders))
	r.DELETE("/api/v1/app/{app_id}/msg/{msg_id}/content", s.write(s.expungeContent))
	r.DELETE("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", s.write(s.expungeAttemptContent))

	r.GET("/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", s.authed(s.listAttemptsByEndpoint))
	r.GET("/api/v1/app/{app_id}/attempt/msg/{msg_id}", s.authed(s.listAttemptsByMessage))
	r.GET("/api/v1/app/{app_id}/delivery", s.authed(s.listAppDeliveries))

	r.POST("/api/v1/auth/app-portal-access/{app_id}", s.write(s.appPortalAccess))
	r.POST("/api/v1/auth/dashboard-access/{app_id}", s.write(s.appPortalAccess))
	r.POST("/api/v1/auth/app/{app_id}/expire-all", s.write(s.expireAll))
	r.POST("/api/v1/auth/logout", s.write(s.logout))

	r.GET("/api/v1/background-task", s.authed(s.listBackgroundTasks))
	r.GET("/api/v1/background-task/{task_id}", s.authed(s.getBackgroundTask))
	r.POST("/api/v1/stats/usage/app", s.write(s.appUsageStats))
	r.PUT("/api/v1/stats/usage/event-types", s.write(s.aggregateEventTypes))

	// Herald additions.
	r.GET("/api/v1/auth/session", s.authed(s.session))
	if s.cfg.Portal != nil {
		// "/app-portal" itself is answered by the router's NotFound (see
		// Handler): registered here, it would hide "/app-portal/".
		r.GET("/app-portal/{path:*}", s.cfg.Portal)
	}
	r.GET("/metrics", s.authed(s.serveMetrics))
	r.GET("/api/v1/cluster", s.authed(s.clusterView))
	r.GET("/api/v1/backup", s.authed(s.backup))
	r.GET("/api/v1/cluster/node", s.authed(s.nodeStatus))
	r.POST("/api/v1/cluster/join", s.nodeOnly(s.write(s.joinCluster)))
	r.DELETE("/api/v1/cluster/node/{node_id}", s.write(s.removeNode))
	r.POST("/api/v1/cluster/node/{node_id}/allow-rejoin", s.write(s.allowRejoin))
}

// health answers 204 while the node serves, as Svix's health check does.
func (s *Server) health(c *fasthttp.RequestCtx) {
	if s.closing.Load() {
		s.writeError(c, errShuttingDown)
		return
	}
	c.SetStatusCode(http.StatusNoContent)
}

// listOptions reads limit, iterator, order, before and after. Lists of
// messages and attempts are newest first; others oldest first unless
// ?order=descending.
func listOptions(c *fasthttp.RequestCtx, newestFirst bool) (storage.ListOptions, error) {
	var v violations
	opts := storage.ListOptions{Limit: parseLimit(c, &v), Iterator: query(c, "iterator"), Descending: newestFirst}
	switch query(c, "order") {
	case "":
	case "ascending":
		opts.Descending = false
	case "descending":
		opts.Descending = true
	default:
		v.badQuery("must be ascending or descending", "order")
	}
	opts.Before = queryTime(c, "before", &v)
	opts.After = queryTime(c, "after", &v)
	return opts, v.err()
}
