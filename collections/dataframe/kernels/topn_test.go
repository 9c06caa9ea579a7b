package kernels

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// topnData is a table with row ids, two keys with NAs, and value columns
// of each supported kind with NAs and many ties (f also has NaNs).
func topnData(t testing.TB, rows int, seed uint64) arrow.RecordBatch {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var id, k, j, f, i, s, b []any
	for n := range rows {
		id = append(id, n)
		k = append(k, maybeNA(r, fmt.Sprintf("k%d", r.IntN(7))))
		j = append(j, maybeNA(r, r.IntN(5)))
		x := float64(r.IntN(20)) / 2
		if r.IntN(25) == 0 {
			x = math.NaN()
		}
		f = append(f, maybeNA(r, x))
		i = append(i, maybeNA(r, r.IntN(30)-10))
		s = append(s, maybeNA(r, fmt.Sprintf("s%02d", r.IntN(40))))
		b = append(b, maybeNA(r, r.IntN(3) == 0))
	}
	return table(t, checkedMem(t), "id", id, "k", k, "j", j, "f", f, "i", i, "s", s, "b", b)
}

func maybeNA(r *rand.Rand, v any) any {
	if r.IntN(10) == 0 {
		return nil
	}
	return v
}

// cellKey renders row i of a (NA as "NA") for grouping in the reference.
func cellKey(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NA"
	}
	return a.ValueStr(i)
}

// compareCells orders non-NA values of a column as the kernel does.
func compareCells(a arrow.Array, x, y int) int {
	switch c := a.(type) {
	case *array.Int64:
		return cmp.Compare(c.Value(x), c.Value(y))
	case *array.Float64:
		return cmp.Compare(c.Value(x), c.Value(y))
	case *array.String:
		return strings.Compare(c.Value(x), c.Value(y))
	case *array.Boolean:
		bx, by := c.Value(x), c.Value(y)
		switch {
		case bx == by:
			return 0
		case bx:
			return 1
		}
		return -1
	}
	panic("type")
}

