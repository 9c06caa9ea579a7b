package kernels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// kind is the physical layout a kernel works on.
type kind uint8

const (
	kInt64   kind = iota + 1 // int64 and other 8-byte integer types (timestamp, date64, duration)
	kFloat64                 // float64
	kString                  // utf8 (int32 offsets)
	kBool                    // boolean (bit-packed)
	kList                    // list<T> (int32 offsets) of a supported type
	kDict                    // dictionary<int32, T>: group-by keys only (dictKeyView); typ is T, child the dictionary
)

// view is a typed, zero-copy view of an Arrow array.
type view struct {
	kind  kind
	typ   arrow.DataType
	n     int
	i64   []int64
	f64   []float64
	offs  []int32 // absolute offsets into data, len n+1
	data  []byte
	bits  []byte // boolean values
	boff  int    // bit offset of element 0 in bits and valid
	valid []byte // nil when the array has no nulls
	arr   arrow.Array
	child *view   // kList: the child values; offs index into it; kDict: the dictionary
	idx   []int32 // kDict: the indices (absolute, len n)
}

func (v *view) isNull(i int) bool {
	return v.valid != nil && !bitutil.BitIsSet(v.valid, v.boff+i)
}

func (v *view) str(i int) []byte { return v.data[v.offs[i]:v.offs[i+1]] }

func (v *view) boolAt(i int) bool { return bitutil.BitIsSet(v.bits, v.boff+i) }

// isInt64Like reports whether t is stored as 8-byte integers.
func isInt64Like(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT64, arrow.TIMESTAMP, arrow.DATE64, arrow.DURATION:
		return true
	}
	return false
}

// newView builds a typed view of arr; name is used in errors.
func newView(arr arrow.Array, name string) (*view, error) {
	d := arr.Data()
	v := &view{typ: arr.DataType(), n: arr.Len(), arr: arr, boff: d.Offset()}
	if arr.NullN() > 0 {
		if b := d.Buffers()[0]; b != nil {
			v.valid = b.Bytes()
		}
	}
	switch {
	case isInt64Like(v.typ):
		v.kind = kInt64
		if b := d.Buffers()[1]; b != nil {
			v.i64 = arrow.Int64Traits.CastFromBytes(b.Bytes())[d.Offset() : d.Offset()+v.n]
		}
	case v.typ.ID() == arrow.FLOAT64:
		v.kind = kFloat64
		v.f64 = arr.(*array.Float64).Float64Values()
	case v.typ.ID() == arrow.STRING:
		v.kind = kString
		s := arr.(*array.String)
		v.offs = s.ValueOffsets()
		if b := d.Buffers()[2]; b != nil {
			v.data = b.Bytes()
		}
	case v.typ.ID() == arrow.BOOL:
		v.kind = kBool
		if b := d.Buffers()[1]; b != nil {
			v.bits = b.Bytes()
		}
	case v.typ.ID() == arrow.LIST:
		v.kind = kList
		l := arr.(*array.List)
		v.offs = l.Offsets()
		c, err := newView(l.ListValues(), name)
		if err != nil {
			return nil, err
		}
		v.child = c
	default:
		return nil, fmt.Errorf("column %q: unsupported type %s (supported: int64, float64, string, bool, timestamp)", name, v.typ)
	}
	if v.n == 0 {
		v.i64, v.f64 = nil, nil
	}
	return v, nil
}

// colView returns the view of the named column of rec.
func colView(rec arrow.RecordBatch, name string) (*view, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("unknown column %q (have %v)", name, columnNames(rec.Schema()))
	}
	return newView(rec.Column(idx[0]), name)
}

func columnNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// ---- buffers ----

func allocBuf(mem memory.Allocator, nbytes int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(nbytes)
	return b
}

// bitmap is a validity bitmap being built; all bits start set (valid).
type bitmap struct {
	buf   *memory.Buffer
	bits  []byte
	nulls int
	n     int
}

func (b *bitmap) setNull(mem memory.Allocator, i int) {
	if b.buf == nil {
		nb := int(bitutil.BytesForBits(int64(b.n)))
		b.buf = allocBuf(mem, nb)
		b.bits = b.buf.Bytes()
		for j := range b.bits {
			b.bits[j] = 0xff
		}
	}
	if bitutil.BitIsSet(b.bits, i) {
		bitutil.ClearBit(b.bits, i)
		b.nulls++
	}
}

// fixedOut builds a fixed-width (int64 / float64) array in allocator memory.
type fixedOut[T int64 | float64] struct {
	mem   memory.Allocator
	data  *memory.Buffer
	V     []T
	valid bitmap
}

