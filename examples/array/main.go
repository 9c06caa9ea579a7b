// Command array is the Dask Array tutorial's expression on a mesh:
//
//	x = da.random.random((n, n), chunks=(c, c))
//	y = x + x.T - x.mean(axis=1)
//	z = y[::2, n//2:].mean(axis=1)
//
// The random array is seeded and counter-based (element i is a function of
// the seed and i), so nothing is stored to start with: every task makes
// its own blocks. With -check (on by default up to -size 3000) it also
// computes z with plain Go loops from array.RandomValue and reports the
// largest difference. It runs on an in-process mesh of -nodes nodes, or on
// a running mesh with -connect ADDR -secret-file FILE (no registered
// functions are needed).
//
//	go run ./examples/array -size 10000 -chunk 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/meshcompute/mesh/collections/array"
	"github.com/meshcompute/mesh/examples/internal/exmesh"
)

type config struct {
	Mesh  exmesh.Mesh
	Size  int    // n: x is n × n
	Chunk int    // c: blocks of c × c
	Seed  uint64 // x's seed
	Check bool   // compare with plain Go loops
}

type result struct {
	Z       []float64 // y[::2, n/2:].mean(axis=1), n/2 values (n rounded up)
	MaxDiff float64   // largest |z - reference| when checked, else NaN
	Tasks   int       // tasks of the plan after fusion
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	n := cfg.Size
	x := array.Random([]int{n, n}, []int{cfg.Chunk, cfg.Chunk}, cfg.Seed)
	y := x.Add(x.T()).Sub(x.Mean(1))
	z := y.Slice(array.Every(2), array.From(n/2)).Mean(1)
	if err := z.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	tasks, err := z.TaskCount()
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}

	c, closeMesh, err := cfg.Mesh.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeMesh()
	start := time.Now()
	d, err := z.Compute(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	res := &result{Z: d.F64, MaxDiff: math.NaN(), Tasks: tasks}
	fmt.Fprintf(out, "x: %d × %d in blocks of %d; z has shape %v (%d tasks; %v)\n", n, n, cfg.Chunk, d.Shape, tasks,
		time.Since(start).Round(time.Millisecond))
	for _, i := range []int{0, 1, len(d.F64) - 1} {
		if i >= 0 && i < len(d.F64) {
			fmt.Fprintf(out, "  z[%d] = %.6f\n", i, d.F64[i])
		}
	}
	if cfg.Check {
		start := time.Now()
		want := reference(n, cfg.Seed)
		if len(want) != len(d.F64) {
			return nil, fmt.Errorf("z has %d values, the reference %d", len(d.F64), len(want))
		}
		res.MaxDiff = 0
		for i := range want {
			res.MaxDiff = max(res.MaxDiff, math.Abs(want[i]-d.F64[i]))
		}
		fmt.Fprintf(out, "plain Go loops agree to %.2g (%v)\n", res.MaxDiff, time.Since(start).Round(time.Millisecond))
	}
	return res, nil
}

// reference computes z with loops: x[i][j] is array.RandomValue(seed,
// i*n+j), the definition of array.Random's elements.
func reference(n int, seed uint64) []float64 {
	x := func(i, j int) float64 { return array.RandomValue(seed, i*n+j) }
	mean := make([]float64, n) // x.mean(axis=1)
	for i := range n {
		for j := range n {
			mean[i] += x(i, j)
		}
		mean[i] /= float64(n)
	}
	// y[i][j] = x[i][j] + x[j][i] - mean[j] (the mean broadcasts along
	// the last axis, as numpy's); z[r] is the mean of y[2r][n/2:].
	z := make([]float64, (n+1)/2)
	for r := range z {
		for j := n / 2; j < n; j++ {
			z[r] += x(2*r, j) + x(j, 2*r) - mean[j]
		}
		z[r] /= float64(n - n/2)
	}
	return z
}

func main() {
	var cfg config
	fs := flag.CommandLine
	cfg.Mesh.AddFlags(fs)
	fs.IntVar(&cfg.Size, "size", 4000, "x is size × size")
	fs.IntVar(&cfg.Chunk, "chunk", 1000, "block size")
	fs.Uint64Var(&cfg.Seed, "seed", 42, "x's seed")
	check := fs.String("check", "auto", "compare with plain Go loops: true, false or auto (size <= 3000)")
	flag.Parse()
	switch *check {
	case "true":
		cfg.Check = true
	case "auto":
		cfg.Check = cfg.Size <= 3000
	case "false":
	default:
		exmesh.Fail("array", fmt.Errorf("-check %q: want true, false or auto", *check))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		exmesh.Fail("array", err)
	}
}
