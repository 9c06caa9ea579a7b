package dataframe

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestSortLarge times a sort of a big db-benchmark CSV on a 2-node local
// cluster: MESH_SORT_CSV=/tmp/G1_1e7_1e2_0_0.csv go test -run TestSortLarge -v
//
// Dask's figure for the same work (python3):
//
//	import time, dask, dask.dataframe as dd
//	dask.config.set(scheduler="threads", num_workers=2)
//	df = dd.read_csv("/tmp/G1_1e7_1e2_0_0.csv", blocksize=64 << 20)
//	t = time.time()
//	n = df.sort_values("v3").map_partitions(len).compute().sum()
//	print("read+sort+len", time.time() - t, n)
func TestSortLarge(t *testing.T) {
	path, ctx, c := largeRun(t, "MESH_SORT_CSV", 20*time.Minute)
	df, err := ReadCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := df.Len(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	read := time.Since(start)
	start = time.Now()
	sorted := df.Sort(Asc("v3"))
	m, err := sorted.Len(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if m != n {
		t.Fatalf("sorted %d rows of %d", m, n)
	}
	t.Logf("%d rows, %d partitions: read+len %v, read+sort by v3+len %v", n, df.NPartitions(), read, took)
	// The first rows of the sort are the smallest.
	head, err := sorted.Head(ctx, c, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Release()
	small, err := df.NSmallest(5, "v3").ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Release()
	hi, si := head.Schema().FieldIndices("v3")[0], small.Schema().FieldIndices("v3")[0]
	if !array.Equal(head.Column(hi), small.Column(si)) {
		t.Fatalf("head of the sort %v, smallest %v", head.Column(hi), small.Column(si))
	}
}
