package dataframe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/collections/dataframe/expr"
	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// The built-in operations every mesh binary has (package cmd imports this
// package): a worker runs a DataFrame's tasks with them. Partitions travel
// as Arrow IPC files, read back without a copy (partcodec.go).
const (
	opPart  = "dataframe.part"
	opAgg   = "dataframe.agg"
	opSplit = "dataframe.split"
	opPick  = "dataframe.pick"
	opJoin  = "dataframe.join"
)

func init() {
	futures.Register(opPart, runPart)
	futures.Register(opAgg, runAgg)
	futures.Register(opSplit, runSplit)
	futures.Register(opPick, runPick)
	registerOps() // planops.go: sort, reductions, repartition, map
	futures.Register(opParquet, runParquet)
	futures.Register(opWrite, runWrite)
	futures.Register(opJoin, runJoin)
}

var mem = memory.DefaultAllocator

// runPart reads or decodes one partition and applies its steps.
func runPart(ctx context.Context, t PartTask, inputs ...futures.RawBytes) (futures.Encoded, error) {
	var rec arrow.RecordBatch
	var err error
	switch {
	case t.CSV != nil:
		rec, err = readCSVPart(ctx, *t.CSV, t.Opts)
	case t.Input < len(inputs):
		rec, err = decodePartDict(inputs[t.Input])
	default:
		return nil, fmt.Errorf("dataframe.part: input %d of %d", t.Input, len(inputs))
	}
	if err != nil {
		return nil, err
	}
	return applySteps(ctx, rec, t.Steps, t.Split)
}

// applySteps runs steps on rec (which it releases) and encodes the result,
// split by split when it is not nil. Dictionary-encoded columns (CSV's
// Dictionary option) are decoded before the first step that does not take
// them (dictSteps) and before a split; a result without steps keeps them (a
// persisted partition).
func applySteps(ctx context.Context, rec arrow.RecordBatch, steps []Step, split *SplitTask) (futures.Encoded, error) {
	defer func() { rec.Release() }()
	decode := func() error {
		plain, err := kernels.DecodeDictionaries(mem, rec)
		if err != nil {
			return err
		}
		rec.Release()
		rec = plain
		return nil
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !dictSteps[s.Op] {
			if err := decode(); err != nil {
				return nil, err
			}
		}
		next, err := applyStep(ctx, rec, s)
		if err != nil {
			return nil, err
		}
		rec.Release()
		rec = next
	}
	// A group-by's partial states keep dictionary keys through the split:
	// they travel as indices and runAgg combines them (unifying the
	// dictionaries); any other split is decoded first.
	if split != nil {
		if len(steps) == 0 || steps[len(steps)-1].Op != "groupby-partial" {
			if err := decode(); err != nil {
				return nil, err
			}
		}
		return splitRecord(rec, *split)
	}
	return encodeValue(rec)
}

// dictSteps are the steps that take dictionary-encoded columns as they are
// (a group-by indexes their codes; its output is plain).
var dictSteps = map[string]bool{"select": true, "drop": true, "rename": true, "groupby-partial": true, "memusage": true, "len": true}

func readCSVPart(ctx context.Context, p CSVPart, opts kernels.CSVOptions) (arrow.RecordBatch, error) {
	f, err := storage.Open(ctx, p.Path)
	if err != nil {
		return nil, fmt.Errorf("read csv: %w (every node reads its partitions itself: %s)", err, everyNode(p.Path))
	}
	defer f.Close()
	var r io.ReaderAt = f
	if f.File() == nil && p.Start == 0 && p.End >= p.Size && isGzip(f) {
		// An object's gzip file is read whole: one request, not one per
		// read-ahead block of the decompressor.
		rc, err := f.NewRangeReader(ctx, 0, -1)
		if err != nil {
			return nil, fmt.Errorf("read csv: %w", err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read csv %s: %w", storage.Key(p.Path), err)
		}
		r = bytes.NewReader(b)
	}
	rec, err := kernels.ReadCSVRange(mem, r, p.Size, p.Start, p.End, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", storage.Key(p.Path), err)
	}
	return rec, nil
}

// everyNode says where a worker's input must be found.
func everyNode(loc string) string {
	if storage.IsRemote(loc) {
		return "the URL must be reachable, with credentials, from every node"
	}
	return "the path must exist on every node"
}

// applyStep returns a new record (the caller releases rec).
func applyStep(ctx context.Context, rec arrow.RecordBatch, s Step) (arrow.RecordBatch, error) {
	switch s.Op {
	case "select":
		return selectColumns(rec, s.Cols)
	case "drop":
		var keep []string
		for _, f := range rec.Schema().Fields() {
			if !slices.Contains(s.Cols, f.Name) {
				keep = append(keep, f.Name)
			}
		}
		return selectColumns(rec, keep)
	case "rename":
		fields := rec.Schema().Fields()
		for i := 0; i+1 < len(s.Cols); i += 2 {
			for j := range fields {
				if fields[j].Name == s.Cols[i] {
					fields[j].Name = s.Cols[i+1]
				}
			}
		}
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), rec.Columns(), rec.NumRows()), nil
	case "filter":
		return expr.Filter(mem, rec, *s.Expr)
	case "with":
		names := columnNames(rec.Schema())
		exprs := make([]expr.Expr, 0, len(names)+1)
		replaced := false
		for i, n := range names {
			if n == s.Name {
				exprs = append(exprs, *s.Expr)
				replaced = true
				continue
			}
			exprs = append(exprs, expr.Col(names[i]))
		}
		if !replaced {
			names = append(names, s.Name)
			exprs = append(exprs, *s.Expr)
		}
		return expr.Project(mem, rec, names, exprs)
	case "groupby-partial": // always combined (graph.go's tree) before the final step
		return kernels.GroupByPartialAdaptive(mem, rec, s.Keys, s.Aggs)
	case "head":
		return kernels.Head(rec, s.N), nil
	case "len":
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Append(rec.NumRows())
		col := b.NewArray()
		defer col.Release()
		return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "rows", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 1), nil
	}
	return applyOpsStep(ctx, rec, s) // planops.go
}

