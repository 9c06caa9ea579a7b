package expr

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"
)

func testRecord(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "f", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "t", Type: ts, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	valid := []bool{true, true, true, false}
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, -7, 3, 0}, valid)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{2, 2, 0, 5}, []bool{true, true, true, true})
	b.Field(2).(*array.Float64Builder).AppendValues([]float64{1.5, -2, 0, 0}, []bool{true, true, true, false})
	b.Field(3).(*array.StringBuilder).AppendValues([]string{"Apple", "banana", "ÄRGER", ""}, []bool{true, true, true, false})
	b.Field(4).(*array.BooleanBuilder).AppendValues([]bool{true, false, true, false}, []bool{true, true, false, true})
	tb := b.Field(5).(*array.TimestampBuilder)
	for _, s := range []string{"2024-02-29T13:45:30Z", "1969-12-31T23:59:59Z", "2000-01-03T00:00:00Z"} {
		tm, _ := time.Parse(time.RFC3339, s)
		tb.Append(arrow.Timestamp(tm.UnixMicro()))
	}
	tb.AppendNull()
	return b.NewRecordBatch()
}

// render formats an array as a compact string, null as "_".
func render(a arrow.Array) string {
	parts := make([]string, a.Len())
	for i := range parts {
		if a.IsNull(i) {
			parts[i] = "_"
			continue
		}
		switch x := a.(type) {
		case *array.Int64:
			parts[i] = fmt.Sprint(x.Value(i))
		case *array.Float64:
			parts[i] = fmt.Sprint(x.Value(i))
		case *array.String:
			parts[i] = x.Value(i)
		case *array.Boolean:
			parts[i] = fmt.Sprint(x.Value(i))
		case *array.Timestamp:
			parts[i] = time.UnixMicro(int64(x.Value(i))).UTC().Format("2006-01-02T15:04:05")
		default:
			parts[i] = a.ValueStr(i)
		}
	}
	return strings.Join(parts, " ")
}

