package dataframe

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadParquetVsCSVTiming times the same queries on a CSV file and on
// its Parquet copy, on a 2-node in-process mesh. It runs only when
// MESH_IO_BENCH names a groupby CSV (e.g. bin/mesh gen groupby --rows 1e7
// --k 100 --out /tmp/G1_1e7_1e2_0_0.csv); the Parquet copy is written next
// to it once (<file>.parquet/). First the readers alone (one partition
// after another), then queries on the mesh (Len of the result), best of 3:
//
//	MESH_IO_BENCH=/tmp/G1_1e7_1e2_0_0.csv go test -run TestReadParquetVsCSVTiming -v ./collections/dataframe/
func TestReadParquetVsCSVTiming(t *testing.T) {
	path, ctx, c := largeRun(t, "MESH_IO_BENCH", 15*time.Minute)
	csv, err := ReadCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := path + ".parquet"
	if _, err := os.Stat(filepath.Join(dir, "part.0.parquet")); err != nil {
		start := time.Now()
		files, err := csv.ToParquet(ctx, c, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ToParquet: %d files in %v", len(files), time.Since(start))
	}
	pq, err := ReadParquet(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("csv: %d partitions; parquet: %d partitions", csv.NPartitions(), pq.NPartitions())
	start := time.Now()
	files, err := pq.ToCSV(ctx, c, filepath.Join(t.TempDir(), "csv"))
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, f := range files {
		st, _ := os.Stat(f)
		size += st.Size()
	}
	t.Logf("ToCSV from parquet: %d files, %d MB in %v", len(files), size>>20, time.Since(start))

	// The readers alone, one partition after another in this process.
	for _, cols := range [][]string{nil, {"id1", "v1"}, {"id3", "v1", "v3"}} {
		var took [2]time.Duration
		var rows [2]int64
		for i := range 2 {
			best := time.Duration(1 << 62)
			for range 3 {
				start := time.Now()
				var n int64
				if i == 0 {
					opts := csv.plan.csv.Opts
					opts.Columns = cols
					for _, p := range csv.plan.csv.Parts {
						rec, err := readCSVPart(context.Background(), p, opts)
						if err != nil {
							t.Fatal(err)
						}
						n += rec.NumRows()
						rec.Release()
					}
				} else {
					for _, tk := range pq.plan.parquet.parquetTasks(nil) {
						rec, err := readParquetPart(ctx, tk.Part, cols)
						if err != nil {
							t.Fatal(err)
						}
						n += rec.NumRows()
						rec.Release()
					}
				}
				best = min(best, time.Since(start))
				rows[i] = n
			}
			took[i] = best
		}
		if rows[0] != rows[1] {
			t.Fatalf("read %v: %d rows from csv, %d from parquet", cols, rows[0], rows[1])
		}
		t.Logf("read columns %-16v csv %8v  parquet %8v  ratio csv/parquet %.1f", cols, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), float64(took[0])/float64(took[1]))
	}
	queries := []struct {
		name string
		q    func(d *DataFrame) *DataFrame
	}{
		{"all columns (NotNull of each, count)", func(d *DataFrame) *DataFrame {
			p := Col("id1").NotNull()
			for _, col := range d.Columns()[1:] {
				p = p.And(Col(col).NotNull())
			}
			return d.Filter(p)
		}},
		{"q1 sum v1 by id1", func(d *DataFrame) *DataFrame { return d.GroupBy("id1").Agg(Sum("v1")) }},
		{"q3 sum v1, mean v3 by id3", func(d *DataFrame) *DataFrame {
			return d.GroupBy("id3").SplitOut(d.NPartitions()).Agg(Sum("v1"), Mean("v3"))
		}},
	}
	for _, q := range queries {
		// interleaved runs, best of 3 each
		took := [2]time.Duration{1 << 62, 1 << 62}
		var rows [2]int64
		for range 3 {
			for i, d := range []*DataFrame{pq, csv} {
				start := time.Now()
				n, err := q.q(d).Len(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				took[1-i] = min(took[1-i], time.Since(start))
				rows[1-i] = n
			}
		}
		if rows[0] != rows[1] {
			t.Fatalf("%s: %d rows from csv, %d from parquet", q.name, rows[0], rows[1])
		}
		t.Logf("%-38s csv %8v  parquet %8v  ratio csv/parquet %.1f", q.name, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), float64(took[0])/float64(took[1]))
	}
}
