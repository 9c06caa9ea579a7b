package dataframe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// Parquet sources. The client reads only the files' footers (ReadParquet):
// the schema, and each row group's size and min/max statistics. When the
// plan is built, the filters at the start of the fused steps drop the row
// groups their statistics prove empty (the filters themselves still run),
// the surviving row groups of a file are grouped into partitions of about
// BlockSize uncompressed bytes, and each partition's task reads its row
// groups, only the columns the later steps need, on the worker.

const opParquet = "dataframe.parquet"

// parquetScan reads Parquet files, row groups by partition.
type parquetScan struct {
	files     []parquetFile
	names     []string // all columns, in file order
	types     []arrow.DataType
	blockSize int64
}

// schema is the source's schema as read (types widened).
func (s *parquetScan) schema() *arrow.Schema {
	fields := make([]arrow.Field, len(s.names))
	for i, n := range s.names {
		fields[i] = arrow.Field{Name: n, Type: s.types[i], Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

type parquetFile struct {
	path   string
	size   int64
	mtime  int64
	groups []rowGroupInfo
}

// rowGroupInfo is what the client knows of a row group from the footer.
type rowGroupInfo struct {
	rows  int64
	bytes int64               // uncompressed
	stats map[string]colStats // by column; absent: no usable statistics
}

// ParquetPart is one partition of a Parquet source: row groups of Path.
type ParquetPart struct {
	Path      string `msgpack:"path"`
	RowGroups []int  `msgpack:"rg"`
	Size      int64  `msgpack:"size"`
	// Rows in those row groups: with Size, how a worker tells that the
	// file changed since it was planned.
	Rows int64 `msgpack:"rows"`
	// MTime makes the task's key change when the file does.
	MTime int64 `msgpack:"mtime"`
}

// ParquetTask reads one Parquet partition (only Columns; nil: all) and runs
// the steps after it. The argument of "dataframe.parquet".
type ParquetTask struct {
	Part    ParquetPart `msgpack:"part"`
	Columns []string    `msgpack:"cols,omitempty"`
	Steps   []Step      `msgpack:"steps,omitempty"`
}

// ReadParquet is a DataFrame over Parquet files: pattern is a glob, or a
// directory (its *.parquet files). Files are read in natural name order
// (part.2 before part.10). Each row group is a partition, or consecutive
// small row groups of a file together up to BlockSize uncompressed bytes
// (default 64 MiB; 0 or less: one row group each). Only the footers are
// read here, for the schema and the row groups' statistics; the workers
// read the data, so the paths must be valid on every node. All files must
// have the same columns with the same types.
//
// Only the columns later steps need are read, and filters that start the
// steps after the source skip the row groups whose min/max statistics
// prove that no row matches (comparisons of a column with a literal,
// combined with And/Or):
//
//	d, err := dataframe.ReadParquet("data/*.parquet")
//	n, err := d.Filter(Col("v1").Ge(4)).Select("id1", "v1").Len(ctx, c)
//
// Types the kernels do not handle are widened when read: int8–int32 and
// uint8–uint32 to int64, float16/float32 to float64, large strings to
// strings. Of the options only BlockSize applies.
//
// pattern may be an object store URL (package storage), e.g.
// "s3://bucket/data/*.parquet" or "gs://bucket/data/" (a prefix holding
// .parquet objects), options in its query: the footers are read here with
// ranged reads, and each task reads only its row groups' column chunks.
func ReadParquet(pattern string, opts ...Option) (*DataFrame, error) {
	o := readOpts{blockSize: 64 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	if o.csv.Types != nil || o.csv.NAValues != nil || o.csv.Delimiter != 0 {
		return nil, fmt.Errorf("read parquet %q: Types, NAValues and Delimiter are options of ReadCSV; Parquet files carry their types (use WithColumn(...Cast) to change one)", pattern)
	}
	files, err := parquetFiles(pattern)
	if err != nil {
		return nil, err
	}
	scan := &parquetScan{blockSize: o.blockSize}
	var schema *arrow.Schema
	for _, path := range files {
		pf, sc, err := readFooter(path)
		if err != nil {
			return nil, err
		}
		if schema == nil {
			schema = sc
		} else if !sameColumns(schema, sc) {
			return nil, fmt.Errorf("read parquet: %s has columns %s, but %s has %s: all files must have the same columns and types (read them separately)",
				storage.Key(path), describeSchema(sc), storage.Key(files[0]), describeSchema(schema))
		}
		scan.files = append(scan.files, pf)
	}
	scan.names = columnNames(schema)
	for _, f := range schema.Fields() {
		scan.types = append(scan.types, f.Type)
	}
	parts := len(scan.partitions(nil))
	return &DataFrame{plan: &node{parquet: scan}, columns: scan.names, nparts: parts}, nil
}

// parquetFiles lists the files of a glob or a directory (for a URL, a
// prefix holding objects), in natural order.
func parquetFiles(pattern string) ([]string, error) {
	ctx := context.Background()
	glob := pattern
	if !storage.IsRemote(pattern) || !hasGlobMeta(storage.Key(pattern)) {
		dir, err := storage.IsDir(ctx, pattern)
		if err != nil {
			return nil, fmt.Errorf("read parquet %q: %w", pattern, err)
		}
		if dir {
			glob = storage.Join(pattern, "*.parquet")
		}
	}
	matches, err := storage.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("read parquet %q: %w", pattern, err)
	}
	var files []string
	for _, m := range matches {
		if !m.IsDir {
			files = append(files, m.URL)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read parquet %q: %w (give a glob such as data/*.parquet, or a directory holding .parquet files)", pattern, ErrNoFiles)
	}
	slices.SortFunc(files, naturalCompare)
	return files, nil
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// naturalCompare orders names with runs of digits compared as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// readFooter reads a file's footer: its Arrow schema, and its row groups'
// sizes and statistics.
func readFooter(path string) (parquetFile, *arrow.Schema, error) {
	f, err := storage.Open(context.Background(), path)
	if err != nil {
		return parquetFile{}, nil, fmt.Errorf("read parquet: %w", err)
	}
	defer f.Close()
	if err := checkMagic(f, f.Size()); err != nil {
		return parquetFile{}, nil, fmt.Errorf("read parquet %s: %w", storage.Key(path), err)
	}
	rdr, err := file.NewParquetReader(seeker(f))
	if err != nil {
		return parquetFile{}, nil, fmt.Errorf("read parquet %s: %w (is it a whole Parquet file?)", storage.Key(path), err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return parquetFile{}, nil, fmt.Errorf("read parquet %s: %w", storage.Key(path), err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return parquetFile{}, nil, fmt.Errorf("read parquet %s: schema: %w", storage.Key(path), err)
	}
	pf := parquetFile{path: path, size: f.Size(), mtime: f.ModTime().UnixNano()}
	md := rdr.MetaData()
	flat := md.Schema.NumColumns() == sc.NumFields()
	for i := range rdr.NumRowGroups() {
		rg := md.RowGroup(i)
		info := rowGroupInfo{rows: rg.NumRows(), bytes: rg.TotalByteSize()}
		if flat {
			info.stats = rowGroupStats(rg, sc)
		}
		pf.groups = append(pf.groups, info)
	}
	return pf, readSchema(sc), nil
}

// errNotParquet: a file lacks Parquet's "PAR1" magic at its start or end.
var errNotParquet = errors.New("not a Parquet file (no PAR1 magic at its start and end; a truncated or unfinished file also lacks it)")

func checkMagic(f io.ReaderAt, size int64) error {
	var head, tail [4]byte
	if size < 12 {
		return errNotParquet
	}
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("%w: %w", errNotParquet, err)
	}
	if _, err := f.ReadAt(tail[:], size-4); err != nil {
		return fmt.Errorf("%w: %w", errNotParquet, err)
	}
	if string(head[:]) != "PAR1" || string(tail[:]) != "PAR1" {
		return errNotParquet
	}
	return nil
}

// sameColumns: the same names and (read) types, in the same order.
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		if a.Field(i).Name != b.Field(i).Name || !arrow.TypeEqual(a.Field(i).Type, b.Field(i).Type) {
			return false
		}
	}
	return true
}

func describeSchema(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + " " + f.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// partitions groups the row groups that filters cannot rule out into
// partitions (at least one, maybe with no row group, so that an empty
// result still has its columns).
func (s *parquetScan) partitions(filters []Expr) []ParquetPart {
	var out []ParquetPart
	for _, f := range s.files {
		var cur *ParquetPart
		var bytes int64
		for i, g := range f.groups {
			if !mayMatchAll(filters, g) {
				continue
			}
			if cur != nil && (s.blockSize <= 0 || bytes+g.bytes > s.blockSize) {
				out = append(out, *cur)
				cur = nil
			}
			if cur == nil {
				cur = &ParquetPart{Path: f.path, Size: f.size, MTime: f.mtime}
				bytes = 0
			}
			cur.RowGroups = append(cur.RowGroups, i)
			cur.Rows += g.rows
			bytes += g.bytes
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	if len(out) == 0 {
		f := s.files[0]
		out = append(out, ParquetPart{Path: f.path, Size: f.size, MTime: f.mtime, RowGroups: []int{}})
	}
	return out
}

// leadingFilters are the predicates of the filters that start steps (past
// select and drop, which change neither rows nor values): a row group
// where they cannot hold has no row that reaches a later step.
func leadingFilters(steps []Step) []Expr {
	var out []Expr
	for _, s := range steps {
		switch s.Op {
		case "filter":
			out = append(out, *s.Expr)
		case "select", "drop":
		default:
			return out
		}
	}
	return out
}

// parquetTasks are the tasks of a Parquet source followed by steps: the
// row groups that survive the leading filters, the columns the steps need.
func (s *parquetScan) parquetTasks(steps []Step) []ParquetTask {
	cols, steps := pushDown(s.names, steps)
	parts := s.partitions(leadingFilters(steps))
	out := make([]ParquetTask, len(parts))
	for i, p := range parts {
		out[i] = ParquetTask{Part: p, Columns: cols, Steps: steps}
	}
	return out
}

// parquetParts adds a Parquet source's tasks, steps fused.
func (b *builder) parquetParts(s *parquetScan, steps []Step) ([]part, error) {
	tasks := s.parquetTasks(steps)
	out := make([]part, len(tasks))
	for i, t := range tasks {
		var err error
		if out[i], err = b.add(opParquet, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runParquet reads one partition's row groups and applies its steps.
func runParquet(ctx context.Context, t ParquetTask) (futures.Encoded, error) {
	rec, err := readParquetPart(ctx, t.Part, t.Columns)
	if err != nil {
		return nil, err
	}
	return applySteps(ctx, rec, t.Steps, nil)
}

// readParquetPart reads row groups of a file, only the named columns (nil:
// all), as one record whose columns are the decoded arrays (no further
// copy when each column decodes to one chunk).
func readParquetPart(ctx context.Context, p ParquetPart, columns []string) (arrow.RecordBatch, error) {
	f, err := storage.Open(ctx, p.Path)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w (every node reads its partitions itself: %s)", err, everyNode(p.Path))
	}
	defer f.Close()
	if f.Size() != p.Size {
		return nil, fmt.Errorf("read parquet %s: the file has %d bytes, but %d when ReadParquet planned it: it changed; call ReadParquet again", storage.Key(p.Path), f.Size(), p.Size)
	}
	props := parquet.NewReaderProperties(mem)
	rdr, err := file.NewParquetReader(seeker(f), file.WithReadProps(props))
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w (is it a Parquet file?)", storage.Key(p.Path), err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 20, PreAllocBinaryData: true}, mem)
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", storage.Key(p.Path), err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: schema: %w", storage.Key(p.Path), err)
	}
	fields, leaves, err := projectLeaves(rdr, sc, columns)
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", storage.Key(p.Path), err)
	}
	var rows int64
	for _, g := range p.RowGroups {
		if g < 0 || g >= rdr.NumRowGroups() {
			return nil, fmt.Errorf("read parquet %s: row group %d of %d: the file changed since ReadParquet planned it; call ReadParquet again", storage.Key(p.Path), g, rdr.NumRowGroups())
		}
		rows += rdr.MetaData().RowGroup(g).NumRows()
	}
	if rows != p.Rows {
		return nil, fmt.Errorf("read parquet %s: row groups %v hold %d rows, but %d when ReadParquet planned them: the file changed; call ReadParquet again", storage.Key(p.Path), p.RowGroups, rows, p.Rows)
	}
	var rec arrow.RecordBatch
	if len(p.RowGroups) == 0 {
		rec = emptyRecord(arrow.NewSchema(fields, nil))
	} else {
		tbl, err := fr.ReadRowGroups(ctx, leaves, p.RowGroups)
		if err != nil {
			return nil, fmt.Errorf("read parquet %s row groups %v: %w", storage.Key(p.Path), p.RowGroups, err)
		}
		rec, err = tableRecord(tbl)
		tbl.Release()
		if err != nil {
			return nil, fmt.Errorf("read parquet %s: %w", storage.Key(p.Path), err)
		}
	}
	out, err := widen(rec)
	rec.Release()
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", storage.Key(p.Path), err)
	}
	return out, nil
}

// seeker is what the Parquet reader reads: the local file itself, or an
// object's ranged reads.
func seeker(f *storage.Reader) parquet.ReaderAtSeeker {
	if local := f.File(); local != nil {
		return local
	}
	return io.NewSectionReader(f, 0, f.Size())
}

// projectLeaves maps column names to the file's leaf columns (what
// pqarrow reads by), and returns the fields read, in file order.
func projectLeaves(rdr *file.Reader, sc *arrow.Schema, columns []string) ([]arrow.Field, []int, error) {
	want := map[string]bool{}
	for _, c := range columns {
		if sc.FieldIndices(c) == nil {
			return nil, nil, fmt.Errorf("no column %q (columns: %v)", c, columnNames(sc))
		}
		want[c] = true
	}
	psc := rdr.MetaData().Schema
	var leaves []int
	for i := range psc.NumColumns() {
		root := psc.ColumnRoot(i).Name()
		if columns == nil || want[root] {
			leaves = append(leaves, i)
		}
	}
	var fields []arrow.Field
	for _, f := range sc.Fields() {
		if columns == nil || want[f.Name] {
			fields = append(fields, f)
		}
	}
	return fields, leaves, nil
}

// tableRecord turns a table into one record: a column of one chunk is
// used as it is, one of several is concatenated.
func tableRecord(tbl arrow.Table) (arrow.RecordBatch, error) {
	n := int(tbl.NumCols())
	arrs := make([]arrow.Array, 0, n)
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for i := range n {
		chunks := tbl.Column(i).Data().Chunks()
		switch len(chunks) {
		case 0:
			arrs = append(arrs, array.MakeArrayOfNull(mem, tbl.Column(i).DataType(), 0))
		case 1:
			chunks[0].Retain()
			arrs = append(arrs, chunks[0])
		default:
			a, err := array.Concatenate(chunks, mem)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", tbl.Schema().Field(i).Name, err)
			}
			arrs = append(arrs, a)
		}
	}
	return array.NewRecordBatch(tbl.Schema(), arrs, tbl.NumRows()), nil
}

func emptyRecord(sc *arrow.Schema) arrow.RecordBatch {
	arrs := make([]arrow.Array, sc.NumFields())
	for i, f := range sc.Fields() {
		arrs[i] = array.MakeArrayOfNull(mem, f.Type, 0)
	}
	rec := array.NewRecordBatch(sc, arrs, 0)
	for _, a := range arrs {
		a.Release()
	}
	return rec
}
