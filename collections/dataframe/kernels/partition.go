package kernels

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// HashPartition splits rec into n records by a fixed hash of the key columns: rows with equal keys go to the same
// output index on every node and in every process (the hash has no random seed; NA keys hash alike). Row order
// is kept within each output.
func HashPartition(mem memory.Allocator, rec arrow.RecordBatch, keys []string, n int) ([]arrow.RecordBatch, error) {
	if n <= 0 {
		return nil, fmt.Errorf("hash partition: n must be positive, got %d", n)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("hash partition: no key columns")
	}
	kv := make([]*view, len(keys))
	for i, k := range keys {
		if idx := rec.Schema().FieldIndices(k); len(idx) > 0 {
			if v := dictKeyView(rec.Column(idx[0]), k); v != nil {
				kv[i] = v // hashed by value, as the plain column would be
				continue
			}
		}
		v, err := colView(rec, k)
		if err != nil {
			return nil, fmt.Errorf("hash partition: %w", err)
		}
		kv[i] = v
	}
	rows := int(rec.NumRows())
	h := make([]uint64, rows)
	hashRows(kv, rows, h)
	counts := make([]int, n)
	bucket := make([]uint32, rows)
	for i, x := range h {
		b := uint32((uint64(uint32(x>>32)) * uint64(n)) >> 32)
		bucket[i] = b
		counts[b]++
	}
	idx := make([][]int32, n)
	for b := range idx {
		idx[b] = make([]int32, 0, counts[b])
	}
	for i, b := range bucket {
		idx[b] = append(idx[b], int32(i))
	}
	out := make([]arrow.RecordBatch, n)
	for b := range out {
		r, err := Take(mem, rec, idx[b])
		if err != nil {
			releaseAll(out[:b])
			return nil, err
		}
		out[b] = r
	}
	return out, nil
}
