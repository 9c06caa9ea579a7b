package array

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/futures"
)

// Building a plan into one task graph. Only the blocks the outputs need are
// built (culling: a slice of a sum of transposes asks its inputs for the
// blocks it reads, and nothing else is generated). With fusion, a block of
// a blockwise step (generator, elementwise function, transpose, slice,
// broadcast, rechunk, concatenate, stack) that exactly one block program
// reads is inlined into that program instead of being a task of its own, so
// a chain of elementwise steps on the same chunking is one task per block,
// and a reduction's partial runs in the task that makes its input block.
// A block read by several programs (x in x + x.T) is a task, computed once.

// buildOpts are the switches of a build.
type buildOpts struct {
	noFusion  bool
	noRewrite bool
}

// Option changes how a plan is built.
type Option func(*buildOpts)

// WithoutFusion makes every step of every block a task of its own (for
// comparisons and debugging).
func WithoutFusion() Option { return func(o *buildOpts) { o.noFusion = true } }

// WithoutRewrites turns off algebraic rewrites of the plan (the only one:
// a sum over all elements of a matrix product is the dot product of A's
// column sums and B's row sums, without forming the product).
func WithoutRewrites() Option { return func(o *buildOpts) { o.noRewrite = true } }

// fanIn is how many partials a combine task of a tree reduction takes, and
// how many block products one matmul task sums.
const fanIn = 8

type blockKey struct {
	n   *node
	idx string
}

func idxKey(idx []int) string {
	var sb strings.Builder
	for k, i := range idx {
		if k > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(i))
	}
	return sb.String()
}

type builder struct {
	g        *futures.Graph
	opts     buildOpts
	counting bool // first pass: count how many programs read each block
	uses     map[blockKey]int
	tasks    map[blockKey]any // materialized blocks: futures.Ref, *futures.Future, or a chunk value
	host     map[blockKey]any // scattered host blocks (or their values, without a client)
	roots    map[string]int   // tasks by the operation at the root of their program
	ops      map[string]int   // operations in the tasks' programs
}

func newBuilder(opts []Option) *builder {
	b := &builder{g: futures.NewGraph(), uses: map[blockKey]int{}, tasks: map[blockKey]any{}, host: map[blockKey]any{}, roots: map[string]int{}, ops: map[string]int{}}
	for _, o := range opts {
		o(&b.opts)
	}
	return b
}

