package server

import (
	"net/http"
	"strings"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// What an application token may do is a set of Svix's app portal
// capabilities, stored with the token (its hash) and checked on every
// route against routeAccess, the one table that maps routes to them.
// Admin tokens may do everything. A route missing from the table is
// refused to application tokens, so a new route is closed until someone
// decides who may call it (TestRouteAccessCoversEveryRoute fails until
// then).

// capability is one app-portal capability, a bit of a capability set.
type capability uint8

// The capabilities, as Svix documents them (AppPortalAccessIn).
const (
	// capViewBase: read the application, its endpoints (not their
	// secrets), headers (credentials by name only), messages, attempts,
	// event types.
	capViewBase capability = 1 << iota
	// capViewEndpointSecret: read endpoints' signing secrets.
	capViewEndpointSecret
	// capManageEndpointSecret: rotate signing secrets, and read them.
	capManageEndpointSecret
	// capManageTransformations: change endpoint transformations (Herald
	// runs none, but the route answers as Svix's does).
	capManageTransformations
	// capCreateAttempts: resend messages, recover failed ones, replay
	// missing ones.
	capCreateAttempts
	// capManageEndpoint: create, change and delete endpoints and their
	// headers, including their secrets.
	capManageEndpoint

	// allCapabilities is what a token gets when none are named.
	allCapabilities = capViewBase | capViewEndpointSecret | capManageEndpointSecret |
		capManageTransformations | capCreateAttempts | capManageEndpoint
	// readCapabilities change nothing.
	readCapabilities = capViewBase | capViewEndpointSecret
)

// capabilityNames are Svix's names, in Svix's order.
var capabilityNames = []struct {
	c    capability
	name string
}{
	{capViewBase, "ViewBase"},
	{capViewEndpointSecret, "ViewEndpointSecret"},
	{capManageEndpointSecret, "ManageEndpointSecret"},
	{capManageTransformations, "ManageTransformations"},
	{capCreateAttempts, "CreateAttempts"},
	{capManageEndpoint, "ManageEndpoint"},
}

// parseCapability returns the capability named name (Svix's spelling).
func parseCapability(name string) (capability, bool) {
	for _, cn := range capabilityNames {
		if cn.name == name {
			return cn.c, true
		}
	}
	return 0, false
}

// names lists the capabilities of set in Svix's order.
func (set capability) names() []string {
	out := []string{}
	for _, cn := range capabilityNames {
		if set&cn.c != 0 {
			out = append(out, cn.name)
		}
	}
	return out
}

// tokenCapabilities is what a stored token may do: its list, or the
// default for its kind (read-only: ViewBase; otherwise everything). Names
// this node does not know (from a newer version) grant nothing.
func tokenCapabilities(t *storage.AppToken) capability {
	if len(t.Capabilities) == 0 {
		if t.ReadOnly {
			return capViewBase
		}
		return allCapabilities
	}
	var set capability
	for _, name := range t.Capabilities {
		c, _ := parseCapability(name)
		set |= c
	}
	return set
}

// access says who may call a route: application tokens holding any one
// of anyOf, or any valid token at all.
type access struct {
	anyOf    capability
	anyToken bool
	public   bool // no token needed (health)
}

// Route classes. adminOnly is the zero value: no capability suffices.
var (
	public         = access{public: true}
	adminOnly      = access{}
	anyToken       = access{anyToken: true}
	viewBase       = access{anyOf: capViewBase}
	viewSecret     = access{anyOf: capViewEndpointSecret | capManageEndpointSecret | capManageEndpoint}
	rotateSecret   = access{anyOf: capManageEndpointSecret | capManageEndpoint}
	manageEndpoint = access{anyOf: capManageEndpoint}
	createAttempts = access{anyOf: capCreateAttempts}
	manageTransf   = access{anyOf: capManageTransformations}
)

// routeAccess maps every route ("METHOD pattern", as registered in
// routes) to who may call it.
var routeAccess = map[string]access{
	"GET /api/v1/health":       public,
	"GET /api/v1/openapi.json": public,

	"GET /api/v1/app":             adminOnly,
	"POST /api/v1/app":            adminOnly,
	"GET /api/v1/app/{app_id}":    viewBase,
	"PUT /api/v1/app/{app_id}":    adminOnly,
	"PATCH /api/v1/app/{app_id}":  adminOnly,
	"DELETE /api/v1/app/{app_id}": adminOnly,
	// The secret of the app's one-off destinations: as endpoint secrets.
	"GET /api/v1/app/{app_id}/secret":         viewSecret,
	"POST /api/v1/app/{app_id}/secret/rotate": rotateSecret,

	"GET /api/v1/app/{app_id}/endpoint":                                     viewBase,
	"POST /api/v1/app/{app_id}/endpoint":                                    manageEndpoint,
	"GET /api/v1/app/{app_id}/endpoint/{endpoint_id}":                       viewBase,
	"PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}":                       manageEndpoint,
	"PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}":                     manageEndpoint,
	"DELETE /api/v1/app/{app_id}/endpoint/{endpoint_id}":                    manageEndpoint,
	"GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret":                viewSecret,
	"POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate":        rotateSecret,
	"POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover":              createAttempts,
	"POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing":       createAttempts,
	"GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation":        viewBase,
	"PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation":      manageTransf,
	"GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers":               viewBase,
	"PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers":               manageEndpoint,
	"PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers":             manageEndpoint,
	"GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/msg":                   viewBase,
	"GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/stats":                 viewBase,
	"POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example":         createAttempts,
	"GET /api/v1/event-type":                                                viewBase,
	"POST /api/v1/event-type":                                               adminOnly,
	"POST /api/v1/event-type/import/openapi":                                adminOnly,
	"GET /api/v1/event-type/{event_type_name}":                              viewBase,
	"PUT /api/v1/event-type/{event_type_name}":                              adminOnly,
	"PATCH /api/v1/event-type/{event_type_name}":                            adminOnly,
	"DELETE /api/v1/event-type/{event_type_name}":                           adminOnly,
	"GET /api/v1/app/{app_id}/msg":                                          viewBase,
	"POST /api/v1/app/{app_id}/msg":                                         adminOnly,
	"POST /api/v1/app/{app_id}/msg/precheck/active":                         viewBase,
	"GET /api/v1/app/{app_id}/msg/{msg_id}":                                 viewBase,
	"GET /api/v1/app/{app_id}/msg/{msg_id}/endpoint":                        viewBase,
	"POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend":  createAttempts,
	"GET /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}":            viewBase,
	"GET /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/headers":    viewBase,
	"DELETE /api/v1/app/{app_id}/msg/{msg_id}/content":                      adminOnly,
	"POST /api/v1/app/{app_id}/msg/expunge-all-contents":                    adminOnly,
	"DELETE /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content": adminOnly,
	"GET /api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}":               viewBase,
	"GET /api/v1/app/{app_id}/attempt/msg/{msg_id}":                         viewBase,
	"GET /api/v1/app/{app_id}/delivery":                                     viewBase,

	"GET /api/v1/operational-webhook/endpoint":                              adminOnly,
	"POST /api/v1/operational-webhook/endpoint":                             adminOnly,
	"GET /api/v1/operational-webhook/endpoint/{endpoint_id}":                adminOnly,
	"PUT /api/v1/operational-webhook/endpoint/{endpoint_id}":                adminOnly,
	"DELETE /api/v1/operational-webhook/endpoint/{endpoint_id}":             adminOnly,
	"GET /api/v1/operational-webhook/endpoint/{endpoint_id}/secret":         adminOnly,
	"POST /api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate": adminOnly,
	"GET /api/v1/operational-webhook/endpoint/{endpoint_id}/headers":        adminOnly,
	"PUT /api/v1/operational-webhook/endpoint/{endpoint_id}/headers":        adminOnly,

	"POST /api/v1/auth/app-portal-access/{app_id}": adminOnly,
	"POST /api/v1/auth/dashboard-access/{app_id}":  adminOnly,
	"POST /api/v1/auth/app/{app_id}/expire-all":    adminOnly,
	"POST /api/v1/auth/logout":                     anyToken,
	"GET /api/v1/auth/session":                     anyToken,

	"GET /api/v1/background-task":           adminOnly,
	"GET /api/v1/background-task/{task_id}": adminOnly,
	"POST /api/v1/stats/usage/app":          adminOnly,
	"PUT /api/v1/stats/usage/event-types":   adminOnly,

	"GET /metrics":                                     adminOnly,
	"GET /api/v1/backup":                               adminOnly,
	"GET /api/v1/cluster":                              adminOnly,
	"GET /api/v1/cluster/node":                         adminOnly,
	"POST /api/v1/cluster/join":                        adminOnly,
	"DELETE /api/v1/cluster/node/{node_id}":            adminOnly,
	"POST /api/v1/cluster/node/{node_id}/allow-rejoin": adminOnly,
}

// authorize refuses a request its principal may not make on the matched
// route. Handlers still scope application tokens to their application.
func authorize(c *fasthttp.RequestCtx, p principal) error {
	if p.admin {
		return nil
	}
	pattern, _ := c.UserValue(router.MatchedRoutePathParam).(string)
	a, ok := routeAccess[string(c.Method())+" "+pattern]
	switch {
	case !ok || a.public:
		// Unclassified routes are closed to application tokens.
		return errForbidden
	case a.anyToken:
		return nil
	case a.anyOf == 0:
		return errForbidden
	case p.caps&a.anyOf != 0:
		return nil
	}
	return errorf(http.StatusForbidden, "insufficient_capability",
		"The token lacks the capability this operation needs: one of "+strings.Join(a.anyOf.names(), ", ")+".")
}
