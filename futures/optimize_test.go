package futures

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// must adds a task or fails the test.
func must(t *testing.T, g *Graph, fn string, args ...any) Ref {
	t.Helper()
	r, err := g.Add(fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// chain adds n incs after start (a literal or Ref) and returns the last.
func chain(t *testing.T, g *Graph, start any, n int) Ref {
	t.Helper()
	r := must(t, g, "test.inc", start)
	for range n - 1 {
		r = must(t, g, "test.inc", r)
	}
	return r
}

func keysOf(g *Graph) []string {
	var out []string
	for _, ti := range g.Tasks() {
		out = append(out, ti.Key)
	}
	return out
}

func TestCull(t *testing.T) {
	g := NewGraph()
	a := chain(t, g, 1, 3)
	b := chain(t, g, 100, 2) // not needed by out
	out := must(t, g, "test.add", a, 5)
	other := must(t, g, "test.add", b, 7)
	tests := []struct {
		name    string
		outputs []Ref
		want    int
	}{
		{"one branch", []Ref{out}, 4},
		{"other branch", []Ref{other}, 3},
		{"both", []Ref{out, other}, 7},
		{"an inner task", []Ref{a}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cg, err := g.Cull(tt.outputs...)
			if err != nil {
				t.Fatal(err)
			}
			if cg.Len() != tt.want {
				t.Fatalf("culled to %d tasks %v, want %d", cg.Len(), keysOf(cg), tt.want)
			}
			for _, r := range tt.outputs {
				if !slices.Contains(keysOf(cg), r.Key()) {
					t.Fatalf("output %s culled", r.Key())
				}
			}
		})
	}
	if _, err := g.Cull(); err == nil {
		t.Fatal("Cull() with no outputs: no error")
	}
	if _, err := g.Cull(must(t, NewGraph(), "test.inc", 99)); err == nil || !strings.Contains(err.Error(), "not a task of this graph") {
		t.Fatalf("Cull of a foreign ref: %v", err)
	}
}

func TestFuse(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *Graph) []Ref // outputs
		want  int                  // tasks after fusion
		chain []int                // chain lengths of the fused tasks, in order
	}{
		{"linear chain of 5", func(g *Graph) []Ref { return []Ref{chain(t, g, 1, 5)} }, 1, []int{5}},
		{"diamond: shared input is not fused", func(g *Graph) []Ref {
			x := must(t, g, "test.inc", 1)
			a := must(t, g, "test.inc", x)
			b := must(t, g, "test.inc", must(t, g, "test.add", x, 10))
			return []Ref{must(t, g, "test.add", a, b)}
		}, 4, []int{2}}, // x, a, (add inc), add: x has two dependants, the last add two inputs
		{"output inside a chain stays", func(g *Graph) []Ref {
			a := chain(t, g, 1, 3)
			b := chain(t, g, a, 3)
			return []Ref{a, b}
		}, 2, []int{3, 3}},
		{"two chains into an add", func(g *Graph) []Ref {
			a := chain(t, g, 1, 4)
			b := chain(t, g, 2, 4)
			s := must(t, g, "test.add", a, b)
			return []Ref{chain(t, g, s, 2)}
		}, 3, []int{4, 4, 3}}, // add reads two keys: it starts a chain but ends none
		{"unknown function is left to the scheduler", func(g *Graph) []Ref {
			a := must(t, g, "test.inc", 1)
			return []Ref{must(t, g, "no.such", a)}
		}, 2, nil},
		{"same input twice", func(g *Graph) []Ref {
			a := must(t, g, "test.inc", 1)
			return []Ref{must(t, g, "test.add", a, a)}
		}, 1, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGraph()
			outs := tt.build(g)
			fg, err := g.Fuse(outs...)
			if err != nil {
				t.Fatal(err)
			}
			if fg.Len() != tt.want {
				t.Fatalf("%d tasks after fusion, want %d: %+v", fg.Len(), tt.want, fg.Tasks())
			}
			var chains []int
			for _, ti := range fg.Tasks() {
				if ti.Func == FusedFunc {
					chains = append(chains, len(ti.Chain))
				}
			}
			if !slices.Equal(chains, tt.chain) {
				t.Fatalf("fused chains %v, want %v", chains, tt.chain)
			}
			for _, r := range outs {
				if !slices.Contains(keysOf(fg), r.Key()) {
					t.Fatalf("output %s lost its key", r.Key())
				}
			}
		})
	}
}

