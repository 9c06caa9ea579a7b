package dataframe

import (
	"fmt"
	"strings"

	"github.com/meshcompute/mesh/collections/dataframe/expr"
	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// A DataFrame's plan is data: the node kinds below are plain structs that
// msgpack round-trips, so a task carries the part of the plan it runs and
// any mesh node executes it with the built-in operations (ops.go), without
// user code.

// node is one step of a lazy plan. Exactly one of the kinds is set.
type node struct {
	// Sources.
	csv       *csvScan
	parquet   *parquetScan // Parquet row groups (parquet.go)
	persisted *persisted
	// Per-partition steps on one input, fused into the input's task.
	steps *stepsNode
	// A group-by aggregation (tree reduction, or hash shuffle when the
	// groups are many).
	groupBy *groupByNode
	// The n best rows of each group (topn.go).
	topN *topNNode
	// Sort, reductions to one partition, repartition, a subset of the
	// partitions, and a plan that failed to build (planops.go).
	sort    *sortNode
	reduce  *reduceNode
	repart  *repartNode
	pick    *pickNode
	invalid error
	// A join of two inputs (the small side broadcast, or both sides hash
	// shuffled by the keys).
	join *joinNode
}

// csvScan reads CSV files split into byte ranges (one partition each).
type csvScan struct {
	Parts []CSVPart
	Opts  kernels.CSVOptions
	names []string // all columns, in file order
}

// CSVPart is one partition of a CSV source: the rows of Path whose first
// byte lies in [Start, End).
type CSVPart struct {
	Path  string `msgpack:"path"`
	Start int64  `msgpack:"start"`
	End   int64  `msgpack:"end"`
	Size  int64  `msgpack:"size"`
	// MTime makes the task's key change when the file does.
	MTime int64 `msgpack:"mtime"`
}

// persisted partitions are held by the mesh: these futures.
type persisted struct {
	parts []*futures.Future
}

type stepsNode struct {
	input *node
	steps []Step
}

type groupByNode struct {
	input    *node
	keys     []string
	aggs     []kernels.Agg
	splitOut int // output partitions; 1: a tree reduction to one
	every    int // fan-in of the tree reduction
}

// joinStrategy is how a join's tasks get matching rows together.
type joinStrategy uint8

const (
	// broadcastRight: one task per left partition, each given every right
	// partition (inner and left joins).
	broadcastRight joinStrategy = iota + 1
	// broadcastLeft: one task per right partition, each given every left
	// partition (inner and right joins).
	broadcastLeft
	// shuffleJoin: both sides hash-split by their keys into n buckets; task
	// j joins bucket j of every left partition with bucket j of every right
	// one (any join).
	shuffleJoin
)

func (s joinStrategy) String() string {
	switch s {
	case broadcastRight:
		return "broadcast right"
	case broadcastLeft:
		return "broadcast left"
	case shuffleJoin:
		return "shuffle"
	}
	return "?"
}

type joinNode struct {
	left, right     *node
	leftOn, rightOn []string
	how             JoinType
	layout          []kernels.JoinColumn // the result's columns
	strategy        joinStrategy
	n               int // output partitions (shuffle buckets)
}

// Step is one per-partition operation.
type Step struct {
	Op string `msgpack:"op"` // select, drop, rename, filter, with, groupby-partial, head, len
	// select/drop: columns; rename: pairs old, new, ...
	Cols []string      `msgpack:"cols,omitempty"`
	Keys []string      `msgpack:"keys,omitempty"`
	Aggs []kernels.Agg `msgpack:"aggs,omitempty"`
	N    int64         `msgpack:"n,omitempty"`
	// filter: the predicate; with: the new column's expression (Name).
	Expr *expr.Expr `msgpack:"expr,omitempty"`
	Name string     `msgpack:"name,omitempty"`
	// sort and friends (planops.go): a direction per column of Cols;
	// map: the partition function's msgpack-encoded arguments (Name).
	Desc []bool   `msgpack:"desc,omitempty"`
	Args [][]byte `msgpack:"args,omitempty"`
}

// PartTask is what one partition task runs: a source (a CSV range, or the
// value of its i-th input) and the steps after it. It is the argument of
// the built-in operation "dataframe.part".
type PartTask struct {
	CSV   *CSVPart           `msgpack:"csv,omitempty"`
	Opts  kernels.CSVOptions `msgpack:"opts"`
	Input int                `msgpack:"in"`
	Steps []Step             `msgpack:"steps,omitempty"`
	// Split, if set, hash-partitions the result: the value is a split (as
	// dataframe.split's), read with dataframe.pick.
	Split *SplitTask `msgpack:"split,omitempty"`
}

// AggTask merges group-by partial states (its inputs) and, when Final,
// turns them into the result. The argument of "dataframe.agg".
type AggTask struct {
	Keys  []string      `msgpack:"keys"`
	Aggs  []kernels.Agg `msgpack:"aggs"`
	Final bool          `msgpack:"final,omitempty"`
}

// JoinTask joins its inputs: the first Left of them are partitions of the
// left side (concatenated), the rest the right side's, into Columns (those
// of the join's result that Steps need); then it runs Steps on the result
// (fused, like a partition task's). The argument of "dataframe.join".
type JoinTask struct {
	How     string               `msgpack:"how"`
	LeftOn  []string             `msgpack:"left_on"`
	RightOn []string             `msgpack:"right_on"`
	Columns []kernels.JoinColumn `msgpack:"columns"`
	Left    int                  `msgpack:"left"`
	Steps   []Step               `msgpack:"steps,omitempty"`
}

// SplitTask hash-partitions its input by Keys into N parts (the map side of
// a shuffle), keeping only the columns Cols (nil: all). The argument of
// "dataframe.split".
type SplitTask struct {
	Keys []string `msgpack:"keys"`
	N    int      `msgpack:"n"`
	Cols []string `msgpack:"cols,omitempty"`
}

// explain writes the plan as an indented tree, one node per line.
func (n *node) explain(b *strings.Builder, indent string) {
	switch {
	case n.csv != nil:
		fmt.Fprintf(b, "%scsv %d partitions\n", indent, len(n.csv.Parts))
	case n.persisted != nil:
		fmt.Fprintf(b, "%spersisted %d partitions\n", indent, len(n.persisted.parts))
	case n.steps != nil:
		ops := make([]string, len(n.steps.steps))
		for i, s := range n.steps.steps {
			ops[i] = s.Op
		}
		fmt.Fprintf(b, "%ssteps %s\n", indent, strings.Join(ops, ", "))
		n.steps.input.explain(b, indent+"  ")
	case n.groupBy != nil:
		fmt.Fprintf(b, "%sgroupby %v split-out %d\n", indent, n.groupBy.keys, n.groupBy.splitOut)
		n.groupBy.input.explain(b, indent+"  ")
	case n.topN != nil:
		t := n.topN
		fmt.Fprintf(b, "%s%s %d %s by %v split-out %d\n", indent, t.step().Op, t.n, t.col, t.keys, t.splitOut)
		t.input.explain(b, indent+"  ")
	case n.join != nil:
		j := n.join
		fmt.Fprintf(b, "%sjoin %s %v=%v %s -> %d partitions\n", indent, j.how, j.leftOn, j.rightOn, j.strategy, j.n)
		j.left.explain(b, indent+"  ")
		j.right.explain(b, indent+"  ")
	}
}
