package storage

import (
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
)

// codecValues is one value of every Encoder method, in a fixed order, so a
// test can write them all and read them back.
type codecValues struct {
	u       uint64
	v       int64
	b       byte
	t       bool
	s       string
	bs      []byte
	strs    []string
	m       map[string]string
	u16     uint64
	u32     uint64
	trailer string
}

func (c *codecValues) encode(e *Encoder) {
	e.Uvarint(c.u)
	e.Varint(c.v)
	e.Byte(c.b)
	e.Bool(c.t)
	e.String(c.s)
	e.Bytes(c.bs)
	e.Strings(c.strs)
	e.Map(c.m)
	e.Uvarint(c.u16)
	e.Uvarint(c.u32)
	e.String(c.trailer)
}

func (c *codecValues) decode(d *Decoder) {
	c.u = d.Uvarint()
	c.v = d.Varint()
	c.b = d.Byte()
	c.t = d.Bool()
	c.s = d.String()
	c.bs = d.Bytes()
	c.strs = d.Strings()
	c.m = d.Map()
	c.u16 = uint64(d.Uint16())
	c.u32 = uint64(d.Uint32())
	c.trailer = d.String()
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   codecValues
		want *codecValues // what decoding gives back; nil = in
	}{
		{name: "zero", in: codecValues{}},
		{name: "small", in: codecValues{u: 1, v: -1, b: 7, t: true, s: "a", bs: []byte{0}, strs: []string{"x"}, m: map[string]string{"k": "v"}, u16: 1, u32: 1, trailer: "end"}},
		{name: "varint boundaries", in: codecValues{u: 128, v: -65, u16: 127, u32: 16384}},
		{name: "extremes", in: codecValues{u: math.MaxUint64, v: math.MinInt64, b: 0xff, u16: math.MaxUint16, u32: math.MaxUint32}},
		{name: "max int64", in: codecValues{v: math.MaxInt64}},
		{name: "unicode and empty members", in: codecValues{s: "héllo, 世界", strs: []string{"", "a/b", ""}, m: map[string]string{"": "", "ключ": "значение"}}},
		{name: "binary bytes", in: codecValues{bs: []byte{0, 0xff, '/', 0x80}}},
		{
			name: "empty collections decode as nil",
			in:   codecValues{bs: []byte{}, strs: []string{}, m: map[string]string{}},
			want: &codecValues{},
		},
		{name: "long string", in: codecValues{s: string(make([]byte, 300)), trailer: "t"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e Encoder
			tc.in.encode(&e)
			d := NewDecoder(e.Buf)
			var got codecValues
			got.decode(d)
			if err := d.Finish(); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			want := tc.in
			if tc.want != nil {
				want = *tc.want
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestCodecEmptyVersusNil(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  func(e *Encoder)
	}{
		{"nil bytes", func(e *Encoder) { e.Bytes(nil) }},
		{"empty bytes", func(e *Encoder) { e.Bytes([]byte{}) }},
		{"nil strings", func(e *Encoder) { e.Strings(nil) }},
		{"empty strings", func(e *Encoder) { e.Strings([]string{}) }},
		{"nil map", func(e *Encoder) { e.Map(nil) }},
		{"empty map", func(e *Encoder) { e.Map(map[string]string{}) }},
		{"empty string", func(e *Encoder) { e.String("") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Encoder
			tc.enc(&e)
			// Empty and nil share one encoding: a zero count.
			if hex.EncodeToString(e.Buf) != "00" {
				t.Fatalf("encoding = %x, want 00", e.Buf)
			}
		})
	}
	d := NewDecoder([]byte{0, 0, 0, 0})
	if b := d.Bytes(); b != nil {
		t.Errorf("Bytes() of empty = %#v, want nil", b)
	}
	if s := d.Strings(); s != nil {
		t.Errorf("Strings() of empty = %#v, want nil", s)
	}
	if m := d.Map(); m != nil {
		t.Errorf("Map() of empty = %#v, want nil", m)
	}
	if s := d.String(); s != "" {
		t.Errorf("String() of empty = %q", s)
	}
	if err := d.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

func TestCodecMapIsDeterministic(t *testing.T) {
	// Built in different insertion orders; Go randomises map iteration, so
	// encoding many times would catch an unsorted encoder.
	a := map[string]string{}
	b := map[string]string{}
	keys := []string{"zeta", "alpha", "mu", "", "beta", "Alpha", "a"}
	for _, k := range keys {
		a[k] = "v" + k
	}
	for i := len(keys) - 1; i >= 0; i-- {
		b[keys[i]] = "v" + keys[i]
	}
	var first Encoder
	first.Map(a)
	// Sorted: "", "Alpha", "a", "alpha", "beta", "mu", "zeta".
	const want = "07" + "00" + "0176" +
		"05416c706861" + "0676416c706861" +
		"0161" + "027661" +
		"05616c706861" + "0676616c706861" +
		"0462657461" + "057662657461" +
		"026d75" + "03766d75" +
		"047a657461" + "05767a657461"
	if got := hex.EncodeToString(first.Buf); got != want {
		t.Fatalf("map encoding:\n got %s\nwant %s", got, want)
	}
	for i := range 50 {
		var e Encoder
		if i%2 == 0 {
			e.Map(a)
		} else {
			e.Map(b)
		}
		if string(e.Buf) != string(first.Buf) {
			t.Fatalf("encoding %d differs: %x vs %x", i, e.Buf, first.Buf)
		}
	}
	d := NewDecoder(first.Buf)
	if got := d.Map(); !reflect.DeepEqual(got, a) || d.Finish() != nil {
		t.Fatalf("decoded %v (err %v), want %v", got, d.Err(), a)
	}
}

func TestCodecGoldenPrimitives(t *testing.T) {
	var e Encoder
	e.Uvarint(300)        // ac02
	e.Varint(-3)          // 05
	e.Byte(0x7f)          // 7f
	e.Bool(true)          // 01
	e.Bool(false)         // 00
	e.String("hi")        // 026869
	e.Bytes([]byte{1, 2}) // 020102
	e.Strings([]string{"a", "bc"})
	e.Map(map[string]string{"k": "v"})
	const want = "ac02" + "05" + "7f" + "01" + "00" + "026869" + "020102" +
		"02" + "0161" + "026263" + "01" + "016b" + "0176"
	if got := hex.EncodeToString(e.Buf); got != want {
		t.Fatalf("encoding:\n got %s\nwant %s", got, want)
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string // hex
		read  func(d *Decoder)
	}{
		{"uvarint from empty", "", func(d *Decoder) { d.Uvarint() }},
		{"uvarint unterminated", "8080", func(d *Decoder) { d.Uvarint() }},
		{"uvarint overflow", "ffffffffffffffffffff01", func(d *Decoder) { d.Uvarint() }},
		{"varint from empty", "", func(d *Decoder) { d.Varint() }},
		{"varint overflow", "ffffffffffffffffffff7f", func(d *Decoder) { d.Varint() }},
		{"byte from empty", "", func(d *Decoder) { d.Byte() }},
		{"bool from empty", "", func(d *Decoder) { d.Bool() }},
		{"bool of 2", "02", func(d *Decoder) { d.Bool() }},
		{"bool of ff", "ff", func(d *Decoder) { d.Bool() }},
		{"uint16 too big", "808004", func(d *Decoder) { d.Uint16() }}, // 65536
		{"uint32 too big", "8080808010", func(d *Decoder) { d.Uint32() }},
		{"string longer than input", "05616263", func(d *Decoder) { _ = d.String() }},
		{"bytes longer than input", "ff01", func(d *Decoder) { d.Bytes() }},
		{"bytes length absurd", "ffffffffffffffff7f", func(d *Decoder) { d.Bytes() }},
		{"strings count past input", "0501610162", func(d *Decoder) { d.Strings() }},
		{"strings count absurd", "ffffffffffffffffff01", func(d *Decoder) { d.Strings() }},
		{"strings member truncated", "02016101", func(d *Decoder) { d.Strings() }},
		{"map count past input", "03016b0176", func(d *Decoder) { d.Map() }},
		{"map count absurd", "ffffffffff0f", func(d *Decoder) { d.Map() }},
		{"map value missing", "01016b", func(d *Decoder) { d.Map() }},
		{"count absurd", "ffffffffffffffff7f", func(d *Decoder) { d.Count() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := hex.DecodeString(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(in)
			tc.read(d)
			if !errors.Is(d.Err(), ErrCorrupt) {
				t.Fatalf("Err() = %v, want ErrCorrupt", d.Err())
			}
			// The error sticks: later reads give zero values.
			if v := d.Uvarint(); v != 0 {
				t.Errorf("Uvarint after error = %d", v)
			}
			if s := d.String(); s != "" {
				t.Errorf("String after error = %q", s)
			}
			if l := d.Strings(); l != nil {
				t.Errorf("Strings after error = %v", l)
			}
			if d.Remaining() != 0 {
				t.Errorf("Remaining after error = %d", d.Remaining())
			}
			if !errors.Is(d.Finish(), ErrCorrupt) {
				t.Errorf("Finish = %v, want ErrCorrupt", d.Finish())
			}
		})
	}
}

func TestDecoderCountGuard(t *testing.T) {
	// Count accepts a length the remaining input could hold and refuses a
	// longer one, so garbage cannot ask for a huge allocation.
	d := NewDecoder([]byte{3, 'a', 'b', 'c'})
	if n := d.Count(); n != 3 || d.Err() != nil {
		t.Fatalf("Count = %d, %v; want 3", n, d.Err())
	}
	d = NewDecoder([]byte{4, 'a', 'b', 'c'})
	if n := d.Count(); n != 0 || !errors.Is(d.Err(), ErrCorrupt) {
		t.Fatalf("Count = %d, %v; want 0, ErrCorrupt", n, d.Err())
	}

	var e Encoder
	e.Uvarint(1 << 60)
	huge := e.Buf
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		NewDecoder(huge).Strings()
		NewDecoder(huge).Map()
		NewDecoder(huge).Bytes()
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Fatalf("decoding absurd counts allocated %d bytes", grown)
	}
}

func TestDecoderFinish(t *testing.T) {
	var e Encoder
	e.String("abc")
	e.Uvarint(7)
	tests := []struct {
		name    string
		input   []byte
		wantErr bool
	}{
		{"exact", e.Buf, false},
		{"one trailing byte", append(append([]byte(nil), e.Buf...), 0), true},
		{"trailing garbage", append(append([]byte(nil), e.Buf...), 1, 2, 3), true},
		{"truncated", e.Buf[:len(e.Buf)-1], true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.input)
			s, u := d.String(), d.Uvarint()
			err := d.Finish()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Finish = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Finish = %v, want ErrCorrupt", err)
			}
			if !tc.wantErr && (s != "abc" || u != 7) {
				t.Fatalf("decoded %q %d", s, u)
			}
		})
	}
}

func TestDecoderRemainingAndAliasing(t *testing.T) {
	var e Encoder
	e.Bytes([]byte("payload"))
	e.String("name")
	buf := e.Buf
	d := NewDecoder(buf)
	if d.Remaining() != len(buf) {
		t.Fatalf("Remaining = %d, want %d", d.Remaining(), len(buf))
	}
	b := d.Bytes()
	s := d.String()
	if d.Remaining() != 0 || d.Finish() != nil {
		t.Fatalf("Remaining = %d, Finish = %v", d.Remaining(), d.Err())
	}
	// Byte slices alias the input; strings are copies.
	buf[1] = 'P'
	buf[len(buf)-1] = 'E'
	if string(b) != "Payload" {
		t.Errorf("Bytes does not alias its input: %q", b)
	}
	if s != "name" {
		t.Errorf("String aliases its input: %q", s)
	}
	// The returned slice has no spare capacity into the rest of the input.
	if cap(b) != len(b) {
		t.Errorf("Bytes cap = %d, len %d", cap(b), len(b))
	}
}

func TestCodecTruncatedPrefixesFail(t *testing.T) {
	in := codecValues{u: 1 << 40, v: -1 << 40, b: 1, t: true, s: "string", bs: []byte("bytes"),
		strs: []string{"a", "bb"}, m: map[string]string{"k1": "v1", "k2": "v2"}, u16: 9, u32: 70000, trailer: "x"}
	var e Encoder
	in.encode(&e)
	for n := range len(e.Buf) {
		d := NewDecoder(e.Buf[:n])
		var got codecValues
		got.decode(d)
		if !errors.Is(d.Finish(), ErrCorrupt) {
			t.Fatalf("prefix of %d/%d bytes decoded without error: %#v", n, len(e.Buf), got)
		}
	}
}

func TestCodecGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 64)
	for range 20000 {
		n := rng.IntN(len(buf))
		for i := range n {
			buf[i] = byte(rng.Uint32())
		}
		var c codecValues
		c.decode(NewDecoder(buf[:n]))
	}
}
