package kernels

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// dictOf dictionary-encodes the string columns of rec (DictEncodeStrings) and
// checks that decoding gives rec back.
func dictOf(t *testing.T, mem memory.Allocator, rec arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	d, err := DictEncodeStrings(mem, rec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeDictionaries(mem, d)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Release()
	if !array.RecordEqual(back, rec) {
		t.Fatalf("decode(encode(rec)) = %v, want %v", back, rec)
	}
	return d
}

func TestDictionaryGroupBy(t *testing.T) {
	mem := checkedMem(t)
	rec := table(t, mem,
		"k", []any{"b", "a", nil, "b", "a", "c", nil, "b", "dd", "a"},
		"j", []any{1, 1, 2, 1, 1, 3, 2, 1, 1, 1},
		"v", []any{1.0, 2.0, nil, 4.0, nil, nil, 6.0, 4.0, 1.5, 0.5},
		"s", []any{"x", "y", "z", nil, "w", nil, "z", "x", "y", "y"},
	)
	defer rec.Release()
	d := dictOf(t, mem, rec)
	defer d.Release()
	if !IsDictionary(d.Schema().Field(0).Type) || IsDictionary(d.Schema().Field(1).Type) {
		t.Fatalf("encoded schema %s", d.Schema())
	}
	aggs := []Agg{{Op: "sum", Col: "v"}, {Op: "size"}, {Op: "max", Col: "s", Name: "max_s"}, {Op: "nunique", Col: "s", Name: "nu"},
		{Op: "first", Col: "k", Name: "first_k"}}
	for _, keys := range [][]string{{"k"}, {"k", "j"}, {"s", "k"}, {"j"}} {
		want, err := GroupBy(mem, rec, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := GroupBy(mem, d, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		// plain keys out, same groups in the same (first appearance) order
		if !array.RecordEqual(got, want) {
			t.Fatalf("keys %v: got %v\nwant %v", keys, got, want)
		}
		want.Release()
		got.Release()
	}
	// slices, partials of different dictionaries combined, the adaptive pass-through
	a, b := d.NewSlice(0, 4), d.NewSlice(4, 10)
	defer a.Release()
	defer b.Release()
	b2, err := DecodeDictionaries(mem, b)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Release()
	bd := dictOf(t, mem, b2) // its own dictionary
	defer bd.Release()
	for _, partial := range []func(memory.Allocator, arrow.RecordBatch, []string, []Agg) (arrow.RecordBatch, error){GroupByPartial, groupByRows} {
		pa, err := partial(mem, a, []string{"k"}, aggs)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := partial(mem, bd, []string{"k"}, aggs)
		if err != nil {
			t.Fatal(err)
		}
		comb, err := GroupByCombine(mem, []arrow.RecordBatch{pa, pb}, []string{"k"}, aggs)
		if err != nil {
			t.Fatal(err)
		}
		fin, err := GroupByFinal(mem, comb, []string{"k"}, aggs)
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := GroupBy(mem, rec, []string{"k"}, aggs)
		if got, want := sorted(t, mem, fin, "k"), sorted(t, mem, whole, "k"); got != want {
			t.Fatalf("combined %s\nwant %s", got, want)
		}
		for _, r := range []arrow.RecordBatch{pa, pb, comb, fin, whole} {
			r.Release()
		}
	}
}

// A dictionary with repeated values and null values, null indices: equal
// values are one group, NA indices and NA values one NA group.
func TestDictionaryKeysUnnormalized(t *testing.T) {
	mem := checkedMem(t)
	db := array.NewStringBuilder(mem)
	db.AppendValues([]string{"x", "y", "x", ""}, []bool{true, true, true, false})
	dict := db.NewArray()
	db.Release()
	defer dict.Release()
	ib := array.NewInt32Builder(mem)
	ib.AppendValues([]int32{0, 1, 2, 3, 0, 1}, []bool{true, true, true, true, false, true})
	idx := ib.NewArray()
	ib.Release()
	defer idx.Release()
	k := array.NewDictionaryArray(dictStringType, idx, dict)
	defer k.Release()
	rec := newRecord(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dictStringType, Nullable: true}}, nil), []arrow.Array{k}, 6)
	defer rec.Release()
	k.Retain()
	g, err := GroupBy(mem, rec, []string{"k"}, []Agg{{Op: "size"}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	if got, want := renderRec(g), "k=x|y|_ size=2|2|2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestCSVDictionaryOption(t *testing.T) {
	mem := checkedMem(t)
	data := "a,b,c\nx,1,p\ny,2,\nx,3,q\n,4,p\n"
	opts := CSVOptions{Dictionary: true}
	rec, err := ReadCSVRange(mem, strings.NewReader(data), int64(len(data)), 0, int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if !IsDictionary(rec.Schema().Field(0).Type) || !IsDictionary(rec.Schema().Field(2).Type) || IsDictionary(rec.Schema().Field(1).Type) {
		t.Fatalf("schema %s", rec.Schema())
	}
	if n := rec.Column(0).(*array.Dictionary).Dictionary().Len(); n != 2 {
		t.Fatalf("dictionary of a has %d values", n)
	}
	plain, err := DecodeDictionaries(mem, rec, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Release()
	if IsDictionary(plain.Schema().Field(0).Type) || !IsDictionary(plain.Schema().Field(2).Type) {
		t.Fatalf("decoded schema %s", plain.Schema())
	}
	if got := plain.Column(0).(*array.String).ValueStr(3); got != "(null)" {
		t.Fatalf("NA decoded as %q", got)
	}
}
