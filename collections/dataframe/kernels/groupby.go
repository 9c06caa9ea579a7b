package kernels

import (
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Agg describes one aggregation of a group-by (plain data: msgpack round-trips it).
//
// Ops: sum, mean, count (non-NA values), size (rows), min, max, std, var (sample unless Population), median,
// first, last (first/last non-NA value, in row order), nunique (distinct non-NA values), nlargest, nsmallest (the N
// largest / smallest non-NA values as a list, best first; see Explode), corr (Pearson correlation of Col and Col2
// over rows where both are non-NA).
//
// NA values are skipped; a group whose values are all NA gets NA (count and nunique give 0).
type Agg struct {
	Op         string `msgpack:"op"`
	Col        string `msgpack:"col,omitempty"`
	Col2       string `msgpack:"col2,omitempty"`
	N          int    `msgpack:"n,omitempty"`
	Population bool   `msgpack:"population,omitempty"`
	Name       string `msgpack:"name,omitempty"`
}

// OutName is the result column's name: Name, else "size" for size, else Col.
func (a Agg) OutName() string {
	switch {
	case a.Name != "":
		return a.Name
	case a.Op == "size":
		return "size"
	case a.Op == "corr":
		return a.Col + "_" + a.Col2
	}
	return a.Col
}

func (a Agg) validate() error {
	switch a.Op {
	case "size":
		return nil
	case "sum", "mean", "count", "min", "max", "std", "var", "median", "first", "last", "nunique":
	case "nlargest", "nsmallest":
		if a.N <= 0 {
			return fmt.Errorf("agg %s(%s): N must be positive", a.Op, a.Col)
		}
	case "corr":
		if a.Col2 == "" {
			return fmt.Errorf("agg corr(%s): Col2 missing", a.Col)
		}
	default:
		return fmt.Errorf("unknown aggregation %q", a.Op)
	}
	if a.Col == "" {
		return fmt.Errorf("agg %s: Col missing", a.Op)
	}
	return nil
}

// state column names of agg i
func stateNames(a Agg) []string {
	switch a.Op {
	case "sum", "mean":
		return []string{"sum", "cnt"}
	case "count":
		return []string{"cnt"}
	case "size":
		return []string{"size"}
	case "min", "max", "first", "last":
		return []string{"val"}
	case "std", "var":
		return []string{"cnt", "mean", "m2"}
	case "corr":
		return []string{"n", "mx", "my", "m2x", "m2y", "cxy"}
	case "median", "nunique", "nlargest", "nsmallest":
		return []string{"vals"}
	}
	return nil
}

func stateCol(i int, s string) string { return fmt.Sprintf("__agg%d_%s", i, s) }

// grouping is the result of assigning group ids.
type grouping struct {
	gid   []uint32
	ng    int
	first []int32
	sizes *[]int64 // rows per group, computed once on first use (groupSizes)
}

// groupSizes returns the rows of each group (shared: do not modify).
func (g grouping) groupSizes() []int64 {
	if g.sizes != nil && *g.sizes != nil {
		return *g.sizes
	}
	n := make([]int64, g.ng)
	for _, x := range g.gid {
		n[x]++
	}
	if g.sizes != nil {
		*g.sizes = n
	}
	return n
}

func makeGrouping(rec arrow.RecordBatch, keys []string) (grouping, []*view, error) {
	kv := make([]*view, len(keys))
	for i, k := range keys {
		if idx := rec.Schema().FieldIndices(k); len(idx) > 0 {
			if v := dictKeyView(rec.Column(idx[0]), k); v != nil {
				kv[i] = v
				continue
			}
		}
		v, err := colView(rec, k)
		if err != nil {
			return grouping{}, nil, fmt.Errorf("group-by key: %w", err)
		}
		kv[i] = v
	}
	gid, ng, first := groupIDs(kv, int(rec.NumRows()))
	return grouping{gid: gid, ng: ng, first: first, sizes: new([]int64)}, kv, nil
}

func keyColumns(mem memory.Allocator, rec arrow.RecordBatch, keys []string, kv []*view, g grouping) ([]arrow.Field, []arrow.Array) {
	fields := make([]arrow.Field, len(keys))
	cols := make([]arrow.Array, len(keys))
	for i, k := range keys {
		f := rec.Schema().Field(rec.Schema().FieldIndices(k)[0])
		f.Nullable = true
		if kv[i].kind == kDict { // the keys come out as plain values
			f.Type = kv[i].typ
			fields[i] = f
			cols[i] = takeDict(mem, kv[i], g.first)
			continue
		}
		fields[i] = f
		cols[i] = takeView(mem, kv[i], g.first)
	}
	return fields, cols
}

// GroupByPartial groups rec by keys and returns one row per group with the keys followed by the intermediate
// states of aggs (columns named __agg<i>_<state>). Groups appear in order of first appearance; NA keys form groups.
func GroupByPartial(mem memory.Allocator, rec arrow.RecordBatch, keys []string, aggs []Agg) (arrow.RecordBatch, error) {
	for _, a := range aggs {
		if err := a.validate(); err != nil {
			return nil, err
		}
	}
	rec, err := decodeForGroupBy(mem, rec, keys, aggs, true)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	g, kv, err := makeGrouping(rec, keys)
	if err != nil {
		return nil, err
	}
	fields, cols := keyColumns(mem, rec, keys, kv, g)
	for i, a := range aggs {
		st, err := partialStates(mem, rec, g, a)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		for j, s := range stateNames(a) {
			fields = append(fields, arrow.Field{Name: stateCol(i, s), Type: st[j].DataType(), Nullable: true})
			cols = append(cols, st[j])
		}
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, g.ng), nil
}

// Adaptive partials: a partial aggregation pays for hashing every row and
// copying the keys, and is worth it only if it shrinks the partition.
const (
	adaptiveSample = 1 << 16 // rows grouped to decide
	adaptiveRatio  = 0.9     // groups per sampled row above which grouping is skipped
)

// GroupByPartialAdaptive is GroupByPartial for partials that are always
// combined (GroupByCombine) before GroupByFinal. When the first
// adaptiveSample rows of rec (when it has as many) hold nearly as many groups as rows,
// grouping would not shrink it: each row then becomes its own group's state
// (the key columns pass through without a copy, NA keys included) and the
// combine groups them once. Otherwise it is GroupByPartial. Either way the
// states have GroupByPartial's schema.
func GroupByPartialAdaptive(mem memory.Allocator, rec arrow.RecordBatch, keys []string, aggs []Agg) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	if len(keys) == 0 || n < adaptiveSample {
		return GroupByPartial(mem, rec, keys, aggs)
	}
	sample := rec.NewSlice(0, adaptiveSample)
	g, _, err := makeGrouping(sample, keys)
	sample.Release()
	if err != nil {
		return nil, err
	}
	if float64(g.ng) < adaptiveRatio*adaptiveSample {
		return GroupByPartial(mem, rec, keys, aggs)
	}
	return groupByRows(mem, rec, keys, aggs)
}