func TestEval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testRecord(t, mem)
	defer rec.Release()
	cases := []struct {
		e    Expr
		want string
		typ  string
	}{
		{Col("a").Add(Col("b")), "3 -5 3 _", "int64"},
		{Col("a").Sub(1), "0 -8 2 _", "int64"},
		{Col("a").Mul(Col("x")), "1.5 14 0 _", "float64"},
		{Col("a").Div(Col("b")), "0.5 -3.5 +Inf _", "float64"},
		{Col("a").Mod(Col("b")), "1 1 _ _", "int64"},
		{Col("x").Neg(), "-1.5 2 -0 _", "float64"},
		{Col("a").Gt(0), "true false true _", "bool"},
		{Col("x").Le(Col("a")), "false false true _", "bool"},
		{Col("s").Eq("banana"), "false true false _", "bool"},
		{Col("a").Gt(0).And(Col("f")), "true false _ false", "bool"},
		{Col("a").Gt(0).Or(Col("f")), "true false true _", "bool"},
		{Col("f").Not(), "false true _ true", "bool"},
		{Col("a").IsNull(), "false false false true", "bool"},
		{Col("s").NotNull(), "true true true false", "bool"},
		{Col("a").FillNull(-1), "1 -7 3 -1", "int64"},
		{Col("x").FillNull(Col("b")), "1.5 -2 0 5", "float64"},
		{Col("s").FillNull("?"), "Apple banana ÄRGER ?", "utf8"},
		{Col("a").Cast("float64").Div(2), "0.5 -3.5 1.5 _", "float64"},
		{Col("x").Cast("int64"), "1 -2 0 _", "int64"},
		{Col("a").Cast("string"), "1 -7 3 _", "utf8"},
		{Lit("42").Cast("int64").Add(Col("b")), "44 44 42 47", "int64"},
		{Col("s").Contains("an"), "false true false _", "bool"},
		{Col("s").StartsWith("Ap"), "true false false _", "bool"},
		{Col("s").EndsWith("ER"), "false false true _", "bool"},
		{Col("s").Lower(), "apple banana ärger _", "utf8"},
		{Col("s").Upper(), "APPLE BANANA ÄRGER _", "utf8"},
		{Col("s").Len(), "5 6 5 _", "int64"},
		{Col("t").Year(), "2024 1969 2000 _", "int64"},
		{Col("t").Month(), "2 12 1 _", "int64"},
		{Col("t").Day(), "29 31 3 _", "int64"},
		{Col("t").Hour(), "13 23 0 _", "int64"},
		{Col("t").Minute(), "45 59 0 _", "int64"},
		{Col("t").Second(), "30 59 0 _", "int64"},
		{Col("t").Weekday(), "3 2 0 _", "int64"},
		{Col("t").Gt("2000-01-01"), "true false true _", "bool"},
		{Col("t").Ge(Lit(time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC))), "true false true _", "bool"},
		{Col("s").Cast("timestamp").IsNull(), "false false false true", "bool"},
		{Lit(1).Add(2), "3 3 3 3", "int64"},
		{Lit(nil).IsNull(), "true true true true", "bool"},
		{Col("a").Add(Lit(nil)), "_ _ _ _", "int64"},
	}
	for _, c := range cases {
		t.Run(c.e.String(), func(t *testing.T) {
			if strings.Contains(c.e.String(), "cast(s, timestamp)") {
				// the strings are not timestamps: an error naming the value
				_, err := Eval(mem, rec, c.e)
				if err == nil || !strings.Contains(err.Error(), `"Apple"`) {
					t.Fatalf("want a cast error naming the value, got %v", err)
				}
				return
			}
			got, err := Eval(mem, rec, c.e)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if r := render(got); r != c.want {
				t.Errorf("got %s, want %s", r, c.want)
			}
			if got.DataType().String() != c.typ {
				t.Errorf("type %s, want %s", got.DataType(), c.typ)
			}
			// plans are data: msgpack round-trips every expression
			b, err := msgpack.Marshal(c.e)
			if err != nil {
				t.Fatal(err)
			}
			var back Expr
			if err := msgpack.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.String() != c.e.String() {
				t.Fatalf("round trip: %s != %s", back, c.e)
			}
			again, err := Eval(mem, rec, back)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Release()
			if render(again) != render(got) {
				t.Fatalf("round-tripped expression evaluates to %s", render(again))
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testRecord(t, mem)
	defer rec.Release()
	cases := []struct {
		e    Expr
		want []string
	}{
		{Col("nope").Add(1), []string{`unknown column "nope"`}},
		{Col("s").Add(1), []string{`column "s"`, "utf8", "number"}},
		{Col("a").Gt("x"), []string{"cannot compare", `column "a"`, "int64", "string"}},
		{Col("a").And(Col("f")), []string{`column "a"`, "want bool"}},
		{Col("a").Year(), []string{`column "a"`, "timestamp"}},
		{Col("s").Cast("int64"), []string{"cannot cast", `"Apple"`}},
		{Col("a").Cast("decimal"), []string{"unknown target type"}},
		{Col("a").Lower(), []string{`column "a"`, "want string"}},
	}
	for _, c := range cases {
		t.Run(c.e.String(), func(t *testing.T) {
			_, err := Eval(mem, rec, c.e)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestFilterProjectColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testRecord(t, mem)
	defer rec.Release()
	pred := Col("a").Gt(0).And(Col("s").Contains("p").Or(Col("x").Eq(0)))
	if got := fmt.Sprint(pred.Columns()); got != "[a s x]" {
		t.Errorf("columns %s", got)
	}
	if got := pred.String(); got != `((a > 0) AND (contains(s, "p") OR (x == 0)))` {
		t.Errorf("string %s", got)
	}
	f, err := Filter(mem, rec, pred)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	if f.NumRows() != 2 || render(f.Column(0)) != "1 3" || render(f.Column(3)) != "Apple ÄRGER" {
		t.Fatalf("filter: %d rows, a=%s s=%s", f.NumRows(), render(f.Column(0)), render(f.Column(3)))
	}
	if _, err := Filter(mem, rec, Col("a")); err == nil || !strings.Contains(err.Error(), "want bool") {
		t.Fatalf("filter by an int column: %v", err)
	}
	p, err := Project(mem, rec, []string{"sum", "up"}, []Expr{Col("a").Add(Col("b")), Col("s").Upper()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if p.NumCols() != 2 || render(p.Column(0)) != "3 -5 3 _" || p.Schema().Field(1).Name != "up" {
		t.Fatalf("project: %v", p)
	}
}
