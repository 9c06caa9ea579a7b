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

const fixtures = "../../../../shared/fixtures/dbbench"

// The groupby questions on a 2-node mesh, from a persisted DataFrame read
// in 4 byte-range partitions, against DuckDB's answers.
func TestGroupByAnswersMatchDuckDB(t *testing.T) {
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("fixtures not found at %s: %v", fixtures, err)
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
	for _, data := range []string{"G1_1e5_1e2_0_0", "G1_1e5_1e1_5_0"} {
		t.Run(data, func(t *testing.T) {
			path := filepath.Join(fixtures, data+".csv")
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := df.ReadCSV(path, df.BlockSize(st.Size()/4+1))
			if err != nil {
				t.Fatal(err)
			}
			if raw.NPartitions() != 4 {
				t.Fatalf("%d partitions, want 4", raw.NPartitions())
			}
			d, err := raw.Persist(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Release(ctx, c)
			if n, err := d.Len(ctx, c); err != nil || n != 100_000 {
				t.Fatalf("len %d %v, want 100000", n, err)
			}
			for _, q := range GroupByQuestions {
				t.Run(q.Name, func(t *testing.T) {
					raw, err := q.Run(ctx, c, d)
					if err != nil {
						t.Fatal(err)
					}
					defer raw.Release()
					rec, err := q.Sorted(raw)
					if err != nil {
						t.Fatal(err)
					}
					defer rec.Release()
					var got bytes.Buffer
					if err := WriteAnswer(&got, rec); err != nil {
						t.Fatal(err)
					}
					want, err := os.ReadFile(filepath.Join(fixtures, "answers", data, q.Name+".csv"))
					if err != nil {
						t.Fatal(err)
					}
					if err := CompareAnswers(got.Bytes(), want); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}
