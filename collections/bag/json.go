package bag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// appendJSON appends the msgpack encoding of the JSON text to dst, without
// building Go values: objects become maps with their keys sorted (the last
// of duplicate keys wins, as in encoding/json), arrays arrays, integral
// numbers that fit int64 the smallest int encoding, other numbers float64,
// strings str (invalid UTF-8 replaced by U+FFFD). The result is the same as
// encoding the value encoding/json decodes (with UseNumber, integers as
// int64) with a msgpack encoder using sorted map keys and compact ints.
func appendJSON(dst, text []byte) ([]byte, error) {
	var p jsonParser
	return p.appendJSON(dst, text)
}

// appendJSON is appendJSON reusing p's scratch space (one parser per
// goroutine).
func (p *jsonParser) appendJSON(dst, text []byte) ([]byte, error) {
	p.s, p.i = text, 0
	p.ws()
	if p.i == len(p.s) {
		return dst, errors.New("empty line")
	}
	dst, err := p.value(dst, 0)
	if err != nil {
		return dst, err
	}
	p.ws()
	if p.i != len(p.s) {
		return dst, fmt.Errorf("data after the JSON value at byte %d", p.i)
	}
	return dst, nil
}

type jsonParser struct {
	s       []byte
	i       int
	str     []byte      // scratch for strings with escapes
	tmp     []byte      // scratch for reordering an object's entries
	entries []jsonEntry // a stack: each object's entries above its base
}

const maxJSONDepth = 10000

func (p *jsonParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: "+format, append([]any{p.i}, args...)...)
}

func (p *jsonParser) value(dst []byte, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return dst, p.errorf("nested deeper than %d", maxJSONDepth)
	}
	if p.i >= len(p.s) {
		return dst, p.errorf("unexpected end of JSON input")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(dst, depth)
	case c == '[':
		return p.array(dst, depth)
	case c == '"':
		s, err := p.stringBytes()
		if err != nil {
			return dst, err
		}
		return appendStr(dst, s), nil
	case c == 't':
		return p.literal(dst, "true", 0xc3)
	case c == 'f':
		return p.literal(dst, "false", 0xc2)
	case c == 'n':
		return p.literal(dst, "null", 0xc0)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(dst)
	default:
		return dst, p.errorf("invalid character %q looking for beginning of value", c)
	}
}

func (p *jsonParser) literal(dst []byte, word string, code byte) ([]byte, error) {
	if !bytes.HasPrefix(p.s[p.i:], []byte(word)) {
		return dst, p.errorf("invalid literal (want %s)", word)
	}
	p.i += len(word)
	return append(dst, code), nil
}

func (p *jsonParser) number(dst []byte) ([]byte, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return dst, p.errorf("invalid number")
	}
	integral := true
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		integral = false
		if digits() == 0 {
			return dst, p.errorf("invalid number: no digits after the decimal point")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		integral = false
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return dst, p.errorf("invalid number: no digits in the exponent")
		}
	}
	text := p.s[start:p.i]
	if integral {
		if v, ok := parseInt(text); ok {
			return appendCompactInt(dst, v), nil
		}
	}
	f, _ := strconv.ParseFloat(string(text), 64) // out of range: ±Inf, as encoding/json's Number
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(f)), nil
}

// stringBytes reads a JSON string at p.i and returns its decoded bytes
// (aliasing the input when it has no escapes).
func (p *jsonParser) stringBytes() ([]byte, error) {
	p.i++ // the quote
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				return bytes.ToValidUTF8(s, []byte("\uFFFD")), nil
			}
			return s, nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20:
			return nil, p.errorf("invalid character %q in string literal", c)
		}
		p.i++
	}
	return nil, p.errorf("unexpected end of JSON input in a string")
}

func (p *jsonParser) escapedString(start int) ([]byte, error) {
	out := append(p.str[:0], p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			p.str = out
			if !utf8.Valid(out) {
				out = bytes.ToValidUTF8(out, []byte("\uFFFD"))
			}
			return out, nil
		case c < 0x20:
			return nil, p.errorf("invalid character %q in string literal", c)
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.s) {
			break
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					var ok bool
					if r2, ok = p.hex4(); !ok {
						return nil, p.errorf("invalid \\u escape")
					}
					if utf16.DecodeRune(r, r2) == utf8.RuneError {
						p.i = save // not a pair: the second is read on its own
						r2 = -1
					}
				}
				if r2 >= 0 {
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.errorf("invalid escape \\%c", e)
		}
	}
	return nil, p.errorf("unexpected end of JSON input in a string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range p.s[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

func (p *jsonParser) array(dst []byte, depth int) ([]byte, error) {
	p.i++ // [
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0) // room for the longest header
	n := 0
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
	} else {
		for {
			var err error
			if dst, err = p.value(dst, depth+1); err != nil {
				return dst, err
			}
			n++
			p.ws()
			if p.i >= len(p.s) {
				return dst, p.errorf("unexpected end of JSON input in an array")
			}
			if p.s[p.i] == ']' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return dst, p.errorf("invalid character %q after array element", p.s[p.i])
			}
			p.i++
			p.ws()
		}
	}
	return putHeader(dst, start, appendArrayHeaderMin(nil, n)), nil
}

