package array

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSliceTransposeRechunk(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	a, r := arr(Float64, []int{7, 5, 6}, []int{3, 2, 4}, 5)
	sl := func(r Range, n int) Sl {
		s, err := r.resolve(n)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		ranges []Range
	}{
		{"all", nil},
		{"steps", []Range{Every(2), RS(1, 5, 3), From(1)}},
		{"negative step", []Range{Every(-1), RS(4, 0, -2), RS(-1, -7, -4)}},
		{"negative indices", []Range{R(-3, -1), To(-1), From(-2)}},
		{"out of range clamps", []Range{R(5, 100), RS(-100, 100, 2)}},
		{"empty", []Range{R(4, 2), All(), Every(3)}},
		{"one element", []Range{R(6, 7), R(0, 1), R(3, 4)}},
	} {
		want := make([]Sl, 3)
		for k := range want {
			rg := All()
			if k < len(tc.ranges) {
				rg = tc.ranges[k]
			}
			want[k] = sl(rg, r.shape[k])
		}
		d, err := a.Slice(tc.ranges...).Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		check(t, "slice "+tc.name, d, r.slice(want), 0)
		// a slice of an elementwise expression of transposes: pushed down
		e := a.Transpose(2, 0, 1).Transpose(1, 2, 0).Mul(2).Add(a).Slice(tc.ranges...)
		d, err = e.Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		check(t, "slice of 2a+a "+tc.name, d, refElem(t, Float64, func(x ...float64) float64 { return 3 * x[0] }, r.slice(want)), 1e-12)
		// the same on a generator (the slice goes into the generator)
		g, err := Random(r.shape, []int{3, 2, 4}, 3).Slice(tc.ranges...).Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		whole := ref{dt: Float64, shape: r.shape, v: make([]float64, size(r.shape))}
		for k := range whole.v {
			whole.v[k] = RandomValue(3, k)
		}
		check(t, "slice of Random "+tc.name, g, whole.slice(want), 0)
	}
	for _, tc := range []struct{ axis, i int }{{0, 0}, {0, 6}, {1, -1}, {2, 3}, {-1, -6}} {
		d, err := a.Index(tc.axis, tc.i).Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ax := (tc.axis + 3) % 3
		sl := []Sl{{0, 1, 7}, {0, 1, 5}, {0, 1, 6}}
		i := tc.i
		if i < 0 {
			i += r.shape[ax]
		}
		sl[ax] = Sl{i, 1, 1}
		want := r.slice(sl)
		want.shape = slices.Delete(slices.Clone(want.shape), ax, ax+1)
		check(t, "index", d, want, 0)
	}
	// an index of an expression (fused, pushed into the generator)
	d, err := Random([]int{7, 5}, []int{3, 2}, 4).Mul(2).Index(0, 5).Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for j := range 5 {
		if d.F64[j] != 2*RandomValue(4, 5*5+j) {
			t.Fatalf("Random(7x5)*2 [5]: %v", d.F64)
		}
	}
	for _, perm := range [][]int{nil, {0, 1, 2}, {1, 0, 2}, {2, 0, 1}, {-1, 0, 1}} {
		d, err := a.Transpose(perm...).Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		p := perm
		if p == nil {
			p = []int{2, 1, 0}
		}
		if p[0] == -1 {
			p = []int{2, 0, 1}
		}
		check(t, "transpose", d, r.transpose(p), 0)
	}
	for _, ch := range [][]int{{7, 5, 6}, {1, 1, 1}, {2, 5, -1}, {4, 3, 5}} {
		b := a.Rechunk(ch...)
		d, err := b.Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "rechunk", d, r, 0)
		want, _ := normChunks(r.shape, ch)
		for k, got := range b.Chunks() {
			if !equalInts(got, want[k]) {
				t.Fatalf("rechunk %v: chunks %v", ch, b.Chunks())
			}
		}
	}
	// chunks of a stepped slice are the pieces of the input's chunks
	s := Ones([]int{10}, []int{4}).Slice(RS(1, 10, 2))
	if got := s.Chunks()[0]; !equalInts(got, []int{2, 2, 1}) {
		t.Fatalf("chunks of [1:10:2] of chunks 4,4,2: %v", got)
	}
	s = Ones([]int{10}, []int{4}).Slice(Every(-3))
	if got := s.Chunks()[0]; !equalInts(got, []int{1, 1, 2}) { // 9 | 6 | 3, 0
		t.Fatalf("chunks of [::-3] of chunks 4,4,2: %v", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func TestMatMulConcatStack(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	matmul := func(a, b ref) ref {
		m, k, n := a.shape[0], a.shape[1], b.shape[1]
		out := ref{dt: Float64, shape: []int{m, n}, v: make([]float64, m*n)}
		if a.dt == Int64 && b.dt == Int64 {
			out.dt = Int64
		}
		for i := range m {
			for j := range n {
				for q := range k {
					out.v[i*n+j] += a.v[i*k+q] * b.v[q*n+j]
				}
			}
		}
		return out
	}
	a, ra := arr(Float64, []int{7, 19}, []int{3, 2}, 1)
	b, rb := arr(Float64, []int{19, 6}, []int{4, 4}, 2)
	ia, ria := arr(Int64, []int{5, 3}, []int{2, 2}, 3)
	ib, rib := arr(Int64, []int{3, 4}, []int{2, 3}, 4)
	for _, tc := range []struct {
		name string
		got  *Array
		want ref
	}{
		{"float, inner chunks differ", a.MatMul(b), matmul(ra, rb)},
		{"int", ia.MatMul(ib), matmul(ria, rib)},
		{"int @ float", ia.MatMul(b.Slice(To(3), To(4))), matmul(ria, rb.slice([]Sl{{0, 1, 3}, {0, 1, 4}}))},
		{"transposed operand", b.T().MatMul(a.T()), matmul(rb.transpose([]int{1, 0}), ra.transpose([]int{1, 0}))},
		{"empty inner", Zeros([]int{3, 0}, []int{2, 2}).MatMul(Zeros([]int{0, 2}, []int{2, 2})), ref{dt: Float64, shape: []int{3, 2}, v: make([]float64, 6)}},
	} {
		d, err := tc.got.Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		check(t, "matmul "+tc.name, d, tc.want, 1e-12)
	}
	// sum(a @ b): rewritten as colsum(a) · rowsum(b), and formed
	full := matmul(ra, rb)
	want := 0.0
	for _, x := range full.v {
		want += x
	}
	for _, opts := range [][]Option{nil, {WithoutRewrites()}, {WithoutRewrites(), WithoutFusion()}} {
		d, err := a.MatMul(b).Sum().Compute(ctx, c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(d.F64[0]-want) > 1e-9*math.Abs(want) {
			t.Errorf("sum(a @ b) with %d options: %v, want %v", len(opts), d.F64[0], want)
		}
	}
	// Formed (a matmul in some task) unless rewritten.
	for _, tc := range []struct {
		opts []Option
		mm   bool
	}{{nil, false}, {[]Option{WithoutRewrites()}, true}} {
		bl := newBuilder(tc.opts)
		if _, _, err := bl.plan(ctx, nil, a.MatMul(b).Sum().n); err != nil {
			t.Fatal(err)
		}
		if (bl.ops["matmul"] > 0) != tc.mm {
			t.Errorf("sum(a @ b) with %d options: %d matmuls", len(tc.opts), bl.ops["matmul"])
		}
	}
	// With fusion, a product block (of up to fanIn block pairs) is formed
	// and summed in one task: 2x2 partial tasks, none a matmul; without,
	// 2x2 matmul tasks and 2x2 partial tasks.
	mx, rmx := arr(Float64, []int{6, 8}, []int{3, 4}, 6)
	my, rmy := arr(Float64, []int{8, 6}, []int{4, 3}, 7)
	want = 0.0
	for _, v := range matmul(rmx, rmy).v {
		want += v
	}
	for _, tc := range []struct {
		opts             []Option
		matmuls, partial int
	}{{[]Option{WithoutRewrites()}, 0, 4}, {[]Option{WithoutRewrites(), WithoutFusion()}, 4, 4}} {
		bl := newBuilder(tc.opts)
		if _, _, err := bl.plan(ctx, nil, mx.MatMul(my).Sum().n); err != nil {
			t.Fatal(err)
		}
		if bl.roots["matmul"] != tc.matmuls || bl.roots["partial"] != tc.partial || bl.ops["matmul"] != 4 {
			t.Errorf("sum(x @ y) with %d options: tasks by root %v, operations %v", len(tc.opts), bl.roots, bl.ops)
		}
		d, err := mx.MatMul(my).Sum().Compute(ctx, c, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(d.F64[0]-want) > 1e-9*math.Abs(want) {
			t.Errorf("sum(x @ y) with %d options: %v, want %v", len(tc.opts), d.F64[0], want)
		}
	}
	// Dot of vectors
	v, rv := arr(Float64, []int{9}, []int{4}, 5)
	d, err := v.Dot(v).Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	dot := 0.0
	for _, x := range rv.v {
		dot += x * x
	}
	if math.Abs(d.F64[0]-dot) > 1e-12 {
		t.Errorf("dot %v, want %v", d.F64[0], dot)
	}

	// matrix-vector products
	w, rw := arr(Float64, []int{19}, []int{5}, 6)
	mv := func(m ref, v ref, left bool) ref {
		if left { // v @ m
			m = m.transpose([]int{1, 0})
		}
		out := ref{dt: Float64, shape: []int{m.shape[0]}, v: make([]float64, m.shape[0])}
		for i := range m.shape[0] {
			for q := range m.shape[1] {
				out.v[i] += m.v[i*m.shape[1]+q] * v.v[q]
			}
		}
		return out
	}
	if d, err := a.Dot(w).Compute(ctx, c); err != nil {
		t.Fatal(err)
	} else {
		check(t, "matrix . vector", d, mv(ra, rw, false), 1e-12)
	}
	if d, err := w.Dot(b).Compute(ctx, c); err != nil {
		t.Fatal(err)
	} else {
		check(t, "vector . matrix", d, mv(rb, rw, true), 1e-12)
	}
	if err := a.Dot(v).Err(); err == nil || !strings.Contains(err.Error(), "inner dimensions 19 and 9 differ") {
		t.Errorf("Dot of 7x19 and 9: %v", err)
	}

	// Concatenate and Stack
	x, rx := arr(Float64, []int{3, 4}, []int{2, 3}, 6)
	y, ry := arr(Int64, []int{2, 4}, []int{1, 1}, 7)
	z, rz := arr(Float64, []int{3, 2}, []int{3, 1}, 8)
	e := Zeros([]int{0, 4}, []int{1, 1})
	cat := func(rs []ref, axis int) ref {
		shape := append([]int(nil), rs[0].shape...)
		shape[axis] = 0
		for _, r := range rs {
			shape[axis] += r.shape[axis]
		}
		out := ref{dt: Float64, shape: shape, v: make([]float64, size(shape))}
		for k := range out.v {
			idx := unravel(shape, k)
			for _, r := range rs {
				if idx[axis] < r.shape[axis] {
					out.v[k] = r.v[ravel(r.shape, idx)]
					break
				}
				idx[axis] -= r.shape[axis]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		got  *Array
		want ref
	}{
		{"axis 0, int promoted", Concatenate([]*Array{x, y, e, x}, 0), cat([]ref{rx, ry, {shape: []int{0, 4}}, rx}, 0)},
		{"axis -1", Concatenate([]*Array{x, z}, -1), cat([]ref{rx, rz}, 1)},
		{"stack axis 0", Stack([]*Array{x, x.Mul(2)}, 0), cat([]ref{reshape(rx, []int{1, 3, 4}), reshape(refElem(t, Float64, func(v ...float64) float64 { return 2 * v[0] }, rx), []int{1, 3, 4})}, 0)},
		{"stack axis 2", Stack([]*Array{x, x}, 2), cat([]ref{reshape(rx, []int{3, 4, 1}), reshape(rx, []int{3, 4, 1})}, 2)},
	} {
		d, err := tc.got.Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		check(t, "concatenate "+tc.name, d, tc.want, 0)
	}
}

func reshape(r ref, shape []int) ref { return ref{dt: r.dt, shape: shape, v: r.v} }

// The tutorial's workload on a small array with chunks that divide
// nothing (so x.T and the row means are rechunked to meet x), against a
// plain computation of the same numbers.
func TestTutorialWorkloadSmall(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	const n, seed = 600, 11
	x := Random([]int{n, n}, []int{137, 211}, seed)
	y := x.Add(x.T()).Sub(x.Mean(1))
	z := y.Slice(Every(2), From(n/2)).Mean(1)
	d, err := z.Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	xv := func(i, j int) float64 { return RandomValue(seed, i*n+j) }
	m := make([]float64, n)
	for j := range n {
		for k := range n {
			m[j] += xv(j, k)
		}
		m[j] /= n
	}
	want := ref{dt: Float64, shape: []int{n / 2}, v: make([]float64, n/2)}
	for r := range want.v {
		for j := n / 2; j < n; j++ {
			want.v[r] += xv(2*r, j) + xv(j, 2*r) - m[j]
		}
		want.v[r] /= n - n/2
	}
	check(t, "tutorial", d, want, 1e-12)
	// the same without fusion
	d, err = z.Compute(ctx, c, WithoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	check(t, "tutorial without fusion", d, want, 1e-12)
}

// Fusion and culling on the tutorial's full-size plan (built, not run).
func TestFusionAndCullingTaskCounts(t *testing.T) {
	x := Random([]int{10000, 10000}, []int{1000, 1000}, 42)
	y := x.Add(x.T()).Sub(x.Mean(1))
	z := y.Slice(Every(2), From(5000)).Mean(1)
	fused, err := z.TaskCount()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := z.TaskCount(WithoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tutorial workload: %d tasks fused, %d without fusion", fused, plain)
	if fused >= plain {
		t.Fatalf("fusion does not reduce the task count: %d fused, %d without", fused, plain)
	}
	// culling: z reads 75 of x's 100 blocks (rows or columns 5000: of
	// x + x.T, and the means of rows 5000:), and y's blocks in columns
	// 5000: only.
	b := newBuilder([]Option{WithoutFusion()})
	if _, _, err := b.plan(context.Background(), nil, z.n); err != nil {
		t.Fatal(err)
	}
	if b.roots["gen"] != 75 {
		t.Errorf("without fusion, %d blocks of x are generated, want 75", b.roots["gen"])
	}
	b = newBuilder([]Option{WithoutFusion()})
	if _, _, err := b.plan(context.Background(), nil, y.n); err != nil {
		t.Fatal(err)
	}
	if b.roots["gen"] != 100 {
		t.Errorf("all of y generates %d blocks of x, want 100", b.roots["gen"])
	}
	// fused: one task per block of the elementwise chain (with the slice
	// and the partial mean) — 50 — plus the blocks of x read twice, the
	// row means' partials and the trees.
	b = newBuilder(nil)
	if _, _, err := b.plan(context.Background(), nil, z.n); err != nil {
		t.Fatal(err)
	}
	if b.roots["elem"] != 0 || b.roots["slice"] != 0 || b.roots["transpose"] != 0 {
		t.Errorf("fused plan has elementwise, slice or transpose tasks: %v", b.roots)
	}
	if b.roots["partial"] != 50+50 {
		t.Errorf("fused plan: %d partial tasks, want 100 (50 blocks of y, 50 of x's row means): %v", b.roots["partial"], b.roots)
	}
}

func TestPersist(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	a, r := arr(Int64, []int{5, 6}, []int{2, 4}, 9)
	p, err := a.Mul(3).Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(context.WithoutCancel(ctx), c)
	for range 2 {
		d, err := p.Sum(0).Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "persisted", d, refReduce(refElem(t, Int64, func(x ...float64) float64 { return 3 * x[0] }, r), Int64, []int{0}, false, func(v []float64, _ []int) float64 {
			s := 0.0
			for _, x := range v {
				s += x
			}
			return s
		}), 0)
	}
	d, err := p.Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "persisted whole", d, refElem(t, Int64, func(x ...float64) float64 { return 3 * x[0] }, r), 0)
	if err := p.Release(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestNpy(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		a *Array
	}{
		{Random([]int{3, 4, 5}, []int{2, 3, 2}, 1)},
		{ArangeInt(-5, 5, 1, 3)},
		{Full([]int{2, 3}, []int{1, 2}, true).Xor(Eye(2, 3, 0, []int{2, 2}).Gt(0))},
		{Zeros([]int{}, []int{})},
		{Zeros([]int{0, 2}, []int{1, 1})},
	} {
		d, err := tc.a.Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "a.npy")
		if err := d.WriteNpyFile(path); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if hl := int(raw[8]) | int(raw[9])<<8; (10+hl)%64 != 0 {
			t.Errorf("data at %d, not 64-aligned", 10+hl)
		}
		back, err := ReadNpyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "npy round trip", back, refOf(d), 0)
		// and back onto the mesh
		d2, err := FromDense(back, []int{2, 2, 2}[:len(back.Shape)]).Compute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "npy to mesh", d2, refOf(d), 0)
	}
	// numpy's own bytes: np.arange(6, dtype='>i4').reshape(2, 3, order='F')
	// written by np.save: big-endian int32, Fortran order.
	h := "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }"
	h += strings.Repeat(" ", 128-10-len(h)-1) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	b.WriteByte(byte(len(h)))
	b.WriteByte(0)
	b.WriteString(h)
	for _, v := range []byte{0, 1, 2, 3, 4, 5} { // memory order of a Fortran array
		b.Write([]byte{0, 0, 0, v})
	}
	d, err := ReadNpy(&b)
	if err != nil {
		t.Fatal(err)
	}
	// element [i, j] of a Fortran array is memory[i + 2j]
	check(t, "fortran big-endian int32", d, ref{dt: Int64, shape: []int{2, 3}, v: []float64{0, 2, 4, 1, 3, 5}}, 0)
	for _, bad := range []string{"", "NUMPY", "\x93NUMPY\x01\x00\x05\x00{'x'}"} {
		if _, err := ReadNpy(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadNpy(%q) succeeded", bad)
		}
	}
}

func TestBadInput(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	x := Ones([]int{4, 3}, []int{2, 2})
	for _, tc := range []struct {
		name string
		a    *Array
		want string
	}{
		{"broadcast", x.Add(Ones([]int{4}, []int{2})), "cannot be broadcast"},
		{"chunk 0", Ones([]int{4}, []int{0}), "chunk sizes must be > 0"},
		{"chunks per axis", Ones([]int{4, 3}, []int{2}), "one chunk size per axis"},
		{"negative shape", Zeros([]int{-1}, []int{1}), "negative dimension"},
		{"axis", x.Sum(2), "axis 2 out of range"},
		{"axis twice", x.Sum(0, -2), "given twice"},
		{"argmax of 2 of 3 axes", Ones([]int{2, 2, 2}, []int{1, 1, 1}).Argmax(0, 1), "one axis or none"},
		{"min of empty", Zeros([]int{0}, []int{1}).Min(), "no identity"},
		{"slice step 0", x.Slice(Every(0)), "step must not be 0"},
		{"too many ranges", x.Slice(All(), All(), All()), "at most one range per axis"},
		{"index out of range", x.Index(0, 4), "give -4..3"},
		{"index axis", x.Index(2, 0), "axis 2 out of range"},
		{"matmul inner", x.MatMul(x), "inner dimensions 3 and 4 differ"},
		{"matmul 1-d", x.MatMul(Ones([]int{3}, []int{1})), "must be 2-d"},
		{"transpose", x.Transpose(0, 0), "not a permutation"},
		{"logic on floats", x.And(x), "want bool arrays"},
		{"where condition", Where(x, 1, 2), "want a bool array"},
		{"operand type", x.Add("1"), "operand of type string"},
		{"fromslice length", FromSlice([]float64{1, 2}, []int{3}, []int{1}), "2 values for shape [3]"},
		{"fromslice type", FromSlice([]string{"a"}, []int{1}, []int{1}), "give []float64"},
		{"full type", Full([]int{1}, []int{1}, "x"), "give a float64"},
		{"concatenate shapes", Concatenate([]*Array{x, Ones([]int{4, 2}, []int{2, 2})}, 0), "all but axis 0 must match"},
		{"stack shapes", Stack([]*Array{x, x.T()}, 0), "all must match"},
		{"arange step", Arange(0, 1, 0, 1), "must not be 0"},
		{"error carried", x.Add(Ones([]int{5}, []int{1})).Mul(2).Sum(), "cannot be broadcast"},
		{"int to a negative power", ArangeInt(1, 4, 1, 2).Pow(-1), "negative integer powers"},
	} {
		err := tc.a.Err()
		if err == nil {
			_, err = tc.a.Compute(ctx, c)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// 0-d arrays through the operations that take them.
func TestZeroD(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	s := Full([]int{}, []int{}, 2.5)
	for _, tc := range []struct {
		name string
		a    *Array
		want float64
		dt   DType
	}{
		{"sum", s.Sum(), 2.5, Float64},
		{"mean", s.Mean(), 2.5, Float64},
		{"argmax", s.Argmax(), 0, Int64},
		{"var", s.Var(), 0, Float64},
		{"slice", s.Slice(), 2.5, Float64},
		{"transpose", s.T(), 2.5, Float64},
		{"gt", s.Gt(2), 1, Bool},
		{"stack", Stack([]*Array{s, s.Neg()}, 0).Sum(), 0, Float64},
		{"rechunk", s.Rechunk(), 2.5, Float64},
	} {
		d, err := tc.a.Compute(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d.DType != tc.dt || len(d.Shape) != 0 || d.Float64At() != tc.want {
			t.Errorf("%s: %v %v %v, want %v %v", tc.name, d.DType, d.Shape, d.Float64At(), tc.dt, tc.want)
		}
	}
}
