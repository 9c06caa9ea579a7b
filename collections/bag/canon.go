package bag

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
)

// canonical returns the canonical msgpack encoding of the value b (one
// value): every integer in its smallest encoding (as appendCompactInt),
// every str, bin, array and map header in its smallest form, and map
// entries sorted by their keys' canonical encodings. Equal values encode
// equally whatever produced them (a Go map's encoding follows its random
// iteration order; int64 always takes 9 bytes), so Frequencies, Distinct
// and GroupBy compare canonical encodings. b is returned as is when it is
// already canonical and holds no map or array (the common case: a string
// or a small int).
func canonical(b []byte) ([]byte, error) {
	if len(b) > 0 {
		switch c := b[0]; {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3 || c == 0xcb:
			return b, nil // fixint, nil, bool, float64
		case c >= 0xa0 && c <= 0xbf:
			return b, nil // fixstr
		case c == 0xd9 && len(b) > 1 && b[1] >= 32:
			return b, nil // str8 of a string that needs it
		}
	}
	out, next, err := appendCanonical(nil, b, 0)
	if err != nil {
		return nil, err
	}
	if next != len(b) {
		return nil, errCorrupt
	}
	return out, nil
}

func appendCanonical(dst, b []byte, i int) ([]byte, int, error) {
	if i >= len(b) {
		return nil, 0, errCorrupt
	}
	end, err := skipValue(b, i)
	if err != nil {
		return nil, 0, err
	}
	v := b[i:end]
	c := v[0]
	switch {
	case c <= 0x7f || c >= 0xe0:
		return append(dst, c), end, nil
	case c >= 0xcc && c <= 0xcf: // uint 8..64
		var u uint64
		switch c {
		case 0xcc:
			u = uint64(v[1])
		case 0xcd:
			u = uint64(binary.BigEndian.Uint16(v[1:]))
		case 0xce:
			u = uint64(binary.BigEndian.Uint32(v[1:]))
		default:
			u = binary.BigEndian.Uint64(v[1:])
		}
		if u > math.MaxInt64 {
			return binary.BigEndian.AppendUint64(append(dst, 0xcf), u), end, nil
		}
		return appendCompactInt(dst, int64(u)), end, nil
	case c >= 0xd0 && c <= 0xd3: // int 8..64
		var n int64
		switch c {
		case 0xd0:
			n = int64(int8(v[1]))
		case 0xd1:
			n = int64(int16(binary.BigEndian.Uint16(v[1:])))
		case 0xd2:
			n = int64(int32(binary.BigEndian.Uint32(v[1:])))
		default:
			n = int64(binary.BigEndian.Uint64(v[1:]))
		}
		return appendCompactInt(dst, n), end, nil
	case (c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb:
		s, _ := strPayload(v)
		return appendStr(dst, s), end, nil
	case c == 0xc4 || c == 0xc5 || c == 0xc6:
		s, _ := strPayload(v)
		return appendBin(dst, s), end, nil
	case (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd:
		n, pos, err := arrayHeader(b, i)
		if err != nil {
			return nil, 0, err
		}
		dst = appendArrayHeaderMin(dst, n)
		for range n {
			if dst, pos, err = appendCanonical(dst, b, pos); err != nil {
				return nil, 0, err
			}
		}
		return dst, end, nil
	case (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf:
		n, start, err := mapHeader(v)
		if err != nil {
			return nil, 0, err
		}
		type entry struct{ key, kv []byte }
		entries := make([]entry, n)
		pos := i + start
		for k := range n {
			var kv []byte
			if kv, pos, err = appendCanonical(nil, b, pos); err != nil {
				return nil, 0, err
			}
			klen := len(kv)
			if kv, pos, err = appendCanonical(kv, b, pos); err != nil {
				return nil, 0, err
			}
			entries[k] = entry{key: kv[:klen], kv: kv}
		}
		slices.SortStableFunc(entries, func(x, y entry) int { return bytes.Compare(x.key, y.key) })
		dst = appendMapHeader(dst, n)
		for _, e := range entries {
			dst = append(dst, e.kv...)
		}
		return dst, end, nil
	}
	// nil, bools, floats, ext: as they are.
	return append(dst, v...), end, nil
}

func appendBin(b, s []byte) []byte {
	switch n := len(s); {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, s...)
}