// groupByRows is a partial aggregation with every row its own group.
func groupByRows(mem memory.Allocator, rec arrow.RecordBatch, keys []string, aggs []Agg) (arrow.RecordBatch, error) {
	for _, a := range aggs {
		if err := a.validate(); err != nil {
			return nil, err
		}
	}
	// The keys pass through without a copy, dictionary keys as they are
	// (GroupByCombine unifies the dictionaries of its partials, or decodes a
	// key that other partials hold plain).
	rec, err := decodeForGroupBy(mem, rec, keys, aggs, true)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	n := int(rec.NumRows())
	fields := make([]arrow.Field, len(keys))
	cols := make([]arrow.Array, len(keys))
	for i, k := range keys {
		if idx := rec.Schema().FieldIndices(k); len(idx) == 0 || dictKeyView(rec.Column(idx[0]), k) == nil {
			if _, err := colView(rec, k); err != nil {
				return nil, fmt.Errorf("group-by key: %w", err)
			}
		}
		j := rec.Schema().FieldIndices(k)[0]
		fields[i] = rec.Schema().Field(j)
		fields[i].Nullable = true
		cols[i] = rec.Column(j)
		cols[i].Retain()
	}
	ids := make([]uint32, n)
	first := make([]int32, n)
	for i := range ids {
		ids[i], first[i] = uint32(i), int32(i)
	}
	g := grouping{gid: ids, ng: n, first: first}
	for i, a := range aggs {
		st, err := partialStates(mem, rec, g, a)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		for j, s := range stateNames(a) {
			fields = append(fields, arrow.Field{Name: stateCol(i, s), Type: st[j].DataType(), Nullable: true})
			cols = append(cols, st[j])
		}
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, n), nil
}

// GroupByCombine merges partial states (from GroupByPartial or GroupByCombine, with identical schemas) into one
// row per group. It is associative, so it serves tree reductions and the reduce side of a hash shuffle. For
// first/last the partials must be given in row order of the data they came from.
func GroupByCombine(mem memory.Allocator, partials []arrow.RecordBatch, keys []string, aggs []Agg) (arrow.RecordBatch, error) {
	partials, err := harmonizeDictKeys(mem, partials, keys)
	if err != nil {
		return nil, fmt.Errorf("group-by combine: %w", err)
	}
	unified := unifyDictKeys(mem, partials, keys)
	releaseAll(partials)
	rec, err := Concat(mem, unified)
	releaseAll(unified)
	if err != nil {
		return nil, fmt.Errorf("group-by combine: %w", err)
	}
	defer rec.Release()
	g, kv, err := makeGrouping(rec, keys)
	if err != nil {
		return nil, err
	}
	fields, cols := keyColumns(mem, rec, keys, kv, g)
	for i, a := range aggs {
		names := stateNames(a)
		in := make([]*view, len(names))
		for j, s := range names {
			v, err := colView(rec, stateCol(i, s))
			if err != nil {
				releaseAll(cols)
				return nil, fmt.Errorf("group-by combine: partial states of %s(%s): %w", a.Op, a.Col, err)
			}
			in[j] = v
		}
		st := combineStates(mem, g, a, in)
		for j, s := range names {
			fields = append(fields, arrow.Field{Name: stateCol(i, s), Type: st[j].DataType(), Nullable: true})
			cols = append(cols, st[j])
		}
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, g.ng), nil
}

