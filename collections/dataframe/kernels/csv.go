package kernels

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// CSVOptions configures ReadCSVRange (plain data: msgpack round-trips it).
type CSVOptions struct {
	// Delimiter separates fields; 0 means ','.
	Delimiter byte `msgpack:"delimiter,omitempty"`
	// NoHeader: the file has no header row; columns are named Names, else f0, f1, ...
	NoHeader bool     `msgpack:"no_header,omitempty"`
	Names    []string `msgpack:"names,omitempty"`
	// Columns to read (projection push-down), in this order; empty means all, in file order.
	Columns []string `msgpack:"columns,omitempty"`
	// Types overrides the inferred type of columns: "int64", "float64", "bool", "string", "timestamp"
	// (timestamp[us], UTC). Give every column's type (see InferCSVTypes) so that all partitions agree without
	// sampling.
	Types map[string]string `msgpack:"types,omitempty"`
	// NAValues are field values read as NA besides the empty field (always NA).
	NAValues []string `msgpack:"na_values,omitempty"`
	// SampleBytes is how much of the file's start is sampled to infer types; 0 means 1 MiB.
	SampleBytes int `msgpack:"sample_bytes,omitempty"`
	// Dictionary: string columns come out dictionary-encoded (dictionary<int32, utf8>, one dictionary per
	// call; see DictEncodeStrings).
	Dictionary bool `msgpack:"dictionary,omitempty"`
}

// CSVError reports malformed input: the byte offset in the (decompressed) file of the row, the line (counted from
// the first row of the byte range, 1-based; absolute when the range starts at 0, header included), and the column.
type CSVError struct {
	Offset int64
	Line   int
	Start  int64
	Column string
	Msg    string
}

func (e *CSVError) Error() string {
	col := ""
	if e.Column != "" {
		col = fmt.Sprintf(", column %q", e.Column)
	}
	if e.Start == 0 {
		return fmt.Sprintf("csv: line %d (byte offset %d)%s: %s", e.Line, e.Offset, col, e.Msg)
	}
	return fmt.Sprintf("csv: byte offset %d (line %d of the range starting at %d)%s: %s", e.Offset, e.Line, e.Start, col, e.Msg)
}

const (
	tInt64 = iota + 1
	tFloat64
	tBool
	tString
	tTimestamp
)

var typeNames = map[string]int{"int64": tInt64, "float64": tFloat64, "bool": tBool, "string": tString, "timestamp": tTimestamp}

func typeName(t int) string {
	for k, v := range typeNames {
		if v == t {
			return k
		}
	}
	return "?"
}

