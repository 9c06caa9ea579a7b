package array

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// ref is a plain dense array for reference computations: values as
// float64 (exact for the small ints and bools of the tests), C order.
type ref struct {
	dt    DType
	shape []int
	v     []float64
}

func refOf(d *Dense) ref {
	r := ref{dt: d.DType, shape: d.Shape, v: make([]float64, d.Len())}
	for k := range r.v {
		switch d.DType {
		case Float64:
			r.v[k] = d.F64[k]
		case Int64:
			r.v[k] = float64(d.I64[k])
		default:
			if d.Bools[k] {
				r.v[k] = 1
			}
		}
	}
	return r
}

// unravel is the index of flat in shape.
func unravel(shape []int, flat int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k] = flat % shape[k]
		flat /= shape[k]
	}
	return idx
}

func ravel(shape, idx []int) int {
	f := 0
	for k, i := range idx {
		f = f*shape[k] + i
	}
	return f
}

// at reads r at idx broadcast from out's shape (numpy's rules).
func (r ref) at(outIdx []int) float64 {
	idx := make([]int, len(r.shape))
	pad := len(outIdx) - len(r.shape)
	for k := range r.shape {
		if r.shape[k] != 1 {
			idx[k] = outIdx[k+pad]
		}
	}
	return r.v[ravel(r.shape, idx)]
}

// refElem applies f elementwise over broadcast operands.
func refElem(t *testing.T, dt DType, f func(x ...float64) float64, ops ...ref) ref {
	t.Helper()
	shapes := make([][]int, len(ops))
	for k, o := range ops {
		shapes[k] = o.shape
	}
	shape, err := broadcastShapes(shapes...)
	if err != nil {
		t.Fatal(err)
	}
	out := ref{dt: dt, shape: shape, v: make([]float64, size(shape))}
	xs := make([]float64, len(ops))
	for k := range out.v {
		idx := unravel(shape, k)
		for j, o := range ops {
			xs[j] = o.at(idx)
		}
		out.v[k] = f(xs...)
	}
	return out
}

// refReduce applies f to the groups of elements that axes reduce (with
// their indices along the reduced axes, flattened).
func refReduce(r ref, dt DType, axes []int, keep bool, f func(vals []float64, pos []int) float64) ref {
	var oshape []int
	for k, d := range r.shape {
		switch {
		case !slices.Contains(axes, k):
			oshape = append(oshape, d)
		case keep:
			oshape = append(oshape, 1)
		}
	}
	if oshape == nil {
		oshape = []int{}
	}
	groups := make([][]float64, size(oshape))
	poss := make([][]int, size(oshape))
	var rshape []int
	for _, a := range axes {
		rshape = append(rshape, r.shape[a])
	}
	for k, x := range r.v {
		idx := unravel(r.shape, k)
		var o, rp []int
		for j, i := range idx {
			switch {
			case !slices.Contains(axes, j):
				o = append(o, i)
			case keep:
				o = append(o, 0)
			}
			if slices.Contains(axes, j) {
				rp = append(rp, i)
			}
		}
		g := ravel(oshape, o)
		groups[g] = append(groups[g], x)
		poss[g] = append(poss[g], ravel(rshape, rp))
	}
	out := ref{dt: dt, shape: oshape, v: make([]float64, len(groups))}
	for g := range groups {
		out.v[g] = f(groups[g], poss[g])
	}
	return out
}

func (r ref) transpose(perm []int) ref {
	shape := make([]int, len(perm))
	for k, p := range perm {
		shape[k] = r.shape[p]
	}
	out := ref{dt: r.dt, shape: shape, v: make([]float64, len(r.v))}
	for k := range out.v {
		idx := unravel(shape, k)
		src := make([]int, len(perm))
		for j, p := range perm {
			src[p] = idx[j]
		}
		out.v[k] = r.v[ravel(r.shape, src)]
	}
	return out
}

func (r ref) slice(sl []Sl) ref {
	shape := make([]int, len(sl))
	for k, s := range sl {
		shape[k] = s.Count
	}
	out := ref{dt: r.dt, shape: shape, v: make([]float64, size(shape))}
	for k := range out.v {
		idx := unravel(shape, k)
		for j, s := range sl {
			idx[j] = s.Start + idx[j]*s.Step
		}
		out.v[k] = r.v[ravel(r.shape, idx)]
	}
	return out
}

// check compares a result with a reference: dtype, shape and values
// (relative tolerance tol; NaNs must match).
func check(t *testing.T, what string, got *Dense, want ref, tol float64) {
	t.Helper()
	if err := compare(got, want, tol); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func compare(got *Dense, want ref, tol float64) error {
	if got.DType != want.dt {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.dt)
	}
	if !slices.Equal(got.Shape, want.shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.shape)
	}
	if !slices.Equal(got.Strides, cStrides(want.shape)) {
		return fmt.Errorf("strides %v for shape %v", got.Strides, got.Shape)
	}
	g := refOf(got)
	for k, w := range want.v {
		x := g.v[k]
		if math.IsNaN(w) || math.IsNaN(x) {
			if math.IsNaN(w) != math.IsNaN(x) {
				return fmt.Errorf("element %v: %v, want %v", unravel(want.shape, k), x, w)
			}
			continue
		}
		if math.Abs(x-w) > tol*max(1, math.Abs(w)) {
			return fmt.Errorf("element %v: %v, want %v", unravel(want.shape, k), x, w)
		}
	}
	return nil
}

// data makes n test values of dt: small ints with negatives, floats with
// fractions, or a bool pattern.
func data(dt DType, n int, salt int) any {
	switch dt {
	case Float64:
		out := make([]float64, n)
		for k := range out {
			out[k] = float64((k*7+salt*13)%23-11) / 4
		}
		return out
	case Int64:
		out := make([]int64, n)
		for k := range out {
			out[k] = int64((k*5+salt*3)%17 - 8)
		}
		return out
	}
	out := make([]bool, n)
	for k := range out {
		out[k] = (k*3+salt)%5 < 2
	}
	return out
}

func refData(dt DType, shape []int, salt int) ref {
	whole := make([]int, len(shape))
	for k := range whole {
		whole[k] = -1
	}
	a := FromSlice(data(dt, size(shape), salt), shape, whole)
	if a.err != nil {
		panic(a.err)
	}
	r := ref{dt: dt, shape: shape, v: make([]float64, size(shape))}
	v := a.n.host
	for k := range r.v {
		switch dt {
		case Float64:
			r.v[k] = v.f[k]
		case Int64:
			r.v[k] = float64(v.i[k])
		default:
			if v.b[k] {
				r.v[k] = 1
			}
		}
	}
	return r
}
