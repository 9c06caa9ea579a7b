package array

import (
	"fmt"
	"math"
	"slices"

	"github.com/meshcompute/mesh/futures"
)

// Array is a lazy chunked n-d array: a plan (what to compute) with its
// dtype, shape and chunks. Methods return new Arrays without computing;
// Compute and Persist run the plan on a mesh. An Array made from bad input
// (shapes that do not broadcast, a bad axis...) carries the error, which
// every Array built on it carries too and Compute returns.
type Array struct {
	n    *node
	err  error
	held []*futures.Future // Persist's: released by Release
}

type kind uint8

const (
	kGen kind = iota + 1
	kHost
	kPersisted
	kElem
	kTranspose
	kSlice
	kExpand
	kReduce
	kMatMul
	kRechunk
	kConcat
	kSqueeze
)

// node is one step of a plan.
type node struct {
	kind   kind
	dt     DType
	shape  []int
	chunks [][]int
	in     []*node

	gen   *Gen              // kGen
	host  *view             // kHost: the data, C order
	parts []*futures.Future // kPersisted: one per block, C order over the block grid
	fn    string            // kElem: function; kReduce: reduction
	perm  []int             // kTranspose
	sl    []Sl              // kSlice: per axis, global
	axes  []int             // kReduce: reduced axes (sorted); kExpand, kConcat: the axis
	keep  bool              // kReduce: keepdims
	ddof  int               // kReduce: var/std
}

func errArray(format string, args ...any) *Array {
	return &Array{err: fmt.Errorf("array: "+format, args...)}
}

// Err is the error the array carries, if any.
func (a *Array) Err() error { return a.err }

// DType is the element type (0 for an array with an error).
func (a *Array) DType() DType {
	if a.err != nil {
		return 0
	}
	return a.n.dt
}

// Shape is the array's shape (nil for an array with an error).
func (a *Array) Shape() []int {
	if a.err != nil {
		return nil
	}
	return slices.Clone(a.n.shape)
}

// Chunks are the chunk sizes along each axis.
func (a *Array) Chunks() [][]int {
	if a.err != nil {
		return nil
	}
	out := make([][]int, len(a.n.chunks))
	for k, c := range a.n.chunks {
		out[k] = slices.Clone(c)
	}
	return out
}

// NDim is the number of dimensions.
func (a *Array) NDim() int { return len(a.Shape()) }

// Size is the number of elements.
func (a *Array) Size() int { return size(a.Shape()) }

// normChunks turns per-axis chunk sizes (-1: the whole axis) into the
// chunk sizes of each axis; an empty axis has one empty chunk.
func normChunks(shape, chunks []int) ([][]int, error) {
	if len(chunks) != len(shape) {
		return nil, fmt.Errorf("chunks %v for a %d-d shape %v: give one chunk size per axis", chunks, len(shape), shape)
	}
	out := make([][]int, len(shape))
	for k, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		c := chunks[k]
		if c == -1 {
			c = max(d, 1)
		}
		if c <= 0 {
			return nil, fmt.Errorf("chunk size %d on axis %d: chunk sizes must be > 0 (or -1 for the whole axis)", chunks[k], k)
		}
		if d == 0 {
			out[k] = []int{0}
			continue
		}
		for o := 0; o < d; o += c {
			out[k] = append(out[k], min(c, d-o))
		}
	}
	return out, nil
}

func offsets(ch []int) []int {
	o := make([]int, len(ch)+1)
	for k, c := range ch {
		o[k+1] = o[k] + c
	}
	return o
}

func gridShape(chunks [][]int) []int {
	g := make([]int, len(chunks))
	for k, c := range chunks {
		g[k] = len(c)
	}
	return g
}

func source(g *Gen, chunks []int) *Array {
	ch, err := normChunks(g.Shape, chunks)
	if err != nil {
		return errArray("%s: %w", g.Kind, err)
	}
	return &Array{n: &node{kind: kGen, dt: g.DT, shape: slices.Clone(g.Shape), chunks: ch, gen: g}}
}

// Random is an array of uniform numbers in [0, 1). Element i (in C order)
// is a function of seed and i alone, so the array is the same whatever its
// chunks.
func Random(shape, chunks []int, seed uint64) *Array {
	return source(&Gen{Kind: "random", Shape: slices.Clone(shape), DT: Float64, Seed: seed}, chunks)
}

