package appliance_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
	"github.com/svix/svix-webhooks/go/utils"
)

func TestApplicationsWithSDK(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk

	before := time.Now().Add(-time.Second)
	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{
		Name: "Acme", Uid: ptr("acme-1"), Metadata: &map[string]string{"tier": "gold"},
	}, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !strings.HasPrefix(app.Id, "app_") || app.Name != "Acme" || app.Uid == nil || *app.Uid != "acme-1" {
		t.Fatalf("Create returned %+v", app)
	}
	if app.Metadata["tier"] != "gold" {
		t.Errorf("metadata = %v", app.Metadata)
	}
	if app.CreatedAt.Before(before) || app.CreatedAt.After(time.Now().Add(time.Second)) || app.UpdatedAt.IsZero() {
		t.Errorf("timestamps createdAt=%v updatedAt=%v", app.CreatedAt, app.UpdatedAt)
	}

	// Get by id and by uid return the same application.
	for _, ref := range []string{app.Id, "acme-1"} {
		got, err := sdk.Application.Get(ctx(t), ref)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		if got.Id != app.Id || got.Name != "Acme" {
			t.Errorf("Get(%s) = %+v", ref, got)
		}
	}

	// A uid that is taken is a conflict.
	if _, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Other", Uid: ptr("acme-1")}, nil); err == nil {
		t.Error("Create with a taken uid succeeded")
	} else if st := sdkStatus(t, err); st != http.StatusConflict {
		t.Errorf("Create with a taken uid: status %d, want 409", st)
	}

	// GetOrCreate returns the existing application for a known uid, and
	// creates one for a new uid.
	same, err := sdk.Application.GetOrCreate(ctx(t), models.ApplicationIn{Name: "Ignored", Uid: ptr("acme-1")}, nil)
	if err != nil {
		t.Fatalf("GetOrCreate existing: %v", err)
	}
	if same.Id != app.Id || same.Name != "Acme" {
		t.Errorf("GetOrCreate existing = %+v, want app %s named Acme", same, app.Id)
	}
	fresh, err := sdk.Application.GetOrCreate(ctx(t), models.ApplicationIn{Name: "Fresh", Uid: ptr("fresh-1")}, nil)
	if err != nil {
		t.Fatalf("GetOrCreate new: %v", err)
	}
	if fresh.Id == app.Id || fresh.Name != "Fresh" {
		t.Errorf("GetOrCreate new = %+v", fresh)
	}

	// Update (PUT) replaces the application.
	upd, err := sdk.Application.Update(ctx(t), app.Id, models.ApplicationIn{
		Name: "Acme Corp", Uid: ptr("acme-1"), ThrottleRate: ptr(uint16(10)),
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if upd.Id != app.Id || upd.Name != "Acme Corp" || upd.ThrottleRate == nil || *upd.ThrottleRate != 10 {
		t.Errorf("Update = %+v", upd)
	}
	if len(upd.Metadata) != 0 {
		t.Errorf("PUT without metadata kept %v", upd.Metadata)
	}
	if !upd.UpdatedAt.After(app.UpdatedAt) && !upd.UpdatedAt.Equal(app.UpdatedAt) {
		t.Errorf("updatedAt went back: %v -> %v", app.UpdatedAt, upd.UpdatedAt)
	}
	if !upd.CreatedAt.Equal(app.CreatedAt) {
		t.Errorf("PUT changed createdAt: %v -> %v", app.CreatedAt, upd.CreatedAt)
	}

	// Patch: the name alone, then a new uid, then no uid.
	p, err := sdk.Application.Patch(ctx(t), app.Id, models.ApplicationPatch{Name: ptr("Acme Patched")})
	if err != nil {
		t.Fatalf("Patch name: %v", err)
	}
	if p.Name != "Acme Patched" || p.Uid == nil || *p.Uid != "acme-1" || p.ThrottleRate == nil || *p.ThrottleRate != 10 {
		t.Errorf("Patch name = %+v", p)
	}
	p, err = sdk.Application.Patch(ctx(t), app.Id, models.ApplicationPatch{Uid: utils.NewNullable("acme-2")})
	if err != nil {
		t.Fatalf("Patch uid: %v", err)
	}
	if p.Uid == nil || *p.Uid != "acme-2" || p.Name != "Acme Patched" {
		t.Errorf("Patch uid = %+v", p)
	}
	if got, err := sdk.Application.Get(ctx(t), "acme-2"); err != nil || got.Id != app.Id {
		t.Errorf("Get by the new uid: %+v, %v", got, err)
	}
	if _, err := sdk.Application.Get(ctx(t), "acme-1"); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("Get by the old uid after the change: %v, want 404", err)
	}
	p, err = sdk.Application.Patch(ctx(t), app.Id, models.ApplicationPatch{Uid: utils.NewNullableFromPtr[string](nil)})
	if err != nil {
		t.Fatalf("Patch uid null: %v", err)
	}
	if p.Uid != nil {
		t.Errorf("uid after clearing = %q", *p.Uid)
	}
	if _, err := sdk.Application.Get(ctx(t), "acme-2"); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("Get by a cleared uid: %v, want 404", err)
	}

	// Delete, then Get is a 404 for the id; Delete again is a 404 too.
	if err := sdk.Application.Delete(ctx(t), app.Id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := sdk.Application.Get(ctx(t), app.Id); err == nil {
		t.Fatal("Get after Delete succeeded")
	} else if st := sdkStatus(t, err); st != http.StatusNotFound {
		t.Errorf("Get after Delete: status %d, want 404", st)
	}
	if err := sdk.Application.Delete(ctx(t), app.Id); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("second Delete: %v, want 404", err)
	}
}