func TestOrderKnownGraph(t *testing.T) {
	g := NewGraph()
	i3 := must(t, g, "test.inc", 3)
	i4 := must(t, g, "test.inc", 4)
	wide := must(t, g, "test.add", i3, i4) // needs 2 values at once
	i5 := must(t, g, "test.inc", 5)        // needs 1
	out := must(t, g, "test.add", i5, wide)
	unused := must(t, g, "test.inc", 6)
	og, err := g.Order(out)
	if err != nil {
		t.Fatal(err)
	}
	// The wider branch first, though it is the second argument; each
	// branch finishes before the next starts; unneeded tasks last.
	want := []struct {
		key  string
		prio int
	}{{i3.Key(), 6}, {i4.Key(), 5}, {wide.Key(), 4}, {i5.Key(), 3}, {out.Key(), 2}, {unused.Key(), 1}}
	got := og.Tasks()
	if len(got) != len(want) {
		t.Fatalf("%d tasks, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Key != w.key || got[i].Priority != w.prio {
			t.Fatalf("position %d: %s priority %d, want %s priority %d", i, got[i].Key, got[i].Priority, w.key, w.prio)
		}
	}

	// A tree of 4 leaves: the left pair's sum comes before the right
	// pair's leaves start.
	g = NewGraph()
	var leaves []Ref
	for i := range 4 {
		leaves = append(leaves, must(t, g, "test.inc", 10+i))
	}
	l := must(t, g, "test.add", leaves[0], leaves[1])
	r := must(t, g, "test.add", leaves[2], leaves[3])
	top := must(t, g, "test.add", l, r)
	og, err = g.Order(top)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{leaves[0].Key(), leaves[1].Key(), l.Key(), leaves[2].Key(), leaves[3].Key(), r.Key(), top.Key()}
	if got := keysOf(og); !slices.Equal(got, wantKeys) {
		t.Fatalf("order %v, want %v", got, wantKeys)
	}
}

// The optimized graph gives the same answers as the graph as built, with
// fewer tasks, on a real mesh; an error inside a fused chain names the call.
func TestOptimizeOnMesh(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	g := NewGraph()
	var sums []Ref
	for i := range 8 {
		a := chain(t, g, i*100, 5)
		b := chain(t, g, must(t, g, "test.add", i, 1000), 3)
		sums = append(sums, chain(t, g, must(t, g, "test.add", a, b), 2))
	}
	for len(sums) > 1 {
		var next []Ref
		for i := 0; i < len(sums); i += 2 {
			next = append(next, must(t, g, "test.add", sums[i], sums[i+1]))
		}
		sums = next
	}
	top := sums[0]
	side := must(t, g, "test.inc", top) // a second output reading the first
	chain(t, g, 5000, 4)                // unreachable: culled
	og, err := g.Optimize(top, side)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tasks built, %d optimized", g.Len(), og.Len())
	if og.Len() >= g.Len()/2 {
		t.Fatalf("optimized graph has %d tasks of %d", og.Len(), g.Len())
	}
	want, err := c.Compute(ctx, g, top, side)
	if err != nil {
		t.Fatal(err)
	}
	wantVals, err := GatherAs[int](ctx, c, want)
	if err != nil {
		t.Fatal(err)
	}
	// Expected, computed plainly: each branch is (i*100+5) + (i+1000+3) + 2.
	plain := 0
	for i := range 8 {
		plain += i*100 + 5 + i + 1000 + 3 + 2
	}
	if wantVals[0] != plain || wantVals[1] != plain+1 {
		t.Fatalf("unoptimized graph: %v, want [%d %d]", wantVals, plain, plain+1)
	}
	if err := c.Release(ctx, want...); err != nil {
		t.Fatal(err)
	}
	got, err := c.Compute(ctx, og, top, side)
	if err != nil {
		t.Fatal(err)
	}
	gotVals, err := GatherAs[int](ctx, c, got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotVals, wantVals) {
		t.Fatalf("optimized graph: %v, want %v", gotVals, wantVals)
	}

	g = NewGraph()
	bad := must(t, g, "test.fail", must(t, g, "test.inc", 1))
	out := must(t, g, "test.inc", bad)
	og, err = g.Optimize(out)
	if err != nil {
		t.Fatal(err)
	}
	if og.Len() != 1 {
		t.Fatalf("chain of 3 optimized to %d tasks", og.Len())
	}
	fs, err := c.Compute(ctx, og, out)
	if err != nil {
		t.Fatal(err)
	}
	err = fs[0].Err(ctx)
	t.Logf("error of the fused chain: %v", err)
	if err == nil || !strings.Contains(err.Error(), bad.Key()) || !strings.Contains(err.Error(), "no good: 2") {
		t.Fatalf("error of a fused chain: %v; want it to name %s and its error", err, bad.Key())
	}
}