// GroupByFinal turns combined states (one row per group) into the result: the keys followed by one column per
// agg, named Agg.OutName().
func GroupByFinal(mem memory.Allocator, states arrow.RecordBatch, keys []string, aggs []Agg) (arrow.RecordBatch, error) {
	var fields []arrow.Field
	var cols []arrow.Array
	for _, k := range keys {
		idx := states.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("group-by final: unknown key column %q", k)
		}
		c := states.Column(idx[0])
		c.Retain()
		fields = append(fields, states.Schema().Field(idx[0]))
		cols = append(cols, c)
	}
	for i, a := range aggs {
		names := stateNames(a)
		in := make([]*view, len(names))
		for j, s := range names {
			v, err := colView(states, stateCol(i, s))
			if err != nil {
				releaseAll(cols)
				return nil, fmt.Errorf("group-by final: states of %s(%s): %w", a.Op, a.Col, err)
			}
			in[j] = v
		}
		c := finalize(mem, a, in)
		fields = append(fields, arrow.Field{Name: a.OutName(), Type: c.DataType(), Nullable: true})
		cols = append(cols, c)
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, int(states.NumRows())), nil
}

// GroupBy runs the three phases on one record.
func GroupBy(mem memory.Allocator, rec arrow.RecordBatch, keys []string, aggs []Agg) (arrow.RecordBatch, error) {
	p, err := GroupByPartial(mem, rec, keys, aggs)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	return GroupByFinal(mem, p, keys, aggs)
}

// ---- partial states ----

func partialStates(mem memory.Allocator, rec arrow.RecordBatch, g grouping, a Agg) ([]arrow.Array, error) {
	if a.Op == "size" {
		o := newFixedOut[int64](mem, g.ng)
		copy(o.V, g.groupSizes())
		return []arrow.Array{o.finish(arrow.PrimitiveTypes.Int64)}, nil
	}
	v, err := colView(rec, a.Col)
	if err != nil {
		return nil, fmt.Errorf("aggregation %s: %w", a.Op, err)
	}
	numeric := v.kind == kInt64 || v.kind == kFloat64 || v.kind == kBool
	switch a.Op {
	case "sum", "mean", "std", "var", "median", "corr", "nlargest", "nsmallest":
		if !numeric || (v.kind == kInt64 && v.typ.ID() != arrow.INT64 && a.Op != "nlargest" && a.Op != "nsmallest") {
			return nil, fmt.Errorf("aggregation %s(%s): column has type %s, want a number", a.Op, a.Col, v.typ)
		}
	case "min", "max":
		if v.kind == kBool {
			return nil, fmt.Errorf("aggregation %s(%s): column has type %s", a.Op, a.Col, v.typ)
		}
	}
	if v.kind == kBool && a.Op != "count" && a.Op != "first" && a.Op != "last" && a.Op != "nunique" {
		// numeric aggregations over booleans work on 0/1
		c := boolToInt(mem, v)
		defer c.Release()
		v, _ = newView(c, a.Col)
	}
	switch a.Op {
	case "sum", "mean":
		return sumStates(mem, g, v, a.Op == "mean", false), nil
	case "count":
		o := newFixedOut[int64](mem, g.ng)
		clear(o.V)
		if v.valid == nil {
			for _, x := range g.gid {
				o.V[x]++
			}
		} else {
			for i, x := range g.gid {
				if !v.isNull(i) {
					o.V[x]++
				}
			}
		}
		return []arrow.Array{o.finish(arrow.PrimitiveTypes.Int64)}, nil
	case "min", "max":
		return []arrow.Array{minMax(mem, g, v, a.Op == "max")}, nil
	case "first", "last":
		return []arrow.Array{firstLast(mem, g, v, a.Op == "last")}, nil
	case "std", "var":
		return momentStates(mem, g, v), nil
	case "corr":
		v2, err := colView(rec, a.Col2)
		if err != nil {
			return nil, fmt.Errorf("aggregation corr: %w", err)
		}
		if v2.kind == kBool {
			c := boolToInt(mem, v2)
			defer c.Release()
			v2, _ = newView(c, a.Col2)
		}
		if v2.kind != kInt64 && v2.kind != kFloat64 {
			return nil, fmt.Errorf("aggregation corr(%s, %s): column %s has type %s, want a number", a.Col, a.Col2, a.Col2, v2.typ)
		}
		return corrStates(mem, g, v, v2), nil
	case "median":
		rows := make([]int32, 0, v.n)
		gids := make([]uint32, 0, v.n)
		for i, x := range g.gid {
			if !v.isNull(i) {
				rows = append(rows, int32(i))
				gids = append(gids, x)
			}
		}
		fv := v
		if v.kind == kInt64 {
			c := intToFloat(mem, v)
			defer c.Release()
			fv, _ = newView(c, a.Col)
		}
		return []arrow.Array{groupList(mem, g.ng, gids, rows, fv)}, nil
	case "nunique":
		return []arrow.Array{distinctList(mem, g.ng, g.gid, v)}, nil
	case "nlargest", "nsmallest":
		return []arrow.Array{topN(mem, g.ng, g.gid, v, a.N, a.Op == "nlargest")}, nil
	}
	return nil, fmt.Errorf("unknown aggregation %q", a.Op)
}