func arrowType(t int) arrow.DataType {
	switch t {
	case tInt64:
		return arrow.PrimitiveTypes.Int64
	case tFloat64:
		return arrow.PrimitiveTypes.Float64
	case tBool:
		return arrow.FixedWidthTypes.Boolean
	case tTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	return arrow.BinaryTypes.String
}

// csvSource is the file as seen by the parser: a ReaderAt over plain bytes.
type csvSource struct {
	r    io.ReaderAt
	size int64
}

func openSource(r io.ReaderAt, size int64) (csvSource, bool, error) {
	var magic [2]byte
	if size >= 2 {
		if _, err := r.ReadAt(magic[:], 0); err != nil && err != io.EOF {
			return csvSource{}, false, err
		}
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return csvSource{r, size}, false, nil
	}
	zr, err := gzip.NewReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return csvSource{}, true, fmt.Errorf("csv: gzip: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return csvSource{}, true, fmt.Errorf("csv: gzip: %w", err)
	}
	return csvSource{bytes.NewReader(data), int64(len(data))}, true, nil
}

// readLine reads the line starting at off (without its newline) and returns the offset after it.
func (s csvSource) readLine(off int64) ([]byte, int64, error) {
	var line []byte
	chunk := make([]byte, 64<<10)
	for off < s.size {
		n, err := s.r.ReadAt(chunk[:min(int64(len(chunk)), s.size-off)], off)
		if n == 0 && err != nil {
			return nil, 0, err
		}
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			line = append(line, chunk[:i]...)
			return trimCR(line), off + int64(i) + 1, nil
		}
		line = append(line, chunk[:n]...)
		off += int64(n)
	}
	return trimCR(line), s.size, nil
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// splitFields splits one line into fields (quoted fields unquoted, "" unescaped), appending to dst.
func splitFields(dst [][]byte, line []byte, delim byte) ([][]byte, error) {
	if bytes.IndexByte(line, '"') < 0 {
		for {
			j := bytes.IndexByte(line, delim)
			if j < 0 {
				return append(dst, line), nil
			}
			dst = append(dst, line[:j])
			line = line[j+1:]
		}
	}
	for {
		if len(line) > 0 && line[0] == '"' {
			var f []byte
			i := 1
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return dst, fmt.Errorf("unterminated quoted field (a quoted newline is not supported)")
				}
				f = append(f, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' {
					f = append(f, '"')
					i++
					continue
				}
				break
			}
			dst = append(dst, f)
			if i >= len(line) {
				return dst, nil
			}
			if line[i] != delim {
				return dst, fmt.Errorf("unexpected %q after a quoted field", line[i])
			}
			line = line[i+1:]
			continue
		}
		j := bytes.IndexByte(line, delim)
		if j < 0 {
			return append(dst, line), nil
		}
		dst = append(dst, line[:j])
		line = line[j+1:]
	}
}

type csvHeader struct {
	names     []string
	dataStart int64
}

func readHeader(src csvSource, opts *CSVOptions) (csvHeader, error) {
	delim := opts.delim()
	line, next, err := src.readLine(0)
	if err != nil {
		return csvHeader{}, fmt.Errorf("csv: reading header: %w", err)
	}
	fs, err := splitFields(nil, line, delim)
	if err != nil {
		return csvHeader{}, &CSVError{Offset: 0, Line: 1, Msg: err.Error()}
	}
	if opts.NoHeader {
		names := make([]string, len(fs))
		for i := range names {
			if i < len(opts.Names) {
				names[i] = opts.Names[i]
			} else {
				names[i] = fmt.Sprintf("f%d", i)
			}
		}
		return csvHeader{names, 0}, nil
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return csvHeader{names, next}, nil
}

func (o *CSVOptions) delim() byte {
	if o.Delimiter == 0 {
		return ','
	}
	return o.Delimiter
}

func (o *CSVOptions) naValues() [][]byte {
	out := [][]byte{{}}
	for _, s := range o.NAValues {
		if s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}

// InferCSVTypes reads the header and samples the start of the file; it returns the column names and their types
// (as CSVOptions.Types takes them), overrides in opts applied.
func InferCSVTypes(r io.ReaderAt, size int64, opts CSVOptions) ([]string, map[string]string, error) {
	src, _, err := openSource(r, size)
	if err != nil {
		return nil, nil, err
	}
	h, err := readHeader(src, &opts)
	if err != nil {
		return nil, nil, err
	}
	types, err := inferTypes(src, h, &opts)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]string, len(types))
	for i, n := range h.names {
		out[n] = typeName(types[i])
	}
	return h.names, out, nil
}