// Normal is an array of normal numbers (mean, std), by Box–Muller on two
// uniforms of element i's own counters: the same whatever the chunks.
func Normal(shape, chunks []int, seed uint64, mean, std float64) *Array {
	return source(&Gen{Kind: "normal", Shape: slices.Clone(shape), DT: Float64, Seed: seed, F: mean, F2: std}, chunks)
}

// Full is an array of one value: a float64, int, int64 or bool, which
// gives the dtype.
func Full(shape, chunks []int, value any) *Array {
	g := &Gen{Kind: "full", Shape: slices.Clone(shape)}
	switch v := value.(type) {
	case float64:
		g.DT, g.F = Float64, v
	case int:
		g.DT, g.I = Int64, int64(v)
	case int64:
		g.DT, g.I = Int64, v
	case bool:
		g.DT, g.B = Bool, v
	default:
		return errArray("Full of a %T: give a float64, int, int64 or bool", value)
	}
	return source(g, chunks)
}

// Zeros is a float64 array of zeros.
func Zeros(shape, chunks []int) *Array { return Full(shape, chunks, 0.0) }

// Ones is a float64 array of ones.
func Ones(shape, chunks []int) *Array { return Full(shape, chunks, 1.0) }

// Arange is start, start+step, ... up to stop (excluded), float64.
func Arange(start, stop, step float64, chunk int) *Array {
	if step == 0 || math.IsNaN(step) {
		return errArray("Arange with step %v: the step must not be 0", step)
	}
	n := max(0, int(math.Ceil((stop-start)/step)))
	return source(&Gen{Kind: "arange", Shape: []int{n}, DT: Float64, F: start, F2: step}, []int{chunk})
}

// ArangeInt is start, start+step, ... up to stop (excluded), int64.
func ArangeInt(start, stop, step int64, chunk int) *Array {
	if step == 0 {
		return errArray("ArangeInt with step 0: the step must not be 0")
	}
	n := int64(0)
	if (step > 0 && stop > start) || (step < 0 && stop < start) {
		n = (stop - start + step - sign(step)) / step
	}
	return source(&Gen{Kind: "arange", Shape: []int{int(n)}, DT: Int64, I: start, I2: step}, []int{chunk})
}

func sign(x int64) int64 {
	if x < 0 {
		return -1
	}
	return 1
}

// Linspace is num evenly spaced float64 values from start to stop
// (included when endpoint).
func Linspace(start, stop float64, num int, endpoint bool, chunk int) *Array {
	if num < 0 {
		return errArray("Linspace of %d values: num must be >= 0", num)
	}
	return source(&Gen{Kind: "linspace", Shape: []int{num}, DT: Float64, F: start, F2: stop, N: num, End: endpoint}, []int{chunk})
}

// Eye is an n×m float64 array with ones on diagonal k (0: the main one).
func Eye(n, m, k int, chunks []int) *Array {
	return source(&Gen{Kind: "eye", Shape: []int{n, m}, DT: Float64, N: k}, chunks)
}

// FromSlice is an array of data ([]float64, []int64, []int or []bool, C
// order) with the given shape. The data is copied; Compute and Persist
// scatter the chunks they need to the mesh.
func FromSlice(data any, shape, chunks []int) *Array {
	var b buf
	switch d := data.(type) {
	case []float64:
		b = buf{dt: Float64, f: slices.Clone(d)}
	case []int64:
		b = buf{dt: Int64, i: slices.Clone(d)}
	case []int:
		b = buf{dt: Int64, i: make([]int64, len(d))}
		for k, x := range d {
			b.i[k] = int64(x)
		}
	case []bool:
		b = buf{dt: Bool, b: slices.Clone(d)}
	default:
		return errArray("FromSlice of a %T: give []float64, []int64, []int or []bool", data)
	}
	for _, d := range shape {
		if d < 0 {
			return errArray("FromSlice: shape %v has a negative dimension", shape)
		}
	}
	if b.len() != size(shape) {
		return errArray("FromSlice: %d values for shape %v (%d elements)", b.len(), shape, size(shape))
	}
	ch, err := normChunks(shape, chunks)
	if err != nil {
		return errArray("FromSlice: %w", err)
	}
	v := contigView(b, slices.Clone(shape))
	return &Array{n: &node{kind: kHost, dt: b.dt, shape: slices.Clone(shape), chunks: ch, host: &v}}
}

