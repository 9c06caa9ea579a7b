package array

import (
	"context"
	"fmt"
	"slices"

	"github.com/meshcompute/mesh/futures"
)

// Expr is a block program: what one task computes for one block (a
// chunk). A chain of blockwise steps (elementwise functions, transposes,
// slices, broadcasts, a reduction's partial) is one Expr, so it runs as one
// task; leaves are the task's inputs ("in") or generators ("gen").
type Expr struct {
	Op     string  `msgpack:"o"`
	Args   []*Expr `msgpack:"a,omitempty"`
	In     int     `msgpack:"i,omitempty"`
	Fn     string  `msgpack:"f,omitempty"`
	Gen    *Gen    `msgpack:"g,omitempty"`
	Sl     []Sl    `msgpack:"sl,omitempty"`
	Perm   []int   `msgpack:"p,omitempty"`
	Axes   []int   `msgpack:"x,omitempty"`
	Off    []int   `msgpack:"off,omitempty"`
	Shape  []int   `msgpack:"s,omitempty"`
	Pieces [][]int `msgpack:"pc,omitempty"`
	Count  float64 `msgpack:"c,omitempty"`
	Ddof   int     `msgpack:"dd,omitempty"`

	ref any // while building: the input (a futures.Ref or *futures.Future) of an "in" leaf
}

const opRun = "array.run"

func init() {
	futures.Register(opRun, runBlock)
}

// runBlock is the one task function of arrays: it evaluates a block
// program over its inputs (chunk values, read in place) and returns the
// block as a chunk value.
func runBlock(ctx context.Context, e Expr, inputs ...futures.RawBytes) (futures.Encoded, error) {
	ev := &evaluator{ctx: ctx, raw: inputs, in: make([]*view, len(inputs)), root: &e}
	v, err := ev.eval(&e)
	if err != nil {
		return nil, err
	}
	if ev.value != nil && v.isContig() && v.off == 0 && v.sameData(ev.valueBuf) && size(v.shape) == ev.valueBuf.len() {
		return ev.value, nil // computed in place
	}
	return encodeChunk(v)
}

type evaluator struct {
	ctx  context.Context
	raw  []futures.RawBytes
	in   []*view
	root *Expr
	// value: the chunk value the root operation wrote its result into
	value    futures.Encoded
	valueBuf buf
}

// allocFunc allocates the result of an operation (nil: newBuf).
type allocFunc func(dt DType, shape []int) buf

func (a allocFunc) buf(dt DType, shape []int) buf {
	if a == nil {
		return newBuf(dt, size(shape))
	}
	return a(dt, shape)
}

// allocFor gives the root operation of the program a result that is the
// task's chunk value itself, so that it is not copied to be encoded.
func (ev *evaluator) allocFor(e *Expr) allocFunc {
	if e != ev.root {
		return nil
	}
	return func(dt DType, shape []int) buf {
		v, b, err := newChunkValue(dt, shape)
		if err != nil {
			return newBuf(dt, size(shape)) // encodeChunk reports it
		}
		ev.value, ev.valueBuf = v, b
		return b
	}
}

func (ev *evaluator) eval(e *Expr) (view, error) { return ev.evalSl(e, nil) }

