package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// TestRouteAccessCoversEveryRoute: every API route is classified in
// routeAccess, and every entry names a registered route, so a new route
// cannot be reachable by application tokens by accident, nor a renamed one
// be left unguarded.
func TestRouteAccessCoversEveryRoute(t *testing.T) {
	r := router.New()
	(&Server{}).routes(r)
	registered := map[string]bool{}
	for method, paths := range r.List() {
		for _, path := range paths {
			route := method + " " + path
			registered[route] = true
			if !strings.HasPrefix(path, "/api/") && path != "/metrics" {
				continue // portal assets and the like are not API routes
			}
			if _, ok := routeAccess[route]; !ok {
				t.Errorf("%s is not in routeAccess: decide which capability it needs", route)
			}
		}
	}
	for route := range routeAccess {
		if !registered[route] {
			t.Errorf("routeAccess names %s, which is not a route", route)
		}
	}
}

// TestCapabilitiesPerRouteClass drives authorize with a token holding one
// capability at a time (and the default sets) against one route of every
// class: each is let through exactly where Svix's description of the
// capability says.
func TestCapabilitiesPerRouteClass(t *testing.T) {
	const (
		vb  = "ViewBase"
		ves = "ViewEndpointSecret"
		mes = "ManageEndpointSecret"
		mt  = "ManageTransformations"
		ca  = "CreateAttempts"
		me  = "ManageEndpoint"
	)
	all := []string{vb, ves, mes, mt, ca, me}
	ep := "/api/v1/app/{app_id}/endpoint/{endpoint_id}"
	routes := []struct {
		route   string
		allowed []string // capabilities that open it; nil = admin only
	}{
		{"GET /api/v1/app/{app_id}", []string{vb}},
		{"GET /api/v1/app/{app_id}/endpoint", []string{vb}},
		{"GET " + ep, []string{vb}},
		{"GET " + ep + "/headers", []string{vb}},
		{"GET /api/v1/app/{app_id}/msg", []string{vb}},
		{"GET /api/v1/app/{app_id}/attempt/msg/{msg_id}", []string{vb}},
		{"GET /api/v1/event-type", []string{vb}},
		{"GET " + ep + "/secret", []string{ves, mes, me}},
		{"POST " + ep + "/secret/rotate", []string{mes, me}},
		{"POST /api/v1/app/{app_id}/endpoint", []string{me}},
		{"PATCH " + ep, []string{me}},
		{"PUT " + ep, []string{me}},
		{"DELETE " + ep, []string{me}},
		{"PUT " + ep + "/headers", []string{me}},
		{"PATCH " + ep + "/headers", []string{me}},
		{"POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", []string{ca}},
		{"POST " + ep + "/recover", []string{ca}},
		{"POST " + ep + "/replay-missing", []string{ca}},
		{"GET " + ep + "/transformation", []string{vb}},
		{"PATCH " + ep + "/transformation", []string{mt}},
		{"POST /api/v1/app/{app_id}/msg/precheck/active", []string{vb}},
		{"GET /api/v1/background-task", nil},
		{"POST /api/v1/stats/usage/app", nil},
		{"POST /api/v1/event-type/import/openapi", nil},
		{"POST /api/v1/auth/logout", all},
		{"GET /api/v1/auth/session", all},
		{"GET /api/v1/app", nil},
		{"POST /api/v1/app/{app_id}/msg", nil},
		{"POST /api/v1/event-type", nil},
		{"POST /api/v1/auth/app-portal-access/{app_id}", nil},
		{"GET /api/v1/cluster", nil},
		{"GET /metrics", nil},
		{"GET /api/v1/not-a-route", nil}, // unclassified: closed
	}
	tokens := map[string]storage.AppToken{"default": {}, "readOnly": {ReadOnly: true}}
	for _, name := range all {
		tokens[name] = storage.AppToken{Capabilities: []string{name}}
	}
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt.route, " ")
		for tokName, tok := range tokens {
			var want bool
			switch tokName {
			case "default":
				want = rt.allowed != nil
			case "readOnly":
				want = slices.Contains(rt.allowed, vb)
			default:
				want = slices.Contains(rt.allowed, tokName)
			}
			var c fasthttp.RequestCtx
			c.Request.Header.SetMethod(method)
			c.SetUserValue(router.MatchedRoutePathParam, pattern)
			err := authorize(&c, principal{appID: "app_1", caps: tokenCapabilities(&tok)})
			if got := err == nil; got != want {
				t.Errorf("%s with %s token: allowed = %v (%v), want %v", rt.route, tokName, got, err, want)
			}
			if err != nil {
				if ae, ok := err.(*apiError); !ok || ae.status != 403 {
					t.Errorf("%s with %s token: err = %v, want a 403", rt.route, tokName, err)
				}
			}
		}
		// Admin tokens pass everywhere.
		var c fasthttp.RequestCtx
		c.Request.Header.SetMethod(method)
		c.SetUserValue(router.MatchedRoutePathParam, pattern)
		if err := authorize(&c, principal{admin: true}); err != nil {
			t.Errorf("%s with an admin token: %v", rt.route, err)
		}
	}
}

// TestCheckCapabilities: the capability list of an app-portal request.
func TestCheckCapabilities(t *testing.T) {
	cases := []struct {
		list     []string
		readOnly bool
		want     capability
		bad      bool
	}{
		{nil, false, allCapabilities, false},
		{nil, true, capViewBase, false},
		{[]string{"ViewBase"}, true, capViewBase, false},
		{[]string{"ViewBase", "CreateAttempts", "ViewBase"}, false, capViewBase | capCreateAttempts, false},
		{[]string{"ViewBase", "ViewEndpointSecret", "ManageEndpointSecret", "ManageTransformations", "CreateAttempts", "ManageEndpoint"}, false, allCapabilities, false},
		{[]string{"ViewBase", "Admin"}, false, 0, true},             // unknown
		{[]string{"viewbase"}, false, 0, true},                      // names are exact
		{[]string{"ManageEndpoint"}, false, 0, true},                // ViewBase is required
		{[]string{}, false, 0, true},                                // empty is not "all"
		{slices.Repeat([]string{"ViewBase"}, 13), false, 0, true},   // bounded
		{[]string{"ViewBase", "ViewEndpointSecret"}, true, 0, true}, // read-only is ViewBase only
	}
	for _, tc := range cases {
		var v violations
		got := checkCapabilities(&v, tc.list, tc.readOnly)
		if err := v.err(); (err != nil) != tc.bad {
			t.Errorf("checkCapabilities(%q, readOnly=%v): err = %v, want bad=%v", tc.list, tc.readOnly, err, tc.bad)
			continue
		}
		if !tc.bad && got != tc.want {
			t.Errorf("checkCapabilities(%q, readOnly=%v) = %v, want %v", tc.list, tc.readOnly, got.names(), tc.want.names())
		}
	}
	// Unknown names stored by a newer node grant nothing here.
	if got := tokenCapabilities(&storage.AppToken{Capabilities: []string{"ViewBase", "FromTheFuture"}}); got != capViewBase {
		t.Errorf("tokenCapabilities with an unknown name = %v", got.names())
	}
}