// FromDense is an array of a computed result (or one read with ReadNpy).
func FromDense(d *Dense, chunks []int) *Array {
	switch d.DType {
	case Float64:
		return FromSlice(d.F64, d.Shape, chunks)
	case Int64:
		return FromSlice(d.I64, d.Shape, chunks)
	case Bool:
		return FromSlice(d.Bools, d.Shape, chunks)
	}
	return errArray("FromDense of dtype %v", d.DType)
}

// scalar is a 0-d array of a Go number.
func scalar(v any) (*Array, error) {
	var g *Gen
	switch x := v.(type) {
	case float64:
		g = &Gen{Kind: "full", DT: Float64, F: x}
	case float32:
		g = &Gen{Kind: "full", DT: Float64, F: float64(x)}
	case int:
		g = &Gen{Kind: "full", DT: Int64, I: int64(x)}
	case int64:
		g = &Gen{Kind: "full", DT: Int64, I: x}
	case int32:
		g = &Gen{Kind: "full", DT: Int64, I: int64(x)}
	case bool:
		g = &Gen{Kind: "full", DT: Bool, B: x}
	default:
		return nil, fmt.Errorf("array: operand of type %T: give an *Array or a float64, int, int64 or bool", v)
	}
	g.Shape = []int{}
	return &Array{n: &node{kind: kGen, dt: g.DT, shape: []int{}, chunks: [][]int{}, gen: g}}, nil
}

func operand(v any) (*Array, error) {
	switch x := v.(type) {
	case *Array:
		if x == nil {
			return nil, fmt.Errorf("array: nil *Array operand")
		}
		return x, x.err
	}
	return scalar(v)
}

// weak gives a Go scalar operand the dtype of the array it meets, as numpy
// does for Python scalars: an int with a float64 array is float64, a
// float64 with an int64 array makes the result float64.
func weak(s *Array, other DType) {
	g := s.n.gen
	if g.DT == Int64 && other == Float64 {
		g.DT, g.F = Float64, float64(g.I)
		s.n.dt = Float64
	}
}

// Elementwise applies function fn (see the methods: "add", "sub", "lt",
// "exp", ...) to operands (*Array or Go scalars), broadcasting their shapes
// as numpy does. Operands chunked differently along an axis are rechunked
// to the first such operand's chunks.
func Elementwise(fn string, operands ...any) *Array {
	ops := make([]*Array, len(operands))
	var arrDT DType
	for k, o := range operands {
		a, err := operand(o)
		if err != nil {
			return &Array{err: fmt.Errorf("%s: %w", fn, err)}
		}
		ops[k] = a
		if _, isArr := o.(*Array); isArr && arrDT == 0 {
			arrDT = a.n.dt
		}
	}
	for k, o := range operands {
		if _, isArr := o.(*Array); !isArr && arrDT != 0 {
			weak(ops[k], arrDT)
		}
	}
	dts := make([]DType, len(ops))
	shapes := make([][]int, len(ops))
	for k, a := range ops {
		dts[k], shapes[k] = a.n.dt, a.n.shape
	}
	_, rt, err := elemTypes(fn, dts)
	if err != nil {
		return &Array{err: err}
	}
	shape, err := broadcastShapes(shapes...)
	if err != nil {
		return errArray("%s: %w", fn, err)
	}
	nd := len(shape)
	chunks := make([][]int, nd)
	for ax := range nd {
		for _, a := range ops {
			k := ax - (nd - len(a.n.shape))
			if k >= 0 && a.n.shape[k] == shape[ax] {
				chunks[ax] = a.n.chunks[k]
				break
			}
		}
	}
	ins := make([]*node, len(ops))
	for k, a := range ops {
		in := a.n
		want := make([][]int, len(in.shape))
		differ := false
		for j := range in.shape {
			ax := j + nd - len(in.shape)
			want[j] = in.chunks[j]
			if in.shape[j] == shape[ax] && !slices.Equal(in.chunks[j], chunks[ax]) {
				want[j], differ = chunks[ax], true
			}
		}
		if differ {
			in = &node{kind: kRechunk, dt: in.dt, shape: in.shape, chunks: want, in: []*node{in}}
		}
		ins[k] = in
	}
	return &Array{n: &node{kind: kElem, dt: rt, shape: shape, chunks: chunks, in: ins, fn: fn}}
}

