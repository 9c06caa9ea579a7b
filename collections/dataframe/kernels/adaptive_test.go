package kernels

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Every row its own group (the adaptive partial's pass-through) gives states
// that combine with grouped partials into the same answer, for every agg.
func TestGroupByRowsCombines(t *testing.T) {
	mem := checkedMem(t)
	rec, aggs, want := allAggsCase(t, mem)
	defer rec.Release()
	keys := []string{"k", "j"}
	for cut := int64(0); cut <= rec.NumRows(); cut++ {
		a, b := Slice(rec, 0, cut), Slice(rec, cut, rec.NumRows())
		pa, err := groupByRows(mem, a, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		if pa.NumRows() != a.NumRows() {
			t.Fatalf("groupByRows: %d rows of %d", pa.NumRows(), a.NumRows())
		}
		pb, err := GroupByPartial(mem, b, keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		if !pa.Schema().Equal(pb.Schema()) {
			t.Fatalf("schemas differ:\n%v\n%v", pa.Schema(), pb.Schema())
		}
		a.Release()
		b.Release()
		c, err := GroupByCombine(mem, []arrow.RecordBatch{pa, pb}, keys, aggs)
		pa.Release()
		pb.Release()
		if err != nil {
			t.Fatal(err)
		}
		res, err := GroupByFinal(mem, c, keys, aggs)
		c.Release()
		if err != nil {
			t.Fatal(err)
		}
		if got := sorted(t, mem, res, "k"); got != want {
			t.Fatalf("cut %d: got  %s\nwant %s", cut, got, want)
		}
		res.Release()
	}
	if _, err := groupByRows(mem, rec, []string{"nope"}, aggs); err == nil {
		t.Fatal("unknown key column")
	}
}

// The adaptive partial passes rows through when nearly every sampled row is
// a new group (q10's six keys), groups otherwise (q1's id1), and either
// way the combined answer is GroupBy's.
func TestGroupByPartialAdaptive(t *testing.T) {
	mem := checkedMem(t)
	data := genG1(4*adaptiveSample, 100)
	rec, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	aggs := []Agg{{Op: "sum", Col: "v3"}, {Op: "size", Name: "count"}, {Op: "max", Col: "v1"}}
	for _, tc := range []struct {
		keys        []string
		passThrough bool
	}{
		{[]string{"id1", "id2", "id3", "id4", "id5", "id6"}, true},
		{[]string{"id1"}, false},
		{[]string{"id3"}, false},
	} {
		p, err := GroupByPartialAdaptive(mem, rec, tc.keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.NumRows() == rec.NumRows(); got != tc.passThrough {
			t.Errorf("%v: pass-through %v, want %v (%d of %d rows)", tc.keys, got, tc.passThrough, p.NumRows(), rec.NumRows())
		}
		c, err := GroupByCombine(mem, []arrow.RecordBatch{p}, tc.keys, aggs)
		p.Release()
		if err != nil {
			t.Fatal(err)
		}
		got, err := GroupByFinal(mem, c, tc.keys, aggs)
		c.Release()
		if err != nil {
			t.Fatal(err)
		}
		want, err := GroupBy(mem, rec, tc.keys, aggs)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := sorted(t, mem, got, tc.keys...), sorted(t, mem, want, tc.keys...); g != w {
			t.Errorf("%v: adaptive answer differs from GroupBy's", tc.keys)
		}
		got.Release()
		want.Release()
	}
}

// ConcatParallel gives Concat's record, whatever the workers.
func TestConcatParallel(t *testing.T) {
	mem := checkedMem(t)
	data := genG1(5000, 10)
	var parts []arrow.RecordBatch
	for _, r := range [][2]int64{{0, 1}, {1, int64(len(data) / 3)}, {int64(len(data) / 3), int64(len(data))}} {
		p, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), r[0], r[1], CSVOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	defer releaseAll(parts)
	want, err := Concat(mem, parts)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	for _, w := range []int{0, 1, 2, 4, 64} {
		got, err := ConcatParallel(mem, parts, w)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(got, want) || got.NumRows() != 5000 {
			t.Fatalf("workers %d: records differ", w)
		}
		got.Release()
	}
}
