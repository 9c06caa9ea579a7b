package kernels

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Dictionary-encoded string columns (dictionary<int32, utf8>): ReadCSVRange
// makes them with CSVOptions.Dictionary, group-bys index their codes instead
// of hashing the strings, and everything else takes them decoded
// (DecodeDictionaries).

// dictStringType is the type DictEncodeStrings gives string columns.
var dictStringType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// IsDictionary reports whether t is a dictionary type.
func IsDictionary(t arrow.DataType) bool { return t.ID() == arrow.DICTIONARY }

// DictEncodeStrings returns rec with every utf8 column dictionary-encoded
// (int32 indices; the dictionary holds each distinct non-NA value once, in
// order of first appearance; NA rows are null indices). Other columns are
// shared.
func DictEncodeStrings(mem memory.Allocator, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	fields := slices.Clone(rec.Schema().Fields())
	cols := make([]arrow.Array, len(fields))
	for i, c := range rec.Columns() {
		if c.DataType().ID() != arrow.STRING {
			c.Retain()
			cols[i] = c
			continue
		}
		v, err := newView(c, fields[i].Name)
		if err != nil {
			releaseAll(cols[:i])
			return nil, err
		}
		cols[i] = dictEncodeString(mem, v)
		fields[i].Type = dictStringType
	}
	md := rec.Schema().Metadata()
	return newRecord(arrow.NewSchema(fields, &md), cols, int(rec.NumRows())), nil
}

func dictEncodeString(mem memory.Allocator, v *view) arrow.Array {
	n := v.n
	ib := allocBuf(mem, n*4)
	idx := arrow.Int32Traits.CastFromBytes(ib.Bytes())[:n]
	valid := bitmap{n: n}
	t := newBytesTable(256)
	var first []int32
	for i := 0; i < n; i++ {
		if v.isNull(i) {
			idx[i] = 0
			valid.setNull(mem, i)
			continue
		}
		b := v.str(i)
		c, isNew := t.insert(b, hashBytes(b), uint32(len(first)))
		if isNew {
			first = append(first, int32(i))
		}
		idx[i] = int32(c)
	}
	dict := takeView(mem, v, first)
	defer dict.Release()
	d := array.NewData(dictStringType, n, []*memory.Buffer{valid.buf, ib}, nil, valid.nulls, 0)
	d.SetDictionary(dict.Data())
	a := array.MakeFromData(d)
	d.Release()
	ib.Release()
	if valid.buf != nil {
		valid.buf.Release()
	}
	return a
}

// DecodeDictionaries returns rec with its dictionary columns, except those
// named in keep, replaced by plain arrays of their values (rec itself,
// retained, when there is nothing to decode).
func DecodeDictionaries(mem memory.Allocator, rec arrow.RecordBatch, keep ...string) (arrow.RecordBatch, error) {
	schema := rec.Schema()
	todo := false
	for _, f := range schema.Fields() {
		if IsDictionary(f.Type) && !slices.Contains(keep, f.Name) {
			todo = true
			break
		}
	}
	if !todo {
		rec.Retain()
		return rec, nil
	}
	fields := slices.Clone(schema.Fields())
	cols := make([]arrow.Array, len(fields))
	for i, c := range rec.Columns() {
		if !IsDictionary(fields[i].Type) || slices.Contains(keep, fields[i].Name) {
			c.Retain()
			cols[i] = c
			continue
		}
		p, err := DecodeDictionary(mem, c)
		if err != nil {
			releaseAll(cols[:i])
			return nil, fmt.Errorf("column %q: %w", fields[i].Name, err)
		}
		cols[i] = p
		fields[i].Type = p.DataType()
	}
	md := schema.Metadata()
	return newRecord(arrow.NewSchema(fields, &md), cols, int(rec.NumRows())), nil
}

// DecodeDictionary returns the plain array of a dictionary array's values.
func DecodeDictionary(mem memory.Allocator, arr arrow.Array) (arrow.Array, error) {
	d, ok := arr.(*array.Dictionary)
	if !ok {
		return nil, fmt.Errorf("decode dictionary: %s is not a dictionary type", arr.DataType())
	}
	idx := make([]int32, d.Len())
	if ix, ok := d.Indices().(*array.Int32); ok && d.NullN() == 0 {
		copy(idx, ix.Int32Values())
	} else {
		for i := range idx {
			if d.IsNull(i) {
				idx[i] = -1
			} else {
				idx[i] = int32(d.GetValueIndex(i))
			}
		}
	}
	return TakeArray(mem, d.Dictionary(), idx)
}