// Arithmetic, comparisons and logic with another array or a scalar.
func (a *Array) Add(b any) *Array      { return a.bin("add", b) }
func (a *Array) Sub(b any) *Array      { return a.bin("sub", b) }
func (a *Array) Mul(b any) *Array      { return a.bin("mul", b) }
func (a *Array) Div(b any) *Array      { return a.bin("div", b) }
func (a *Array) FloorDiv(b any) *Array { return a.bin("floordiv", b) }
func (a *Array) Mod(b any) *Array      { return a.bin("mod", b) }
func (a *Array) Pow(b any) *Array      { return a.bin("pow", b) }
func (a *Array) Maximum(b any) *Array  { return a.bin("maximum", b) }
func (a *Array) Minimum(b any) *Array  { return a.bin("minimum", b) }
func (a *Array) Eq(b any) *Array       { return a.bin("eq", b) }
func (a *Array) Ne(b any) *Array       { return a.bin("ne", b) }
func (a *Array) Lt(b any) *Array       { return a.bin("lt", b) }
func (a *Array) Le(b any) *Array       { return a.bin("le", b) }
func (a *Array) Gt(b any) *Array       { return a.bin("gt", b) }
func (a *Array) Ge(b any) *Array       { return a.bin("ge", b) }
func (a *Array) And(b any) *Array      { return a.bin("and", b) }
func (a *Array) Or(b any) *Array       { return a.bin("or", b) }
func (a *Array) Xor(b any) *Array      { return a.bin("xor", b) }

func (a *Array) bin(fn string, b any) *Array {
	if a.err != nil {
		return a
	}
	return Elementwise(fn, a, b)
}

// Unary functions.
func (a *Array) Neg() *Array      { return a.un("neg") }
func (a *Array) Abs() *Array      { return a.un("abs") }
func (a *Array) Square() *Array   { return a.un("square") }
func (a *Array) Sign() *Array     { return a.un("sign") }
func (a *Array) Not() *Array      { return a.un("not") }
func (a *Array) Exp() *Array      { return a.un("exp") }
func (a *Array) Log() *Array      { return a.un("log") }
func (a *Array) Sqrt() *Array     { return a.un("sqrt") }
func (a *Array) Sin() *Array      { return a.un("sin") }
func (a *Array) Cos() *Array      { return a.un("cos") }
func (a *Array) Tanh() *Array     { return a.un("tanh") }
func (a *Array) Floor() *Array    { return a.un("floor") }
func (a *Array) Ceil() *Array     { return a.un("ceil") }
func (a *Array) IsNaN() *Array    { return a.un("isnan") }
func (a *Array) IsFinite() *Array { return a.un("isfinite") }

// Apply applies a named unary math function: exp, expm1, log, log1p, log2,
// log10, sqrt, cbrt, sin, cos, tan, arcsin, arccos, arctan, sinh, cosh,
// tanh, floor, ceil, round, trunc, neg, abs, square, sign, isnan, isinf,
// isfinite, not.
func (a *Array) Apply(fn string) *Array { return a.un(fn) }

func (a *Array) un(fn string) *Array {
	if a.err != nil {
		return a
	}
	return Elementwise(fn, a)
}

// AsType converts the elements to dt.
func (a *Array) AsType(dt DType) *Array {
	if a.err != nil {
		return a
	}
	if dt < Float64 || dt > Bool {
		return errArray("AsType(%v): want Float64, Int64 or Bool", dt)
	}
	if a.n.dt == dt {
		return a
	}
	return Elementwise("astype-"+dt.String(), a)
}

// Where is cond ? x : y elementwise, broadcast (numpy.where).
func Where(cond, x, y any) *Array { return Elementwise("where", cond, x, y) }

// T is Transpose with the axes reversed.
func (a *Array) T() *Array { return a.Transpose() }

