package storage

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestScheduleKeyGolden(t *testing.T) {
	k := ScheduleKey{DueMs: 1_700_000_000_123, MsgID: "msg_a", EndpointID: "ep_b"}
	// "q/", the due time as 8 big-endian bytes, "/msg_a/ep_b".
	const want = "712f" + "0000018bcfe5687b" + "2f" + "6d73675f61" + "2f" + "65705f62"
	if got := hex.EncodeToString(k.Bytes()); got != want {
		t.Fatalf("Bytes() = %s, want %s", got, want)
	}
}

func TestScheduleKeyRoundTrip(t *testing.T) {
	tests := []ScheduleKey{
		{DueMs: 0, MsgID: "m", EndpointID: "e"},
		{DueMs: 1, MsgID: "msg_2Yb", EndpointID: "ep_3Zc"},
		{DueMs: '/', MsgID: "a", EndpointID: "b"}, // a '/' byte inside the time
		{DueMs: 0x2f2f2f2f2f2f2f2f, MsgID: "a", EndpointID: "b"},
		{DueMs: math.MaxInt64, MsgID: "msg_x", EndpointID: "ep_y"},
		{DueMs: 1_700_000_000_000, MsgID: "msg_2bTLdd3i4AQvqVoMCSQQb1Q6xpo", EndpointID: "ep_2bTLdbzHcbRLoyT3HedVlGhgWsv"},
	}
	for _, k := range tests {
		got, err := ParseScheduleKey(k.Bytes())
		if err != nil {
			t.Fatalf("ParseScheduleKey(%+v): %v", k, err)
		}
		if got != k {
			t.Fatalf("round trip = %+v, want %+v", got, k)
		}
	}
}

func TestParseScheduleKeyRejects(t *testing.T) {
	valid := ScheduleKey{DueMs: 5, MsgID: "m", EndpointID: "e"}.Bytes()
	tests := []struct {
		name string
		key  []byte
	}{
		{"empty", nil},
		{"prefix only", []byte("q/")},
		{"other prefix", append([]byte("x/"), valid[2:]...)},
		{"message key", messageKey("app_1", "msg_1")},
		{"short time", []byte("q/\x00\x00\x00/m/e")},
		{"no slash after time", append(append([]byte("q/"), make([]byte, 8)...), 'x', 'm', '/', 'e')},
		{"no endpoint separator", append(append([]byte("q/"), make([]byte, 8)...), "/msg"...)},
		{"empty message", append(append([]byte("q/"), make([]byte, 8)...), "//e"...)},
		{"empty endpoint", append(append([]byte("q/"), make([]byte, 8)...), "/m/"...)},
		{"truncated", valid[:len(valid)-2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := ParseScheduleKey(tc.key); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParseScheduleKey(%q) = %+v, %v; want ErrCorrupt", tc.key, k, err)
			}
		})
	}
}

