package kernels

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// JoinColumn is one output column of a join: Name, the value of the left side's column Left or of the right side's
// column Right; with both (a key joined under one name), the left value, else the right one (for right and outer
// joins). Plain data: msgpack round-trips it.
type JoinColumn struct {
	Name  string `msgpack:"name"`
	Left  string `msgpack:"left,omitempty"`
	Right string `msgpack:"right,omitempty"`
}

// JoinLayout is HashJoin's output: the left columns, then the right ones; a key with the same name on both sides
// once (coalesced); other names present on both sides with suffixes[0] / suffixes[1] appended.
func JoinLayout(leftCols, rightCols, leftOn, rightOn []string, suffixes [2]string) []JoinColumn {
	merged := map[string]bool{} // keys named alike on both sides
	for i := range leftOn {
		if i < len(rightOn) && leftOn[i] == rightOn[i] {
			merged[leftOn[i]] = true
		}
	}
	has := func(cols []string, c string) bool {
		for _, x := range cols {
			if x == c {
				return true
			}
		}
		return false
	}
	out := make([]JoinColumn, 0, len(leftCols)+len(rightCols))
	for _, c := range leftCols {
		switch {
		case merged[c]:
			out = append(out, JoinColumn{Name: c, Left: c, Right: c})
		case has(rightCols, c):
			out = append(out, JoinColumn{Name: c + suffixes[0], Left: c})
		default:
			out = append(out, JoinColumn{Name: c, Left: c})
		}
	}
	for _, c := range rightCols {
		switch {
		case merged[c]:
		case has(leftCols, c):
			out = append(out, JoinColumn{Name: c + suffixes[1], Right: c})
		default:
			out = append(out, JoinColumn{Name: c, Right: c})
		}
	}
	return out
}

// HashJoin joins left and right on leftOn[i] == rightOn[i] (how: inner, left, right, outer). The smaller side
// builds an open-addressing hash table, the other probes it. NA keys never match (SQL). Output columns as
// JoinLayout lays them out (suffixes default to "_x", "_y"). Row order follows the probe side, unmatched build rows
// (right/outer) last.
func HashJoin(mem memory.Allocator, left, right arrow.RecordBatch, leftOn, rightOn []string, how string, suffixes [2]string) (arrow.RecordBatch, error) {
	if suffixes == [2]string{} {
		suffixes = [2]string{"_x", "_y"}
	}
	return HashJoinColumns(mem, left, right, leftOn, rightOn, how, JoinLayout(columnNames(left.Schema()), columnNames(right.Schema()), leftOn, rightOn, suffixes))
}

