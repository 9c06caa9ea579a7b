package dataframe

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// Plan nodes and built-in operations for sorting (range partitioning),
// reductions to one partition (n largest, unique, describe, memory usage),
// repartitioning and partition subsets (head, loc). The public methods are
// in dfops.go.

// sortNode sorts its input by range partitioning: every input partition is
// sampled, the samples give nout-1 split points (one "dataframe.divisions"
// task, or bounds fixed in the plan by SetIndex), every input partition is
// split by range ("dataframe.rangesplit"), and output partition j
// concatenates and sorts the j-th pieces. Outputs are in global order.
type sortNode struct {
	input  *node
	by     []string
	desc   []bool
	nout   int
	bounds []byte // fixed split points (a partition payload); nil: sampled
}

// reduceNode brings its input to one partition: partial steps fused into
// each input partition, then a tree of "dataframe.concat" tasks that
// concatenate their inputs and run combine steps (final steps at the root).
type reduceNode struct {
	input   *node
	partial []Step
	combine []Step
	final   []Step
	every   int // fan-in; < 2: one task takes every partition
}

// repartNode makes n partitions of its input, keeping row order: adjacent
// partitions concatenated, or each split in row ranges.
type repartNode struct {
	input *node
	n     int
}

// pickNode is a subset of its input's partitions, in the order of idx.
type pickNode struct {
	input *node
	idx   []int
}

const (
	opConcat     = "dataframe.concat"
	opDivisions  = "dataframe.divisions"
	opRangeSplit = "dataframe.rangesplit"
	opRowSplit   = "dataframe.rowsplit"
)

// ConcatTask concatenates its inputs (partitions with one schema) and runs
// Steps on the result. The argument of "dataframe.concat".
type ConcatTask struct {
	Steps []Step `msgpack:"steps,omitempty"`
}

// DivisionsTask chooses N-1 split points for a range partitioning from
// samples of the By columns (its inputs). The argument of
// "dataframe.divisions".
type DivisionsTask struct {
	By   []string `msgpack:"by"`
	Desc []bool   `msgpack:"desc,omitempty"`
	N    int      `msgpack:"n"`
}

// RangeSplitTask splits its first input into N parts by ranges of By;
// the split points are its second input, or Bounds. The argument of
// "dataframe.rangesplit".
type RangeSplitTask struct {
	By     []string `msgpack:"by"`
	Desc   []bool   `msgpack:"desc,omitempty"`
	N      int      `msgpack:"n"`
	Bounds []byte   `msgpack:"bounds,omitempty"`
}

// RowSplitTask splits its input into N row ranges of about equal size, in
// order. The argument of "dataframe.rowsplit".
type RowSplitTask struct {
	N int `msgpack:"n"`
}

func registerOps() {
	futures.Register(opConcat, runConcat)
	futures.Register(opDivisions, runDivisions)
	futures.Register(opRangeSplit, runRangeSplit)
	futures.Register(opRowSplit, runRowSplit)
}

// ---- building ----

func (b *builder) opsNode(ctx context.Context, n *node) ([]part, error) {
	switch {
	case n.invalid != nil:
		return nil, n.invalid
	case n.sort != nil:
		return b.sort(ctx, n.sort, nil)
	case n.reduce != nil:
		return b.reduce(ctx, n.reduce)
	case n.repart != nil:
		return b.repart(ctx, n.repart, nil)
	case n.pick != nil:
		return b.subset(ctx, n.pick.input, n.pick.idx, nil)
	}
	return nil, fmt.Errorf("dataframe: empty plan node")
}

// fused returns n's partitions with steps run on each, fused into the
// tasks of n's own per-partition steps.
func (b *builder) fused(ctx context.Context, n *node, steps []Step) ([]part, error) {
	if n.steps != nil {
		return b.parts(ctx, n.steps.input, append(slices.Clone(n.steps.steps), steps...))
	}
	return b.parts(ctx, n, steps)
}

// own makes p a task of this graph (a persisted partition is copied), so
// that it can be an output.
func (b *builder) own(p part) (part, error) {
	if f, ok := p.(*futures.Future); ok {
		return b.add(opConcat, ConcatTask{}, f)
	}
	return p, nil
}

