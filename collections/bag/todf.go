package bag

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/collections/internal/anyval"
	"github.com/meshcompute/mesh/futures"
)

// toDFFunc converts one bag partition into a DataFrame partition (an Arrow
// record batch, as dataframe.EncodePartition stores it), on the worker
// that computes the bag partition.
const toDFFunc = "bag.todataframe"

func init() { futures.Register(toDFFunc, runToDF) }

// Field is a column of ToDataFrame's schema: Name, and Type one of
// "int64", "float64", "string", "bool".
type Field struct {
	Name string
	Type string
}

// toDFTask is the argument of bag.todataframe: the schema, and the
// partition's index for errors.
type toDFTask struct {
	_msgpack struct{} `msgpack:",as_array"`
	Fields   []Field
	Part     int
}

// ToDataFrame turns the bag, whose elements are records (maps with string
// keys, read by Name) or tuples (slices, read by position), into a
// DataFrame of the schema's columns, one partition per bag partition (an
// empty one has 0 rows), as Dask's to_dataframe: each partition is
// converted to an Arrow record batch by a task on the worker that computes
// it (fused with the bag's own steps), so no element passes through the
// client. It waits for the conversion and returns a persisted DataFrame
// (as Persist's: Release drops the partitions, which keep their lineage).
//
// A missing key, a short tuple or a nil value is a null. A value of
// another type is an error naming the partition, the element and the
// field; integral floats become int64, integers float64, and a value
// becomes a string only if it is one (convert others with a Map first).
func (b *Bag) ToDataFrame(ctx context.Context, c *futures.Client, schema []Field) (*dataframe.DataFrame, error) {
	sc, err := arrowSchema(schema)
	if err != nil {
		return nil, err
	}
	g, outs, err := b.dataFrameGraph(schema)
	if err != nil {
		return nil, err
	}
	fs, err := submit(ctx, c, g, outs)
	if err != nil {
		return nil, fmt.Errorf("bag ToDataFrame: %w", err)
	}
	fail := func(err error) (*dataframe.DataFrame, error) {
		c.Release(context.WithoutCancel(ctx), fs...)
		return nil, fmt.Errorf("bag ToDataFrame: %w", err)
	}
	if _, _, err := c.Wait(ctx, fs, futures.AllCompleted); err != nil {
		return fail(err)
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			return fail(err)
		}
	}
	df, err := dataframe.FromPartitions(fs, sc)
	if err != nil {
		return fail(err)
	}
	return df, nil
}

// dataFrameGraph is the bag's graph with a conversion task after each
// partition, and the refs of those tasks (not optimized).
func (b *Bag) dataFrameGraph(schema []Field) (*futures.Graph, []futures.Ref, error) {
	g, refs, err := b.Graph()
	if err != nil {
		return nil, nil, err
	}
	outs := make([]futures.Ref, len(refs))
	for i, r := range refs {
		if outs[i], err = g.Add(toDFFunc, toDFTask{Fields: schema, Part: i}, r); err != nil {
			return nil, nil, fmt.Errorf("bag ToDataFrame: %w", err)
		}
	}
	return g, outs, nil
}

// arrowSchema is the Arrow schema of ToDataFrame's fields (all nullable).
func arrowSchema(schema []Field) (*arrow.Schema, error) {
	if len(schema) == 0 {
		return nil, fmt.Errorf("%w: ToDataFrame: an empty schema: give at least one Field", ErrInvalid)
	}
	fields := make([]arrow.Field, len(schema))
	for i, f := range schema {
		var t arrow.DataType
		switch f.Type {
		case "int64":
			t = arrow.PrimitiveTypes.Int64
		case "float64":
			t = arrow.PrimitiveTypes.Float64
		case "string":
			t = arrow.BinaryTypes.String
		case "bool":
			t = arrow.FixedWidthTypes.Boolean
		default:
			return nil, fmt.Errorf("%w: ToDataFrame: field %q has type %q; use int64, float64, string or bool", ErrInvalid, f.Name, f.Type)
		}
		fields[i] = arrow.Field{Name: f.Name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// runToDF converts a bag partition (its elements' encodings) into a
// DataFrame partition value.
func runToDF(ctx context.Context, t toDFTask, part futures.RawBytes) (futures.Encoded, error) {
	sc, err := arrowSchema(t.Fields)
	if err != nil {
		return nil, err
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer bld.Release()
	err = elements(part, func(i int, e []byte) error {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var v any
		if err := decode(e, &v); err != nil {
			return fmt.Errorf("bag ToDataFrame: partition %d, element %d: %w", t.Part, i, err)
		}
		if err := appendRow(bld, t.Fields, v); err != nil {
			return fmt.Errorf("bag ToDataFrame: partition %d, element %d: %w", t.Part, i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	return dataframe.EncodePartition(rec)
}

// appendRow appends the element v as one row of bld.
func appendRow(bld *array.RecordBuilder, schema []Field, v any) error {
	switch x := v.(type) {
	case map[string]any:
		for fi, f := range schema {
			if err := appendField(bld.Field(fi), f, x[f.Name]); err != nil {
				return err
			}
		}
	case []any:
		for fi, f := range schema {
			var fv any
			if fi < len(x) {
				fv = x[fi]
			}
			if err := appendField(bld.Field(fi), f, fv); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("a %T (%s), not a record: ToDataFrame needs maps with string keys (records) or slices (tuples); Map the elements into records first", v, short(v))
	}
	return nil
}

func appendField(b array.Builder, f Field, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch f.Type {
	case "int64":
		if i, ok := anyval.Int(v); ok {
			b.(*array.Int64Builder).Append(i)
			return nil
		}
		if x, ok := anyval.Float(v); ok && x == float64(int64(x)) {
			b.(*array.Int64Builder).Append(int64(x))
			return nil
		}
	case "float64":
		if x, ok := anyval.Float(v); ok {
			b.(*array.Float64Builder).Append(x)
			return nil
		}
	case "string":
		if s, ok := v.(string); ok {
			b.(*array.StringBuilder).Append(s)
			return nil
		}
	case "bool":
		if t, ok := v.(bool); ok {
			b.(*array.BooleanBuilder).Append(t)
			return nil
		}
	}
	return fmt.Errorf("field %q: %T %s is not a %s: declare the field with the data's type, or convert the values with a Map before ToDataFrame", f.Name, v, short(v), f.Type)
}

// short renders v for an error message, cut at 60 characters.
func short(v any) string {
	s := fmt.Sprint(v)
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%.60q", s)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
