package storage

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// Fixed ids: the operations only need ids to be unique and '/'-free.
const (
	tApp   = "app_A"
	tApp2  = "app_B"
	tMsg   = "msg_1"
	tMsg2  = "msg_2"
	tEpAll = "ep_1all"
)

func testApp(id, uid string) App {
	return App{ID: id, UID: uid, Name: "name " + id, CreatedAt: 10, UpdatedAt: 10}
}

func testEndpoint(appID, id, uid string) Endpoint {
	return Endpoint{ID: id, AppID: appID, UID: uid, URL: "https://example.com/" + id, CreatedAt: 20, UpdatedAt: 20}
}

// expectNoWrites applies fn, which must fail with want, and checks that the
// state did not change.
func expectNoWrites(t *testing.T, s *Store, want error, fn func(tx *Tx) error) {
	t.Helper()
	before := dumpState(t, s)
	if err := applyTx(t, s, fn); !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	assertSameState(t, dumpState(t, s), before)
}

func getApp(t *testing.T, s *Store, idOrUID string) (App, error) {
	t.Helper()
	var a App
	var err error
	view(t, s, func(r *Reader) error { a, err = r.App(idOrUID); return nil })
	return a, err
}

func getEndpoint(t *testing.T, s *Store, appID, idOrUID string) (Endpoint, error) {
	t.Helper()
	var ep Endpoint
	var err error
	view(t, s, func(r *Reader) error { ep, err = r.Endpoint(appID, idOrUID); return nil })
	return ep, err
}

func getDelivery(t *testing.T, s *Store, appID, msgID, epID string) (Delivery, error) {
	t.Helper()
	var dl Delivery
	var err error
	view(t, s, func(r *Reader) error { dl, err = r.Delivery(appID, msgID, epID); return nil })
	return dl, err
}

func getEventType(t *testing.T, s *Store, name string) (EventType, error) {
	t.Helper()
	var et EventType
	var err error
	view(t, s, func(r *Reader) error { et, err = r.EventType(name); return nil })
	return et, err
}

func TestCreateApp(t *testing.T) {
	s := openTestStore(t, "")
	a := App{ID: tApp, UID: "acme", Name: "Acme", Metadata: map[string]string{"k": "v"}, ThrottleRate: 5, CreatedAt: 1, UpdatedAt: 2}
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(a) })
	for _, key := range []string{tApp, "acme"} {
		got, err := getApp(t, s, key)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("App(%q) = %+v, %v; want %+v", key, got, err, a)
		}
	}
	kv := dumpState(t, s)
	if kv["app-uid/acme"] != tApp {
		t.Fatalf("uid index = %q", kv["app-uid/acme"])
	}

	t.Run("same id conflicts", func(t *testing.T) {
		expectNoWrites(t, s, ErrConflict, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "other")) })
	})
	t.Run("taken uid writes nothing", func(t *testing.T) {
		expectNoWrites(t, s, ErrUIDTaken, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "acme")) })
		if _, err := getApp(t, s, tApp2); !errors.Is(err, ErrNotFound) {
			t.Fatalf("app with a taken uid was stored: %v", err)
		}
	})
	t.Run("no uid writes no index", func(t *testing.T) {
		mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "")) })
		if got := keysWithPrefix(dumpState(t, s), pAppUID); !slices.Equal(got, []string{"app-uid/acme"}) {
			t.Fatalf("uid keys = %v", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := getApp(t, s, "app_none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("App(missing) err = %v", err)
		}
		if _, err := getApp(t, s, "nouid"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("App(missing uid) err = %v", err)
		}
	})
}

