package dataframe

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// Writing: one task per partition ("dataframe.write") writes its partition
// to its own file, on the node that holds the partition, into a temporary
// file that is renamed into place once complete (a reader never sees half
// a file, and a task run again after a node's loss replaces its own
// output).

const opWrite = "dataframe.write"

// ErrExists: an output file exists and Overwrite was not given.
var ErrExists = errors.New("output file exists")

// WriteOption configures ToCSV and ToParquet.
type WriteOption func(*writeOpts)

type writeOpts struct {
	overwrite    bool
	compression  string
	rowGroupRows int64
}

// Overwrite replaces existing output files (by default ToCSV and
// ToParquet refuse to write when one exists).
func Overwrite() WriteOption { return func(o *writeOpts) { o.overwrite = true } }

// Compression sets ToParquet's codec: "snappy" (the default: fast to
// write and read, as Dask and pyarrow default to), "zstd" (smaller files),
// "gzip" or "none".
func Compression(codec string) WriteOption { return func(o *writeOpts) { o.compression = codec } }

// RowGroupRows is the most rows of a Parquet row group (default 1<<20).
// Smaller row groups let ReadParquet skip more by statistics and split
// the data into more partitions.
func RowGroupRows(n int64) WriteOption { return func(o *writeOpts) { o.rowGroupRows = n } }

var codecs = map[string]compress.Compression{
	"snappy": compress.Codecs.Snappy, "zstd": compress.Codecs.Zstd, "gzip": compress.Codecs.Gzip,
	"none": compress.Codecs.Uncompressed, "": compress.Codecs.Snappy,
}

// WriteTask writes its input partition to Path. The argument of
// "dataframe.write".
type WriteTask struct {
	Format       string `msgpack:"format"` // csv, parquet
	Path         string `msgpack:"path"`
	Compression  string `msgpack:"codec,omitempty"`
	RowGroupRows int64  `msgpack:"rg,omitempty"`
	// Job is unique to each ToCSV/ToParquet call, so that writing the same
	// data again is a new task (task keys are pure: it would otherwise be
	// answered from a result still held).
	Job string `msgpack:"job"`
}

// writtenFile is a write task's result.
type writtenFile struct {
	Path  string `msgpack:"path"`
	Rows  int64  `msgpack:"rows"`
	Bytes int64  `msgpack:"bytes"`
}

// ToCSV writes each partition to its own CSV file, on the workers, and
// returns the files' paths in partition order. In path, "*" becomes the
// partition number, zero-padded to the width of the largest one (so that
// name order is partition order: part-00.csv … part-11.csv); a path
// without "*" is a directory that gets part.<n>.csv files. Missing
// directories are created; existing files are an error (ErrExists) unless
// Overwrite is given. The paths must be valid on every node (a shared
// disk), as for ReadCSV — or path is an object store URL (package storage:
// "s3://bucket/out/part-*.csv", "gs://bucket/out/", options in its query),
// where each object appears when its upload completes.
//
// The files have a header row; NA is the empty field (so an empty string
// reads back as NA); floats are written in full precision (strconv 'g',
// -1, with ".0" added to integral values so they read back as floats);
// timestamps as ISO 8601 (RFC 3339 with the column's zone, "Z" for UTC;
// no zone for a zone-less column); fields holding a comma, quote or line
// break are quoted (ReadCSV cannot read a quoted line break back).
//
//	files, err := d.ToCSV(ctx, c, "out/part-*.csv")
func (df *DataFrame) ToCSV(ctx context.Context, c *futures.Client, path string, opts ...WriteOption) ([]string, error) {
	return df.write(ctx, c, "csv", path, opts)
}

// ToParquet writes each partition to its own Parquet file, on the
// workers, and returns the files' paths in partition order: path is a
// directory that gets part.<n>.parquet files (n zero-padded to the width
// of the largest partition number, as in ToCSV), or a pattern with one
// "*". Snappy compression by default (see Compression), row groups of at
// most 1<<20 rows (see RowGroupRows), min/max statistics for every column,
// and the Arrow schema stored, so that ReadParquet gives back the same
// types. Directories and existing files are handled as by ToCSV.
//
//	files, err := d.ToParquet(ctx, c, "out/", dataframe.Compression("zstd"))
func (df *DataFrame) ToParquet(ctx context.Context, c *futures.Client, path string, opts ...WriteOption) ([]string, error) {
	return df.write(ctx, c, "parquet", path, opts)
}

