package array

import (
	"context"
	"fmt"
	"slices"

	"github.com/meshcompute/mesh/futures"
)

// Dense is a computed array: C-ordered elements with their shape and
// strides (in elements). Exactly one of F64, I64 and Bools holds the data,
// as DType says.
type Dense struct {
	DType   DType
	Shape   []int
	Strides []int
	F64     []float64
	I64     []int64
	Bools   []bool
}

// Len is the number of elements.
func (d *Dense) Len() int { return size(d.Shape) }

// Float64At is the element at idx as a float64 (bools are 0 or 1).
func (d *Dense) Float64At(idx ...int) float64 {
	o := 0
	for k, i := range idx {
		o += i * d.Strides[k]
	}
	switch d.DType {
	case Float64:
		return d.F64[o]
	case Int64:
		return float64(d.I64[o])
	}
	if d.Bools[o] {
		return 1
	}
	return 0
}

// Persist computes every block and keeps them on the mesh (replicated like
// every held result); the returned Array reads them. Release drops them.
func (a *Array) Persist(ctx context.Context, c *futures.Client, opts ...Option) (*Array, error) {
	if a.err != nil {
		return nil, a.err
	}
	fs, own, err := a.submit(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	release := func() { c.Release(context.WithoutCancel(ctx), own...) }
	if _, _, err := c.Wait(ctx, fs, futures.AllCompleted); err != nil {
		release()
		return nil, err
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			release()
			return nil, err
		}
	}
	n := *a.n
	n.kind, n.in, n.parts = kPersisted, nil, fs
	return &Array{n: &n, held: own}, nil
}

// Release lets the mesh drop a persisted array's blocks.
func (a *Array) Release(ctx context.Context, c *futures.Client) error {
	if len(a.held) == 0 {
		return nil
	}
	err := c.Release(ctx, a.held...)
	a.held = nil
	return err
}

// submit builds the plan and submits it; it returns the futures of the
// output blocks (C order over the block grid) and the futures this call
// made (tasks and scattered inputs), which the caller releases.
func (a *Array) submit(ctx context.Context, c *futures.Client, opts []Option) ([]*futures.Future, []*futures.Future, error) {
	b := newBuilder(opts)
	parts, scattered, err := b.plan(ctx, c, a.n)
	if err != nil {
		c.Release(context.WithoutCancel(ctx), scattered...)
		return nil, nil, err
	}
	var refs []futures.Ref
	for _, p := range parts {
		if r, ok := p.(futures.Ref); ok {
			refs = append(refs, r)
		}
	}
	var fs []*futures.Future
	if len(refs) > 0 {
		// The shared optimizer on top of the plan's own blockwise fusion:
		// what is left of linear chains (a reduction's levels over one
		// block), and a depth-first order that finishes a branch before
		// starting the next.
		g, err := b.optimized(refs)
		if err != nil {
			c.Release(context.WithoutCancel(ctx), scattered...)
			return nil, nil, err
		}
		if fs, err = c.Compute(ctx, g, refs...); err != nil {
			c.Release(context.WithoutCancel(ctx), scattered...)
			return nil, nil, err
		}
	}
	out := make([]*futures.Future, len(parts))
	j := 0
	for k, p := range parts {
		switch p := p.(type) {
		case futures.Ref:
			out[k] = fs[j]
			j++
		case *futures.Future:
			out[k] = p // persisted or scattered: held elsewhere
		default:
			return nil, nil, fmt.Errorf("array: output block %d is a %T", k, p)
		}
	}
	// Blocks passed through (persisted or scattered ones) are their owner's
	// to release: the caller releases only fs and the scattered inputs.
	return out, append(scattered, fs...), nil
}

// Compute runs the plan and returns the whole array.
func (a *Array) Compute(ctx context.Context, c *futures.Client, opts ...Option) (*Dense, error) {
	if a.err != nil {
		return nil, a.err
	}
	fs, own, err := a.submit(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	defer c.Release(context.WithoutCancel(ctx), own...)
	vals, err := futures.GatherAs[futures.RawBytes](ctx, c, fs)
	if err != nil {
		return nil, err
	}
	out := newBuf(a.n.dt, size(a.n.shape))
	ov := contigView(out, a.n.shape)
	grid := gridShape(a.n.chunks)
	k := 0
	err = eachIndex(grid, func(idx []int) error {
		v, err := decodeChunk(vals[k])
		k++
		if err != nil {
			return err
		}
		want := blockShape(a.n, idx)
		if !slices.Equal(v.shape, want) || v.dt != a.n.dt {
			return fmt.Errorf("array: block %v is %s %v, want %s %v", idx, v.dt, v.shape, a.n.dt, want)
		}
		dst := ov
		for ax, o := range blockOffset(a.n, idx) {
			if v.shape[ax] > 0 {
				dst.off += o * dst.strides[ax]
			}
		}
		dst.shape = v.shape
		copyView(dst, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Dense{DType: out.dt, Shape: slices.Clone(a.n.shape), Strides: cStrides(a.n.shape), F64: out.f, I64: out.i, Bools: out.b}, nil
}

// TaskCount is the number of tasks the plan's graph has (built as Compute
// would, without a mesh).
func (a *Array) TaskCount(opts ...Option) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	b := newBuilder(opts)
	parts, _, err := b.plan(context.Background(), nil, a.n)
	if err != nil {
		return 0, err
	}
	var refs []futures.Ref
	for _, p := range parts {
		if r, ok := p.(futures.Ref); ok {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return 0, nil
	}
	g, err := b.optimized(refs)
	if err != nil {
		return 0, err
	}
	return g.Len(), nil
}

// optimized is the plan's graph for refs through the shared optimizer
// (futures.Graph.Optimize), on top of the plan's own blockwise fusion:
// culling, what is left of linear chains (a reduction's levels over one
// block), and a depth-first order that finishes a branch before starting
// the next. WithoutFusion leaves the graph as built.
func (b *builder) optimized(refs []futures.Ref) (*futures.Graph, error) {
	if b.opts.noFusion {
		return b.g, nil
	}
	return b.g.Optimize(refs...)
}
