package raft

import (
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/herald-webhooks/herald/storage"
)

// Command values used by the golden tests. Small on purpose: every field
// set, short strings, so the hex stays readable.
var (
	goldenMeta = Meta{Time: 1_700_000_000_000_000_000, Idem: &Idem{Hash: []byte{0xab, 0xcd}, Status: 201, Body: []byte("{}"), ExpiresMs: 1_700_086_400_000}}
	bareMeta   = Meta{Time: 7}

	goldenApp = storage.App{ID: "app_1", UID: "u", Name: "A", Metadata: map[string]string{"k": "v"}, ThrottleRate: 9, CreatedAt: 1, UpdatedAt: 2}
	goldenEp  = storage.Endpoint{ID: "ep_1", AppID: "app_1", UID: "h", URL: "https://x/", Description: "d", Version: 1,
		Disabled: true, FilterTypes: []string{"t"}, Channels: []string{"c"}, Headers: map[string]string{"H": "v"},
		Metadata: map[string]string{"m": "1"}, Secret: "s", ThrottleRate: 3, CreatedAt: 1, UpdatedAt: 2}
	goldenET  = storage.EventType{Name: "a.b", Description: "d", Archived: true, Deprecated: true, FeatureFlags: []string{"f"}, GroupName: "g", Schemas: []byte("{}"), CreatedAt: 1, UpdatedAt: 2}
	goldenMsg = storage.NewMessage{
		Message: storage.Message{ID: "msg_1", AppID: "app_1", EventType: "a.b", EventID: "e", Channels: []string{"c"},
			Tags: []string{"t"}, Payload: []byte(`{"a":1}`), Timestamp: 1_000_000_000, DeliverAt: 2_000_000_000},
		EventIDExpiresMs: 86_400_000,
	}
	goldenOutcome = storage.Outcome{
		Key:       storage.ScheduleKey{DueMs: 1000, MsgID: "msg_1", EndpointID: "ep_1"},
		AttemptNo: 2,
		Attempt: storage.Attempt{ID: "atmpt_1", AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1", Timestamp: 3,
			URL: "https://x/", StatusCode: 410, Response: []byte("gone"), DurationMs: 4, Error: "e",
			Trigger: storage.TriggerManual, Status: storage.StatusFail},
		NextDueMs: 5000, Final: storage.StatusFail, DisableEndpoint: true,
	}
	outcomeWithHeaders = storage.Outcome{
		Key: storage.ScheduleKey{DueMs: 9, MsgID: "msg_2", EndpointID: "ep_1"},
		Attempt: storage.Attempt{ID: "atmpt_2", AppID: "app_1", MsgID: "msg_2", EndpointID: "ep_1", StatusCode: 200,
			RequestHeaders:  []storage.Header{{Name: "Authorization", Value: "[redacted]"}, {Name: "Webhook-Id", Value: "msg_2"}},
			ResponseHeaders: []storage.Header{{Name: "Date", Value: "x"}}},
	}
)

// The two metas as encoded: time, has-idempotency flag, then hash, status,
// body and expiry.
const (
	goldenMetaHex = "8080d0e2c6bfce972f" + "01" + "02abcd" + "c901" + "027b7d" + "8090ded0fa62"
	bareMetaHex   = "0e" + "00"
	// Records start with their format version, 01.
	goldenAppHex = "01" + "056170705f31" + "0175" + "0141" + "01" + "016b" + "0176" + "09" + "02" + "04"
	goldenEpHex  = "01" + "0465705f31" + "056170705f31" + "0168" + "0a68747470733a2f2f782f" + "0164" + "01" + "01" + // id, app, uid, url, description, version, disabled
		"01" + "0174" + "01" + "0163" + "01" + "0148" + "0176" + "01" + "016d" + "0131" + // filter types, channels, headers, metadata
		"0173" + "03" + "02" + "04" // secret, throttle, created, updated
	goldenETHex = "01" + "03612e62" + "0164" + "01" + "01" + "01" + "0166" + "0167" + "027b7d" + "02" + "04"
)

