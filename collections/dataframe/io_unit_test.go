package dataframe

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/futures"
)

// useChecked makes the package's allocator a checked one for the test
// (no mesh runs meanwhile), and checks that everything was released.
func useChecked(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	ca := memory.NewCheckedAllocator(memory.NewGoAllocator())
	old := mem
	mem = ca
	t.Cleanup(func() {
		mem = old
		ca.AssertSize(t, 0)
	})
	return ca
}

// Narrow types written to Parquet are widened when read; projection reads
// only the asked columns; several row groups make one record; nothing
// leaks.
func TestParquetReadWidenProject(t *testing.T) {
	ca := useChecked(t)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(ca, sc)
	const n = 5000
	for i := range n {
		if i%7 == 0 {
			for f := range 5 {
				b.Field(f).AppendNull()
			}
			continue
		}
		b.Field(0).(*array.Int32Builder).Append(int32(i - 2500))
		b.Field(1).(*array.Uint8Builder).Append(uint8(i))
		b.Field(2).(*array.Float32Builder).Append(float32(i) / 4)
		b.Field(3).(*array.Float16Builder).Append(float16.New(float32(i % 100)))
		b.Field(4).(*array.LargeStringBuilder).Append("x" + string(rune('a'+i%26)))
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()

	path := filepath.Join(t.TempDir(), "narrow.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := writeParquet(w, rec, WriteTask{RowGroupRows: 1000, Compression: "zstd"}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	f.Close()
	pf, rsc, err := readFooter(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pf.groups) != 5 || describeSchema(rsc) != "(i32 int64, u8 int64, f32 float64, f16 float64, ls utf8)" {
		t.Fatalf("%d row groups, schema %s", len(pf.groups), describeSchema(rsc))
	}
	if st := pf.groups[1].stats["i32"]; st.kind != 'i' || st.imin != 1000-2500 || st.imax != 1999-2500 || st.nulls != 143 {
		t.Fatalf("row group 1 stats of i32: %+v", st)
	}
	part := ParquetPart{Path: path, Size: pf.size, RowGroups: []int{1, 2, 4}, Rows: 3000}
	if _, err := readParquetPart(context.Background(), ParquetPart{Path: path, Size: pf.size, RowGroups: []int{1}, Rows: 999}, nil); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("rows differing from the plan's: %v", err)
	}
	got, err := readParquetPart(context.Background(), part, []string{"ls", "i32", "f16"})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !slices.Equal(columnNames(got.Schema()), []string{"i32", "f16", "ls"}) || got.NumRows() != 3000 {
		t.Fatalf("read %v, %d rows", columnNames(got.Schema()), got.NumRows())
	}
	rows := append(rangeInts(1000, 3000), rangeInts(4000, 5000)...)
	i32 := got.Column(0).(*array.Int64)
	f16 := got.Column(1).(*array.Float64)
	ls := got.Column(2).(*array.String)
	for j, i := range rows {
		if i%7 == 0 {
			if !i32.IsNull(j) || !f16.IsNull(j) || !ls.IsNull(j) {
				t.Fatalf("row %d: want NA", i)
			}
			continue
		}
		if i32.Value(j) != int64(i-2500) || f16.Value(j) != float64(i%100) || ls.Value(j) != "x"+string(rune('a'+i%26)) {
			t.Fatalf("row %d: %d %v %q", i, i32.Value(j), f16.Value(j), ls.Value(j))
		}
	}
	empty, err := readParquetPart(context.Background(), ParquetPart{Path: path, Size: pf.size, RowGroups: []int{}}, []string{"f32", "ls"})
	if err != nil {
		t.Fatal(err)
	}
	if empty.NumRows() != 0 || describeSchema(empty.Schema()) != "(f32 float64, ls utf8)" {
		t.Fatalf("empty read: %s %d rows", describeSchema(empty.Schema()), empty.NumRows())
	}
	empty.Release()
	if _, err := readParquetPart(context.Background(), part, []string{"nope"}); err == nil {
		t.Fatal("read of a missing column succeeded")
	}
}

func rangeInts(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// recut slices within batches and concatenates across them; nothing leaks.
func TestRecut(t *testing.T) {
	useChecked(t)
	recs := sortedRecords(t, mem, 2500) // batches of 1000, 1000, 500
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, n := range []int64{1, 400, 1000, 1200, 5000} {
		parts, err := recut(recs, n)
		if err != nil {
			t.Fatal(err)
		}
		var next int64
		for i, p := range parts {
			if want := min(n, 2500-next); p.NumRows() != want {
				t.Fatalf("n=%d: part %d has %d rows, want %d", n, i, p.NumRows(), want)
			}
			k := p.Column(0).(*array.Int64)
			for j := range k.Len() {
				if k.Value(j) != next {
					t.Fatalf("n=%d: part %d row %d: k=%d, want %d", n, i, j, k.Value(j), next)
				}
				next++
			}
			p.Release()
		}
		if next != 2500 {
			t.Fatalf("n=%d: %d rows", n, next)
		}
	}
}

// CSV cells: quoting, floats, timestamps, NA.
func TestWriteCSVCells(t *testing.T) {
	useChecked(t)
	recs := sortedRecords(t, mem, 3)
	rec := recs[0]
	defer rec.Release()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeCSV(context.Background(), w, rec); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	want := "k,s,f,ts,b,na\n" +
		"0,\"s00000,\"\"q\"\"\",0.0,2024-01-01T00:00:00Z,true,\n" +
		"1,\"s00001,\"\"q\"\"\",,2024-01-01T00:01:00Z,false,\n" +
		"2,\"s00002,\"\"q\"\"\",0.2857142857142857,2024-01-01T00:02:00Z,false,\n"
	if buf.String() != want {
		t.Fatalf("csv\n%s\nwant\n%s", buf.String(), want)
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{{3, "3.0"}, {-0.5, "-0.5"}, {1e21, "1e+21"}, {1e-7, "1e-07"}, {0.1, "0.1"}} {
		if got := string(appendCSVFloat(nil, tc.v, 64)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.v, got, tc.want)
		}
	}
}

// FromPartitions refuses what cannot be a DataFrame: no partitions, a nil
// future, no schema (bag's ToDataFrame tests it over a mesh).
func TestFromPartitionsArgs(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}, {Name: "b", Type: arrow.BinaryTypes.String}}, nil)
	if _, err := FromPartitions(nil, sc); err == nil || !strings.Contains(err.Error(), "no partitions") {
		t.Fatalf("no partitions: %v", err)
	}
	if _, err := FromPartitions([]*futures.Future{nil}, sc); err == nil || !strings.Contains(err.Error(), "partition 0 is a nil future") {
		t.Fatalf("nil future: %v", err)
	}
	if _, err := FromPartitions([]*futures.Future{nil}, nil); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Fatalf("no schema: %v", err)
	}
}