// selectColumns returns rec's columns named cols, in that order.
func selectColumns(rec arrow.RecordBatch, cols []string) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		idx := rec.Schema().FieldIndices(c)
		if len(idx) == 0 {
			return nil, fmt.Errorf("dataframe: no column %q (columns: %v)", c, columnNames(rec.Schema()))
		}
		fields[i], arrs[i] = rec.Schema().Field(idx[0]), rec.Column(idx[0])
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, rec.NumRows()), nil
}

func columnNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// runAgg merges partial group-by states, and finalizes them when asked.
func runAgg(ctx context.Context, t AggTask, inputs ...futures.RawBytes) (futures.Encoded, error) {
	recs := make([]arrow.RecordBatch, 0, len(inputs))
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, in := range inputs {
		r, err := decodePartDict(in) // dictionary keys of partials: GroupByCombine takes them
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	states, err := kernels.GroupByCombine(mem, recs, t.Keys, t.Aggs)
	if err != nil {
		return nil, err
	}
	defer states.Release()
	if !t.Final {
		return encodeValue(states)
	}
	out, err := kernels.GroupByFinal(mem, states, t.Keys, t.Aggs)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return encodeValue(out)
}

// runJoin joins the left partitions (the first t.Left inputs) with the
// right ones (the rest), each side concatenated, and runs t.Steps.
func runJoin(ctx context.Context, t JoinTask, inputs ...futures.RawBytes) (futures.Encoded, error) {
	if t.Left < 1 || t.Left >= len(inputs) {
		return nil, fmt.Errorf("dataframe.join: %d left inputs of %d", t.Left, len(inputs))
	}
	left, err := decodeConcat(inputs[:t.Left])
	if err != nil {
		return nil, err
	}
	defer left.Release()
	right, err := decodeConcat(inputs[t.Left:])
	if err != nil {
		return nil, err
	}
	defer right.Release()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, err := kernels.HashJoinColumns(mem, left, right, t.LeftOn, t.RightOn, t.How, t.Columns)
	if err != nil {
		return nil, err
	}
	return applySteps(ctx, rec, t.Steps, nil)
}

// decodeConcat decodes partition values into one record.
func decodeConcat(inputs []futures.RawBytes) (arrow.RecordBatch, error) {
	recs := make([]arrow.RecordBatch, 0, len(inputs))
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, in := range inputs {
		r, err := decodePart(in)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return kernels.Concat(mem, recs)
}

// runSplit hash-partitions a partition for a shuffle: one value holding
// every bucket.
func runSplit(ctx context.Context, t SplitTask, input futures.RawBytes) (futures.Encoded, error) {
	rec, err := decodePart(input)
	if err != nil {
		return nil, err
	}
	defer func() { rec.Release() }()
	if t.Cols != nil {
		sel, err := selectColumns(rec, t.Cols)
		if err != nil {
			return nil, err
		}
		rec.Release()
		rec = sel
	}
	return splitRecord(rec, t)
}

// splitRecord hash-partitions rec into one split value.
func splitRecord(rec arrow.RecordBatch, t SplitTask) (futures.Encoded, error) {
	parts, err := kernels.HashPartition(mem, rec, t.Keys, t.N)
	if err != nil {
		return nil, err
	}
	defer releaseRecs(parts)
	return encodeSplit(parts)
}

// runPick takes one bucket of a split (on the split's node: only the bucket
// travels on). The bucket is a whole partition value inside the split's
// bytes; it is copied (once, keeping its IPC file 8-byte aligned) so that
// the split's memory is freed as soon as its picks have run, not when the
// last consumer of any of its buckets is done.
func runPick(i int, split futures.RawBytes) (futures.Encoded, error) {
	b, err := splitBucket(split, i)
	if err != nil {
		return nil, err
	}
	return copyAligned(b), nil
}
