package dataframe

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"
)

// A split value is a msgpack bin; each bucket picked from it is itself a
// whole partition value (a msgpack bin aliasing the split's bytes) whose
// IPC file is 8-byte aligned, so it decodes without a copy; copyAligned
// keeps that alignment.
func TestSplitBucketsArePartitionValues(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	var parts []arrow.RecordBatch
	for n, rows := range []int{0, 1, 3, 1000, 7} {
		kb := array.NewStringBuilder(alloc)
		vb := array.NewInt64Builder(alloc)
		for r := range rows {
			kb.Append(fmt.Sprintf("key%d-%d", n, r))
			if r%5 == 3 {
				vb.AppendNull()
			} else {
				vb.Append(int64(r * n))
			}
		}
		k, v := kb.NewArray(), vb.NewArray()
		parts = append(parts, array.NewRecordBatch(schema, []arrow.Array{k, v}, int64(rows)))
		k.Release()
		v.Release()
		kb.Release()
		vb.Release()
	}
	defer releaseRecs(parts)
	val, err := encodeSplit(parts)
	if err != nil {
		t.Fatal(err)
	}
	var payload []byte
	if err := msgpack.Unmarshal(val, &payload); err != nil {
		t.Fatalf("the split is not a msgpack bin: %v", err)
	}
	payload = val[len(val)-len(payload):] // alias, as a RawBytes argument
	for i, want := range parts {
		b, err := splitBucket(payload, i)
		if err != nil {
			t.Fatal(err)
		}
		if unsafe.SliceData(b) == nil || uintptr(unsafe.Pointer(unsafe.SliceData(b))) < uintptr(unsafe.Pointer(unsafe.SliceData(val))) ||
			uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(len(b)) > uintptr(unsafe.Pointer(unsafe.SliceData(val)))+uintptr(len(val)) {
			t.Fatalf("bucket %d does not alias the split", i)
		}
		var bp []byte
		if err := msgpack.Unmarshal(b, &bp); err != nil {
			t.Fatalf("bucket %d is not a msgpack bin: %v", i, err)
		}
		bp = b[len(b)-len(bp):]
		if file := bp[bp[0]:]; uintptr(unsafe.Pointer(unsafe.SliceData(file)))%8 != 0 {
			t.Fatalf("bucket %d: IPC file not 8-byte aligned", i)
		}
		c := copyAligned(b)
		if cp := c[len(c)-len(bp):]; uintptr(unsafe.Pointer(unsafe.SliceData(cp[cp[0]:])))%8 != 0 {
			t.Fatalf("bucket %d: IPC file of the copy not 8-byte aligned", i)
		}
		got, err := decodePart(bp)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(got, want) {
			t.Fatalf("bucket %d: got %v want %v", i, got, want)
		}
		got.Release()
	}
	if _, err := splitBucket(payload, len(parts)); err == nil {
		t.Fatal("bucket past the end")
	}
	if _, err := splitBucket([]byte("MSPLxxxx"), 0); err == nil {
		t.Fatal("not a split")
	}
}