func TestUpdateApp(t *testing.T) {
	tests := []struct {
		name     string
		update   App
		wantErr  error
		wantUIDs []string // app-uid keys afterwards
	}{
		{
			name:     "uid change frees the old uid",
			update:   App{ID: tApp, UID: "new", Name: "renamed", CreatedAt: 999, UpdatedAt: 50},
			wantUIDs: []string{"app-uid/b-uid", "app-uid/new"},
		},
		{
			name:     "uid cleared",
			update:   App{ID: tApp, Name: "renamed", UpdatedAt: 50},
			wantUIDs: []string{"app-uid/b-uid"},
		},
		{
			name:     "same uid",
			update:   App{ID: tApp, UID: "a-uid", Name: "renamed", UpdatedAt: 50},
			wantUIDs: []string{"app-uid/a-uid", "app-uid/b-uid"},
		},
		{name: "uid of another app", update: App{ID: tApp, UID: "b-uid"}, wantErr: ErrUIDTaken},
		{name: "missing app", update: App{ID: "app_none", UID: "x"}, wantErr: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, "")
			mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "a-uid")) })
			mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "b-uid")) })
			if tc.wantErr != nil {
				expectNoWrites(t, s, tc.wantErr, func(tx *Tx) error { return tx.UpdateApp(tc.update) })
				return
			}
			mustApply(t, s, func(tx *Tx) error { return tx.UpdateApp(tc.update) })
			got, err := getApp(t, s, tApp)
			want := tc.update
			want.CreatedAt = 10 // kept from the stored app
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("App = %+v, %v; want %+v", got, err, want)
			}
			if uids := keysWithPrefix(dumpState(t, s), pAppUID); !slices.Equal(uids, tc.wantUIDs) {
				t.Fatalf("uid keys = %v, want %v", uids, tc.wantUIDs)
			}
			if tc.update.UID != "a-uid" {
				// The old uid is free again: another app can take it.
				mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp("app_C", "a-uid")) })
				if got, err := getApp(t, s, "a-uid"); err != nil || got.ID != "app_C" {
					t.Fatalf("App(a-uid) = %+v, %v", got, err)
				}
			}
		})
	}
}

func TestDeleteApp(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		for _, err := range []error{
			tx.CreateApp(testApp(tApp, "a-uid")),
			tx.CreateApp(testApp(tApp2, "b-uid")),
			tx.CreateEndpoint(testEndpoint(tApp, "ep_1", "hook1")),
			tx.CreateEndpoint(testEndpoint(tApp, "ep_2", "")),
			tx.CreateEndpoint(testEndpoint(tApp2, "ep_3", "hook1")),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	other := map[string]string{}
	for k, v := range dumpState(t, s) {
		if slices.Contains([]string{"app/" + tApp2, "app-uid/b-uid", "ep/" + tApp2 + "/ep_3", "ep-uid/" + tApp2 + "/hook1"}, k) {
			other[k] = v
		}
	}
	if len(other) != 4 {
		t.Fatalf("setup: keys of the other app = %v", other)
	}
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteApp(tApp) })
	// Only the other app's records remain.
	assertSameState(t, dumpState(t, s), other)

	expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.DeleteApp(tApp) })
	// The uid is free again.
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp("app_C", "a-uid")) })
}

