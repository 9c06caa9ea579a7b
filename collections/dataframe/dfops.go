package dataframe

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/collections/internal/anyval"
	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// indexInfo: after SetIndex, the DataFrame is sorted by col and partition
// j holds the rows with divisions[j-1] <= col < divisions[j] (the first
// and last partitions are open-ended; NAs are in the last).
type indexInfo struct {
	col       string
	divisions []any
}

// invalid is a DataFrame whose plan fails with err when it is computed
// (lazy methods report bad input this way).
func (df *DataFrame) invalid(err error) *DataFrame {
	return &DataFrame{plan: &node{invalid: err}, columns: df.columns, nparts: df.nparts}
}

// checkCols: every col is a column of df (unknown columns, after
// MapPartitions, are not checked).
func (df *DataFrame) checkCols(op string, cols ...string) error {
	if df.columns == nil {
		return nil
	}
	for _, c := range cols {
		if !slices.Contains(df.columns, c) {
			return fmt.Errorf("%s: no column %q (columns: %v)", op, c, df.columns)
		}
	}
	return nil
}

// Head computes the first n rows: the first partition only, then, while
// there are fewer than n rows, the next 1, 2, 4, ... partitions (each with
// a per-partition head(n) fused into its task). The caller releases the
// record.
//
//	rec, err := df.Head(ctx, c, 5)
func (df *DataFrame) Head(ctx context.Context, c *futures.Client, n int64) (arrow.RecordBatch, error) {
	if n < 0 {
		return nil, fmt.Errorf("head: n is %d, want n >= 0", n)
	}
	limited := df.with(Step{Op: "head", N: n}, df.columns, df.types)
	var recs []arrow.RecordBatch
	defer func() { releaseRecs(recs) }()
	var rows int64
	for start, batch := 0, 1; start < df.nparts; start, batch = start+batch, batch*2 {
		idx := make([]int, 0, batch)
		for i := start; i < min(start+batch, df.nparts); i++ {
			idx = append(idx, i)
		}
		sub := &DataFrame{plan: &node{pick: &pickNode{input: limited.plan, idx: idx}}}
		got, err := sub.computeRecords(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, r := range got {
			rows += r.NumRows()
		}
		recs = append(recs, got...)
		if rows >= n {
			break
		}
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("head: no partitions")
	}
	all, err := kernels.Concat(mem, recs)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	return kernels.Head(all, n), nil
}

// NLargest is the n rows with the largest values of col, largest first
// (ties in row order; rows where col is NA are never among them), as one
// partition: a per-partition top n fused into each partition's task, then
// a tree of merges. E.g.
//
//	df.GroupBy("id1").Agg(Mean("v3"), Count("v3")).NLargest(20, "v3_mean")
//
// (an aggregation's column is named after its column unless As names it.)
func (df *DataFrame) NLargest(n int, col string) *DataFrame { return df.nBest("nlargest", n, col) }

// NSmallest is NLargest for the smallest values, smallest first.
func (df *DataFrame) NSmallest(n int, col string) *DataFrame { return df.nBest("nsmallest", n, col) }

func (df *DataFrame) nBest(op string, n int, col string) *DataFrame {
	if n < 0 {
		return df.invalid(fmt.Errorf("%s: n is %d, want n >= 0", op, n))
	}
	if err := df.checkCols(op, col); err != nil {
		return df.invalid(err)
	}
	s := []Step{{Op: op, N: int64(n), Cols: []string{col}}}
	return &DataFrame{plan: &node{reduce: &reduceNode{input: df.plan, partial: s, combine: s, final: s, every: 8}}, columns: df.columns, nparts: 1}
}

// SortKey is a column to sort by and its direction.
type SortKey struct {
	Col        string
	Descending bool
}

// Asc sorts by col, smallest first; Desc, largest first.
func Asc(col string) SortKey  { return SortKey{Col: col} }
func Desc(col string) SortKey { return SortKey{Col: col, Descending: true} }

// Sort sorts the rows by the keys (then by the next key where equal; NAs
// last whatever the direction; stable), keeping the number of partitions:
// each partition's keys are sampled, the samples give split points, each
// partition is split by range and output partition j concatenates and
// sorts the j-th pieces, so the partitions are in global order. E.g.
//
//	df.Sort(Desc("v3"), Asc("id1"))
func (df *DataFrame) Sort(keys ...SortKey) *DataFrame {
	by, desc, err := df.sortKeys("sort", keys)
	if err != nil {
		return df.invalid(err)
	}
	return &DataFrame{plan: &node{sort: &sortNode{input: df.plan, by: by, desc: desc, nout: df.nparts}}, columns: df.columns, nparts: df.nparts}
}

func (df *DataFrame) sortKeys(op string, keys []SortKey) ([]string, []bool, error) {
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("%s: no columns given: pass Asc(col) or Desc(col)", op)
	}
	by := make([]string, len(keys))
	desc := make([]bool, len(keys))
	for i, k := range keys {
		by[i], desc[i] = k.Col, k.Descending
	}
	return by, desc, df.checkCols(op, by...)
}