func (df *DataFrame) write(ctx context.Context, c *futures.Client, format, path string, opts []WriteOption) ([]string, error) {
	var o writeOpts
	for _, opt := range opts {
		opt(&o)
	}
	what := map[string]string{"csv": "to csv", "parquet": "to parquet"}[format]
	if _, ok := codecs[o.compression]; !ok {
		return nil, fmt.Errorf("%s: unknown compression %q (want snappy, zstd, gzip or none)", what, o.compression)
	}
	if o.compression != "" && format != "parquet" {
		return nil, fmt.Errorf("%s: Compression applies to ToParquet only", what)
	}
	if o.rowGroupRows < 0 || (o.rowGroupRows > 0 && format != "parquet") {
		return nil, fmt.Errorf("%s: RowGroupRows must be positive, and applies to ToParquet only", what)
	}
	b := &builder{g: futures.NewGraph()}
	parts, err := b.node(ctx, df.plan)
	if err != nil {
		return nil, err
	}
	paths, err := outputPaths(path, len(parts), format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := prepareOutput(ctx, paths, o.overwrite); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	job := hex.EncodeToString(nonce[:])
	refs := make([]futures.Ref, len(parts))
	for i, p := range parts {
		t := WriteTask{Format: format, Path: paths[i], Compression: o.compression, RowGroupRows: o.rowGroupRows, Job: job}
		r, err := b.add(opWrite, t, p)
		if err != nil {
			return nil, err
		}
		refs[i] = r.(futures.Ref)
	}
	fs, err := b.compute(ctx, c, false, refs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	res, err := futures.GatherAs[writtenFile](ctx, c, fs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.Path
	}
	return out, nil
}

// outputPaths names n output files: pattern's "*" replaced by the
// partition number, or part.<n>.<ext> in the directory pattern (a local
// directory, or a URL's prefix).
func outputPaths(pattern string, n int, ext string) ([]string, error) {
	if pattern == "" {
		return nil, fmt.Errorf("empty output path (give a directory, or a pattern such as out/part-*.%s)", ext)
	}
	abs, err := storage.Abs(pattern)
	if err != nil {
		return nil, err
	}
	key, query := abs, ""
	if storage.IsRemote(abs) {
		key, query, _ = strings.Cut(abs, "?")
		if query != "" {
			query = "?" + query
		}
	} else if strings.HasSuffix(pattern, string(filepath.Separator)) {
		key += string(filepath.Separator)
	}
	width := len(strconv.Itoa(max(n-1, 0)))
	out := make([]string, n)
	switch strings.Count(key, "*") {
	case 0:
		for i := range out {
			out[i] = storage.Join(abs, fmt.Sprintf("part.%0*d.%s", width, i, ext))
		}
	case 1:
		if strings.Contains(storage.Dir(key), "*") {
			return nil, fmt.Errorf("output path %q: the * must be in the file name, not in a directory", pattern)
		}
		for i := range out {
			out[i] = strings.Replace(key, "*", fmt.Sprintf("%0*d", width, i), 1) + query
		}
	default:
		return nil, fmt.Errorf("output path %q has more than one *: give one, for the partition number", pattern)
	}
	return out, nil
}

// prepareOutput creates the output directories, checks that they are
// writable, and that no output file exists unless overwrite.
func prepareOutput(ctx context.Context, paths []string, overwrite bool) error {
	dirs := map[string]bool{}
	for _, p := range paths {
		dirs[storage.Dir(p)] = true
	}
	for d := range dirs {
		if err := storage.CheckWritable(ctx, d); err != nil {
			return err
		}
	}
	if overwrite {
		return nil
	}
	var exist []string
	for _, p := range paths {
		ok, err := storage.Exists(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			exist = append(exist, storage.Key(p))
		}
	}
	if len(exist) > 0 {
		more := ""
		if len(exist) > 3 {
			more = fmt.Sprintf(" and %d more", len(exist)-3)
			exist = exist[:3]
		}
		return fmt.Errorf("%w: %s%s (pass Overwrite() to replace them, or write elsewhere)", ErrExists, strings.Join(exist, ", "), more)
	}
	return nil
}

// runWrite writes one partition to its file (a local file appears when
// complete, renamed into place; an object when its upload completes).
func runWrite(ctx context.Context, t WriteTask, input futures.RawBytes) (writtenFile, error) {
	rec, err := decodePart(input)
	if err != nil {
		return writtenFile{}, err
	}
	defer rec.Release()
	name := storage.Key(t.Path)
	f, err := storage.Create(ctx, t.Path)
	if err != nil {
		return writtenFile{}, fmt.Errorf("write %s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Abort()
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	switch t.Format {
	case "csv":
		err = writeCSV(ctx, w, rec)
	case "parquet":
		err = writeParquet(w, rec, t)
	default:
		err = fmt.Errorf("unknown format %q", t.Format)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return writtenFile{}, fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return writtenFile{}, fmt.Errorf("write %s: %w", name, err)
	}
	ok = true
	return writtenFile{Path: t.Path, Rows: rec.NumRows(), Bytes: f.Written()}, nil
}

// writeParquet writes rec as one Parquet file (w is not closed).
func writeParquet(w io.Writer, rec arrow.RecordBatch, t WriteTask) error {
	rg := t.RowGroupRows
	if rg <= 0 {
		rg = 1 << 20
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(codecs[t.Compression]),
		parquet.WithMaxRowGroupLength(rg),
		parquet.WithStats(true),
		parquet.WithAllocator(mem),
	)
	fw, err := pqarrow.NewFileWriter(rec.Schema(), w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		return err
	}
	if rec.NumRows() > 0 {
		if err := fw.Write(rec); err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

// writeCSV writes rec with a header row.
func writeCSV(ctx context.Context, w *bufio.Writer, rec arrow.RecordBatch) error {
	cells := make([]cellWriter, rec.NumCols())
	var line []byte
	for i, f := range rec.Schema().Fields() {
		cw, err := csvCell(rec.Column(i))
		if err != nil {
			return fmt.Errorf("column %q: %w", f.Name, err)
		}
		cells[i] = cw
		if i > 0 {
			line = append(line, ',')
		}
		line = appendCSVString(line, f.Name)
	}
	line = append(line, '\n')
	if _, err := w.Write(line); err != nil {
		return err
	}
	cols := rec.Columns()
	for r := range int(rec.NumRows()) {
		if r%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line = line[:0]
		for c, cell := range cells {
			if c > 0 {
				line = append(line, ',')
			}
			if cols[c].IsValid(r) {
				line = cell(line, r)
			}
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// cellWriter appends row i's (valid) value as a CSV field.
type cellWriter func(dst []byte, i int) []byte

func csvCell(a arrow.Array) (cellWriter, error) {
	switch x := a.(type) {
	case *array.Int64:
		return func(d []byte, i int) []byte { return strconv.AppendInt(d, x.Value(i), 10) }, nil
	case *array.Int32:
		return func(d []byte, i int) []byte { return strconv.AppendInt(d, int64(x.Value(i)), 10) }, nil
	case *array.Int16:
		return func(d []byte, i int) []byte { return strconv.AppendInt(d, int64(x.Value(i)), 10) }, nil
	case *array.Int8:
		return func(d []byte, i int) []byte { return strconv.AppendInt(d, int64(x.Value(i)), 10) }, nil
	case *array.Uint64:
		return func(d []byte, i int) []byte { return strconv.AppendUint(d, x.Value(i), 10) }, nil
	case *array.Uint32:
		return func(d []byte, i int) []byte { return strconv.AppendUint(d, uint64(x.Value(i)), 10) }, nil
	case *array.Uint16:
		return func(d []byte, i int) []byte { return strconv.AppendUint(d, uint64(x.Value(i)), 10) }, nil
	case *array.Uint8:
		return func(d []byte, i int) []byte { return strconv.AppendUint(d, uint64(x.Value(i)), 10) }, nil
	case *array.Float64:
		return func(d []byte, i int) []byte { return appendCSVFloat(d, x.Value(i), 64) }, nil
	case *array.Float32:
		return func(d []byte, i int) []byte { return appendCSVFloat(d, float64(x.Value(i)), 32) }, nil
	case *array.Boolean:
		return func(d []byte, i int) []byte { return strconv.AppendBool(d, x.Value(i)) }, nil
	case *array.String:
		return func(d []byte, i int) []byte { return appendCSVString(d, x.Value(i)) }, nil
	case *array.LargeString:
		return func(d []byte, i int) []byte { return appendCSVString(d, x.Value(i)) }, nil
	case *array.Timestamp:
		tt := x.DataType().(*arrow.TimestampType)
		toTime, err := tt.GetToTimeFunc()
		if err != nil {
			return nil, err
		}
		layout := time.RFC3339Nano
		if tt.TimeZone == "" {
			layout = "2006-01-02T15:04:05.999999999"
		}
		return func(d []byte, i int) []byte { return toTime(x.Value(i)).AppendFormat(d, layout) }, nil
	case *array.Date32:
		return func(d []byte, i int) []byte { return x.Value(i).ToTime().AppendFormat(d, time.DateOnly) }, nil
	case *array.Date64:
		return func(d []byte, i int) []byte { return x.Value(i).ToTime().AppendFormat(d, time.DateOnly) }, nil
	}
	if _, nested := a.DataType().(arrow.NestedType); nested || a.DataType().ID() == arrow.BINARY || a.DataType().ID() == arrow.LARGE_BINARY {
		return nil, fmt.Errorf("type %s has no CSV form: drop the column (or Explode a list) first, or use ToParquet", a.DataType())
	}
	return func(d []byte, i int) []byte { return appendCSVString(d, a.ValueStr(i)) }, nil
}

// appendCSVFloat: the shortest form that reads back as the same value,
// with ".0" on integral values so that type inference sees a float.
func appendCSVFloat(d []byte, v float64, bits int) []byte {
	start := len(d)
	d = strconv.AppendFloat(d, v, 'g', -1, bits)
	for _, c := range d[start:] {
		if c == '.' || c == 'e' || c == 'N' || c == 'I' {
			return d
		}
	}
	return append(d, ".0"...)
}

// appendCSVString quotes s when it holds a comma, a quote or a line break
// (RFC 4180: quotes doubled).
func appendCSVString(d []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(d, s...)
	}
	d = append(d, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		d = append(d, s[:i+1]...)
		d = append(d, '"')
		s = s[i+1:]
	}
	d = append(d, s...)
	return append(d, '"')
}
