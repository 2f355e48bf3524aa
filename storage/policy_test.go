package storage

import (
	"encoding/hex"
	"reflect"
	"testing"
)

// fullPolicy sets every field of Policy to a non-zero value by reflection,
// so a field added to Policy and left out of its encoding fails the tests
// below without anyone remembering to list it.
func fullPolicy(t *testing.T) Policy {
	t.Helper()
	var p Policy
	fill(t, reflect.ValueOf(&p).Elem())
	return p
}

func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64:
			f.SetInt(-7)
		case reflect.Uint8:
			f.SetUint(2)
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]int64{1000, 60_000}))
		case reflect.Struct:
			fill(t, f)
		default:
			t.Fatalf("%s.%s: kind %s not filled by this test", v.Type(), v.Type().Field(i).Name, f.Kind())
		}
	}
}

func TestPolicyEveryFieldEncoded(t *testing.T) {
	p := fullPolicy(t)
	holders := []record{
		&App{ID: "app_1", Policy: p},
		&Endpoint{ID: "ep_1", Policy: p},
		&Endpoint{ID: "ep_1", Policy: p, PrevSecrets: []PrevSecret{{Secret: "s", ExpiresAt: 1}}},
		&Delivery{MsgID: "msg_1", Policy: p},
		&Due{AppID: "app_1", Attempt: 2, Policy: &p},
	}
	for _, v := range holders {
		b := encodeRecord(v)
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(record)
		if err := decodeRecord(b, got); err != nil {
			t.Fatalf("%T: decode: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("%T: round trip lost a field:\n got %+v\nwant %+v", v, got, v)
		}
	}
}

// TestPolicyGoldenEncoding pins a Due with a policy (the appended field)
// and checks that a zero policy adds no bytes, so records written before
// policies keep their encoding.
func TestPolicyGoldenEncoding(t *testing.T) {
	du := Due{AppID: "a", Attempt: 1, Policy: &Policy{
		RetryScheduleMs: []int64{30_000, 120_000}, AttemptTimeoutMs: 5000, On410: No, RetryAfter: No, HTTPSOnly: Yes,
		Scheme: SchemeHMAC, HMAC: HMACScheme{Header: "X", Content: SignTimestampBody, Prefix: "sha256=", DeliveryIDHeader: "D", DeliveryIDPrefix: "dlv_"},
		Headers: HeadersSvix, JitterSet: true,
	}}
	const golden = "01" + "0161" + "01" + "00" + // version, app, attempt, trigger
		"01" + "02" + "e0d403" + "80d30e" + "00" + "904e" + "02" + "02" + "01" + // policy v1, schedule (zigzag varints), no-retries, timeout, 410, retry-after, https
		"02" + "0158" + "01" + "00" + "077368613235363d" + "00" + "00" + "0144" + "04646c765f" + "02" + "01" + "00" // hmac: header X, {timestamp}.{body}, hex, prefix, raw key, no ts header, id header D with prefix dlv_; svix headers; jitter set to 0%
	if got := hex.EncodeToString(encodeRecord(&du)); got != golden {
		t.Errorf("encoding %s, want %s", got, golden)
	}
	if got := hex.EncodeToString(encodeRecord(&Due{AppID: "a", Attempt: 1})); got != "0101610100" {
		t.Errorf("a zero policy changed the encoding: %s", got)
	}
}

func TestPolicyOver(t *testing.T) {
	app := Policy{RetryScheduleMs: []int64{1}, AttemptTimeoutMs: 5000, On410: No, HTTPSOnly: Yes}
	cases := []struct {
		name string
		ep   Policy
		want Policy
	}{
		{"endpoint sets nothing", Policy{}, app},
		{"endpoint's schedule wins", Policy{RetryScheduleMs: []int64{2, 3}}, Policy{RetryScheduleMs: []int64{2, 3}, AttemptTimeoutMs: 5000, On410: No, HTTPSOnly: Yes}},
		{"no retries is a schedule", Policy{NoRetries: true}, Policy{NoRetries: true, AttemptTimeoutMs: 5000, On410: No, HTTPSOnly: Yes}},
		{"choices", Policy{On410: Yes, RetryAfter: No}, Policy{RetryScheduleMs: []int64{1}, AttemptTimeoutMs: 5000, On410: Yes, RetryAfter: No, HTTPSOnly: Yes}},
	}
	for _, c := range cases {
		if got := c.ep.Over(app); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestPolicyStampedAtCreation: a delivery and its schedule entry carry the
// endpoint's policy over the app's, as they were when the message came; a
// later change of either does not rewrite them, and the next attempt's
// entry carries the same policy.
func TestPolicyStampedAtCreation(t *testing.T) {
	s := openTestStore(t, "")
	app := testApp(tApp, "")
	app.Policy = Policy{RetryScheduleMs: []int64{1000}, AttemptTimeoutMs: 5000, On410: No, HTTPSOnly: Yes}
	ep := Endpoint{ID: "ep_1", AppID: tApp, Policy: Policy{RetryScheduleMs: []int64{30_000, 120_000}, RetryAfter: No}}
	plain := Endpoint{ID: "ep_2", AppID: tApp}
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(app); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(ep); err != nil {
			return err
		}
		return tx.CreateEndpoint(plain)
	})
	mustApply(t, s, func(tx *Tx) error {
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: tApp, Timestamp: 1e9}})
		return err
	})
	want := map[string]Policy{
		"ep_1": {RetryScheduleMs: []int64{30_000, 120_000}, AttemptTimeoutMs: 5000, On410: No, RetryAfter: No},
		"ep_2": {RetryScheduleMs: []int64{1000}, AttemptTimeoutMs: 5000, On410: No},
	}
	check := func(when string) {
		t.Helper()
		for id, p := range want {
			dl, err := getDelivery(t, s, tApp, tMsg, id)
			if err != nil || !reflect.DeepEqual(dl.Policy, p) {
				t.Errorf("%s: delivery to %s has policy %+v (%v), want %+v", when, id, dl.Policy, err, p)
			}
		}
	}
	check("at creation")
	var due Due
	kv := dumpKV(t, s)
	k := ScheduleKey{DueMs: 1000, MsgID: tMsg, EndpointID: "ep_1"}.Bytes()
	if err := decodeInto([]byte(kv[string(k)]), due.Decode); err != nil || due.Policy == nil || !reflect.DeepEqual(*due.Policy, want["ep_1"]) {
		t.Errorf("schedule entry policy %+v (%v), want %+v", due.Policy, err, want["ep_1"])
	}
	app.Policy = Policy{NoRetries: true}
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateApp(app) })
	check("after the app changed")
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: 1000, MsgID: tMsg, EndpointID: "ep_1"}, AttemptNo: 1,
			Attempt:   Attempt{ID: "atmpt_1", AppID: tApp, MsgID: tMsg, EndpointID: "ep_1", Status: StatusFail},
			NextDueMs: 31_000, Final: StatusFail})
		return nil
	})
	kv = dumpKV(t, s)
	k = ScheduleKey{DueMs: 31_000, MsgID: tMsg, EndpointID: "ep_1"}.Bytes()
	due = Due{}
	if err := decodeInto([]byte(kv[string(k)]), due.Decode); err != nil || due.Attempt != 2 || due.Policy == nil || !reflect.DeepEqual(*due.Policy, want["ep_1"]) {
		t.Errorf("next attempt's entry %+v (%v), want attempt 2 with %+v", due, err, want["ep_1"])
	}
}
