package delivery

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSignatureHeader(t *testing.T) {
	const (
		a = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
		b = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		c = "//////////////////////////////////////////8=" // 32 bytes of 0xff
	)
	tests := []struct {
		name   string
		header string
		want   []string
	}{
		{"empty", "", nil},
		{"spaces only", "    ", nil},
		{"one", "v1," + a, []string{a}},
		{"multiple", "v1," + a + " v1," + b + " v1," + c, []string{a, b, c}},
		{"duplicates kept", "v1," + a + " v1," + a, []string{a, a}},
		{"extra spaces", "  v1," + a + "   v1," + b + "  ", []string{a, b}},
		{"v1a skipped", "v1a," + a + " v1," + b, []string{b}},
		{"unknown versions skipped", "v2," + a + " v0," + a + " V1," + a + " v1," + b, []string{b}},
		{"no comma", "v1" + a, nil},
		{"empty signature", "v1, v1," + a, []string{a}},
		{"empty version", "," + a, nil},
		{"second comma", "v1," + a + "," + b, nil},
		{"not base64", "v1,!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", nil},
		{"url alphabet", "v1," + strings.NewReplacer("+", "-", "/", "_").Replace(a), nil},
		{"unpadded", "v1," + a[:43], nil},
		{"too long", "v1," + a + "AAAA", nil},
		{"non-canonical padding bits", "v1," + a[:42] + "F=", nil},
		{"tab is not a separator", "v1," + a + "\tv1," + b, nil},
		{"newline inside", "v1," + a[:20] + "\n" + a[20:], nil},
		{"hex signature", "v1,830d4cf52b04f8e4d3253" + "1adfed9882ad4b2665137b852444b594d20e2c9d4e1", nil},
		{"junk around valid", "garbage v1," + a + " ,,, v1,", []string{a}},
		{"prefix like Stripe", "t=1,v1=" + a, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseSignatureHeader(tc.header)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ParseSignatureHeader(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

// TestParseSignatureHeaderBounded checks that only the first 64 entries are
// considered, whatever the header's length.
func TestParseSignatureHeaderBounded(t *testing.T) {
	sig := "v1," + strings.Repeat("A", 43) + "="
	many := strings.TrimSpace(strings.Repeat(sig+" ", 1000))
	if got := ParseSignatureHeader(many); len(got) != maxSignatureEntries {
		t.Fatalf("%d entries returned, want %d", len(got), maxSignatureEntries)
	}
	// A valid signature behind 64 junk entries is not reached.
	late := strings.Repeat("junk ", maxSignatureEntries) + sig
	if got := ParseSignatureHeader(late); len(got) != 0 {
		t.Fatalf("signature after %d entries was considered: %q", maxSignatureEntries, got)
	}
	// Empty entries are not entries: spaces cost a scan, not a slot.
	if got := ParseSignatureHeader(strings.Repeat(" ", 1<<20) + sig); len(got) != 1 {
		t.Fatalf("signature after a run of spaces not found: %q", got)
	}
	// Huge inputs take time linear in their length and allocate nothing
	// proportional to it.
	huge := strings.Repeat("v1,", 1<<20) + " " + strings.Repeat("x", 1<<20)
	start := time.Now()
	if got := ParseSignatureHeader(huge); len(got) != 0 {
		t.Fatalf("junk parsed as %d signatures", len(got))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("parsing a 4 MiB header took %v", d)
	}
	allocs := testing.AllocsPerRun(10, func() { ParseSignatureHeader(many) })
	if allocs > 10 {
		t.Fatalf("ParseSignatureHeader allocated %v times for %d entries", allocs, maxSignatureEntries)
	}
}

func TestVerifyKnownAnswer(t *testing.T) {
	key, err := ParseSecret(kaSecret)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(key, kaMsgID, kaTimestamp, []byte(kaPayload), kaSignature) {
		t.Fatal("Verify rejected the published Standard Webhooks example")
	}
	if !Verify(key, kaMsgID, kaTimestamp, []byte(kaPayload), "v1a,xyz v2,abc "+kaSignature+" v1,"+strings.Repeat("A", 43)+"=") {
		t.Fatal("Verify rejected the example among other entries")
	}
}

func TestVerifyOwnHeader(t *testing.T) {
	_, k1 := mustSecret(t)
	_, k2 := mustSecret(t)
	_, k3 := mustSecret(t)
	body := []byte(`{"type":"job.completed","data":{"id":"job_1"}}`)
	const id, ts = "msg_2abcdefghijklmnopqrstuvwxyz", int64(1735689600)

	header := SignatureHeader([][]byte{k1, k2}, id, ts, body)
	for i, key := range [][]byte{k1, k2} {
		if !Verify(key, id, ts, body, header) {
			t.Errorf("key %d: Verify rejected Herald's own header %q", i+1, header)
		}
	}
	if Verify(k3, id, ts, body, header) {
		t.Error("Verify accepted a key that did not sign")
	}
	if Verify(k1, id, ts, body, "") || Verify(nil, id, ts, body, "") {
		t.Error("Verify accepted an empty header")
	}

	// Every argument is bound: change one and the signature fails.
	one := SignatureHeader([][]byte{k1}, id, ts, body)
	// A flipped bit, not a shorter key: HMAC pads keys with zeros, so a
	// key ending in a zero byte signs like the key without it.
	flipped := bytes.Clone(k1)
	flipped[len(flipped)-1] ^= 1
	for name, ok := range map[string]bool{
		"key":       Verify(flipped, id, ts, body, one),
		"id":        Verify(k1, id+"x", ts, body, one),
		"timestamp": Verify(k1, id, ts+1, body, one),
		"body":      Verify(k1, id, ts, append(bytes.Clone(body), ' '), one),
		"nil body":  Verify(k1, id, ts, nil, one),
	} {
		if ok {
			t.Errorf("Verify accepted a changed %s", name)
		}
	}
	for i := range body {
		changed := bytes.Clone(body)
		changed[i] ^= 1
		if Verify(k1, id, ts, changed, one) {
			t.Fatalf("Verify accepted the body with byte %d changed", i)
		}
	}
	for i := range k1 {
		changed := bytes.Clone(k1)
		changed[i] ^= 0x80
		if Verify(changed, id, ts, body, one) {
			t.Fatalf("Verify accepted the key with byte %d changed", i)
		}
	}
}

// TestVerifyAnySingleByteChange replaces each byte of a one-signature
// header by every other byte value: none of the results may verify.
func TestVerifyAnySingleByteChange(t *testing.T) {
	_, key := mustSecret(t)
	body := []byte(`{"ok":true}`)
	const id, ts = "msg_1", int64(1700000000)
	header := SignatureHeader([][]byte{key}, id, ts, body)
	if !Verify(key, id, ts, body, header) {
		t.Fatal("unchanged header does not verify")
	}
	b := []byte(header)
	for i := range b {
		orig := b[i]
		for v := range 256 {
			if byte(v) == orig {
				continue
			}
			b[i] = byte(v)
			if Verify(key, id, ts, body, string(b)) {
				t.Fatalf("header with byte %d changed from %q to %q verifies: %q", i, orig, byte(v), b)
			}
		}
		b[i] = orig
	}
	// In a rotation header, changing the entry of one key fails that key
	// and leaves the other intact.
	_, other := mustSecret(t)
	two := []byte(SignatureHeader([][]byte{key, other}, id, ts, body))
	two[10] ^= 1 // inside the first signature
	if Verify(key, id, ts, body, string(two)) {
		t.Fatal("changed first signature still verifies for its key")
	}
	if !Verify(other, id, ts, body, string(two)) {
		t.Fatal("intact second signature no longer verifies")
	}
}

func BenchmarkVerify(b *testing.B) {
	_, key := mustSecret(b)
	body := bytes.Repeat([]byte("x"), 1024)
	header := SignatureHeader([][]byte{key, key}, "msg_1", 1700000000, body)
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(key, "msg_1", 1700000000, body, header) {
			b.Fatal("does not verify")
		}
	}
}