// evalSl evaluates e restricted to the slice sl of its result (nil: all
// of it). Slices are pushed down through elementwise functions,
// transposes and broadcasts to the inputs and generators, so that a
// program whose result is sliced computes only the selected elements.
func (ev *evaluator) evalSl(e *Expr, sl []Sl) (view, error) {
	if err := ev.ctx.Err(); err != nil {
		return view{}, err
	}
	switch e.Op {
	case "slice":
		if sl == nil {
			return ev.evalSl(e.Args[0], e.Sl)
		}
		if len(sl) != len(e.Sl) {
			return view{}, fmt.Errorf("array: slice of %d axes on a %d-d slice", len(sl), len(e.Sl))
		}
		c := make([]Sl, len(sl))
		for k, s := range sl {
			r := e.Sl[k]
			if s.Count > 0 && (s.Start < 0 || s.Start >= r.Count || s.Start+(s.Count-1)*s.Step < 0 || s.Start+(s.Count-1)*s.Step >= r.Count) {
				return view{}, fmt.Errorf("array: slice %+v outside %d elements on axis %d", s, r.Count, k)
			}
			c[k] = Sl{Start: r.Start + s.Start*r.Step, Step: s.Step * r.Step, Count: s.Count}
		}
		return ev.evalSl(e.Args[0], c)
	case "gen":
		if e.Gen == nil {
			return view{}, fmt.Errorf("array: generator leaf without a generator")
		}
		region := e.Sl
		if sl != nil {
			region = make([]Sl, len(sl))
			for k, s := range sl {
				r := e.Sl[k]
				region[k] = Sl{Start: r.Start + s.Start*r.Step, Step: s.Step * r.Step, Count: s.Count}
			}
		}
		return generate(e.Gen, region, ev.allocFor(e))
	case "elem":
		if sl == nil {
			args, err := ev.evalArgs(e.Args, nil)
			if err != nil {
				return view{}, err
			}
			return evalElem(e.Fn, args, ev.allocFor(e))
		}
		args := make([]view, len(e.Args))
		for j, a := range e.Args {
			shape, err := ev.shapeOf(a)
			if err != nil {
				return view{}, err
			}
			if len(shape) > len(sl) {
				return view{}, fmt.Errorf("array: a %d-d operand under a %d-d slice", len(shape), len(sl))
			}
			asl := make([]Sl, len(shape))
			for k, d := range shape {
				s := sl[k+len(sl)-len(shape)]
				if d == 1 && (s.Count != 1 || s.Start != 0) {
					s = Sl{Start: 0, Step: 1, Count: 1} // broadcast along this axis
				}
				asl[k] = s
			}
			if args[j], err = ev.evalSl(a, asl); err != nil {
				return view{}, err
			}
		}
		return evalElem(e.Fn, args, ev.allocFor(e))
	case "transpose":
		var isl []Sl
		if sl != nil {
			if len(sl) != len(e.Perm) {
				return view{}, fmt.Errorf("array: slice of %d axes on a %d-d transpose", len(sl), len(e.Perm))
			}
			isl = make([]Sl, len(sl))
			for k, p := range e.Perm {
				isl[p] = sl[k]
			}
		}
		v, err := ev.evalSl(e.Args[0], isl)
		if err != nil {
			return view{}, err
		}
		return transposeView(v, e.Perm)
	}
	args, err := ev.evalArgs(e.Args, nil)
	if err != nil {
		return view{}, err
	}
	v, err := ev.apply(e, args)
	if err != nil || sl == nil {
		return v, err
	}
	return sliceView(v, sl)
}

func (ev *evaluator) evalArgs(es []*Expr, sl []Sl) ([]view, error) {
	args := make([]view, len(es))
	for k, a := range es {
		v, err := ev.evalSl(a, sl)
		if err != nil {
			return nil, err
		}
		args[k] = v
	}
	return args, nil
}

// input is input k, decoded once.
func (ev *evaluator) input(k int) (view, error) {
	if k < 0 || k >= len(ev.raw) {
		return view{}, fmt.Errorf("array: input %d of %d", k, len(ev.raw))
	}
	if ev.in[k] == nil {
		v, err := decodeChunk(ev.raw[k])
		if err != nil {
			return view{}, err
		}
		ev.in[k] = &v
	}
	return *ev.in[k], nil
}

// shapeOf is the shape of e's result, without computing it where it can.
func (ev *evaluator) shapeOf(e *Expr) ([]int, error) {
	switch e.Op {
	case "in":
		v, err := ev.input(e.In)
		return v.shape, err
	case "gen", "slice":
		s := make([]int, len(e.Sl))
		for k, x := range e.Sl {
			s[k] = x.Count
		}
		return s, nil
	case "elem":
		shapes := make([][]int, len(e.Args))
		for k, a := range e.Args {
			s, err := ev.shapeOf(a)
			if err != nil {
				return nil, err
			}
			shapes[k] = s
		}
		return broadcastShapes(shapes...)
	case "transpose":
		in, err := ev.shapeOf(e.Args[0])
		if err != nil {
			return nil, err
		}
		if len(in) != len(e.Perm) {
			return nil, fmt.Errorf("array: transpose of %d axes by a permutation of %d", len(in), len(e.Perm))
		}
		s := make([]int, len(in))
		for k, p := range e.Perm {
			s[k] = in[p]
		}
		return s, nil
	}
	v, err := ev.eval(e) // the rest: compute it (rare under a slice)
	return v.shape, err
}

// apply runs the operations that take their arguments whole.
func (ev *evaluator) apply(e *Expr, args []view) (view, error) {
	switch e.Op {
	case "in":
		return ev.input(e.In)
	case "expand":
		v := args[0]
		a := e.Axes[0]
		v.shape = slices.Insert(slices.Clone(v.shape), a, 1)
		v.strides = slices.Insert(slices.Clone(v.strides), a, 0)
		return v, nil
	case "squeeze":
		v := args[0]
		sh, st := []int{}, []int{}
		for k := range v.shape {
			if !slices.Contains(e.Axes, k) {
				sh, st = append(sh, v.shape[k]), append(st, v.strides[k])
			}
		}
		v.shape, v.strides = sh, st
		return v, nil
	case "assemble":
		return assemble(e.Shape, args, e.Pieces)
	case "partial":
		return partial(e.Fn, args[0], e.Axes, e.Off, e.Shape)
	case "combine":
		return combine(e.Fn, args)
	case "final":
		return finalize(e.Fn, args[0], e.Count, e.Ddof), nil
	case "matmul":
		return matmulSum(args, ev.allocFor(e))
	}
	return view{}, fmt.Errorf("array: unknown block operation %q", e.Op)
}

