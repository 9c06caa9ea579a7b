package array

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meshcompute/mesh/futures"
)

// Chunk values round-trip for each dtype and rank, read in place when
// aligned and copied when not; damaged values are errors.
func TestChunkCodec(t *testing.T) {
	for _, tc := range []struct {
		dt    DType
		shape []int
	}{{Float64, []int{3, 4}}, {Int64, []int{5}}, {Bool, []int{2, 3, 2}}, {Float64, []int{}}, {Int64, []int{0, 7}}} {
		r := refData(tc.dt, tc.shape, 1)
		whole := make([]int, len(tc.shape))
		for k := range whole {
			whole[k] = -1
		}
		v := FromSlice(data(tc.dt, size(tc.shape), 1), tc.shape, whole).n
		val, err := encodeChunk(*v.host)
		if err != nil {
			t.Fatal(err)
		}
		if val[0] != 0xc6 || (5+chunkHead+8*len(tc.shape))%8 != 0 {
			t.Fatalf("value header %x, elements at %d", val[0], 5+chunkHead+8*len(tc.shape))
		}
		for _, shift := range []int{0, 1, 3} {
			b := make([]byte, len(val)+8)
			payload := b[shift+5 : shift+len(val)]
			copy(b[shift:], val)
			got, err := decodeChunk(payload)
			if err != nil {
				t.Fatalf("%v %v shift %d: %v", tc.dt, tc.shape, shift, err)
			}
			if !slices.Equal(got.shape, tc.shape) || got.dt != tc.dt {
				t.Fatalf("decoded %v %v, want %v %v", got.dt, got.shape, tc.dt, tc.shape)
			}
			d := &Dense{DType: got.dt, Shape: got.shape, Strides: cStrides(got.shape)}
			m := materialize(got)
			d.F64, d.I64, d.Bools = m.f, m.i, m.b
			check(t, "chunk codec", d, r, 0)
		}
	}
	good, _ := encodeChunk(contigView(buf{dt: Bool, b: []bool{true, false}}, []int{2}))
	bad2 := slices.Clone(good)
	bad2[len(bad2)-1] = 2
	badMagic := slices.Clone(good)
	badMagic[5+3] = 'X'
	for _, tc := range []struct {
		p    []byte
		want string
	}{
		{nil, "not a chunk value"},
		{badMagic[5:], "not a chunk value"},
		{good[5 : len(good)-1], "holds 1 bytes, want 2"},
		{bad2[5:], "bool chunk holds byte 2"},
	} {
		if _, err := decodeChunk(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decode: %v, want %q", err, tc.want)
		}
	}
}

// A client that fetches over the network (futures.Connect), not from the
// nodes' stores: values arrive in its own buffers.
func TestNetworkClient(t *testing.T) {
	client(t)
	ctx := testCtx(t)
	nc, err := futures.Connect(ctx, meshLC.Addr(), futures.WithSecret(meshLC.Secret()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a, ra := arr(Int64, []int{9, 5}, []int{4, 2}, 1)
	b, rb := arr(Bool, []int{5}, []int{3}, 2)
	d, err := a.Mul(b).Sum(0).Compute(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	prod := refElem(t, Int64, func(x ...float64) float64 { return x[0] * x[1] }, ra, rb)
	check(t, "over the network", d, refReduce(prod, Int64, []int{0}, false, func(v []float64, _ []int) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s
	}), 0)
	p, err := a.Persist(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	d, err = p.T().Compute(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "persisted, over the network", d, ra.transpose([]int{1, 0}), 0)
	if err := p.Release(context.WithoutCancel(ctx), nc); err != nil {
		t.Fatal(err)
	}
}
