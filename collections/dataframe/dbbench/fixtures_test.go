package dbbench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	df "github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/futures"
)

const fixtures = "../../../../shared/fixtures/dbbench"

// meshFor starts a 2-node in-process mesh for a test (closed when it ends)
// and returns its client, with a context of the test's time limit.
func meshFor(t *testing.T, limit time.Duration) (context.Context, *futures.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

// checkAnswer runs a groupby question on d and compares its sorted answer
// with DuckDB's for the data set named data.
func checkAnswer(t *testing.T, ctx context.Context, c *futures.Client, q Question, d *df.DataFrame, data string) {
	t.Helper()
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
	want, err := os.ReadFile(filepath.Join(fixtures, "answers", data, q.Name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CompareAnswers(got.Bytes(), want); err != nil {
		t.Fatal(err)
	}
}

// The groupby questions on a 2-node mesh, from a persisted DataFrame read
// in 4 byte-range partitions (plain and dictionary-encoded strings), against
// DuckDB's answers.
func TestGroupByAnswersMatchDuckDB(t *testing.T) {
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("fixtures not found at %s: %v", fixtures, err)
	}
	ctx, c := meshFor(t, 2*time.Minute)
	for _, run := range []struct {
		data string
		dict bool
	}{{"G1_1e5_1e2_0_0", false}, {"G1_1e5_1e1_5_0", false}, {"G1_1e5_1e2_0_0", true}, {"G1_1e5_1e1_5_0", true}} {
		data := run.data
		name := data
		if run.dict {
			name += "_dictionary"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(fixtures, data+".csv")
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			opts := []df.Option{df.BlockSize(st.Size()/4 + 1)}
			if run.dict {
				opts = append(opts, df.DictionaryStrings())
			}
			raw, err := df.ReadCSV(path, opts...)
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
				t.Run(q.Name, func(t *testing.T) { checkAnswer(t, ctx, c, q, d, data) })
			}
		})
	}
}

// The join questions on a 2-node mesh, from persisted tables (x and big in
// 3 partitions, small and medium in one), with each strategy: the default
// (q1–q4 broadcast their right table, q5 shuffles), every question
// broadcast (q5 too, big sent to every x partition), every question
// shuffled into 4 partitions; the join's result persisted, or the answer's
// sums fused into the join's tasks. Against DuckDB's answers.
func TestJoinAnswersMatchDuckDB(t *testing.T) {
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("fixtures not found at %s: %v", fixtures, err)
	}
	ctx, c := meshFor(t, 3*time.Minute)
	prefix := filepath.Join(fixtures, "J1_1e5")
	x, _, _, _ := JoinFiles(prefix)
	st, err := os.Stat(x)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ReadJoinTables(prefix, st.Size()/3+1)
	if err != nil {
		t.Fatal(err)
	}
	if raw.X.NPartitions() != 3 || raw.Big.NPartitions() != 3 || raw.Small.NPartitions() != 1 || raw.Medium.NPartitions() != 1 {
		t.Fatalf("partitions x %d big %d small %d medium %d", raw.X.NPartitions(), raw.Big.NPartitions(), raw.Small.NPartitions(), raw.Medium.NPartitions())
	}
	tables, err := raw.Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer tables.Release(ctx, c)
	for _, s := range []struct {
		name    string
		opts    []df.JoinOption
		persist bool
	}{
		{"default", nil, true},
		{"broadcast", []df.JoinOption{df.Broadcast()}, false},
		{"shuffle", []df.JoinOption{df.Shuffle(4)}, true},
		{"shuffle-fused", []df.JoinOption{df.Shuffle(4)}, false},
	} {
		for _, q := range JoinQuestions {
			t.Run(s.name+"/"+q.Name, func(t *testing.T) {
				j, err := q.Join(tables, s.opts...)
				if err != nil {
					t.Fatal(err)
				}
				plan := j.Explain()
				want := "broadcast right"
				if s.name == "shuffle" || s.name == "shuffle-fused" || (s.name == "default" && q.Right == "big") {
					want = "shuffle"
				}
				if !strings.Contains(plan, want) {
					t.Fatalf("plan is not %s:\n%s", want, plan)
				}
				rec, held, err := q.Run(ctx, c, tables, s.persist, s.opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer rec.Release()
				if held != nil {
					defer held.Release(ctx, c)
				}
				var got bytes.Buffer
				if err := WriteAnswer(&got, rec); err != nil {
					t.Fatal(err)
				}
				want2, err := os.ReadFile(filepath.Join(fixtures, "answers", "J1_1e5", q.Name+".csv"))
				if err != nil {
					t.Fatal(err)
				}
				if err := CompareAnswers(got.Bytes(), want2); err != nil {
					t.Fatalf("%v\n%s", err, plan)
				}
			})
		}
	}
}
