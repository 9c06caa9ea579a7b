package dataframe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// startMesh starts a 2-node in-process mesh for the test.
func startMesh(t *testing.T) (context.Context, *futures.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c, err := lc.Client(ctx)
	if err != nil {
		lc.Close()
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close(); cancel() })
	return ctx, c
}

// sameRecords fails unless a and b have the same column names and types
// and the same values (compared by their exact text: floats in shortest
// round-trip form, so NaN equals NaN), row by row.
func sameRecords(t *testing.T, what string, a, b arrow.RecordBatch) {
	t.Helper()
	if describeSchema(a.Schema()) != describeSchema(b.Schema()) {
		t.Fatalf("%s: columns %s, want %s", what, describeSchema(a.Schema()), describeSchema(b.Schema()))
	}
	if a.NumRows() != b.NumRows() {
		t.Fatalf("%s: %d rows, want %d", what, a.NumRows(), b.NumRows())
	}
	for c := range int(a.NumCols()) {
		x, y := a.Column(c), b.Column(c)
		if array.Equal(x, y) {
			continue
		}
		for r := range x.Len() { // NaN, or a real difference to name
			if x.IsNull(r) != y.IsNull(r) || (!x.IsNull(r) && x.ValueStr(r) != y.ValueStr(r)) {
				t.Fatalf("%s: row %d column %s: %s, want %s", what, r, a.Schema().Field(c).Name, x.ValueStr(r), y.ValueStr(r))
			}
		}
	}
}

