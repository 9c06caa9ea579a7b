package futures

import (
	"context"
	"fmt"

	"github.com/meshcompute/mesh/consensus"
)

// Graph collects tasks that are submitted together, as a collection's
// compute does: only the outputs named in Compute are held by the client;
// the mesh keeps every other task's value only while a task of the graph
// still needs it, and does not replicate it (lineage recomputes it if its
// node dies first). One Graph is for one goroutine.
type Graph struct {
	specs []consensus.TaskSpec
	seen  map[string]bool
}

// Ref names a task added to a Graph: pass it as an argument of later Adds,
// or to Compute.
type Ref struct{ key string }

// Key is the task's key.
func (r Ref) Key() string { return r.key }

// NewGraph returns an empty graph.
func NewGraph() *Graph { return &Graph{seen: map[string]bool{}} }

// Add adds fn(args...) to the graph. An argument may be a Ref of this
// graph, a *Future already submitted, a TaskOption, or a value. Calls are
// pure by default: adding the same call twice is one task.
func (g *Graph) Add(fn string, args ...any) (Ref, error) {
	spec, err := buildSpec(fn, args, nil)
	if err != nil {
		return Ref{}, err
	}
	for _, a := range spec.Args {
		if a.Ref != "" && !g.seen[a.Ref] && !isFutureArg(args, a.Ref) {
			return Ref{}, fmt.Errorf("%s: argument %s is not a task of this graph", fn, a.Ref)
		}
	}
	if !g.seen[spec.Key] {
		g.seen[spec.Key] = true
		g.specs = append(g.specs, spec)
	}
	return Ref{key: spec.Key}, nil
}

func isFutureArg(args []any, key string) bool {
	for _, a := range args {
		if f, ok := a.(*Future); ok && f != nil && f.st.key == key {
			return true
		}
	}
	return false
}

// Len is how many tasks the graph has.
func (g *Graph) Len() int { return len(g.specs) }

// Compute submits the graph and returns futures of the outputs, in order.
// The outputs keep the graph's other specs (their lineage) while they are
// held, so that a new leader is given the whole graph again if it needs it.
func (c *Client) Compute(ctx context.Context, g *Graph, outputs ...Ref) ([]*Future, error) {
	for _, r := range outputs {
		if !g.seen[r.key] {
			return nil, fmt.Errorf("compute: %s is not a task of this graph", r.key)
		}
	}
	want := make([]string, len(outputs))
	for i, r := range outputs {
		want[i] = r.key
	}
	fs, err := c.submitGraph(ctx, g.specs, want)
	if err == nil && c.progressOn {
		keys := make([]string, len(g.specs))
		for i := range g.specs {
			keys[i] = g.specs[i].Key
		}
		c.wg.Add(1)
		go c.graphProgress(keys, fs)
	}
	return fs, err
}
