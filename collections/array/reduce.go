package array

import (
	"fmt"
	"math"
	"slices"
)

// Reductions run as trees: each input block gives a partial (keepdims
// shape, with a leading component axis for var/std (n, mean, M2) and for
// argmin/argmax (value, index)), partials combine in groups, and the root
// is finalized. Mean is a sum finalized by a division by the count.

// partialType is the dtype of op's partials of a dt array.
func partialType(op string, dt DType) DType {
	switch op {
	case "sum":
		if dt == Float64 {
			return Float64
		}
		return Int64
	case "min", "max":
		return dt
	case "any", "all":
		return Bool
	case "argmin", "argmax":
		if dt == Float64 {
			return Float64
		}
		return Int64
	}
	return Float64 // mean, var, std
}

// resultType is op's result dtype over a dt array.
func resultType(op string, dt DType) DType {
	switch op {
	case "argmin", "argmax":
		return Int64
	case "mean", "var", "std":
		return Float64
	}
	return partialType(op, dt)
}

func components(op string) int {
	switch op {
	case "var", "std":
		return 3
	case "argmin", "argmax":
		return 2
	}
	return 0
}

// reducedShape is shape with axes set to 1.
func reducedShape(shape, axes []int) []int {
	out := slices.Clone(shape)
	for _, a := range axes {
		out[a] = 1
	}
	return out
}

// accView views out (keepdims shape of in over axes) with in's shape:
// stride 0 along the reduced axes.
func accView(out view, axes []int) view {
	st := slices.Clone(out.strides)
	for _, a := range axes {
		st[a] = 0
	}
	return view{buf: out.buf, off: out.off, shape: nil, strides: st}
}

// partial reduces v over axes (keepdims). off and gshape place the block
// in the whole array (for the indices of argmin/argmax).
func partial(op string, v view, axes, off, gshape []int) (view, error) {
	pt := partialType(op, v.dt)
	oshape := reducedShape(v.shape, axes)
	nd := len(v.shape)
	m := size(oshape)
	switch op {
	case "sum", "min", "max", "any", "all", "mean":
		src := v
		if op == "sum" || op == "mean" || op == "any" || op == "all" {
			src = cast(v, pt) // any/all of numbers: nonzero is true
		}
		out := newBuf(pt, m)
		initAcc(op, out)
		ov := contigView(out, oshape)
		av := accView(ov, axes)
		av.shape = v.shape
		ast := 0
		if nd > 0 {
			ast = av.strides[nd-1]
		}
		sst := 0
		if nd > 0 {
			sst = src.strides[nd-1]
		}
		forEachRow(v.shape, []view{av, src}, func(o []int, n int) {
			accumulate(op, out, o[0], ast, src, o[1], sst, n)
		})
		return ov, nil
	case "var", "std":
		f := cast(v, Float64)
		cnt := 1
		for _, a := range axes {
			cnt *= v.shape[a]
		}
		out := newBuf(Float64, 3*m)
		mean := contigView(buf{dt: Float64, f: out.f[m : 2*m]}, oshape)
		m2 := contigView(buf{dt: Float64, f: out.f[2*m:]}, oshape)
		av, bv := accView(mean, axes), accView(m2, axes)
		av.shape, bv.shape = v.shape, v.shape
		forEachRow(v.shape, []view{av, f}, func(o []int, n int) {
			accumulate("sum", mean.buf, o[0], av.strideLast(), f, o[1], f.strideLast(), n)
		})
		for j := range m {
			out.f[j] = float64(cnt)
			if cnt > 0 {
				mean.f[j] /= float64(cnt)
			}
		}
		forEachRow(v.shape, []view{av, bv, f}, func(o []int, n int) {
			as, bs, fs := av.strideLast(), bv.strideLast(), f.strideLast()
			for j := range n {
				d := f.f[o[2]+j*fs] - mean.f[o[0]+j*as]
				m2.f[o[1]+j*bs] += d * d
			}
		})
		return contigView(out, append([]int{3}, oshape...)), nil
	case "argmin", "argmax":
		if len(axes) != 1 && len(axes) != nd {
			return view{}, fmt.Errorf("array: %s over %d of %d axes: give one axis or none", op, len(axes), nd)
		}
		src := cast(v, pt)
		src = contigView(materialize(src), v.shape)
		out := newBuf(pt, 2*m)
		vals := contigView(sliceBuf(out, 0, m), oshape)
		idxs := contigView(sliceBuf(out, m, 2*m), oshape)
		seen := make([]bool, m)
		gst := cStrides(gshape)
		idx := make([]int, nd)
		ovs := cStrides(oshape)
		for flat := range size(v.shape) {
			o, g := 0, 0
			for k := range nd {
				if !slices.Contains(axes, k) {
					o += idx[k] * ovs[k]
				}
				if len(axes) == nd {
					g += (idx[k] + off[k]) * gst[k]
				} else if k == axes[0] {
					g = idx[k] + off[k]
				}
			}
			argStep(op, vals.buf, idxs.buf, o, seen, src.buf, flat, g)
			for k := nd - 1; k >= 0; k-- {
				idx[k]++
				if idx[k] < v.shape[k] {
					break
				}
				idx[k] = 0
			}
		}
		return contigView(out, append([]int{2}, oshape...)), nil
	}
	return view{}, fmt.Errorf("array: unknown reduction %q", op)
}

