package dataframe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/collections/dataframe/expr"
	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// DataFrame is a lazy, partitioned table: a plan that becomes a task graph
// when it is computed or persisted. Methods return new DataFrames; nothing
// runs until Compute, Persist or Len.
type DataFrame struct {
	plan    *node
	columns []string // the result's columns, in order
	// types of the columns as far as the plan knows them ("int64",
	// "float64", "bool", "string", "timestamp"; "" when unknown), for
	// errors at plan time.
	types  []string
	nparts int
	// held: futures of persisted partitions (released by Release).
	held []*futures.Future
	// index: the sorted column and its divisions, after SetIndex (dfops.go).
	index *indexInfo
}

// ErrNoFiles: a ReadCSV pattern matched nothing.
var ErrNoFiles = errors.New("no files match")

// Option configures ReadCSV.
type Option func(*readOpts)

type readOpts struct {
	blockSize int64
	csv       kernels.CSVOptions
}

// BlockSize splits each file into partitions of about this many bytes
// (default 64 MiB; 0 or less: one partition per file).
func BlockSize(n int64) Option { return func(o *readOpts) { o.blockSize = n } }

// Types overrides inferred column types ("int64", "float64", "bool",
// "string", "timestamp").
func Types(t map[string]string) Option {
	return func(o *readOpts) {
		if o.csv.Types == nil {
			o.csv.Types = map[string]string{}
		}
		for k, v := range t {
			o.csv.Types[k] = v
		}
	}
}

// NAValues are the field values read as NA (default: the empty field).
func NAValues(v ...string) Option { return func(o *readOpts) { o.csv.NAValues = v } }

// Delimiter sets the field separator (default ',').
func Delimiter(d byte) Option { return func(o *readOpts) { o.csv.Delimiter = d } }

// DictionaryStrings reads string columns dictionary-encoded (one dictionary
// per partition). Group-bys on them index codes instead of hashing strings,
// and a persisted DataFrame holds each distinct string once per partition;
// every other operation, and the results a client gets, see plain strings
// (decoded in the task that needs them).
func DictionaryStrings() Option { return func(o *readOpts) { o.csv.Dictionary = true } }

// ReadCSV is a DataFrame over the CSV files matching pattern (a glob), each
// split into byte ranges of about BlockSize. The files are listed and their
// header and first rows sampled here, for the schema; the workers read the
// data, so the paths must be valid on every node (a shared or local disk).
// Gzip files are read whole, one partition each.
//
// pattern may be an object store URL (package storage: s3://bucket/dir/*.csv,
// gs://…, https://… for one file; options such as
// ?endpoint=…&use_path_style=true or ?anon=true in its query): the bucket
// is listed here, and each task reads only its byte range, with the
// credentials of the node it runs on.
func ReadCSV(pattern string, opts ...Option) (*DataFrame, error) {
	o := readOpts{blockSize: 64 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	infos, err := storage.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("read csv %q: %w", pattern, err)
	}
	infos = slices.DeleteFunc(infos, func(in storage.Info) bool { return in.IsDir })
	if len(infos) == 0 {
		return nil, fmt.Errorf("read csv %q: %w", pattern, ErrNoFiles)
	}
	scan := &csvScan{Opts: o.csv}
	for i, in := range infos {
		f, err := storage.Open(ctx, in.URL)
		if err != nil {
			return nil, fmt.Errorf("read csv: %w", err)
		}
		if i == 0 {
			names, types, err := kernels.InferCSVTypes(f, f.Size(), o.csv)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("read csv %s: %w", storage.Key(in.URL), err)
			}
			scan.names, scan.Opts.Types = names, types
		}
		gz := isGzip(f)
		f.Close()
		size := f.Size()
		mtime := f.ModTime().UnixNano()
		step := o.blockSize
		if step <= 0 || gz {
			step = size
		}
		for start := int64(0); start < size || start == 0; start += step {
			scan.Parts = append(scan.Parts, CSVPart{Path: in.URL, Start: start, End: min(start+step, size), Size: size, MTime: mtime})
			if step == 0 {
				break
			}
		}
	}
	types := make([]string, len(scan.names))
	for i, n := range scan.names {
		types[i] = scan.Opts.Types[n]
	}
	return &DataFrame{plan: &node{csv: scan}, columns: scan.names, types: types, nparts: len(scan.Parts)}, nil
}

