package delayed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/meshcompute/mesh/futures"
)

// ErrNoGraphviz is returned (wrapped) by Visualize when the dot program is
// not installed: the DOT file is written, the SVG is not. Install Graphviz
// (apt-get install graphviz) for SVG.
var ErrNoGraphviz = errors.New("graphviz's dot program is not on PATH (apt-get install graphviz)")

// VisualizeOption configures Visualize.
type VisualizeOption func(*visOpts)

type visOpts struct{ optimize bool }

// Optimized draws the graph as it is submitted (culled, fused, ordered:
// fused tasks show their chain and every task its priority) instead of as
// built.
func Optimized() VisualizeOption { return func(o *visOpts) { o.optimize = true } }

// Visualize writes the graph of values to path.dot (Graphviz DOT) and
// path.svg (rendered by dot, when installed; otherwise the error wraps
// ErrNoGraphviz and only the DOT file is written). Tasks are boxes labelled
// with their function, futures from outside the graph are ellipses, the
// values asked for have a double border, and edges go from an input to the
// task that reads it.
//
//	err := delayed.Visualize(ctx, "/tmp/graph", []*delayed.Value{s}, delayed.Optimized())
func Visualize(ctx context.Context, path string, values []*Value, opts ...VisualizeOption) error {
	dot, err := DOT(values, opts...)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".dot", []byte(dot), 0o644); err != nil {
		return fmt.Errorf("visualize: %w", err)
	}
	bin, err := exec.LookPath("dot")
	if err != nil {
		return fmt.Errorf("visualize: wrote %s.dot; no SVG: %w", path, ErrNoGraphviz)
	}
	cmd := exec.CommandContext(ctx, bin, "-Tsvg", "-o", path+".svg", path+".dot")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("visualize: dot -Tsvg %s.dot: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// DOT returns the graph of values in Graphviz's DOT language (see
// Visualize).
func DOT(values []*Value, opts ...VisualizeOption) (string, error) {
	var o visOpts
	for _, opt := range opts {
		opt(&o)
	}
	g, refs, err := Build(values...)
	if err != nil {
		return "", err
	}
	if o.optimize {
		if g, err = g.Optimize(refs...); err != nil {
			return "", err
		}
	}
	return graphDOT(g, refs), nil
}

func graphDOT(g *futures.Graph, outputs []futures.Ref) string {
	isOut := map[string]bool{}
	for _, r := range outputs {
		isOut[r.Key()] = true
	}
	tasks := g.Tasks()
	inGraph := map[string]bool{}
	for _, t := range tasks {
		inGraph[t.Key] = true
	}
	var b strings.Builder
	b.WriteString("digraph delayed {\n  rankdir=BT;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	external := map[string]bool{}
	for _, t := range tasks {
		label := t.Func
		if t.Func == futures.FusedFunc {
			label = "fused: " + strings.Join(t.Chain, " → ")
		}
		label += "\\n" + shortKey(t.Key)
		if t.Priority != 0 {
			label += fmt.Sprintf("\\npriority %d", t.Priority)
		}
		attrs := fmt.Sprintf("label=%s", quote(label))
		if isOut[t.Key] {
			attrs += ", peripheries=2"
		}
		fmt.Fprintf(&b, "  %s [%s];\n", quote(t.Key), attrs)
		for _, d := range t.Deps {
			if !inGraph[d] && !external[d] {
				external[d] = true
				fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", quote(d), quote("future\\n"+shortKey(d)))
			}
			fmt.Fprintf(&b, "  %s -> %s;\n", quote(d), quote(t.Key))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// shortKey keeps a key's function part and 8 characters of its hash.
func shortKey(k string) string {
	if i := strings.LastIndexByte(k, '-'); i >= 0 && len(k)-i > 9 {
		return k[:i+9]
	}
	return k
}

// quote makes a DOT string; label escapes (\n) are kept.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