func (v view) strideLast() int {
	if len(v.strides) == 0 {
		return 0
	}
	return v.strides[len(v.strides)-1]
}

func sliceBuf(b buf, from, to int) buf {
	switch b.dt {
	case Float64:
		return buf{dt: Float64, f: b.f[from:to]}
	case Int64:
		return buf{dt: Int64, i: b.i[from:to]}
	}
	return buf{dt: Bool, b: b.b[from:to]}
}

// argStep takes element j of src, whose index is g, into slot o.
func argStep(op string, vals, idxs buf, o int, seen []bool, src buf, j, g int) {
	better := func(x, best float64) bool {
		if best != best { // NaN already taken: the first NaN wins
			return false
		}
		if x != x {
			return true
		}
		if op == "argmin" {
			return x < best
		}
		return x > best
	}
	if vals.dt == Float64 {
		x := src.f[j]
		if !seen[o] || better(x, vals.f[o]) || (x == vals.f[o] && int64(g) < int64(idxs.f[o])) {
			vals.f[o], idxs.f[o], seen[o] = x, float64(g), true
		}
		return
	}
	x := src.i[j]
	b := vals.i[o]
	if !seen[o] || (op == "argmin" && x < b) || (op == "argmax" && x > b) || (x == b && int64(g) < idxs.i[o]) {
		vals.i[o], idxs.i[o], seen[o] = x, int64(g), true
	}
}

func initAcc(op string, out buf) {
	switch op {
	case "min", "max":
		switch out.dt {
		case Float64:
			v := math.Inf(1)
			if op == "max" {
				v = math.Inf(-1)
			}
			for j := range out.f {
				out.f[j] = v
			}
		case Int64:
			v := int64(math.MaxInt64)
			if op == "max" {
				v = math.MinInt64
			}
			for j := range out.i {
				out.i[j] = v
			}
		default:
			for j := range out.b {
				out.b[j] = op == "min"
			}
		}
	case "all":
		for j := range out.b {
			out.b[j] = true
		}
	}
}

// accumulate folds n elements of src (from so, step ss) into out (from
// oo, step os: 0 when the last axis is reduced).
func accumulate(op string, out buf, oo, os int, src view, so, ss, n int) {
	switch out.dt {
	case Float64:
		o, s := out.f, src.f
		switch op {
		case "sum", "mean":
			if os == 0 {
				acc := 0.0
				if ss == 1 {
					for _, x := range s[so : so+n] {
						acc += x
					}
				} else {
					for j := range n {
						acc += s[so+j*ss]
					}
				}
				o[oo] += acc
				return
			}
			for j := range n {
				o[oo+j*os] += s[so+j*ss]
			}
		case "min", "max":
			for j := range n {
				x, p := s[so+j*ss], &o[oo+j*os]
				switch {
				case *p != *p:
				case x != x:
					*p = x
				case op == "min" && x < *p, op == "max" && x > *p:
					*p = x
				}
			}
		}
	case Int64:
		o, s := out.i, src.i
		for j := range n {
			x, p := s[so+j*ss], &o[oo+j*os]
			switch op {
			case "sum":
				*p += x
			case "min":
				*p = min(*p, x)
			case "max":
				*p = max(*p, x)
			}
		}
	default:
		o, s := out.b, src.b
		for j := range n {
			x, p := s[so+j*ss], &o[oo+j*os]
			switch op {
			case "any", "max":
				*p = *p || x
			case "all", "min":
				*p = *p && x
			}
		}
	}
}

