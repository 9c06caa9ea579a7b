package dataframe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshcompute/mesh/futures"
)

// The graph a DataFrame submits has the shared optimizer's depth-first
// priorities (futures.Graph.Order): every task, and every task's inputs
// before it; its tasks are the plan's own (no fusion, no culling).
func TestGraphOrdered(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("k,v\n")
	for i := range 400 {
		fmt.Fprintf(&sb, "k%d,%d\n", i%7, i)
	}
	path := filepath.Join(t.TempDir(), "kv.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := ReadCSV(path, BlockSize(500))
	if err != nil {
		t.Fatal(err)
	}
	res := d.Filter(Col("v").Gt(3)).GroupBy("k").SplitOut(3).Agg(Sum("v"))
	b := &builder{g: futures.NewGraph()}
	out, err := b.node(context.Background(), res.plan)
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]futures.Ref, len(out))
	for i, p := range out {
		refs[i] = p.(futures.Ref)
	}
	g, err := b.ordered(true, refs...)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != b.g.Len() || g.Len() < 3*d.NPartitions() {
		t.Fatalf("ordered graph of %d tasks, plan's %d (%d partitions)", g.Len(), b.g.Len(), d.NPartitions())
	}
	prio := map[string]int{}
	for _, ti := range g.Tasks() {
		if ti.Priority <= 0 || ti.Func == futures.FusedFunc {
			t.Fatalf("task %s (%s): priority %d", ti.Key, ti.Func, ti.Priority)
		}
		prio[ti.Key] = ti.Priority
	}
	for _, ti := range g.Tasks() {
		for _, dep := range ti.Deps {
			if p, ok := prio[dep]; ok && p <= ti.Priority {
				t.Fatalf("task %s (priority %d) before its input %s (%d)", ti.Key, ti.Priority, dep, p)
			}
		}
	}
}
