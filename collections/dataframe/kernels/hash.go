package kernels

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
)

// Fixed hash functions: the same value hashes the same on every node and in every process (no random seed), which
// HashPartition relies on.

const (
	hp1 = 0x9E3779B185EBCA87
	hp2 = 0xC2B2AE3D27D4EB4F
	hp3 = 0x165667B19E3779F9
	hp4 = 0xa0761d6478bd642f
	hp5 = 0xe7037ed1a0b428db
)

// mix64 is the murmur3 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashBytes is a wyhash-style hash of b.
func hashBytes(b []byte) uint64 {
	n := len(b)
	h := uint64(n)*hp1 ^ hp4
	for len(b) > 16 {
		h = mum(binary.LittleEndian.Uint64(b)^hp5, binary.LittleEndian.Uint64(b[8:])^h)
		b = b[16:]
	}
	var a, c uint64
	switch {
	case len(b) >= 8:
		a = binary.LittleEndian.Uint64(b)
		c = binary.LittleEndian.Uint64(b[len(b)-8:])
	case len(b) >= 4:
		a = uint64(binary.LittleEndian.Uint32(b))
		c = uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	case len(b) > 0:
		a = uint64(b[0])<<16 | uint64(b[len(b)>>1])<<8 | uint64(b[len(b)-1])
	}
	return mum(a^hp5^h, c^hp4) ^ mum(h, hp3)
}

func hashInt(x int64) uint64 { return mix64(uint64(x)*hp1 + hp2) }

func hashFloat(f float64) uint64 {
	if f == 0 {
		f = 0 // -0 == 0
	}
	if f != f {
		return hashInt(0x7ff8000000000001)
	}
	return hashInt(int64(math.Float64bits(f)))
}

const hashNull = 0x51ed27f1a3c0ffee

func hashCombine(h, x uint64) uint64 { return mix64(h*hp3 ^ x) }

// hashRow returns the hash of value i of v (nulls hash to a constant).
func (v *view) hash(i int) uint64 {
	if v.isNull(i) {
		return hashNull
	}
	switch v.kind {
	case kInt64:
		return hashInt(v.i64[i])
	case kFloat64:
		return hashFloat(v.f64[i])
	case kString:
		return hashBytes(v.data[v.offs[i]:v.offs[i+1]])
	case kBool:
		if v.boolAt(i) {
			return hashInt(1)
		}
		return hashInt(0)
	}
	return 0
}

// hashRows hashes the rows of several key columns into out.
func hashRows(keys []*view, n int, out []uint64) {
	for i := range out[:n] {
		out[i] = hp2
	}
	for _, k := range keys {
		switch {
		case k.kind == kInt64 && k.valid == nil:
			for i, x := range k.i64 {
				out[i] = hashCombine(out[i], hashInt(x))
			}
		case k.kind == kDict:
			hashDict(k, out)
		case k.kind == kString && k.valid == nil:
			for i := 0; i < n; i++ {
				out[i] = hashCombine(out[i], hashBytes(k.data[k.offs[i]:k.offs[i+1]]))
			}
		default:
			for i := 0; i < n; i++ {
				out[i] = hashCombine(out[i], k.hash(i))
			}
		}
	}
}

// eqRows reports whether row i of a and row j of b hold equal values (both non-null).
func eqVal(a *view, i int, b *view, j int) bool {
	switch a.kind {
	case kInt64:
		return a.i64[i] == b.i64[j]
	case kFloat64:
		return a.f64[i] == b.f64[j]
	case kString:
		return bytes.Equal(a.data[a.offs[i]:a.offs[i+1]], b.data[b.offs[j]:b.offs[j+1]])
	case kBool:
		return a.boolAt(i) == b.boolAt(j)
	}
	return false
}

// ---- dense encoding of key columns ----

// codes maps every row to a dense code 0..card-1 (a null is a code of its own); first[c] is the first row with
// code c.
type codes struct {
	c     []uint32
	card  int
	first []int32
}

// encode computes dense codes of one column.
func encode(v *view) codes {
	switch v.kind {
	case kInt64:
		return encodeInt(v)
	case kString:
		return encodeString(v)
	case kDict:
		return encodeDict(v)
	default:
		return encodeGeneric(v)
	}
}