func isGzip(f io.ReaderAt) bool {
	var b [2]byte
	n, _ := f.ReadAt(b[:], 0)
	return n == 2 && b[0] == 0x1f && b[1] == 0x8b
}

// Columns are the DataFrame's column names, in order.
func (df *DataFrame) Columns() []string { return slices.Clone(df.columns) }

// Explain describes the plan, one node a line, inputs indented below the
// step that reads them (e.g. "join inner [id1]=[id1] broadcast right -> 4
// partitions").
func (df *DataFrame) Explain() string {
	var b strings.Builder
	df.plan.explain(&b, "")
	return b.String()
}

// NPartitions is how many partitions the DataFrame has.
func (df *DataFrame) NPartitions() int { return df.nparts }

// typeOf is the type of column name as far as the plan knows it ("" when
// unknown or absent).
func (df *DataFrame) typeOf(name string) string {
	if i := slices.Index(df.columns, name); i >= 0 && i < len(df.types) {
		return df.types[i]
	}
	return ""
}

// typesOf are the known types of cols.
func (df *DataFrame) typesOf(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = df.typeOf(c)
	}
	return out
}

// with adds a per-partition step (fused with the steps before it).
func (df *DataFrame) with(s Step, columns, types []string) *DataFrame {
	n := &node{steps: &stepsNode{input: df.plan, steps: []Step{s}}}
	if df.plan.steps != nil {
		n.steps = &stepsNode{input: df.plan.steps.input, steps: append(slices.Clone(df.plan.steps.steps), s)}
	}
	return &DataFrame{plan: n, columns: columns, types: types, nparts: df.nparts}
}

// Select keeps the named columns, in that order.
func (df *DataFrame) Select(cols ...string) *DataFrame {
	return df.with(Step{Op: "select", Cols: cols}, slices.Clone(cols), df.typesOf(cols))
}

// Drop removes the named columns.
func (df *DataFrame) Drop(cols ...string) *DataFrame {
	keep := slices.DeleteFunc(slices.Clone(df.columns), func(c string) bool { return slices.Contains(cols, c) })
	return df.with(Step{Op: "drop", Cols: cols}, keep, df.typesOf(keep))
}

// Rename renames columns: Rename(map[old]new).
func (df *DataFrame) Rename(names map[string]string) *DataFrame {
	cols := slices.Clone(df.columns)
	types := df.typesOf(cols)
	var pairs []string
	for i, c := range cols {
		if n, ok := names[c]; ok {
			cols[i] = n
			pairs = append(pairs, c, n)
		}
	}
	return df.with(Step{Op: "rename", Cols: pairs}, cols, types)
}

// Filter keeps the rows where pred is true (NA counts as false), e.g.
// Filter(Col("v1").Gt(3).And(Col("id1").Contains("7"))).
func (df *DataFrame) Filter(pred Expr) *DataFrame {
	e := pred
	return df.with(Step{Op: "filter", Expr: &e}, slices.Clone(df.columns), df.typesOf(df.columns))
}

// WithColumn adds the column name computed by e (or replaces it).
func (df *DataFrame) WithColumn(name string, e Expr) *DataFrame {
	cols := slices.Clone(df.columns)
	if !slices.Contains(cols, name) {
		cols = append(cols, name)
	}
	types := df.typesOf(cols)
	types[slices.Index(cols, name)] = "" // not inferred from the expression
	return df.with(Step{Op: "with", Expr: &e, Name: name}, cols, types)
}

// Expr is a column expression (package expr): Col, Lit and their methods.
type Expr = expr.Expr

// Col refers to a column; Lit is a literal.
func Col(name string) Expr { return expr.Col(name) }
func Lit(v any) Expr       { return expr.Lit(v) }

// GroupBy starts a group-by on key columns; NA keys form their own group
// (pandas' dropna=False).
func (df *DataFrame) GroupBy(keys ...string) *GroupBy {
	return &GroupBy{df: df, keys: keys}
}

