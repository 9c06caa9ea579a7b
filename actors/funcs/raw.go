package funcs

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// RawBytes is a byte slice that crosses the call boundary without a copy:
// a RawBytes parameter (or variadic ...RawBytes) aliases the stored msgpack
// value it was decoded from, and a RawBytes result is framed as msgpack bin
// with a single copy. Use it for large opaque values (an Arrow IPC
// partition, say). A function must not modify a RawBytes argument: the
// store and other tasks share its memory. On the wire it is msgpack bin, as
// []byte is, so either type reads the other's values.
type RawBytes []byte

var rawBytesType = reflect.TypeOf(RawBytes(nil))

// Encoded is a result that is already one msgpack value: a function that
// builds a large value with its msgpack header in place returns it as is,
// without the copy that framing a RawBytes costs. It must hold exactly one
// well-formed msgpack value.
type Encoded []byte

var encodedType = reflect.TypeOf(Encoded(nil))

// RawValue is a parameter (or variadic ...RawValue) that receives the
// argument's whole msgpack encoding, whatever its type, without a copy: it
// aliases the stored value, and must not be modified. Use it to pass values
// on without decoding them. As a result, a RawValue is taken as one msgpack
// value, as Encoded is.
type RawValue []byte

var rawValueType = reflect.TypeOf(RawValue(nil))

// rawBin returns the payload of a msgpack bin (or str, or nil) value in b,
// without copying.
func rawBin(b []byte) (RawBytes, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("no value")
	}
	var n, h int
	switch c := b[0]; {
	case c == msgpcode.Nil:
		if len(b) != 1 {
			return nil, fmt.Errorf("%d trailing bytes after the msgpack value", len(b)-1)
		}
		return nil, nil
	case c == msgpcode.Bin8 || c == msgpcode.Str8:
		if len(b) < 2 {
			return nil, fmt.Errorf("truncated bin header")
		}
		n, h = int(b[1]), 2
	case c == msgpcode.Bin16 || c == msgpcode.Str16:
		if len(b) < 3 {
			return nil, fmt.Errorf("truncated bin header")
		}
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case c == msgpcode.Bin32 || c == msgpcode.Str32:
		if len(b) < 5 {
			return nil, fmt.Errorf("truncated bin header")
		}
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	case msgpcode.IsFixedString(c):
		n, h = int(c&msgpcode.FixedStrMask), 1
	default:
		return nil, fmt.Errorf("msgpack code 0x%02x is not bytes", c)
	}
	if len(b)-h != n {
		return nil, fmt.Errorf("bin of %d bytes in %d", n, len(b)-h)
	}
	return RawBytes(b[h : h+n : h+n]), nil
}

// DecodeRaw returns the payload of the msgpack bin value b without a copy
// (as a RawBytes parameter gets it): it aliases b.
func DecodeRaw(b []byte) (RawBytes, error) { return rawBin(b) }

// frameBin encodes p as one msgpack bin value (one copy).
func frameBin(p []byte) []byte {
	if p == nil {
		return []byte{msgpcode.Nil}
	}
	n := len(p)
	var out []byte
	switch {
	case n <= 0xff:
		out = append(make([]byte, 0, n+2), msgpcode.Bin8, byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(make([]byte, 0, n+3), msgpcode.Bin16), uint16(n))
	default:
		out = binary.BigEndian.AppendUint32(append(make([]byte, 0, n+5), msgpcode.Bin32), uint32(n))
	}
	return append(out, p...)
}