// dictKeyView is the view of a dictionary<int32, T> group-by key: its
// indices and a view of its dictionary; nil when arr is not one (or its
// values are of a type the kernels do not take).
func dictKeyView(arr arrow.Array, name string) *view {
	d, ok := arr.(*array.Dictionary)
	if !ok || d.DataType().(*arrow.DictionaryType).IndexType.ID() != arrow.INT32 {
		return nil
	}
	dv, err := newView(d.Dictionary(), name)
	if err != nil || dv.kind == kList {
		return nil
	}
	v := &view{kind: kDict, typ: dv.typ, n: d.Len(), arr: arr, boff: d.Data().Offset(), child: dv}
	if d.NullN() > 0 {
		if b := d.Data().Buffers()[0]; b != nil {
			v.valid = b.Bytes()
		}
	}
	if v.n > 0 {
		v.idx = d.Indices().(*array.Int32).Int32Values()
	}
	return v
}

// encodeDict gives the rows of a dictionary key dense codes in order of first
// appearance, with equal dictionary values (and NA indices and NA values)
// sharing a code: a lookup per row, no hashing of the values.
func encodeDict(v *view) codes {
	dc := encode(v.child) // dedupes the dictionary (usually distinct already)
	nullSlot := uint32(dc.card)
	if v.child.valid != nil {
		for j := 0; j < v.child.n; j++ {
			if v.child.isNull(j) {
				nullSlot = dc.c[j]
				break
			}
		}
	}
	tab := make([]uint32, dc.card+1) // code+1 in row order, 0 = unseen
	out := codes{c: make([]uint32, v.n)}
	for i := 0; i < v.n; i++ {
		k := nullSlot
		if v.valid == nil || !v.isNull(i) {
			k = dc.c[v.idx[i]]
		}
		s := &tab[k]
		if *s == 0 {
			out.first = append(out.first, int32(i))
			*s = uint32(len(out.first))
		}
		out.c[i] = *s - 1
	}
	out.card = len(out.first)
	return out
}

// takeDict gathers rows of a dictionary key as a plain array of its values
// (index -1: a null row).
func takeDict(mem memory.Allocator, v *view, rows []int32) arrow.Array {
	idx := make([]int32, len(rows))
	for i, r := range rows {
		if r < 0 || v.isNull(int(r)) {
			idx[i] = -1
		} else {
			idx[i] = v.idx[r]
		}
	}
	return takeView(mem, v.child, idx)
}

// takeDictIndices gathers rows of a dictionary<int32, T> array keeping its
// dictionary: only the indices are copied (a negative row gives a null).
func takeDictIndices(mem memory.Allocator, v *view, rows []int32) arrow.Array {
	n := len(rows)
	ib := allocBuf(mem, n*4)
	idx := arrow.Int32Traits.CastFromBytes(ib.Bytes())[:n]
	valid := bitmap{n: n}
	for i, r := range rows {
		if r < 0 || v.isNull(int(r)) {
			idx[i] = 0
			valid.setNull(mem, i)
			continue
		}
		idx[i] = v.idx[r]
	}
	d := array.NewData(v.arr.DataType(), n, []*memory.Buffer{valid.buf, ib}, nil, valid.nulls, 0)
	d.SetDictionary(v.arr.(*array.Dictionary).Dictionary().Data())
	a := array.MakeFromData(d)
	d.Release()
	ib.Release()
	if valid.buf != nil {
		valid.buf.Release()
	}
	return a
}

// hashDict hashes the rows of a dictionary key by value (as hashRows hashes
// the plain column): each dictionary entry is hashed once.
func hashDict(v *view, out []uint64) {
	dh := make([]uint64, v.child.n)
	for j := range dh {
		dh[j] = v.child.hash(j)
	}
	for i := range out[:v.n] {
		h := uint64(hashNull)
		if !v.isNull(i) {
			h = dh[v.idx[i]]
		}
		out[i] = hashCombine(out[i], h)
	}
}

