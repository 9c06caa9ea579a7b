package kernels

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// HashJoin joins left and right on leftOn[i] == rightOn[i] (how: inner, left, right, outer). The smaller side
// builds an open-addressing hash table, the other probes it. NA keys never match (SQL). Output columns: the left
// columns, then the right ones; a key with the same name on both sides appears once (for outer joins coalesced
// from either side); other names present on both sides get suffixes[0] / suffixes[1] (default "_x", "_y").
// Row order follows the probe side, unmatched build rows (right/outer) last.
func HashJoin(mem memory.Allocator, left, right arrow.RecordBatch, leftOn, rightOn []string, how string, suffixes [2]string) (arrow.RecordBatch, error) {
	switch how {
	case "inner", "left", "right", "outer":
	default:
		return nil, fmt.Errorf("join: unknown how %q (want inner, left, right or outer)", how)
	}
	if len(leftOn) == 0 || len(leftOn) != len(rightOn) {
		return nil, fmt.Errorf("join: %d left keys and %d right keys", len(leftOn), len(rightOn))
	}
	if suffixes == [2]string{} {
		suffixes = [2]string{"_x", "_y"}
	}
	lk := make([]*view, len(leftOn))
	rk := make([]*view, len(rightOn))
	for i := range leftOn {
		l, err := colView(left, leftOn[i])
		if err != nil {
			return nil, fmt.Errorf("join: left %w", err)
		}
		r, err := colView(right, rightOn[i])
		if err != nil {
			return nil, fmt.Errorf("join: right %w", err)
		}
		if l.kind != r.kind || !arrow.TypeEqual(l.typ, r.typ) {
			return nil, fmt.Errorf("join: key %q has type %s on the left but %q has type %s on the right", leftOn[i], l.typ, rightOn[i], r.typ)
		}
		lk[i], rk[i] = l, r
	}
	nl, nr := int(left.NumRows()), int(right.NumRows())
	buildLeft := nl < nr
	bk, pk := rk, lk
	nb, np := nr, nl
	keepProbe := how == "left" || how == "outer"
	keepBuild := how == "right" || how == "outer"
	if buildLeft {
		bk, pk = lk, rk
		nb, np = nl, nr
		keepProbe, keepBuild = keepBuild, keepProbe
	}
	pi, bi := joinPairs(bk, pk, nb, np, keepProbe, keepBuild)
	li, ri := bi, pi
	if !buildLeft {
		li, ri = pi, bi
	}
	return assembleJoin(mem, left, right, leftOn, rightOn, li, ri, suffixes)
}

func anyNull(keys []*view, i int) bool {
	for _, k := range keys {
		if k.isNull(i) {
			return true
		}
	}
	return false
}

func keysEqual(a []*view, i int, b []*view, j int) bool {
	for k := range a {
		if !eqVal(a[k], i, b[k], j) {
			return false
		}
	}
	return true
}

// joinPairs returns matching (probe, build) row pairs; -1 stands for the missing side of an unmatched row.
func joinPairs(bk, pk []*view, nb, np int, keepProbe, keepBuild bool) ([]int32, []int32) {
	bh := make([]uint64, nb)
	hashRows(bk, nb, bh)
	sz := 16
	for sz < 2*nb {
		sz <<= 1
	}
	mask := uint64(sz - 1)
	heads := make([]int32, sz) // first build row + 1 of a distinct key
	tails := make([]int32, sz)
	next := make([]int32, nb) // next build row + 1 with the same key
	for r := 0; r < nb; r++ {
		if anyNull(bk, r) {
			continue
		}
		h := bh[r]
		i := h & mask
		for {
			s := heads[i]
			if s == 0 {
				heads[i], tails[i] = int32(r)+1, int32(r)+1
				break
			}
			if f := int(s - 1); bh[f] == h && keysEqual(bk, f, bk, r) {
				next[tails[i]-1] = int32(r) + 1
				tails[i] = int32(r) + 1
				break
			}
			i = (i + 1) & mask
		}
	}
	ph := make([]uint64, np)
	hashRows(pk, np, ph)
	var matched []bool
	if keepBuild {
		matched = make([]bool, nb)
	}
	pi := make([]int32, 0, np)
	bi := make([]int32, 0, np)
	for p := 0; p < np; p++ {
		found := false
		if !anyNull(pk, p) {
			h := ph[p]
			i := h & mask
			for {
				s := heads[i]
				if s == 0 {
					break
				}
				if f := int(s - 1); bh[f] == h && keysEqual(pk, p, bk, f) {
					found = true
					for r := s; r != 0; r = next[r-1] {
						pi = append(pi, int32(p))
						bi = append(bi, r-1)
						if matched != nil {
							matched[r-1] = true
						}
					}
					break
				}
				i = (i + 1) & mask
			}
		}
		if !found && keepProbe {
			pi = append(pi, int32(p))
			bi = append(bi, -1)
		}
	}
	for r, m := range matched {
		if !m {
			pi = append(pi, -1)
			bi = append(bi, int32(r))
		}
	}
	return pi, bi
}

func assembleJoin(mem memory.Allocator, left, right arrow.RecordBatch, leftOn, rightOn []string, li, ri []int32, suffixes [2]string) (arrow.RecordBatch, error) {
	merged := map[string]string{} // left key name -> right key name, for keys named alike
	for i := range leftOn {
		if leftOn[i] == rightOn[i] {
			merged[leftOn[i]] = rightOn[i]
		}
	}
	lnames := map[string]bool{}
	for _, f := range left.Schema().Fields() {
		lnames[f.Name] = true
	}
	rnames := map[string]bool{}
	for _, f := range right.Schema().Fields() {
		if _, ok := merged[f.Name]; !ok {
			rnames[f.Name] = true
		}
	}
	var fields []arrow.Field
	var cols []arrow.Array
	fail := func(err error) (arrow.RecordBatch, error) {
		releaseAll(cols)
		return nil, fmt.Errorf("join: %w", err)
	}
	for i, f := range left.Schema().Fields() {
		lv, err := newView(left.Column(i), f.Name)
		if err != nil {
			return fail(err)
		}
		f.Nullable = true
		if rn, ok := merged[f.Name]; ok {
			rv, err := colView(right, rn)
			if err != nil {
				return fail(err)
			}
			cols = append(cols, take2(mem, lv, rv, li, ri))
		} else {
			if rnames[f.Name] {
				f.Name += suffixes[0]
			}
			cols = append(cols, takeView(mem, lv, li))
		}
		fields = append(fields, f)
	}
	for i, f := range right.Schema().Fields() {
		if _, ok := merged[f.Name]; ok {
			continue
		}
		rv, err := newView(right.Column(i), f.Name)
		if err != nil {
			return fail(err)
		}
		f.Nullable = true
		if lnames[f.Name] {
			f.Name += suffixes[1]
		}
		cols = append(cols, takeView(mem, rv, ri))
		fields = append(fields, f)
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, len(li)), nil
}