func TestApplicationListPagination(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk

	want := map[string]bool{}
	var order []string
	for i := range 7 {
		app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "app " + string(rune('a'+i))}, nil)
		if err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
		want[app.Id] = true
		order = append(order, app.Id)
	}

	seen := map[string]bool{}
	var got []string
	var iter *string
	pages := 0
	for {
		page, err := sdk.Application.List(ctx(t), &svix.ApplicationListOptions{Limit: ptr(uint64(3)), Iterator: iter})
		if err != nil {
			t.Fatalf("List page %d: %v", pages+1, err)
		}
		pages++
		if len(page.Data) > 3 {
			t.Fatalf("page %d has %d items, limit 3", pages, len(page.Data))
		}
		for _, a := range page.Data {
			if seen[a.Id] {
				t.Errorf("app %s listed twice", a.Id)
			}
			seen[a.Id] = true
			got = append(got, a.Id)
		}
		if page.Done {
			break
		}
		if page.Iterator == nil || *page.Iterator == "" {
			t.Fatalf("page %d is not done but has no iterator", pages)
		}
		iter = page.Iterator
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 {
		t.Errorf("7 apps in pages of 3 took %d pages, want 3", pages)
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("app %s never listed", id)
		}
	}
	if !slices.Equal(got, order) {
		t.Errorf("default order is not creation order:\n got %v\nwant %v", got, order)
	}

	desc, err := sdk.Application.List(ctx(t), &svix.ApplicationListOptions{Limit: ptr(uint64(2)), Order: ptr(models.ORDERING_DESCENDING)})
	if err != nil {
		t.Fatalf("List descending: %v", err)
	}
	if len(desc.Data) != 2 || desc.Data[0].Id != order[6] || desc.Data[1].Id != order[5] || desc.Done {
		t.Errorf("descending first page = %v done=%v", ids(desc.Data, func(a models.ApplicationOut) string { return a.Id }), desc.Done)
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func TestEndpointsWithSDK(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	rc := newReceiver(t)

	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Endpoints"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"user.created", "user.deleted"} {
		if _, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: name, Description: name}, nil); err != nil {
			t.Fatal(err)
		}
	}

	rawKey := make([]byte, 32)
	for i := range rawKey {
		rawKey[i] = byte(i + 1)
	}
	customSecret := "whsec_" + base64.StdEncoding.EncodeToString(rawKey)
	ep, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{
		Url:         rc.URL("/hook"),
		Uid:         ptr("primary"),
		Description: ptr("primary endpoint"),
		FilterTypes: []string{"user.created"},
		Channels:    []string{"project.1"},
		Metadata:    &map[string]string{"owner": "ops"},
		Headers:     &map[string]string{"X-Custom": "yes"},
		Secret:      ptr(customSecret),
	}, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !strings.HasPrefix(ep.Id, "ep_") || ep.Url != rc.URL("/hook") || ep.Uid == nil || *ep.Uid != "primary" ||
		ep.Description != "primary endpoint" || ep.Version != 1 || (ep.Disabled != nil && *ep.Disabled) {
		t.Errorf("Create = %+v", ep)
	}
	if !slices.Equal(ep.FilterTypes, []string{"user.created"}) || !slices.Equal(ep.Channels, []string{"project.1"}) || ep.Metadata["owner"] != "ops" {
		t.Errorf("Create filters/metadata = %v %v %v", ep.FilterTypes, ep.Channels, ep.Metadata)
	}

	// The secret given with the prefix is kept as is.
	sec, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, ep.Id)
	if err != nil {
		t.Fatalf("GetSecret: %v", err)
	}
	if sec.Key != customSecret {
		t.Errorf("GetSecret = %q, want the custom secret", sec.Key)
	}

	// A secret given without the prefix is accepted and returned with it.
	bare := base64.StdEncoding.EncodeToString(rawKey[:24])
	ep2, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/two"), Secret: ptr(bare)}, nil)
	if err != nil {
		t.Fatalf("Create with an unprefixed secret: %v", err)
	}
	sec2, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, ep2.Id)
	if err != nil {
		t.Fatal(err)
	}
	if sec2.Key != "whsec_"+bare {
		t.Errorf("unprefixed secret came back as %q, want whsec_%s", sec2.Key, bare)
	}

	// A generated secret is whsec_ + base64 of at least 24 bytes.
	ep3, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/three")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec3, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, ep3.Id)
	if err != nil {
		t.Fatal(err)
	}
	checkSecretFormat(t, sec3.Key)

	// The secret never appears in an EndpointOut, in any response.
	for _, path := range []string{
		"/api/v1/app/" + app.Id + "/endpoint/" + ep.Id,
		"/api/v1/app/" + app.Id + "/endpoint/" + ep3.Id,
		"/api/v1/app/" + app.Id + "/endpoint",
	} {
		r := n.do(http.MethodGet, path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		checkNoSecret(t, r.body, customSecret, sec3.Key)
	}
	created := n.do(http.MethodPost, "/api/v1/app/"+app.Id+"/endpoint", map[string]any{"url": rc.URL("/raw")})
	if created.status != http.StatusCreated {
		t.Fatalf("raw create: %d %s", created.status, created.body)
	}
	checkNoSecret(t, created.body)
	var rawEp models.EndpointOut
	created.json(t, &rawEp)
	rawSec, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, rawEp.Id)
	if err != nil {
		t.Fatal(err)
	}
	checkSecretFormat(t, rawSec.Key)
	checkNoSecret(t, created.body, rawSec.Key)

	// Get by id and by uid.
	for _, ref := range []string{ep.Id, "primary"} {
		got, err := sdk.Endpoint.Get(ctx(t), app.Id, ref)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		if got.Id != ep.Id || got.Url != ep.Url {
			t.Errorf("Get(%s) = %+v", ref, got)
		}
	}

	// List returns all four, newest first as in Svix.
	list, err := sdk.Endpoint.List(ctx(t), app.Id, nil)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got := ids(list.Data, func(e models.EndpointOut) string { return e.Id }); !slices.Equal(got, []string{rawEp.Id, ep3.Id, ep2.Id, ep.Id}) || !list.Done {
		t.Errorf("List = %v done=%v", got, list.Done)
	}

	// Update (PUT) replaces settings; the secret and headers stay.
	upd, err := sdk.Endpoint.Update(ctx(t), app.Id, ep.Id, models.EndpointUpdate{
		Url: rc.URL("/hook2"), Uid: ptr("primary"), Description: ptr("moved"), FilterTypes: []string{"user.created", "user.deleted"},
		Version: ptr(uint16(2)),
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if upd.Url != rc.URL("/hook2") || upd.Description != "moved" || upd.Version != 2 || len(upd.Channels) != 0 ||
		!slices.Equal(upd.FilterTypes, []string{"user.created", "user.deleted"}) || len(upd.Metadata) != 0 {
		t.Errorf("Update = %+v", upd)
	}
	if sec, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, ep.Id); err != nil || sec.Key != customSecret {
		t.Errorf("secret after Update = %v, %v", sec, err)
	}

	// Patch: set channels and disable; clear the filter types.
	pt, err := sdk.Endpoint.Patch(ctx(t), app.Id, ep.Id, models.EndpointPatch{
		Channels: utils.NewNullable([]string{"project.2"}), Disabled: ptr(true),
		FilterTypes: utils.NewNullableFromPtr[[]string](nil),
	})
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	if !slices.Equal(pt.Channels, []string{"project.2"}) || pt.Disabled == nil || !*pt.Disabled || len(pt.FilterTypes) != 0 ||
		pt.Url != rc.URL("/hook2") || pt.Description != "moved" {
		t.Errorf("Patch = %+v", pt)
	}
	pt, err = sdk.Endpoint.Patch(ctx(t), app.Id, "primary", models.EndpointPatch{Uid: utils.NewNullable("renamed"), Disabled: ptr(false)})
	if err != nil {
		t.Fatalf("Patch uid: %v", err)
	}
	if pt.Uid == nil || *pt.Uid != "renamed" || (pt.Disabled != nil && *pt.Disabled) {
		t.Errorf("Patch uid = %+v", pt)
	}

	// Delete, then Get is a 404.
	if err := sdk.Endpoint.Delete(ctx(t), app.Id, ep.Id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := sdk.Endpoint.Get(ctx(t), app.Id, ep.Id); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("Get after Delete: %v, want 404", err)
	}
	if _, err := sdk.Endpoint.GetSecret(ctx(t), app.Id, ep.Id); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("GetSecret after Delete: %v, want 404", err)
	}
	list, err = sdk.Endpoint.List(ctx(t), app.Id, nil)
	if err != nil || len(list.Data) != 3 {
		t.Errorf("List after Delete: %d endpoints, %v", len(list.Data), err)
	}
}