// Transpose permutes the axes (reversed when none are given).
func (a *Array) Transpose(axes ...int) *Array {
	if a.err != nil {
		return a
	}
	nd := len(a.n.shape)
	if len(axes) == 0 {
		for k := nd - 1; k >= 0; k-- {
			axes = append(axes, k)
		}
	}
	if len(axes) != nd {
		return errArray("Transpose(%v) of a %d-d array: give a permutation of all %d axes", axes, nd, nd)
	}
	seen := make([]bool, nd)
	perm := make([]int, nd)
	for k, ax := range axes {
		if ax < 0 {
			ax += nd
		}
		if ax < 0 || ax >= nd || seen[ax] {
			return errArray("Transpose(%v) of a %d-d array: not a permutation of 0..%d", axes, nd, nd-1)
		}
		seen[ax], perm[k] = true, ax
	}
	shape, chunks := make([]int, nd), make([][]int, nd)
	for k, p := range perm {
		shape[k], chunks[k] = a.n.shape[p], a.n.chunks[p]
	}
	return &Array{n: &node{kind: kTranspose, dt: a.n.dt, shape: shape, chunks: chunks, in: []*node{a.n}, perm: perm}}
}

// Range is a numpy slice start:stop:step of one axis. Build it with All,
// R, RS, From, To or Every; negative indices count from the end.
type Range struct {
	Start, Stop, Step int
	HasStart, HasStop bool
}

// All is ":".
func All() Range { return Range{Step: 1} }

// R is start:stop.
func R(start, stop int) Range {
	return Range{Start: start, Stop: stop, Step: 1, HasStart: true, HasStop: true}
}

// RS is start:stop:step.
func RS(start, stop, step int) Range {
	return Range{Start: start, Stop: stop, Step: step, HasStart: true, HasStop: true}
}

// From is start:.
func From(start int) Range { return Range{Start: start, Step: 1, HasStart: true} }

// To is :stop.
func To(stop int) Range { return Range{Stop: stop, Step: 1, HasStop: true} }

// Every is ::step.
func Every(step int) Range { return Range{Step: step} }

// resolve is Python's slice.indices: the first index, step and count.
func (r Range) resolve(n int) (Sl, error) {
	if r.Step == 0 {
		return Sl{}, fmt.Errorf("slice step 0: the step must not be 0")
	}
	clamp := func(i, lo, hi int) int { return min(max(i, lo), hi) }
	var start, stop int
	if r.Step > 0 {
		start, stop = 0, n
		if r.HasStart {
			start = r.Start
			if start < 0 {
				start += n
			}
			start = clamp(start, 0, n)
		}
		if r.HasStop {
			stop = r.Stop
			if stop < 0 {
				stop += n
			}
			stop = clamp(stop, 0, n)
		}
		cnt := 0
		if stop > start {
			cnt = (stop - start + r.Step - 1) / r.Step
		}
		return Sl{Start: start, Step: r.Step, Count: cnt}, nil
	}
	start, stop = n-1, -1
	if r.HasStart {
		start = r.Start
		if start < 0 {
			start += n
		}
		start = clamp(start, -1, n-1)
	}
	if r.HasStop {
		stop = r.Stop
		if stop < 0 {
			stop += n
		}
		stop = clamp(stop, -1, n-1)
	}
	cnt := 0
	if start > stop {
		cnt = (start - stop - r.Step - 1) / -r.Step
	}
	return Sl{Start: start, Step: r.Step, Count: cnt}, nil
}

// Slice selects ranges of the axes (missing trailing ranges are All), as
// numpy's a[r0, r1, ...]. The result's chunks are the pieces of the input's
// chunks that the ranges select.
func (a *Array) Slice(ranges ...Range) *Array {
	if a.err != nil {
		return a
	}
	nd := len(a.n.shape)
	if len(ranges) > nd {
		return errArray("Slice with %d ranges of a %d-d array: give at most one range per axis", len(ranges), nd)
	}
	sl := make([]Sl, nd)
	shape := make([]int, nd)
	chunks := make([][]int, nd)
	for k := range nd {
		r := All()
		if k < len(ranges) {
			r = ranges[k]
		}
		s, err := r.resolve(a.n.shape[k])
		if err != nil {
			return errArray("Slice axis %d: %w", k, err)
		}
		sl[k], shape[k] = s, s.Count
		for _, p := range slicePieces(a.n.chunks[k], s) {
			chunks[k] = append(chunks[k], p.local.Count)
		}
	}
	return &Array{n: &node{kind: kSlice, dt: a.n.dt, shape: shape, chunks: chunks, in: []*node{a.n}, sl: sl}}
}

// piece is the part of one input block that one output block of a slice
// takes.
type piece struct {
	block int
	local Sl
}

