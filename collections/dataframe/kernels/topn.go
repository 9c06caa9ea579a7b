package kernels

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// NLargestPerGroup returns whole rows of rec: for each group of rec by keys, the n rows with the largest values of
// col (all of the group's rows if it has fewer), best first, ties in row order. Rows where col is NA (or NaN) are
// never chosen, so a group whose col is all NA has no rows. Groups come out in the order of their first row with a
// value of col (NA keys form a group; no keys: one group), each group's rows together. col may be int64-like (int64, timestamp),
// float64, string or bool.
//
// It is associative the way the DataFrame uses it: applied to the concatenation, in input order, of its results on
// consecutive pieces of a table (or on hash buckets of them that keep row order) it gives its result on the whole
// table, ties included (pandas' df.groupby(keys).apply(lambda g: g.nlargest(n, col)), keep="first").
func NLargestPerGroup(mem memory.Allocator, rec arrow.RecordBatch, keys []string, col string, n int) (arrow.RecordBatch, error) {
	return nBestPerGroup(mem, rec, keys, col, n, true)
}

// NSmallestPerGroup is NLargestPerGroup for the smallest values, smallest first.
func NSmallestPerGroup(mem memory.Allocator, rec arrow.RecordBatch, keys []string, col string, n int) (arrow.RecordBatch, error) {
	return nBestPerGroup(mem, rec, keys, col, n, false)
}

func nBestPerGroup(mem memory.Allocator, rec arrow.RecordBatch, keys []string, col string, n int, largest bool) (arrow.RecordBatch, error) {
	op := "nsmallest per group"
	if largest {
		op = "nlargest per group"
	}
	if n <= 0 {
		return nil, fmt.Errorf("%s: n is %d, want n >= 1", op, n)
	}
	v, err := colView(rec, col)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if v.kind == kList {
		return nil, fmt.Errorf("%s: column %q is %s (supported: int64, float64, string, bool, timestamp)", op, col, v.typ)
	}
	g, _, err := makeGrouping(rec, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	kept := bestRowsPerGroup(g, v, n, largest)
	return Take(mem, rec, kept)
}

// bestRowsPerGroup returns the row indices chosen by nBestPerGroup: group by group (in the order of their first row
// with a value), best first. Each group keeps a bounded heap of at most n rows whose top is the worst kept one, so a
// row costs one comparison with it, and O(log n) when it enters.
func bestRowsPerGroup(g grouping, v *view, n int, largest bool) []int32 {
	heaps, order := newGroupHeaps(g, n), []uint32(nil)
	switch v.kind {
	case kInt64:
		order = pushTyped(g, v, v.i64, heaps, n, largest)
	case kFloat64:
		order = pushTyped(g, v, v.f64, heaps, n, largest)
	default:
		order = pushRows(g, v, heaps, n, valueBetter(v, largest))
	}
	return collectHeaps(heaps, order, valueBetter(v, largest))
}

// newGroupHeaps makes an empty heap of capacity n per group: slots of one
// backing array, or, with many groups and a large n, slices that grow on
// their own up to their group's size.
func newGroupHeaps(g grouping, n int) [][]int32 {
	heaps := make([][]int32, g.ng)
	if n <= (2*len(g.gid)+1024)/max(g.ng, 1) { // g.ng*n without overflow
		buf := make([]int32, g.ng*n)
		for x := range heaps {
			heaps[x] = buf[x*n : x*n : x*n+n]
		}
	}
	return heaps
}

// pushTyped is pushRows for numbers, comparing values inline; NaN is NA.
func pushTyped[T int64 | float64](g grouping, v *view, vals []T, heaps [][]int32, n int, largest bool) []uint32 {
	// worse: row a after row b in the result's order
	worse := func(a, b int32) bool {
		x, y := vals[a], vals[b]
		if x == y {
			return a > b
		}
		return (x < y) == largest
	}
	var order []uint32
	for i, x := range g.gid {
		val := vals[i]
		if val != val || (v.valid != nil && v.isNull(i)) {
			continue
		}
		h := heaps[x]
		if len(h) < n {
			if len(h) == 0 {
				order = append(order, x)
			}
			h = append(h, int32(i))
			heapUp(h, len(h)-1, worse)
			heaps[x] = h
			continue
		}
		top := vals[h[0]]
		if val == top || (val < top) == largest { // not strictly better than the worst kept
			continue
		}
		h[0] = int32(i)
		heapDown(h, 0, worse)
	}
	return order
}

// pushRows puts every row with a value into its group's heap (at most n
// rows, the worst on top) and returns the groups in the order of their
// first row with a value.
func pushRows(g grouping, v *view, heaps [][]int32, n int, better func(a, b int32) bool) []uint32 {
	// worse: a is after b in the result's order (b's value better, or equal and b the earlier row)
	worse := func(a, b int32) bool {
		if better(b, a) {
			return true
		}
		return !better(a, b) && a > b
	}
	var order []uint32
	for i, x := range g.gid {
		if v.isNull(i) {
			continue
		}
		r := int32(i)
		h := heaps[x]
		if len(h) < n {
			if len(h) == 0 {
				order = append(order, x)
			}
			h = append(h, r)
			heapUp(h, len(h)-1, worse)
			heaps[x] = h
			continue
		}
		if better(r, h[0]) { // a later row never displaces an equal earlier one
			h[0] = r
			heapDown(h, 0, worse)
		}
	}
	return order
}

// collectHeaps lists the kept rows, group by group in order, best first
// (ties in row order).
func collectHeaps(heaps [][]int32, order []uint32, better func(a, b int32) bool) []int32 {
	total := 0
	for _, h := range heaps {
		total += len(h)
	}
	out := make([]int32, 0, total)
	rank := func(a, b int32) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return cmp.Compare(a, b)
	}
	for _, x := range order {
		h := heaps[x]
		slices.SortFunc(h, rank)
		out = append(out, h...)
	}
	return out
}

// valueBetter reports whether the (non-NA) value of row a comes strictly before that of row b: larger when
// largest, else smaller.
func valueBetter(v *view, largest bool) func(a, b int32) bool {
	switch v.kind {
	case kInt64:
		x := v.i64
		if largest {
			return func(a, b int32) bool { return x[a] > x[b] }
		}
		return func(a, b int32) bool { return x[a] < x[b] }
	case kFloat64:
		x := v.f64
		if largest {
			return func(a, b int32) bool { return x[a] > x[b] }
		}
		return func(a, b int32) bool { return x[a] < x[b] }
	case kString:
		if largest {
			return func(a, b int32) bool { return bytes.Compare(v.str(int(a)), v.str(int(b))) > 0 }
		}
		return func(a, b int32) bool { return bytes.Compare(v.str(int(a)), v.str(int(b))) < 0 }
	}
	// bool: true > false
	if largest {
		return func(a, b int32) bool { return v.boolAt(int(a)) && !v.boolAt(int(b)) }
	}
	return func(a, b int32) bool { return !v.boolAt(int(a)) && v.boolAt(int(b)) }
}

// heapUp and heapDown keep h a heap whose top is its worst element.
func heapUp(h []int32, i int, worse func(a, b int32) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func heapDown(h []int32, i int, worse func(a, b int32) bool) {
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