func encodeInt(v *view) codes {
	n := v.n
	out := codes{c: make([]uint32, n)}
	if n == 0 {
		return out
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	if v.valid == nil {
		for _, x := range v.i64 {
			lo, hi = min(lo, x), max(hi, x)
		}
	} else {
		for i, x := range v.i64 {
			if v.isNull(i) {
				continue
			}
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	nullCode := uint32(math.MaxUint32)
	if lo <= hi && uint64(hi-lo) < uint64(max(2*n, 1<<16)) && hi-lo >= 0 {
		// direct mapping over the value range
		tab := make([]uint32, hi-lo+1) // code+1, 0 = unseen
		if v.valid == nil {
			c := out.c[:len(v.i64)]
			for i, x := range v.i64 {
				s := &tab[x-lo]
				if *s == 0 {
					out.first = append(out.first, int32(i))
					*s = uint32(len(out.first))
				}
				c[i] = *s - 1
			}
			out.card = len(out.first)
			return out
		}
		for i, x := range v.i64 {
			if v.valid != nil && v.isNull(i) {
				if nullCode == math.MaxUint32 {
					nullCode = uint32(len(out.first))
					out.first = append(out.first, int32(i))
				}
				out.c[i] = nullCode
				continue
			}
			s := &tab[x-lo]
			if *s == 0 {
				out.first = append(out.first, int32(i))
				*s = uint32(len(out.first))
			}
			out.c[i] = *s - 1
		}
		out.card = len(out.first)
		return out
	}
	t := newU64Table(64)
	for i, x := range v.i64 {
		if v.valid != nil && v.isNull(i) {
			if nullCode == math.MaxUint32 {
				nullCode = uint32(len(out.first))
				out.first = append(out.first, int32(i))
			}
			out.c[i] = nullCode
			continue
		}
		c, isNew := t.insert(uint64(x), uint32(len(out.first)))
		if isNew {
			out.first = append(out.first, int32(i))
		}
		out.c[i] = c
	}
	out.card = len(out.first)
	return out
}

func encodeString(v *view) codes {
	n := v.n
	out := codes{c: make([]uint32, n)}
	nullCode := uint32(math.MaxUint32)
	t := newBytesTable(256)
	for i := 0; i < n; i++ {
		if v.valid != nil && v.isNull(i) {
			if nullCode == math.MaxUint32 {
				nullCode = uint32(len(out.first))
				out.first = append(out.first, int32(i))
			}
			out.c[i] = nullCode
			continue
		}
		b := v.data[v.offs[i]:v.offs[i+1]]
		c, isNew := t.insert(b, hashBytes(b), uint32(len(out.first)))
		if isNew {
			out.first = append(out.first, int32(i))
		}
		out.c[i] = c
	}
	out.card = len(out.first)
	return out
}

func encodeGeneric(v *view) codes {
	n := v.n
	out := codes{c: make([]uint32, n)}
	nullCode := uint32(math.MaxUint32)
	t := newU64Table(64)
	for i := 0; i < n; i++ {
		if v.isNull(i) {
			if nullCode == math.MaxUint32 {
				nullCode = uint32(len(out.first))
				out.first = append(out.first, int32(i))
			}
			out.c[i] = nullCode
			continue
		}
		var key uint64
		switch v.kind {
		case kFloat64:
			f := v.f64[i]
			if f == 0 {
				f = 0
			}
			key = math.Float64bits(f)
			if f != f {
				key = 0x7ff8000000000001
			}
		case kBool:
			if v.boolAt(i) {
				key = 1
			}
		}
		c, isNew := t.insert(key, uint32(len(out.first)))
		if isNew {
			out.first = append(out.first, int32(i))
		}
		out.c[i] = c
	}
	out.card = len(out.first)
	return out
}

// u64Table is an open-addressing map from uint64 keys to dense uint32 values.
type u64Table struct {
	keys []uint64
	vals []uint32 // value+1; 0 = empty slot
	mask uint64
	n    int
}

func newU64Table(hint int) *u64Table {
	sz := 16
	for sz < hint*2 {
		sz <<= 1
	}
	return &u64Table{keys: make([]uint64, sz), vals: make([]uint32, sz), mask: uint64(sz - 1)}
}

// insert returns the value stored for key, storing val when key is new.
func (t *u64Table) insert(key uint64, val uint32) (uint32, bool) {
	i := mix64(key) & t.mask
	for {
		s := t.vals[i]
		if s == 0 {
			t.keys[i] = key
			t.vals[i] = val + 1
			t.n++
			if uint64(t.n)*2 > t.mask {
				t.grow()
			}
			return val, true
		}
		if t.keys[i] == key {
			return s - 1, false
		}
		i = (i + 1) & t.mask
	}
}

func (t *u64Table) grow() {
	ok, ov := t.keys, t.vals
	sz := len(ok) * 2
	t.keys, t.vals, t.mask = make([]uint64, sz), make([]uint32, sz), uint64(sz-1)
	for j, s := range ov {
		if s == 0 {
			continue
		}
		i := mix64(ok[j]) & t.mask
		for t.vals[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.keys[i], t.vals[i] = ok[j], s
	}
}

// bytesTable is an open-addressing map from byte strings to dense uint32 values. Keys are copied into a compact
// arena, so lookups touch only the table and the arena, never the input rows.
type bytesTable struct {
	// slots: the high 32 bits of the key's hash, then entry+1 in the low
	// 32 bits; 0 = empty. A probe compares the hash tag in the slot itself
	// and reads the arena only on a tag match (one cache miss per lookup,
	// not three).
	slots  []uint64
	hashes []uint64 // per entry (for grow)
	vals   []uint32 // per entry
	offs   []int32  // per entry: arena offsets (len entries+1)
	arena  []byte
	mask   uint64
}

func newBytesTable(hint int) *bytesTable {
	sz := 16
	for sz < hint*2 {
		sz <<= 1
	}
	return &bytesTable{slots: make([]uint64, sz), mask: uint64(sz - 1), offs: []int32{0}}
}

func (t *bytesTable) insert(b []byte, h uint64, val uint32) (uint32, bool) {
	i := h & t.mask
	tag := h &^ (1<<32 - 1)
	for {
		s := t.slots[i]
		if s == 0 {
			t.slots[i] = tag | uint64(len(t.hashes)+1)
			t.hashes = append(t.hashes, h)
			t.vals = append(t.vals, val)
			t.arena = append(t.arena, b...)
			t.offs = append(t.offs, int32(len(t.arena)))
			if uint64(len(t.hashes))*2 > t.mask {
				t.grow()
			}
			return val, true
		}
		if s&^(1<<32-1) == tag {
			c := uint32(s) - 1
			if equalBytes(t.arena[t.offs[c]:t.offs[c+1]], b) {
				return t.vals[c], false
			}
		}
		i = (i + 1) & t.mask
	}
}

// equalBytes is bytes.Equal with an inline path for keys of 8 to 16 bytes.
func equalBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	if n := len(a); n >= 8 && n <= 16 {
		return binary.LittleEndian.Uint64(a) == binary.LittleEndian.Uint64(b) &&
			binary.LittleEndian.Uint64(a[n-8:]) == binary.LittleEndian.Uint64(b[n-8:])
	}
	return string(a) == string(b)
}

func (t *bytesTable) grow() {
	sz := len(t.slots) * 2
	t.slots, t.mask = make([]uint64, sz), uint64(sz-1)
	for c, h := range t.hashes {
		i := h & t.mask
		for t.slots[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = h&^(1<<32-1) | uint64(c+1)
	}
}

// groupIDs combines the codes of several key columns into dense group ids (in order of first appearance).
// With no keys every row is group 0 and there is exactly one group.
func groupIDs(keys []*view, n int) (gid []uint32, ngroups int, first []int32) {
	if len(keys) == 0 {
		return make([]uint32, n), 1, []int32{-1}
	}
	cs := make([]codes, len(keys))
	for i, k := range keys {
		cs[i] = encode(k)
	}
	if len(keys) == 1 {
		return cs[0].c, cs[0].card, cs[0].first
	}
	// Composite keys: mix codes into one uint64 while the product of cardinalities fits, then densify.
	comp := make([]uint64, n)
	for i, c := range cs[0].c {
		comp[i] = uint64(c)
	}
	card := uint64(max(cs[0].card, 1))
	var firstRows []int32
	for k := 1; k < len(keys); k++ {
		ck := uint64(max(cs[k].card, 1))
		if hi, lo := bits.Mul64(card, ck); hi != 0 || lo >= 1<<62 {
			card, firstRows = densify(comp, card)
			_ = firstRows
		}
		for i, c := range cs[k].c {
			comp[i] = comp[i]*ck + uint64(c)
		}
		card *= ck
	}
	c, first := densifyToIDs(comp, card)
	return c, len(first), first
}

// densify rewrites comp into dense ids in place and returns the number of distinct values.
func densify(comp []uint64, card uint64) (uint64, []int32) {
	ids, first := densifyToIDs(comp, card)
	for i, x := range ids {
		comp[i] = uint64(x)
	}
	return uint64(len(first)), first
}

func densifyToIDs(comp []uint64, card uint64) ([]uint32, []int32) {
	n := len(comp)
	ids := make([]uint32, n)
	var first []int32
	if card <= uint64(max(2*n, 1<<16)) {
		tab := make([]uint32, card)
		for i, x := range comp {
			s := &tab[x]
			if *s == 0 {
				first = append(first, int32(i))
				*s = uint32(len(first))
			}
			ids[i] = *s - 1
		}
		return ids, first
	}
	// many distinct composite keys are likely here (the product of cardinalities exceeds 2n): start large
	t := newU64Table(int(min(uint64(n), card)))
	for i, x := range comp {
		c, isNew := t.insert(x, uint32(len(first)))
		if isNew {
			first = append(first, int32(i))
		}
		ids[i] = c
	}
	return ids, first
}