func TestCreateEndpoint(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "")) })
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "")) })
	ep := Endpoint{ID: "ep_1", AppID: tApp, UID: "hook", URL: "https://a.example/", FilterTypes: []string{"a"},
		Headers: map[string]string{"X": "1"}, Secret: "whsec_x", CreatedAt: 5, UpdatedAt: 6}
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(ep) })
	for _, key := range []string{"ep_1", "hook"} {
		if got, err := getEndpoint(t, s, tApp, key); err != nil || !reflect.DeepEqual(got, ep) {
			t.Fatalf("Endpoint(%q) = %+v, %v", key, got, err)
		}
	}
	tests := []struct {
		name string
		ep   Endpoint
		want error
	}{
		{"missing app", testEndpoint("app_none", "ep_9", ""), ErrNotFound},
		{"same id", testEndpoint(tApp, "ep_1", "other"), ErrConflict},
		{"uid taken in the app", testEndpoint(tApp, "ep_2", "hook"), ErrUIDTaken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectNoWrites(t, s, tc.want, func(tx *Tx) error { return tx.CreateEndpoint(tc.ep) })
		})
	}
	t.Run("same uid in another app", func(t *testing.T) {
		mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp2, "ep_2", "hook")) })
		if got, err := getEndpoint(t, s, tApp2, "hook"); err != nil || got.ID != "ep_2" {
			t.Fatalf("Endpoint(app2, hook) = %+v, %v", got, err)
		}
		if got, err := getEndpoint(t, s, tApp, "hook"); err != nil || got.ID != "ep_1" {
			t.Fatalf("Endpoint(app1, hook) = %+v, %v", got, err)
		}
	})
	t.Run("endpoint of another app is not found", func(t *testing.T) {
		if _, err := getEndpoint(t, s, tApp2, "ep_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUpdateEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		update   Endpoint
		wantErr  error
		wantUIDs []string
	}{
		{
			name:     "uid change frees the old uid",
			update:   Endpoint{ID: "ep_1", AppID: tApp, UID: "new", URL: "https://b.example/", Disabled: true, UpdatedAt: 99},
			wantUIDs: []string{"ep-uid/app_A/new", "ep-uid/app_A/two"},
		},
		{
			name:     "uid cleared",
			update:   Endpoint{ID: "ep_1", AppID: tApp, URL: "https://b.example/"},
			wantUIDs: []string{"ep-uid/app_A/two"},
		},
		{name: "uid of another endpoint", update: Endpoint{ID: "ep_1", AppID: tApp, UID: "two"}, wantErr: ErrUIDTaken},
		{name: "missing", update: Endpoint{ID: "ep_9", AppID: tApp}, wantErr: ErrNotFound},
		{name: "wrong app", update: Endpoint{ID: "ep_1", AppID: tApp2}, wantErr: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, "")
			mustApply(t, s, func(tx *Tx) error {
				if err := tx.CreateApp(testApp(tApp, "")); err != nil {
					return err
				}
				if err := tx.CreateEndpoint(testEndpoint(tApp, "ep_1", "one")); err != nil {
					return err
				}
				return tx.CreateEndpoint(testEndpoint(tApp, "ep_2", "two"))
			})
			if tc.wantErr != nil {
				expectNoWrites(t, s, tc.wantErr, func(tx *Tx) error { return tx.UpdateEndpoint(tc.update) })
				return
			}
			mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(tc.update) })
			want := tc.update
			want.CreatedAt = 20
			if got, err := getEndpoint(t, s, tApp, "ep_1"); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("Endpoint = %+v, %v; want %+v", got, err, want)
			}
			if uids := keysWithPrefix(dumpState(t, s), pEpUID); !slices.Equal(uids, tc.wantUIDs) {
				t.Fatalf("uid keys = %v, want %v", uids, tc.wantUIDs)
			}
			if _, err := getEndpoint(t, s, tApp, "one"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("old uid still resolves: %v", err)
			}
		})
	}
}

func TestDeleteEndpoint(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		return tx.CreateEndpoint(testEndpoint(tApp, "ep_1", "one"))
	})
	before := dumpState(t, s)
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, "ep_1", 1) })
	after := dumpState(t, s)
	delete(before, "ep/app_A/ep_1")
	delete(before, "ep-uid/app_A/one")
	assertSameState(t, after, before)
	expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, "ep_1", 1) })
	expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.DeleteEndpoint("app_none", "ep_1", 1) })
}

