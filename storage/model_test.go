package storage

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// record is what every stored type implements.
type record interface {
	Encode(e *Encoder)
	Decode(d *Decoder)
}

// goldenRecords are fixed values of every record type with their encoding.
// The hex pins the on-disk format: a change here means every stored record
// and every snapshot changes meaning, which needs a new record version, not
// an edited golden.
var goldenRecords = []struct {
	name   string
	value  record
	golden string
	empty  func() record
}{
	{
		name: "App",
		value: &App{
			ID: "app_1", UID: "acme", Name: "Acme Inc",
			Metadata:     map[string]string{"tier": "gold", "region": "eu"},
			ThrottleRate: 300, CreatedAt: 1_700_000_000_123_456_789, UpdatedAt: -5,
		},
		golden: "01" + "056170705f31" + "0461636d65" + "0841636d6520496e63" + // version, id, uid, name
			"02" + "06726567696f6e" + "026575" + "0474696572" + "04676f6c64" + // metadata, sorted
			"ac02" + "aab4aed8c7bfce972f" + "09", // throttle 300, created, updated -5
		empty: func() record { return &App{} },
	},
	{
		name: "Endpoint",
		value: &Endpoint{
			ID: "ep_1", AppID: "app_1", UID: "hook", URL: "https://example.com/hook",
			Description: "main", Version: 2, Disabled: true,
			FilterTypes: []string{"user.created", "user.deleted"}, Channels: []string{"eu"},
			Headers:  map[string]string{"X-B": "2", "X-A": "1"},
			Metadata: map[string]string{"owner": "ops"},
			Secret:   "whsec_c2VjcmV0", ThrottleRate: 10, CreatedAt: 1, UpdatedAt: 2,
		},
		golden: "01" + "0465705f31" + "056170705f31" + "04686f6f6b" + // version, id, app, uid
			"1868747470733a2f2f6578616d706c652e636f6d2f686f6f6b" + "046d61696e" + "02" + "01" + // url, description, version, disabled
			"02" + "0c757365722e63726561746564" + "0c757365722e64656c65746564" + "01" + "026575" + // filter types, channels
			"02" + "03582d41" + "0131" + "03582d42" + "0132" + "01" + "056f776e6572" + "036f7073" + // headers, metadata
			"0e77687365635f6332566a636d5630" + "0a" + "02" + "04", // secret, throttle, created, updated
		empty: func() record { return &Endpoint{} },
	},
	{
		// The same endpoint after a rotation: the appended field follows.
		name: "EndpointRotated",
		value: &Endpoint{
			ID: "ep_1", AppID: "app_1", URL: "https://e.io", Secret: "whsec_bmV3",
			PrevSecrets: []PrevSecret{{Secret: "whsec_b2xk", ExpiresAt: 3}},
		},
		golden: "01" + "0465705f31" + "056170705f31" + "00" + "0c68747470733a2f2f652e696f" + "00" + "00" + "00" + // version, id, app, uid, url, description, version, disabled
			"00" + "00" + "00" + "00" + // filter types, channels, headers, metadata
			"0a77687365635f626d5633" + "00" + "00" + "00" + // secret, throttle, created, updated
			"01" + "0a77687365635f6232786b" + "06", // one previous secret, expiring at 3
		empty: func() record { return &Endpoint{} },
	},
	{
		name: "EventType",
		value: &EventType{
			Name: "user.created", Description: "A user signed up", Archived: true, Deprecated: false,
			FeatureFlags: []string{"beta"}, GroupName: "user",
			Schemas: []byte(`{"1":{}}`), CreatedAt: 100, UpdatedAt: 200,
		},
		golden: "01" + "0c757365722e63726561746564" + "10412075736572207369676e6564207570" + "01" + "00" + // version, name, description, archived, deprecated
			"01" + "0462657461" + "0475736572" + "087b2231223a7b7d7d" + "c801" + "9003", // flags, group, schemas, created, updated
		empty: func() record { return &EventType{} },
	},
	{
		name: "Message",
		value: &Message{
			ID: "msg_1", AppID: "app_1", EventType: "user.created", EventID: "evt-9",
			Channels: []string{"eu", "us"}, Tags: []string{"t1"},
			Payload: []byte(`{"a":1}`), Timestamp: 1_700_000_000_000_000_000, DeliverAt: 1_700_000_060_000_000_000,
		},
		golden: "01" + "056d73675f31" + "056170705f31" + "0c757365722e63726561746564" + "056576742d39" + // version, id, app, type, event id
			"02" + "026575" + "027573" + "01" + "027431" + "077b2261223a317d" + // channels, tags, payload
			"8080d0e2c6bfce972f" + "80e08ae785c3ce972f", // timestamp, deliver at
		empty: func() record { return &Message{} },
	},
	{
		name: "Delivery",
		value: &Delivery{
			AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1", Status: StatusFail,
			Attempts: 3, NextAttempt: 1_700_000_000_000_000_000, LastAttempt: 1_600_000_000_000_000_000,
		},
		golden: "01" + "056170705f31" + "056d73675f31" + "0465705f31" + "02" + "03" + // version, app, msg, ep, status fail, attempts
			"8080d0e2c6bfce972f" + "8080808abbe1abb42c", // next, last
		empty: func() record { return &Delivery{} },
	},
	{
		// A delivery a message.attempt.failing notice was made for: the
		// flag follows a policy, written (zero) for it.
		name: "DeliveryFailingNoticed",
		value: &Delivery{
			AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1", Status: StatusPending, Attempts: 4, FailingNoticed: true,
		},
		golden: "01" + "056170705f31" + "056d73675f31" + "0465705f31" + "01" + "04" + "00" + "00" + // version, app, msg, ep, status, attempts, next, last
			"01" + "00" + "00" + "00" + "00" + "00" + "00" + "00" + // zero policy: version, schedule, no retries, timeout, 410, retry-after, https-only, scheme
			"00" + "00" + "00" + "00" + "00" + "00" + "00" + "00" + // hmac: header, content, base64, prefix, key base64, timestamp header, delivery-id header, prefix
			"00" + "00" + "00" + // header style, jitter set, jitter
			"01", // failing noticed
		empty: func() record { return &Delivery{} },
	},
	{
		name: "Attempt",
		value: &Attempt{
			ID: "atmpt_1", AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1",
			Timestamp: 1_700_000_000_000_000_001, URL: "https://example.com/hook", StatusCode: 503,
			Response: []byte("busy"), DurationMs: 1234, Error: "", Trigger: TriggerManual, Status: StatusFail,
		},
		golden: "01" + "0761746d70745f31" + "056170705f31" + "056d73675f31" + "0465705f31" + // version, id, app, msg, ep
			"8280d0e2c6bfce972f" + "1868747470733a2f2f6578616d706c652e636f6d2f686f6f6b" + "ee07" + // timestamp, url, code 503
			"0462757379" + "a413" + "00" + "01" + "02", // response, duration, error, trigger manual, status fail
		empty: func() record { return &Attempt{} },
	},
	{
		name:  "Attempt without response",
		value: &Attempt{ID: "atmpt_2", StatusCode: 0, Error: "dial tcp: refused", DurationMs: 15000, Status: StatusFail},
		golden: "01" + "0761746d70745f32" + "00" + "00" + "00" + "00" + "00" + "00" + // version, id, app, msg, ep, timestamp, url, code 0
			"00" + "b0ea01" + "116469616c207463703a2072656675736564" + "00" + "02", // response, duration, error, trigger, status
		empty: func() record { return &Attempt{} },
	},
	{
		// An attempt with its headers recorded: the appended field follows.
		name: "AttemptWithHeaders",
		value: &Attempt{ID: "atmpt_3", StatusCode: 200, Status: StatusSuccess,
			RequestHeaders:  []Header{{Name: "Authorization", Value: "[redacted]"}},
			ResponseHeaders: []Header{{Name: "X", Value: "1"}}},
		golden: "01" + "0761746d70745f33" + "00" + "00" + "00" + "00" + "00" + "9003" + // version, id, app, msg, ep, timestamp, url, code 200
			"00" + "00" + "00" + "00" + "00" + // response, duration, error, trigger, status
			"01" + "0d417574686f72697a6174696f6e" + "0a5b72656461637465645d" + // request headers
			"01" + "0158" + "0131", // response headers
		empty: func() record { return &Attempt{} },
	},
	{
		// Headers of a request that got no response.
		name:   "AttemptRequestHeadersOnly",
		value:  &Attempt{ID: "atmpt_4", Error: "refused", Status: StatusFail, RequestHeaders: []Header{{Name: "A", Value: ""}}},
		golden: "01" + "0761746d70745f34" + "0000000000" + "00" + "00" + "00" + "0772656675736564" + "00" + "02" + "01" + "0141" + "00" + "00",
		empty:  func() record { return &Attempt{} },
	},
	{
		name:   "Due",
		value:  &Due{AppID: "app_1", Attempt: 7, Trigger: TriggerManual},
		golden: "01" + "056170705f31" + "07" + "01",
		empty:  func() record { return &Due{} },
	},
	{
		name:   "Node",
		value:  &Node{ID: "node-1", RaftAddr: "10.0.0.1:8485", HTTPAddr: "10.0.0.1:8484"},
		golden: "01" + "066e6f64652d31" + "0d31302e302e302e313a38343835" + "0d31302e302e302e313a38343834",
		empty:  func() record { return &Node{} },
	},
	{
		name:   "IdempotentResponse",
		value:  &IdempotentResponse{Status: 202, Body: []byte(`{"id":"msg_1"}`), CreatedAt: 42},
		golden: "01" + "ca01" + "0e7b226964223a226d73675f31227d" + "54",
		empty:  func() record { return &IdempotentResponse{} },
	},
	{
		name:   "AppToken",
		value:  &AppToken{Hash: []byte{0xab, 0xcd}, AppID: "app_1", SessionID: "s1", ReadOnly: true, FeatureFlags: []string{"f"}, CreatedAt: 1, ExpiresAt: 2},
		golden: "01" + "02abcd" + "056170705f31" + "027331" + "01" + "010166" + "02" + "04",
		empty:  func() record { return &AppToken{} },
	},
	{
		name:   "Task",
		value:  &Task{ID: "qtask_1", Kind: "endpoint.recover", Status: TaskFailed, AppID: "app_1", EndpointID: "ep_1", Data: []byte(`{"a":1}`), CreatedAt: 1, UpdatedAt: 2},
		golden: "01" + "07717461736b5f31" + "10656e64706f696e742e7265636f766572" + "02" + "056170705f31" + "0465705f31" + "077b2261223a317d" + "02" + "04",
		empty:  func() record { return &Task{} },
	},
	{
		// A token with restricted capabilities: the appended field follows.
		name:   "AppTokenRestricted",
		value:  &AppToken{Hash: []byte{0xab}, AppID: "app_1", CreatedAt: 1, ExpiresAt: 2, Capabilities: []string{"ViewBase", "CreateAttempts"}},
		golden: "01" + "01ab" + "056170705f31" + "00" + "00" + "00" + "02" + "04" + "02" + "085669657742617365" + "0e437265617465417474656d707473",
		empty:  func() record { return &AppToken{} },
	},
	{
		// An app with a signing secret: a policy (here setting nothing)
		// is written before it.
		name:  "AppWithSecret",
		value: &App{ID: "app_1", Secret: "s", PrevSecrets: []PrevSecret{{Secret: "o", ExpiresAt: 3}}},
		golden: "01" + "056170705f31" + "00" + "00" + "00" + "00" + "00" + "00" + // version, id, uid, name, metadata, throttle, created, updated
			"01" + strings.Repeat("00", 18) + // a policy that sets nothing
			"0173" + "01" + "016f" + "06", // secret, one previous secret expiring at 3
		empty: func() record { return &App{} },
	},
	{
		// A message naming a one-off destination: the appended field
		// follows, length-prefixed.
		name:  "MessageWithDestination",
		value: &Message{ID: "msg_1", AppID: "app_1", Payload: []byte("{}"), Timestamp: 1, Destination: Destination{ID: "dst_1", URL: "https://x/"}},
		golden: "01" + "056d73675f31" + "056170705f31" + "00" + "00" + "00" + "00" + "027b7d" + "02" + "00" + // base fields
			"12" + "01" + "056473745f31" + "0a68747470733a2f2f782f", // destination: length, version, id, url
		empty: func() record { return &Message{} },
	},
	{
		name:   "zero App",
		value:  &App{},
		golden: "0100000000000000",
		empty:  func() record { return &App{} },
	},
}