// GroupBy is a DataFrame grouped by keys, waiting for its aggregations.
type GroupBy struct {
	df       *DataFrame
	keys     []string
	splitOut int
}

// SplitOut spreads the result over n partitions by a hash shuffle of the
// partial results, for many groups (Dask's split_out); default 1, a tree
// reduction to one partition.
func (g *GroupBy) SplitOut(n int) *GroupBy {
	c := *g
	c.splitOut = n
	return &c
}

// Agg aggregates each group: the result has the keys, then one column per
// aggregation (named by Agg.As, or after its column).
func (g *GroupBy) Agg(aggs ...Agg) *DataFrame {
	ks := make([]kernels.Agg, len(aggs))
	cols := slices.Clone(g.keys)
	types := g.df.typesOf(g.keys)
	for i, a := range aggs {
		ks[i] = kernels.Agg(a)
		cols = append(cols, ks[i].OutName())
		types = append(types, "")
	}
	n := &node{groupBy: &groupByNode{input: g.df.plan, keys: g.keys, aggs: ks, splitOut: max(g.splitOut, 1), every: 8}}
	return &DataFrame{plan: n, columns: cols, types: types, nparts: max(g.splitOut, 1)}
}

// Agg is one aggregation of a group-by.
type Agg kernels.Agg

// As names the aggregation's result column.
func (a Agg) As(name string) Agg { a.Name = name; return a }

// Aggregations. NA values are skipped; a group whose values are all NA
// gets NA (Count gives 0).
func Sum(col string) Agg    { return Agg{Op: "sum", Col: col} }
func Mean(col string) Agg   { return Agg{Op: "mean", Col: col} }
func Count(col string) Agg  { return Agg{Op: "count", Col: col} }
func Size() Agg             { return Agg{Op: "size"} }
func Min(col string) Agg    { return Agg{Op: "min", Col: col} }
func Max(col string) Agg    { return Agg{Op: "max", Col: col} }
func Std(col string) Agg    { return Agg{Op: "std", Col: col} }
func Var(col string) Agg    { return Agg{Op: "var", Col: col} }
func Median(col string) Agg { return Agg{Op: "median", Col: col} }
func First(col string) Agg  { return Agg{Op: "first", Col: col} }
func Last(col string) Agg   { return Agg{Op: "last", Col: col} }

// NUnique counts distinct non-NA values.
func NUnique(col string) Agg { return Agg{Op: "nunique", Col: col} }

// Largest / Smallest: the n largest / smallest non-NA values of col per
// group, as a list (best first).
func Largest(n int, col string) Agg  { return Agg{Op: "nlargest", Col: col, N: n} }
func Smallest(n int, col string) Agg { return Agg{Op: "nsmallest", Col: col, N: n} }

// Corr is the Pearson correlation of two columns per group.
func Corr(col, col2 string) Agg { return Agg{Op: "corr", Col: col, Col2: col2} }

// Persist computes the partitions and keeps them in the mesh (replicated
// like every result, so they survive a node's loss); the returned
// DataFrame reads them. Release drops them.
func (df *DataFrame) Persist(ctx context.Context, c *futures.Client) (*DataFrame, error) {
	fs, err := build(ctx, c, df.plan, false)
	if err != nil {
		return nil, err
	}
	if _, _, err := c.Wait(ctx, fs, futures.AllCompleted); err != nil {
		c.Release(context.WithoutCancel(ctx), fs...)
		return nil, err
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			c.Release(context.WithoutCancel(ctx), fs...)
			return nil, err
		}
	}
	return &DataFrame{plan: &node{persisted: &persisted{parts: fs}}, columns: df.columns, types: df.types, nparts: len(fs), held: fs, index: df.index}, nil
}

// Release lets the mesh drop a persisted DataFrame's partitions.
func (df *DataFrame) Release(ctx context.Context, c *futures.Client) error {
	if len(df.held) == 0 {
		return nil
	}
	err := c.Release(ctx, df.held...)
	df.held = nil
	return err
}

// Submit starts computing the plan and returns the futures of its output
// partitions, in order, without waiting (Dask's client.compute): Collect
// turns them into a record; Release them when done.
func (df *DataFrame) Submit(ctx context.Context, c *futures.Client) ([]*futures.Future, error) {
	return build(ctx, c, df.plan, false)
}