// slicePieces maps a slice of an axis chunked as ch onto its blocks, in
// output order (one empty piece when nothing is selected).
func slicePieces(ch []int, s Sl) []piece {
	off := offsets(ch)
	var out []piece
	nb := len(ch)
	for j := range nb {
		b := j
		if s.Step < 0 {
			b = nb - 1 - j
		}
		lo, hi := off[b], off[b+1]
		var tlo, thi int
		if s.Step > 0 {
			tlo = ceilDiv(lo-s.Start, s.Step)
			thi = ceilDiv(hi-s.Start, s.Step)
		} else {
			st := -s.Step
			tlo = ceilDiv(s.Start-hi+1, st)
			thi = ceilDiv(s.Start-lo+1, st)
		}
		tlo, thi = max(tlo, 0), min(thi, s.Count)
		if thi > tlo {
			out = append(out, piece{block: b, local: Sl{Start: s.Start + tlo*s.Step - lo, Step: s.Step, Count: thi - tlo}})
		}
	}
	if len(out) == 0 {
		out = []piece{{block: 0, local: Sl{Start: 0, Step: 1, Count: 0}}}
	}
	return out
}

func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// Index selects element i of axis (negative: from the end) and drops the
// axis, as numpy's a[..., i, ...].
func (a *Array) Index(axis, i int) *Array {
	if a.err != nil {
		return a
	}
	nd := len(a.n.shape)
	ax, err := normAxis(axis, nd, "Index")
	if err != nil {
		return &Array{err: fmt.Errorf("array: %w", err)}
	}
	n := a.n.shape[ax]
	if i < -n || i >= n {
		return errArray("Index %d of axis %d with %d elements: give -%d..%d", i, ax, n, n, n-1)
	}
	if i < 0 {
		i += n
	}
	ranges := make([]Range, nd)
	for k := range ranges {
		ranges[k] = All()
	}
	ranges[ax] = R(i, i+1)
	s := a.Slice(ranges...)
	shape := slices.Delete(slices.Clone(s.n.shape), ax, ax+1)
	chunks := slices.Delete(slices.Clone(s.n.chunks), ax, ax+1)
	return &Array{n: &node{kind: kSqueeze, dt: s.n.dt, shape: shape, chunks: chunks, in: []*node{s.n}, axes: []int{ax}}}
}

// Rechunk gives the array new chunk sizes (one per axis, -1: whole axis).
func (a *Array) Rechunk(chunks ...int) *Array {
	if a.err != nil {
		return a
	}
	ch, err := normChunks(a.n.shape, chunks)
	if err != nil {
		return errArray("Rechunk: %w", err)
	}
	return &Array{n: &node{kind: kRechunk, dt: a.n.dt, shape: a.n.shape, chunks: ch, in: []*node{a.n}}}
}

func normAxis(ax, nd int, what string) (int, error) {
	if ax < 0 {
		ax += nd
	}
	if ax < 0 || ax >= nd {
		return 0, fmt.Errorf("%s: axis %d out of range for a %d-d array (valid: %d..%d)", what, ax, nd, -nd, nd-1)
	}
	return ax, nil
}

// Concatenate joins arrays of equal shapes but along axis (numpy.concatenate).
func Concatenate(arrays []*Array, axis int) *Array {
	if len(arrays) == 0 {
		return errArray("Concatenate of no arrays")
	}
	for _, a := range arrays {
		if a == nil {
			return errArray("Concatenate: a nil array")
		}
		if a.err != nil {
			return a
		}
	}
	first := arrays[0].n
	nd := len(first.shape)
	if nd == 0 {
		return errArray("Concatenate of 0-d arrays: use Stack")
	}
	ax, err := normAxis(axis, nd, "Concatenate")
	if err != nil {
		return &Array{err: fmt.Errorf("array: %w", err)}
	}
	dt := first.dt
	for _, a := range arrays[1:] {
		dt = promote(dt, a.n.dt)
	}
	shape := slices.Clone(first.shape)
	shape[ax] = 0
	chunks := slices.Clone(first.chunks)
	chunks[ax] = nil
	ins := make([]*node, len(arrays))
	for k, a := range arrays {
		n := a.n
		if len(n.shape) != nd {
			return errArray("Concatenate: array %d is %d-d, array 0 is %d-d", k, len(n.shape), nd)
		}
		for j := range nd {
			if j != ax && n.shape[j] != first.shape[j] {
				return errArray("Concatenate along axis %d: array %d has shape %v, array 0 %v: all but axis %d must match", ax, k, n.shape, first.shape, ax)
			}
		}
		if n.dt != dt {
			n = Elementwise("astype-"+dt.String(), &Array{n: n}).n
		}
		want := slices.Clone(chunks)
		want[ax] = n.chunks[ax]
		differ := false
		for j := range nd {
			if !slices.Equal(want[j], n.chunks[j]) {
				differ = true
			}
		}
		if differ {
			n = &node{kind: kRechunk, dt: n.dt, shape: n.shape, chunks: want, in: []*node{n}}
		}
		ins[k] = n
		if n.shape[ax] > 0 {
			shape[ax] += n.shape[ax]
			chunks[ax] = append(chunks[ax], n.chunks[ax]...)
		}
	}
	if chunks[ax] == nil {
		chunks[ax] = []int{0}
	}
	return &Array{n: &node{kind: kConcat, dt: dt, shape: shape, chunks: chunks, in: ins, axes: []int{ax}}}
}