func encodeRecord(r record) []byte {
	var e Encoder
	r.Encode(&e)
	return e.Buf
}

func decodeRecord(b []byte, r record) error {
	d := NewDecoder(b)
	r.Decode(d)
	return d.Finish()
}

func TestRecordGoldenEncoding(t *testing.T) {
	for _, tc := range goldenRecords {
		t.Run(tc.name, func(t *testing.T) {
			got := hex.EncodeToString(encodeRecord(tc.value))
			if got != tc.golden {
				t.Fatalf("encoding changed:\n got %s\nwant %s", got, tc.golden)
			}
			b, _ := hex.DecodeString(tc.golden)
			v := tc.empty()
			if err := decodeRecord(b, v); err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			if !reflect.DeepEqual(v, tc.value) {
				t.Fatalf("decode golden:\n got %#v\nwant %#v", v, tc.value)
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	values := []record{
		&App{ID: "app_x", Metadata: map[string]string{"a": ""}, ThrottleRate: math.MaxUint16, CreatedAt: math.MaxInt64, UpdatedAt: math.MinInt64},
		&Endpoint{ID: "ep_x", Version: math.MaxUint16, FilterTypes: []string{""}, Headers: map[string]string{"h": "v"}},
		&EventType{Name: "a", Deprecated: true, Schemas: []byte{0}},
		&Message{ID: "msg_x", Payload: make([]byte, 1000)},
		&Delivery{Status: StatusCanceled, Attempts: math.MaxUint32},
		&Attempt{StatusCode: -1, Response: []byte{}, DurationMs: -1},
		&Due{Attempt: math.MaxUint32},
		&Node{},
		&IdempotentResponse{Status: math.MaxUint16},
	}
	for _, tc := range goldenRecords {
		values = append(values, tc.value)
	}
	for _, v := range values {
		t.Run(reflect.TypeOf(v).Elem().Name(), func(t *testing.T) {
			b := encodeRecord(v)
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(record)
			if err := decodeRecord(b, got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := v
			// An empty byte slice is stored as nil.
			if at, ok := v.(*Attempt); ok && at.Response != nil && len(at.Response) == 0 {
				c := *at
				c.Response = nil
				want = &c
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
			}
			if again := encodeRecord(got); string(again) != string(b) {
				t.Fatalf("re-encoding differs: %x vs %x", again, b)
			}
		})
	}
}

func TestRecordDecodeRejectsDamage(t *testing.T) {
	for _, tc := range goldenRecords {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeRecord(tc.value)
			// A record cut exactly before an appended field is a whole
			// record of the older layout, not damage.
			older := map[int]bool{}
			if ep, ok := tc.value.(*Endpoint); ok && len(ep.PrevSecrets) > 0 {
				c := *ep
				c.PrevSecrets = nil
				older[len(encodeRecord(&c))] = true
			}
			if dl, ok := tc.value.(*Delivery); ok && dl.FailingNoticed {
				c := *dl
				c.FailingNoticed = false
				older[len(encodeRecord(&c))] = true
				older[len(b)-1] = true // the zero policy alone decodes as one
			}
			if a, ok := tc.value.(*App); ok && a.Secret != "" {
				c := *a
				c.Secret, c.PrevSecrets = "", nil
				older[len(encodeRecord(&c))] = true
				older[len(encodeRecord(&c))+len(encode(func(e *Encoder) { encodePolicy(e, &c.Policy) }))] = true
			}
			if m, ok := tc.value.(*Message); ok && !m.Destination.IsZero() {
				c := *m
				c.Destination = Destination{}
				older[len(encodeRecord(&c))] = true
			}
			if at, ok := tc.value.(*Attempt); ok && at.HasHeaders() {
				c := *at
				c.RequestHeaders, c.ResponseHeaders = nil, nil
				older[len(encodeRecord(&c))] = true
			}
			if tok, ok := tc.value.(*AppToken); ok && len(tok.Capabilities) > 0 {
				c := *tok
				c.Capabilities = nil
				older[len(encodeRecord(&c))] = true
			}
			for n := range len(b) {
				if older[n] {
					continue
				}
				if err := decodeRecord(b[:n], tc.empty()); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrCorrupt", n, len(b), err)
				}
			}
			if err := decodeRecord(append(append([]byte(nil), b...), 0), tc.empty()); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trailing byte: err = %v, want ErrCorrupt", err)
			}
			for _, version := range []byte{0, 2, 0xff} {
				bad := append([]byte{version}, b[1:]...)
				if err := decodeRecord(bad, tc.empty()); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("version %d: err = %v, want ErrCorrupt", version, err)
				}
			}
		})
	}
}