// plan builds the output blocks of n (all of them) in two passes, scattering
// host blocks through c (or embedding them as values when c is nil: for
// counting tasks). It returns one part per block, C order.
func (b *builder) plan(ctx context.Context, c *futures.Client, n *node) ([]any, []*futures.Future, error) {
	if !b.opts.noRewrite {
		n = rewrite(n, map[*node]*node{})
	}
	grid := gridShape(n.chunks)
	b.counting = true
	err := eachIndex(grid, func(idx []int) error {
		_, err := b.input(n, idx)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var scattered []*futures.Future
	if len(b.host) > 0 {
		keys := make([]blockKey, 0, len(b.host))
		vals := make([]any, 0, len(b.host))
		for k := range b.host {
			idx := parseIdx(k.idx)
			v, err := encodeChunk(hostBlock(k.n, idx))
			if err != nil {
				return nil, nil, err
			}
			// A tag of its own: a scatter of the same data by an earlier
			// Compute may be being released (its key dropped) right now.
			binary.LittleEndian.PutUint64(v[5+11:], rand.Uint64())
			keys = append(keys, k)
			vals = append(vals, msgpack.RawMessage(v))
		}
		if c != nil {
			fs, err := c.Scatter(ctx, vals)
			if err != nil {
				return nil, nil, fmt.Errorf("array: scatter: %w", err)
			}
			scattered = fs
			for j, k := range keys {
				b.host[k] = fs[j]
			}
		} else {
			for j, k := range keys {
				b.host[k] = string(vals[j].(msgpack.RawMessage)) // only counted, never run
			}
		}
	}
	b.counting = false
	var out []any
	err = eachIndex(grid, func(idx []int) error {
		p, err := b.block(n, idx)
		out = append(out, p)
		return err
	})
	return out, scattered, err
}

func parseIdx(s string) []int {
	if s == "" {
		return []int{}
	}
	f := strings.Split(s, ",")
	out := make([]int, len(f))
	for k, x := range f {
		out[k], _ = strconv.Atoi(x)
	}
	return out
}

// eachIndex calls f with every index of grid, in C order.
func eachIndex(grid []int, f func(idx []int) error) error {
	if size(grid) == 0 {
		return nil
	}
	idx := make([]int, len(grid))
	for {
		if err := f(slices.Clone(idx)); err != nil {
			return err
		}
		k := len(grid) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < grid[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return nil
		}
	}
}

// fusable kinds are inlined into the one program that reads a block (a
// matrix product's block, too: sum(a @ b)'s partial sums each product
// block in the task that forms it, which then never leaves the task).
func fusable(k kind) bool {
	switch k {
	case kGen, kElem, kTranspose, kSlice, kExpand, kRechunk, kConcat, kSqueeze, kMatMul:
		return true
	}
	return false
}

// input is the program leaf (or inlined program) for block idx of n, read
// by the program being built.
func (b *builder) input(n *node, idx []int) (*Expr, error) {
	key := blockKey{n, idxKey(idx)}
	if b.counting {
		b.uses[key]++
		if b.uses[key] > 1 {
			return &Expr{Op: "in"}, nil
		}
		if n.kind == kHost {
			b.host[key] = nil
			return &Expr{Op: "in"}, nil
		}
		if n.kind == kPersisted {
			return &Expr{Op: "in"}, nil
		}
		return b.expr(n, idx)
	}
	if !b.opts.noFusion && fusable(n.kind) && b.uses[key] <= 1 {
		return b.expr(n, idx)
	}
	p, err := b.block(n, idx)
	if err != nil {
		return nil, err
	}
	return &Expr{Op: "in", ref: p}, nil
}

// block is block idx of n as a task (or a persisted or scattered value).
func (b *builder) block(n *node, idx []int) (any, error) {
	if b.counting {
		return nil, nil
	}
	key := blockKey{n, idxKey(idx)}
	if p, ok := b.tasks[key]; ok {
		return p, nil
	}
	var p any
	switch n.kind {
	case kPersisted:
		p = n.parts[flatIndex(gridShape(n.chunks), idx)]
	case kHost:
		p = b.host[key]
	default:
		e, err := b.expr(n, idx)
		if err != nil {
			return nil, err
		}
		if e.Op == "in" {
			p = e.ref // a block passed through (concatenate, rechunk to the same chunks)
		} else if p, err = b.task(e); err != nil {
			return nil, err
		}
	}
	b.tasks[key] = p
	return p, nil
}

func flatIndex(grid, idx []int) int {
	f := 0
	for k, i := range idx {
		f = f*grid[k] + i
	}
	return f
}

// task adds a program as a task: its "in" leaves become the task's inputs.
func (b *builder) task(e *Expr) (any, error) {
	if b.counting {
		return nil, nil
	}
	var inputs []any
	seen := map[any]int{}
	ops := map[string]int{}
	var walk func(e *Expr) *Expr
	walk = func(e *Expr) *Expr {
		c := *e
		ops[e.Op]++
		if e.Op == "in" {
			k, ok := seen[e.ref]
			if !ok {
				k = len(inputs)
				seen[e.ref] = k
				inputs = append(inputs, e.ref)
			}
			c.In, c.ref = k, nil
			return &c
		}
		c.Args = make([]*Expr, len(e.Args))
		for j, a := range e.Args {
			c.Args[j] = walk(a)
		}
		return &c
	}
	prog := walk(e)
	args := append([]any{*prog}, inputs...)
	r, err := b.g.Add(opRun, args...)
	if err == nil {
		b.roots[e.Op]++
		for op, n := range ops {
			b.ops[op] += n
		}
	}
	return r, err
}

func blockShape(n *node, idx []int) []int {
	s := make([]int, len(idx))
	for k, i := range idx {
		s[k] = n.chunks[k][i]
	}
	return s
}

func blockOffset(n *node, idx []int) []int {
	o := make([]int, len(idx))
	for k, i := range idx {
		o[k] = offsets(n.chunks[k])[i]
	}
	return o
}

// hostBlock is block idx of a FromSlice array.
func hostBlock(n *node, idx []int) view {
	off := blockOffset(n, idx)
	sl := make([]Sl, len(idx))
	for k := range idx {
		sl[k] = Sl{Start: off[k], Step: 1, Count: n.chunks[k][idx[k]]}
	}
	v := *n.host
	for k, s := range sl {
		if s.Count > 0 {
			v.off += s.Start * v.strides[k]
		}
	}
	v.shape = blockShape(n, idx)
	return v
}

// expr is the program that computes block idx of n.
func (b *builder) expr(n *node, idx []int) (*Expr, error) {
	switch n.kind {
	case kGen:
		off := blockOffset(n, idx)
		region := make([]Sl, len(idx))
		for k := range idx {
			region[k] = Sl{Start: off[k], Step: 1, Count: n.chunks[k][idx[k]]}
		}
		return &Expr{Op: "gen", Gen: n.gen, Sl: region}, nil
	case kHost, kPersisted:
		p, err := b.block(n, idx)
		return &Expr{Op: "in", ref: p}, err
	case kElem:
		args := make([]*Expr, len(n.in))
		nd := len(n.shape)
		for j, in := range n.in {
			ii := make([]int, len(in.shape))
			for k := range in.shape {
				ax := k + nd - len(in.shape)
				if in.shape[k] == n.shape[ax] {
					ii[k] = idx[ax]
				}
			}
			a, err := b.input(in, ii)
			if err != nil {
				return nil, err
			}
			args[j] = a
		}
		return &Expr{Op: "elem", Fn: n.fn, Args: args}, nil
	case kTranspose:
		ii := make([]int, len(idx))
		for k, p := range n.perm {
			ii[p] = idx[k]
		}
		a, err := b.input(n.in[0], ii)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: "transpose", Perm: n.perm, Args: []*Expr{a}}, nil
	case kSlice:
		ii := make([]int, len(idx))
		local := make([]Sl, len(idx))
		for k, i := range idx {
			p := slicePieces(n.in[0].chunks[k], n.sl[k])[i]
			ii[k], local[k] = p.block, p.local
		}
		a, err := b.input(n.in[0], ii)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: "slice", Sl: local, Args: []*Expr{a}}, nil
	case kExpand:
		ax := n.axes[0]
		ii := slices.Delete(slices.Clone(idx), ax, ax+1)
		a, err := b.input(n.in[0], ii)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: "expand", Axes: []int{ax}, Args: []*Expr{a}}, nil
	case kSqueeze:
		ax := n.axes[0]
		a, err := b.input(n.in[0], slices.Insert(slices.Clone(idx), ax, 0))
		if err != nil {
			return nil, err
		}
		return &Expr{Op: "squeeze", Axes: []int{ax}, Args: []*Expr{a}}, nil
	case kConcat:
		ax := n.axes[0]
		i := idx[ax]
		for _, in := range n.in {
			if in.shape[ax] == 0 {
				continue
			}
			if i < len(in.chunks[ax]) {
				ii := slices.Clone(idx)
				ii[ax] = i
				return b.input(in, ii)
			}
			i -= len(in.chunks[ax])
		}
		// an empty result along ax: an empty block of the first input
		ii := slices.Clone(idx)
		ii[ax] = 0
		a, err := b.input(n.in[0], ii)
		if err != nil {
			return nil, err
		}
		sl := make([]Sl, len(idx))
		for k := range sl {
			sl[k] = Sl{Step: 1, Count: n.chunks[k][idx[k]]}
		}
		sl[ax].Count = 0
		return &Expr{Op: "slice", Sl: sl, Args: []*Expr{a}}, nil
	case kRechunk:
		return b.rechunk(n, idx)
	case kReduce:
		return b.reduction(n, idx)
	case kMatMul:
		return b.matmul(n, idx)
	}
	return nil, fmt.Errorf("array: plan node of kind %d", n.kind)
}