// Collect waits for partitions submitted by Submit and returns them as one
// record batch (the caller releases it).
func Collect(ctx context.Context, c *futures.Client, parts []*futures.Future) (arrow.RecordBatch, error) {
	recs, err := gather(ctx, c, parts)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if len(recs) == 0 {
		return nil, fmt.Errorf("dataframe: no partitions")
	}
	return kernels.Concat(mem, recs)
}

// Compute runs the plan and returns the result as one table, partitions in
// order. The caller releases the table.
func (df *DataFrame) Compute(ctx context.Context, c *futures.Client) (arrow.Table, error) {
	recs, err := df.computeRecords(ctx, c)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if len(recs) == 0 {
		return nil, fmt.Errorf("dataframe: no partitions")
	}
	return array.NewTableFromRecords(recs[0].Schema(), recs), nil
}

// ComputeRecord is Compute as one record batch (concatenated).
func (df *DataFrame) ComputeRecord(ctx context.Context, c *futures.Client) (arrow.RecordBatch, error) {
	recs, err := df.computeRecords(ctx, c)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	// The client's cores are free while it concatenates: one column each.
	return kernels.ConcatParallel(mem, recs, runtime.GOMAXPROCS(0))
}

func (df *DataFrame) computeRecords(ctx context.Context, c *futures.Client) ([]arrow.RecordBatch, error) {
	fs, err := build(ctx, c, df.plan, true)
	if err != nil {
		return nil, err
	}
	if df.plan.persisted != nil {
		return gather(ctx, c, fs)
	}
	return gatherReleasing(ctx, c, fs)
}

// gatherReleasing fetches and decodes the partitions of a computation as
// each finishes, and releases each as soon as it is here: the mesh drops
// the copy it held (one: build's fetchOnce) while the rest still compute,
// so a large answer is not held by the mesh and the client at once. All
// are released when it returns.
func gatherReleasing(ctx context.Context, c *futures.Client, fs []*futures.Future) ([]arrow.RecordBatch, error) {
	index := make(map[*futures.Future]int, len(fs))
	for i, f := range fs {
		index[f] = i
	}
	recs := make([]arrow.RecordBatch, len(fs))
	released := make(map[*futures.Future]bool, len(fs))
	fail := func(err error) ([]arrow.RecordBatch, error) {
		for _, r := range recs {
			if r != nil {
				r.Release()
			}
		}
		var rest []*futures.Future
		for _, f := range fs {
			if !released[f] {
				rest = append(rest, f)
			}
		}
		c.Release(context.WithoutCancel(ctx), rest...)
		return nil, err
	}
	for f, err := range c.AsCompleted(ctx, fs) {
		if err != nil {
			return fail(err)
		}
		vals, err := futures.GatherAs[futures.RawBytes](ctx, c, []*futures.Future{f}) // no copy: decodePart maps them
		if err != nil {
			return fail(err)
		}
		r, err := decodePart(vals[0])
		if err != nil {
			return fail(err)
		}
		recs[index[f]] = r
		released[f] = true
		c.Release(context.WithoutCancel(ctx), f)
	}
	return recs, nil
}

// gather fetches partitions and decodes them, in order (the caller
// releases them).
func gather(ctx context.Context, c *futures.Client, fs []*futures.Future) ([]arrow.RecordBatch, error) {
	vals, err := futures.GatherAs[futures.RawBytes](ctx, c, fs) // no copy: decodePart maps them
	if err != nil {
		return nil, err
	}
	recs := make([]arrow.RecordBatch, 0, len(vals))
	for _, v := range vals {
		r, err := decodePart(v)
		if err != nil {
			for _, q := range recs {
				q.Release()
			}
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Len counts the rows, each partition's on the mesh.
func (df *DataFrame) Len(ctx context.Context, c *futures.Client) (int64, error) {
	recs, err := df.with(Step{Op: "len"}, []string{"rows"}, []string{"int64"}).computeRecords(ctx, c)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range recs {
		n += r.Column(0).(*array.Int64).Value(0)
		r.Release()
	}
	return n, nil
}
