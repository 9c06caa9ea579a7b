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