func inferTypes(src csvSource, h csvHeader, opts *CSVOptions) ([]int, error) {
	types := make([]int, len(h.names))
	need := false
	for i, n := range h.names {
		if t, ok := opts.Types[n]; ok {
			tt, ok := typeNames[t]
			if !ok {
				return nil, fmt.Errorf("csv: column %q: unknown type %q (want int64, float64, bool, string or timestamp)", n, t)
			}
			types[i] = tt
		} else {
			need = true
		}
	}
	if !need {
		return types, nil
	}
	sample := int64(opts.SampleBytes)
	if sample <= 0 {
		sample = 1 << 20
	}
	end := min(src.size, h.dataStart+sample)
	buf := make([]byte, end-h.dataStart)
	if n, err := src.r.ReadAt(buf, h.dataStart); err != nil && !(err == io.EOF && int64(n) == int64(len(buf))) {
		return nil, fmt.Errorf("csv: reading sample: %w", err)
	}
	if end < src.size {
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			buf = buf[:i+1]
		}
	}
	na := opts.naValues()
	const (
		canInt = 1 << iota
		canFloat
		canBool
		canTS
		seen
	)
	flags := make([]int, len(types))
	for i := range flags {
		flags[i] = canInt | canFloat | canBool | canTS
	}
	var fs [][]byte
	for len(buf) > 0 {
		j := bytes.IndexByte(buf, '\n')
		var line []byte
		if j < 0 {
			line, buf = buf, nil
		} else {
			line, buf = buf[:j], buf[j+1:]
		}
		line = trimCR(line)
		if len(line) == 0 {
			continue
		}
		var err error
		fs, err = splitFields(fs[:0], line, opts.delim())
		if err != nil {
			continue
		}
		for c, f := range fs {
			if c >= len(flags) || isNA(f, na) {
				continue
			}
			fl := flags[c] | seen
			if fl&canInt != 0 {
				if _, ok := parseInt(f); !ok {
					fl &^= canInt
				}
			}
			if fl&canFloat != 0 {
				if _, ok := parseFloat(f); !ok {
					fl &^= canFloat
				}
			}
			if fl&canBool != 0 {
				if _, ok := parseBool(f); !ok {
					fl &^= canBool
				}
			}
			if fl&canTS != 0 {
				if _, ok := parseTimestamp(f); !ok {
					fl &^= canTS
				}
			}
			flags[c] = fl
		}
	}
	for i, fl := range flags {
		if types[i] != 0 {
			continue
		}
		switch {
		case fl&seen == 0:
			types[i] = tString
		case fl&canInt != 0:
			types[i] = tInt64
		case fl&canFloat != 0:
			types[i] = tFloat64
		case fl&canBool != 0:
			types[i] = tBool
		case fl&canTS != 0:
			types[i] = tTimestamp
		default:
			types[i] = tString
		}
	}
	return types, nil
}

func isNA(f []byte, na [][]byte) bool {
	for _, s := range na {
		if len(s) == len(f) && string(s) == string(f) {
			return true
		}
	}
	return false
}

// csvCol accumulates one output column.
type csvCol struct {
	typ   int
	name  string
	i64   []int64
	f64   []float64
	offs  []int32
	data  []byte
	nulls []int32
}

// ReadCSVRange reads the rows of a CSV file whose first byte lies in [start, end): the partial line at start is
// skipped unless start is 0 (or the byte before start is a newline), the last row is read past end to its
// newline. The header is read from offset 0. Types come from opts.Types or are inferred from the file's first
// SampleBytes, so every range of one file gets the same schema. A gzip file (detected by its magic bytes) cannot
// be split: read it with start 0 and end >= size. Quoted fields may not contain newlines.
func ReadCSVRange(mem memory.Allocator, r io.ReaderAt, size int64, start, end int64, opts CSVOptions) (arrow.RecordBatch, error) {
	rec, err := readCSVRange(mem, r, size, start, end, opts)
	if err != nil || !opts.Dictionary {
		return rec, err
	}
	defer rec.Release()
	return DictEncodeStrings(mem, rec)
}