// SetIndex sorts by col (ascending, NAs last) and remembers the divisions,
// the split points between partitions, so that Loc reads only the
// partitions that can hold its rows. The divisions are computed now (a
// sample of every partition: the input is read once for it and again when
// the result is computed; Persist the input first if that is costly);
// Persist the result to sort once and Loc it many times.
func (df *DataFrame) SetIndex(ctx context.Context, c *futures.Client, col string) (*DataFrame, error) {
	if err := df.checkCols("set index", col); err != nil {
		return nil, err
	}
	s := &sortNode{input: df.plan, by: []string{col}, desc: []bool{false}, nout: df.nparts}
	b := &builder{g: futures.NewGraph()}
	in, err := b.node(ctx, df.plan)
	if err != nil {
		return nil, err
	}
	div, err := b.divisions(in, s)
	if err != nil {
		return nil, err
	}
	fs, err := b.compute(ctx, c, false, div.(futures.Ref))
	if err != nil {
		return nil, err
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	vals, err := futures.GatherAs[[]byte](ctx, c, fs)
	if err != nil {
		return nil, fmt.Errorf("set index %q: divisions: %w", col, err)
	}
	s.bounds = slices.Clone(vals[0])
	bounds, err := decodePart(s.bounds)
	if err != nil {
		return nil, err
	}
	defer bounds.Release()
	divs, err := divisionValues(bounds.Column(0))
	if err != nil {
		return nil, fmt.Errorf("set index %q: %w", col, err)
	}
	return &DataFrame{plan: &node{sort: s}, columns: df.columns, nparts: df.nparts, index: &indexInfo{col: col, divisions: divs}}, nil
}

// divisionValues are the split points as Go values (int64, float64,
// string, bool, time.Time; nil for NA).
func divisionValues(a arrow.Array) ([]any, error) {
	out := make([]any, a.Len())
	for i := range out {
		if a.IsNull(i) {
			continue
		}
		switch x := a.(type) {
		case *array.Int64:
			out[i] = x.Value(i)
		case *array.Float64:
			out[i] = x.Value(i)
		case *array.String:
			out[i] = x.Value(i)
		case *array.Boolean:
			out[i] = x.Value(i)
		case *array.Timestamp:
			out[i] = x.Value(i).ToTime(x.DataType().(*arrow.TimestampType).Unit)
		default:
			return nil, fmt.Errorf("index of type %s: supported: int64, float64, string, bool, timestamp", a.DataType())
		}
	}
	return out, nil
}

// Index is the column SetIndex sorted by ("" if none).
func (df *DataFrame) Index() string {
	if df.index == nil {
		return ""
	}
	return df.index.col
}

// Divisions are SetIndex's split points: partition j holds the rows whose
// index is in [d[j-1], d[j]) (the first and last partitions open-ended,
// NAs in the last; partitions after the last division are empty). nil
// without an index.
func (df *DataFrame) Divisions() []any {
	if df.index == nil {
		return nil
	}
	return slices.Clone(df.index.divisions)
}

// Loc is the rows whose index (SetIndex) is between lo and hi, both
// included (pandas' df.loc[lo:hi]); nil leaves that side open. Only the
// partitions whose divisions can hold such rows are computed. The result
// has no index of its own.
//
//	sorted, _ := df.SetIndex(ctx, c, "id4")
//	part := sorted.Loc(10, 20)
func (df *DataFrame) Loc(lo, hi any) *DataFrame {
	if df.index == nil {
		return df.invalid(fmt.Errorf("loc: the DataFrame has no index: call SetIndex(ctx, c, col) first"))
	}
	divs := df.index.divisions
	var keep []int
	for j := range df.nparts {
		if j > len(divs) {
			break // empty partitions
		}
		if j > 0 && hi != nil {
			if c, ok := compareAny(hi, divs[j-1]); ok && c < 0 {
				continue
			}
		}
		if j < len(divs) && lo != nil {
			if c, ok := compareAny(lo, divs[j]); ok && c >= 0 {
				continue
			}
		}
		keep = append(keep, j)
	}
	if len(keep) == 0 {
		keep = []int{0} // the filter leaves no rows, with the right schema
	}
	col := Col(df.index.col)
	var pred *Expr
	and := func(e Expr) {
		if pred == nil {
			pred = &e
		} else {
			x := pred.And(e)
			pred = &x
		}
	}
	if lo != nil {
		and(col.Ge(Lit(lo)))
	}
	if hi != nil {
		and(col.Le(Lit(hi)))
	}
	sub := &DataFrame{plan: &node{pick: &pickNode{input: df.plan, idx: keep}}, columns: df.columns, nparts: len(keep)}
	if pred == nil {
		return sub
	}
	return sub.Filter(*pred)
}

// compareAny compares a value given to Loc with a division (ok false when
// they do not compare: then nothing is pruned). A nil division is NA,
// after every value.
func compareAny(a, b any) (int, bool) {
	if b == nil {
		return -1, true
	}
	return anyval.CompareAny(a, b)
}

// Repartition makes n partitions, keeping the row order: with fewer
// partitions, adjacent ones are concatenated; with more, each is split in
// row ranges of about equal size (n/NPartitions pieces each, spread
// evenly).
func (df *DataFrame) Repartition(n int) *DataFrame {
	if n <= 0 {
		return df.invalid(fmt.Errorf("repartition: n is %d, want n >= 1", n))
	}
	if n == df.nparts {
		return df
	}
	return &DataFrame{plan: &node{repart: &repartNode{input: df.plan, n: n}}, columns: df.columns, nparts: n}
}

// ValueCounts counts the rows of each value of col, most frequent first
// (ties in order of first appearance), as one partition with the columns
// col and "count" ("n" when col is itself named "count"). NAs are left
// out, as pandas' value_counts does by default; GroupBy(col).Agg(Size())
// counts them too.
func (df *DataFrame) ValueCounts(col string) *DataFrame {
	if err := df.checkCols("value counts", col); err != nil {
		return df.invalid(err)
	}
	name := "count"
	if col == "count" {
		name = "n"
	}
	g := df.with(Step{Op: "dropna", Cols: []string{col}}, df.columns, df.types).GroupBy(col).Agg(Size().As(name))
	return g.with(Step{Op: "sort", Cols: []string{name}, Desc: []bool{true}}, g.columns, g.types)
}

// Unique is the distinct values of col (NA once, if any), in order of
// first appearance, as one partition with the one column col.
func (df *DataFrame) Unique(col string) *DataFrame {
	if err := df.checkCols("unique", col); err != nil {
		return df.invalid(err)
	}
	s := []Step{{Op: "unique", Cols: []string{col}}}
	return &DataFrame{plan: &node{reduce: &reduceNode{input: df.plan, partial: s, combine: s, final: s, every: 8}}, columns: []string{col}, nparts: 1}
}

// NUniqueOf counts the distinct non-NA values of col, on the mesh (pandas'
// df[col].nunique(); the group-by aggregation of the same name is
// NUnique).
func (df *DataFrame) NUniqueOf(ctx context.Context, c *futures.Client, col string) (int64, error) {
	if err := df.checkCols("nunique", col); err != nil {
		return 0, err
	}
	s := []Step{{Op: "unique", Cols: []string{col}}}
	final := []Step{s[0], {Op: "dropna", Cols: []string{col}}, {Op: "len"}}
	r := &DataFrame{plan: &node{reduce: &reduceNode{input: df.plan, partial: s, combine: s, final: final, every: 8}}, nparts: 1}
	rec, err := r.ComputeRecord(ctx, c)
	if err != nil {
		return 0, err
	}
	defer rec.Release()
	return rec.Column(0).(*array.Int64).Value(0), nil
}

// Describe summarizes the numeric columns like pandas' describe(): a
// "stat" column (count, mean, std, min, 25%, 50%, 75%, max), then one
// float64 column per numeric column, NA where a statistic is undefined
// (std of fewer than two values; all of them but count for no values).
// NAs are skipped; std has ddof 1; quantiles are exact, interpolated
// linearly. It runs on the mesh, in one task that receives the numeric
// columns of every partition (their whole size). The caller releases the
// record.
func (df *DataFrame) Describe(ctx context.Context, c *futures.Client) (arrow.RecordBatch, error) {
	schema, err := df.Schema(ctx, c)
	if err != nil {
		return nil, err
	}
	var num []string
	for _, f := range schema.Fields() {
		if isNumeric(f.Type) {
			num = append(num, f.Name)
		}
	}
	if len(num) == 0 {
		return nil, fmt.Errorf("describe: no numeric columns (schema: %s)", schema)
	}
	r := &DataFrame{plan: &node{reduce: &reduceNode{input: df.plan, partial: []Step{{Op: "select", Cols: num}}, final: []Step{{Op: "describe"}}}}, nparts: 1}
	return r.ComputeRecord(ctx, c)
}

// MemoryUsage is the bytes each column takes in Arrow buffers, summed over
// the partitions (computed on the mesh). Without deep, the character data
// of string columns is left out (their offsets and validity are counted),
// as pandas leaves out the Python objects.
func (df *DataFrame) MemoryUsage(ctx context.Context, c *futures.Client, deep bool) (map[string]int64, error) {
	var d int64
	if deep {
		d = 1
	}
	sum := []Step{{Op: "sumrows"}}
	r := &DataFrame{plan: &node{reduce: &reduceNode{input: df.plan, partial: []Step{{Op: "memusage", N: d}}, combine: sum, final: sum, every: 8}}, nparts: 1}
	rec, err := r.ComputeRecord(ctx, c)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	out := make(map[string]int64, rec.NumCols())
	for i, f := range rec.Schema().Fields() {
		out[f.Name] = rec.Column(i).(*array.Int64).Value(0)
	}
	return out, nil
}

// Schema is the result's Arrow schema. Column types are only known once
// data is read, so it runs the plan on the mesh on no rows: on an empty
// byte range of the first CSV file (through every step, group-by and
// sort), or, for persisted partitions and plans that cannot start empty,
// on the first partition cut to no rows by a fused head(0). That is cheap
// for a CSV source; for other plans it may compute the first partition.
func (df *DataFrame) Schema(ctx context.Context, c *futures.Client) (*arrow.Schema, error) {
	recs, err := (&DataFrame{plan: emptyPlan(df.plan)}).computeRecords(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	defer releaseRecs(recs)
	if len(recs) == 0 {
		return nil, fmt.Errorf("schema: no partitions")
	}
	return recs[0].Schema(), nil
}

// Dtypes are the columns' Arrow types (see Schema).
func (df *DataFrame) Dtypes(ctx context.Context, c *futures.Client) (map[string]arrow.DataType, error) {
	s, err := df.Schema(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make(map[string]arrow.DataType, s.NumFields())
	for _, f := range s.Fields() {
		out[f.Name] = f.Type
	}
	return out, nil
}

// emptyPlan is n on no rows, for its schema.
func emptyPlan(n *node) *node {
	switch {
	case n.csv != nil && !fileIsGzip(n.csv.Parts[0].Path): // gzip is read whole: head(0) below
		scan := *n.csv
		p := scan.Parts[0]
		p.Start, p.End = 0, 0
		scan.Parts = []CSVPart{p}
		return &node{csv: &scan}
	case n.steps != nil:
		return &node{steps: &stepsNode{input: emptyPlan(n.steps.input), steps: n.steps.steps}}
	case n.groupBy != nil:
		g := *n.groupBy
		g.input, g.splitOut = emptyPlan(g.input), 1
		return &node{groupBy: &g}
	case n.topN != nil:
		t := *n.topN
		t.input, t.splitOut = emptyPlan(t.input), 1
		return &node{topN: &t}
	case n.sort != nil:
		s := *n.sort
		s.input, s.nout, s.bounds = emptyPlan(s.input), 1, nil
		return &node{sort: &s}
	case n.reduce != nil:
		r := *n.reduce
		r.input = emptyPlan(r.input)
		return &node{reduce: &r}
	case n.repart != nil:
		return emptyPlan(n.repart.input)
	case n.pick != nil:
		return emptyPlan(n.pick.input)
	case n.invalid != nil:
		return n
	}
	return &node{steps: &stepsNode{input: &node{pick: &pickNode{input: n, idx: []int{0}}}, steps: []Step{{Op: "head", N: 0}}}}
}

func fileIsGzip(path string) bool {
	f, err := storage.Open(context.Background(), path)
	if err != nil {
		return false // the workers will say
	}
	defer f.Close()
	return isGzip(f)
}

// MapPartitions runs the partition function registered under name
// (RegisterPartitionFunc) on every partition, on the workers, fused with
// the steps before and after it. args are passed to it (msgpack-encoded;
// the function reads them with Args.Decode). The result's columns are not
// known before it runs: Columns is nil (Schema computes them). A function
// that is not registered on a worker, returns an error or panics fails
// the computation with an error naming it.
//
//	df.MapPartitions("scale", "v3", 2.5)
func (df *DataFrame) MapPartitions(name string, args ...any) *DataFrame {
	if name == "" {
		return df.invalid(fmt.Errorf("map partitions: empty function name"))
	}
	raw := make([][]byte, len(args))
	for i, a := range args {
		b, err := msgpack.Marshal(a)
		if err != nil {
			return df.invalid(fmt.Errorf("map partitions %q: argument %d (%T): %w", name, i, a, err))
		}
		raw[i] = b
	}
	out := df.with(Step{Op: "map", Name: name, Args: raw}, nil, nil)
	return out
}
