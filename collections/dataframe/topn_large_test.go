package dataframe

import (
	"testing"
	"time"
)

// TestTopNLarge times db-benchmark q8 on a big groupby CSV, persisted on a
// 2-node local cluster, as values (the Largest aggregation) and as whole
// rows (GroupBy.NLargest, by a tree and with SplitOut):
// MESH_TOPN_CSV=/tmp/G1_1e7_1e2_0_0.csv go test -run TestTopNLarge -v
func TestTopNLarge(t *testing.T) {
	path, ctx, c := largeRun(t, "MESH_TOPN_CSV", 20*time.Minute)
	raw, err := ReadCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	df, err := raw.Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Release(ctx, c)
	run := func(name string, d *DataFrame) int64 {
		start := time.Now()
		rec, err := d.ComputeRecord(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer rec.Release()
		t.Logf("%s: %d rows in %v", name, rec.NumRows(), time.Since(start))
		return rec.NumRows()
	}
	groups := run("q8 values (Agg Largest)", df.GroupBy("id6").Agg(Largest(2, "v3").As("largest2_v3")))
	rows := run("q8 rows (NLargest), tree", df.GroupBy("id6").NLargest(2, "v3"))
	rows4 := run("q8 rows (NLargest), split-out 4", df.GroupBy("id6").SplitOut(4).NLargest(2, "v3"))
	if rows != rows4 || rows > 2*groups || rows < groups {
		t.Fatalf("%d groups, %d rows, %d rows split out", groups, rows, rows4)
	}
}
