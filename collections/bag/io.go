package bag

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/futures"
)

// WriteResult is what ToText wrote for one partition.
type WriteResult struct {
	Path  string `msgpack:"path"`
	Lines int64  `msgpack:"lines"`
	Bytes int64  `msgpack:"bytes"`
}

// ToText writes partition i to the file named by pattern with its one "*"
// replaced by i (zero-padded to 5 digits), one element per line: strings
// as they are, other values as JSON. A name ending in ".gz" is written
// gzip-compressed. The directory is created if need be; existing files are
// replaced (each is written to a temporary file renamed into place). The
// workers write the files, so the directory must be on a disk every node
// sees.
//
//	res, err := counts.ToText(ctx, c, "out/part-*.jsonl")
func (b *Bag) ToText(ctx context.Context, c *futures.Client, pattern string) ([]WriteResult, error) {
	if strings.Count(pattern, "*") != 1 {
		return nil, fmt.Errorf("%w: ToText(%q): the pattern needs exactly one * (replaced by the partition number)", ErrInvalid, pattern)
	}
	abs, err := filepath.Abs(pattern)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("to text: %w", err)
	}
	g, refs, err := b.Graph()
	if err != nil {
		return nil, err
	}
	var job [8]byte
	rand.Read(job[:])
	outs := make([]futures.Ref, len(refs))
	for i, r := range refs {
		// The pattern's *, not one the working directory may hold.
		path, err := filepath.Abs(strings.Replace(pattern, "*", fmt.Sprintf("%05d", i), 1))
		if err != nil {
			return nil, err
		}
		// Pure(false): writing again is a new task, never a held answer.
		if outs[i], err = g.Add(writeFunc, path, hex.EncodeToString(job[:]), r, futures.Pure(false)); err != nil {
			return nil, err
		}
	}
	fs, err := submit(ctx, c, g, outs)
	if err != nil {
		return nil, err
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	return futures.GatherAs[WriteResult](ctx, c, fs)
}

func runWrite(path, job string, part futures.RawBytes) (res WriteResult, err error) {
	res.Path = path
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"."+job+".*")
	if err != nil {
		return res, fmt.Errorf("to text: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	counted := &countingWriter{w: tmp}
	var out io.Writer = counted
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(counted)
		out = zw
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	err = elements(part, func(i int, e []byte) error {
		if s, ok := strPayload(e); ok && e[0] != 0xc4 && e[0] != 0xc5 && e[0] != 0xc6 {
			bw.Write(s)
		} else {
			var v any
			if err := msgpack.Unmarshal(e, &v); err != nil {
				return err
			}
			j, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("element %d (%T) as JSON: %w", i, v, err)
			}
			bw.Write(j)
		}
		res.Lines++
		return bw.WriteByte('\n')
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return res, fmt.Errorf("to text %s: %w", path, err)
	}
	res.Bytes = counted.n
	return res, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Field is a column of ToDataFrame's schema: Name, and Type one of
// "int64", "float64", "string", "bool".
type Field struct {
	Name string
	Type string
}

// ToDataFrame computes the bag, whose elements are records (maps with
// string keys, read by Name) or tuples (slices, read by position), and
// returns a persisted DataFrame of the schema's columns, one partition per
// non-empty bag partition. A missing key or a nil value is a null; a value
// of another type is an error naming the element and field (integral
// floats become int64, integers float64, anything becomes a string only if
// it is one). The partitions pass through the client (gathered, converted
// to Arrow, scattered back with dataframe.FromRecords). Release the
// DataFrame when done.
func (b *Bag) ToDataFrame(ctx context.Context, c *futures.Client, schema []Field) (*dataframe.DataFrame, error) {
	if len(schema) == 0 {
		return nil, fmt.Errorf("%w: ToDataFrame: an empty schema", ErrInvalid)
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
	sc := arrow.NewSchema(fields, nil)
	parts, err := b.computeParts(ctx, c, -1)
	if err != nil {
		return nil, err
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for pi, p := range parts {
		var items []any
		if err := msgpack.Unmarshal(p, &items); err != nil {
			return nil, fmt.Errorf("ToDataFrame: partition %d: %w", pi, err)
		}
		if len(items) == 0 && (pi > 0 || len(parts) > 1) {
			continue
		}
		rec, err := toRecord(sc, schema, items)
		if err != nil {
			return nil, fmt.Errorf("ToDataFrame: partition %d: %w", pi, err)
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		rec, _ := toRecord(sc, schema, nil)
		recs = append(recs, rec)
	}
	return dataframe.FromRecords(ctx, c, recs)
}

func toRecord(sc *arrow.Schema, schema []Field, items []any) (arrow.RecordBatch, error) {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer bld.Release()
	for i, it := range items {
		for fi, f := range schema {
			var v any
			switch x := it.(type) {
			case map[string]any:
				v = x[f.Name]
			case []any:
				if fi < len(x) {
					v = x[fi]
				}
			default:
				return nil, fmt.Errorf("element %d is a %T: ToDataFrame needs maps (records) or slices (tuples)", i, it)
			}
			if err := appendField(bld.Field(fi), f.Type, v); err != nil {
				return nil, fmt.Errorf("element %d, field %q: %w", i, f.Name, err)
			}
		}
	}
	return bld.NewRecordBatch(), nil
}

func appendField(b array.Builder, typ string, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch typ {
	case "int64":
		if i, ok := asInt(v); ok {
			b.(*array.Int64Builder).Append(i)
			return nil
		}
		if f, ok := asFloat(v); ok && f == float64(int64(f)) {
			b.(*array.Int64Builder).Append(int64(f))
			return nil
		}
	case "float64":
		if f, ok := asFloat(v); ok {
			b.(*array.Float64Builder).Append(f)
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
	return fmt.Errorf("%T %v is not a %s", v, v, typ)
}
