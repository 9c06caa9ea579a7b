package dataframe

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
)

// Top n rows per group (GroupBy.NLargest / NSmallest): whole rows, where
// the aggregation Largest gives a list of values.

// topNNode keeps the n best rows of each group by col: the per-group top n
// of each input partition (fused into the partition's task), then, like a
// group-by, a tree of merges to one partition or, for splitOut > 1, a hash
// shuffle by the keys (split in the same task) and one tree per output
// partition. Every merge ("dataframe.concat" with the same step)
// concatenates its inputs in order and keeps the top n rows per group
// again.
type topNNode struct {
	input    *node
	keys     []string
	col      string
	n        int
	largest  bool
	splitOut int
	every    int // fan-in of the merge trees
}

// Step ops of the per-group top n (Keys, Cols: the one value column, N).
const (
	opGroupNLargest  = "group-nlargest"
	opGroupNSmallest = "group-nsmallest"
)

func (t *topNNode) step() Step {
	op := opGroupNSmallest
	if t.largest {
		op = opGroupNLargest
	}
	return Step{Op: op, Keys: slices.Clone(t.keys), Cols: []string{t.col}, N: int64(t.n)}
}

// NLargest is, for each group, the n rows with the largest values of col
// (all of the group's rows if it has fewer), whole rows with every column
// of the DataFrame: Dask's df.groupby(keys).apply(lambda g: g.nlargest(n,
// col)), db-benchmark q8 as rows. Rows where col is NA (or NaN) are never
// chosen, so a group whose col is all NA has no rows; NA keys form their
// own group, as in Agg. Ties go to the earlier row (partition order, then
// row order). col may be an int64, float64, timestamp, string or bool
// column; n must be at least 1.
//
// Order: without SplitOut, one partition with the groups in the order of
// their first row (in the input) with a value of col, and each group's
// rows best first; with
// SplitOut(k), k partitions, each group's rows in one of them (in that
// order within it). Sort the result for another order. E.g.
//
//	df.GroupBy("id6").NLargest(2, "v3")
//
// It runs like Agg: the top n rows per group of each partition in the
// partition's task, then merges keeping the top n per group (a tree, or a
// hash shuffle with SplitOut for many groups).
func (g *GroupBy) NLargest(n int, col string) *DataFrame { return g.nBest(true, n, col) }

// NSmallest is NLargest for the smallest values, smallest first.
func (g *GroupBy) NSmallest(n int, col string) *DataFrame { return g.nBest(false, n, col) }

func (g *GroupBy) nBest(largest bool, n int, col string) *DataFrame {
	op, whole := "group-by nsmallest", "NSmallest"
	if largest {
		op, whole = "group-by nlargest", "NLargest"
	}
	df := g.df
	if n <= 0 {
		return df.invalid(fmt.Errorf("%s: n is %d, want n >= 1", op, n))
	}
	if len(g.keys) == 0 {
		return df.invalid(fmt.Errorf("%s: no group keys (DataFrame.%s is the n best rows of the whole frame)", op, whole))
	}
	if err := df.checkCols(op, append(slices.Clone(g.keys), col)...); err != nil {
		return df.invalid(err)
	}
	t := &topNNode{input: df.plan, keys: slices.Clone(g.keys), col: col, n: n, largest: largest, splitOut: max(g.splitOut, 1), every: 8}
	return &DataFrame{plan: &node{topN: t}, columns: slices.Clone(df.columns), types: slices.Clone(df.types), nparts: t.splitOut}
}

// topN builds the partial top n fused into each input partition's task
// (split there for a shuffle) and the merge trees.
func (b *builder) topN(ctx context.Context, t *topNNode) ([]part, error) {
	step := t.step()
	var split *SplitTask
	if t.splitOut > 1 {
		split = &SplitTask{Keys: t.keys, N: t.splitOut}
	}
	var parts []part
	var err error
	if t.input.steps != nil {
		parts, err = b.partTasks(ctx, t.input.steps.input, append(slices.Clone(t.input.steps.steps), step), split)
	} else {
		parts, err = b.partTasks(ctx, t.input, []Step{step}, split)
	}
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("dataframe: no partitions for the top n rows per group")
	}
	if t.splitOut <= 1 {
		p, err := b.mergeTree(parts, step, t.every)
		return []part{p}, err
	}
	out := make([]part, t.splitOut)
	for j := range out {
		picks := make([]part, len(parts))
		for i, s := range parts {
			if picks[i], err = b.add(opPick, j, s); err != nil {
				return nil, err
			}
		}
		if out[j], err = b.mergeTree(picks, step, t.every); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mergeTree reduces level to one partition with "dataframe.concat" tasks of
// fan-in every, each running step on the concatenation of its inputs (in
// order). One partition is already merged.
func (b *builder) mergeTree(level []part, step Step, every int) (part, error) {
	every = max(every, 2)
	for len(level) > 1 {
		var next []part
		for i := 0; i < len(level); i += every {
			args := []any{ConcatTask{Steps: []Step{step}}}
			args = append(args, level[i:min(i+every, len(level))]...)
			p, err := b.add(opConcat, args...)
			if err != nil {
				return nil, err
			}
			next = append(next, p)
		}
		level = next
	}
	return b.own(level[0])
}

// applyTopNStep runs a group-nlargest / group-nsmallest step.
func applyTopNStep(rec arrow.RecordBatch, s Step) (arrow.RecordBatch, error) {
	if len(s.Cols) != 1 {
		return nil, fmt.Errorf("dataframe: %s step with columns %v, want one", s.Op, s.Cols)
	}
	if s.Op == opGroupNLargest {
		return kernels.NLargestPerGroup(mem, rec, s.Keys, s.Cols[0], int(s.N))
	}
	return kernels.NSmallestPerGroup(mem, rec, s.Keys, s.Cols[0], int(s.N))
}