func TestScheduleKeyOrder(t *testing.T) {
	// Byte order of the stored keys must be due-time order, then message
	// id, then endpoint id: the dispatcher's scan relies on it.
	keys := []ScheduleKey{
		{DueMs: 1_700_000_000_000, MsgID: "msg_b", EndpointID: "ep_a"},
		{DueMs: 0, MsgID: "msg_z", EndpointID: "ep_z"},
		{DueMs: 255, MsgID: "msg_a", EndpointID: "ep_a"},
		{DueMs: 256, MsgID: "msg_a", EndpointID: "ep_a"},
		{DueMs: 1 << 32, MsgID: "msg_a", EndpointID: "ep_a"},
		{DueMs: 1_700_000_000_000, MsgID: "msg_a", EndpointID: "ep_b"},
		{DueMs: 1_700_000_000_000, MsgID: "msg_a", EndpointID: "ep_a"},
		{DueMs: 1_700_000_000_001, MsgID: "msg_0", EndpointID: "ep_0"},
		{DueMs: 1, MsgID: "msg_y", EndpointID: "ep_y"},
		{DueMs: '/', MsgID: "msg_a", EndpointID: "ep_a"},
		{DueMs: '/' + 1, MsgID: "msg_a", EndpointID: "ep_a"},
	}
	byBytes := slices.Clone(keys)
	slices.SortFunc(byBytes, func(a, b ScheduleKey) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	byFields := slices.Clone(keys)
	slices.SortFunc(byFields, func(a, b ScheduleKey) int {
		switch {
		case a.DueMs != b.DueMs:
			if a.DueMs < b.DueMs {
				return -1
			}
			return 1
		case a.MsgID != b.MsgID:
			return strings.Compare(a.MsgID, b.MsgID)
		}
		return strings.Compare(a.EndpointID, b.EndpointID)
	})
	if !slices.Equal(byBytes, byFields) {
		t.Fatalf("byte order:\n%v\nfield order:\n%v", byBytes, byFields)
	}
}

func TestScheduleUpTo(t *testing.T) {
	for _, due := range []int64{0, 1, 255, 1_700_000_000_000} {
		end := scheduleUpTo(due)
		at := ScheduleKey{DueMs: due, MsgID: "msg_zzzz", EndpointID: "ep_zzzz"}.Bytes()
		next := ScheduleKey{DueMs: due + 1, MsgID: "0", EndpointID: "0"}.Bytes()
		if bytes.Compare(at, end) >= 0 {
			t.Errorf("due %d: key due then is not before the end", due)
		}
		if bytes.Compare(next, end) < 0 {
			t.Errorf("due %d: key due 1ms later is before the end", due)
		}
	}
}

func TestExpiryKeys(t *testing.T) {
	target := idemKey([]byte{0xde, 0xad, '/', 0})
	k := expiryKey(1_700_000_000_000, target)
	const want = "6578702f" + "0000018bcfe56800" + "2f" + "6964656d2f" + "dead2f00"
	if got := hex.EncodeToString(k); got != want {
		t.Fatalf("expiryKey = %s, want %s", got, want)
	}
	at, got, ok := expiryTarget(k)
	if !ok || at != 1_700_000_000_000 || !bytes.Equal(got, target) {
		t.Fatalf("expiryTarget = %d, %q, %v", at, got, ok)
	}
	for _, bad := range [][]byte{nil, []byte("exp/"), []byte("exp/12345678x"), []byte("idem/12345678/x"), k[:12]} {
		if _, _, ok := expiryTarget(bad); ok {
			t.Errorf("expiryTarget(%q) accepted", bad)
		}
	}
	// Expiry keys sort by time whatever their targets.
	early := expiryKey(999, []byte("zzzz"))
	late := expiryKey(1000, []byte("aaaa"))
	if bytes.Compare(early, late) >= 0 {
		t.Fatalf("expiry keys out of time order")
	}
}

func TestKeyPrefixesAreDisjoint(t *testing.T) {
	// No prefix may start another, or a scan of one table would walk into
	// the other (app/ must not see app-uid/ keys, and so on).
	prefixes := []string{pApplied, pAdminHash, pApp, pAppUID, pEndpoint, pEpUID, pEventType, pMessage,
		pEventID, pDelivery, pEpMsg, pAttempt, pEpAttempt, pSchedule, pIdem, pExpiry, pNode, pRemoved}
	for i, a := range prefixes {
		for j, b := range prefixes {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("prefix %q starts %q", a, b)
			}
		}
	}
}

func TestKeyLayout(t *testing.T) {
	tests := []struct {
		got  []byte
		want string
	}{
		{appKey("app_1"), "app/app_1"},
		{appUIDKey("acme"), "app-uid/acme"},
		{endpointKey("app_1", "ep_1"), "ep/app_1/ep_1"},
		{endpointPrefix("app_1"), "ep/app_1/"},
		{epUIDKey("app_1", "hook"), "ep-uid/app_1/hook"},
		{eventTypeKey("user.created"), "et/user.created"},
		{messageKey("app_1", "msg_1"), "msg/app_1/msg_1"},
		{messagePrefix("app_1"), "msg/app_1/"},
		{eventIDKey("app_1", "e1"), "msg-eid/app_1/e1"},
		{deliveryKey("app_1", "msg_1", "ep_1"), "dl/app_1/msg_1/ep_1"},
		{deliveryPrefix("app_1", "msg_1"), "dl/app_1/msg_1/"},
		{epMsgKey("app_1", "ep_1", "msg_1"), "dl-ep/app_1/ep_1/msg_1"},
		{epMsgPrefix("app_1", "ep_1"), "dl-ep/app_1/ep_1/"},
		{attemptKey("app_1", "msg_1", "atmpt_1"), "att/app_1/msg_1/atmpt_1"},
		{attemptPrefix("app_1", "msg_1"), "att/app_1/msg_1/"},
		{epAttemptKey("app_1", "ep_1", "atmpt_1"), "att-ep/app_1/ep_1/atmpt_1"},
		{epAttemptPrefix("app_1", "ep_1"), "att-ep/app_1/ep_1/"},
		{idemKey([]byte("h")), "idem/h"},
		{nodeKey("n1"), "node/n1"},
	}
	for _, tc := range tests {
		if string(tc.got) != tc.want {
			t.Errorf("key = %q, want %q", tc.got, tc.want)
		}
	}
	// One app's prefix never covers another app whose id extends it.
	if bytes.HasPrefix(endpointKey("app_12", "ep_1"), endpointPrefix("app_1")) {
		t.Errorf("endpoint prefix of app_1 covers app_12")
	}
}