// checkSecretFormat checks a secret is whsec_ + base64 of 24+ bytes.
func checkSecretFormat(t *testing.T, s string) {
	t.Helper()
	enc, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		t.Errorf("secret %q lacks the whsec_ prefix", s)
		return
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) < 24 {
		t.Errorf("secret is not base64 of >= 24 bytes (%d bytes, %v)", len(key), err)
	}
}

// checkNoSecret fails if a response body carries a secret field or value.
func checkNoSecret(t *testing.T, body []byte, secrets ...string) {
	t.Helper()
	if strings.Contains(string(body), "whsec_") {
		t.Errorf("response carries a whsec_ value: %s", body)
	}
	for _, s := range secrets {
		if strings.Contains(string(body), strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("response carries the endpoint secret: %s", body)
		}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.EqualFold(k, "secret") || strings.EqualFold(k, "key") {
					t.Errorf("response has a %q field: %s", k, body)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}

func TestEventTypesWithSDK(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk

	schema := map[string]any{"1": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}}}}
	et, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{
		Name: "invoice.paid", Description: "An invoice was paid", GroupName: ptr("invoice"),
		FeatureFlags: []string{"beta"}, Schemas: &schema,
	}, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if et.Name != "invoice.paid" || et.Description != "An invoice was paid" || et.Deprecated ||
		(et.Archived != nil && *et.Archived) || et.GroupName == nil || *et.GroupName != "invoice" ||
		!slices.Equal(et.FeatureFlags, []string{"beta"}) || et.Schemas == nil || et.CreatedAt.IsZero() {
		t.Errorf("Create = %+v", et)
	}
	if _, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: "invoice.created", Description: "created"}, nil); err != nil {
		t.Fatal(err)
	}

	// Creating an active name again is a conflict and changes nothing.
	if _, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: "invoice.paid", Description: "again"}, nil); err == nil {
		t.Error("duplicate Create succeeded")
	} else if st := sdkStatus(t, err); st != http.StatusConflict {
		t.Errorf("duplicate Create: status %d, want 409", st)
	}

	got, err := sdk.EventType.Get(ctx(t), "invoice.paid")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Description != "An invoice was paid" || got.Schemas == nil {
		t.Errorf("Get = %+v", got)
	}
	if _, err := sdk.EventType.Get(ctx(t), "no.such"); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("Get unknown: %v, want 404", err)
	}

	// Update (PUT) replaces; Patch changes only what it names.
	upd, err := sdk.EventType.Update(ctx(t), "invoice.paid", models.EventTypeUpdate{Description: "Paid in full", Deprecated: ptr(true)})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if upd.Description != "Paid in full" || !upd.Deprecated || upd.GroupName != nil || !upd.CreatedAt.Equal(et.CreatedAt) {
		t.Errorf("Update = %+v", upd)
	}
	pt, err := sdk.EventType.Patch(ctx(t), "invoice.paid", models.EventTypePatch{
		Description: ptr("Patched"), GroupName: utils.NewNullable("billing"),
	})
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	if pt.Description != "Patched" || !pt.Deprecated || pt.GroupName == nil || *pt.GroupName != "billing" {
		t.Errorf("Patch = %+v", pt)
	}

	names := func(l *models.ListResponseEventTypeOut) []string {
		return ids(l.Data, func(e models.EventTypeOut) string { return e.Name })
	}
	list, err := sdk.EventType.List(ctx(t), nil)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(names(list), []string{"invoice.created", "invoice.paid"}) || !list.Done {
		t.Errorf("List = %v", names(list))
	}

	// Delete archives: gone from the default list, present with
	// include_archived, and still readable.
	if err := sdk.EventType.Delete(ctx(t), "invoice.paid", nil); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	list, err = sdk.EventType.List(ctx(t), &svix.EventTypeListOptions{IncludeArchived: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(list), []string{"invoice.created"}) {
		t.Errorf("List without archived = %v", names(list))
	}
	list, err = sdk.EventType.List(ctx(t), &svix.EventTypeListOptions{IncludeArchived: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(list), []string{"invoice.created", "invoice.paid"}) {
		t.Errorf("List with archived = %v", names(list))
	}
	for _, e := range list.Data {
		archived := e.Archived != nil && *e.Archived
		if archived != (e.Name == "invoice.paid") {
			t.Errorf("%s archived = %v", e.Name, archived)
		}
	}
	if got, err := sdk.EventType.Get(ctx(t), "invoice.paid"); err != nil || got.Archived == nil || !*got.Archived {
		t.Errorf("Get archived = %+v, %v", got, err)
	}

	// Create on an archived name unarchives it (Svix: "Create new or
	// unarchive existing event type"), replacing the description, and the
	// answer matches what a Get reads back.
	un, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: "invoice.paid", Description: "Back again"}, nil)
	if err != nil {
		t.Fatalf("Create on an archived name: %v", err)
	}
	if (un.Archived != nil && *un.Archived) || un.Description != "Back again" || un.Schemas != nil {
		t.Errorf("unarchived = %+v", un)
	}
	back, err := sdk.EventType.Get(ctx(t), "invoice.paid")
	if err != nil {
		t.Fatal(err)
	}
	if (back.Archived != nil && *back.Archived) || back.Description != "Back again" {
		t.Errorf("Get after unarchive = %+v", back)
	}
	if !un.CreatedAt.Equal(back.CreatedAt) || !back.CreatedAt.Equal(et.CreatedAt) {
		t.Errorf("createdAt: first create %v, unarchive answer %v, Get %v; want all equal", et.CreatedAt, un.CreatedAt, back.CreatedAt)
	}
	list, err = sdk.EventType.List(ctx(t), nil)
	if err != nil || !slices.Equal(names(list), []string{"invoice.created", "invoice.paid"}) {
		t.Errorf("List after unarchive = %v, %v", names(list), err)
	}

	// Expunge removes it for good.
	if err := sdk.EventType.Delete(ctx(t), "invoice.created", &svix.EventTypeDeleteOptions{Expunge: ptr(true)}); err != nil {
		t.Fatalf("Delete expunge: %v", err)
	}
	if _, err := sdk.EventType.Get(ctx(t), "invoice.created"); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("Get after expunge: %v, want 404", err)
	}
}
