package dataframe

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The kernels work on int64, float64, utf8, bool and timestamps. Columns
// read from Parquet files of narrower types are widened to those when read
// (widen), and the DataFrame's schema says so (readSchema).

// readType is the type a column of type t has once read.
func readType(t arrow.DataType) arrow.DataType {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.UINT8, arrow.UINT16, arrow.UINT32:
		return arrow.PrimitiveTypes.Int64
	case arrow.FLOAT16, arrow.FLOAT32:
		return arrow.PrimitiveTypes.Float64
	case arrow.LARGE_STRING:
		return arrow.BinaryTypes.String
	}
	return t
}

// readSchema is sc with its types as read and without metadata.
func readSchema(sc *arrow.Schema) *arrow.Schema {
	fields := make([]arrow.Field, sc.NumFields())
	for i, f := range sc.Fields() {
		fields[i] = arrow.Field{Name: f.Name, Type: readType(f.Type), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// widen returns rec with every column of its read type (the unchanged
// columns shared, not copied).
func widen(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	sc := readSchema(rec.Schema())
	arrs := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, col := range rec.Columns() {
		a, err := widenArray(col)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", sc.Field(i).Name, err)
		}
		arrs[i] = a
	}
	return array.NewRecordBatch(sc, arrs, rec.NumRows()), nil
}

// widenArray returns a (retained) when its type is kept, else a new array
// of the read type sharing a's validity bitmap.
func widenArray(a arrow.Array) (arrow.Array, error) {
	switch x := a.(type) {
	case *array.Int8:
		return widenNumbers(a, x.Int8Values(), arrow.PrimitiveTypes.Int64, func(v int8) int64 { return int64(v) }), nil
	case *array.Int16:
		return widenNumbers(a, x.Int16Values(), arrow.PrimitiveTypes.Int64, func(v int16) int64 { return int64(v) }), nil
	case *array.Int32:
		return widenNumbers(a, x.Int32Values(), arrow.PrimitiveTypes.Int64, func(v int32) int64 { return int64(v) }), nil
	case *array.Uint8:
		return widenNumbers(a, x.Uint8Values(), arrow.PrimitiveTypes.Int64, func(v uint8) int64 { return int64(v) }), nil
	case *array.Uint16:
		return widenNumbers(a, x.Uint16Values(), arrow.PrimitiveTypes.Int64, func(v uint16) int64 { return int64(v) }), nil
	case *array.Uint32:
		return widenNumbers(a, x.Uint32Values(), arrow.PrimitiveTypes.Int64, func(v uint32) int64 { return int64(v) }), nil
	case *array.Float32:
		return widenNumbers(a, x.Float32Values(), arrow.PrimitiveTypes.Float64, func(v float32) float64 { return float64(v) }), nil
	case *array.Float16:
		vals := make([]float32, x.Len())
		for i, v := range x.Values() {
			vals[i] = v.Float32()
		}
		return widenNumbers(a, vals, arrow.PrimitiveTypes.Float64, func(v float32) float64 { return float64(v) }), nil
	case *array.LargeString:
		var size int64
		if offs := x.ValueOffsets(); len(offs) > 0 {
			size = offs[len(offs)-1] - offs[0]
		}
		if size > math.MaxInt32 {
			return nil, fmt.Errorf("more than 2 GiB of string data in one partition: use smaller row groups")
		}
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.Reserve(x.Len())
		b.ReserveData(int(size))
		for i := range x.Len() {
			if x.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(x.Value(i))
			}
		}
		return b.NewArray(), nil
	}
	a.Retain()
	return a, nil
}

// widenNumbers converts vals (a's values, from its offset) to a new array
// of type t with a's validity bitmap.
func widenNumbers[S int8 | int16 | int32 | uint8 | uint16 | uint32 | float32, D int64 | float64](a arrow.Array, vals []S, t arrow.DataType, conv func(S) D) arrow.Array {
	n := a.Len()
	var zero D
	size := int(unsafe.Sizeof(zero))
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * size)
	out := unsafe.Slice((*D)(unsafe.Pointer(unsafe.SliceData(buf.Bytes()))), n)
	for i, v := range vals[:n] {
		out[i] = conv(v)
	}
	var validity *memory.Buffer
	nulls := a.NullN()
	if nulls > 0 {
		// the bitmap is indexed from a's offset: copy it to start at 0
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(n))))
		bm := validity.Bytes()
		clear(bm)
		for i := range n {
			if a.IsValid(i) {
				bm[i/8] |= 1 << (i % 8)
			}
		}
		defer validity.Release()
	}
	d := array.NewData(t, n, []*memory.Buffer{validity, buf}, nil, nulls, 0)
	buf.Release()
	defer d.Release()
	return array.MakeFromData(d)
}
