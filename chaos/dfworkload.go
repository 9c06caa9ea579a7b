package chaos

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/collections/dataframe/dbbench"
	"github.com/meshcompute/mesh/futures"
)

// DataFrame is a persisted DataFrame and a group-by on it: a groupby data
// set of Rows rows is written to Dir, read by the nodes in byte-range
// partitions, persisted (replicated like every held result), then grouped
// by id1 (sum and count of v1) through a hash shuffle. The answer is
// computed here from the CSV itself.
type DataFrame struct {
	Rows   int
	Seed   uint64
	Dir    string
	Prefix string

	path      string
	persisted *dataframe.DataFrame
	parts     []*futures.Future
}

func (w *DataFrame) Name() string { return fmt.Sprintf("dataframe(%d rows, persist+groupby)", w.Rows) }
func (w *DataFrame) Tag() string  { return w.Prefix + "/df/" }

var genMu sync.Mutex

func (w *DataFrame) Submit(ctx context.Context, cl *futures.Client) ([]*futures.Future, error) {
	w.path = filepath.Join(w.Dir, fmt.Sprintf("G1_%d_%d.csv", w.Rows, w.Seed))
	genMu.Lock()
	if _, err := os.Stat(w.path); err != nil {
		f, err := os.Create(w.path)
		if err != nil {
			genMu.Unlock()
			return nil, err
		}
		err = dbbench.GenGroupBy(f, dbbench.GroupByOptions{Rows: w.Rows, K: 10, NAs: 5, Seed: w.Seed})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			genMu.Unlock()
			return nil, err
		}
	}
	genMu.Unlock()
	st, err := os.Stat(w.path)
	if err != nil {
		return nil, err
	}
	raw, err := dataframe.ReadCSV(w.path, dataframe.BlockSize(st.Size()/4+1))
	if err != nil {
		return nil, err
	}
	if w.persisted, err = raw.Persist(ctx, cl); err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	q := w.persisted.GroupBy("id1").SplitOut(2).Agg(dataframe.Sum("v1"), dataframe.Count("v1").As("n"))
	if w.parts, err = q.Submit(ctx, cl); err != nil {
		return nil, err
	}
	return w.parts, nil
}

func (w *DataFrame) Check(ctx context.Context, cl *futures.Client) Outcome {
	o := Outcome{Tasks: w.persisted.NPartitions() + len(w.parts)}
	sums, counts, err := w.expected()
	if err != nil {
		o.Failed++
		o.problem("%s: reading the expected answer: %v", w.Name(), err)
		return o
	}
	rec, err := dataframe.Collect(ctx, cl, w.parts)
	if err != nil {
		if ctx.Err() != nil {
			o.Unresolved++
		} else {
			o.Failed++
		}
		o.problem("%s: group-by: %v", w.Name(), err)
		return o
	}
	defer rec.Release()
	if int(rec.NumRows()) != len(sums) {
		o.Wrong++
		o.problem("%s: %d groups, want %d", w.Name(), rec.NumRows(), len(sums))
	}
	ids := rec.Column(0).(*array.String)
	for i := range int(rec.NumRows()) {
		key := ""
		if !ids.IsNull(i) {
			key = ids.Value(i)
		}
		s, n := rec.Column(1).(*array.Int64), rec.Column(2).(*array.Int64)
		if s.Value(i) != sums[key] || n.Value(i) != counts[key] {
			o.Wrong++
			o.problem("%s: group %q: sum %d count %d, want %d %d", w.Name(), key, s.Value(i), n.Value(i), sums[key], counts[key])
		}
	}
	// The persisted partitions are still all there.
	if n, err := w.persisted.Len(ctx, cl); err != nil || n != int64(w.Rows) {
		o.Lost++
		o.problem("%s: persisted rows %d (%v), want %d", w.Name(), n, err, w.Rows)
	}
	return o
}

// expected reads the CSV: per id1 (NA as ""), the sum and count of v1.
func (w *DataFrame) expected() (map[string]int64, map[string]int64, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	sums, counts := map[string]int64{}, map[string]int64{}
	for _, r := range rows[1:] {
		sums[r[0]] += 0
		counts[r[0]] += 0
		if r[6] == "" {
			continue
		}
		v, err := strconv.ParseInt(r[6], 10, 64)
		if err != nil {
			return nil, nil, err
		}
		sums[r[0]] += v
		counts[r[0]]++
	}
	return sums, counts, nil
}
