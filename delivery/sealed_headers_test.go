package delivery

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/storage"
)

func testKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(bytes.Repeat([]byte{7}, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealedHeaders: values are sealed whatever they look like, open back
// to what was sealed, only under their own endpoint and header name; plain
// values from before sealing are read as they are and sealed by
// SealLegacyHeaders without touching the map they came in.
func TestSealedHeaders(t *testing.T) {
	keys := testKeyring(t)
	ep := storage.Endpoint{ID: "ep_1", AppID: "app_1"}
	plain := map[string]string{"Authorization": "Bearer tok", "X-Team": "a", "X-Odd": "enc:v1:not-really"}
	ep.Headers = map[string]string{}
	for k, v := range plain {
		s := SealHeader(keys, &ep, k, v)
		if !keyring.IsSealed(s) || s == v {
			t.Fatalf("SealHeader(%s) = %q", k, s)
		}
		ep.Headers[k] = s
	}
	got, err := OpenHeaders(keys, &ep)
	if err != nil || !maps.Equal(got, plain) {
		t.Fatalf("OpenHeaders = %v, %v", got, err)
	}

	// Header names are case-insensitive; the binding is too.
	renamed := ep
	renamed.Headers = map[string]string{"authorization": ep.Headers["Authorization"]}
	if got, err := OpenHeaders(keys, &renamed); err != nil || got["authorization"] != "Bearer tok" {
		t.Fatalf("value under the same name in another case: %v, %v", got, err)
	}
	for name, moved := range map[string]storage.Endpoint{
		"another header":   {ID: "ep_1", AppID: "app_1", Headers: map[string]string{"X-Team": ep.Headers["Authorization"]}},
		"another endpoint": {ID: "ep_2", AppID: "app_1", Headers: map[string]string{"Authorization": ep.Headers["Authorization"]}},
	} {
		_, err := OpenHeaders(keys, &moved)
		if !errors.Is(err, keyring.ErrCorrupt) || strings.Contains(err.Error(), "tok") {
			t.Errorf("sealed value moved to %s: err = %v, want ErrCorrupt without the value", name, err)
		}
	}
	if _, err := OpenHeaders(nil, &ep); !errors.Is(err, ErrNoKeyring) {
		t.Errorf("no keyring: err = %v", err)
	}

	legacy := storage.Endpoint{ID: "ep_3", AppID: "app_1", Headers: map[string]string{"X-Api-Key": "k1", "X-Sealed": ""}}
	legacy.Headers["X-Sealed"] = SealHeader(keys, &legacy, "X-Sealed", "s")
	before := maps.Clone(legacy.Headers)
	shared := legacy.Headers
	if got, err := OpenHeaders(keys, &legacy); err != nil || got["X-Api-Key"] != "k1" || got["X-Sealed"] != "s" {
		t.Fatalf("mixed plain and sealed: %v, %v", got, err)
	}
	SealLegacyHeaders(keys, &legacy)
	if !maps.Equal(shared, before) {
		t.Errorf("SealLegacyHeaders changed the map it was given")
	}
	if !keyring.IsSealed(legacy.Headers["X-Api-Key"]) || legacy.Headers["X-Sealed"] != before["X-Sealed"] {
		t.Errorf("after SealLegacyHeaders: %v", legacy.Headers)
	}
	if got, err := OpenHeaders(keys, &legacy); err != nil || got["X-Api-Key"] != "k1" || got["X-Sealed"] != "s" {
		t.Fatalf("after SealLegacyHeaders: %v, %v", got, err)
	}
}

// TestSealedRecordedHeaders: an attempt's recorded custom header values
// are sealed (redacted ones and Herald's own headers are left alone), open
// back only under their own attempt and name, and read Redacted where
// they cannot be opened; opening never changes the record.
func TestSealedRecordedHeaders(t *testing.T) {
	keys := testKeyring(t)
	at := storage.Attempt{ID: "atmpt_1", AppID: "app_1", RequestHeaders: []storage.Header{
		{Name: "Authorization", Value: Redacted},
		{Name: "Webhook-Id", Value: "msg_1"},
		{Name: "X-Team", Value: "blue"},
	}}
	SealRecordedHeaders(keys, &at, map[string]string{"authorization": "Bearer x", "x-team": "blue"})
	if v := at.RequestHeaders[2].Value; !keyring.IsSealed(v) || strings.Contains(v, "blue") {
		t.Fatalf("custom header value recorded as %q", v)
	}
	if at.RequestHeaders[0].Value != Redacted || at.RequestHeaders[1].Value != "msg_1" {
		t.Fatalf("redacted or Herald header changed: %v", at.RequestHeaders)
	}
	sealed := at.RequestHeaders[2].Value
	got := OpenRecordedHeaders(keys, &at)
	if got[2].Value != "blue" || got[0].Value != Redacted || got[1].Value != "msg_1" {
		t.Fatalf("opened %v", got)
	}
	if at.RequestHeaders[2].Value != sealed {
		t.Fatal("opening changed the record")
	}
	moved := at
	moved.ID = "atmpt_2"
	if v := OpenRecordedHeaders(keys, &moved)[2].Value; v != Redacted {
		t.Fatalf("a value moved to another attempt opened as %q", v)
	}
	if v := OpenRecordedHeaders(nil, &at)[2].Value; v != Redacted {
		t.Fatalf("without a keyring a sealed value reads %q", v)
	}
}

func BenchmarkSealRecordedHeaders(b *testing.B) {
	keys, err := keyring.New(bytes.Repeat([]byte{7}, keyring.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	custom := map[string]string{"X-Team": "blue", "X-Region": "eu-west-1"}
	b.ReportAllocs()
	for b.Loop() {
		at := storage.Attempt{ID: "atmpt_1", AppID: "app_1", RequestHeaders: []storage.Header{
			{Name: "Content-Type", Value: "application/json"}, {Name: "X-Region", Value: "eu-west-1"}, {Name: "X-Team", Value: "blue"}}}
		SealRecordedHeaders(keys, &at, custom)
	}
}