// commandCases has one fully populated value of every command type with its
// envelope. The hex pins the replicated format: old log entries and
// snapshots are replayed by newer binaries, so a change here is a new
// command type, never an edited golden.
var commandCases = []struct {
	name   string
	cmd    Command
	golden string
}{
	{"CreateApp", &CreateApp{Meta: goldenMeta, App: goldenApp},
		"01" + goldenMetaHex + goldenAppHex},
	{"CreateApp without idempotency", &CreateApp{Meta: bareMeta, App: goldenApp},
		"01" + bareMetaHex + goldenAppHex},
	{"UpdateApp", &UpdateApp{Meta: goldenMeta, App: goldenApp},
		"02" + goldenMetaHex + goldenAppHex},
	{"DeleteApp", &DeleteApp{Meta: goldenMeta, AppID: "app_1"},
		"03" + goldenMetaHex + "056170705f31"},
	{"CreateEndpoint", &CreateEndpoint{Meta: goldenMeta, Endpoint: goldenEp},
		"04" + goldenMetaHex + goldenEpHex},
	{"UpdateEndpoint", &UpdateEndpoint{Meta: bareMeta, Endpoint: goldenEp},
		"05" + bareMetaHex + goldenEpHex},
	{"DeleteEndpoint", &DeleteEndpoint{Meta: goldenMeta, AppID: "app_1", EndpointID: "ep_1"},
		"06" + goldenMetaHex + "056170705f31" + "0465705f31"},
	{"CreateEventType", &CreateEventType{Meta: goldenMeta, EventType: goldenET},
		"07" + goldenMetaHex + goldenETHex},
	{"PutEventType", &PutEventType{Meta: bareMeta, EventType: goldenET},
		"08" + bareMetaHex + goldenETHex},
	{"DeleteEventType", &DeleteEventType{Meta: goldenMeta, Name: "a.b", Expunge: true},
		"09" + goldenMetaHex + "03612e62" + "01"},
	{"CreateMessages", &CreateMessages{Items: []MessageItem{{Meta: goldenMeta, Message: goldenMsg}, {Meta: bareMeta, Message: storage.NewMessage{Message: storage.Message{ID: "msg_2"}}}}},
		"0a" + "02" + // two items
			goldenMetaHex + "01" + "056d73675f31" + "056170705f31" + "03612e62" + "0165" + "010163" + "010174" + "077b2261223a317d" + "80a8d6b907" + "80d0acf30e" + "80f0b252" +
			bareMetaHex + "01" + "056d73675f32" + "000000000000" + "00" + "00" + "00"},
	{"RecordOutcomes", &RecordOutcomes{Outcomes: []storage.Outcome{goldenOutcome, {Key: storage.ScheduleKey{DueMs: 1, MsgID: "m", EndpointID: "e"}, Final: storage.StatusSuccess}}},
		"0b" + "02" + // two outcomes
			"d00f" + "056d73675f31" + "0465705f31" + "02" + // key, attempt number
			"01" + "0761746d70745f31" + "056170705f31" + "056d73675f31" + "0465705f31" + "06" + "0a68747470733a2f2f782f" + "b406" + "04676f6e65" + "08" + "0165" + "01" + "02" +
			"904e" + "02" + "01" + // next due, final, disable
			"02" + "016d" + "0165" + "00" + "01" + "000000000000000000000000" + "00" + "00" + "00"},
	// A trailer follows the outcomes (appended): flags (notices), the
	// leader's auto-disable window: 5 days, zigzag varint.
	{"RecordOutcomes with notices and auto-disable window", &RecordOutcomes{
		Outcomes:      []storage.Outcome{{Key: storage.ScheduleKey{DueMs: 1, MsgID: "m", EndpointID: "e"}, Final: storage.StatusSuccess}},
		Notices:       true,
		AutoDisableNs: 432_000_000_000_000,
	},
		"0b" + "01" + "02" + "016d" + "0165" + "00" + "01" + "000000000000000000000000" + "00" + "00" + "00" +
			"01" + "8080d8e8dab9c401"},
	{"Resend", &Resend{Meta: goldenMeta, AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1"},
		"0c" + goldenMetaHex + "056170705f31" + "056d73675f31" + "0465705f31"},
	{"Expire", &Expire{NowMs: 1_700_000_000_000, Limit: 1000},
		"0d" + "80a0abfef962" + "e807"},
	{"SetAdminHash", &SetAdminHash{Hash: []byte{1, 2, 3}},
		"0e" + "03010203"},
	{"PutNode", &PutNode{Node: storage.Node{ID: "n1", RaftAddr: "r:1", HTTPAddr: "h:2"}},
		"0f" + "01" + "026e31" + "03723a31" + "03683a32"},
	{"DeleteNode", &DeleteNode{ID: "n1"},
		"10" + "026e31"},
	{"PutAppToken", &PutAppToken{Meta: bareMeta, Token: storage.AppToken{Hash: []byte{0xab}, AppID: "app_1", SessionID: "s", ReadOnly: true, FeatureFlags: []string{"f"}, CreatedAt: 1, ExpiresAt: 2}},
		"11" + bareMetaHex + "01" + "01ab" + "056170705f31" + "0173" + "01" + "010166" + "02" + "04"},
	{"PutAppToken with capabilities", &PutAppToken{Meta: bareMeta, Token: storage.AppToken{Hash: []byte{0xab}, AppID: "app_1", CreatedAt: 1, ExpiresAt: 2, Capabilities: []string{"ViewBase"}}},
		"11" + bareMetaHex + "01" + "01ab" + "056170705f31" + "00" + "00" + "00" + "02" + "04" + "01" + "085669657742617365"},
	{"RevokeAppTokens", &RevokeAppTokens{Meta: bareMeta, AppID: "app_1", TokenHash: []byte{0xcd}, SessionIDs: []string{"s"}, At: 3},
		"12" + bareMetaHex + "056170705f31" + "01cd" + "010173" + "06"},
	{"Recover", &Recover{Meta: bareMeta, EndpointRange: EndpointRange{AppID: "app_1", EndpointID: "ep_1", Since: 1, Until: -2, After: "m", Limit: 300}},
		"13" + bareMetaHex + "056170705f31" + "0465705f31" + "02" + "03" + "016d" + "ac02"},
	{"PutTask", &PutTask{Task: storage.Task{ID: "qtask_1", Kind: "endpoint.recover", Status: storage.TaskFinished, AppID: "app_1", EndpointID: "ep_1", Data: []byte(`{}`), CreatedAt: 1, UpdatedAt: 2}},
		"14" + "01" + "07717461736b5f31" + "10656e64706f696e742e7265636f766572" + "01" + "056170705f31" + "0465705f31" + "027b7d" + "02" + "04"},
	{"ReplayMissing", &ReplayMissing{Meta: bareMeta, EndpointRange: EndpointRange{AppID: "app_1", EndpointID: "ep_1", Since: 1, Until: -2, After: "m", Limit: 300}},
		"15" + bareMetaHex + "056170705f31" + "0465705f31" + "02" + "03" + "016d" + "ac02"},
	{"RemoveNode", &RemoveNode{ID: "n1", At: 3},
		"16" + "026e31" + "06"},
	{"AllowRejoin", &AllowRejoin{ID: "n1"},
		"17" + "026e31"},
	{"SendExample", &SendExample{Meta: bareMeta, Message: storage.NewMessage{Message: storage.Message{ID: "msg_2"}, EventIDExpiresMs: 1}, EndpointID: "ep_1"},
		"18" + bareMetaHex + "01" + "056d73675f32" + "00000000000000" + "00" + "02" + "0465705f31"},
	{"ExpirePayloads", &ExpirePayloads{NowMs: 1_700_000_000_000, Limit: 500},
		"19" + "80a0abfef962" + "f403"},
	{"PurgeMessages", &PurgeMessages{BeforeNs: -2, AfterApp: "app_1", Limit: 500},
		"1a" + "03" + "056170705f31" + "f403"},
	{"ExpungeContent", &ExpungeContent{Meta: goldenMeta, AppID: "app_1", MsgID: "msg_1", AttemptID: "a"},
		"1b" + goldenMetaHex + "056170705f31" + "056d73675f31" + "0161"},
	{"CreateMessages with payload expiry", &CreateMessages{Items: []MessageItem{
		{Meta: bareMeta, Message: storage.NewMessage{Message: storage.Message{ID: "m", AppID: "a", Payload: []byte("{}"), Timestamp: 1}, PayloadExpiresMs: 2}},
		{Meta: bareMeta, Message: storage.NewMessage{Message: storage.Message{ID: "n", AppID: "a", Payload: []byte("{}"), Timestamp: 1}}},
	}},
		"0a" + "02" +
			bareMetaHex + "01" + "016d" + "0161" + "00" + "00" + "00" + "00" + "027b7d" + "02" + "00" + "00" + // item 1, event id expiry 0
			bareMetaHex + "01" + "016e" + "0161" + "00" + "00" + "00" + "00" + "027b7d" + "02" + "00" + "00" + // item 2
			"02" + "04" + "00"}, // payload expiries: 2, none
	{"CreateMessages with a destination", &CreateMessages{Items: []MessageItem{
		{Meta: bareMeta, Message: storage.NewMessage{Message: storage.Message{ID: "m", AppID: "a", Payload: []byte("{}"), Timestamp: 1,
			Destination: storage.Destination{ID: "dst_1", URL: "https://x/"}}}},
		{Meta: bareMeta, Message: storage.NewMessage{Message: storage.Message{ID: "n", AppID: "a", Payload: []byte("{}"), Timestamp: 1}}},
	}},
		"0a" + "02" +
			bareMetaHex + "01" + "016d" + "0161" + "00" + "00" + "00" + "00" + "027b7d" + "02" + "00" + "00" + // item 1
			bareMetaHex + "01" + "016e" + "0161" + "00" + "00" + "00" + "00" + "027b7d" + "02" + "00" + "00" + // item 2
			"02" + "00" + "00" + // payload expiries: none, written because a destination follows
			"02" + "12" + "01" + "056473745f31" + "0a68747470733a2f2f782f" + "00"}, // destinations: version, id, url; none
	{"SetAppSecret", &SetAppSecret{Meta: bareMeta, AppID: "app_1", Secret: "s", PrevSecrets: []storage.PrevSecret{{Secret: "o", ExpiresAt: 3}}, IfAbsent: true},
		"1c" + bareMetaHex + "056170705f31" + "0173" + "01" + "016f" + "06" + "01"},
	{"RecordOutcomes with headers", &RecordOutcomes{Notices: true, Outcomes: []storage.Outcome{
		{Key: storage.ScheduleKey{DueMs: 1, MsgID: "m", EndpointID: "e"}, Attempt: storage.Attempt{ID: "a",
			RequestHeaders: []storage.Header{{Name: "A", Value: "1"}}}},
		{Key: storage.ScheduleKey{DueMs: 2, MsgID: "n", EndpointID: "e"}},
	}},
		"0b" + "02" +
			"02" + "016d" + "0165" + "00" + "01" + "0161" + "0000000000000000000000" + "00" + "00" + "00" + // outcome 1, attempt core
			"04" + "016e" + "0165" + "00" + "01" + "000000000000000000000000" + "00" + "00" + "00" + // outcome 2
			"03" + "00" + // trailer: flags (notices, headers), no auto-disable window
			"02" + "01" + "0141" + "0131" + "00" + "00" + "00"}, // headers: outcome 1 request A: 1, none; outcome 2 none
}

func TestCommandTypeValues(t *testing.T) {
	// Values are only ever appended: renumbering one makes every node read
	// old log entries as a different command.
	want := []struct {
		typ  CommandType
		val  byte
		cmd  Command
		name string
	}{
		{CmdCreateApp, 1, &CreateApp{}, "CreateApp"},
		{CmdUpdateApp, 2, &UpdateApp{}, "UpdateApp"},
		{CmdDeleteApp, 3, &DeleteApp{}, "DeleteApp"},
		{CmdCreateEndpoint, 4, &CreateEndpoint{}, "CreateEndpoint"},
		{CmdUpdateEndpoint, 5, &UpdateEndpoint{}, "UpdateEndpoint"},
		{CmdDeleteEndpoint, 6, &DeleteEndpoint{}, "DeleteEndpoint"},
		{CmdCreateEventType, 7, &CreateEventType{}, "CreateEventType"},
		{CmdPutEventType, 8, &PutEventType{}, "PutEventType"},
		{CmdDeleteEventType, 9, &DeleteEventType{}, "DeleteEventType"},
		{CmdCreateMessages, 10, &CreateMessages{}, "CreateMessages"},
		{CmdRecordOutcomes, 11, &RecordOutcomes{}, "RecordOutcomes"},
		{CmdResend, 12, &Resend{}, "Resend"},
		{CmdExpire, 13, &Expire{}, "Expire"},
		{CmdSetAdminHash, 14, &SetAdminHash{}, "SetAdminHash"},
		{CmdPutNode, 15, &PutNode{}, "PutNode"},
		{CmdDeleteNode, 16, &DeleteNode{}, "DeleteNode"},
		{CmdPutAppToken, 17, &PutAppToken{}, "PutAppToken"},
		{CmdRevokeAppTokens, 18, &RevokeAppTokens{}, "RevokeAppTokens"},
		{CmdRecover, 19, &Recover{}, "Recover"},
		{CmdPutTask, 20, &PutTask{}, "PutTask"},
		{CmdReplayMissing, 21, &ReplayMissing{}, "ReplayMissing"},
		{CmdRemoveNode, 22, &RemoveNode{}, "RemoveNode"},
		{CmdAllowRejoin, 23, &AllowRejoin{}, "AllowRejoin"},
		{CmdSendExample, 24, &SendExample{}, "SendExample"},
		{CmdExpirePayloads, 25, &ExpirePayloads{}, "ExpirePayloads"},
		{CmdPurgeMessages, 26, &PurgeMessages{}, "PurgeMessages"},
		{CmdExpungeContent, 27, &ExpungeContent{}, "ExpungeContent"},
		{CmdSetAppSecret, 28, &SetAppSecret{}, "SetAppSecret"},
	}
	for _, w := range want {
		if byte(w.typ) != w.val {
			t.Errorf("%s = %d, want %d", w.name, w.typ, w.val)
		}
		if w.cmd.Type() != w.typ {
			t.Errorf("(*%s).Type() = %d, want %d", w.name, w.cmd.Type(), w.typ)
		}
		got := newCommand(w.typ)
		if got == nil || reflect.TypeOf(got) != reflect.TypeOf(w.cmd) {
			t.Errorf("newCommand(%d) = %T, want %T", w.typ, got, w.cmd)
		}
	}
	for _, unknown := range []CommandType{0, 29, 100, 255} {
		if c := newCommand(unknown); c != nil {
			t.Errorf("newCommand(%d) = %T, want nil", unknown, c)
		}
	}
	// Every command type has a golden case.
	seen := map[CommandType]bool{}
	for _, tc := range commandCases {
		seen[tc.cmd.Type()] = true
	}
	for _, w := range want {
		if !seen[w.typ] {
			t.Errorf("no golden case for %s", w.name)
		}
	}
}

func TestCommandGoldenEncoding(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			got := hex.EncodeToString(Encode(tc.cmd))
			if got != tc.golden {
				t.Fatalf("envelope changed:\n got %s\nwant %s", got, tc.golden)
			}
			b, _ := hex.DecodeString(tc.golden)
			if b[0] != byte(tc.cmd.Type()) {
				t.Fatalf("type byte %d, want %d", b[0], tc.cmd.Type())
			}
			c, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(golden): %v", err)
			}
			if !reflect.DeepEqual(c, tc.cmd) {
				t.Fatalf("Decode(golden):\n got %#v\nwant %#v", c, tc.cmd)
			}
		})
	}
}