func compute(t *testing.T, ctx context.Context, c *futures.Client, d *DataFrame) arrow.RecordBatch {
	t.Helper()
	rec, err := d.ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// The fixture (with NAs) through ToParquet and ReadParquet, and through
// ToCSV and ReadCSV, comes back value for value.
func TestRoundTrips(t *testing.T) {
	st, err := os.Stat(fixture)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	ctx, c := startMesh(t)
	src, err := ReadCSV(fixture, BlockSize(st.Size()/3+1))
	if err != nil {
		t.Fatal(err)
	}
	want := compute(t, ctx, c, src)
	defer want.Release()
	if want.NumRows() != 100_000 {
		t.Fatalf("fixture: %d rows", want.NumRows())
	}
	dir := t.TempDir()

	t.Run("parquet", func(t *testing.T) {
		out := filepath.Join(dir, "pq")
		files, err := src.ToParquet(ctx, c, out, RowGroupRows(10_000))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 3 || files[0] != filepath.Join(out, "part.0.parquet") {
			t.Fatalf("files %v", files)
		}
		back, err := ReadParquet(out, BlockSize(0))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Columns(), src.Columns()) {
			t.Fatalf("columns %v, want %v", back.Columns(), src.Columns())
		}
		if back.NPartitions() < 10 {
			t.Fatalf("%d partitions, want one per row group (>= 10)", back.NPartitions())
		}
		got := compute(t, ctx, c, back)
		defer got.Release()
		sameRecords(t, "parquet round trip", got, want)
		// zstd, one partition per file (small row groups combined)
		zfiles, err := src.ToParquet(ctx, c, filepath.Join(dir, "z", "data-*.parquet"), Compression("zstd"))
		if err != nil {
			t.Fatal(err)
		}
		z, err := ReadParquet(filepath.Join(dir, "z", "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if z.NPartitions() != len(zfiles) {
			t.Fatalf("%d partitions for %d files", z.NPartitions(), len(zfiles))
		}
		zgot := compute(t, ctx, c, z)
		defer zgot.Release()
		sameRecords(t, "zstd round trip", zgot, want)
	})

	t.Run("csv", func(t *testing.T) {
		files, err := src.ToCSV(ctx, c, filepath.Join(dir, "csv", "part-*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 3 || filepath.Base(files[2]) != "part-2.csv" {
			t.Fatalf("files %v", files)
		}
		back, err := ReadCSV(filepath.Join(dir, "csv", "part-*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		got := compute(t, ctx, c, back)
		defer got.Release()
		sameRecords(t, "csv round trip", got, want)
	})

	t.Run("group-by result and projection", func(t *testing.T) {
		pq, err := ReadParquet(filepath.Join(dir, "pq"))
		if err != nil {
			t.Fatal(err)
		}
		q := func(d *DataFrame) *DataFrame {
			return d.Filter(Col("v1").Gt(2)).GroupBy("id1").Agg(Sum("v2"), Count("v3"))
		}
		tasks := pq.plan.parquet.parquetTasks(append(slices.Clone(q(pq).plan.groupBy.input.steps.steps),
			Step{Op: "groupby-partial", Keys: []string{"id1"}, Aggs: q(pq).plan.groupBy.aggs}))
		for _, tk := range tasks {
			if !slices.Equal(tk.Columns, []string{"id1", "v1", "v2", "v3"}) {
				t.Fatalf("task reads columns %v, want [id1 v1 v2 v3]", tk.Columns)
			}
		}
		// groups come out in first-appearance order: sort them
		got := sortedBy(t, compute(t, ctx, c, q(pq)), "id1")
		defer got.Release()
		exp := sortedBy(t, compute(t, ctx, c, q(src)), "id1")
		defer exp.Release()
		sameRecords(t, "group-by on parquet", got, exp)
		// a computed result written and read back
		files, err := q(pq).ToParquet(ctx, c, filepath.Join(dir, "agg"))
		if err != nil || len(files) != 1 {
			t.Fatalf("%v %v", files, err)
		}
		agg, err := ReadParquet(files[0])
		if err != nil {
			t.Fatal(err)
		}
		again := sortedBy(t, compute(t, ctx, c, agg), "id1")
		defer again.Release()
		sameRecords(t, "group-by result round trip", again, exp)
	})
}

// sortedBy sorts rec (released) by a column.
func sortedBy(t *testing.T, rec arrow.RecordBatch, col string) arrow.RecordBatch {
	t.Helper()
	defer rec.Release()
	out, err := kernels.Sort(mem, rec, []string{col}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sortedRecords: k = 0..n-1 ascending, and other typed columns derived
// from it (with NAs), as record batches of 1000 rows.
func sortedRecords(t *testing.T, alloc memory.Allocator, n int) []arrow.RecordBatch {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "na", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []arrow.RecordBatch
	for start := 0; start < n; start += 1000 {
		b := array.NewRecordBuilder(alloc, sc)
		for i := start; i < min(start+1000, n); i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			if i%17 == 3 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("s%05d,\"q\"", i))
			}
			switch i % 5 {
			case 0:
				b.Field(2).(*array.Float64Builder).Append(float64(i)) // integral
			case 1:
				b.Field(2).AppendNull()
			default:
				b.Field(2).(*array.Float64Builder).Append(float64(i) / 7)
			}
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(base.Add(time.Duration(i) * time.Minute).UnixMicro()))
			b.Field(4).(*array.BooleanBuilder).Append(i%3 == 0)
			b.Field(5).AppendNull()
		}
		out = append(out, b.NewRecordBatch())
		b.Release()
	}
	return out
}

// FromRecords scatters in-memory data; ToParquet with small row groups
// and ReadParquet with filters: row groups that statistics rule out are
// not planned, and the answers are those of the unfiltered data filtered.
func TestFromRecordsAndRowGroupSkipping(t *testing.T) {
	ctx, c := startMesh(t)
	recs := sortedRecords(t, memory.DefaultAllocator, 10_000)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	d, err := FromRecords(ctx, c, recs, RowsPerPartition(2500))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release(ctx, c)
	if d.NPartitions() != 4 {
		t.Fatalf("%d partitions, want 4", d.NPartitions())
	}
	all := compute(t, ctx, c, d)
	defer all.Release()
	whole, err := kernels.Concat(mem, recs)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Release()
	sameRecords(t, "FromRecords", all, whole)
	tbl := array.NewTableFromRecords(recs[0].Schema(), recs)
	defer tbl.Release()

	// FromArrow: partitions of 3000 rows
	fa, err := FromArrow(ctx, c, tbl, RowsPerPartition(3000))
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Release(ctx, c)
	if fa.NPartitions() != 4 {
		t.Fatalf("FromArrow: %d partitions, want 4", fa.NPartitions())
	}
	if n, err := fa.Len(ctx, c); err != nil || n != 10_000 {
		t.Fatalf("FromArrow len %d %v", n, err)
	}

	dir := filepath.Join(t.TempDir(), "sorted")
	one, err := FromRecords(ctx, c, recs, RowsPerPartition(10_000))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Release(ctx, c)
	if _, err := one.ToParquet(ctx, c, dir, RowGroupRows(1000)); err != nil {
		t.Fatal(err)
	}
	pq, err := ReadParquet(dir, BlockSize(0))
	if err != nil {
		t.Fatal(err)
	}
	if pq.NPartitions() != 10 {
		t.Fatalf("%d partitions, want 10 (one per row group)", pq.NPartitions())
	}
	// every column (timestamps, all-NA) comes back from Parquet
	pqAll := compute(t, ctx, c, pq)
	defer pqAll.Release()
	sameRecords(t, "parquet of FromRecords", pqAll, whole)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		pred   Expr
		groups []int // row groups planned
	}{
		{"range", Col("k").Ge(2500).And(Col("k").Lt(4000)), []int{2, 3}},
		{"eq", Col("k").Eq(7777), []int{7}},
		{"literal first", Lit(8000).Le(Col("k")), []int{8, 9}},
		{"or", Col("k").Lt(500).Or(Col("k").Gt(9500)), []int{0, 9}},
		{"float column, int literal", Col("f").Gt(9000), []int{9}},
		{"string", Col("s").Lt("s01000"), []int{0}},
		{"timestamp", Col("ts").Ge(t0.Add(5000 * time.Minute)).And(Col("ts").Lt(t0.Add(6000 * time.Minute))), []int{5}},
		{"all NA column", Col("na").Eq(1), []int{}},
		{"nothing", Col("k").Gt(1_000_000), []int{}},
		{"not understood: kept", Col("k").Add(1).Gt(9999), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"ne keeps", Col("k").Ne(5), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := pq.Filter(tc.pred).Select("k", "s")
			tasks := pq.plan.parquet.parquetTasks(f.plan.steps.steps)
			var groups []int
			for _, tk := range tasks {
				groups = append(groups, tk.Part.RowGroups...)
				if !slices.Equal(tk.Columns, neededColumns(pq.Columns(), f.plan.steps.steps)) {
					t.Fatalf("columns %v", tk.Columns)
				}
			}
			if !slices.Equal(groups, tc.groups) && !(len(groups) == 0 && len(tc.groups) == 0) {
				t.Fatalf("row groups planned %v, want %v", groups, tc.groups)
			}
			got := compute(t, ctx, c, f)
			defer got.Release()
			want := compute(t, ctx, c, d.Filter(tc.pred).Select("k", "s"))
			defer want.Release()
			sameRecords(t, tc.name, got, want)
		})
	}
	// A filter after a step that changes values is not used for skipping.
	moved := pq.WithColumn("k", Col("k").Sub(5000)).Filter(Col("k").Lt(0))
	if n := len(pq.plan.parquet.parquetTasks(moved.plan.steps.steps)); n != 10 {
		t.Fatalf("filter after with: %d partitions planned, want 10", n)
	}
	if n, err := moved.Len(ctx, c); err != nil || n != 5000 {
		t.Fatalf("filter after with: len %d %v, want 5000", n, err)
	}

	// CSV round trip of the typed columns (quoted strings, integral
	// floats, timestamps, bools); the all-NA column reads back as a
	// string column of NAs, so it is left out.
	typed := d.Drop("na")
	csvDir := filepath.Join(t.TempDir(), "csv")
	files, err := typed.ToCSV(ctx, c, csvDir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(files[0]) != "part.0.csv" {
		t.Fatalf("files %v", files)
	}
	back, err := ReadCSV(filepath.Join(csvDir, "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got := compute(t, ctx, c, back)
	defer got.Release()
	want := compute(t, ctx, c, typed)
	defer want.Release()
	sameRecords(t, "typed csv round trip", got, want)
}

// Row-group pruning decisions on statistics, without files.
func TestMayMatch(t *testing.T) {
	g := rowGroupInfo{rows: 100, stats: map[string]colStats{
		"i": {kind: 'i', imin: 10, imax: 20, nulls: 0},
		"f": {kind: 'f', fmin: -1.5, fmax: 2.5, nulls: 3},
		"s": {kind: 's', smin: "b", smax: "d", nulls: -1},
		"n": {nulls: 100},
		"u": {nulls: -1},
	}}
	for _, tc := range []struct {
		e    Expr
		want bool
	}{
		{Col("i").Eq(10), true}, {Col("i").Eq(9), false}, {Col("i").Eq(21), false},
		{Col("i").Lt(10), false}, {Col("i").Le(10), true}, {Col("i").Gt(20), false}, {Col("i").Ge(20), true},
		{Col("i").Gt(19.5), true}, {Col("i").Gt(20.5), false},
		{Lit(5).Gt(Col("i")), false}, {Lit(11).Gt(Col("i")), true},
		{Col("i").Ne(15), true},
		{Col("f").Lt(-1.5), false}, {Col("f").Lt(-1), true}, {Col("f").Eq(math.NaN()), false}, {Col("f").Ne(0), true},
		{Col("s").Eq("a"), false}, {Col("s").Eq("c"), true}, {Col("s").Ge("d"), true}, {Col("s").Gt("d"), false},
		{Col("s").Gt(1), true}, // type mismatch: not understood
		{Col("n").Eq(1), false}, {Col("u").Eq(1), true}, {Col("missing").Eq(1), true},
		{Col("i").Gt(30).And(Col("s").Eq("c")), false}, {Col("i").Gt(30).Or(Col("s").Eq("c")), true},
		{Col("i").Gt(30).Not(), true}, {Col("i").Eq(nil), true},
	} {
		if got := mayMatch(tc.e, g); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.e.String(), got, tc.want)
		}
	}
	if !mayMatch(Col("i").Eq(0), rowGroupInfo{rows: 1}) {
		t.Error("no statistics must keep the row group")
	}
}

// Bad input gets clear errors.
func TestIOErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadParquet(filepath.Join(dir, "*.parquet")); !errors.Is(err, ErrNoFiles) {
		t.Fatalf("no match: %v", err)
	}
	if _, err := ReadParquet(dir); !errors.Is(err, ErrNoFiles) {
		t.Fatalf("empty dir: %v", err)
	}
	bad := filepath.Join(dir, "bad.parquet")
	os.WriteFile(bad, []byte("id,v\n1,2\n"), 0o644)
	_, err := ReadParquet(bad)
	if err == nil || !strings.Contains(err.Error(), "bad.parquet") || !strings.Contains(err.Error(), "not a Parquet file") {
		t.Fatalf("not parquet: %v", err)
	}
	t.Logf("not parquet: %v", err)
	if _, err := ReadParquet(bad, Types(map[string]string{"v": "int64"})); err == nil || !strings.Contains(err.Error(), "ReadCSV") {
		t.Fatalf("csv option: %v", err)
	}
	for _, tc := range []struct {
		pattern string
		n       int
		want    []string
		err     string
	}{
		{"/o/part-*.csv", 3, []string{"/o/part-0.csv", "/o/part-1.csv", "/o/part-2.csv"}, ""},
		{"/o/p*.csv", 11, []string{"/o/p00.csv", "/o/p01.csv"}, ""},
		{"/o/dir", 2, []string{"/o/dir/part.0.csv", "/o/dir/part.1.csv"}, ""},
		{"/o/*/x.csv", 2, nil, "directory"},
		{"/o/*-*.csv", 2, nil, "more than one"},
		{"", 2, nil, "empty"},
	} {
		got, err := outputPaths(tc.pattern, tc.n, "csv")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.pattern, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got[:len(tc.want)], tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.pattern, got, err, tc.want)
		}
	}

	ctx, c := startMesh(t)
	rec := sortedRecords(t, memory.DefaultAllocator, 10)[0]
	defer rec.Release()
	d, err := FromRecords(ctx, c, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release(ctx, c)
	// the output directory's parent is a file
	_, err = d.ToCSV(ctx, c, filepath.Join(bad, "out"))
	if err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Fatalf("unwritable dir: %v", err)
	}
	t.Logf("unwritable: %v", err)
	out := filepath.Join(dir, "out")
	if _, err := d.ToParquet(ctx, c, out); err != nil {
		t.Fatal(err)
	}
	_, err = d.ToParquet(ctx, c, out)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "part.0.parquet") {
		t.Fatalf("existing file: %v", err)
	}
	t.Logf("exists: %v", err)
	if _, err := d.ToParquet(ctx, c, out, Overwrite(), Compression("zstd")); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if _, err := d.ToParquet(ctx, c, out, Overwrite(), Compression("lz5")); err == nil || !strings.Contains(err.Error(), "lz5") {
		t.Fatalf("bad codec: %v", err)
	}
	// a file truncated after planning, and a file of other columns
	pq, err := ReadParquet(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Select("k").ToParquet(ctx, c, filepath.Join(dir, "out2")); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(dir, "out2", "part.0.parquet"), filepath.Join(out, "part.1.parquet"))
	if _, err := ReadParquet(out); err == nil || !strings.Contains(err.Error(), "same columns") {
		t.Fatalf("other columns: %v", err)
	}
	os.Truncate(filepath.Join(out, "part.0.parquet"), 100)
	if _, err := pq.Len(ctx, c); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("truncated file: %v", err)
	}
	if _, err := FromRecords(ctx, c, nil); err == nil {
		t.Fatal("FromRecords of nothing succeeded")
	}
	other := sortedRecords(t, memory.DefaultAllocator, 10)[0]
	defer other.Release()
	sel, _ := selectColumns(other, []string{"k"})
	defer sel.Release()
	if _, err := FromRecords(ctx, c, []arrow.RecordBatch{rec, sel}); err == nil || !strings.Contains(err.Error(), "batch 1") {
		t.Fatalf("mixed schemas: %v", err)
	}
}