// TestRecordDecodedBytesDoNotAlias checks that the records that keep byte
// fields beyond the decoder's input (the ones read back from Badger, whose
// value buffers are reused) copy them.
func TestRecordDecodedBytesDoNotAlias(t *testing.T) {
	tests := []struct {
		name  string
		value record
		get   func(r record) []byte
	}{
		{"EventType.Schemas", &EventType{Schemas: []byte("{}")}, func(r record) []byte { return r.(*EventType).Schemas }},
		{"Attempt.Response", &Attempt{Response: []byte("ok")}, func(r record) []byte { return r.(*Attempt).Response }},
		{"IdempotentResponse.Body", &IdempotentResponse{Body: []byte("{}")}, func(r record) []byte { return r.(*IdempotentResponse).Body }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeRecord(tc.value)
			got := reflect.New(reflect.TypeOf(tc.value).Elem()).Interface().(record)
			if err := decodeRecord(b, got); err != nil {
				t.Fatal(err)
			}
			want := string(tc.get(got))
			for i := range b {
				b[i] = 0xee
			}
			if string(tc.get(got)) != want {
				t.Fatalf("decoded bytes alias the input: %q, want %q", tc.get(got), want)
			}
		})
	}
}

func TestRecordGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 96)
	for range 5000 {
		n := rng.IntN(len(buf))
		for i := range n {
			buf[i] = byte(rng.Uint32())
		}
		if n > 0 && rng.IntN(2) == 0 {
			buf[0] = recordV1 // get past the version check half the time
		}
		for _, tc := range goldenRecords {
			_ = decodeRecord(buf[:n], tc.empty())
		}
	}
}

