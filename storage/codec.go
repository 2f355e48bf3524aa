package storage

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// ErrCorrupt reports a record or command that cannot be decoded. Every stored
// byte was written by this package, so it means a bug or a damaged disk.
var ErrCorrupt = errors.New("corrupt record")

// Encoder appends a compact binary encoding: unsigned varints for integers,
// length-prefixed strings and byte slices, and sorted pairs for maps so the
// same value always encodes to the same bytes.
type Encoder struct {
	Buf []byte
}

// Uvarint appends v as an unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.Buf = binary.AppendUvarint(e.Buf, v) }

// Varint appends v as a zig-zag varint.
func (e *Encoder) Varint(v int64) { e.Buf = binary.AppendVarint(e.Buf, v) }

// Byte appends one byte.
func (e *Encoder) Byte(b byte) { e.Buf = append(e.Buf, b) }

// Bool appends a bool as one byte.
func (e *Encoder) Bool(b bool) {
	if b {
		e.Buf = append(e.Buf, 1)
	} else {
		e.Buf = append(e.Buf, 0)
	}
}

// String appends a length-prefixed string.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.Buf = append(e.Buf, s...)
}

// Bytes appends a length-prefixed byte slice.
func (e *Encoder) Bytes(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.Buf = append(e.Buf, b...)
}

// Strings appends a counted list of strings.
func (e *Encoder) Strings(list []string) {
	e.Uvarint(uint64(len(list)))
	for _, s := range list {
		e.String(s)
	}
}

// Map appends a counted list of key/value pairs in key order.
func (e *Encoder) Map(m map[string]string) {
	e.Uvarint(uint64(len(m)))
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.String(k)
		e.String(m[k])
	}
}

// Decoder reads what Encoder wrote. The first error sticks: later calls
// return zero values, and Err reports it, so callers check once at the end.
type Decoder struct {
	buf []byte
	err error
}

// NewDecoder returns a Decoder over b. Strings it returns are copies; byte
// slices alias b, so callers must not keep b's buffer for reuse.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Err returns the first decoding error.
func (d *Decoder) Err() error { return d.err }

// Finish returns the first error, or ErrCorrupt when bytes are left over.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = ErrCorrupt
	}
	return d.err
}

// Remaining reports whether undecoded bytes are left.
func (d *Decoder) Remaining() int { return len(d.buf) }

// Fail marks the input as damaged: Finish and Err then report ErrCorrupt.
func (d *Decoder) Fail() { d.fail() }

func (d *Decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.buf = nil
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// Varint reads a zig-zag varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil || len(d.buf) == 0 {
		d.fail()
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

// Bool reads a bool; any byte other than 0 or 1 is corrupt.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail()
		return false
	}
}

// Uint16 reads an unsigned varint that must fit 16 bits.
func (d *Decoder) Uint16() uint16 {
	v := d.Uvarint()
	if v > math.MaxUint16 {
		d.fail()
		return 0
	}
	return uint16(v)
}

// Uint32 reads an unsigned varint that must fit 32 bits.
func (d *Decoder) Uint32() uint32 {
	v := d.Uvarint()
	if v > math.MaxUint32 {
		d.fail()
		return 0
	}
	return uint32(v)
}

// raw reads a length-prefixed run of bytes, aliasing the input.
func (d *Decoder) raw() []byte {
	n := d.Uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail()
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// String reads a length-prefixed string.
func (d *Decoder) String() string { return string(d.raw()) }

// Bytes reads a length-prefixed byte slice; empty decodes as nil. The slice
// aliases the decoder's input.
func (d *Decoder) Bytes() []byte {
	b := d.raw()
	if len(b) == 0 {
		return nil
	}
	return b
}

// Count reads a list length, refusing lengths the remaining input cannot hold
// (each element takes at least one byte), so garbage cannot ask for a huge
// allocation.
func (d *Decoder) Count() int {
	n := d.Uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return 0
	}
	return int(n)
}

// Strings reads a counted list of strings; empty decodes as nil.
func (d *Decoder) Strings() []string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	list := make([]string, n)
	for i := range list {
		list[i] = d.String()
	}
	return list
}

// Map reads counted key/value pairs; empty decodes as nil.
func (d *Decoder) Map() map[string]string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.String()
		m[k] = d.String()
	}
	return m
}