// combine merges partials of the same shape.
func combine(op string, parts []view) (view, error) {
	if len(parts) == 0 {
		return view{}, fmt.Errorf("array: combine of no partials")
	}
	shape := parts[0].shape
	for _, p := range parts[1:] {
		if !slices.Equal(p.shape, shape) {
			return view{}, fmt.Errorf("array: combine of partials of shapes %v and %v", shape, p.shape)
		}
	}
	bufs := make([]buf, len(parts))
	for j, p := range parts {
		bufs[j] = materialize(p)
	}
	n := size(shape)
	out := newBuf(parts[0].dt, n)
	copyInto(out, contigView(bufs[0], shape))
	switch op {
	case "sum", "mean", "min", "max", "any", "all":
		acc := op
		if op == "mean" {
			acc = "sum"
		}
		for _, b := range bufs[1:] {
			accumulate(acc, out, 0, 1, contigView(b, shape), 0, 1, n)
		}
	case "var", "std":
		m := n / 3
		for _, b := range bufs[1:] {
			for j := range m {
				na, nb := out.f[j], b.f[j]
				if nb == 0 {
					continue
				}
				nt := na + nb
				d := b.f[m+j] - out.f[m+j]
				out.f[m+j] += d * nb / nt
				out.f[2*m+j] += b.f[2*m+j] + d*d*na*nb/nt
				out.f[j] = nt
			}
		}
	case "argmin", "argmax":
		m := n / 2
		seen := make([]bool, m)
		for j := range seen {
			seen[j] = true
		}
		for _, b := range bufs[1:] {
			vals, idxs := sliceBuf(out, 0, m), sliceBuf(out, m, n)
			bv, bi := sliceBuf(b, 0, m), sliceBuf(b, m, n)
			for j := range m {
				g := 0
				if bi.dt == Float64 {
					g = int(bi.f[j])
				} else {
					g = int(bi.i[j])
				}
				argStep(op, vals, idxs, j, seen, bv, j, g)
			}
		}
	default:
		return view{}, fmt.Errorf("array: unknown reduction %q", op)
	}
	return contigView(out, shape), nil
}

// finalize turns a root partial into the result (shape: keepdims, or with
// the reduced axes dropped; the caller reshapes). count is the number of
// elements reduced into each output element.
func finalize(op string, v view, count float64, ddof int) view {
	switch op {
	case "mean":
		b := materialize(v)
		out := newBuf(Float64, len(b.f))
		for j, x := range b.f {
			out.f[j] = x / count
		}
		return contigView(out, v.shape)
	case "var", "std":
		b := materialize(v)
		m := len(b.f) / 3
		out := newBuf(Float64, m)
		for j := range m {
			x := b.f[2*m+j] / (b.f[j] - float64(ddof))
			if b.f[j]-float64(ddof) <= 0 {
				x = math.NaN()
			}
			if op == "std" {
				x = math.Sqrt(x)
			}
			out.f[j] = x
		}
		return contigView(out, v.shape[1:])
	case "argmin", "argmax":
		b := materialize(v)
		m := b.len() / 2
		out := newBuf(Int64, m)
		for j := range m {
			if b.dt == Float64 {
				out.i[j] = int64(b.f[m+j])
			} else {
				out.i[j] = b.i[m+j]
			}
		}
		return contigView(out, v.shape[1:])
	}
	return v
}
