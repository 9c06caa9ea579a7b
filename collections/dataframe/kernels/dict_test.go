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

// Partial states whose keys are dictionaries (the adaptive pass-through) or
// plain (a grouped partial), with different dictionaries, hash-partition
// to the same buckets as plain keys and combine to the answer of the whole.
func TestDictionaryKeysThroughSplitAndCombine(t *testing.T) {
	mem := checkedMem(t)
	rec := table(t, mem,
		"k", []any{"b", "a", nil, "b", "a", "c", nil, "b", "dd", "a", "e", "c"},
		"j", []any{1, 1, 2, 1, 1, 3, 2, 1, 1, 1, 4, 3},
		"v", []any{1.0, 2.0, nil, 4.0, nil, nil, 6.0, 4.0, 1.5, 0.5, 2.0, 3.0},
	)
	defer rec.Release()
	keys := []string{"k", "j"}
	aggs := []Agg{{Op: "sum", Col: "v"}, {Op: "size"}, {Op: "mean", Col: "v", Name: "m"}}
	a, b, c := rec.NewSlice(0, 4), rec.NewSlice(4, 9), rec.NewSlice(9, 12)
	defer a.Release()
	defer b.Release()
	defer c.Release()
	da, db := dictOf(t, mem, a), dictOf(t, mem, b) // two dictionaries
	defer da.Release()
	defer db.Release()
	pa, err := groupByRows(mem, da, keys, aggs)
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Release()
	if !IsDictionary(pa.Schema().Field(0).Type) {
		t.Fatalf("pass-through partial lost the dictionary: %s", pa.Schema())
	}
	pb, err := groupByRows(mem, db, keys, aggs)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Release()
	pc, err := GroupByPartial(mem, c, keys, aggs) // plain keys
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Release()

	// Buckets by value: the dictionary partial's rows land where the
	// decoded rows land.
	const n = 3
	for _, p := range []arrow.RecordBatch{pa, pb} {
		plain, err := DecodeDictionaries(mem, p)
		if err != nil {
			t.Fatal(err)
		}
		bd, err := HashPartition(mem, p, keys, n)
		if err != nil {
			t.Fatal(err)
		}
		bp, err := HashPartition(mem, plain, keys, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if !IsDictionary(bd[i].Schema().Field(0).Type) {
				t.Fatalf("bucket %d decoded the dictionary", i)
			}
			got, err := DecodeDictionaries(mem, bd[i])
			if err != nil {
				t.Fatal(err)
			}
			if !array.RecordEqual(got, bp[i]) {
				t.Fatalf("bucket %d: %s, want %s", i, renderRec(got), renderRec(bp[i]))
			}
			got.Release()
		}
		releaseAll(bd)
		releaseAll(bp)
		plain.Release()
	}

	src := map[arrow.RecordBatch]arrow.RecordBatch{pa: a, pb: b, pc: c}
	for _, parts := range [][]arrow.RecordBatch{{pa, pb}, {pa, pb, pc}, {pc, pa}, {pa}} {
		var rows []arrow.RecordBatch
		for _, p := range parts {
			rows = append(rows, src[p])
		}
		raw, err := Concat(mem, rows)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := GroupBy(mem, raw, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		comb, err := GroupByCombine(mem, parts, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		if IsDictionary(comb.Schema().Field(0).Type) {
			t.Fatalf("combined keys are a dictionary: %s", comb.Schema())
		}
		more, err := GroupByCombine(mem, []arrow.RecordBatch{comb}, keys, aggs) // a tree's next level
		if err != nil {
			t.Fatal(err)
		}
		fin, err := GroupByFinal(mem, more, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sorted(t, mem, fin, keys...), sorted(t, mem, whole, keys...); got != want {
			t.Fatalf("%d partials combined: %s\nwant %s", len(parts), got, want)
		}
		for _, r := range []arrow.RecordBatch{raw, whole, comb, more, fin} {
			r.Release()
		}
	}
}

// unifyDictKeys maps equal values of different dictionaries to one entry,
// NA values and NA indices to NA rows.
func TestUnifyDictKeys(t *testing.T) {
	mem := checkedMem(t)
	mk := func(dict []string, dvalid []bool, idx []int32, ivalid []bool) arrow.RecordBatch {
		db := array.NewStringBuilder(mem)
		db.AppendValues(dict, dvalid)
		d := db.NewArray()
		db.Release()
		ib := array.NewInt32Builder(mem)
		ib.AppendValues(idx, ivalid)
		ix := ib.NewArray()
		ib.Release()
		k := array.NewDictionaryArray(dictStringType, ix, d)
		d.Release()
		ix.Release()
		return newRecord(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dictStringType, Nullable: true}}, nil), []arrow.Array{k}, len(idx))
	}
	r1 := mk([]string{"x", "y", ""}, []bool{true, true, false}, []int32{0, 1, 2, 0}, []bool{true, true, true, false})
	r2 := mk([]string{"z", "y", "x", "y"}, nil, []int32{3, 2, 0, 1}, nil)
	defer r1.Release()
	defer r2.Release()
	u := unifyDictKeys(mem, []arrow.RecordBatch{r1, r2}, []string{"k"})
	defer releaseAll(u)
	d0 := u[0].Column(0).(*array.Dictionary).Dictionary()
	if u[0].Column(0).Data().Dictionary() != u[1].Column(0).Data().Dictionary() {
		t.Fatal("the records do not share one dictionary")
	}
	if d0.Len() != 3 {
		t.Fatalf("unified dictionary %v, want 3 distinct values", d0)
	}
	all, err := Concat(mem, u)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Release()
	plain, err := DecodeDictionaries(mem, all)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Release()
	if got, want := renderRec(plain), "k=x|y|_|_|y|x|z|y"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
