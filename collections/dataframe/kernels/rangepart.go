package kernels

import (
	"bytes"
	"cmp"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// RangePartition splits rec into n parts by ranges of the sort columns by
// (descending per column as in SortIndices, nulls last): bounds holds the
// split points, rows of the same columns in sort order (at most n-1 of
// them, e.g. from Quantiles of a sample). A row goes to part k, the number
// of bounds that are not after it in the order, so rows with equal keys
// share a part, every row of part k sorts before every row of part k+1,
// and parts past len(bounds) are empty. Row order is kept within a part.
func RangePartition(mem memory.Allocator, rec arrow.RecordBatch, by []string, descending []bool, bounds arrow.RecordBatch, n int) ([]arrow.RecordBatch, error) {
	if n <= 0 {
		return nil, fmt.Errorf("range partition: n must be positive, got %d", n)
	}
	keys, desc, err := sortKeys(rec, by, descending)
	if err != nil {
		return nil, fmt.Errorf("range partition: %w", err)
	}
	bk := make([]*view, len(by))
	for i, c := range by {
		v, err := colView(bounds, c)
		if err != nil {
			return nil, fmt.Errorf("range partition: bounds: %w", err)
		}
		if !arrow.TypeEqual(v.typ, keys[i].typ) {
			return nil, fmt.Errorf("range partition: column %q is %s but its bounds are %s", c, keys[i].typ, v.typ)
		}
		bk[i] = v
	}
	m := int(bounds.NumRows())
	// after reports whether bound b sorts after row r.
	after := func(b, r int) bool {
		for k := range keys {
			bn, rn := bk[k].isNull(b), keys[k].isNull(r)
			if bn || rn {
				if bn && rn {
					continue
				}
				return bn // nulls last: a null bound is after a value
			}
			c := compareAcross(bk[k], b, keys[k], r)
			if desc[k] {
				c = -c
			}
			if c != 0 {
				return c > 0
			}
		}
		return false
	}
	rows := int(rec.NumRows())
	idx := make([][]int32, n)
	one := len(keys) == 1 && keys[0].valid == nil && bk[0].valid == nil
	for r := 0; r < rows; r++ {
		var p int
		switch {
		case one && keys[0].kind == kInt64 && !desc[0]:
			x := keys[0].i64[r]
			p = sort.Search(m, func(b int) bool { return bk[0].i64[b] > x })
		case one && keys[0].kind == kFloat64 && !desc[0]:
			x := keys[0].f64[r]
			p = sort.Search(m, func(b int) bool { return cmp.Compare(bk[0].f64[b], x) > 0 })
		default:
			p = sort.Search(m, func(b int) bool { return after(b, r) })
		}
		p = min(p, n-1)
		idx[p] = append(idx[p], int32(r))
	}
	out := make([]arrow.RecordBatch, n)
	for i := range out {
		if out[i], err = Take(mem, rec, idx[i]); err != nil {
			releaseAll(out[:i])
			return nil, err
		}
	}
	return out, nil
}

// compareAcross compares non-null value i of a with value j of b (views of
// the same type).
func compareAcross(a *view, i int, b *view, j int) int {
	switch a.kind {
	case kInt64:
		return cmp.Compare(a.i64[i], b.i64[j])
	case kFloat64:
		return cmp.Compare(a.f64[i], b.f64[j])
	case kString:
		return bytes.Compare(a.str(i), b.str(j))
	case kBool:
		x, y := a.boolAt(i), b.boolAt(j)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return 0
}