// rechunk assembles output block idx from the pieces of the input blocks
// that overlap it.
func (b *builder) rechunk(n *node, idx []int) (*Expr, error) {
	in := n.in[0]
	nd := len(idx)
	type span struct {
		block, lo, cnt, dst int
	}
	spans := make([][]span, nd)
	for k := range nd {
		o := offsets(n.chunks[k])
		lo, hi := o[idx[k]], o[idx[k]+1]
		io := offsets(in.chunks[k])
		for j := range in.chunks[k] {
			a, z := max(lo, io[j]), min(hi, io[j+1])
			if z > a || (hi == lo && j == 0) {
				spans[k] = append(spans[k], span{block: j, lo: a - io[j], cnt: max(z-a, 0), dst: a - lo})
			}
		}
	}
	grid := make([]int, nd)
	for k := range nd {
		grid[k] = len(spans[k])
	}
	if size(grid) == 1 {
		// one input block: a slice of it (or all of it)
		ii := make([]int, nd)
		sl := make([]Sl, nd)
		whole := true
		for k := range nd {
			s := spans[k][0]
			ii[k], sl[k] = s.block, Sl{Start: s.lo, Step: 1, Count: s.cnt}
			if s.lo != 0 || s.cnt != in.chunks[k][s.block] {
				whole = false
			}
		}
		a, err := b.input(in, ii)
		if err != nil || whole {
			return a, err
		}
		return &Expr{Op: "slice", Sl: sl, Args: []*Expr{a}}, nil
	}
	e := &Expr{Op: "assemble", Shape: blockShape(n, idx)}
	err := eachIndex(grid, func(p []int) error {
		ii := make([]int, nd)
		sl := make([]Sl, nd)
		dst := make([]int, nd)
		for k := range nd {
			s := spans[k][p[k]]
			ii[k], sl[k], dst[k] = s.block, Sl{Start: s.lo, Step: 1, Count: s.cnt}, s.dst
		}
		a, err := b.input(in, ii)
		if err != nil {
			return err
		}
		e.Args = append(e.Args, &Expr{Op: "slice", Sl: sl, Args: []*Expr{a}})
		e.Pieces = append(e.Pieces, dst)
		return nil
	})
	return e, err
}