func TestEventTypes(t *testing.T) {
	s := openTestStore(t, "")
	et := EventType{Name: "user.created", Description: "d1", FeatureFlags: []string{"f"}, Schemas: []byte("{}"), CreatedAt: 100, UpdatedAt: 100}
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEventType(et) })
	if got, err := getEventType(t, s, et.Name); err != nil || !reflect.DeepEqual(got, et) {
		t.Fatalf("EventType = %+v, %v", got, err)
	}

	// An active one conflicts.
	expectNoWrites(t, s, ErrConflict, func(tx *Tx) error {
		return tx.CreateEventType(EventType{Name: et.Name, CreatedAt: 200})
	})

	// Delete without expunge archives, stamping the time.
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEventType(et.Name, false, 300) })
	archived := et
	archived.Archived, archived.UpdatedAt = true, 300
	if got, err := getEventType(t, s, et.Name); err != nil || !reflect.DeepEqual(got, archived) {
		t.Fatalf("archived = %+v, %v; want %+v", got, err, archived)
	}

	// Creating an archived one unarchives it and keeps its creation time.
	recreated := EventType{Name: et.Name, Description: "d2", CreatedAt: 400, UpdatedAt: 400}
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEventType(recreated) })
	recreated.CreatedAt = 100
	if got, err := getEventType(t, s, et.Name); err != nil || !reflect.DeepEqual(got, recreated) {
		t.Fatalf("unarchived = %+v, %v; want %+v", got, err, recreated)
	}

	// Put reports whether it created.
	var created bool
	mustApply(t, s, func(tx *Tx) (err error) {
		created, err = tx.PutEventType(EventType{Name: "user.deleted", CreatedAt: 500, UpdatedAt: 500})
		return err
	})
	if !created {
		t.Fatalf("PutEventType of a new name: created = false")
	}
	mustApply(t, s, func(tx *Tx) (err error) {
		created, err = tx.PutEventType(EventType{Name: "user.deleted", Description: "x", CreatedAt: 600, UpdatedAt: 600})
		return err
	})
	if created {
		t.Fatalf("PutEventType of an existing name: created = true")
	}
	if got, _ := getEventType(t, s, "user.deleted"); got.CreatedAt != 500 || got.UpdatedAt != 600 || got.Description != "x" {
		t.Fatalf("replaced = %+v; want creation time kept", got)
	}

	// Expunge removes it.
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEventType("user.deleted", true, 700) })
	if _, err := getEventType(t, s, "user.deleted"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expunged event type: err = %v", err)
	}
	if _, ok := dumpState(t, s)["et/user.deleted"]; ok {
		t.Fatalf("expunged key still stored")
	}
	expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.DeleteEventType("user.deleted", false, 800) })
	expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.DeleteEventType("none", true, 800) })
}

// TestCachedApp checks that the application cache never serves what a
// committed write replaced: updates, uid changes, deletes and restores.
func TestCachedApp(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "shop")) })
	for _, ref := range []string{tApp, "shop"} {
		a, err := s.CachedApp(ref)
		if err != nil || a.Name != "name "+tApp {
			t.Fatalf("CachedApp(%s) = %+v, %v", ref, a, err)
		}
	}
	// Cached now: a change must still be seen at once, by id and by uid.
	renamed := testApp(tApp, "store")
	renamed.Name = "renamed"
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateApp(renamed) })
	if a, err := s.CachedApp(tApp); err != nil || a.Name != "renamed" {
		t.Fatalf("after update: CachedApp(id) = %+v, %v", a, err)
	}
	if _, err := s.CachedApp("shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old uid after update: err = %v, want ErrNotFound", err)
	}
	if a, err := s.CachedApp("store"); err != nil || a.ID != tApp {
		t.Fatalf("new uid: CachedApp = %+v, %v", a, err)
	}
	// A write to something else keeps the entries.
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "")) })
	if a, err := s.CachedApp(tApp); err != nil || a.Name != "renamed" {
		t.Fatalf("after endpoint write: CachedApp = %+v, %v", a, err)
	}
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteApp(tApp) })
	for _, ref := range []string{tApp, "store"} {
		if _, err := s.CachedApp(ref); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: CachedApp(%s) err = %v, want ErrNotFound", ref, err)
		}
	}
}