func FuzzDecodeRecords(f *testing.F) {
	for _, tc := range goldenRecords {
		f.Add(encodeRecord(tc.value))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tc := range goldenRecords {
			v := tc.empty()
			if decodeRecord(b, v) != nil {
				continue
			}
			// Whatever decodes must survive its own round trip.
			again := tc.empty()
			if err := decodeRecord(encodeRecord(v), again); err != nil {
				t.Fatalf("%s: re-decoding %x: %v", tc.name, encodeRecord(v), err)
			}
			if !reflect.DeepEqual(again, v) {
				t.Fatalf("%s: round trip of decoded value:\n got %#v\nwant %#v", tc.name, again, v)
			}
		}
	})
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{StatusSuccess, "success"}, {StatusPending, "pending"}, {StatusFail, "fail"},
		{StatusSending, "sending"}, {StatusCanceled, "canceled"}, {Status(9), "unknown"},
	}
	for _, tc := range tests {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Status(%d).String() = %q, want %q", tc.s, got, tc.want)
		}
	}
	// The numbers are Svix's MessageStatus and MessageAttemptTriggerType
	// values, which clients see: they must not move.
	nums := []struct {
		name string
		got  uint8
		want uint8
	}{
		{"StatusSuccess", uint8(StatusSuccess), 0}, {"StatusPending", uint8(StatusPending), 1},
		{"StatusFail", uint8(StatusFail), 2}, {"StatusSending", uint8(StatusSending), 3},
		{"StatusCanceled", uint8(StatusCanceled), 4},
		{"TriggerScheduled", uint8(TriggerScheduled), 0}, {"TriggerManual", uint8(TriggerManual), 1},
	}
	for _, n := range nums {
		if n.got != n.want {
			t.Errorf("%s = %d, want %d", n.name, n.got, n.want)
		}
	}
}

