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
// still needs them, unreplicated.
func build(ctx context.Context, c *futures.Client, n *node) ([]*futures.Future, error) {
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
	return c.Compute(ctx, b.g, refs...)
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
	case n.csv != nil:
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
	case n.sort != nil || n.reduce != nil || n.repart != nil || n.pick != nil || n.invalid != nil:
		return b.opsNode(ctx, n) // planops.go
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
	if input.csv != nil {
		opts := input.csv.Opts
		opts.Columns = neededColumns(input.csv.names, steps)
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
			for _, c := range s.Cols {
				if need == nil || need[c] {
					next[c] = true
				}
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
		return nil
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
	return out
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