// TestCachedEndpoint checks the endpoint cache the same way: a committed
// change or delete is seen at once, by id and by uid.
func TestCachedEndpoint(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "")) })
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "hook")) })
	for _, ref := range []string{tEpAll, "hook"} {
		if ep, err := s.CachedEndpoint(tApp, ref); err != nil || ep.ID != tEpAll {
			t.Fatalf("CachedEndpoint(%s) = %+v, %v", ref, ep, err)
		}
	}
	if _, err := s.CachedEndpoint(tApp2, tEpAll); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another app's endpoint: err = %v, want ErrNotFound", err)
	}
	changed := testEndpoint(tApp, tEpAll, "hook2")
	changed.URL = "https://example.com/new"
	changed.Disabled = true
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(changed) })
	if ep, err := s.CachedEndpoint(tApp, tEpAll); err != nil || ep.URL != changed.URL || !ep.Disabled {
		t.Fatalf("after update: %+v, %v", ep, err)
	}
	if _, err := s.CachedEndpoint(tApp, "hook"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old uid after update: err = %v, want ErrNotFound", err)
	}
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, tEpAll, 1) })
	if _, err := s.CachedEndpoint(tApp, tEpAll); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: err = %v, want ErrNotFound", err)
	}
}

// TestCachedEndpointAcrossPartialCommit: when the endpoint write is the one
// that forces a partial commit of a full transaction, the cache must still
// be invalidated by the commit that carries the write.
func TestCachedEndpointAcrossPartialCommit(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "")) })
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "")) })
	if _, err := s.CachedEndpoint(tApp, tEpAll); err != nil {
		t.Fatal(err)
	}
	changed := testEndpoint(tApp, tEpAll, "")
	changed.URL = "https://example.com/moved"
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var stale Endpoint
	aerr := b.Apply(s.AppliedIndex()+1, func(tx *Tx) error {
		// Fill the transaction until the next write forces a partial commit.
		for i := 0; int64(b.writes)+3 < s.db.MaxBatchCount(); i++ {
			tx.set([]byte(fmt.Sprintf("test/fill/%08d", i)), nil)
		}
		if err := tx.UpdateEndpoint(changed); err != nil {
			return err
		}
		// A reader between the partial commit and the final one sees
		// (and caches) the old endpoint.
		stale, _ = s.CachedEndpoint(tApp, tEpAll)
		return nil
	})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if aerr != nil {
		t.Fatal(aerr)
	}
	if ep, err := s.CachedEndpoint(tApp, tEpAll); err != nil || ep.URL != changed.URL {
		t.Fatalf("after commit: CachedEndpoint = %q, %v; want %q (read mid-batch: %q)", ep.URL, err, changed.URL, stale.URL)
	}
}

// TestCachedAppAfterRestore: a snapshot restore replaces the whole state,
// so nothing cached before it may be served after it.
func TestCachedAppAfterRestore(t *testing.T) {
	src := openTestStore(t, "")
	mustApply(t, src, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "shop")) })
	sn, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Release()

	dst := openTestStore(t, "")
	other := testApp(tApp, "")
	other.Name = "before the restore"
	mustApply(t, dst, func(tx *Tx) error { return tx.CreateApp(other) })
	mustApply(t, dst, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "")) })
	if a, err := dst.CachedApp(tApp); err != nil || a.Name != "before the restore" {
		t.Fatalf("CachedApp before restore = %+v, %v", a, err)
	}
	if _, err := dst.CachedEndpoint(tApp, tEpAll); err != nil {
		t.Fatal(err)
	}
	if err := dst.RestoreFrom(&buf); err != nil {
		t.Fatal(err)
	}
	if a, err := dst.CachedApp(tApp); err != nil || a.Name != "name "+tApp || a.UID != "shop" {
		t.Fatalf("CachedApp after restore = %+v, %v; want the snapshot's app", a, err)
	}
	if _, err := dst.CachedEndpoint(tApp, tEpAll); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CachedEndpoint after restore: err = %v, want ErrNotFound (the snapshot has no endpoint)", err)
	}
}
