package futures

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/consensus"
)

// FusedFunc is the built-in function that runs a fused chain of calls in
// one task (see Graph.Fuse). Every binary that imports futures has it.
const FusedFunc = "mesh.fused"

func init() {
	Register(FusedFunc, runFused)
}

// TaskInfo describes one task of a Graph, for tests and tools (Visualize).
type TaskInfo struct {
	Key      string
	Func     string   // FusedFunc for a fused chain
	Deps     []string // the keys it reads, in argument order, each once
	Priority int
	// Chain is, for a fused task, the functions it runs, first to last;
	// ChainKeys are the keys those calls had before fusion.
	Chain     []string
	ChainKeys []string
}

// Tasks describes the graph's tasks in submission order (a topological
// order: every task comes after the graph tasks it reads).
func (g *Graph) Tasks() []TaskInfo {
	out := make([]TaskInfo, len(g.specs))
	for i := range g.specs {
		s := &g.specs[i]
		ti := TaskInfo{Key: s.Key, Func: s.Func, Priority: s.Priority, Deps: uniqueDeps(s)}
		if s.Func == FusedFunc && len(s.Args) > 0 {
			var calls []fusedCall
			if msgpack.Unmarshal(s.Args[0].Lit, &calls) == nil {
				for _, c := range calls {
					ti.Chain = append(ti.Chain, c.Func)
					ti.ChainKeys = append(ti.ChainKeys, c.Key)
				}
			}
		}
		out[i] = ti
	}
	return out
}

func uniqueDeps(s *consensus.TaskSpec) []string {
	var out []string
	var seen map[string]bool // for wide tasks; a scan is cheaper for few inputs
	for _, a := range s.Args {
		if a.Ref == "" {
			continue
		}
		if len(out) < 16 {
			if slices.Contains(out, a.Ref) {
				continue
			}
		} else {
			if seen == nil {
				seen = make(map[string]bool, len(s.Args))
				for _, k := range out {
					seen[k] = true
				}
			}
			if seen[a.Ref] {
				continue
			}
			seen[a.Ref] = true
		}
		out = append(out, a.Ref)
	}
	return out
}

func (g *Graph) checkOutputs(op string, outputs []Ref) error {
	if len(outputs) == 0 {
		return fmt.Errorf("%s: no outputs: name the tasks whose results you want", op)
	}
	for _, r := range outputs {
		if !g.seen[r.key] {
			return fmt.Errorf("%s: %s is not a task of this graph", op, r.key)
		}
	}
	return nil
}

func newGraphOf(specs []consensus.TaskSpec) *Graph {
	g := &Graph{specs: specs, seen: make(map[string]bool, len(specs))}
	for i := range specs {
		g.seen[specs[i].Key] = true
	}
	return g
}

// Optimize returns the graph culled to what outputs need, with linear
// chains fused into single tasks and priorities set by Order. The outputs
// keep their keys, so the same Refs name them in the result. Optimize
// leaves the priorities alone when any task has one set by hand.
//
//	g := futures.NewGraph()
//	a, _ := g.Add("load", "part-1")
//	b, _ := g.Add("clean", a)
//	og, _ := g.Optimize(b) // load and clean become one task keyed b
//	fs, _ := client.Compute(ctx, og, b)
func (g *Graph) Optimize(outputs ...Ref) (*Graph, error) {
	og, err := g.Cull(outputs...)
	if err != nil {
		return nil, err
	}
	if og, err = og.Fuse(outputs...); err != nil {
		return nil, err
	}
	for i := range og.specs {
		if og.specs[i].Priority != 0 {
			return og, nil
		}
	}
	return og.Order(outputs...)
}

// Cull returns a graph of only the tasks the outputs need (themselves and
// what they read, transitively), in the same order.
func (g *Graph) Cull(outputs ...Ref) (*Graph, error) {
	if err := g.checkOutputs("cull", outputs); err != nil {
		return nil, err
	}
	index := make(map[string]int, len(g.specs))
	for i := range g.specs {
		index[g.specs[i].Key] = i
	}
	keep := make([]bool, len(g.specs))
	stack := make([]int, 0, len(outputs))
	for _, r := range outputs {
		stack = append(stack, index[r.key])
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if keep[i] {
			continue
		}
		keep[i] = true
		for _, a := range g.specs[i].Args {
			if j, ok := index[a.Ref]; ok && a.Ref != "" && !keep[j] {
				stack = append(stack, j)
			}
		}
	}
	specs := make([]consensus.TaskSpec, 0, len(g.specs))
	for i := range g.specs {
		if keep[i] {
			specs = append(specs, g.specs[i])
		}
	}
	return newGraphOf(specs), nil
}