// subset builds only partitions idx of n (as far as n's kind allows) with
// steps run on each.
func (b *builder) subset(ctx context.Context, n *node, idx []int, steps []Step) ([]part, error) {
	var in []part
	var err error
	switch {
	case n.csv != nil:
		opts := n.csv.Opts
		opts.Columns, steps = pushDown(n.csv.names, steps)
		out := make([]part, len(idx))
		for k, i := range idx {
			if i < 0 || i >= len(n.csv.Parts) {
				return nil, fmt.Errorf("dataframe: partition %d of %d", i, len(n.csv.Parts))
			}
			if out[k], err = b.add(opPart, PartTask{CSV: &n.csv.Parts[i], Opts: opts, Steps: steps}); err != nil {
				return nil, err
			}
		}
		return out, nil
	case n.steps != nil:
		return b.subset(ctx, n.steps.input, idx, append(slices.Clone(n.steps.steps), steps...))
	case n.pick != nil:
		sub := make([]int, len(idx))
		for k, i := range idx {
			if i < 0 || i >= len(n.pick.idx) {
				return nil, fmt.Errorf("dataframe: partition %d of %d", i, len(n.pick.idx))
			}
			sub[k] = n.pick.idx[i]
		}
		return b.subset(ctx, n.pick.input, sub, steps)
	case n.sort != nil:
		in, err = b.sort(ctx, n.sort, idx)
	case n.repart != nil:
		in, err = b.repart(ctx, n.repart, idx)
	default:
		all, err := b.node(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			if i < 0 || i >= len(all) {
				return nil, fmt.Errorf("dataframe: partition %d of %d", i, len(all))
			}
			in = append(in, all[i])
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]part, len(in))
	for k, p := range in {
		if len(steps) == 0 {
			out[k], err = b.own(p)
		} else {
			out[k], err = b.add(opPart, PartTask{Input: 0, Steps: steps}, p)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sampleRows is how many rows of each input partition a sort samples.
func sampleRows(nout int) int64 { return int64(min(1000, max(100, 20*nout))) }

// sort builds output partitions idx (nil: all) of a range-partitioned sort.
func (b *builder) sort(ctx context.Context, s *sortNode, idx []int) ([]part, error) {
	in, err := b.node(ctx, s.input)
	if err != nil {
		return nil, err
	}
	var div part
	if s.bounds == nil {
		if div, err = b.divisions(in, s); err != nil {
			return nil, err
		}
	}
	splits := make([]part, len(in))
	for i, p := range in {
		args := []any{RangeSplitTask{By: s.by, Desc: s.desc, N: s.nout, Bounds: s.bounds}, p}
		if div != nil {
			args = append(args, div)
		}
		if splits[i], err = b.add(opRangeSplit, args...); err != nil {
			return nil, err
		}
	}
	if idx == nil {
		idx = make([]int, s.nout)
		for j := range idx {
			idx[j] = j
		}
	}
	out := make([]part, len(idx))
	for k, j := range idx {
		if j < 0 || j >= s.nout {
			return nil, fmt.Errorf("dataframe: partition %d of %d", j, s.nout)
		}
		args := []any{ConcatTask{Steps: []Step{{Op: "sort", Cols: s.by, Desc: s.desc}}}}
		for _, sp := range splits {
			p, err := b.add(opPick, j, sp)
			if err != nil {
				return nil, err
			}
			args = append(args, p)
		}
		if out[k], err = b.add(opConcat, args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// divisions adds the tasks that sample in and choose s.nout-1 split points.
func (b *builder) divisions(in []part, s *sortNode) (part, error) {
	args := []any{DivisionsTask{By: s.by, Desc: s.desc, N: s.nout}}
	for _, p := range in {
		sp, err := b.add(opPart, PartTask{Steps: []Step{{Op: "sample", Cols: s.by, N: sampleRows(s.nout)}}}, p)
		if err != nil {
			return nil, err
		}
		args = append(args, sp)
	}
	return b.add(opDivisions, args...)
}

// reduce builds the partial steps and the concat tree of r.
func (b *builder) reduce(ctx context.Context, r *reduceNode) ([]part, error) {
	level, err := b.fused(ctx, r.input, r.partial)
	if err != nil {
		return nil, err
	}
	if len(level) == 0 {
		return nil, fmt.Errorf("dataframe: no partitions to reduce")
	}
	every := r.every
	if every < 2 {
		every = len(level)
	}
	every = max(every, 2)
	for {
		final := len(level) <= every
		steps := r.combine
		if final {
			steps = r.final
		}
		var next []part
		for i := 0; i < len(level); i += every {
			args := []any{ConcatTask{Steps: steps}}
			args = append(args, level[i:min(i+every, len(level))]...)
			p, err := b.add(opConcat, args...)
			if err != nil {
				return nil, err
			}
			next = append(next, p)
		}
		if final {
			return next, nil
		}
		level = next
	}
}

// repart builds output partitions idx (nil: all) of a repartition.
func (b *builder) repart(ctx context.Context, r *repartNode, idx []int) ([]part, error) {
	in, err := b.node(ctx, r.input)
	if err != nil {
		return nil, err
	}
	m, n := len(in), r.n
	if idx == nil {
		idx = make([]int, n)
		for j := range idx {
			idx[j] = j
		}
	}
	out := make([]part, len(idx))
	for k, j := range idx {
		if j < 0 || j >= n {
			return nil, fmt.Errorf("dataframe: partition %d of %d", j, n)
		}
		if n <= m { // output j: inputs [j*m/n, (j+1)*m/n)
			lo, hi := j*m/n, (j+1)*m/n
			if hi-lo == 1 {
				out[k], err = b.own(in[lo])
			} else {
				args := append([]any{ConcatTask{}}, in[lo:hi]...)
				out[k], err = b.add(opConcat, args...)
			}
		} else { // input i gives outputs [i*n/m, (i+1)*n/m)
			i := 0
			for (i+1)*n/m <= j {
				i++
			}
			pieces := (i+1)*n/m - i*n/m
			if pieces == 1 {
				out[k], err = b.own(in[i])
			} else {
				var sp part
				if sp, err = b.add(opRowSplit, RowSplitTask{N: pieces}, in[i]); err == nil {
					out[k], err = b.add(opPick, j-i*n/m, sp)
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stepNeeds: the columns needed before step s, given those needed after
// it (nil: every column), for the steps of this file.
func stepNeeds(s Step, need map[string]bool) map[string]bool {
	switch s.Op {
	case "head", "drop":
		return need
	case "sort", "nlargest", "nsmallest", "dropna":
		if need != nil {
			for _, c := range s.Cols {
				need[c] = true
			}
		}
		return need
	case "sample", "unique":
		out := map[string]bool{}
		for _, c := range s.Cols {
			out[c] = true
		}
		return out
	}
	return nil // map, memusage, unknown: every column
}

// ---- running ----

// decodeAll decodes partition values (the caller releases them).
func decodeAll(inputs []futures.RawBytes) ([]arrow.RecordBatch, error) {
	recs := make([]arrow.RecordBatch, 0, len(inputs))
	for _, in := range inputs {
		r, err := decodePart(in)
		if err != nil {
			releaseRecs(recs)
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func releaseRecs(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// runConcat concatenates partitions and runs steps on the result.
func runConcat(ctx context.Context, t ConcatTask, inputs ...futures.RawBytes) (futures.Encoded, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("dataframe.concat: no inputs")
	}
	recs, err := decodeAll(inputs)
	if err != nil {
		return nil, err
	}
	defer releaseRecs(recs)
	rec, err := kernels.Concat(mem, recs)
	if err != nil {
		return nil, fmt.Errorf("dataframe.concat: %w", err)
	}
	defer func() { rec.Release() }()
	for _, s := range t.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := applyStep(ctx, rec, s)
		if err != nil {
			return nil, err
		}
		rec.Release()
		rec = next
	}
	return encodeValue(rec)
}

// runDivisions sorts the samples and takes t.N-1 evenly spaced rows.
func runDivisions(ctx context.Context, t DivisionsTask, inputs ...futures.RawBytes) (futures.Encoded, error) {
	if len(inputs) == 0 || t.N <= 0 {
		return nil, fmt.Errorf("dataframe.divisions: %d samples for %d partitions", len(inputs), t.N)
	}
	recs, err := decodeAll(inputs)
	if err != nil {
		return nil, err
	}
	defer releaseRecs(recs)
	all, err := kernels.Concat(mem, recs)
	if err != nil {
		return nil, fmt.Errorf("dataframe.divisions: %w", err)
	}
	defer all.Release()
	sorted, err := kernels.Sort(mem, all, t.By, t.Desc, true)
	if err != nil {
		return nil, err
	}
	defer sorted.Release()
	rows := int(sorted.NumRows())
	var idx []int32
	if rows > 0 {
		for j := 1; j < t.N; j++ {
			idx = append(idx, int32(rows*j/t.N))
		}
	}
	bounds, err := kernels.Take(mem, sorted, idx)
	if err != nil {
		return nil, err
	}
	defer bounds.Release()
	return encodeValue(bounds)
}

// runRangeSplit splits a partition by the split points (a split value, as
// runSplit's).
func runRangeSplit(ctx context.Context, t RangeSplitTask, inputs ...futures.RawBytes) (futures.Encoded, error) {
	var bytes []byte
	switch {
	case len(inputs) == 2:
		bytes = inputs[1]
	case len(inputs) == 1 && t.Bounds != nil:
		bytes = t.Bounds
	default:
		return nil, fmt.Errorf("dataframe.rangesplit: %d inputs and no bounds", len(inputs))
	}
	rec, err := decodePart(inputs[0])
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	bounds, err := decodePart(bytes)
	if err != nil {
		return nil, err
	}
	defer bounds.Release()
	parts, err := kernels.RangePartition(mem, rec, t.By, t.Desc, bounds, t.N)
	if err != nil {
		return nil, err
	}
	defer releaseRecs(parts)
	return encodeBuckets(parts)
}

func encodeBuckets(parts []arrow.RecordBatch) (futures.Encoded, error) {
	return encodeSplit(parts)
}

// runRowSplit splits a partition into t.N row ranges, in order.
func runRowSplit(ctx context.Context, t RowSplitTask, input futures.RawBytes) (futures.Encoded, error) {
	if t.N <= 0 {
		return nil, fmt.Errorf("dataframe.rowsplit: %d parts", t.N)
	}
	rec, err := decodePart(input)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	rows := rec.NumRows()
	parts := make([]arrow.RecordBatch, t.N)
	for i := range parts {
		parts[i] = kernels.Slice(rec, rows*int64(i)/int64(t.N), rows*int64(i+1)/int64(t.N))
	}
	defer releaseRecs(parts)
	return encodeBuckets(parts)
}

// applyOpsStep runs the per-partition steps of this file.
func applyOpsStep(ctx context.Context, rec arrow.RecordBatch, s Step) (arrow.RecordBatch, error) {
	switch s.Op {
	case "sort":
		return kernels.Sort(mem, rec, s.Cols, s.Desc, true)
	case "nlargest":
		return kernels.NLargest(mem, rec, int(s.N), s.Cols)
	case "nsmallest":
		return kernels.NSmallest(mem, rec, int(s.N), s.Cols)
	case "sample":
		keys, err := selectColumns(rec, s.Cols)
		if err != nil {
			return nil, err
		}
		defer keys.Release()
		rows := keys.NumRows()
		n := min(rows, s.N)
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(int64(i) * rows / n)
		}
		return kernels.Take(mem, keys, idx)
	case "unique":
		col, err := selectColumns(rec, s.Cols[:1])
		if err != nil {
			return nil, err
		}
		defer col.Release()
		u, err := kernels.Unique(mem, col.Column(0))
		if err != nil {
			return nil, err
		}
		defer u.Release()
		return array.NewRecordBatch(col.Schema(), []arrow.Array{u}, int64(u.Len())), nil
	case "dropna":
		return dropNA(rec, s.Cols)
	case "memusage":
		return memoryUsage(rec, s.N != 0)
	case "sumrows":
		return sumRows(rec)
	case "describe":
		return describe(rec)
	case "map":
		return runPartitionFunc(ctx, rec, s.Name, s.Args)
	case opGroupNLargest, opGroupNSmallest:
		return applyTopNStep(rec, s) // topn.go
	}
	return nil, fmt.Errorf("dataframe: unknown step %q", s.Op)
}

// dropNA keeps the rows where none of cols is NA.
func dropNA(rec arrow.RecordBatch, cols []string) (arrow.RecordBatch, error) {
	sel, err := selectColumns(rec, cols)
	if err != nil {
		return nil, err
	}
	defer sel.Release()
	idx := make([]int32, 0, rec.NumRows())
	for i := range int(rec.NumRows()) {
		ok := true
		for _, c := range sel.Columns() {
			if c.IsNull(i) {
				ok = false
				break
			}
		}
		if ok {
			idx = append(idx, int32(i))
		}
	}
	return kernels.Take(mem, rec, idx)
}

// memoryUsage is one row: the bytes of each column's buffers (without
// deep, a string column's character data is left out, like pandas leaves
// out the objects it points to).
func memoryUsage(rec arrow.RecordBatch, deep bool) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, rec.NumCols())
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		fields[i] = arrow.Field{Name: rec.Schema().Field(i).Name, Type: arrow.PrimitiveTypes.Int64}
		b := array.NewInt64Builder(mem)
		b.Append(dataBytes(c.Data(), deep))
		cols[i] = b.NewArray()
		b.Release()
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 1), nil
}

func dataBytes(d arrow.ArrayData, deep bool) int64 {
	var n int64
	variable := false
	switch d.DataType().ID() {
	case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
		variable = true
	}
	for i, b := range d.Buffers() {
		if b == nil || (variable && i == 2 && !deep) {
			continue
		}
		n += int64(b.Len())
	}
	for _, c := range d.Children() {
		n += dataBytes(c, deep)
	}
	if dict := d.Dictionary(); dict != nil && dict.(*array.Data) != nil {
		n += dataBytes(dict, deep)
	}
	return n
}

// sumRows sums each int64 column into one row.
func sumRows(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		ints, ok := c.(*array.Int64)
		if !ok {
			return nil, fmt.Errorf("dataframe: sumrows: column %q is %s, want int64", rec.Schema().Field(i).Name, c.DataType())
		}
		var s int64
		for _, v := range ints.Int64Values() {
			s += v
		}
		b := array.NewInt64Builder(mem)
		b.Append(s)
		cols[i] = b.NewArray()
		b.Release()
	}
	return array.NewRecordBatch(rec.Schema(), cols, 1), nil
}

// describeStats are the rows of Describe.
var describeStats = []string{"count", "mean", "std", "min", "25%", "50%", "75%", "max"}

// describe summarizes every (numeric) column of rec: a "stat" column, then
// one float64 column per input column; NA where a statistic is undefined.
func describe(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	fields := []arrow.Field{{Name: "stat", Type: arrow.BinaryTypes.String}}
	sb := array.NewStringBuilder(mem)
	defer sb.Release()
	sb.AppendValues(describeStats, nil)
	cols := []arrow.Array{sb.NewArray()}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, c := range rec.Columns() {
		vals, err := floatValues(c)
		if err != nil {
			return nil, fmt.Errorf("describe: column %q: %w", rec.Schema().Field(i).Name, err)
		}
		stats := describeValues(vals)
		b := array.NewFloat64Builder(mem)
		for _, v := range stats {
			if math.IsNaN(v) {
				b.AppendNull()
			} else {
				b.Append(v)
			}
		}
		cols = append(cols, b.NewArray())
		b.Release()
		fields = append(fields, arrow.Field{Name: rec.Schema().Field(i).Name, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(describeStats))), nil
}

// describeValues: count, mean, std (ddof 1), min, quartiles (linear
// interpolation, as pandas), max; NaN when undefined. Sorts vals.
func describeValues(vals []float64) []float64 {
	n := float64(len(vals))
	nan := math.NaN()
	if len(vals) == 0 {
		return []float64{0, nan, nan, nan, nan, nan, nan, nan}
	}
	slices.Sort(vals)
	var sum float64
	for _, v := range vals {
		sum += v
	}
	mean := sum / n
	var m2 float64
	for _, v := range vals {
		m2 += (v - mean) * (v - mean)
	}
	std := nan
	if len(vals) > 1 {
		std = math.Sqrt(m2 / (n - 1))
	}
	q := func(p float64) float64 {
		pos := p * (n - 1)
		lo := math.Floor(pos)
		hi := math.Min(lo+1, n-1)
		return vals[int(lo)] + (pos-lo)*(vals[int(hi)]-vals[int(lo)])
	}
	return []float64{n, mean, std, vals[0], q(0.25), q(0.5), q(0.75), vals[len(vals)-1]}
}

// floatValues are the non-NA values of a numeric column as float64.
func floatValues(c arrow.Array) ([]float64, error) {
	out := make([]float64, 0, c.Len()-c.NullN())
	var at func(i int) float64
	switch a := c.(type) {
	case *array.Int64:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Int32:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Int16:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Int8:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Uint64:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Uint32:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Uint16:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Uint8:
		at = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Float64:
		at = func(i int) float64 { return a.Value(i) }
	case *array.Float32:
		at = func(i int) float64 { return float64(a.Value(i)) }
	default:
		return nil, fmt.Errorf("type %s is not numeric", c.DataType())
	}
	for i := range c.Len() {
		if !c.IsNull(i) {
			if v := at(i); !math.IsNaN(v) { // NaN is NA, as in pandas
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// isNumeric: the column types Describe summarizes.
func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}