func newFixedOut[T int64 | float64](mem memory.Allocator, n int) *fixedOut[T] {
	o := &fixedOut[T]{mem: mem, valid: bitmap{n: n}}
	var z T
	o.data = allocBuf(mem, n*int(unsafe.Sizeof(z)))
	if n > 0 {
		o.V = unsafe.Slice((*T)(unsafe.Pointer(&o.data.Bytes()[0])), n)
	}
	return o
}

func (o *fixedOut[T]) setNull(i int) { o.valid.setNull(o.mem, i) }

func (o *fixedOut[T]) finish(dt arrow.DataType) arrow.Array {
	d := array.NewData(dt, len(o.V), []*memory.Buffer{o.valid.buf, o.data}, nil, o.valid.nulls, 0)
	a := array.MakeFromData(d)
	d.Release()
	o.data.Release()
	if o.valid.buf != nil {
		o.valid.buf.Release()
	}
	return a
}

// boolOut builds a boolean array.
type boolOut struct {
	mem   memory.Allocator
	data  *memory.Buffer
	bits  []byte
	valid bitmap
	n     int
}

func newBoolOut(mem memory.Allocator, n int) *boolOut {
	o := &boolOut{mem: mem, valid: bitmap{n: n}, n: n}
	o.data = allocBuf(mem, int(bitutil.BytesForBits(int64(n))))
	o.bits = o.data.Bytes()
	for i := range o.bits {
		o.bits[i] = 0
	}
	return o
}

func (o *boolOut) set(i int, b bool) {
	if b {
		bitutil.SetBit(o.bits, i)
	}
}
func (o *boolOut) setNull(i int) { o.valid.setNull(o.mem, i) }
func (o *boolOut) finish() arrow.Array {
	d := array.NewData(arrow.FixedWidthTypes.Boolean, o.n, []*memory.Buffer{o.valid.buf, o.data}, nil, o.valid.nulls, 0)
	a := array.MakeFromData(d)
	d.Release()
	o.data.Release()
	if o.valid.buf != nil {
		o.valid.buf.Release()
	}
	return a
}

// stringOut builds a utf8 array; Add appends values in order.
type stringOut struct {
	mem   memory.Allocator
	offs  []int32
	data  []byte
	valid bitmap
}

func newStringOut(mem memory.Allocator, n, dataHint int) *stringOut {
	o := &stringOut{mem: mem, valid: bitmap{n: n}}
	o.offs = make([]int32, 1, n+1)
	o.data = make([]byte, 0, dataHint)
	return o
}

func (o *stringOut) add(b []byte) {
	o.data = append(o.data, b...)
	o.offs = append(o.offs, int32(len(o.data)))
}

func (o *stringOut) addNull() {
	o.valid.setNull(o.mem, len(o.offs)-1)
	o.offs = append(o.offs, int32(len(o.data)))
}

func (o *stringOut) finish() arrow.Array {
	return buildString(o.mem, o.offs, o.data, &o.valid)
}

// buildString copies offsets and data into allocator memory and makes a utf8 array.
func buildString(mem memory.Allocator, offs []int32, data []byte, valid *bitmap) arrow.Array {
	n := len(offs) - 1
	ob := allocBuf(mem, len(offs)*4)
	copy(arrow.Int32Traits.CastFromBytes(ob.Bytes()), offs)
	db := allocBuf(mem, len(data))
	copy(db.Bytes(), data)
	var vb *memory.Buffer
	nulls := 0
	if valid != nil && valid.buf != nil {
		vb, nulls = valid.buf, valid.nulls
	}
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{vb, ob, db}, nil, nulls, 0)
	a := array.MakeFromData(d)
	d.Release()
	ob.Release()
	db.Release()
	if vb != nil {
		vb.Release()
	}
	return a
}

// ---- take ----