// A task reading many inputs, some twice: each is one dependency.
func TestWideTask(t *testing.T) {
	g := NewGraph()
	var args []any
	var refs []Ref
	for i := range 100 {
		r := must(t, g, "test.inc", i)
		refs = append(refs, r)
		args = append(args, r, r)
	}
	wide := must(t, g, "test.len", args...)
	deps := g.Tasks()[g.Len()-1].Deps
	if len(deps) != 100 || deps[0] != refs[0].Key() || deps[99] != refs[99].Key() {
		t.Fatalf("%d deps of the wide task, want the 100 inputs in order", len(deps))
	}
	og, err := g.Optimize(wide)
	if err != nil || og.Len() != 101 {
		t.Fatalf("optimized to %d tasks, %v; want 101 (nothing to fuse)", og.Len(), err)
	}
}

// ran records the tags of test.rec calls in the order they ran.
var ran struct {
	sync.Mutex
	tags []string
}

func init() {
	Register("test.rec", func(tag string, ms int) string {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		ran.Lock()
		ran.tags = append(ran.tags, tag)
		ran.Unlock()
		return tag
	})
	Register("test.cat", func(a, b string) string { return a + b })
}

// On a one-thread mesh, the roots of two branches added breadth-first run
// in that order as built, and branch by branch once ordered.
func TestOrderOnMesh(t *testing.T) {
	_, c := newCluster(t, 1, WithThreads(1))
	ctx := ctxT(t)
	build := func(prefix string) (*Graph, Ref) {
		g := NewGraph()
		var roots []Ref
		for _, tag := range []string{"a1", "b1", "a2", "b2"} {
			roots = append(roots, must(t, g, "test.rec", prefix+tag, 30))
		}
		sa := must(t, g, "test.cat", roots[0], roots[2])
		sb := must(t, g, "test.cat", roots[1], roots[3])
		return g, must(t, g, "test.cat", sa, sb)
	}
	for _, tc := range []struct {
		prefix  string
		ordered bool
		want    string
	}{
		{"u-", false, "u-a1 u-b1 u-a2 u-b2"},
		{"o-", true, "o-a1 o-a2 o-b1 o-b2"},
	} {
		g, top := build(tc.prefix)
		if tc.ordered {
			var err error
			if g, err = g.Order(top); err != nil {
				t.Fatal(err)
			}
		}
		ran.Lock()
		ran.tags = nil
		ran.Unlock()
		fs, err := c.Compute(ctx, g, top)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := fs[0].Result(ctx, &s); err != nil {
			t.Fatal(err)
		}
		p := tc.prefix
		if want := p + "a1" + p + "a2" + p + "b1" + p + "b2"; s != want {
			t.Fatalf("result %q, want %q", s, want)
		}
		ran.Lock()
		got := strings.Join(ran.tags, " ")
		ran.Unlock()
		if got != tc.want {
			t.Fatalf("ordered=%v: roots ran %s, want %s", tc.ordered, got, tc.want)
		}
		c.Release(ctx, fs...)
	}
}
