package kernels

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// compareVal compares non-null values i and j of v.
func compareVal(v *view, i, j int) int {
	switch v.kind {
	case kInt64:
		return cmp.Compare(v.i64[i], v.i64[j])
	case kFloat64:
		return cmp.Compare(v.f64[i], v.f64[j])
	case kString:
		return bytes.Compare(v.str(i), v.str(j))
	case kBool:
		a, b := v.boolAt(i), v.boolAt(j)
		switch {
		case a == b:
			return 0
		case !a:
			return -1
		}
		return 1
	}
	return 0
}

// rowComparator orders rows by several columns; nulls go last (or first), whatever the direction.
func rowComparator(keys []*view, desc []bool, nullsLast bool) func(a, b int32) int {
	return func(a, b int32) int {
		for k, v := range keys {
			na, nb := v.isNull(int(a)), v.isNull(int(b))
			if na || nb {
				if na && nb {
					continue
				}
				if na == nullsLast {
					return 1
				}
				return -1
			}
			c := compareVal(v, int(a), int(b))
			if c != 0 {
				if desc[k] {
					return -c
				}
				return c
			}
		}
		return 0
	}
}

func sortKeys(rec arrow.RecordBatch, by []string, descending []bool) ([]*view, []bool, error) {
	if len(by) == 0 {
		return nil, nil, fmt.Errorf("sort: no columns given")
	}
	if len(descending) != 0 && len(descending) != len(by) {
		return nil, nil, fmt.Errorf("sort: %d columns but %d directions", len(by), len(descending))
	}
	desc := make([]bool, len(by))
	copy(desc, descending)
	keys := make([]*view, len(by))
	for i, c := range by {
		v, err := colView(rec, c)
		if err != nil {
			return nil, nil, fmt.Errorf("sort: %w", err)
		}
		keys[i] = v
	}
	return keys, desc, nil
}

type pair[T cmp.Ordered] struct {
	v T
	i int32
}

func sortPairs[T cmp.Ordered](vals []T, desc bool) []int32 {
	ps := make([]pair[T], len(vals))
	for i, x := range vals {
		ps[i] = pair[T]{x, int32(i)}
	}
	// Stable through the row index as the last key: pdqsort, several times
	// faster than SortStableFunc's in-place merge on millions of rows.
	if desc {
		slices.SortFunc(ps, func(a, b pair[T]) int {
			if c := cmp.Compare(b.v, a.v); c != 0 {
				return c
			}
			return cmp.Compare(a.i, b.i)
		})
	} else {
		slices.SortFunc(ps, func(a, b pair[T]) int {
			if c := cmp.Compare(a.v, b.v); c != 0 {
				return c
			}
			return cmp.Compare(a.i, b.i)
		})
	}
	idx := make([]int32, len(vals))
	for i, p := range ps {
		idx[i] = p.i
	}
	return idx
}

// SortIndices returns the row order that sorts rec by the columns by (stable; descending[i] per column, all
// ascending when empty; nulls last or first regardless of direction).
func SortIndices(rec arrow.RecordBatch, by []string, descending []bool, nullsLast bool) ([]int32, error) {
	keys, desc, err := sortKeys(rec, by, descending)
	if err != nil {
		return nil, err
	}
	if len(keys) == 1 && keys[0].valid == nil {
		switch keys[0].kind {
		case kInt64:
			return sortPairs(keys[0].i64, desc[0]), nil
		case kFloat64:
			return sortPairs(keys[0].f64, desc[0]), nil
		}
	}
	n := int(rec.NumRows())
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	// Stable through the row index as the last key: pdqsort's O(n log n)
	// rather than SortStableFunc's in-place merge (O(n log² n), several
	// times slower on millions of rows).
	cmp := rowComparator(keys, desc, nullsLast)
	slices.SortFunc(idx, func(a, b int32) int {
		if c := cmp(a, b); c != 0 {
			return c
		}
		return int(a) - int(b)
	})
	return idx, nil
}

// Sort returns rec sorted by the columns by (see SortIndices).
func Sort(mem memory.Allocator, rec arrow.RecordBatch, by []string, descending []bool, nullsLast bool) (arrow.RecordBatch, error) {
	idx, err := SortIndices(rec, by, descending, nullsLast)
	if err != nil {
		return nil, err
	}
	return Take(mem, rec, idx)
}

// topIndices returns the indices of the n first rows in the order given by cmp (a bounded heap: O(rows log n)).
func topIndices(rows, n int, less func(a, b int32) int) []int32 {
	if n <= 0 {
		return nil
	}
	// max-heap on the order: h[0] is the worst kept row
	h := make([]int32, 0, n)
	worse := func(a, b int32) bool { c := less(a, b); return c > 0 || (c == 0 && a > b) }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			w := l
			if r := l + 1; r < len(h) && worse(h[r], h[l]) {
				w = r
			}
			if !worse(h[w], h[i]) {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for r := 0; r < rows; r++ {
		ri := int32(r)
		if len(h) < n {
			h = append(h, ri)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !worse(h[i], h[p]) {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if worse(h[0], ri) {
			h[0] = ri
			down(0)
		}
	}
	slices.SortFunc(h, func(a, b int32) int {
		if c := less(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return h
}

func nBest(mem memory.Allocator, rec arrow.RecordBatch, n int, by []string, largest bool) (arrow.RecordBatch, error) {
	desc := make([]bool, len(by))
	for i := range desc {
		desc[i] = largest
	}
	keys, desc, err := sortKeys(rec, by, desc)
	if err != nil {
		return nil, err
	}
	// rows with a null in the first column are dropped (pandas nlargest)
	idx := topIndices(int(rec.NumRows()), n, rowComparator(keys, desc, true))
	out := idx[:0]
	for _, i := range idx {
		if !keys[0].isNull(int(i)) {
			out = append(out, i)
		}
	}
	return Take(mem, rec, out)
}

// NLargest returns the n rows with the largest values of by (ties by later columns, then row order), largest
// first. Rows whose first sort column is null are left out.
func NLargest(mem memory.Allocator, rec arrow.RecordBatch, n int, by []string) (arrow.RecordBatch, error) {
	return nBest(mem, rec, n, by, true)
}

// NSmallest is NLargest for the smallest values.
func NSmallest(mem memory.Allocator, rec arrow.RecordBatch, n int, by []string) (arrow.RecordBatch, error) {
	return nBest(mem, rec, n, by, false)
}

// Quantiles returns n+1 values of column col at the quantiles 0, 1/n, ..., 1 of its non-null values (nearest
// rank, lower), as boundaries for range partitioning from a sample. It is empty when col has no values.
func Quantiles(mem memory.Allocator, rec arrow.RecordBatch, col string, n int) (arrow.Array, error) {
	if n <= 0 {
		return nil, fmt.Errorf("quantiles: n must be positive")
	}
	v, err := colView(rec, col)
	if err != nil {
		return nil, fmt.Errorf("quantiles: %w", err)
	}
	idx := make([]int32, 0, v.n)
	for i := 0; i < v.n; i++ {
		if !v.isNull(i) {
			idx = append(idx, int32(i))
		}
	}
	slices.SortStableFunc(idx, func(a, b int32) int { return compareVal(v, int(a), int(b)) })
	if len(idx) == 0 {
		return takeView(mem, v, nil), nil
	}
	out := make([]int32, n+1)
	for q := 0; q <= n; q++ {
		out[q] = idx[(len(idx)-1)*q/n]
	}
	return takeView(mem, v, out), nil
}
