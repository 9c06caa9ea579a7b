package dataframe

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// FromOption configures FromRecords and FromArrow.
type FromOption func(*fromOpts)

type fromOpts struct {
	rows int64
}

// RowsPerPartition cuts the data into partitions of n rows (the last one
// shorter), across record batch or chunk boundaries.
func RowsPerPartition(n int64) FromOption { return func(o *fromOpts) { o.rows = n } }

// FromRecords scatters in-memory record batches into the mesh and returns
// a persisted DataFrame over them (like Persist's result: Release drops
// the partitions). Each batch is a partition unless RowsPerPartition is
// given. All batches must have the same schema; columns are widened as by
// ReadParquet (int32 to int64, float32 to float64, ...). The batches are
// not released, and may be released once FromRecords returns. Scattered
// partitions have no lineage: the mesh keeps two copies of each.
//
//	d, err := dataframe.FromRecords(ctx, c, []arrow.RecordBatch{rec}, dataframe.RowsPerPartition(100_000))
//	defer d.Release(ctx, c)
func FromRecords(ctx context.Context, c *futures.Client, recs []arrow.RecordBatch, opts ...FromOption) (*DataFrame, error) {
	var o fromOpts
	for _, opt := range opts {
		opt(&o)
	}
	if o.rows < 0 {
		return nil, fmt.Errorf("from records: RowsPerPartition(%d): give a positive number of rows", o.rows)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("from records: no record batches (give at least one, with 0 rows if need be, for the schema)")
	}
	sc := recs[0].Schema()
	for i, r := range recs[1:] {
		if !r.Schema().Equal(sc) {
			return nil, fmt.Errorf("from records: batch %d has schema %s, batch 0 has %s: all batches must have the same schema",
				i+1, describeSchema(r.Schema()), describeSchema(sc))
		}
	}
	parts := recs
	if o.rows > 0 {
		var err error
		if parts, err = recut(recs, o.rows); err != nil {
			return nil, fmt.Errorf("from records: %w", err)
		}
		defer func() {
			for _, p := range parts {
				p.Release()
			}
		}()
	}
	fs := make([]*futures.Future, 0, len(parts))
	fail := func(err error) (*DataFrame, error) {
		if len(fs) > 0 {
			c.Release(context.WithoutCancel(ctx), fs...)
		}
		return nil, err
	}
	for i, p := range parts {
		w, err := widen(p)
		if err != nil {
			return fail(fmt.Errorf("from records: partition %d: %w", i, err))
		}
		v, err := encodeValue(w)
		w.Release()
		if err != nil {
			return fail(fmt.Errorf("from records: partition %d: %w", i, err))
		}
		// One scatter per partition: successive scatters go round the
		// members, so the partitions are spread over the mesh.
		f, err := c.Scatter(ctx, []any{msgpack.RawMessage(v)})
		if err != nil {
			return fail(fmt.Errorf("from records: partition %d: %w", i, err))
		}
		fs = append(fs, f...)
	}
	cols := columnNames(readSchema(sc))
	return &DataFrame{plan: &node{persisted: &persisted{parts: fs}}, columns: cols, nparts: len(fs), held: fs}, nil
}

// FromArrow is FromRecords for a table: partitions of RowsPerPartition
// rows (default 1<<20).
func FromArrow(ctx context.Context, c *futures.Client, tbl arrow.Table, opts ...FromOption) (*DataFrame, error) {
	o := fromOpts{rows: 1 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	if o.rows <= 0 {
		return nil, fmt.Errorf("from arrow: RowsPerPartition(%d): give a positive number of rows", o.rows)
	}
	tr := array.NewTableReader(tbl, o.rows)
	defer tr.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for tr.Next() {
		r := tr.RecordBatch()
		r.Retain()
		recs = append(recs, r)
	}
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("from arrow: %w", err)
	}
	if len(recs) == 0 {
		recs = append(recs, emptyRecord(tbl.Schema()))
	}
	return FromRecords(ctx, c, recs, RowsPerPartition(o.rows))
}

// recut cuts recs into batches of n rows: slices of one batch where they
// fit in it (no copy), concatenations where they straddle two.
func recut(recs []arrow.RecordBatch, n int64) ([]arrow.RecordBatch, error) {
	var out, pending []arrow.RecordBatch
	var have int64
	release := func(rs []arrow.RecordBatch) {
		for _, r := range rs {
			r.Release()
		}
	}
	flush := func() error {
		defer func() { release(pending); pending, have = nil, 0 }()
		if len(pending) == 1 {
			pending[0].Retain()
			out = append(out, pending[0])
			return nil
		}
		r, err := kernels.Concat(mem, pending)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}
	for _, r := range recs {
		for off := int64(0); off < r.NumRows(); {
			take := min(n-have, r.NumRows()-off)
			pending = append(pending, r.NewSlice(off, off+take))
			have += take
			off += take
			if have == n {
				if err := flush(); err != nil {
					release(out)
					return nil, err
				}
			}
		}
	}
	if have > 0 || len(out) == 0 {
		if len(pending) == 0 {
			pending = append(pending, recs[0].NewSlice(0, 0))
		}
		if err := flush(); err != nil {
			release(out)
			return nil, err
		}
	}
	return out, nil
}

// EncodePartition encodes rec as a DataFrame partition value, for a
// registered task function that makes a DataFrame's partitions on the
// workers (bag.ToDataFrame's conversion task does): the task returns it,
// and FromPartitions wraps the tasks' futures. Columns are widened as by
// FromRecords. rec is not released.
func EncodePartition(rec arrow.RecordBatch) (futures.Encoded, error) {
	w, err := widen(rec)
	if err != nil {
		return nil, fmt.Errorf("encode partition: %w", err)
	}
	defer w.Release()
	return encodeValue(w)
}

// FromPartitions is a persisted DataFrame over partitions already in the
// mesh: futures whose values EncodePartition made, each a record batch of
// schema (as widened), in order. Nothing passes through the client. It
// takes the futures over: the DataFrame's Release drops them. It does not
// wait for them: a partition that failed fails the computations reading
// it, and one of another schema is an error there too.
//
//	fs, err := c.Compute(ctx, g, refs...) // tasks returning EncodePartition's value
//	d, err := dataframe.FromPartitions(fs, schema)
//	defer d.Release(ctx, c)
func FromPartitions(parts []*futures.Future, schema *arrow.Schema) (*DataFrame, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("from partitions: no partitions (give at least one, with 0 rows if need be)")
	}
	if schema == nil {
		return nil, fmt.Errorf("from partitions: no schema: give the partitions' schema")
	}
	for i, f := range parts {
		if f == nil {
			return nil, fmt.Errorf("from partitions: partition %d is a nil future", i)
		}
	}
	sc := readSchema(schema)
	types := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		types[i] = typeName(f.Type)
	}
	fs := slices.Clone(parts)
	return &DataFrame{plan: &node{persisted: &persisted{parts: fs}}, columns: columnNames(sc), types: types, nparts: len(fs), held: fs}, nil
}

// typeName is the plan's name of a column type ("" for a type plans do
// not check).
func typeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT64:
		return "int64"
	case arrow.FLOAT64:
		return "float64"
	case arrow.BOOL:
		return "bool"
	case arrow.STRING:
		return "string"
	case arrow.TIMESTAMP:
		return "timestamp"
	}
	return ""
}
