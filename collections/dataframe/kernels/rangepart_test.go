package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Range partitioning then sorting each part gives the whole record sorted,
// for single and multiple keys, both directions, NAs last.
func TestRangePartition(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	var a, b, c []any
	for i := range 500 {
		if i%17 == 0 {
			a = append(a, nil)
		} else {
			a = append(a, r.IntN(40))
		}
		if i%13 == 0 {
			b = append(b, nil)
		} else {
			b = append(b, fmt.Sprintf("s%02d", r.IntN(30)))
		}
		c = append(c, r.Float64())
	}
	rec := table(t, mem, "a", a, "b", b, "c", c)
	defer rec.Release()
	for _, tc := range []struct {
		by   []string
		desc []bool
		n    int
	}{
		{[]string{"a"}, nil, 4},
		{[]string{"c"}, nil, 7},
		{[]string{"a"}, []bool{true}, 3},
		{[]string{"b", "a"}, []bool{false, true}, 5},
		{[]string{"b"}, []bool{true}, 1},
		{[]string{"a", "c"}, nil, 9},
	} {
		t.Run(fmt.Sprint(tc.by, tc.desc, tc.n), func(t *testing.T) {
			whole, err := Sort(mem, rec, tc.by, tc.desc, true)
			if err != nil {
				t.Fatal(err)
			}
			defer whole.Release()
			// bounds: every (rows/n)-th row of the sorted record
			var bi []int32
			for j := 1; j < tc.n; j++ {
				bi = append(bi, int32(int(whole.NumRows())*j/tc.n))
			}
			bounds, err := Take(mem, whole, bi)
			if err != nil {
				t.Fatal(err)
			}
			defer bounds.Release()
			parts, err := RangePartition(mem, rec, tc.by, tc.desc, bounds, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			sortedParts := make([]arrow.RecordBatch, 0, len(parts))
			for _, p := range parts {
				s, err := Sort(mem, p, tc.by, tc.desc, true)
				if err != nil {
					t.Fatal(err)
				}
				p.Release()
				sortedParts = append(sortedParts, s)
			}
			got, err := Concat(mem, sortedParts)
			if err != nil {
				t.Fatal(err)
			}
			releaseAll(sortedParts)
			defer got.Release()
			if got.NumRows() != whole.NumRows() {
				t.Fatalf("%d rows, want %d", got.NumRows(), whole.NumRows())
			}
			// Sorting is stable and range parts keep row order, so the
			// result is the same rows in the same order.
			for i := range got.NumCols() {
				if !array.Equal(got.Column(int(i)), whole.Column(int(i))) {
					t.Fatalf("column %d differs:\n%v\n%v", i, got.Column(int(i)), whole.Column(int(i)))
				}
			}
		})
	}
	// Bad input.
	if _, err := RangePartition(mem, rec, []string{"a"}, nil, rec, 0); err == nil {
		t.Fatal("n = 0 accepted")
	}
	if _, err := RangePartition(mem, rec, []string{"nope"}, nil, rec, 2); err == nil {
		t.Fatal("unknown column accepted")
	}
	bad := table(t, mem, "a", []any{"x"})
	defer bad.Release()
	if _, err := RangePartition(mem, rec, []string{"a"}, nil, bad, 2); err == nil {
		t.Fatal("bounds of another type accepted")
	} else {
		t.Log(err)
	}
}