func TestCommandRoundTrip(t *testing.T) {
	metas := map[string]Meta{"idem": goldenMeta, "bare": bareMeta, "zero": {}}
	withMeta := func(m Meta) []Command {
		return []Command{
			&CreateApp{Meta: m, App: goldenApp},
			&UpdateApp{Meta: m, App: goldenApp},
			&DeleteApp{Meta: m, AppID: "app_9"},
			&CreateEndpoint{Meta: m, Endpoint: goldenEp},
			&UpdateEndpoint{Meta: m, Endpoint: goldenEp},
			&DeleteEndpoint{Meta: m, AppID: "a", EndpointID: "e"},
			&CreateEventType{Meta: m, EventType: goldenET},
			&PutEventType{Meta: m, EventType: goldenET},
			&DeleteEventType{Meta: m, Name: "x"},
			&CreateMessages{Items: []MessageItem{{Meta: m, Message: goldenMsg}}},
			&Resend{Meta: m, AppID: "a", MsgID: "m", EndpointID: "e"},
			&SendExample{Meta: m, Message: goldenMsg, EndpointID: "e"},
		}
	}
	for name, m := range metas {
		for _, c := range withMeta(m) {
			t.Run(name+"/"+reflect.TypeOf(c).Elem().Name(), func(t *testing.T) { roundTrip(t, c) })
		}
	}
	others := []Command{
		&CreateMessages{},
		&CreateMessages{Items: make([]MessageItem, 3)},
		&RecordOutcomes{},
		&RecordOutcomes{Outcomes: []storage.Outcome{goldenOutcome, goldenOutcome}},
		&RecordOutcomes{Outcomes: []storage.Outcome{goldenOutcome}, AutoDisableNs: -1},
		&RecordOutcomes{Outcomes: []storage.Outcome{goldenOutcome}, Notices: true},
		&RecordOutcomes{Outcomes: []storage.Outcome{goldenOutcome, outcomeWithHeaders}},
		&Expire{},
		&Expire{NowMs: -1, Limit: 1<<32 - 1},
		&SetAdminHash{},
		&PutNode{},
		&DeleteNode{},
		&PutTask{},
		&ReplayMissing{Meta: goldenMeta, EndpointRange: EndpointRange{Until: math.MaxInt64}},
		&RemoveNode{},
		&RemoveNode{ID: "n", At: -1},
		&AllowRejoin{},
		&ExpirePayloads{NowMs: -1, Limit: 1<<32 - 1},
		&PurgeMessages{},
		&ExpungeContent{},
		&SetAppSecret{},
		&SetAppSecret{Meta: goldenMeta, AppID: "a", Secret: "s", PrevSecrets: []storage.PrevSecret{{Secret: "p", ExpiresAt: -1}, {}}},
		&CreateMessages{Items: []MessageItem{{Message: storage.NewMessage{Message: storage.Message{Destination: storage.Destination{ID: "dst_x", URL: "u"}}, PayloadExpiresMs: 9}}}},
	}
	for _, c := range others {
		t.Run(reflect.TypeOf(c).Elem().Name(), func(t *testing.T) { roundTrip(t, c) })
	}
}