// harmonizeDictKeys returns recs (each retained) where a key column that is
// a dictionary in some records and plain in others is decoded in all, so
// that they concatenate (dictionaries of the same type are unified by
// Concat).
func harmonizeDictKeys(mem memory.Allocator, recs []arrow.RecordBatch, keys []string) ([]arrow.RecordBatch, error) {
	var decode []string
	for _, k := range keys {
		dict, plain := false, false
		for _, r := range recs {
			idx := r.Schema().FieldIndices(k)
			if len(idx) == 0 {
				continue
			}
			if IsDictionary(r.Schema().Field(idx[0]).Type) {
				dict = true
			} else {
				plain = true
			}
		}
		if dict && plain {
			decode = append(decode, k)
		}
	}
	out := make([]arrow.RecordBatch, len(recs))
	for i, r := range recs {
		if len(decode) == 0 {
			r.Retain()
			out[i] = r
			continue
		}
		var keep []string
		for _, f := range r.Schema().Fields() {
			if IsDictionary(f.Type) && !slices.Contains(decode, f.Name) {
				keep = append(keep, f.Name)
			}
		}
		d, err := DecodeDictionaries(mem, r, keep...)
		if err != nil {
			releaseAll(out[:i])
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// unifyDictKeys returns recs (each retained) where every key column that is
// a dictionary<int32, utf8> in all of them, with dictionaries that differ,
// is re-indexed into one dictionary shared by all, so that Concat only
// concatenates indices. The dictionaries' entries are hashed once each (a
// partition's dictionary is far smaller than its rows); Arrow's own
// unification (which Concat falls back to) is several times slower.
func unifyDictKeys(mem memory.Allocator, recs []arrow.RecordBatch, keys []string) []arrow.RecordBatch {
	out := make([]arrow.RecordBatch, len(recs))
	for i, r := range recs {
		r.Retain()
		out[i] = r
	}
	if len(recs) < 2 {
		return out
	}
	for _, k := range keys {
		views := make([]*view, len(out))
		col := make([]int, len(out))
		same := true
		for i, r := range out {
			idx := r.Schema().FieldIndices(k)
			if len(idx) == 0 {
				return out
			}
			v := dictKeyView(r.Column(idx[0]), k)
			if v == nil || v.child.kind != kString {
				views = nil
				break
			}
			views[i], col[i] = v, idx[0]
			same = same && v.arr.Data().Dictionary() == views[0].arr.Data().Dictionary()
		}
		if views == nil || same {
			continue
		}
		total := 0
		for _, v := range views {
			total += v.child.n
		}
		t := newBytesTable(total / len(views))
		maps := make([][]int32, len(views))
		for i, v := range views {
			m := make([]int32, v.child.n)
			for e := range m {
				if v.child.isNull(e) {
					m[e] = -1
					continue
				}
				b := v.child.str(e)
				c, _ := t.insert(b, hashBytes(b), uint32(len(t.hashes)))
				m[e] = int32(c)
			}
			maps[i] = m
		}
		dict := stringFromArena(mem, t.arena, t.offs)
		for i, v := range views {
			n := v.n
			ib := allocBuf(mem, n*4)
			ix := arrow.Int32Traits.CastFromBytes(ib.Bytes())[:n]
			valid := bitmap{n: n}
			m := maps[i]
			for r := 0; r < n; r++ {
				g := int32(-1)
				if !v.isNull(r) {
					g = m[v.idx[r]]
				}
				if g < 0 {
					ix[r] = 0
					valid.setNull(mem, r)
					continue
				}
				ix[r] = g
			}
			d := array.NewData(v.arr.DataType(), n, []*memory.Buffer{valid.buf, ib}, nil, valid.nulls, 0)
			d.SetDictionary(dict.Data())
			a := array.MakeFromData(d)
			d.Release()
			ib.Release()
			if valid.buf != nil {
				valid.buf.Release()
			}
			cols := slices.Clone(out[i].Columns())
			cols[col[i]] = a
			next := array.NewRecordBatch(out[i].Schema(), cols, out[i].NumRows())
			a.Release()
			out[i].Release()
			out[i] = next
		}
		dict.Release()
	}
	return out
}

// stringFromArena is the utf8 array of the values arena[offs[i]:offs[i+1]].
func stringFromArena(mem memory.Allocator, arena []byte, offs []int32) arrow.Array {
	ob := allocBuf(mem, len(offs)*4)
	copy(arrow.Int32Traits.CastFromBytes(ob.Bytes()), offs)
	db := allocBuf(mem, len(arena))
	copy(db.Bytes(), arena)
	d := array.NewData(arrow.BinaryTypes.String, len(offs)-1, []*memory.Buffer{nil, ob, db}, nil, 0, 0)
	a := array.MakeFromData(d)
	d.Release()
	ob.Release()
	db.Release()
	return a
}