func boolToInt(mem memory.Allocator, v *view) arrow.Array {
	o := newFixedOut[int64](mem, v.n)
	for i := range o.V {
		o.V[i] = 0
		if v.isNull(i) {
			o.setNull(i)
		} else if v.boolAt(i) {
			o.V[i] = 1
		}
	}
	return o.finish(arrow.PrimitiveTypes.Int64)
}

func intToFloat(mem memory.Allocator, v *view) arrow.Array {
	o := newFixedOut[float64](mem, v.n)
	for i, x := range v.i64 {
		o.V[i] = float64(x)
		if v.isNull(i) {
			o.setNull(i)
		}
	}
	return o.finish(arrow.PrimitiveTypes.Float64)
}

// sumStates returns [sum, cnt]; sum is int64 for int input unless asFloat (mean) is set.
// With isState the input is already a sum state (no nulls) and cnt comes separately.
func sumStates(mem memory.Allocator, g grouping, v *view, mean bool, _ bool) []arrow.Array {
	cnt := newFixedOut[int64](mem, g.ng)
	gid := g.gid
	if v.valid == nil {
		// no NA: the counts are the group sizes, computed once per grouping
		copy(cnt.V, g.groupSizes())
	} else {
		clear(cnt.V)
	}
	var sum arrow.Array
	switch {
	case v.kind == kInt64:
		is := make([]int64, g.ng)
		vals := v.i64[:len(gid)]
		if v.valid == nil {
			for i, x := range gid {
				is[x] += vals[i]
			}
		} else {
			c := cnt.V
			for i, x := range gid {
				if !v.isNull(i) {
					is[x] += vals[i]
					c[x]++
				}
			}
		}
		if !mean {
			o := newFixedOut[int64](mem, g.ng)
			copy(o.V, is)
			sum = o.finish(arrow.PrimitiveTypes.Int64)
			break
		}
		o := newFixedOut[float64](mem, g.ng)
		for i, s := range is {
			o.V[i] = float64(s)
		}
		sum = o.finish(arrow.PrimitiveTypes.Float64)
	default:
		o := newFixedOut[float64](mem, g.ng)
		clear(o.V)
		sv := o.V
		vals := v.f64[:len(gid)]
		if v.valid == nil {
			for i, x := range gid {
				sv[x] += vals[i]
			}
		} else {
			c := cnt.V
			for i, x := range gid {
				if !v.isNull(i) {
					sv[x] += vals[i]
					c[x]++
				}
			}
		}
		sum = o.finish(arrow.PrimitiveTypes.Float64)
	}
	return []arrow.Array{sum, cnt.finish(arrow.PrimitiveTypes.Int64)}
}

func minMax(mem memory.Allocator, g grouping, v *view, isMax bool) arrow.Array {
	switch v.kind {
	case kInt64:
		o := newFixedOut[int64](mem, g.ng)
		seen := make([]bool, g.ng)
		for i, x := range g.gid {
			if v.valid != nil && v.isNull(i) {
				continue
			}
			val := v.i64[i]
			if !seen[x] {
				seen[x] = true
				o.V[x] = val
			} else if isMax {
				o.V[x] = max(o.V[x], val)
			} else {
				o.V[x] = min(o.V[x], val)
			}
		}
		for x, s := range seen {
			if !s {
				o.V[x] = 0
				o.setNull(x)
			}
		}
		return o.finish(v.typ)
	case kFloat64:
		o := newFixedOut[float64](mem, g.ng)
		seen := make([]bool, g.ng)
		for i, x := range g.gid {
			if v.valid != nil && v.isNull(i) {
				continue
			}
			val := v.f64[i]
			if !seen[x] {
				seen[x] = true
				o.V[x] = val
			} else if isMax {
				if val > o.V[x] {
					o.V[x] = val
				}
			} else if val < o.V[x] {
				o.V[x] = val
			}
		}
		for x, s := range seen {
			if !s {
				o.V[x] = 0
				o.setNull(x)
			}
		}
		return o.finish(v.typ)
	}
	// strings: track the best row
	best := make([]int32, g.ng)
	for i := range best {
		best[i] = -1
	}
	for i, x := range g.gid {
		if v.isNull(i) {
			continue
		}
		b := best[x]
		if b < 0 {
			best[x] = int32(i)
			continue
		}
		c := compareVal(v, i, int(b))
		if (isMax && c > 0) || (!isMax && c < 0) {
			best[x] = int32(i)
		}
	}
	return takeView(mem, v, best)
}