// putHeader writes hdr into the 5 bytes reserved at start, moving the
// contents left over the unused ones.
func putHeader(dst []byte, start int, hdr []byte) []byte {
	copy(dst[start:], hdr)
	if gap := 5 - len(hdr); gap > 0 {
		copy(dst[start+len(hdr):], dst[start+5:])
		dst = dst[:len(dst)-gap]
	}
	return dst
}

// parseInt parses a JSON integer (already validated) if it fits int64.
func parseInt(text []byte) (int64, bool) {
	neg := text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range text {
		u = u*10 + uint64(c-'0') // 19 digits fit uint64
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	}
	return 0, false
}

type jsonEntry struct {
	key          []byte // the key's bytes in dst, set once the object is read
	start, end   int    // the encoded key and value, relative to the object's body
	kstart, klen int    // the key's bytes, relative to the body
}

func (p *jsonParser) object(dst []byte, depth int) ([]byte, error) {
	p.i++ // {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	body := len(dst)
	base := len(p.entries)
	defer func() { p.entries = p.entries[:base] }()
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
	} else {
		for {
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return dst, p.errorf("looking for the beginning of an object key string")
			}
			k, err := p.stringBytes()
			if err != nil {
				return dst, err
			}
			e := jsonEntry{start: len(dst) - body}
			dst = appendStr(dst, k)
			e.kstart, e.klen = len(dst)-len(k)-body, len(k)
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return dst, p.errorf("after object key: want ':'")
			}
			p.i++
			p.ws()
			if dst, err = p.value(dst, depth+1); err != nil {
				return dst, err
			}
			e.end = len(dst) - body
			p.entries = append(p.entries, e)
			p.ws()
			if p.i >= len(p.s) {
				return dst, p.errorf("unexpected end of JSON input in an object")
			}
			if p.s[p.i] == '}' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return dst, p.errorf("invalid character %q after object key:value pair", p.s[p.i])
			}
			p.i++
			p.ws()
		}
	}
	entries := p.entries[base:]
	for i := range entries {
		e := &entries[i]
		e.key = dst[body+e.kstart : body+e.kstart+e.klen]
	}
	cmpKeys := func(a, b jsonEntry) int { return bytes.Compare(a.key, b.key) }
	if !slices.IsSortedFunc(entries, cmpKeys) || hasDuplicates(entries) {
		// Sort (stable: the last of equal keys stays last), keep the last
		// of each key, and write the entries back in that order.
		slices.SortStableFunc(entries, cmpKeys)
		kept := entries[:0]
		for i, e := range entries {
			if i+1 < len(entries) && bytes.Equal(entries[i+1].key, e.key) {
				continue
			}
			kept = append(kept, e)
		}
		entries = kept
		p.tmp = append(p.tmp[:0], dst[body:]...)
		dst = dst[:body]
		for _, e := range entries {
			dst = append(dst, p.tmp[e.start:e.end]...)
		}
	}
	return putHeader(dst, start, appendMapHeader(nil, len(entries))), nil
}

func hasDuplicates(sortedEntries []jsonEntry) bool {
	for i := 1; i < len(sortedEntries); i++ {
		if bytes.Equal(sortedEntries[i].key, sortedEntries[i-1].key) {
			return true
		}
	}
	return false
}

// appendCompactInt encodes v as msgpack's smallest int (as vmihailenco's
// encoder with UseCompactInts does).
func appendCompactInt(b []byte, v int64) []byte {
	if v >= 0 {
		switch {
		case v <= 0x7f:
			return append(b, byte(v))
		case v <= math.MaxUint8:
			return append(b, 0xcc, byte(v))
		case v <= math.MaxUint16:
			return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
		case v <= math.MaxUint32:
			return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendArrayHeaderMin(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}