// Stack joins arrays of one shape along a new axis (numpy.stack).
func Stack(arrays []*Array, axis int) *Array {
	if len(arrays) == 0 {
		return errArray("Stack of no arrays")
	}
	exp := make([]*Array, len(arrays))
	for k, a := range arrays {
		if a == nil {
			return errArray("Stack: a nil array")
		}
		if a.err != nil {
			return a
		}
		if !slices.Equal(a.n.shape, arrays[0].n.shape) {
			return errArray("Stack: array %d has shape %v, array 0 %v: all must match", k, a.n.shape, arrays[0].n.shape)
		}
		ax, err := normAxis(axis, len(a.n.shape)+1, "Stack")
		if err != nil {
			return &Array{err: fmt.Errorf("array: %w", err)}
		}
		exp[k] = &Array{n: &node{kind: kExpand, dt: a.n.dt, shape: slices.Insert(slices.Clone(a.n.shape), ax, 1),
			chunks: slices.Insert(slices.Clone(a.n.chunks), ax, []int{1}), in: []*node{a.n}, axes: []int{ax}}}
	}
	ax, _ := normAxis(axis, len(arrays[0].n.shape)+1, "Stack")
	return Concatenate(exp, ax)
}

// reduce builds a reduction over axes (all when none).
func (a *Array) reduce(op string, keep bool, ddof int, axes []int) *Array {
	if a.err != nil {
		return a
	}
	nd := len(a.n.shape)
	var ax []int
	if len(axes) == 0 {
		for k := range nd {
			ax = append(ax, k)
		}
	}
	for _, x := range axes {
		k, err := normAxis(x, nd, op)
		if err != nil {
			return &Array{err: fmt.Errorf("array: %w", err)}
		}
		if slices.Contains(ax, k) {
			return errArray("%s: axis %d given twice", op, x)
		}
		ax = append(ax, k)
	}
	slices.Sort(ax)
	if (op == "argmin" || op == "argmax") && len(ax) != 1 && len(ax) != nd {
		return errArray("%s over axes %v: give one axis or none", op, axes)
	}
	if a.n.dt == Bool && (op == "var" || op == "std") {
		return errArray("%s of a bool array: convert it with AsType(Float64)", op)
	}
	count := 1
	for _, k := range ax {
		count *= a.n.shape[k]
	}
	if count == 0 && (op == "min" || op == "max" || op == "argmin" || op == "argmax") {
		return errArray("%s of an empty selection (shape %v over axes %v): it has no identity", op, a.n.shape, ax)
	}
	shape, chunks := []int{}, [][]int{}
	for k := range nd {
		switch {
		case !slices.Contains(ax, k):
			shape, chunks = append(shape, a.n.shape[k]), append(chunks, a.n.chunks[k])
		case keep:
			shape, chunks = append(shape, 1), append(chunks, []int{1})
		}
	}
	return &Array{n: &node{kind: kReduce, dt: resultType(op, a.n.dt), shape: shape, chunks: chunks, in: []*node{a.n}, fn: op, axes: ax, keep: keep, ddof: ddof}}
}