// TestDeliveryFailingNoticedFlag checks the appended flag is never written
// false (a stray 00 after the policy is damage) and that a delivery with a
// policy keeps it alongside.
func TestDeliveryFailingNoticedFlag(t *testing.T) {
	dl := &Delivery{AppID: "a", MsgID: "m", EndpointID: "e", Policy: Policy{AttemptTimeoutMs: 5000}, FailingNoticed: true}
	var got Delivery
	if err := decodeRecord(encodeRecord(dl), &got); err != nil || !reflect.DeepEqual(&got, dl) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	dl.FailingNoticed = false
	b := append(encodeRecord(dl), 0)
	if err := decodeRecord(b, &Delivery{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flag written false: err = %v, want ErrCorrupt", err)
	}
}

// TestAttemptWithoutHeadersKeepsItsEncoding checks that attempts recorded
// before headers were stored decode unchanged, with no headers, and that
// an attempt without headers is still written in the old layout.
func TestAttemptWithoutHeadersKeepsItsEncoding(t *testing.T) {
	for _, tc := range goldenRecords {
		old, ok := tc.value.(*Attempt)
		if !ok || old.HasHeaders() {
			continue
		}
		b, _ := hex.DecodeString(tc.golden)
		var got Attempt
		if err := decodeRecord(b, &got); err != nil {
			t.Fatalf("%s: decode old encoding: %v", tc.name, err)
		}
		if got.RequestHeaders != nil || got.ResponseHeaders != nil {
			t.Fatalf("%s: old attempt decoded with headers: %+v", tc.name, got)
		}
	}
	// Core plus headers, written apart (as RecordOutcomes does), is the
	// record encoding.
	at := &Attempt{ID: "atmpt_5", StatusCode: 204,
		RequestHeaders:  []Header{{Name: "Webhook-Id", Value: "msg_1"}},
		ResponseHeaders: []Header{{Name: "Date", Value: "today"}, {Name: "Set-Cookie", Value: "[redacted]"}}}
	var e Encoder
	at.EncodeCore(&e)
	at.EncodeHeaders(&e)
	if !bytes.Equal(e.Buf, encodeRecord(at)) {
		t.Fatalf("core+headers %x differs from the record %x", e.Buf, encodeRecord(at))
	}
	// Two empty lists are never written: read back, they are damage.
	e = Encoder{}
	(&Attempt{}).EncodeCore(&e)
	(&Attempt{}).EncodeHeaders(&e)
	if err := decodeRecord(e.Buf, &Attempt{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty header lists: err = %v, want ErrCorrupt", err)
	}
}
