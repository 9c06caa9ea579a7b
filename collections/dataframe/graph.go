package dataframe

import (
	"context"
	"fmt"
	"slices"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// build turns a plan into one task graph, submits it, and returns the
// futures of its output partitions, in order. Per-partition steps are fused
// into their source's task; the columns they need are pushed down into the
// CSV reader. Task keys are pure (a hash of the operation and its inputs),
// so a subplan shared by two plans, or computed again, is one task. Only
// the outputs are held: the mesh keeps the other tasks' values while a task
// still needs them, unreplicated. With fetchOnce (a Compute: the outputs
// are gathered and released at once) the outputs are not replicated either:
// lineage recomputes one whose node dies before the fetch.
func build(ctx context.Context, c *futures.Client, n *node, fetchOnce bool) ([]*futures.Future, error) {
	b := &builder{g: futures.NewGraph()}
	out, err := b.node(ctx, n)
	if err != nil {
		return nil, err
	}
	if n.persisted != nil {
		return n.persisted.parts, nil
	}
	refs := make([]futures.Ref, len(out))
	for i, a := range out {
		refs[i] = a.(futures.Ref)
	}
	return b.compute(ctx, c, fetchOnce, refs...)
}

// compute submits the builder's graph for refs, with priorities set by the
// shared optimizer's depth-first order (futures.Graph.Order; no culling
// or fusion: the plan fused its steps already), and with one copy of each
// output when fetchOnce.
func (b *builder) compute(ctx context.Context, c *futures.Client, fetchOnce bool, refs ...futures.Ref) ([]*futures.Future, error) {
	g, err := b.ordered(fetchOnce, refs...)
	if err != nil {
		return nil, err
	}
	return c.Compute(ctx, g, refs...)
}

// ordered is the graph compute submits.
func (b *builder) ordered(fetchOnce bool, refs ...futures.Ref) (*futures.Graph, error) {
	g, err := b.g.Order(refs...)
	if err != nil {
		return nil, fmt.Errorf("dataframe: %w", err)
	}
	if fetchOnce {
		g.SetReplicas(1, refs...)
	}
	return g, nil
}

// builder adds a plan's tasks to a graph. A partition is a futures.Ref of
// the graph, or a *futures.Future of a persisted partition.
type builder struct {
	g *futures.Graph
}

type part = any

func (b *builder) add(fn string, args ...any) (part, error) {
	return b.g.Add(fn, args...)
}

func (b *builder) node(ctx context.Context, n *node) ([]part, error) {
	switch {
	case n.csv != nil, n.parquet != nil:
		return b.parts(ctx, n, nil)
	case n.persisted != nil:
		out := make([]part, len(n.persisted.parts))
		for i, f := range n.persisted.parts {
			out[i] = f
		}
		return out, nil
	case n.steps != nil:
		return b.parts(ctx, n.steps.input, n.steps.steps)
	case n.groupBy != nil:
		return b.groupBy(ctx, n.groupBy)
	case n.topN != nil:
		return b.topN(ctx, n.topN) // topn.go
	case n.sort != nil || n.reduce != nil || n.repart != nil || n.pick != nil || n.invalid != nil:
		return b.opsNode(ctx, n) // planops.go
	case n.join != nil:
		return b.join(ctx, n.join, nil)
	}
	return nil, fmt.Errorf("dataframe: empty plan node")
}

// parts runs steps on every partition of input, in the input's own task
// when it is a source.
func (b *builder) parts(ctx context.Context, input *node, steps []Step) ([]part, error) {
	return b.partTasks(ctx, input, steps, nil)
}

// partTasks is parts whose tasks end with split (when not nil): each task's
// value is then a split of its result. steps must not be empty if split is
// set.
func (b *builder) partTasks(ctx context.Context, input *node, steps []Step, split *SplitTask) ([]part, error) {
	if input.parquet != nil || input.join != nil {
		// Sources with their own tasks: a split, if any, is a task after.
		var out []part
		var err error
		if input.parquet != nil {
			out, err = b.parquetParts(input.parquet, steps)
		} else {
			out, err = b.join(ctx, input.join, steps)
		}
		if err != nil || split == nil {
			return out, err
		}
		for i, p := range out {
			if out[i], err = b.add(opSplit, *split, p); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if input.csv != nil {
		opts := input.csv.Opts
		opts.Columns, steps = pushDown(input.csv.names, steps)
		out := make([]part, len(input.csv.Parts))
		for i := range input.csv.Parts {
			var err error
			if out[i], err = b.add(opPart, PartTask{CSV: &input.csv.Parts[i], Opts: opts, Steps: steps, Split: split}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	in, err := b.node(ctx, input)
	if err != nil || len(steps) == 0 {
		return in, err
	}
	out := make([]part, len(in))
	for i, p := range in {
		if out[i], err = b.add(opPart, PartTask{Input: 0, Steps: steps, Split: split}, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// groupBy: a partial aggregation fused into each input partition, then a
// tree reduction of fan-in g.every to one partition, or, for split-out
// partitions, a hash shuffle of the partials (split in the same task: the
// partials themselves are never stored) followed by one tree per output
// partition.
func (b *builder) groupBy(ctx context.Context, g *groupByNode) ([]part, error) {
	partial := Step{Op: "groupby-partial", Keys: g.keys, Aggs: g.aggs}
	var split *SplitTask
	if g.splitOut > 1 {
		split = &SplitTask{Keys: g.keys, N: g.splitOut}
	}
	var parts []part
	var err error
	if g.input.steps != nil {
		parts, err = b.partTasks(ctx, g.input.steps.input, append(slices.Clone(g.input.steps.steps), partial), split)
	} else {
		parts, err = b.partTasks(ctx, g.input, []Step{partial}, split)
	}
	if err != nil {
		return nil, err
	}
	if g.splitOut <= 1 {
		f, err := b.tree(g, parts)
		return []part{f}, err
	}
	splits := parts
	out := make([]part, g.splitOut)
	for j := range out {
		picks := make([]part, len(splits))
		for i, s := range splits {
			if picks[i], err = b.add(opPick, j, s); err != nil {
				return nil, err
			}
		}
		if out[j], err = b.tree(g, picks); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// join adds a join's tasks, with steps fused into them: one per partition
// of the side that is not broadcast, or one per shuffle bucket. Only the
// result's columns that steps need are gathered, and only the input
// columns those come from (and the keys) are read or shuffled.
func (b *builder) join(ctx context.Context, j *joinNode, steps []Step) ([]part, error) {
	names := make([]string, len(j.layout))
	for i, c := range j.layout {
		names[i] = c.Name
	}
	cols := j.layout
	var lneed, rneed []string // nil: every column
	need, steps := pushDown(names, steps)
	if need != nil {
		cols = nil
		lneed, rneed = slices.Clone(j.leftOn), slices.Clone(j.rightOn)
		for _, c := range j.layout {
			if !slices.Contains(need, c.Name) {
				continue
			}
			cols = append(cols, c)
			if c.Left != "" && !slices.Contains(lneed, c.Left) {
				lneed = append(lneed, c.Left)
			}
			if c.Right != "" && !slices.Contains(rneed, c.Right) {
				rneed = append(rneed, c.Right)
			}
		}
	}
	left, lsplit, err := b.side(ctx, j.left, lneed)
	if err != nil {
		return nil, err
	}
	right, rsplit, err := b.side(ctx, j.right, rneed)
	if err != nil {
		return nil, err
	}
	t := JoinTask{How: string(j.how), LeftOn: j.leftOn, RightOn: j.rightOn, Columns: cols, Steps: steps}
	add := func(l, r []part) (part, error) {
		t.Left = len(l)
		args := make([]any, 0, 1+len(l)+len(r))
		args = append(args, t)
		args = append(args, l...)
		args = append(args, r...)
		return b.add(opJoin, args...)
	}
	var out []part
	switch j.strategy {
	case broadcastRight:
		for _, l := range left {
			p, err := add([]part{l}, right)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	case broadcastLeft:
		for _, r := range right {
			p, err := add(left, []part{r})
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	case shuffleJoin:
		lb, err := b.shuffle(left, SplitTask{Keys: j.leftOn, N: j.n, Cols: lsplit})
		if err != nil {
			return nil, err
		}
		rb, err := b.shuffle(right, SplitTask{Keys: j.rightOn, N: j.n, Cols: rsplit})
		if err != nil {
			return nil, err
		}
		for i := range j.n {
			p, err := add(lb[i], rb[i])
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	default:
		return nil, fmt.Errorf("dataframe: join without a strategy")
	}
	return out, nil
}

// side returns the partitions of a join's input, reading only the columns
// cols (nil: all) where that is free: fused into a CSV read (pushed down),
// into its per-partition steps, or into an inner join's tasks. Otherwise
// (persisted partitions, a group-by's) it returns cols for the shuffle's
// split tasks to select, else nil.
func (b *builder) side(ctx context.Context, n *node, cols []string) ([]part, []string, error) {
	if cols == nil {
		p, err := b.node(ctx, n)
		return p, nil, err
	}
	sel := Step{Op: "select", Cols: cols}
	switch {
	case n.csv != nil, n.join != nil:
		p, err := b.parts(ctx, n, []Step{sel})
		return p, nil, err
	case n.steps != nil:
		p, err := b.parts(ctx, n.steps.input, append(slices.Clone(n.steps.steps), sel))
		return p, nil, err
	}
	p, err := b.node(ctx, n)
	return p, cols, err
}

// shuffle hash-splits every partition as t says: out[j] are bucket j of
// each partition. Equal keys of the same types land in the same bucket
// whichever side, node or process splits them.
func (b *builder) shuffle(parts []part, t SplitTask) ([][]part, error) {
	out := make([][]part, t.N)
	for _, p := range parts {
		s, err := b.add(opSplit, t, p)
		if err != nil {
			return nil, err
		}
		for j := range out {
			pick, err := b.add(opPick, j, s)
			if err != nil {
				return nil, err
			}
			out[j] = append(out[j], pick)
		}
	}
	return out, nil
}

// tree reduces partial states to one final partition.
func (b *builder) tree(g *groupByNode, level []part) (part, error) {
	every := max(g.every, 2)
	for {
		final := len(level) <= every
		var next []part
		for i := 0; i < len(level); i += every {
			chunk := level[i:min(i+every, len(level))]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, AggTask{Keys: g.keys, Aggs: g.aggs, Final: final})
			args = append(args, chunk...)
			f, err := b.add(opAgg, args...)
			if err != nil {
				return nil, err
			}
			next = append(next, f)
		}
		if final {
			return next[0], nil
		}
		level = next
	}
}

// neededColumns are the columns of a source (names, in file order) that
// steps read; nil means all.
func neededColumns(names []string, steps []Step) []string {
	cols, _ := pushDown(names, steps)
	return cols
}

// pushDown returns the columns of a source (names, in file order) that
// steps read (nil: all), and the steps with every select narrowed to the
// columns the steps after it need (the source will not have the others).
func pushDown(names []string, steps []Step) ([]string, []Step) {
	steps = slices.Clone(steps)
	var need map[string]bool // nil: every column
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		switch s.Op {
		case "groupby-partial":
			need = map[string]bool{}
			for _, k := range s.Keys {
				need[k] = true
			}
			for _, a := range s.Aggs {
				for _, c := range aggColumns(a) {
					need[c] = true
				}
			}
		case "select":
			next := map[string]bool{}
			var cols []string
			for _, c := range s.Cols {
				if need == nil || need[c] {
					next[c] = true
					cols = append(cols, c)
				}
			}
			if need != nil {
				steps[i].Cols = cols
			}
			need = next
		case "filter":
			if need != nil {
				for _, c := range s.Expr.Columns() {
					need[c] = true
				}
			}
		case "with":
			if need != nil {
				delete(need, s.Name)
				for _, c := range s.Expr.Columns() {
					need[c] = true
				}
			}
		case "rename":
			if need != nil {
				for j := 0; j+1 < len(s.Cols); j += 2 {
					if need[s.Cols[j+1]] {
						delete(need, s.Cols[j+1])
						need[s.Cols[j]] = true
					}
				}
			}
		case "len":
			need = map[string]bool{}
		default:
			need = stepNeeds(s, need) // planops.go
		}
	}
	if need == nil {
		return nil, steps
	}
	out := make([]string, 0, len(need))
	for _, c := range names {
		if need[c] {
			out = append(out, c)
		}
	}
	if len(out) == 0 && len(names) > 0 {
		out = names[:1] // rows still need a column to count
	}
	return out, steps
}

func aggColumns(a kernels.Agg) []string {
	var out []string
	if a.Col != "" {
		out = append(out, a.Col)
	}
	if a.Col2 != "" {
		out = append(out, a.Col2)
	}
	return out
}