func readCSVRange(mem memory.Allocator, r io.ReaderAt, size int64, start, end int64, opts CSVOptions) (arrow.RecordBatch, error) {
	src, gz, err := openSource(r, size)
	if err != nil {
		return nil, err
	}
	if gz {
		if start != 0 || end < size {
			return nil, fmt.Errorf("csv: a gzip file cannot be split into byte ranges: read it whole (start 0, end %d)", size)
		}
		end = src.size
	}
	end = min(end, src.size)
	h, err := readHeader(src, &opts)
	if err != nil {
		return nil, err
	}
	types, err := inferTypes(src, h, &opts)
	if err != nil {
		return nil, err
	}
	// projection
	sel := make([]int, len(h.names)) // file column -> output index, -1 skipped
	var outNames []string
	if len(opts.Columns) == 0 {
		for i := range sel {
			sel[i] = i
		}
		outNames = h.names
	} else {
		for i := range sel {
			sel[i] = -1
		}
		for o, c := range opts.Columns {
			found := false
			for i, n := range h.names {
				if n == c {
					sel[i], found = o, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("csv: unknown column %q (have %v)", c, h.names)
			}
		}
		outNames = opts.Columns
	}
	cols := make([]*csvCol, len(outNames))
	for i, s := range sel {
		if s >= 0 {
			cols[s] = &csvCol{typ: types[i], name: h.names[i]}
		}
	}
	// find the first row of the range
	begin := start
	if begin > 0 {
		var b [1]byte
		if _, err := src.r.ReadAt(b[:], begin-1); err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		if b[0] != '\n' {
			_, next, err := src.readLine(begin)
			if err != nil {
				return nil, fmt.Errorf("csv: %w", err)
			}
			begin = next
		}
	}
	begin = max(begin, h.dataStart)
	var buf []byte
	if begin < end {
		buf = make([]byte, end-begin, end-begin+4096)
		if n, err := src.r.ReadAt(buf, begin); err != nil && !(err == io.EOF && n == len(buf)) {
			return nil, fmt.Errorf("csv: reading [%d, %d): %w", begin, end, err)
		}
		if end < src.size && buf[len(buf)-1] != '\n' {
			rest, _, err := src.readLine(end)
			if err != nil {
				return nil, fmt.Errorf("csv: %w", err)
			}
			buf = append(buf, rest...)
		}
	}
	est := 0
	if len(buf) > 0 {
		// estimate rows from the first line
		if j := bytes.IndexByte(buf, '\n'); j > 0 {
			est = len(buf)/(j+1)*9/8 + 16
		}
	}
	for _, c := range cols {
		switch c.typ {
		case tInt64, tTimestamp:
			c.i64 = make([]int64, 0, est)
		case tFloat64:
			c.f64 = make([]float64, 0, est)
		case tBool:
			c.i64 = make([]int64, 0, est)
		case tString:
			c.offs = make([]int32, 1, est+1)
			c.data = make([]byte, 0, len(buf)/max(1, len(h.names)))
		}
	}
	rows, err := parseRows(buf, begin, start, cols, sel, &opts)
	if err != nil {
		return nil, err
	}
	return buildCSVRecord(mem, cols, rows), nil
}

func parseRows(buf []byte, begin, start int64, cols []*csvCol, sel []int, opts *CSVOptions) (int, error) {
	delim := opts.delim()
	na := opts.naValues()
	naEmpty, naOther := false, false
	for _, s := range na {
		if len(s) == 0 {
			naEmpty = true
		} else {
			naOther = true
		}
	}
	ncols := len(sel)
	lineBase := 0
	if start == 0 && !opts.NoHeader {
		lineBase = 1
	}
	var fs [][]byte
	rows := 0
	line := 0
	p := 0
	for p < len(buf) {
		line++
		j := bytes.IndexByte(buf[p:], '\n')
		var ln []byte
		rowStart := p
		if j < 0 {
			ln, p = buf[p:], len(buf)
		} else {
			ln, p = buf[p:p+j], p+j+1
		}
		if len(ln) > 0 && ln[len(ln)-1] == '\r' {
			ln = ln[:len(ln)-1]
		}
		if len(ln) == 0 {
			continue
		}
		fail := func(c int, msg string) error {
			name := ""
			if c >= 0 && c < ncols {
				name = columnName(cols, sel, c)
			}
			return &CSVError{Offset: begin + int64(rowStart), Line: line + lineBase, Start: start, Column: name, Msg: msg}
		}
		// a line takes the quoted path only when some field starts with a quote (RFC 4180)
		quoted := ln[0] == '"' || bytes.Contains(ln, quoteAfterDelim[delim])
		if quoted {
			var err error
			fs, err = splitFields(fs[:0], ln, delim)
			if err != nil {
				return 0, fail(len(fs), err.Error())
			}
			if len(fs) != ncols {
				return 0, fail(-1, fmt.Sprintf("%d fields, want %d", len(fs), ncols))
			}
		}
		k := 0 // start of the current field in ln
		for c := 0; c < ncols; c++ {
			var f []byte
			if quoted {
				f = fs[c]
			} else {
				e := k
				for e < len(ln) && ln[e] != delim {
					e++
				}
				if c == ncols-1 {
					if e < len(ln) {
						return 0, fail(-1, fmt.Sprintf("more than %d fields", ncols))
					}
				} else if e >= len(ln) {
					return 0, fail(-1, fmt.Sprintf("%d fields, want %d", c+1, ncols))
				}
				f = ln[k:e]
				k = e + 1
			}
			o := sel[c]
			if o < 0 {
				continue
			}
			col := cols[o]
			if (len(f) == 0 && naEmpty) || (naOther && isNA(f, na)) {
				col.nulls = append(col.nulls, int32(rows))
				switch col.typ {
				case tInt64, tTimestamp, tBool:
					col.i64 = append(col.i64, 0)
				case tFloat64:
					col.f64 = append(col.f64, 0)
				case tString:
					col.offs = append(col.offs, int32(len(col.data)))
				}
				continue
			}
			switch col.typ {
			case tInt64:
				x, ok := parseInt(f)
				if !ok {
					return 0, fail(c, fmt.Sprintf("cannot parse %q as int64", f))
				}
				col.i64 = append(col.i64, x)
			case tFloat64:
				x, ok := parseFloat(f)
				if !ok {
					return 0, fail(c, fmt.Sprintf("cannot parse %q as float64", f))
				}
				col.f64 = append(col.f64, x)
			case tString:
				col.data = append(col.data, f...)
				col.offs = append(col.offs, int32(len(col.data)))
			case tBool:
				x, ok := parseBool(f)
				if !ok {
					return 0, fail(c, fmt.Sprintf("cannot parse %q as bool", f))
				}
				b := int64(0)
				if x {
					b = 1
				}
				col.i64 = append(col.i64, b)
			case tTimestamp:
				x, ok := parseTimestamp(f)
				if !ok {
					return 0, fail(c, fmt.Sprintf("cannot parse %q as timestamp", f))
				}
				col.i64 = append(col.i64, x)
			}
		}
		rows++
	}
	return rows, nil
}

func columnName(cols []*csvCol, sel []int, c int) string {
	if o := sel[c]; o >= 0 {
		return cols[o].name
	}
	return fmt.Sprintf("#%d", c)
}

func buildCSVRecord(mem memory.Allocator, cols []*csvCol, rows int) arrow.RecordBatch {
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		dt := arrowType(c.typ)
		fields[i] = arrow.Field{Name: c.name, Type: dt, Nullable: true}
		switch c.typ {
		case tInt64, tTimestamp:
			o := newFixedOut[int64](mem, rows)
			copy(o.V, c.i64)
			for _, r := range c.nulls {
				o.setNull(int(r))
			}
			arrs[i] = o.finish(dt)
		case tFloat64:
			o := newFixedOut[float64](mem, rows)
			copy(o.V, c.f64)
			for _, r := range c.nulls {
				o.setNull(int(r))
			}
			arrs[i] = o.finish(dt)
		case tBool:
			o := newBoolOut(mem, rows)
			for r, x := range c.i64 {
				o.set(r, x != 0)
			}
			for _, r := range c.nulls {
				o.setNull(int(r))
			}
			arrs[i] = o.finish()
		case tString:
			valid := bitmap{n: rows}
			for _, r := range c.nulls {
				valid.setNull(mem, int(r))
			}
			arrs[i] = buildString(mem, c.offs, c.data, &valid)
		}
	}
	return newRecord(arrow.NewSchema(fields, nil), arrs, rows)
}