func transposeView(v view, perm []int) (view, error) {
	if len(perm) != len(v.shape) {
		return view{}, fmt.Errorf("array: transpose of %d axes by a permutation of %d", len(v.shape), len(perm))
	}
	sh, st := make([]int, len(perm)), make([]int, len(perm))
	for k, p := range perm {
		sh[k], st[k] = v.shape[p], v.strides[p]
	}
	v.shape, v.strides = sh, st
	return v, nil
}

func sliceView(v view, sl []Sl) (view, error) {
	if len(sl) != len(v.shape) {
		return view{}, fmt.Errorf("array: slice of %d axes on a %d-d block", len(sl), len(v.shape))
	}
	sh, st := make([]int, len(sl)), make([]int, len(sl))
	off := v.off
	for k, s := range sl {
		if s.Count > 0 && (s.Start < 0 || s.Start >= v.shape[k] || s.Start+(s.Count-1)*s.Step < 0 || s.Start+(s.Count-1)*s.Step >= v.shape[k]) {
			return view{}, fmt.Errorf("array: slice %+v outside a block of %d on axis %d", s, v.shape[k], k)
		}
		if s.Count > 0 {
			off += s.Start * v.strides[k]
		}
		sh[k], st[k] = s.Count, s.Step*v.strides[k]
	}
	v.off, v.shape, v.strides = off, sh, st
	return v, nil
}

// assemble places pieces at their offsets in a new block of shape.
func assemble(shape []int, pieces []view, offs [][]int) (view, error) {
	if len(pieces) == 0 {
		return view{}, fmt.Errorf("array: assemble of no pieces")
	}
	dt := pieces[0].dt
	out := newBuf(dt, size(shape))
	ov := contigView(out, shape)
	for k, p := range pieces {
		if p.dt != dt {
			p = cast(p, dt)
		}
		dst := ov
		for a, o := range offs[k] {
			dst.off += o * dst.strides[a]
		}
		dst.shape = p.shape
		pc := materialize(p)
		pv := contigView(pc, p.shape)
		copyView(dst, pv)
	}
	return ov, nil
}

// copyView copies src into the strided dst (same shape and dtype).
func copyView(dst, src view) {
	nd := len(dst.shape)
	ds, ss := dst.strideLast(), src.strideLast()
	if nd == 0 {
		ds, ss = 0, 0
	}
	forEachRow(dst.shape, []view{dst, src}, func(o []int, n int) {
		for j := range n {
			switch dst.dt {
			case Float64:
				dst.f[o[0]+j*ds] = src.f[o[1]+j*ss]
			case Int64:
				dst.i[o[0]+j*ds] = src.i[o[1]+j*ss]
			default:
				dst.b[o[0]+j*ds] = src.b[o[1]+j*ss]
			}
		}
	})
}

// matmulSum is Σ args[2k] @ args[2k+1] (2-d blocks). float64 runs on
// dgemmAcc (accumulating into one result, from alloc); int64 is exact,
// by loops.
func matmulSum(args []view, alloc allocFunc) (view, error) {
	if len(args) == 0 || len(args)%2 != 0 {
		return view{}, fmt.Errorf("array: matmul of %d blocks", len(args))
	}
	m, n := args[0].shape[0], args[1].shape[1]
	dt := Float64
	if args[0].dt != Float64 && args[1].dt != Float64 {
		dt = Int64
	}
	for p := 0; p < len(args); p += 2 {
		a, b := args[p], args[p+1]
		if len(a.shape) != 2 || len(b.shape) != 2 || a.shape[0] != m || b.shape[1] != n || a.shape[1] != b.shape[0] {
			return view{}, fmt.Errorf("array: matmul of blocks %v and %v into %dx%d", a.shape, b.shape, m, n)
		}
	}
	out := alloc.buf(dt, []int{m, n}) // zeroed
	for p := 0; p < len(args); p += 2 {
		a, b := cast(args[p], dt), cast(args[p+1], dt)
		if len(a.shape) != 2 || len(b.shape) != 2 || a.shape[0] != m || b.shape[1] != n || a.shape[1] != b.shape[0] {
			return view{}, fmt.Errorf("array: matmul of blocks %v and %v into %dx%d", a.shape, b.shape, m, n)
		}
		k := a.shape[1]
		if m == 0 || n == 0 || k == 0 {
			continue
		}
		if dt == Float64 {
			dgemmAcc(m, n, k, materialize(a).f, k, materialize(b).f, n, out.f, n)
			continue
		}
		ai, bi := materialize(a).i, materialize(b).i
		for r := range m {
			row := out.i[r*n : (r+1)*n]
			for q := range k {
				x := ai[r*k+q]
				if x == 0 {
					continue
				}
				bs := bi[q*n : (q+1)*n]
				for c := range row {
					row[c] += x * bs[c]
				}
			}
		}
	}
	return contigView(out, []int{m, n}), nil
}
