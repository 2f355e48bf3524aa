package storage

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewIDPrefixAndValidity(t *testing.T) {
	resetIDs()
	for _, prefix := range []string{PrefixApp, PrefixEndpoint, PrefixMessage, PrefixAttempt} {
		id := NewID(prefix, time.Now())
		if !strings.HasPrefix(id, prefix) || len(id) != len(prefix)+27 {
			t.Errorf("NewID(%q) = %q", prefix, id)
		}
		if !ValidID(prefix, id) {
			t.Errorf("ValidID(%q, %q) = false", prefix, id)
		}
	}
	if got := []string{PrefixApp, PrefixEndpoint, PrefixMessage, PrefixAttempt}; strings.Join(got, " ") != "app_ ep_ msg_ atmpt_" {
		t.Errorf("prefixes = %v, want Svix's", got)
	}
}

func TestValidID(t *testing.T) {
	good := NewID(PrefixMessage, time.Now())
	tests := []struct {
		prefix, id string
		want       bool
	}{
		{PrefixMessage, good, true},
		{PrefixApp, good, false},
		{PrefixMessage, strings.TrimPrefix(good, PrefixMessage), false},
		{PrefixMessage, good[:len(good)-1], false},
		{PrefixMessage, good + "a", false},
		{PrefixMessage, "msg_" + strings.Repeat("!", 27), false},
		{PrefixMessage, "msg_", false},
		{PrefixMessage, "", false},
		{PrefixMessage, "msg_" + strings.Repeat("z", 27), false}, // past the largest KSUID
	}
	for _, tc := range tests {
		if got := ValidID(tc.prefix, tc.id); got != tc.want {
			t.Errorf("ValidID(%q, %q) = %v, want %v", tc.prefix, tc.id, got, tc.want)
		}
	}
}

func TestNewIDStrictlyIncreasingWithinASecond(t *testing.T) {
	resetIDs()
	now := baseTime.Add(500 * time.Millisecond)
	prev := ""
	for i := range 10000 {
		id := NewID(PrefixMessage, now)
		if id <= prev {
			t.Fatalf("id %d: %q not after %q", i, id, prev)
		}
		if at, ok := IDTime(id); !ok || !at.Equal(baseTime) {
			t.Fatalf("IDTime(%q) = %v, %v; want %v", id, at, ok, baseTime)
		}
		prev = id
	}
}

func TestNewIDMonotonicWhenClockGoesBack(t *testing.T) {
	resetIDs()
	later := NewID(PrefixApp, baseTime.Add(time.Hour))
	earlier := NewID(PrefixApp, baseTime)
	if earlier <= later {
		t.Fatalf("id made with an earlier clock sorts first: %q <= %q", earlier, later)
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	const goroutines, each = 8, 500
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, each)
			prev := ""
			for i := range ids {
				ids[i] = NewID(PrefixAttempt, time.Now())
				if ids[i] <= prev {
					t.Errorf("not increasing within a goroutine: %q after %q", ids[i], prev)
				}
				prev = ids[i]
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct ids, want %d", len(seen), goroutines*each)
	}
}

func TestIDTime(t *testing.T) {
	at := baseTime.Add(42 * time.Second)
	ids := idsAt(PrefixEndpoint, at)
	got, ok := IDTime(ids[0])
	if !ok || !got.Equal(at) {
		t.Fatalf("IDTime = %v, %v; want %v", got, ok, at)
	}
	for _, bad := range []string{"", "noprefix", "msg_", "msg_short", "msg_" + strings.Repeat("!", 27)} {
		if _, ok := IDTime(bad); ok {
			t.Errorf("IDTime(%q) ok", bad)
		}
	}
}

func TestBoundID(t *testing.T) {
	at := baseTime.Add(10 * time.Second)
	ids := idsAt(PrefixMessage, at.Add(-time.Second), at, at, at.Add(time.Second))
	lo, hi := boundID(PrefixMessage, at, false), boundID(PrefixMessage, at, true)
	if !(ids[0] < lo && lo < ids[1] && ids[2] < hi && hi < ids[3]) {
		t.Fatalf("bounds %q..%q do not bracket the second's ids %v", lo, hi, ids)
	}
	if !ValidID(PrefixMessage, lo) || !ValidID(PrefixMessage, hi) {
		t.Fatalf("bounds are not valid ids: %q %q", lo, hi)
	}
}

func TestDeliveryID(t *testing.T) {
	a := DeliveryID("msg_1", "ep_1")
	if a != DeliveryID("msg_1", "ep_1") {
		t.Error("delivery id not stable")
	}
	if a == DeliveryID("msg_1", "ep_2") || a == DeliveryID("msg_2", "ep_1") || a == DeliveryID("msg_1e", "p_1") {
		t.Error("delivery ids collide")
	}
	if !strings.HasPrefix(a, "dlv_") || len(a) != 4+26 {
		t.Errorf("delivery id %q, want dlv_ and 26 characters", a)
	}
	// Pinned: receivers store these ids to deduplicate, so the derivation
	// may never change.
	if a != "dlv_b2ervejsfzv62bwpf0z6wpxvsr" {
		t.Errorf("delivery id %s changed", a)
	}
}

func TestDerivedID(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	a, b := DerivedID(PrefixMessage, at, "seed"), DerivedID(PrefixMessage, at, "seed")
	if a != b || !ValidID(PrefixMessage, a) {
		t.Fatalf("DerivedID = %q then %q, want one valid id", a, b)
	}
	if c := DerivedID(PrefixMessage, at, "other"); c == a {
		t.Fatalf("two seeds made the same id %q", c)
	}
	if got, _ := IDTime(a); !got.Equal(at) {
		t.Fatalf("id time %v, want %v", got, at)
	}
	// A time before KSUID's epoch is not wrapped into the future.
	if got, _ := IDTime(DerivedID(PrefixMessage, time.Unix(5, 0), "s")); got.After(at) {
		t.Fatalf("id of 1970 sorts at %v", got)
	}
}
