package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/meshcompute/mesh/futures"
)

// The `mesh run` demo's functions. Every mesh binary has them, like
// mesh.inc and mesh.add, so a mesh of plain `mesh join` nodes can run the
// demo too.
func init() {
	futures.Register("demo.score", collatzSteps)
	futures.Register("demo.square", func(n int) int { return n * n })
	futures.Register("demo.longest", longestChain)
}

// collatzSteps is the demo's CPU-bound score of n: how many steps the
// Collatz sequence n, n/2 or 3n+1, ... takes to reach 1.
func collatzSteps(n int) int {
	if n < 1 {
		return 0
	}
	steps := 0
	for x := uint64(n); x != 1; steps++ {
		if x%2 == 0 {
			x /= 2
		} else {
			x = 3*x + 1
		}
	}
	return steps
}

// Chain is the best start of a block: the number whose Collatz sequence is
// the longest.
type Chain struct {
	Start int `msgpack:"start"`
	Steps int `msgpack:"steps"`
}

// longestChain finds the start in [lo, hi) with the longest Collatz
// sequence (the smallest such start on a tie).
func longestChain(lo, hi int) Chain {
	best := Chain{}
	for n := max(lo, 1); n < hi; n++ {
		if s := collatzSteps(n); s > best.Steps || best.Start == 0 {
			best = Chain{Start: n, Steps: s}
		}
	}
	return best
}

// demoConfig sizes the demo.
type demoConfig struct {
	tasks  int // map and tree-reduction leaves: 1..tasks
	search int // the AsCompleted search covers [1, search) ...
	blocks int // ... in this many tasks
}

// runDemo is `mesh run`'s futures workload, in the style of Dask's
// tutorials: a map + gather, a tree reduction checked against its closed
// form, and a search whose results are taken as they complete.
func runDemo(ctx context.Context, out io.Writer, cl *futures.Client, cfg demoConfig) error {
	n := cfg.tasks
	inputs := make([]any, n)
	for i := range inputs {
		inputs[i] = i + 1
	}

	// (1) Map a registered function over inputs, then Gather.
	fmt.Fprintf(out, "[1] map + gather: Map(demo.score, 1..%d) scores each n by its Collatz steps\n", n)
	start := time.Now()
	fs, err := cl.Map(ctx, "demo.score", inputs)
	if err != nil {
		return err
	}
	scores, err := futures.GatherAs[int](ctx, cl, fs)
	if err != nil {
		return err
	}
	took := time.Since(start)
	best, sum := 0, 0
	for i, s := range scores {
		if want := collatzSteps(i + 1); s != want {
			return fmt.Errorf("demo.score(%d) = %d, want %d", i+1, s, want)
		}
		sum += s
		if s > scores[best] {
			best = i
		}
	}
	fmt.Fprintf(out, "    %d tasks in %v (%.0f tasks/s); longest: n=%d with %d steps; total %d steps (matches a local computation)\n",
		n, round(took), float64(n)/took.Seconds(), best+1, scores[best], sum)
	if err := cl.Release(ctx, fs...); err != nil {
		return err
	}

	// (2) A tree reduction: pairwise mesh.add over the squares, each level
	// built from the previous level's futures before any result is known.
	fmt.Fprintf(out, "[2] tree reduction: Map(demo.square, 1..%d), then mesh.add in pairs down to one future\n", n)
	start = time.Now()
	level, err := cl.Map(ctx, "demo.square", inputs)
	if err != nil {
		return err
	}
	graph := []*futures.Future{}
	total := len(level)
	for len(level) > 1 {
		var next []*futures.Future
		for i := 0; i+1 < len(level); i += 2 {
			f, err := cl.Submit(ctx, "mesh.add", level[i], level[i+1])
			if err != nil {
				return err
			}
			next = append(next, f)
		}
		total += len(level) / 2
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
			graph = append(graph, level[:len(level)-1]...)
		} else {
			graph = append(graph, level...)
		}
		level = next
	}
	var got int
	if err := level[0].Result(ctx, &got); err != nil {
		return err
	}
	took = time.Since(start)
	want := n * (n + 1) * (2*n + 1) / 6
	if got != want {
		return fmt.Errorf("tree reduction: sum of squares of 1..%d = %d, want n(n+1)(2n+1)/6 = %d", n, got, want)
	}
	fmt.Fprintf(out, "    sum of squares = %d = n(n+1)(2n+1)/6, checked; %d tasks in %v (%.0f tasks/s)\n",
		got, total, round(took), float64(total)/took.Seconds())
	if err := cl.Release(ctx, append(graph, level[0])...); err != nil {
		return err
	}

	// (3) AsCompleted: take the blocks' best chains as they arrive.
	lo, hi := 1, cfg.search
	size := (hi - lo + cfg.blocks - 1) / cfg.blocks
	fmt.Fprintf(out, "[3] as completed: %d demo.longest tasks search [%d, %d) for the longest Collatz chain\n", cfg.blocks, lo, hi)
	start = time.Now()
	var blocks []*futures.Future
	for b := lo; b < hi; b += size {
		f, err := cl.Submit(ctx, "demo.longest", b, min(b+size, hi))
		if err != nil {
			return err
		}
		blocks = append(blocks, f)
	}
	var champ Chain
	arrived := 0
	for f, err := range cl.AsCompleted(ctx, blocks) {
		if err != nil {
			return err
		}
		arrived++
		var c Chain
		if err := f.Result(ctx, &c); err != nil {
			return err
		}
		if c.Steps > champ.Steps || (c.Steps == champ.Steps && c.Start < champ.Start) {
			champ = c
			fmt.Fprintf(out, "    %6v  result %3d/%d: new best %d (%d steps)\n", round(time.Since(start)), arrived, len(blocks), c.Start, c.Steps)
		}
	}
	if arrived != len(blocks) {
		return errors.New("as completed: the loop ended early")
	}
	fmt.Fprintf(out, "    best start below %d: %d with %d steps; %d tasks in %v\n", hi, champ.Start, champ.Steps, len(blocks), round(time.Since(start)))
	if hi == 1_000_000 && (champ.Start != 837799 || champ.Steps != 524) {
		return fmt.Errorf("as completed: best start below 1000000 = %d (%d steps), want 837799 (524 steps)", champ.Start, champ.Steps)
	}
	return cl.Release(ctx, blocks...)
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
