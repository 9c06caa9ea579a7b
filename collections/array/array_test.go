package array

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// arr is test data of dt with shape and chunks, and its reference.
func arr(dt DType, shape, chunks []int, salt int) (*Array, ref) {
	return FromSlice(data(dt, size(shape), salt), shape, chunks), refData(dt, shape, salt)
}

func TestRandomSameWhateverTheChunks(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	for _, tc := range []struct {
		shape  []int
		chunks [][]int
	}{
		{[]int{7, 5}, [][]int{{7, 5}, {3, 2}, {1, 4}, {-1, 1}}},
		{[]int{3, 4, 5}, [][]int{{3, 4, 5}, {2, 3, 2}, {1, 1, 5}}},
		{[]int{11}, [][]int{{11}, {4}, {1}}},
	} {
		n := size(tc.shape)
		for _, ch := range tc.chunks {
			d, err := Random(tc.shape, ch, 7).Compute(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			for k := range n {
				if d.F64[k] != RandomValue(7, k) || d.F64[k] < 0 || d.F64[k] >= 1 {
					t.Fatalf("Random %v chunks %v: element %d = %v, want %v", tc.shape, ch, k, d.F64[k], RandomValue(7, k))
				}
			}
		}
	}
	// Normal: the same for two chunkings, and about N(2, 3).
	a, err := Normal([]int{100, 200}, []int{100, 200}, 3, 2, 3).Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Normal([]int{100, 200}, []int{33, 47}, 3, 2, 3).Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.F64, b.F64) {
		t.Fatal("Normal differs between chunkings")
	}
	mean, sq := 0.0, 0.0
	for _, x := range a.F64 {
		mean += x
	}
	mean /= float64(len(a.F64))
	for _, x := range a.F64 {
		sq += (x - mean) * (x - mean)
	}
	std := math.Sqrt(sq / float64(len(a.F64)))
	if math.Abs(mean-2) > 0.1 || math.Abs(std-3) > 0.1 {
		t.Fatalf("Normal(2, 3): mean %v std %v", mean, std)
	}
	// another seed is another array
	o, err := Random([]int{7, 5}, []int{3, 2}, 8).Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if o.F64[0] == RandomValue(7, 0) {
		t.Fatal("seeds 7 and 8 give the same first element")
	}
}

func TestCreation(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	fill := func(dt DType, shape []int, f func(idx []int) float64) ref {
		r := ref{dt: dt, shape: shape, v: make([]float64, size(shape))}
		for k := range r.v {
			r.v[k] = f(unravel(shape, k))
		}
		return r
	}
	for _, tc := range []struct {
		name string
		a    *Array
		want ref
	}{
		{"ones", Ones([]int{5, 3}, []int{2, 2}), fill(Float64, []int{5, 3}, func([]int) float64 { return 1 })},
		{"zeros 0-d", Zeros([]int{}, []int{}), fill(Float64, []int{}, func([]int) float64 { return 0 })},
		{"full int", Full([]int{4}, []int{3}, 7), fill(Int64, []int{4}, func([]int) float64 { return 7 })},
		{"full bool", Full([]int{2, 2}, []int{1, 2}, true), fill(Bool, []int{2, 2}, func([]int) float64 { return 1 })},
		{"empty", Zeros([]int{0, 3}, []int{2, 2}), fill(Float64, []int{0, 3}, nil)},
		{"arange", Arange(1, 2, 0.25, 3), fill(Float64, []int{4}, func(i []int) float64 { return 1 + 0.25*float64(i[0]) })},
		{"arange down", Arange(3, 0, -1, 2), fill(Float64, []int{3}, func(i []int) float64 { return 3 - float64(i[0]) })},
		{"arangeint", ArangeInt(10, -3, -4, 2), fill(Int64, []int{4}, func(i []int) float64 { return 10 - 4*float64(i[0]) })},
		{"arangeint empty", ArangeInt(5, 5, 1, 2), fill(Int64, []int{0}, nil)},
		{"linspace", Linspace(0, 1, 5, true, 2), fill(Float64, []int{5}, func(i []int) float64 { return float64(i[0]) / 4 })},
		{"linspace open", Linspace(0, 1, 4, false, 3), fill(Float64, []int{4}, func(i []int) float64 { return float64(i[0]) / 4 })},
		{"eye", Eye(4, 5, 1, []int{3, 2}), fill(Float64, []int{4, 5}, func(i []int) float64 {
			if i[1] == i[0]+1 {
				return 1
			}
			return 0
		})},
		{"fromslice ints", FromSlice([]int{1, 2, 3, 4, 5, 6}, []int{2, 3}, []int{1, 2}), fill(Int64, []int{2, 3}, func(i []int) float64 { return float64(i[0]*3 + i[1] + 1) })},
	} {
		d, err := tc.a.Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		check(t, tc.name, d, tc.want, 1e-15)
	}
}