// refTopN is the plain computation: groups in the order of their first
// row with a value (not NA, not NaN), each group's such rows stably sorted best first, the first n
// kept; the result's "id" values, in order.
func refTopN(rec arrow.RecordBatch, keys []string, col string, n int, largest bool) []int64 {
	idOf := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
	v := rec.Column(rec.Schema().FieldIndices(col)[0])
	var order []string
	groups := map[string][]int{}
	for r := range int(rec.NumRows()) {
		var parts []string
		for _, k := range keys {
			parts = append(parts, cellKey(rec.Column(rec.Schema().FieldIndices(k)[0]), r))
		}
		g := strings.Join(parts, "|")
		if v.IsNull(r) {
			continue
		}
		if fv, ok := v.(*array.Float64); ok && math.IsNaN(fv.Value(r)) {
			continue
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	var out []int64
	for _, g := range order {
		rows := groups[g]
		slices.SortStableFunc(rows, func(a, b int) int {
			c := compareCells(v, a, b)
			if largest {
				return -c
			}
			return c
		})
		for _, r := range rows[:min(n, len(rows))] {
			out = append(out, idOf.Value(r))
		}
	}
	return out
}

func idsOf(rec arrow.RecordBatch) []int64 {
	return slices.Clone(rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64).Int64Values())
}

func TestNBestPerGroup(t *testing.T) {
	mem := checkedMem(t)
	rec := topnData(t, 3000, 7)
	defer rec.Release()
	for _, keys := range [][]string{{"k"}, {"k", "j"}, {"j"}, nil} {
		for _, col := range []string{"f", "i", "s", "b"} {
			for _, n := range []int{1, 2, 5, 400} { // 400: one growing heap per group
				for _, largest := range []bool{true, false} {
					name := fmt.Sprintf("%v/%s/n=%d/largest=%v", keys, col, n, largest)
					fn := NSmallestPerGroup
					if largest {
						fn = NLargestPerGroup
					}
					got, err := fn(mem, rec, keys, col, n)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !got.Schema().Equal(rec.Schema()) {
						t.Fatalf("%s: schema %s", name, got.Schema())
					}
					want := refTopN(rec, keys, col, n, largest)
					if ids := idsOf(got); !slices.Equal(ids, want) {
						t.Fatalf("%s: ids %v..., want %v...", name, ids[:min(20, len(ids))], want[:min(20, len(want))])
					}
					got.Release()
				}
			}
		}
	}
}

// The DataFrame applies the kernel to partitions, then to concatenations
// of the results (in order, or hash buckets of them): the same rows as on
// the whole table, ties included.
func TestNBestPerGroupCombines(t *testing.T) {
	mem := checkedMem(t)
	rec := topnData(t, 5000, 11)
	defer rec.Release()
	keys := []string{"k", "j"}
	for _, n := range []int{1, 3, 50} {
		for _, largest := range []bool{true, false} {
			fn := NSmallestPerGroup
			if largest {
				fn = NLargestPerGroup
			}
			want := refTopN(rec, keys, "f", n, largest)
			var partials []arrow.RecordBatch
			for lo := int64(0); lo < rec.NumRows(); lo += 700 {
				piece := Slice(rec, lo, min(lo+700, rec.NumRows()))
				p, err := fn(mem, piece, keys, "f", n)
				piece.Release()
				if err != nil {
					t.Fatal(err)
				}
				partials = append(partials, p)
			}
			all, err := Concat(mem, partials)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fn(mem, all, keys, "f", n)
			if err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(got); !slices.Equal(ids, want) {
				t.Fatalf("n=%d largest=%v: tree combine differs", n, largest)
			}
			got.Release()
			// hash buckets of each partial, bucket j of every partial combined
			const nb = 3
			buckets := make([][]arrow.RecordBatch, nb)
			for _, p := range partials {
				bs, err := HashPartition(mem, p, keys, nb)
				if err != nil {
					t.Fatal(err)
				}
				for j, b := range bs {
					buckets[j] = append(buckets[j], b)
				}
			}
			wantSet := map[int64]int{} // id -> rank within the whole result
			for r, id := range want {
				wantSet[id] = r
			}
			total := 0
			for j := range buckets {
				cat, err := Concat(mem, buckets[j])
				if err != nil {
					t.Fatal(err)
				}
				releaseAll(buckets[j])
				res, err := fn(mem, cat, keys, "f", n)
				cat.Release()
				if err != nil {
					t.Fatal(err)
				}
				ids := idsOf(res)
				res.Release()
				total += len(ids)
				for q, id := range ids {
					if _, ok := wantSet[id]; !ok {
						t.Fatalf("bucket %d: row %d is not among the best", j, id)
					}
					// groups keep their order of first appearance and their rank order
					if q > 0 && wantSet[ids[q-1]] > wantSet[id] {
						t.Fatalf("bucket %d: rows %d, %d out of order", j, ids[q-1], id)
					}
				}
			}
			if total != len(want) {
				t.Fatalf("buckets hold %d rows, want %d", total, len(want))
			}
			all.Release()
			releaseAll(partials)
		}
	}
}

func TestNBestPerGroupErrors(t *testing.T) {
	mem := checkedMem(t)
	rec := table(t, mem, "k", []any{"a", "b"}, "v", []any{1, 2})
	defer rec.Release()
	for _, tc := range []struct {
		keys []string
		col  string
		n    int
		want string
	}{
		{[]string{"k"}, "v", 0, "n is 0"},
		{[]string{"k"}, "v", -1, "n is -1"},
		{[]string{"k"}, "nope", 1, `unknown column "nope"`},
		{[]string{"nope"}, "v", 1, `unknown column "nope"`},
	} {
		_, err := NLargestPerGroup(mem, rec, tc.keys, tc.col, tc.n)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s %d: error %v, want %q", tc.keys, tc.col, tc.n, err, tc.want)
		}
	}
	// an empty input gives an empty result with the schema
	empty := Slice(rec, 0, 0)
	defer empty.Release()
	got, err := NSmallestPerGroup(mem, empty, []string{"k"}, "v", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if got.NumRows() != 0 || !got.Schema().Equal(rec.Schema()) {
		t.Fatalf("empty input: %d rows, schema %s", got.NumRows(), got.Schema())
	}
}

// Groups come out in the order of their first row with a value: a group
// whose first rows are NA comes after one seen later with a value, as the
// concatenated partials of a DataFrame would order them.
func TestNBestPerGroupOrder(t *testing.T) {
	mem := checkedMem(t)
	rec := table(t, mem,
		"id", []any{0, 1, 2, 3, 4, 5, 6},
		"k", []any{"a", "b", "a", nil, "c", "b", nil},
		"v", []any{nil, 1.0, 2.0, 5.0, nil, 1.0, 7.0},
	)
	defer rec.Release()
	got, err := NLargestPerGroup(mem, rec, []string{"k"}, "v", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if ids := idsOf(got); !slices.Equal(ids, []int64{1, 5, 2, 6, 3}) {
		t.Fatalf("ids %v, want [1 5 2 6 3]", ids)
	}
	// n beyond any group: every row with a value, no n-sized slots allocated
	all, err := NSmallestPerGroup(mem, rec, []string{"k"}, "v", math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Release()
	if ids := idsOf(all); !slices.Equal(ids, []int64{1, 5, 2, 3, 6}) {
		t.Fatalf("n = MaxInt: ids %v, want [1 5 2 3 6]", ids)
	}
}

// q8 in row form on 1e6 generated rows (1e4 groups of id6): the whole
// rows of the two largest v3 per group.
func BenchmarkNLargestPerGroupQ8(b *testing.B) {
	data := benchData(b)
	mem := memory.NewGoAllocator()
	rec, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Release()
	b.ResetTimer()
	var rows int64
	for b.Loop() {
		res, err := NLargestPerGroup(mem, rec, []string{"id6"}, "v3", 2)
		if err != nil {
			b.Fatal(err)
		}
		rows = res.NumRows()
		res.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
	b.ReportMetric(float64(rows), "rows")
}

// The aggregation with the same answer as values (a list per group).
func BenchmarkGroupByQ8Values(b *testing.B) {
	benchGroupBy(b, []string{"id6"}, []Agg{{Op: "nlargest", Col: "v3", N: 2}})
}