// fusedCall is one call of a fused chain.
type fusedCall struct {
	_msgpack struct{}   `msgpack:",as_array"`
	Key      string     // the key the call had (for errors and Tasks)
	Func     string     //
	Args     []fusedArg //
}

// fusedArg is a literal, one of the fused task's inputs, or the result of
// the previous call of the chain.
type fusedArg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Lit      []byte   // a msgpack value
	Input    int      // 1-based index into the fused task's inputs
	Prev     bool     // the previous call's result
}

// Fuse returns a graph in which every linear chain of tasks is one task of
// the built-in FusedFunc, keyed as the chain's last task, which calls the
// chain's functions one after the other in one place, passing each result
// to the next without storing it. As in Dask's fuse_linear, a task A is
// fused into its dependant B when B is A's only dependant and A is the only
// key B reads, and A is not an output. Tasks with Resources or Workers, and
// tasks whose function this binary does not know (the scheduler judges
// those), are left alone. The fused task takes the largest Retries of its
// chain and the priority of its last task.
func (g *Graph) Fuse(outputs ...Ref) (*Graph, error) {
	if err := g.checkOutputs("fuse", outputs); err != nil {
		return nil, err
	}
	n := len(g.specs)
	index := make(map[string]int, n)
	for i := range g.specs {
		index[g.specs[i].Key] = i
	}
	isOutput := make(map[string]bool, len(outputs))
	for _, r := range outputs {
		isOutput[r.key] = true
	}
	// dependants[i]: the distinct graph tasks that read task i.
	dependants := make([][]int, n)
	for j := range g.specs {
		for _, d := range uniqueDeps(&g.specs[j]) {
			if i, ok := index[d]; ok {
				dependants[i] = append(dependants[i], j)
			}
		}
	}
	fusable := func(s *consensus.TaskSpec) bool {
		if len(s.Resources) > 0 || len(s.Workers) > 0 {
			return false
		}
		fn, err := funcs.Lookup(s.Func)
		return err == nil && fn.CheckArity(len(s.Args)) == nil
	}
	// into[i] is true when task i is fused into its single dependant.
	into := make([]bool, n)
	for i := range g.specs {
		a := &g.specs[i]
		if isOutput[a.Key] || len(dependants[i]) != 1 || !fusable(a) {
			continue
		}
		b := &g.specs[dependants[i][0]]
		if deps := uniqueDeps(b); len(deps) == 1 && fusable(b) {
			into[i] = true
		}
	}
	// parent[j]: the task fused into j, if any.
	parent := make([]int, n)
	for j := range parent {
		parent[j] = -1
	}
	for i := range g.specs {
		if into[i] {
			parent[dependants[i][0]] = i
		}
	}
	specs := make([]consensus.TaskSpec, 0, n)
	for j := range g.specs {
		if into[j] {
			continue // part of a chain whose tail comes later
		}
		if parent[j] < 0 {
			specs = append(specs, g.specs[j])
			continue
		}
		chain := []int{j}
		for p := parent[j]; p >= 0; p = parent[p] {
			chain = append(chain, p)
		}
		slices.Reverse(chain)
		spec, err := g.fuseChain(chain)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return newGraphOf(specs), nil
}

// fuseChain builds the FusedFunc task of the chain (indexes into g.specs,
// first to last).
func (g *Graph) fuseChain(chain []int) (consensus.TaskSpec, error) {
	tail := g.specs[chain[len(chain)-1]]
	out := consensus.TaskSpec{Key: tail.Key, Func: FusedFunc, Priority: tail.Priority}
	calls := make([]fusedCall, len(chain))
	inputs := map[string]int{}
	for ci, si := range chain {
		s := &g.specs[si]
		out.Retries = max(out.Retries, s.Retries)
		c := fusedCall{Key: s.Key, Func: s.Func, Args: make([]fusedArg, len(s.Args))}
		for ai, a := range s.Args {
			switch {
			case a.Ref == "":
				c.Args[ai] = fusedArg{Lit: a.Lit}
			case ci > 0:
				// The chain's rule: a later call reads only its predecessor.
				c.Args[ai] = fusedArg{Prev: true}
			default:
				k, ok := inputs[a.Ref]
				if !ok {
					out.Args = append(out.Args, consensus.Arg{Ref: a.Ref})
					k = len(inputs) + 1
					inputs[a.Ref] = k
				}
				c.Args[ai] = fusedArg{Input: k}
			}
		}
		calls[ci] = c
	}
	enc, err := msgpack.Marshal(calls)
	if err != nil {
		return out, fmt.Errorf("fuse %s: %w", tail.Key, err)
	}
	out.Args = append([]consensus.Arg{{Lit: enc}}, out.Args...)
	return out, nil
}

// ErrFused is wrapped by the error of a fused task whose inner call failed
// (on the worker; the client's *TaskError carries its message, which names
// the call's original key and function).
var ErrFused = errors.New("fused call failed")

// runFused is FusedFunc: it runs the calls in order, each given the
// previous one's encoded result.
func runFused(ctx context.Context, calls []fusedCall, inputs ...RawValue) (Encoded, error) {
	var prev []byte
	for i, c := range calls {
		fn, err := funcs.Lookup(c.Func)
		if err != nil {
			return nil, fmt.Errorf("%w: %s (call %d of %d): %w", ErrFused, c.Key, i+1, len(calls), err)
		}
		args := make([][]byte, len(c.Args))
		for j, a := range c.Args {
			switch {
			case a.Prev:
				if i == 0 {
					return nil, fmt.Errorf("%w: %s: the first call reads a previous result", ErrFused, c.Key)
				}
				args[j] = prev
			case a.Input > 0:
				if a.Input > len(inputs) {
					return nil, fmt.Errorf("%w: %s: input %d of %d", ErrFused, c.Key, a.Input, len(inputs))
				}
				args[j] = inputs[a.Input-1]
			default:
				args[j] = a.Lit
			}
		}
		if prev, err = fn.Call(ctx, args); err != nil {
			return nil, fmt.Errorf("%w: %s (call %d of %d, %s): %w", ErrFused, c.Key, i+1, len(calls), c.Func, err)
		}
	}
	return Encoded(prev), nil
}

// Order returns the graph with every task's priority set from a
// depth-first order, in the spirit of dask.order: starting from the
// outputs, a task's inputs are computed one whole branch after the other,
// the branch that needs the most values held at once first (Sethi-Ullman
// numbering), so a branch finishes (and its intermediates are freed)
// before the next starts. The task at position p of that order (0-based,
// of n) gets priority n-p (the scheduler runs higher first), and the graph
// lists its tasks in that order. Priorities set by hand are overwritten.
func (g *Graph) Order(outputs ...Ref) (*Graph, error) {
	if err := g.checkOutputs("order", outputs); err != nil {
		return nil, err
	}
	n := len(g.specs)
	index := make(map[string]int, n)
	for i := range g.specs {
		index[g.specs[i].Key] = i
	}
	deps := make([][]int, n)
	need := make([]int, n)
	for i := range g.specs {
		for _, d := range uniqueDeps(&g.specs[i]) {
			if j, ok := index[d]; ok {
				deps[i] = append(deps[i], j)
			}
		}
		// specs are in topological order: the inputs' needs are known.
		slices.SortStableFunc(deps[i], func(a, b int) int { return need[b] - need[a] })
		need[i] = max(1, len(deps[i]))
		for k, j := range deps[i] {
			need[i] = max(need[i], need[j]+k)
		}
	}
	order := make([]int, 0, n)
	visited := make([]bool, n)
	type frame struct{ task, next int }
	visit := func(root int) {
		if visited[root] {
			return
		}
		visited[root] = true
		stack := []frame{{root, 0}}
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(deps[f.task]) {
				j := deps[f.task][f.next]
				f.next++
				if !visited[j] {
					visited[j] = true
					stack = append(stack, frame{j, 0})
				}
				continue
			}
			order = append(order, f.task)
			stack = stack[:len(stack)-1]
		}
	}
	for _, r := range outputs {
		visit(index[r.key])
	}
	for i := n - 1; i >= 0; i-- { // tasks no output needs (not culled)
		visit(i)
	}
	specs := make([]consensus.TaskSpec, n)
	for p, i := range order {
		specs[p] = g.specs[i]
		specs[p].Priority = n - p
	}
	return newGraphOf(specs), nil
}