// HashJoinColumns is HashJoin with its output columns given: any subset of a JoinLayout, in any order (only those
// columns are gathered).
func HashJoinColumns(mem memory.Allocator, left, right arrow.RecordBatch, leftOn, rightOn []string, how string, out []JoinColumn) (arrow.RecordBatch, error) {
	switch how {
	case "inner", "left", "right", "outer":
	default:
		return nil, fmt.Errorf("join: unknown how %q (want inner, left, right or outer)", how)
	}
	if len(leftOn) == 0 || len(leftOn) != len(rightOn) {
		return nil, fmt.Errorf("join: %d left keys and %d right keys", len(leftOn), len(rightOn))
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
	return assembleJoin(mem, left, right, out, li, ri)
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
	sz := 16
	for sz < 2*nb {
		sz <<= 1
	}
	t := joinTable{mask: uint64(sz - 1), slots: make([]joinSlot, sz), next: make([]int32, nb)}
	var lookup func(p int) *joinSlot // the slot of probe row p's key, or nil
	if len(bk) == 1 && bk[0].kind == kInt64 {
		// one integer key: a slot holds the key itself
		b, pv := bk[0], pk[0]
		for r := 0; r < nb; r++ {
			if b.valid != nil && b.isNull(r) {
				continue
			}
			x := uint64(b.i64[r])
			i := mix64(x) & t.mask
			for t.slots[i].head != 0 && t.slots[i].k != x {
				i = (i + 1) & t.mask
			}
			t.add(i, x, r)
		}
		lookup = func(p int) *joinSlot {
			if pv.valid != nil && pv.isNull(p) {
				return nil
			}
			x := uint64(pv.i64[p])
			i := mix64(x) & t.mask
			for {
				s := &t.slots[i]
				if s.head == 0 || s.k == x {
					return s
				}
				i = (i + 1) & t.mask
			}
		}
	} else {
		// a slot holds the key's hash; rows whose hashes are equal are compared
		bh := make([]uint64, nb)
		hashRows(bk, nb, bh)
		for r := 0; r < nb; r++ {
			if anyNull(bk, r) {
				continue
			}
			h := bh[r]
			i := h & t.mask
			for s := &t.slots[i]; s.head != 0 && (s.k != h || !keysEqual(bk, int(s.head-1), bk, r)); s = &t.slots[i] {
				i = (i + 1) & t.mask
			}
			t.add(i, h, r)
		}
		ph := make([]uint64, np)
		hashRows(pk, np, ph)
		lookup = func(p int) *joinSlot {
			if anyNull(pk, p) {
				return nil
			}
			h := ph[p]
			i := h & t.mask
			for {
				s := &t.slots[i]
				if s.head == 0 || (s.k == h && keysEqual(pk, p, bk, int(s.head-1))) {
					return s
				}
				i = (i + 1) & t.mask
			}
		}
	}
	var matched []bool
	if keepBuild {
		matched = make([]bool, nb)
	}
	pi := make([]int32, 0, np)
	bi := make([]int32, 0, np)
	for p := 0; p < np; p++ {
		slot := lookup(p)
		if slot == nil || slot.head == 0 {
			if keepProbe {
				pi = append(pi, int32(p))
				bi = append(bi, -1)
			}
			continue
		}
		s := slot.head
		if s == slot.tail { // one build row: the common case
			pi = append(pi, int32(p))
			bi = append(bi, s-1)
			if matched != nil {
				matched[s-1] = true
			}
			continue
		}
		for r := s; r != 0; r = t.next[r-1] {
			pi = append(pi, int32(p))
			bi = append(bi, r-1)
			if matched != nil {
				matched[r-1] = true
			}
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

// joinTable chains the build rows of each distinct key. A slot is one cache-friendly record: the key (or its hash),
// its first and last row + 1 (head 0: an empty slot); next[row] is the next row + 1 with the same key.
type joinTable struct {
	mask  uint64
	slots []joinSlot
	next  []int32
}

type joinSlot struct {
	k          uint64
	head, tail int32
}

func (t *joinTable) add(i, k uint64, r int) {
	s := &t.slots[i]
	if s.head == 0 {
		s.k, s.head, s.tail = k, int32(r)+1, int32(r)+1
		return
	}
	t.next[s.tail-1] = int32(r) + 1
	s.tail = int32(r) + 1
}

// assembleJoin gathers the output columns: row k takes left row li[k] and right row ri[k] (-1: none, NA).
func assembleJoin(mem memory.Allocator, left, right arrow.RecordBatch, out []JoinColumn, li, ri []int32) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, 0, len(out))
	cols := make([]arrow.Array, 0, len(out))
	fail := func(err error) (arrow.RecordBatch, error) {
		releaseAll(cols)
		return nil, fmt.Errorf("join: %w", err)
	}
	for _, c := range out {
		var lv, rv *view
		var err error
		if c.Left != "" {
			if lv, err = colView(left, c.Left); err != nil {
				return fail(fmt.Errorf("left %w", err))
			}
		}
		if c.Right != "" {
			if rv, err = colView(right, c.Right); err != nil {
				return fail(fmt.Errorf("right %w", err))
			}
		}
		var col arrow.Array
		switch {
		case lv != nil && rv != nil:
			if lv.kind != rv.kind || !arrow.TypeEqual(lv.typ, rv.typ) {
				return fail(fmt.Errorf("column %q: %s on the left, %s on the right", c.Name, lv.typ, rv.typ))
			}
			col = take2(mem, lv, rv, li, ri)
		case lv != nil:
			col = takeView(mem, lv, li)
		case rv != nil:
			col = takeView(mem, rv, ri)
		default:
			return fail(fmt.Errorf("column %q has no source", c.Name))
		}
		cols = append(cols, col)
		fields = append(fields, arrow.Field{Name: c.Name, Type: col.DataType(), Nullable: true})
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, len(li)), nil
}