func TestElementwise(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	a23, r23 := arr(Float64, []int{2, 3}, []int{1, 2}, 1)
	i31, ri31 := arr(Int64, []int{3, 1}, []int{2, 1}, 2)
	i14, ri14 := arr(Int64, []int{1, 4}, []int{1, 3}, 3)
	f234, rf234 := arr(Float64, []int{2, 3, 4}, []int{1, 2, 3}, 4)
	i4, ri4 := arr(Int64, []int{4}, []int{3}, 5)
	b34, rb34 := arr(Bool, []int{3, 4}, []int{2, 3}, 6)
	b4, rb4 := arr(Bool, []int{4}, []int{4}, 7)
	f66a, rf66a := arr(Float64, []int{6, 6}, []int{4, 4}, 8)
	f66b, rf66b := arr(Float64, []int{6, 6}, []int{3, 5}, 9)
	e03, re03 := arr(Float64, []int{0, 3}, []int{2, 2}, 0)
	f3, rf3 := arr(Float64, []int{3}, []int{2}, 10)
	s0, rs0 := arr(Float64, []int{}, []int{}, 11)
	nan := FromSlice([]float64{1, math.NaN(), -2}, []int{3}, []int{2})
	rnan := ref{dt: Float64, shape: []int{3}, v: []float64{1, math.NaN(), -2}}
	scal := func(x float64) ref { return ref{dt: Float64, shape: []int{}, v: []float64{x}} }
	add := func(x ...float64) float64 { return x[0] + x[1] }
	for _, tc := range []struct {
		name string
		got  *Array
		dt   DType
		f    func(x ...float64) float64
		ops  []ref
	}{
		{"int (3,1) + int (1,4)", i31.Add(i14), Int64, add, []ref{ri31, ri14}},
		{"float (2,3,4) - int (4,)", f234.Sub(i4), Float64, func(x ...float64) float64 { return x[0] - x[1] }, []ref{rf234, ri4}},
		{"int * 3", i31.Mul(3), Int64, func(x ...float64) float64 { return x[0] * 3 }, []ref{ri31}},
		{"int * 1.5 (a float scalar)", i4.Mul(1.5), Float64, func(x ...float64) float64 { return x[0] * 1.5 }, []ref{ri4}},
		{"float + int scalar", a23.Add(2), Float64, func(x ...float64) float64 { return x[0] + 2 }, []ref{r23}},
		{"int / int is float", i31.Div(i14), Float64, func(x ...float64) float64 { return x[0] / x[1] }, []ref{ri31, ri14}},
		{"int floordiv", i31.FloorDiv(i14), Int64, func(x ...float64) float64 {
			if x[1] == 0 {
				return 0
			}
			return math.Floor(x[0] / x[1])
		}, []ref{ri31, ri14}},
		{"int mod", i31.Mod(i14), Int64, func(x ...float64) float64 {
			if x[1] == 0 {
				return 0
			}
			m := math.Mod(x[0], x[1])
			if m != 0 && (m < 0) != (x[1] < 0) {
				m += x[1]
			}
			return m
		}, []ref{ri31, ri14}},
		{"float mod -1.5", a23.Mod(-1.5), Float64, func(x ...float64) float64 {
			m := math.Mod(x[0], -1.5)
			if m != 0 && m > 0 {
				m -= 1.5
			}
			return m
		}, []ref{r23}},
		{"float pow 2", a23.Pow(2), Float64, func(x ...float64) float64 { return x[0] * x[0] }, []ref{r23}},
		{"int pow 3", i4.Pow(3), Int64, func(x ...float64) float64 { return x[0] * x[0] * x[0] }, []ref{ri4}},
		{"lt int scalar", a23.Lt(0), Bool, func(x ...float64) float64 { return b2f(x[0] < 0) }, []ref{r23}},
		{"ge broadcast", i31.Ge(i14), Bool, func(x ...float64) float64 { return b2f(x[0] >= x[1]) }, []ref{ri31, ri14}},
		{"bool == bool (3,4) (4,)", b34.Eq(b4), Bool, func(x ...float64) float64 { return b2f(x[0] == x[1]) }, []ref{rb34, rb4}},
		{"bool and", b34.And(b4), Bool, func(x ...float64) float64 { return b2f(x[0] == 1 && x[1] == 1) }, []ref{rb34, rb4}},
		{"bool or", b34.Or(b4), Bool, func(x ...float64) float64 { return b2f(x[0] == 1 || x[1] == 1) }, []ref{rb34, rb4}},
		{"not", b34.Not(), Bool, func(x ...float64) float64 { return 1 - x[0] }, []ref{rb34}},
		{"bool + bool is int", b34.Add(b4), Int64, add, []ref{rb34, rb4}},
		{"where", Where(b34, i31, -1.5), Float64, func(x ...float64) float64 {
			if x[0] == 1 {
				return x[1]
			}
			return -1.5
		}, []ref{rb34, ri31}},
		{"maximum with NaN", nan.Maximum(0), Float64, func(x ...float64) float64 {
			if math.IsNaN(x[0]) {
				return x[0]
			}
			return max(x[0], 0)
		}, []ref{rnan}},
		{"exp", a23.Exp(), Float64, func(x ...float64) float64 { return math.Exp(x[0]) }, []ref{r23}},
		{"sqrt of negatives is NaN", a23.Sqrt(), Float64, func(x ...float64) float64 { return math.Sqrt(x[0]) }, []ref{r23}},
		{"neg int", i4.Neg(), Int64, func(x ...float64) float64 { return -x[0] }, []ref{ri4}},
		{"abs", a23.Abs(), Float64, func(x ...float64) float64 { return math.Abs(x[0]) }, []ref{r23}},
		{"isnan", nan.IsNaN(), Bool, func(x ...float64) float64 { return b2f(math.IsNaN(x[0])) }, []ref{rnan}},
		{"log of int", i4.Abs().Add(1).Log(), Float64, func(x ...float64) float64 { return math.Log(math.Abs(x[0]) + 1) }, []ref{ri4}},
		{"astype int", a23.AsType(Int64), Int64, func(x ...float64) float64 { return math.Trunc(x[0]) }, []ref{r23}},
		{"chunks differ (rechunked)", f66a.Add(f66b), Float64, add, []ref{rf66a, rf66b}},
		{"transposes of differing chunks", f66a.Mul(f66b.T()).Sub(f66a.T()), Float64, func(x ...float64) float64 { return x[0]*x[1] - x[2] }, []ref{rf66a, rf66b.transpose([]int{1, 0}), rf66a.transpose([]int{1, 0})}},
		{"empty (0,3) + (3,)", e03.Add(f3), Float64, add, []ref{re03, rf3}},
		{"0-d + 0-d", s0.Add(s0), Float64, add, []ref{rs0, rs0}},
		{"0-d * (3,)", s0.Mul(f3), Float64, func(x ...float64) float64 { return x[0] * x[1] }, []ref{rs0, rf3}},
		{"scalars only", Elementwise("add", 2.5, 1), Float64, func(...float64) float64 { return 3.5 }, []ref{scal(0)}},
	} {
		d, err := tc.got.Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		check(t, tc.name, d, refElem(t, tc.dt, tc.f, tc.ops...), 1e-12)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestReductions(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	sum := func(v []float64, _ []int) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s
	}
	mean := func(v []float64, p []int) float64 { return sum(v, p) / float64(len(v)) }
	vr := func(v []float64, p []int) float64 {
		m, s := mean(v, p), 0.0
		for _, x := range v {
			s += (x - m) * (x - m)
		}
		return s / float64(len(v))
	}
	mn := func(v []float64, _ []int) float64 { return slices.Min(v) }
	mx := func(v []float64, _ []int) float64 { return slices.Max(v) }
	arg := func(better func(a, b float64) bool) func(v []float64, p []int) float64 {
		return func(v []float64, p []int) float64 {
			best := 0
			for k := range v {
				if better(v[k], v[best]) {
					best = k
				}
			}
			return float64(p[best])
		}
	}
	anyf := func(v []float64, _ []int) float64 { return b2f(slices.Contains(v, 1)) }
	allf := func(v []float64, _ []int) float64 { return b2f(!slices.Contains(v, 0)) }
	type red struct {
		op string
		dt func(DType) DType
		f  func([]float64, []int) float64
	}
	same := func(d DType) DType { return d }
	f64 := func(DType) DType { return Float64 }
	i64 := func(DType) DType { return Int64 }
	sumT := func(d DType) DType {
		if d == Float64 {
			return Float64
		}
		return Int64
	}
	reds := []red{
		{"sum", sumT, sum}, {"mean", f64, mean}, {"min", same, mn}, {"max", same, mx}, {"var", f64, vr},
		{"std", f64, func(v []float64, p []int) float64 { return math.Sqrt(vr(v, p)) }},
		{"argmin", i64, arg(func(a, b float64) bool { return a < b })}, {"argmax", i64, arg(func(a, b float64) bool { return a > b })},
	}
	for _, in := range []struct {
		dt            DType
		shape, chunks []int
	}{
		{Float64, []int{5, 4, 3}, []int{2, 3, 2}},
		{Int64, []int{4, 7, 6}, []int{3, 2, 4}},
		{Float64, []int{17}, []int{4}},
		{Float64, []int{3, 2}, []int{3, 2}},
	} {
		a, r := arr(in.dt, in.shape, in.chunks, 3)
		nd := len(in.shape)
		axesList := [][]int{nil, {0}, {nd - 1}}
		if nd == 3 {
			axesList = append(axesList, []int{0, 2}, []int{-2})
		}
		for _, axes := range axesList {
			norm := []int{}
			for _, x := range axes {
				norm = append(norm, (x+nd)%nd)
			}
			if axes == nil {
				for k := range nd {
					norm = append(norm, k)
				}
			}
			for _, rd := range reds {
				if (rd.op == "argmin" || rd.op == "argmax") && len(norm) != 1 && len(norm) != nd {
					continue
				}
				for _, keep := range []bool{false, true} {
					if keep && (rd.op == "argmin" || rd.op == "argmax") {
						continue
					}
					d, err := a.Reduce(rd.op, keep, 0, axes...).Compute(ctx, c)
					if err != nil {
						t.Fatalf("%s %v axes %v: %v", rd.op, in.shape, axes, err)
					}
					want := refReduce(r, rd.dt(in.dt), norm, keep, rd.f)
					check(t, fmt.Sprintf("%s %s %v keep=%v axes %v", rd.op, in.dt, in.shape, keep, axes), d, want, 1e-12)
				}
			}
		}
	}
	// bools: any, all, sum; NaN propagates through min and max and argmax
	// picks the first NaN.
	b, rb := arr(Bool, []int{4, 5}, []int{3, 2}, 1)
	for _, rd := range []red{{"any", same, anyf}, {"all", same, allf}, {"sum", i64, sum}, {"max", same, mx}, {"min", same, mn},
		{"mean", f64, mean}, {"argmax", i64, arg(func(a, b float64) bool { return a > b })}, {"argmin", i64, arg(func(a, b float64) bool { return a < b })}} {
		for _, axes := range [][]int{nil, {0}, {1}} {
			d, err := b.Reduce(rd.op, false, 0, axes...).Compute(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			norm := axes
			if norm == nil {
				norm = []int{0, 1}
			}
			check(t, "bool "+rd.op, d, refReduce(rb, rd.dt(Bool), norm, false, rd.f), 0)
		}
	}
	// any/all of numbers: nonzero is true
	f, rf := arr(Float64, []int{4, 6}, []int{3, 4}, 2) // holds zeros
	i, ri := arr(Int64, []int{4, 6}, []int{3, 4}, 5)
	for _, tc := range []struct {
		a *Array
		r ref
	}{{f, rf}, {i, ri}} {
		nz := refElem(t, Bool, func(x ...float64) float64 { return b2f(x[0] != 0) }, tc.r)
		for _, rd := range []red{{"any", same, anyf}, {"all", same, allf}} {
			for _, axes := range [][]int{nil, {0}, {1}} {
				d, err := tc.a.Reduce(rd.op, false, 0, axes...).Compute(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				norm := axes
				if norm == nil {
					norm = []int{0, 1}
				}
				check(t, "numbers "+rd.op, d, refReduce(nz, Bool, norm, false, rd.f), 0)
			}
		}
	}
	nan := FromSlice([]float64{1, 5, math.NaN(), 7, math.NaN()}, []int{5}, []int{2})
	for _, tc := range []struct {
		a    *Array
		want float64
	}{{nan.Min(), math.NaN()}, {nan.Max(), math.NaN()}, {nan.Argmax(), 2}, {nan.Argmin(), 2}, {nan.Sum(), math.NaN()}} {
		d, err := tc.a.Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Float64At(); !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("NaN reduction: %v, want %v", got, tc.want)
		}
	}
	// ddof and empty reductions
	v, rv := arr(Float64, []int{6}, []int{4}, 2)
	d, err := v.Reduce("var", false, 1, 0).Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if w := vr(rv.v, nil) * 6 / 5; math.Abs(d.F64[0]-w) > 1e-12 {
		t.Errorf("var ddof=1: %v, want %v", d.F64[0], w)
	}
	e := Zeros([]int{0, 3}, []int{2, 2})
	for _, tc := range []struct {
		a    *Array
		want ref
	}{
		{e.Sum(), ref{dt: Float64, shape: []int{}, v: []float64{0}}},
		{e.Sum(0), ref{dt: Float64, shape: []int{3}, v: []float64{0, 0, 0}}},
		{e.Mean(), ref{dt: Float64, shape: []int{}, v: []float64{math.NaN()}}},
		{e.Max(1), ref{dt: Float64, shape: []int{0}, v: nil}},
	} {
		d, err := tc.a.Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "empty reduction", d, tc.want, 0)
	}
}

// Reductions over many blocks: trees of several levels (34 partials ->
// 5 -> 1 combine tasks).
func TestDeepTreeReductions(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	a, r := arr(Float64, []int{100, 3}, []int{3, 2}, 4)
	a = a.Mul(Arange(0, 100, 1, 7).Rechunk(-1).Sub(37.5).Pow(2).Reduce("sum", true, 0).Div(1e5).Add(1)) // values of different sizes
	rr := refElem(t, Float64, func(x ...float64) float64 {
		s := 0.0
		for i := range 100 {
			s += (float64(i) - 37.5) * (float64(i) - 37.5)
		}
		return x[0] * (s/1e5 + 1)
	}, r)
	for _, op := range []string{"sum", "mean", "var", "std", "min", "max", "argmin", "argmax"} {
		d, err := a.Reduce(op, false, 0, 0).Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want := refReduce(rr, resultType(op, Float64), []int{0}, false, func(v []float64, p []int) float64 {
			n := float64(len(v))
			s, m := 0.0, 0.0
			for _, x := range v {
				s += x
			}
			m = s / n
			q := 0.0
			for _, x := range v {
				q += (x - m) * (x - m)
			}
			best := 0
			for k := range v {
				if (op == "argmin" && v[k] < v[best]) || (op == "argmax" && v[k] > v[best]) {
					best = k
				}
			}
			switch op {
			case "sum":
				return s
			case "mean":
				return m
			case "var":
				return q / n
			case "std":
				return math.Sqrt(q / n)
			case "min":
				return slices.Min(v)
			case "max":
				return slices.Max(v)
			}
			return float64(p[best])
		})
		check(t, "deep "+op, d, want, 1e-12)
	}
	if n, _ := a.Sum(0).TaskCount(WithoutFusion()); n < 34+5+1 {
		t.Fatalf("a reduction over 34 blocks has %d tasks", n)
	}
}
