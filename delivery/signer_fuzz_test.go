package delivery

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func FuzzSignatureHeader(f *testing.F) {
	kaKey, err := ParseSecret(kaSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kaKey, kaMsgID, int64(kaTimestamp), []byte(kaPayload), kaSignature)
	f.Add(kaKey, kaMsgID, int64(kaTimestamp), []byte(kaPayload), "v1a,abc v2,def "+kaSignature)
	f.Add([]byte{}, "", int64(0), []byte{}, "")
	f.Add([]byte("k"), "msg_1", int64(-1), []byte("{}"), "v1,")
	f.Add([]byte("k"), "a.b", int64(1<<62), []byte(".c"), "v1,"+strings.Repeat("A", 43)+"= v1,, ,v1 v1,v1,x")
	f.Add(bytes.Repeat([]byte{0xff}, 100), "msg.with.dots", int64(-9223372036854775808), []byte("\x00\xff"), strings.Repeat("v1,x ", 100))
	f.Add([]byte("k"), "m", int64(1), []byte("b"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=") // non-canonical
	f.Fuzz(func(t *testing.T, key []byte, msgID string, ts int64, body []byte, header string) {
		sigs := ParseSignatureHeader(header)
		if len(sigs) > maxSignatureEntries {
			t.Fatalf("%d signatures returned, at most %d allowed", len(sigs), maxSignatureEntries)
		}
		for _, s := range sigs {
			raw, err := base64.StdEncoding.Strict().DecodeString(s)
			if err != nil || len(raw) != 32 || !strings.Contains(header, "v1,"+s) {
				t.Fatalf("ParseSignatureHeader(%q) returned %q, not a v1 SHA-256 signature from the header", header, s)
			}
		}

		ours := Sign(nil, key, msgID, ts, body)
		if Verify(key, msgID, ts, body, header) && !strings.Contains(header, string(ours)) {
			t.Fatalf("Verify accepted %q, which does not carry the signature %q", header, ours)
		}

		own := SignatureHeader([][]byte{key}, msgID, ts, body)
		if own != string(ours) {
			t.Fatalf("SignatureHeader = %q, Sign = %q", own, ours)
		}
		if !Verify(key, msgID, ts, body, own) {
			t.Fatalf("Verify rejected Herald's own header %q", own)
		}
		// During rotation the signature a receiver holds may be any of
		// several; whatever else comes after it must not hide it.
		other := append(bytes.Clone(key), 'x')
		rot := SignatureHeader([][]byte{other, key}, msgID, ts, body)
		if !Verify(key, msgID, ts, body, rot) || !Verify(other, msgID, ts, body, rot) {
			t.Fatalf("Verify rejected a rotation header %q", rot)
		}
		if !Verify(key, msgID, ts, body, own+" "+header) {
			t.Fatalf("Verify rejected Herald's header followed by %q", header)
		}
		if Verify(key, msgID, ts+1, body, own) || Verify(key, msgID, ts, append(bytes.Clone(body), 0), own) {
			t.Fatal("Verify accepted a changed timestamp or body")
		}
		if len(key) > 0 {
			flipped := bytes.Clone(key)
			flipped[0] ^= 1
			if Verify(flipped, msgID, ts, body, own) {
				t.Fatal("Verify accepted a changed key")
			}
		}
	})
}