// take gathers a[ia[i]] (or, when ia[i] < 0 and b != nil, b[ib[i]]); a row with no source is null.
// b, when given, must have the same kind and type as a.
func take2(mem memory.Allocator, a, b *view, ia, ib []int32) arrow.Array {
	n := len(ia)
	src := func(i int) (*view, int) {
		if ia[i] >= 0 {
			return a, int(ia[i])
		}
		if b != nil && ib[i] >= 0 {
			return b, int(ib[i])
		}
		return nil, -1
	}
	switch a.kind {
	case kInt64:
		o := newFixedOut[int64](mem, n)
		if b == nil && a.valid == nil {
			for i, j := range ia {
				if j >= 0 {
					o.V[i] = a.i64[j]
				} else {
					o.V[i] = 0
					o.setNull(i)
				}
			}
		} else {
			for i := 0; i < n; i++ {
				v, j := src(i)
				if v == nil || v.isNull(j) {
					o.V[i] = 0
					o.setNull(i)
				} else {
					o.V[i] = v.i64[j]
				}
			}
		}
		return o.finish(a.typ)
	case kFloat64:
		o := newFixedOut[float64](mem, n)
		if b == nil && a.valid == nil {
			for i, j := range ia {
				if j >= 0 {
					o.V[i] = a.f64[j]
				} else {
					o.V[i] = 0
					o.setNull(i)
				}
			}
		} else {
			for i := 0; i < n; i++ {
				v, j := src(i)
				if v == nil || v.isNull(j) {
					o.V[i] = 0
					o.setNull(i)
				} else {
					o.V[i] = v.f64[j]
				}
			}
		}
		return o.finish(a.typ)
	case kBool:
		o := newBoolOut(mem, n)
		for i := 0; i < n; i++ {
			v, j := src(i)
			if v == nil || v.isNull(j) {
				o.setNull(i)
			} else {
				o.set(i, v.boolAt(j))
			}
		}
		return o.finish()
	case kString:
		return takeString(mem, a, b, ia, ib)
	case kList:
		offs := make([]int32, n+1)
		var cidx []int32
		valid := bitmap{n: n}
		// child indices refer to a's child for rows from a and are shifted past it for rows from b
		for i := 0; i < n; i++ {
			v, j := src(i)
			if v == nil || v.isNull(j) {
				valid.setNull(mem, i)
			} else {
				shift := int32(0)
				if v == b && b != a {
					shift = int32(a.child.n)
				}
				for e := v.offs[j]; e < v.offs[j+1]; e++ {
					cidx = append(cidx, e+shift)
				}
			}
			offs[i+1] = int32(len(cidx))
		}
		var child arrow.Array
		if b == nil || b == a {
			child = takeView(mem, a.child, cidx)
		} else {
			ca, cb := make([]int32, len(cidx)), make([]int32, len(cidx))
			for i, e := range cidx {
				if int(e) < a.child.n {
					ca[i], cb[i] = e, -1
				} else {
					ca[i], cb[i] = -1, e-int32(a.child.n)
				}
			}
			child = take2(mem, a.child, b.child, ca, cb)
		}
		l := makeList(mem, a.typ.(*arrow.ListType).Elem(), offs, child)
		if valid.buf == nil {
			return l
		}
		d := array.NewData(l.DataType(), n, []*memory.Buffer{valid.buf, l.Data().Buffers()[1]}, l.Data().Children(), valid.nulls, 0)
		l.Release()
		valid.buf.Release()
		out := array.MakeFromData(d)
		d.Release()
		return out
	}
	panic("take: unsupported kind")
}

// takeString gathers strings straight into the output's buffers: lengths and nulls first, then the bytes.
func takeString(mem memory.Allocator, a, b *view, ia, ib []int32) arrow.Array {
	n := len(ia)
	ob := allocBuf(mem, (n+1)*4)
	offs := arrow.Int32Traits.CastFromBytes(ob.Bytes())[:n+1]
	valid := bitmap{n: n}
	var total int64
	offs[0] = 0
	switch {
	case b == nil && a.valid == nil:
		ao := a.offs
		for i, j := range ia {
			if j >= 0 {
				total += int64(ao[j+1] - ao[j])
			} else {
				valid.setNull(mem, i)
			}
			offs[i+1] = int32(total)
		}
	default:
		for i := range n {
			v, j := a, int(ia[i])
			if j < 0 && b != nil {
				v, j = b, int(ib[i])
			}
			if j < 0 || v.isNull(j) {
				valid.setNull(mem, i)
			} else {
				total += int64(v.offs[j+1] - v.offs[j])
			}
			offs[i+1] = int32(total)
		}
	}
	if total > math.MaxInt32 {
		panic(fmt.Sprintf("take: %d bytes of strings do not fit one utf8 array (2 GiB)", total))
	}
	// 8 bytes of slack: short strings are copied as one or two 8-byte words, the excess overwritten by the next
	db := allocBuf(mem, int(total)+8)
	data := db.Bytes()
	if b == nil {
		ao, ad := a.offs, a.data
		for i, j := range ia {
			o, e := offs[i], offs[i+1]
			if e == o {
				continue
			}
			from, to := ao[j], ao[j+1]
			switch l := e - o; {
			case l <= 8 && int(from)+8 <= len(ad):
				binary.LittleEndian.PutUint64(data[o:], binary.LittleEndian.Uint64(ad[from:]))
			case l > 8 && l <= 16:
				binary.LittleEndian.PutUint64(data[o:], binary.LittleEndian.Uint64(ad[from:]))
				binary.LittleEndian.PutUint64(data[e-8:], binary.LittleEndian.Uint64(ad[to-8:]))
			default:
				copy(data[o:e], ad[from:to])
			}
		}
	} else {
		for i := range n {
			o := offs[i]
			if offs[i+1] == o {
				continue
			}
			v, j := a, ia[i]
			if j < 0 {
				v, j = b, ib[i]
			}
			copy(data[o:offs[i+1]], v.data[v.offs[j]:v.offs[j+1]])
		}
	}
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{valid.buf, ob, db}, nil, valid.nulls, 0)
	out := array.MakeFromData(d)
	d.Release()
	ob.Release()
	db.Release()
	if valid.buf != nil {
		valid.buf.Release()
	}
	return out
}