func firstLast(mem memory.Allocator, g grouping, v *view, last bool) arrow.Array {
	best := make([]int32, g.ng)
	for i := range best {
		best[i] = -1
	}
	for i, x := range g.gid {
		if v.isNull(i) {
			continue
		}
		if last || best[x] < 0 {
			best[x] = int32(i)
		}
	}
	return takeView(mem, v, best)
}

func values(v *view, i int) float64 {
	if v.kind == kInt64 {
		return float64(v.i64[i])
	}
	return v.f64[i]
}

// momentStates returns [cnt, mean, m2] computed in two passes (exact means, no cancellation).
func momentStates(mem memory.Allocator, g grouping, v *view) []arrow.Array {
	cnt := newFixedOut[int64](mem, g.ng)
	mean := newFixedOut[float64](mem, g.ng)
	m2 := newFixedOut[float64](mem, g.ng)
	clear(cnt.V)
	clear(mean.V)
	clear(m2.V)
	for i, x := range g.gid {
		if !v.isNull(i) {
			mean.V[x] += values(v, i)
			cnt.V[x]++
		}
	}
	for x, c := range cnt.V {
		if c > 0 {
			mean.V[x] /= float64(c)
		}
	}
	for i, x := range g.gid {
		if !v.isNull(i) {
			d := values(v, i) - mean.V[x]
			m2.V[x] += d * d
		}
	}
	return []arrow.Array{cnt.finish(arrow.PrimitiveTypes.Int64), mean.finish(arrow.PrimitiveTypes.Float64), m2.finish(arrow.PrimitiveTypes.Float64)}
}

// corrStates returns [n, mx, my, m2x, m2y, cxy] over rows where both values are present.
func corrStates(mem memory.Allocator, g grouping, x, y *view) []arrow.Array {
	outs := make([]*fixedOut[float64], 5)
	for i := range outs {
		outs[i] = newFixedOut[float64](mem, g.ng)
		clear(outs[i].V)
	}
	n := newFixedOut[int64](mem, g.ng)
	clear(n.V)
	mx, my, m2x, m2y, cxy := outs[0].V, outs[1].V, outs[2].V, outs[3].V, outs[4].V
	for i, k := range g.gid {
		if x.isNull(i) || y.isNull(i) {
			continue
		}
		n.V[k]++
		mx[k] += values(x, i)
		my[k] += values(y, i)
	}
	for k, c := range n.V {
		if c > 0 {
			mx[k] /= float64(c)
			my[k] /= float64(c)
		}
	}
	for i, k := range g.gid {
		if x.isNull(i) || y.isNull(i) {
			continue
		}
		dx, dy := values(x, i)-mx[k], values(y, i)-my[k]
		m2x[k] += dx * dx
		m2y[k] += dy * dy
		cxy[k] += dx * dy
	}
	res := []arrow.Array{n.finish(arrow.PrimitiveTypes.Int64)}
	for _, o := range outs {
		res = append(res, o.finish(arrow.PrimitiveTypes.Float64))
	}
	return res
}

// groupList builds a list array with one list per group holding v[rows[i]] for the rows of that group
// (gids[i] is the group of rows[i]), in row order.
func groupList(mem memory.Allocator, ng int, gids []uint32, rows []int32, v *view) arrow.Array {
	offs := make([]int32, ng+1)
	for _, x := range gids {
		offs[x+1]++
	}
	for i := 0; i < ng; i++ {
		offs[i+1] += offs[i]
	}
	pos := slices.Clone(offs[:ng])
	order := make([]int32, len(rows))
	for i, x := range gids {
		order[pos[x]] = rows[i]
		pos[x]++
	}
	child := takeView(mem, v, order)
	return makeList(mem, v.typ, offs, child)
}

// makeList wraps child (released here) in a list array with the given offsets.
func makeList(mem memory.Allocator, elem arrow.DataType, offs []int32, child arrow.Array) arrow.Array {
	ob := allocBuf(mem, len(offs)*4)
	copy(arrow.Int32Traits.CastFromBytes(ob.Bytes()), offs)
	d := array.NewData(arrow.ListOf(elem), len(offs)-1, []*memory.Buffer{nil, ob}, []arrow.ArrayData{child.Data()}, 0, 0)
	a := array.MakeFromData(d)
	d.Release()
	ob.Release()
	child.Release()
	return a
}

