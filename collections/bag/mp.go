package bag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/meshcompute/mesh/futures"
)

// A partition value is one msgpack bin whose payload is a msgpack array of
// the elements, each element stored as its own msgpack encoding. Tasks
// take it as futures.RawBytes (aliasing the store, no copy) and walk the
// elements without decoding them; a task that calls a registered function
// hands it an element's bytes as they are, and appends the function's
// encoded result as it is.

var errCorrupt = errors.New("bag: corrupt msgpack value")

// skipValue returns the end of the msgpack value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	for pending := 1; pending > 0; pending-- {
		if i >= len(b) {
			return 0, errCorrupt
		}
		c := b[i]
		var n, h int // payload bytes, header bytes
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
			h = 1
		case c >= 0x80 && c <= 0x8f:
			h, pending = 1, pending+2*int(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			h, pending = 1, pending+int(c&0x0f)
		case c >= 0xa0 && c <= 0xbf:
			h, n = 1, int(c&0x1f)
		default:
			var err error
			h, n, pending, err = longHeader(b[i:], pending)
			if err != nil {
				return 0, err
			}
		}
		i += h + n
	}
	if i > len(b) {
		return 0, errCorrupt
	}
	return i, nil
}

func be(b []byte, size int) (int, bool) {
	if len(b) < 1+size {
		return 0, false
	}
	switch size {
	case 1:
		return int(b[1]), true
	case 2:
		return int(binary.BigEndian.Uint16(b[1:])), true
	default:
		return int(binary.BigEndian.Uint32(b[1:])), true
	}
}

// longHeader decodes the headers 0xc4..0xdf.
func longHeader(b []byte, pending int) (h, n, pend int, err error) {
	c := b[0]
	pend = pending
	var size int
	switch c {
	case 0xcc, 0xd0:
		return 1, 1, pend, nil
	case 0xcd, 0xd1, 0xd4:
		return 1, 2, pend, nil
	case 0xd5:
		return 1, 3, pend, nil
	case 0xca, 0xce, 0xd2:
		return 1, 4, pend, nil
	case 0xd6:
		return 1, 5, pend, nil
	case 0xcb, 0xcf, 0xd3:
		return 1, 8, pend, nil
	case 0xd7:
		return 1, 9, pend, nil
	case 0xd8:
		return 1, 17, pend, nil
	case 0xc4, 0xd9, 0xc7:
		size = 1
	case 0xc5, 0xda, 0xc8, 0xdc, 0xde:
		size = 2
	case 0xc6, 0xdb, 0xc9, 0xdd, 0xdf:
		size = 4
	default:
		return 0, 0, 0, fmt.Errorf("%w: code 0x%02x", errCorrupt, c)
	}
	v, ok := be(b, size)
	if !ok {
		return 0, 0, 0, errCorrupt
	}
	switch c {
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb:
		return 1 + size, v, pend, nil
	case 0xc7, 0xc8, 0xc9: // ext: length, type byte, data
		return 2 + size, v, pend, nil
	case 0xdc, 0xdd:
		return 1 + size, 0, pend + v, nil
	default: // maps
		return 1 + size, 0, pend + 2*v, nil
	}
}

// arrayHeader reads an array (or nil) header at b[i]: the element count
// and where the elements start.
func arrayHeader(b []byte, i int) (n, start int, err error) {
	if i >= len(b) {
		return 0, 0, errCorrupt
	}
	c := b[i]
	switch {
	case c == 0xc0:
		return 0, i + 1, nil
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), i + 1, nil
	case c == 0xdc || c == 0xdd:
		size := 2
		if c == 0xdd {
			size = 4
		}
		v, ok := be(b[i:], size)
		if !ok {
			return 0, 0, errCorrupt
		}
		return v, i + 1 + size, nil
	}
	return 0, 0, fmt.Errorf("bag: expected a msgpack array, found code 0x%02x", c)
}

// elements calls fn with each element's encoding of the array in b.
func elements(b []byte, fn func(i int, e []byte) error) error {
	n, pos, err := arrayHeader(b, 0)
	if err != nil {
		return err
	}
	for i := range n {
		end, err := skipValue(b, pos)
		if err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
		if err := fn(i, b[pos:end:end]); err != nil {
			return err
		}
		pos = end
	}
	return nil
}

// strPayload returns the bytes of a msgpack str or bin value.
func strPayload(e []byte) ([]byte, bool) {
	if len(e) == 0 {
		return nil, false
	}
	c := e[0]
	var h, n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		h, n = 1, int(c&0x1f)
	case c == 0xd9 || c == 0xc4:
		v, ok := be(e, 1)
		if !ok {
			return nil, false
		}
		h, n = 2, v
	case c == 0xda || c == 0xc5:
		v, ok := be(e, 2)
		if !ok {
			return nil, false
		}
		h, n = 3, v
	case c == 0xdb || c == 0xc6:
		v, ok := be(e, 4)
		if !ok {
			return nil, false
		}
		h, n = 5, v
	default:
		return nil, false
	}
	if len(e) != h+n {
		return nil, false
	}
	return e[h:], true
}

// partWriter builds a partition value: bin32 header, array32 header, the
// elements; both headers are filled in by finish.
type partWriter struct {
	buf []byte
	n   int
}

func newPartWriter(capacity int) *partWriter {
	return &partWriter{buf: make([]byte, 10, 10+capacity)}
}

func (w *partWriter) add(e []byte) { w.buf = append(w.buf, e...); w.n++ }

func (w *partWriter) addString(s []byte) {
	w.buf = appendStr(w.buf, s)
	w.n++
}

func (w *partWriter) finish() futures.Encoded {
	w.buf[0] = 0xc6
	binary.BigEndian.PutUint32(w.buf[1:], uint32(len(w.buf)-5))
	w.buf[5] = 0xdd
	binary.BigEndian.PutUint32(w.buf[6:], uint32(w.n))
	return futures.Encoded(w.buf)
}

func appendStr(b, s []byte) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, s...)
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 0x7f:
		return append(b, byte(v))
	case v < 0 && v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
	}
}

func appendArrayHeader(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x90|byte(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// payload returns the array inside a partition value's bin.
func payload(p []byte) ([]byte, error) {
	b, ok := strPayload(p)
	if !ok {
		return nil, fmt.Errorf("%w: not a partition value", errCorrupt)
	}
	return b, nil
}