func takeView(mem memory.Allocator, a *view, idx []int32) arrow.Array {
	return take2(mem, a, nil, idx, nil)
}

// TakeArray gathers arr[idx[i]]; a negative index gives a null.
func TakeArray(mem memory.Allocator, arr arrow.Array, idx []int32) (arrow.Array, error) {
	v, err := newView(arr, "")
	if err != nil {
		return nil, err
	}
	return takeView(mem, v, idx), nil
}

// Take gathers the rows idx of rec (a negative index gives a row of nulls).
func Take(mem memory.Allocator, rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		if dv := dictKeyView(rec.Column(i), rec.Schema().Field(i).Name); dv != nil {
			cols[i] = takeDictIndices(mem, dv, idx) // the dictionary is shared
			continue
		}
		v, err := newView(rec.Column(i), rec.Schema().Field(i).Name)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		cols[i] = takeView(mem, v, idx)
	}
	return newRecord(rec.Schema(), cols, len(idx)), nil
}

// newRecord makes a record from cols and releases the caller's references to them.
func newRecord(schema *arrow.Schema, cols []arrow.Array, n int) arrow.RecordBatch {
	r := array.NewRecordBatch(schema, cols, int64(n))
	releaseAll(cols)
	return r
}

func releaseAll[T interface{ Release() }](xs []T) {
	for _, x := range xs {
		if any(x) != nil {
			x.Release()
		}
	}
}

// Filter keeps the rows of rec where mask is true (null counts as false).
func Filter(mem memory.Allocator, rec arrow.RecordBatch, mask arrow.Array) (arrow.RecordBatch, error) {
	if mask.DataType().ID() != arrow.BOOL {
		return nil, fmt.Errorf("filter: predicate has type %s, want bool", mask.DataType())
	}
	if mask.Len() != int(rec.NumRows()) {
		return nil, fmt.Errorf("filter: predicate has %d rows, record %d", mask.Len(), rec.NumRows())
	}
	v, _ := newView(mask, "predicate")
	idx := make([]int32, 0, v.n/2)
	for i := 0; i < v.n; i++ {
		if v.boolAt(i) && !v.isNull(i) {
			idx = append(idx, int32(i))
		}
	}
	return Take(mem, rec, idx)
}

// Concat concatenates records with identical schemas.
func Concat(mem memory.Allocator, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	return ConcatParallel(mem, recs, 1)
}

// ConcatParallel is Concat with the columns concatenated by up to workers
// goroutines (for a large result gathered outside a task, where the cores
// are free); mem must be safe for concurrent use.
func ConcatParallel(mem memory.Allocator, recs []arrow.RecordBatch, workers int) (arrow.RecordBatch, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("concat: no records")
	}
	schema := recs[0].Schema()
	n := int64(0)
	for _, r := range recs {
		if !r.Schema().Equal(schema) {
			return nil, fmt.Errorf("concat: schema %s differs from %s", r.Schema(), schema)
		}
		n += r.NumRows()
	}
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	errs := make([]error, len(cols))
	concat := func(i int) {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			errs[i] = fmt.Errorf("concat column %q: %w", schema.Field(i).Name, err)
			return
		}
		cols[i] = c
	}
	if workers <= 1 || len(cols) <= 1 {
		for i := range cols {
			if concat(i); errs[i] != nil {
				break
			}
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, len(cols)) {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(cols); i = int(next.Add(1) - 1) {
					concat(i)
				}
			})
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		releaseAll(cols)
		return nil, err
	}
	return newRecord(schema, cols, int(n)), nil
}

// Slice returns rows [i, j) of rec without copying (clamped to the record).
func Slice(rec arrow.RecordBatch, i, j int64) arrow.RecordBatch {
	n := rec.NumRows()
	i, j = max(0, min(i, n)), max(0, min(j, n))
	if j < i {
		j = i
	}
	return rec.NewSlice(i, j)
}

// Head returns the first n rows of rec without copying.
func Head(rec arrow.RecordBatch, n int64) arrow.RecordBatch { return Slice(rec, 0, n) }