// distinctList builds per group the list of distinct non-NA values of v (first-appearance order).
func distinctList(mem memory.Allocator, ng int, gid []uint32, v *view) arrow.Array {
	c := encode(v)
	t := newU64Table(1024)
	var rows []int32
	var gids []uint32
	nullCode := uint32(math.MaxUint32)
	if v.valid != nil {
		for i := 0; i < v.n; i++ {
			if v.isNull(i) {
				nullCode = c.c[i]
				break
			}
		}
	}
	card := uint64(max(c.card, 1))
	for i, x := range gid {
		cc := c.c[i]
		if cc == nullCode {
			continue
		}
		if _, isNew := t.insert(uint64(x)*card+uint64(cc), uint32(len(rows))); isNew {
			rows = append(rows, int32(i))
			gids = append(gids, x)
		}
	}
	return groupList(mem, ng, gids, rows, v)
}

// topN keeps the n best non-NA values of each group, best first.
func topN(mem memory.Allocator, ng int, gid []uint32, v *view, n int, largest bool) arrow.Array {
	if v.kind == kInt64 {
		tops, cnt := topNTyped(ng, gid, v.i64, v, n, largest)
		return topList(mem, v.typ, ng, n, tops, cnt)
	}
	tops, cnt := topNTyped(ng, gid, v.f64, v, n, largest)
	return topList(mem, v.typ, ng, n, tops, cnt)
}

func topNTyped[T int64 | float64](ng int, gid []uint32, vals []T, v *view, n int, largest bool) ([]T, []int32) {
	tops := make([]T, ng*n)
	cnt := make([]int32, ng)
	better := func(a, b T) bool {
		if largest {
			return a > b
		}
		return a < b
	}
	for i, x := range gid {
		if v.valid != nil && v.isNull(i) {
			continue
		}
		val := vals[i]
		if val != val { // NaN
			continue
		}
		t := tops[int(x)*n : int(x)*n+n]
		c := int(cnt[x])
		if c == n {
			if !better(val, t[n-1]) {
				continue
			}
			c--
		} else {
			cnt[x]++
		}
		j := c
		for j > 0 && better(val, t[j-1]) {
			t[j] = t[j-1]
			j--
		}
		t[j] = val
	}
	return tops, cnt
}

func topList[T int64 | float64](mem memory.Allocator, typ arrow.DataType, ng, n int, tops []T, cnt []int32) arrow.Array {
	offs := make([]int32, ng+1)
	for i, c := range cnt {
		offs[i+1] = offs[i] + c
	}
	o := newFixedOut[T](mem, int(offs[ng]))
	for g := 0; g < ng; g++ {
		copy(o.V[offs[g]:offs[g+1]], tops[g*n:g*n+int(cnt[g])])
	}
	return makeList(mem, typ, offs, o.finish(typ))
}

// ---- combining states ----