// Reductions over the given axes (all when none), as tree reductions.
func (a *Array) Sum(axes ...int) *Array    { return a.reduce("sum", false, 0, axes) }
func (a *Array) Mean(axes ...int) *Array   { return a.reduce("mean", false, 0, axes) }
func (a *Array) Min(axes ...int) *Array    { return a.reduce("min", false, 0, axes) }
func (a *Array) Max(axes ...int) *Array    { return a.reduce("max", false, 0, axes) }
func (a *Array) Var(axes ...int) *Array    { return a.reduce("var", false, 0, axes) }
func (a *Array) Std(axes ...int) *Array    { return a.reduce("std", false, 0, axes) }
func (a *Array) Any(axes ...int) *Array    { return a.reduce("any", false, 0, axes) }
func (a *Array) All(axes ...int) *Array    { return a.reduce("all", false, 0, axes) }
func (a *Array) Argmin(axes ...int) *Array { return a.reduce("argmin", false, 0, axes) }
func (a *Array) Argmax(axes ...int) *Array { return a.reduce("argmax", false, 0, axes) }

// Reduce is a reduction with options: op is sum, mean, min, max, var, std,
// any, all, argmin or argmax; keepdims keeps the reduced axes with size 1;
// ddof is var/std's delta degrees of freedom.
func (a *Array) Reduce(op string, keepdims bool, ddof int, axes ...int) *Array {
	switch op {
	case "sum", "mean", "min", "max", "var", "std", "any", "all", "argmin", "argmax":
	default:
		return errArray("unknown reduction %q", op)
	}
	return a.reduce(op, keepdims, ddof, axes)
}

// MatMul is the matrix product of two 2-d arrays, blocked: C[i,j] is the
// sum over k of A[i,k]·B[k,j] (gonum's Dgemm per block). B's row chunks are
// rechunked to A's column chunks when they differ.
func (a *Array) MatMul(b *Array) *Array {
	if a.err != nil {
		return a
	}
	if b == nil {
		return errArray("MatMul with a nil array")
	}
	if b.err != nil {
		return b
	}
	if len(a.n.shape) != 2 || len(b.n.shape) != 2 {
		return errArray("MatMul of %d-d and %d-d arrays: both must be 2-d (use Dot for vectors)", len(a.n.shape), len(b.n.shape))
	}
	if a.n.shape[1] != b.n.shape[0] {
		return errArray("MatMul of %v and %v: inner dimensions %d and %d differ", a.n.shape, b.n.shape, a.n.shape[1], b.n.shape[0])
	}
	bn := b.n
	if !slices.Equal(bn.chunks[0], a.n.chunks[1]) {
		bn = &node{kind: kRechunk, dt: bn.dt, shape: bn.shape, chunks: [][]int{a.n.chunks[1], bn.chunks[1]}, in: []*node{bn}}
	}
	dt := Float64
	if a.n.dt != Float64 && b.n.dt != Float64 {
		dt = Int64
	}
	return &Array{n: &node{kind: kMatMul, dt: dt, shape: []int{a.n.shape[0], b.n.shape[1]}, chunks: [][]int{a.n.chunks[0], bn.chunks[1]}, in: []*node{a.n, bn}}}
}

// Dot is numpy.dot for 1-d and 2-d arrays: MatMul for two matrices, the
// inner product (0-d) of two vectors, and a matrix-vector product (1-d)
// as an elementwise product summed by a tree.
func (a *Array) Dot(b *Array) *Array {
	if a.err != nil {
		return a
	}
	if b == nil {
		return errArray("Dot with a nil array")
	}
	if b.err != nil {
		return b
	}
	na, nb := len(a.n.shape), len(b.n.shape)
	if na < 1 || na > 2 || nb < 1 || nb > 2 {
		return errArray("Dot of %d-d and %d-d arrays: give 1-d or 2-d arrays", na, nb)
	}
	ka, kb := a.n.shape[na-1], b.n.shape[0]
	if ka != kb {
		return errArray("Dot of %v and %v: inner dimensions %d and %d differ", a.n.shape, b.n.shape, ka, kb)
	}
	switch {
	case na == 1 && nb == 1:
		return a.Mul(b).Sum()
	case na == 2 && nb == 1:
		return a.Mul(b).Sum(1)
	case na == 1 && nb == 2:
		return b.T().Mul(a).Sum(1)
	}
	return a.MatMul(b)
}