// ---- field parsers ----

func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	i := 0
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i = 1
		if len(b) == 1 {
			return 0, false
		}
	}
	if len(b)-i > 18 {
		x, err := strconv.ParseInt(unsafe.String(&b[0], len(b)), 10, 64)
		return x, err == nil
	}
	var n int64
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	if neg {
		n = -n
	}
	return n, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
	1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a decimal; plain numbers with at most 15 significant digits take an exact fast path
// (Clinger), the rest goes through strconv.
func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	i := 0
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i = 1
	}
	var mant uint64
	digits, frac := 0, 0
	dot := false
	ok := i < len(b)
	for ; i < len(b); i++ {
		c := b[i]
		if c == '.' && !dot {
			dot = true
			continue
		}
		d := c - '0'
		if d > 9 {
			ok = false
			break
		}
		mant = mant*10 + uint64(d)
		digits++
		if dot {
			frac++
		}
	}
	if ok && digits > 0 && digits <= 15 && frac <= 22 {
		f := float64(mant) / pow10[frac]
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	if err != nil {
		// strconv accepts "inf", "nan", hex floats, underscores only with base prefix; reject nothing more
		return 0, false
	}
	return f, true
}

func parseBool(b []byte) (bool, bool) {
	switch string(b) {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

func digits2(b []byte) (int, bool) {
	d0, d1 := b[0]-'0', b[1]-'0'
	if d0 > 9 || d1 > 9 {
		return 0, false
	}
	return int(d0)*10 + int(d1), true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseTimestamp parses YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][Z|±HH:MM] into microseconds since the epoch (UTC).
func parseTimestamp(b []byte) (int64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y1, ok1 := digits2(b[0:2])
	y2, ok2 := digits2(b[2:4])
	mo, ok3 := digits2(b[5:7])
	d, ok4 := digits2(b[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, false
	}
	us := daysFromCivil(y1*100+y2, mo, d) * 86400e6
	b = b[10:]
	if len(b) == 0 {
		return us, true
	}
	if b[0] != ' ' && b[0] != 'T' || len(b) < 6 || b[3] != ':' {
		return 0, false
	}
	hh, ok1 := digits2(b[1:3])
	mm, ok2 := digits2(b[4:6])
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	us += int64(hh*3600+mm*60) * 1e6
	b = b[6:]
	if len(b) >= 3 && b[0] == ':' {
		ss, ok := digits2(b[1:3])
		if !ok || ss > 60 {
			return 0, false
		}
		us += int64(ss) * 1e6
		b = b[3:]
		if len(b) > 0 && b[0] == '.' {
			b = b[1:]
			scale := int64(1e5)
			i := 0
			for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
				us += int64(b[i]-'0') * scale
				scale /= 10
			}
			if i == 0 {
				return 0, false
			}
			b = b[i:]
		}
	}
	switch {
	case len(b) == 0:
	case len(b) == 1 && b[0] == 'Z':
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		oh, ok1 := digits2(b[1:3])
		om, ok2 := digits2(b[4:6])
		if !ok1 || !ok2 {
			return 0, false
		}
		off := int64(oh*3600+om*60) * 1e6
		if b[0] == '+' {
			us -= off
		} else {
			us += off
		}
	default:
		return 0, false
	}
	return us, true
}

// quoteAfterDelim[d] is the two bytes d, '"': a field that starts with a quote.
var quoteAfterDelim = func() (t [256][]byte) {
	for i := range t {
		t[i] = []byte{byte(i), '"'}
	}
	return
}()