// reduction: a partial per input block (fused into the program making the
// block), combined by a tree of tasks of fan-in 8, finalized at the root.
func (b *builder) reduction(n *node, idx []int) (*Expr, error) {
	in := n.in[0]
	nd := len(in.shape)
	// the input block index with the kept axes fixed
	base := make([]int, nd)
	j := 0
	for k := range nd {
		if slices.Contains(n.axes, k) {
			if n.keep {
				j++
			}
			continue
		}
		base[k] = idx[j]
		j++
	}
	sub := make([]int, len(n.axes))
	for q, ax := range n.axes {
		sub[q] = len(in.chunks[ax])
	}
	var parts []*Expr
	err := eachIndex(sub, func(r []int) error {
		ii := slices.Clone(base)
		for q, ax := range n.axes {
			ii[ax] = r[q]
		}
		a, err := b.input(in, ii)
		if err != nil {
			return err
		}
		parts = append(parts, &Expr{Op: "partial", Fn: n.fn, Axes: n.axes, Off: blockOffset(in, ii), Shape: in.shape, Args: []*Expr{a}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	root, err := b.tree(n.fn, parts)
	if err != nil {
		return nil, err
	}
	count := 1
	for _, ax := range n.axes {
		count *= in.shape[ax]
	}
	e := &Expr{Op: "final", Fn: n.fn, Count: float64(count), Ddof: n.ddof, Args: []*Expr{root}}
	if !n.keep {
		e = &Expr{Op: "squeeze", Axes: n.axes, Args: []*Expr{e}}
	}
	return e, nil
}

// tree combines programs (each a partial) in tasks of fanIn until one
// program is left; that one is returned, not made a task.
func (b *builder) tree(op string, parts []*Expr) (*Expr, error) {
	for len(parts) > 1 {
		var next []*Expr
		for lo := 0; lo < len(parts); lo += fanIn {
			group := parts[lo:min(lo+fanIn, len(parts))]
			args := make([]*Expr, len(group))
			for j, p := range group {
				t, err := b.task(p)
				if err != nil {
					return nil, err
				}
				args[j] = &Expr{Op: "in", ref: t}
			}
			next = append(next, &Expr{Op: "combine", Fn: op, Args: args})
		}
		parts = next
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("array: reduction over no blocks")
	}
	return parts[0], nil
}

// matmul: block (i, j) sums A[i,k]·B[k,j] over k; each task multiplies and
// sums up to fanIn pairs, and a tree of combine tasks sums the tasks'
// results.
func (b *builder) matmul(n *node, idx []int) (*Expr, error) {
	a, bb := n.in[0], n.in[1]
	nk := len(a.chunks[1])
	var groups []*Expr
	for lo := 0; lo < nk; lo += fanIn {
		e := &Expr{Op: "matmul"}
		for k := lo; k < min(lo+fanIn, nk); k++ {
			x, err := b.input(a, []int{idx[0], k})
			if err != nil {
				return nil, err
			}
			y, err := b.input(bb, []int{k, idx[1]})
			if err != nil {
				return nil, err
			}
			e.Args = append(e.Args, x, y)
		}
		groups = append(groups, e)
	}
	return b.tree("sum", groups)
}

// rewrite applies algebraic rewrites: sum(A @ B) over all elements is
// colsum(A) · rowsum(B).
func rewrite(n *node, done map[*node]*node) *node {
	if r, ok := done[n]; ok {
		return r
	}
	c := *n
	c.in = make([]*node, len(n.in))
	for k, in := range n.in {
		c.in[k] = rewrite(in, done)
	}
	r := &c
	if c.kind == kReduce && c.fn == "sum" && len(c.axes) == 2 && !c.keep && c.in[0].kind == kMatMul {
		m := c.in[0]
		a, b := &Array{n: m.in[0]}, &Array{n: m.in[1]}
		dot := a.Sum(0).Mul(b.Sum(1)).Sum()
		if dot.err == nil && dot.n.dt == c.dt {
			r = dot.n
		}
	}
	done[n] = r
	return r
}
