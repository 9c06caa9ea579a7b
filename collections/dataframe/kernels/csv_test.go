package kernels

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"
)

const sampleCSV = "i,f,s,b,t,n\r\n" +
	"1,1.5,plain,true,2024-01-02,\r\n" +
	"-2,,\"quoted, with comma\",false,2024-01-02 03:04:05,\r\n" +
	",3e2,\"say \"\"hi\"\"\",,2024-01-02T03:04:05.25Z,\r\n" +
	"\r\n" +
	"4,-0.125,,TRUE,,\r\n" +
	"5,7,x\"y,False,1969-12-31 23:59:59,\r\n"

func readAll(t *testing.T, mem memory.Allocator, data []byte, opts CSVOptions) arrow.RecordBatch {
	t.Helper()
	rec, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestCSVInferAndParse(t *testing.T) {
	mem := checkedMem(t)
	rec := readAll(t, mem, []byte(sampleCSV), CSVOptions{})
	defer rec.Release()
	want := "i: int64, f: float64, s: utf8, b: bool, t: timestamp[us, tz=UTC], n: utf8"
	var got []string
	for _, f := range rec.Schema().Fields() {
		got = append(got, f.Name+": "+f.Type.String())
	}
	if strings.Join(got, ", ") != want {
		t.Fatalf("schema %s, want %s", strings.Join(got, ", "), want)
	}
	if rec.NumRows() != 5 {
		t.Fatalf("%d rows", rec.NumRows())
	}
	check := func(col int, want string) {
		t.Helper()
		if g := render(rec.Column(col)); g != want {
			t.Errorf("column %s: %s, want %s", rec.Schema().Field(col).Name, g, want)
		}
	}
	check(0, "1|-2|_|4|5")
	check(1, "1.5|_|300|-0.125|7")
	check(2, `plain|quoted, with comma|say "hi"|_|x"y`)
	check(3, "true|false|_|true|false")
	check(4, "2024-01-02T00:00:00|2024-01-02T03:04:05|2024-01-02T03:04:05.25|_|1969-12-31T23:59:59")
	check(5, "_|_|_|_|_")
}

func render(a arrow.Array) string {
	parts := make([]string, a.Len())
	for i := range parts {
		switch {
		case a.IsNull(i):
			parts[i] = "_"
		case a.DataType().ID() == arrow.TIMESTAMP:
			ts := a.(*array.Timestamp).Value(i)
			parts[i] = strings.TrimSuffix(ts.ToTime(arrow.Microsecond).UTC().Format("2006-01-02T15:04:05.999999"), ".")
		default:
			parts[i] = a.ValueStr(i)
		}
	}
	return strings.Join(parts, "|")
}

func renderRec(r arrow.RecordBatch) string {
	var parts []string
	for i, c := range r.Columns() {
		parts = append(parts, r.Schema().Field(i).Name+"="+render(c))
	}
	return strings.Join(parts, " ")
}

// Every split of the file into byte ranges reads every row exactly once.
func TestCSVRangesCoverEveryRow(t *testing.T) {
	mem := checkedMem(t)
	data := []byte(sampleCSV)
	opts := CSVOptions{}
	whole := readAll(t, mem, data, opts)
	defer whole.Release()
	want := renderRec(whole)
	size := int64(len(data))
	for a := int64(0); a <= size; a++ {
		for _, b := range []int64{a, (a + size) / 2, size} {
			var parts []arrow.RecordBatch
			for _, r := range [][2]int64{{0, a}, {a, b}, {b, size}} {
				rec, err := ReadCSVRange(mem, bytes.NewReader(data), size, r[0], r[1], opts)
				if err != nil {
					t.Fatalf("range %v: %v", r, err)
				}
				parts = append(parts, rec)
			}
			all, err := Concat(mem, parts)
			releaseAll(parts)
			if err != nil {
				t.Fatal(err)
			}
			if got := renderRec(all); got != want {
				t.Fatalf("split at %d, %d: %s\nwant %s", a, b, got, want)
			}
			all.Release()
		}
	}
}

func TestCSVOptions(t *testing.T) {
	mem := checkedMem(t)
	data := []byte("a;b;c\n1;NA;x\n2;-;y\n;3;\n")
	rec := readAll(t, mem, data, CSVOptions{Delimiter: ';', NAValues: []string{"NA", "-"}, Columns: []string{"c", "a"},
		Types: map[string]string{"a": "float64"}})
	defer rec.Release()
	if got := renderRec(rec); got != "c=x|y|_ a=1|2|_" {
		t.Fatalf("got %s", got)
	}
	if rec.Schema().Field(1).Type.ID() != arrow.FLOAT64 {
		t.Fatalf("override ignored: %s", rec.Schema())
	}
	nh := readAll(t, mem, []byte("1,x\n2,y\n"), CSVOptions{NoHeader: true, Names: []string{"k"}})
	defer nh.Release()
	if got := renderRec(nh); got != "k=1|2 f1=x|y" {
		t.Fatalf("no header: %s", got)
	}
	names, types, err := InferCSVTypes(bytes.NewReader([]byte(sampleCSV)), int64(len(sampleCSV)), CSVOptions{})
	if err != nil || len(names) != 6 || types["t"] != "timestamp" || types["f"] != "float64" {
		t.Fatalf("infer: %v %v %v", names, types, err)
	}
	// options are plain data
	o := CSVOptions{Delimiter: '|', Columns: []string{"a"}, Types: map[string]string{"a": "int64"}, NAValues: []string{""}}
	b, err := msgpack.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back CSVOptions
	if err := msgpack.Unmarshal(b, &back); err != nil || back.Delimiter != '|' || back.Types["a"] != "int64" || len(back.NAValues) != 1 {
		t.Fatalf("msgpack: %+v %v", back, err)
	}
}

func TestCSVErrors(t *testing.T) {
	mem := checkedMem(t)
	data := []byte("a,b\n1,2\n3,4\n5,x\n")
	_, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{Types: map[string]string{"b": "int64"}})
	var ce *CSVError
	if !errors.As(err, &ce) || ce.Offset != 12 || ce.Line != 4 || ce.Column != "b" || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("got %v (%+v)", err, ce)
	}
	_, err = ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 9, int64(len(data)), CSVOptions{Types: map[string]string{"b": "int64"}})
	if !errors.As(err, &ce) || ce.Offset != 12 || ce.Line != 1 || !strings.Contains(err.Error(), "range starting at 9") {
		t.Fatalf("got %v", err)
	}
	for _, bad := range []string{"a,b\n1\n", "a,b\n1,2,3\n", "a,b\n\"x,1\n"} {
		_, err := ReadCSVRange(mem, bytes.NewReader([]byte(bad)), int64(len(bad)), 0, int64(len(bad)), CSVOptions{})
		if !errors.As(err, &ce) || ce.Line != 2 || ce.Offset != 4 {
			t.Errorf("%q: got %v", bad, err)
		}
	}
	_, err = ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{Columns: []string{"zz"}})
	if err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Fatalf("unknown column: %v", err)
	}
}

func TestCSVGzip(t *testing.T) {
	mem := checkedMem(t)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write([]byte(sampleCSV))
	w.Close()
	rec := readAll(t, mem, z.Bytes(), CSVOptions{})
	defer rec.Release()
	plain := readAll(t, mem, []byte(sampleCSV), CSVOptions{})
	defer plain.Release()
	if renderRec(rec) != renderRec(plain) {
		t.Fatalf("gzip: %s", renderRec(rec))
	}
	if _, err := ReadCSVRange(mem, bytes.NewReader(z.Bytes()), int64(z.Len()), 10, int64(z.Len()), CSVOptions{}); err == nil {
		t.Fatal("a split gzip range was accepted")
	}
}