func combineStates(mem memory.Allocator, g grouping, a Agg, in []*view) []arrow.Array {
	switch a.Op {
	case "size", "count":
		return []arrow.Array{sumInt(mem, g, in[0])}
	case "sum", "mean":
		var s arrow.Array
		if in[0].kind == kInt64 {
			s = sumInt(mem, g, in[0])
		} else {
			o := newFixedOut[float64](mem, g.ng)
			clear(o.V)
			for i, x := range g.gid {
				o.V[x] += in[0].f64[i]
			}
			s = o.finish(arrow.PrimitiveTypes.Float64)
		}
		return []arrow.Array{s, sumInt(mem, g, in[1])}
	case "min", "max":
		return []arrow.Array{minMax(mem, g, in[0], a.Op == "max")}
	case "first", "last":
		return []arrow.Array{firstLast(mem, g, in[0], a.Op == "last")}
	case "std", "var":
		cnt := newFixedOut[int64](mem, g.ng)
		mean := newFixedOut[float64](mem, g.ng)
		m2 := newFixedOut[float64](mem, g.ng)
		clear(cnt.V)
		clear(mean.V)
		clear(m2.V)
		for i, x := range g.gid {
			nb := in[0].i64[i]
			if nb == 0 {
				continue
			}
			na := cnt.V[x]
			n := float64(na + nb)
			d := in[1].f64[i] - mean.V[x]
			mean.V[x] += d * float64(nb) / n
			m2.V[x] += in[2].f64[i] + d*d*float64(na)*float64(nb)/n
			cnt.V[x] += nb
		}
		return []arrow.Array{cnt.finish(arrow.PrimitiveTypes.Int64), mean.finish(arrow.PrimitiveTypes.Float64), m2.finish(arrow.PrimitiveTypes.Float64)}
	case "corr":
		n := newFixedOut[int64](mem, g.ng)
		clear(n.V)
		outs := make([]*fixedOut[float64], 5)
		for i := range outs {
			outs[i] = newFixedOut[float64](mem, g.ng)
			clear(outs[i].V)
		}
		mx, my, m2x, m2y, cxy := outs[0].V, outs[1].V, outs[2].V, outs[3].V, outs[4].V
		for i, x := range g.gid {
			nb := in[0].i64[i]
			if nb == 0 {
				continue
			}
			na := n.V[x]
			nn := float64(na + nb)
			dx := in[1].f64[i] - mx[x]
			dy := in[2].f64[i] - my[x]
			f := float64(na) * float64(nb) / nn
			mx[x] += dx * float64(nb) / nn
			my[x] += dy * float64(nb) / nn
			m2x[x] += in[3].f64[i] + dx*dx*f
			m2y[x] += in[4].f64[i] + dy*dy*f
			cxy[x] += in[5].f64[i] + dx*dy*f
			n.V[x] += nb
		}
		res := []arrow.Array{n.finish(arrow.PrimitiveTypes.Int64)}
		for _, o := range outs {
			res = append(res, o.finish(arrow.PrimitiveTypes.Float64))
		}
		return res
	case "median", "nunique", "nlargest", "nsmallest":
		l := in[0].arr.(*array.List)
		child := l.ListValues()
		offs := l.Offsets()
		start, end := int64(offs[0]), int64(offs[len(offs)-1])
		sl := array.NewSlice(child, start, end)
		defer sl.Release()
		cv, _ := newView(sl, a.Col)
		gids := make([]uint32, end-start)
		for r := 0; r < in[0].n; r++ {
			for e := offs[r]; e < offs[r+1]; e++ {
				gids[int64(e)-start] = g.gid[r]
			}
		}
		switch a.Op {
		case "median":
			rows := make([]int32, len(gids))
			for i := range rows {
				rows[i] = int32(i)
			}
			return []arrow.Array{groupList(mem, g.ng, gids, rows, cv)}
		case "nunique":
			return []arrow.Array{distinctList(mem, g.ng, gids, cv)}
		default:
			return []arrow.Array{topN(mem, g.ng, gids, cv, a.N, a.Op == "nlargest")}
		}
	}
	panic("combine: unknown op " + a.Op)
}

func sumInt(mem memory.Allocator, g grouping, v *view) arrow.Array {
	o := newFixedOut[int64](mem, g.ng)
	clear(o.V)
	for i, x := range g.gid {
		o.V[x] += v.i64[i]
	}
	return o.finish(arrow.PrimitiveTypes.Int64)
}

// ---- final ----

func finalize(mem memory.Allocator, a Agg, in []*view) arrow.Array {
	n := in[0].n
	switch a.Op {
	case "size", "count", "min", "max", "first", "last", "nlargest", "nsmallest":
		in[0].arr.Retain()
		return in[0].arr
	case "sum":
		cnt := in[1].i64
		if in[0].kind == kInt64 {
			o := newFixedOut[int64](mem, n)
			for i := range o.V {
				o.V[i] = in[0].i64[i]
				if cnt[i] == 0 {
					o.setNull(i)
				}
			}
			return o.finish(arrow.PrimitiveTypes.Int64)
		}
		o := newFixedOut[float64](mem, n)
		for i := range o.V {
			o.V[i] = in[0].f64[i]
			if cnt[i] == 0 {
				o.setNull(i)
			}
		}
		return o.finish(arrow.PrimitiveTypes.Float64)
	case "mean":
		o := newFixedOut[float64](mem, n)
		for i := range o.V {
			c := in[1].i64[i]
			if c == 0 {
				o.V[i] = 0
				o.setNull(i)
			} else {
				o.V[i] = in[0].f64[i] / float64(c)
			}
		}
		return o.finish(arrow.PrimitiveTypes.Float64)
	case "std", "var":
		ddof := int64(1)
		if a.Population {
			ddof = 0
		}
		o := newFixedOut[float64](mem, n)
		for i := range o.V {
			c := in[0].i64[i]
			if c-ddof <= 0 {
				o.V[i] = 0
				o.setNull(i)
				continue
			}
			v := in[2].f64[i] / float64(c-ddof)
			if a.Op == "std" {
				v = math.Sqrt(v)
			}
			o.V[i] = v
		}
		return o.finish(arrow.PrimitiveTypes.Float64)
	case "corr":
		o := newFixedOut[float64](mem, n)
		for i := range o.V {
			m2x, m2y := in[3].f64[i], in[4].f64[i]
			if in[0].i64[i] == 0 {
				o.V[i] = 0
				o.setNull(i)
				continue
			}
			if m2x == 0 || m2y == 0 {
				o.V[i] = math.NaN() // a constant column: undefined, as pandas and DuckDB give
				continue
			}
			o.V[i] = in[5].f64[i] / math.Sqrt(m2x*m2y)
		}
		return o.finish(arrow.PrimitiveTypes.Float64)
	case "median":
		l := in[0].arr.(*array.List)
		offs := l.Offsets()
		child := l.ListValues().(*array.Float64).Float64Values()
		o := newFixedOut[float64](mem, n)
		var scratch []float64
		for i := range o.V {
			s, e := offs[i], offs[i+1]
			if s == e {
				o.V[i] = 0
				o.setNull(i)
				continue
			}
			scratch = append(scratch[:0], child[s:e]...)
			o.V[i] = median(scratch)
		}
		return o.finish(arrow.PrimitiveTypes.Float64)
	case "nunique":
		offs := in[0].arr.(*array.List).Offsets()
		o := newFixedOut[int64](mem, n)
		for i := range o.V {
			o.V[i] = int64(offs[i+1] - offs[i])
		}
		return o.finish(arrow.PrimitiveTypes.Int64)
	}
	panic("final: unknown op " + a.Op)
}

