package dataframe

import (
	"os"
	"slices"
	"testing"
	"time"
)

// testdata/duckdb_g1_6e3.parquet was written by DuckDB 1.5 (node-api) from
// the first 6000 rows of the NA fixture, read with INTEGER (int32) id4..v2,
// plus rn (row index, BIGINT) and ts (2024-01-01 + rn minutes, TIMESTAMP
// without zone): COPY ... (FORMAT parquet, ROW_GROUP_SIZE 2048, COMPRESSION
// zstd), so 3 row groups. A file from another writer reads back as the
// fixture reads from CSV (int32 widened), and its statistics skip row
// groups.
func TestReadDuckDBParquet(t *testing.T) {
	if _, err := os.Stat(fixture); err != nil {
		t.Skipf("fixture: %v", err)
	}
	ctx, c := startMesh(t)
	d, err := ReadParquet("testdata/duckdb_g1_6e3.parquet", BlockSize(0))
	if err != nil {
		t.Fatal(err)
	}
	if got := describeSchema(d.plan.parquet.schema()); got != "(id1 utf8, id2 utf8, id3 utf8, id4 int64, id5 int64, id6 int64, v1 int64, v2 int64, v3 float64, rn int64, ts timestamp[us])" {
		t.Fatalf("schema %s", got)
	}
	if d.NPartitions() != 3 {
		t.Fatalf("%d partitions, want 3 row groups", d.NPartitions())
	}
	src, err := ReadCSV(fixture)
	if err != nil {
		t.Fatal(err)
	}
	all := compute(t, ctx, c, src)
	defer all.Release()
	want := all.NewSlice(0, 6000)
	defer want.Release()
	got := compute(t, ctx, c, d.Select(src.Columns()...))
	defer got.Release()
	sameRecords(t, "duckdb parquet", got, want)

	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		pred   Expr
		groups []int
		rows   int64
	}{
		{"rn", Col("rn").Ge(2048).And(Col("rn").Lt(3000)), []int{1}, 952},
		{"ts", Col("ts").Lt(t0.Add(100 * time.Minute)), []int{0}, 100},
		{"int32 column", Col("id4").Gt(10), []int{}, 0},
		{"string", Col("id1").Eq("id999"), []int{}, 0},
	} {
		f := d.Filter(tc.pred)
		var groups []int
		for _, tk := range d.plan.parquet.parquetTasks(f.plan.steps.steps) {
			groups = append(groups, tk.Part.RowGroups...)
		}
		if !slices.Equal(groups, tc.groups) && !(len(groups) == 0 && len(tc.groups) == 0) {
			t.Errorf("%s: row groups planned %v, want %v", tc.name, groups, tc.groups)
		}
		if n, err := f.Len(ctx, c); err != nil || n != tc.rows {
			t.Errorf("%s: len %d %v, want %d", tc.name, n, err, tc.rows)
		}
	}
}