func roundTrip(t *testing.T, c Command) {
	t.Helper()
	b := Encode(c)
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(%x): %v", b, err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(c)) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, c)
	}
	if again := Encode(got); string(again) != string(b) {
		t.Fatalf("re-encoding differs:\n %x\n %x", again, b)
	}
}

// normalize maps the empty lists the encoding cannot tell from nil to nil.
func normalize(c Command) Command {
	switch v := c.(type) {
	case *CreateMessages:
		if len(v.Items) == 0 {
			return &CreateMessages{}
		}
	case *RecordOutcomes:
		if len(v.Outcomes) == 0 {
			return &RecordOutcomes{}
		}
	}
	return c
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"type 0", []byte{0}},
		{"unknown type", []byte{17, 0, 0}},
		{"type 255", []byte{255}},
		{"type only", []byte{byte(CmdDeleteNode)}},
		{"bad meta flag", []byte{byte(CmdDeleteApp), 0x02, 0x02, 0x01, 'a'}},
		{"absurd item count", []byte{byte(CmdCreateMessages), 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"absurd outcome count", []byte{byte(CmdRecordOutcomes), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"limit past 32 bits", []byte{byte(CmdExpire), 0x00, 0x80, 0x80, 0x80, 0x80, 0x10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := Decode(tc.input); err == nil || !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("Decode(%x) = %#v, %v; want ErrCorrupt", tc.input, c, err)
			}
		})
	}
	for _, tc := range commandCases {
		t.Run("damaged "+tc.name, func(t *testing.T) {
			b := Encode(tc.cmd)
			// A command cut exactly before a record's appended field is a
			// whole command of the older layout, not damage.
			older := map[int]bool{}
			if put, ok := tc.cmd.(*PutAppToken); ok && len(put.Token.Capabilities) > 0 {
				c := *put
				c.Token.Capabilities = nil
				older[len(Encode(&c))] = true
			}
			// Cut exactly before the appended trailer (flags, window,
			// headers), a batch is whole in the older layout.
			if ro, ok := tc.cmd.(*RecordOutcomes); ok {
				c := &RecordOutcomes{Outcomes: slices.Clone(ro.Outcomes)}
				for i := range c.Outcomes {
					c.Outcomes[i].Attempt.RequestHeaders, c.Outcomes[i].Attempt.ResponseHeaders = nil, nil
				}
				older[len(Encode(c))] = true
			}
			// Cut exactly before the appended payload expiries, or the
			// destinations after them, a batch is whole in an older
			// layout.
			if cm, ok := tc.cmd.(*CreateMessages); ok {
				if slices.ContainsFunc(cm.Items, func(it MessageItem) bool { return !it.Message.Destination.IsZero() }) {
					var dests storage.Encoder
					dests.Uvarint(uint64(len(cm.Items)))
					for i := range cm.Items {
						storage.EncodeDestination(&dests, &cm.Items[i].Message.Destination)
					}
					older[len(b)-len(dests.Buf)] = true
				}
				c := &CreateMessages{Items: slices.Clone(cm.Items)}
				for i := range c.Items {
					c.Items[i].Message.Destination = storage.Destination{}
				}
				older[len(Encode(c))] = true
				for i := range c.Items {
					c.Items[i].Message.PayloadExpiresMs = 0
				}
				older[len(Encode(c))] = true
			}
			for n := 1; n < len(b); n++ {
				if older[n] {
					continue
				}
				if c, err := Decode(b[:n]); !errors.Is(err, storage.ErrCorrupt) {
					t.Fatalf("prefix of %d/%d bytes = %#v, %v; want ErrCorrupt", n, len(b), c, err)
				}
			}
			if _, err := Decode(append(append([]byte(nil), b...), 0)); !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("trailing byte: err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestDecodeGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 128)
	for range 20000 {
		n := 1 + rng.IntN(len(buf)-1)
		for i := range n {
			buf[i] = byte(rng.Uint32())
		}
		buf[0] = byte(1 + rng.IntN(int(CmdSetAppSecret)))
		_, _ = Decode(buf[:n])
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range commandCases {
		f.Add(Encode(tc.cmd))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := Decode(Encode(c))
		if err != nil {
			t.Fatalf("re-decoding %T: %v", c, err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(c)) {
			t.Fatalf("round trip of decoded value:\n got %#v\nwant %#v", again, c)
		}
	})
}

// TestRecordOutcomesStrayHeaderSection checks that an appended header
// section that does not match the outcomes, or carries no headers at all
// (never written), is damage rather than a field.
func TestRecordOutcomesStrayHeaderSection(t *testing.T) {
	base := Encode(&RecordOutcomes{Outcomes: []storage.Outcome{goldenOutcome}})
	for name, tail := range map[string][]byte{
		"count mismatch":   {0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00},
		"no headers":       {0x03, 0x00, 0x01, 0x00, 0x00},
		"header cut short": {0x03, 0x00, 0x01, 0x01, 0x01, 'A'},
		"unknown flag":     {0x05, 0x00},
		"says nothing":     {0x00, 0x00},
	} {
		b := append(slices.Clone(base), tail...)
		if c, err := Decode(b); !errors.Is(err, storage.ErrCorrupt) {
			t.Errorf("%s: Decode = %#v, %v; want ErrCorrupt", name, c, err)
		}
	}
	// Entries written before headers existed decode with none.
	c, err := Decode(base)
	if err != nil {
		t.Fatal(err)
	}
	if at := c.(*RecordOutcomes).Outcomes[0].Attempt; at.RequestHeaders != nil || at.ResponseHeaders != nil {
		t.Fatalf("old entry decoded with headers: %+v", at)
	}
}
