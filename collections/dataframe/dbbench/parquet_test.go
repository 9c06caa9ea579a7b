package dbbench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	df "github.com/meshcompute/mesh/collections/dataframe"
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
	ctx, c := meshFor(t, 2*time.Minute)
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
			checkAnswer(t, ctx, c, q, d, data)
		})
	}
}
