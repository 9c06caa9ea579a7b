package dbbench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	df "github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/futures"
)

// The fixture with NAs written to Parquet (small row groups, zstd) and
// read back: q1, q3 and q5 equal DuckDB's answers.
func TestParquetAnswersMatchDuckDB(t *testing.T) {
	const data = "G1_1e5_1e1_5_0"
	path := filepath.Join(fixtures, data+".csv")
	st, err := os.Stat(path)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := df.ReadCSV(path, df.BlockSize(st.Size()/2+1))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := raw.ToParquet(ctx, c, dir, df.RowGroupRows(25_000), df.Compression("zstd")); err != nil {
		t.Fatal(err)
	}
	d, err := df.ReadParquet(dir, df.BlockSize(0))
	if err != nil {
		t.Fatal(err)
	}
	if d.NPartitions() < 4 {
		t.Fatalf("%d partitions, want one per row group (at least 4)", d.NPartitions())
	}
	for _, name := range []string{"q1", "q3", "q5"} {
		t.Run(name, func(t *testing.T) {
			q, err := GroupByQuestion(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := q.Run(ctx, c, d)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Release()
			rec, err := q.Sorted(res)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			var got bytes.Buffer
			if err := WriteAnswer(&got, rec); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(fixtures, "answers", data, name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			if err := CompareAnswers(got.Bytes(), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}