// median selects the median of xs (reordering xs).
func median(xs []float64) float64 {
	n := len(xs)
	k := n / 2
	quickselect(xs, k)
	if n%2 == 1 {
		return xs[k]
	}
	lo := xs[0]
	for _, x := range xs[:k] {
		lo = max(lo, x)
	}
	return (lo + xs[k]) / 2
}

// quickselect puts the k-th smallest element of xs at index k, smaller ones before it.
func quickselect(xs []float64, k int) {
	lo, hi := 0, len(xs)-1
	for hi > lo {
		if hi-lo < 16 {
			slices.Sort(xs[lo : hi+1])
			return
		}
		mid := lo + (hi-lo)/2
		// median of three
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		p := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < p {
				i++
			}
			for xs[j] > p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		if k <= j {
			hi = j
		} else if k >= i {
			lo = i
		} else {
			return
		}
	}
}

// Explode turns the list column col of rec into one row per element, repeating the other columns; empty and null
// lists give no row.
func Explode(mem memory.Allocator, rec arrow.RecordBatch, col string) (arrow.RecordBatch, error) {
	idx := rec.Schema().FieldIndices(col)
	if len(idx) == 0 {
		return nil, fmt.Errorf("explode: unknown column %q", col)
	}
	l, ok := rec.Column(idx[0]).(*array.List)
	if !ok {
		return nil, fmt.Errorf("explode: column %q has type %s, want a list", col, rec.Column(idx[0]).DataType())
	}
	offs := l.Offsets()
	var parent, elem []int32
	for r := 0; r < l.Len(); r++ {
		if l.IsNull(r) {
			continue
		}
		for e := offs[r]; e < offs[r+1]; e++ {
			parent = append(parent, int32(r))
			elem = append(elem, e)
		}
	}
	fields := slices.Clone(rec.Schema().Fields())
	cols := make([]arrow.Array, len(fields))
	for i := range cols {
		var v *view
		var err error
		if i == idx[0] {
			v, err = newView(l.ListValues(), col)
			fields[i].Type = l.DataType().(*arrow.ListType).Elem()
			if err == nil {
				cols[i] = takeView(mem, v, elem)
			}
		} else {
			v, err = newView(rec.Column(i), fields[i].Name)
			if err == nil {
				cols[i] = takeView(mem, v, parent)
			}
		}
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, len(parent)), nil
}

// decodeForGroupBy returns rec (retained) with its dictionary columns decoded,
// except, with dictKeys, the keys that dictKeyView takes and no aggregation
// reads.
func decodeForGroupBy(mem memory.Allocator, rec arrow.RecordBatch, keys []string, aggs []Agg, dictKeys bool) (arrow.RecordBatch, error) {
	// only the columns read (a dictionary nobody reads is not decoded)
	need := slices.Clone(keys)
	for _, a := range aggs {
		need = append(need, a.Col, a.Col2)
	}
	var fields []arrow.Field
	var cols []arrow.Array
	hasDict := false
	for i, f := range rec.Schema().Fields() {
		if slices.Contains(need, f.Name) {
			fields = append(fields, f)
			cols = append(cols, rec.Column(i))
			hasDict = hasDict || IsDictionary(f.Type)
		}
	}
	if !hasDict {
		rec.Retain()
		return rec, nil
	}
	md := rec.Schema().Metadata()
	rec = array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, rec.NumRows())
	defer rec.Release()
	var keep []string
	if dictKeys {
		for _, k := range keys {
			idx := rec.Schema().FieldIndices(k)
			if len(idx) == 0 || dictKeyView(rec.Column(idx[0]), k) == nil {
				continue
			}
			read := false
			for _, a := range aggs {
				read = read || a.Col == k || a.Col2 == k
			}
			if !read {
				keep = append(keep, k)
			}
		}
	}
	return DecodeDictionaries(mem, rec, keep...)
}
