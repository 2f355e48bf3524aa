package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultRetrySchedule(t *testing.T) {
	if n := len(DefaultRetrySchedule) + 1; n != 8 {
		t.Fatalf("default schedule gives %d attempts, want 8", n)
	}
	parsed, err := ParseRetrySchedule("5s,5m,30m,2h,5h,10h,10h")
	if err != nil {
		t.Fatal(err)
	}
	for i := range parsed {
		if parsed[i] != DefaultRetrySchedule[i] {
			t.Fatalf("entry %d: %s, want %s", i, DefaultRetrySchedule[i], parsed[i])
		}
	}
}

func TestClassify(t *testing.T) {
	netErr := errors.New("dial tcp 203.0.113.9:443: connect: connection refused")
	cases := []struct {
		status int
		err    error
		want   Verdict
	}{
		{200, nil, Succeeded},
		{201, nil, Succeeded},
		{202, nil, Succeeded},
		{204, nil, Succeeded},
		{299, nil, Succeeded},
		{0, netErr, Retry},
		{200, netErr, Retry}, // an error wins over any status
		{0, ErrForbiddenAddress, Retry},
		{0, nil, Retry},
		{100, nil, Retry},
		{199, nil, Retry},
		{300, nil, Retry},
		{301, nil, Retry},
		{302, nil, Retry},
		{307, nil, Retry},
		{308, nil, Retry},
		{400, nil, Retry},
		{401, nil, Retry},
		{404, nil, Retry},
		{409, nil, Retry},
		{410, nil, DisableEndpoint},
		{413, nil, Retry},
		{429, nil, Retry},
		{500, nil, Retry},
		{502, nil, Retry},
		{503, nil, Retry},
		{504, nil, Retry},
		{599, nil, Retry},
	}
	for _, c := range cases {
		if got := Classify(c.status, c.err); got != c.want {
			t.Errorf("Classify(%d, %v) = %s, want %s", c.status, c.err, got, c.want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{
		Succeeded: "succeeded", Retry: "retry", GiveUp: "give_up",
		DisableEndpoint: "disable_endpoint", 0: "verdict(0)",
	} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	huge := time.Duration(1<<63 - 1)
	cases := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{"120", 2 * time.Minute, true},
		{" 30 ", 30 * time.Second, true},
		{"-5", 0, true},
		{"99999999999999999999", huge, true},
		{"-99999999999999999999", 0, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", huge, true},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"Sun, 01 Mar 2026 12:01:00 GMT", time.Minute, true},       // IMF-fixdate
		{"Sunday, 01-Mar-26 12:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second, true},       // asctime
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},                 // in the past
		{"Sun, 01 Mar 2026 25:00:00 GMT", 0, false},
	}
	for _, c := range cases {
		got, ok := ParseRetryAfter(c.in, now)
		if got != c.want || ok != c.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.wantOK)
		}
	}
}

func TestNextDelay(t *testing.T) {
	p := RetryPolicy{Schedule: DefaultRetrySchedule, Jitter: 0.2, RetryAfterMax: time.Hour}
	const almostOne = 1 - 1e-9
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	near := func(d, want time.Duration) bool {
		diff := d - want
		return diff > -time.Millisecond && diff < time.Millisecond
	}

	cases := []struct {
		name          string
		attempt       int
		status        int
		retryAfter    time.Duration
		hasRetryAfter bool
		rnd           func() float64
		want          time.Duration
		wantOK        bool
	}{
		{"first retry low jitter", 1, 500, 0, false, fixed(0), 4 * time.Second, true},
		{"first retry middle", 1, 500, 0, false, fixed(0.5), 5 * time.Second, true},
		{"first retry high jitter", 1, 500, 0, false, fixed(almostOne), 6 * time.Second, true},
		{"no rnd means no jitter", 2, 500, 0, false, nil, 5 * time.Minute, true},
		{"last retry low", 7, 500, 0, false, fixed(0), 8 * time.Hour, true},
		{"last retry high", 7, 500, 0, false, fixed(almostOne), 12 * time.Hour, true},
		{"exhausted", 8, 500, 0, false, fixed(0.5), 0, false},
		{"far past the end", 100, 500, 0, false, fixed(0.5), 0, false},
		{"attempt 0 treated as 1", 0, 500, 0, false, fixed(0.5), 5 * time.Second, true},
		{"429 Retry-After lengthens", 1, 429, 30 * time.Second, true, fixed(0.5), 30 * time.Second, true},
		{"503 Retry-After lengthens", 2, 503, 20 * time.Minute, true, fixed(0.5), 20 * time.Minute, true},
		{"502 Retry-After lengthens", 1, 502, time.Minute, true, fixed(0.5), time.Minute, true},
		{"504 Retry-After lengthens", 1, 504, time.Minute, true, fixed(0.5), time.Minute, true},
		{"Retry-After capped", 1, 503, 48 * time.Hour, true, fixed(0.5), time.Hour, true},
		{"Retry-After never shortens", 3, 429, time.Second, true, fixed(0.5), 30 * time.Minute, true},
		{"schedule above the cap stands", 5, 503, 48 * time.Hour, true, fixed(0.5), 5 * time.Hour, true},
		{"Retry-After ignored for 500", 1, 500, 30 * time.Minute, true, fixed(0.5), 5 * time.Second, true},
		{"Retry-After ignored for 404", 1, 404, 30 * time.Minute, true, fixed(0.5), 5 * time.Second, true},
		{"Retry-After ignored on transport error", 1, 0, 30 * time.Minute, true, fixed(0.5), 5 * time.Second, true},
		{"absent Retry-After", 1, 429, 30 * time.Minute, false, fixed(0.5), 5 * time.Second, true},
		{"exhausted despite Retry-After", 8, 429, time.Minute, true, fixed(0.5), 0, false},
	}
	for _, c := range cases {
		got, ok := p.NextDelay(c.attempt, c.status, c.retryAfter, c.hasRetryAfter, c.rnd)
		if ok != c.wantOK || !near(got, c.want) {
			t.Errorf("%s: NextDelay = %s, %v; want %s, %v", c.name, got, ok, c.want, c.wantOK)
		}
	}
}

func TestNextDelayJitterBounds(t *testing.T) {
	p := RetryPolicy{Schedule: []time.Duration{time.Minute}, Jitter: 0.2}
	lo, hi := 48*time.Second, 72*time.Second
	for i := range 1000 {
		v := float64(i) / 1000
		d, ok := p.NextDelay(1, 500, 0, false, func() float64 { return v })
		if !ok || d < lo || d > hi {
			t.Fatalf("rnd=%v: NextDelay = %s, %v; want within [%s, %s]", v, d, ok, lo, hi)
		}
	}
	// Deterministic: the same rnd value gives the same delay.
	a, _ := p.NextDelay(1, 500, 0, false, func() float64 { return 0.123 })
	b, _ := p.NextDelay(1, 500, 0, false, func() float64 { return 0.123 })
	if a != b {
		t.Fatalf("NextDelay not deterministic: %s vs %s", a, b)
	}
}

func TestNextDelayEdges(t *testing.T) {
	// Retry-After disabled when no cap is configured.
	p := RetryPolicy{Schedule: []time.Duration{time.Second}}
	if d, _ := p.NextDelay(1, 429, time.Hour, true, nil); d != time.Second {
		t.Errorf("RetryAfterMax=0: NextDelay = %s, want 1s (Retry-After ignored)", d)
	}
	// Absurd jitter never yields a negative delay.
	p = RetryPolicy{Schedule: []time.Duration{time.Second}, Jitter: 5}
	if d, ok := p.NextDelay(1, 500, 0, false, func() float64 { return 0 }); !ok || d < 0 {
		t.Errorf("Jitter=5: NextDelay = %s, %v; want non-negative", d, ok)
	}
	// An empty schedule means no retries at all.
	if _, ok := (RetryPolicy{}).NextDelay(1, 500, 0, false, nil); ok {
		t.Error("empty schedule allowed a retry")
	}
}

func TestParseRetrySchedule(t *testing.T) {
	good := map[string][]time.Duration{
		"5s":                             {5 * time.Second},
		"5s,5m,30m":                      {5 * time.Second, 5 * time.Minute, 30 * time.Minute},
		"5s, 5m , 30m":                   {5 * time.Second, 5 * time.Minute, 30 * time.Minute},
		"1ms":                            {time.Millisecond},
		"1h30m":                          {90 * time.Minute},
		"168h":                           {7 * 24 * time.Hour},
		"10h,10h,10h":                    {10 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		strings.Repeat("1s,", 49) + "1s": nil, // 50 entries, checked by length
	}
	for in, want := range good {
		got, err := ParseRetrySchedule(in)
		if err != nil {
			t.Errorf("ParseRetrySchedule(%q) = %v", in, err)
			continue
		}
		if want == nil {
			if len(got) != 50 {
				t.Errorf("ParseRetrySchedule(50 entries) gave %d", len(got))
			}
			continue
		}
		if len(got) != len(want) {
			t.Errorf("ParseRetrySchedule(%q) = %v, want %v", in, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("ParseRetrySchedule(%q) = %v, want %v", in, got, want)
				break
			}
		}
	}

	bad := []string{
		"",
		" ",
		",",
		"5s,",
		",5s",
		"5s,,5m",
		"5",
		"five seconds",
		"0s",
		"-5s",
		"5s,0",
		"169h",
		"8d",
		"5s;5m",
		strings.Repeat("1s,", 50) + "1s", // 51 entries
	}
	for _, in := range bad {
		if _, err := ParseRetrySchedule(in); !errors.Is(err, ErrInvalidRetrySchedule) {
			t.Errorf("ParseRetrySchedule(%q) = %v, want ErrInvalidRetrySchedule", in, err)
		}
	}
}
