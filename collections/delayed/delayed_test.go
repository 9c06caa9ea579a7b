package delayed

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/futures"
)

// loads counts calls of dtest.load, to see shared values computed once.
var loads atomic.Int64

func init() {
	futures.Register("dtest.load", func(n int) []int {
		loads.Add(1)
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	})
	futures.Register("dtest.square", func(xs []int) []int {
		out := make([]int, len(xs))
		for i, x := range xs {
			out[i] = x * x
		}
		return out
	})
	futures.Register("dtest.sum", func(xs []int) int {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s
	})
	futures.Register("dtest.add", func(a, b int) int { return a + b })
	futures.Register("dtest.inc", func(a int) int { return a + 1 })
	futures.Register("dtest.total", func(xs []int) int {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s
	})
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func newClient(t *testing.T) (context.Context, *futures.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	lc, err := futures.NewLocalCluster(ctx, 2, futures.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

// plainSum is sum(i*i for i < n) + sum(i for i < n), computed plainly.
func plainSum(n int) int {
	s := 0
	for i := range n {
		s += i*i + i
	}
	return s
}

func TestComputeSharedOnMesh(t *testing.T) {
	ctx, c := newClient(t)

	// One load read by two branches, and a second load of the same size
	// built separately (the same pure call: the same task).
	data := Call("dtest.load", 1000)
	squares := Call("dtest.sum", Call("dtest.square", data))
	plain := Call("dtest.sum", Call("dtest.load", 1000))
	total := Call("dtest.add", squares, plain)
	before := loads.Load()
	got, err := ComputeAs[int](ctx, c, total, squares)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != plainSum(1000) || got[1] != plainSum(1000)-999*1000/2 {
		t.Fatalf("got %v, want [%d %d]", got, plainSum(1000), plainSum(1000)-999*1000/2)
	}
	if n := loads.Load() - before; n != 1 {
		t.Fatalf("the shared load ran %d times, want once", n)
	}

	// A future as an argument, and Compute's untyped results.
	f, err := c.Submit(ctx, "dtest.inc", 41)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compute(ctx, c, Call("dtest.add", f, 100), FromFuture(f))
	if err != nil {
		t.Fatal(err)
	}
	var a, b int
	if err := res[0].Decode(&a); err != nil || a != 142 {
		t.Fatalf("add(future 42, 100) = %d, %v", a, err)
	}
	if err := res[1].Decode(&b); err != nil || b != 42 {
		t.Fatalf("the future itself = %d, %v", b, err)
	}

	// A []*Value argument: the function gets a slice of their results; a
	// future among them, and 20 of them (a long array header).
	var parts []*Value
	for i := range 20 {
		parts = append(parts, Call("dtest.inc", i))
	}
	parts = append(parts, FromFuture(f))
	sum, err := ComputeAs[int](ctx, c, Call("dtest.total", parts))
	if want := 20*21/2 + 42; err != nil || sum[0] != want {
		t.Fatalf("total of a []*Value = %v, %v; want %d", sum, err, want)
	}

	// Persist: later graphs start from the held result.
	p, err := Persist(ctx, c, Call("dtest.load", 500))
	if err != nil {
		t.Fatal(err)
	}
	if err := p[0].Future().Err(ctx); err != nil {
		t.Fatal(err)
	}
	before = loads.Load()
	for i := range 3 {
		s, err := ComputeAs[int](ctx, c, Call("dtest.add", Call("dtest.sum", p[0]), i))
		if err != nil {
			t.Fatal(err)
		}
		if want := 499*500/2 + i; s[0] != want {
			t.Fatalf("sum of persisted + %d = %d, want %d", i, s[0], want)
		}
	}
	if n := loads.Load() - before; n != 0 {
		t.Fatalf("the persisted load ran again %d times", n)
	}
	if err := Release(ctx, c, p...); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	ctx, c := newClient(t)
	tests := []struct {
		name  string
		value *Value
		want  string
		is    error
	}{
		{"unknown function", Call("dtest.nosuch", 1), `unknown function "dtest.nosuch"`, nil},
		{"unknown function deep inside", Call("dtest.sum", Call("dtest.squar", Call("dtest.load", 3))), `did you mean "dtest.square"`, nil},
		{"wrong arity", Call("dtest.add", 1), "wrong number of arguments", nil},
		{"values in a []any", Call("dtest.total", []any{Call("dtest.inc", 1)}), "pass a []*Value", ErrInvalid},
		{"nil in a []*Value", Call("dtest.total", []*Value{nil}), "element 0 is a nil *Value", ErrInvalid},
		{"empty name", Call(""), "empty function name", ErrInvalid},
		{"nil value argument", Call("dtest.inc", (*Value)(nil)), "nil *Value", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(ctx, c, tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// Fusion and culling in a delayed graph: chains become one task each.
func TestOptimizedGraph(t *testing.T) {
	var parts []*Value
	for i := range 4 {
		parts = append(parts, Call("dtest.sum", Call("dtest.square", Call("dtest.load", 10+i))))
	}
	total := Call("dtest.add", Call("dtest.add", parts[0], parts[1]), Call("dtest.add", parts[2], parts[3]))
	g, refs, err := Build(total)
	if err != nil {
		t.Fatal(err)
	}
	og, err := g.Optimize(refs...)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 15 || og.Len() != 7 {
		t.Fatalf("%d tasks built, %d optimized; want 15 and 7 (each load-square-sum chain one task)", g.Len(), og.Len())
	}
	dot, err := DOT([]*Value{total}, Optimized())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dot, "fused: dtest.load → dtest.square → dtest.sum"); n != 4 {
		t.Fatalf("%d fused chains in the DOT, want 4:\n%s", n, dot)
	}
	if n := strings.Count(dot, " -> "); n != 6 {
		t.Fatalf("%d edges in the optimized DOT, want 6:\n%s", n, dot)
	}
}

func TestVisualize(t *testing.T) {
	data := Call("dtest.load", 10)
	v := Call("dtest.add", Call("dtest.sum", data), Call("dtest.sum", Call("dtest.square", data)))
	base := filepath.Join(t.TempDir(), "graph")
	err := Visualize(context.Background(), base, []*Value{v})
	dot, rerr := os.ReadFile(base + ".dot")
	if rerr != nil {
		t.Fatal(rerr)
	}
	if n := strings.Count(string(dot), " -> "); n != 5 {
		t.Fatalf("%d edges, want 5:\n%s", n, dot)
	}
	if !strings.Contains(string(dot), "peripheries=2") {
		t.Fatalf("the output is not marked:\n%s", dot)
	}
	if _, lerr := exec.LookPath("dot"); lerr != nil {
		if !errors.Is(err, ErrNoGraphviz) {
			t.Fatalf("without dot: %v, want ErrNoGraphviz", err)
		}
		t.Skip("dot (Graphviz) is not installed: SVG not checked; apt-get install graphviz")
	}
	if err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "dtest.square") {
		t.Fatalf("not an SVG of the graph: %.200s", svg)
	}
}
