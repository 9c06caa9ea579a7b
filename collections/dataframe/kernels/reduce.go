package kernels

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reduce computes whole-column aggregations (the Agg ops of a group-by) and returns a one-row record with one
// column per agg. Distributed, use GroupByPartial / GroupByCombine / GroupByFinal with no keys: the same states.
func Reduce(mem memory.Allocator, rec arrow.RecordBatch, aggs []Agg) (arrow.RecordBatch, error) {
	return GroupBy(mem, rec, nil, aggs)
}

// ValueCounts returns the distinct values of col (NA included) with their counts, most frequent first (ties in
// order of first appearance). Columns: col, "count".
func ValueCounts(mem memory.Allocator, rec arrow.RecordBatch, col string) (arrow.RecordBatch, error) {
	g, err := GroupBy(mem, rec, []string{col}, []Agg{{Op: "size", Name: "count"}})
	if err != nil {
		return nil, err
	}
	defer g.Release()
	return Sort(mem, g, []string{"count"}, []bool{true}, true)
}

// Unique returns the distinct values of arr (a null included once) in order of first appearance.
func Unique(mem memory.Allocator, arr arrow.Array) (arrow.Array, error) {
	v, err := newView(arr, "")
	if err != nil {
		return nil, err
	}
	if v.kind == kList {
		return nil, fmt.Errorf("unique: unsupported type %s", v.typ)
	}
	c := encode(v)
	return takeView(mem, v, c.first), nil
}

// NUnique counts the distinct values of arr; a null counts only when dropna is false.
func NUnique(arr arrow.Array, dropna bool) (int, error) {
	v, err := newView(arr, "")
	if err != nil {
		return 0, err
	}
	if v.kind == kList {
		return 0, fmt.Errorf("nunique: unsupported type %s", v.typ)
	}
	c := encode(v)
	n := c.card
	if dropna && arr.NullN() > 0 {
		n--
	}
	return n, nil
}

// MemoryUsage returns the bytes held by the buffers of rec (deep: children and dictionaries included; a buffer
// shared by several arrays is counted once).
func MemoryUsage(rec arrow.RecordBatch) int64 {
	seen := map[*byte]bool{}
	var total int64
	var walk func(d arrow.ArrayData)
	walk = func(ad arrow.ArrayData) {
		d, ok := ad.(*array.Data)
		if !ok || d == nil {
			return
		}
		for _, b := range d.Buffers() {
			if b == nil || b.Len() == 0 {
				continue
			}
			p := &b.Bytes()[0]
			if !seen[p] {
				seen[p] = true
				total += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
		walk(d.Dictionary())
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return total
}
