package cmd

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/collections/array"
	"github.com/meshcompute/mesh/futures"
)

// newBenchArrayCmd: `mesh bench array` runs the workloads of
// ../shared/anchors/dask_array.py on a new in-process mesh.
func newBenchArrayCmd() *cobra.Command {
	var (
		workload             string
		runs, nodes, threads int
		n, chunk, matmulN    int
		check, asJSON        bool
		noFusion, noRewrite  bool
		logLevel, cpuProfile string
	)
	c := &cobra.Command{
		Use: "array",
		Example: `  mesh bench array --runs 3
  mesh bench array --runs 2 --no-rewrite --check`,
		Short: "Array workloads of the Dask anchor: the tutorial expression and a 4000x4000 matmul + sum",
		Long: `Runs on a new in-process mesh of --nodes nodes x --threads threads (like Dask's LocalCluster of
../shared/anchors/dask_array.py: 2 workers x 1 thread):
  tutorial: x = Random(n x n, chunks 1000x1000); y = x + x.T - x.mean(axis 1);
            z = y[::2, n/2:].mean(axis 1)          (n = --n, 10000)
  matmul:   a, b = Random(4000x4000, chunks 1000x1000); (a @ b).sum()
            (sum(a @ b) is rewritten as colsum(a) . rowsum(b) unless --no-rewrite;
            the sum is checked against a plain computation after the runs)
One line per run (--json: one JSON object per line). --check compares the tutorial's z with a plain Go computation of it
(from the generator's definition, without chunks or a mesh).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			out := c.OutOrStdout()
			if workload != "tutorial" && workload != "matmul" && workload != "all" {
				return usageError{fmt.Errorf("--workload %q: want tutorial, matmul or all", workload)}
			}
			if n < 2 || chunk < 1 || matmulN < 1 {
				return usageError{fmt.Errorf("--n %d, --chunk %d, --matmul-n %d: want n >= 2, chunk >= 1, matmul-n >= 1", n, chunk, matmulN)}
			}
			if runs < 1 {
				return usageError{fmt.Errorf("--runs %d: want at least 1", runs)}
			}
			log, err := newLogger(c.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			if threads <= 0 {
				threads = max(1, runtime.NumCPU()/max(nodes, 1))
			}
			nodeGC()
			lc, err := futures.NewLocalCluster(ctx, nodes, futures.WithThreads(threads), futures.WithLogger(log))
			if err != nil {
				return err
			}
			defer lc.Close()
			cl, err := lc.Client(ctx)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			var opts []array.Option
			if noFusion {
				opts = append(opts, array.WithoutFusion())
			}
			if noRewrite {
				opts = append(opts, array.WithoutRewrites())
			}
			if workload != "matmul" {
				if err := benchTutorial(ctx, out, cl, n, chunk, runs, check, asJSON, opts); err != nil {
					return err
				}
			}
			if workload != "tutorial" {
				return benchMatMul(ctx, out, cl, matmulN, chunk, runs, asJSON, opts)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&workload, "workload", "all", "tutorial, matmul or all")
	fl.IntVar(&runs, "runs", 2, "runs of each workload")
	fl.IntVar(&nodes, "nodes", 2, "nodes of the local mesh")
	fl.IntVar(&threads, "threads", 1, "worker threads per node (0: cores / nodes)")
	fl.IntVar(&n, "n", 10000, "the tutorial's array is n x n")
	fl.IntVar(&chunk, "chunk", 1000, "chunks are chunk x chunk")
	fl.IntVar(&matmulN, "matmul-n", 4000, "the matmul's matrices are matmul-n x matmul-n")
	fl.BoolVar(&check, "check", false, "compare the tutorial's result with a plain Go computation")
	fl.BoolVar(&asJSON, "json", false, `one JSON object per line ({"bench": "array", "workload": "tutorial"|"matmul", "run", "seconds", ...}; checks: "workload": "tutorial check"|"matmul check")`)
	fl.BoolVar(&noFusion, "no-fusion", false, "build every step of every block as its own task")
	fl.BoolVar(&noRewrite, "no-rewrite", false, "compute sum(a @ b) by forming a @ b")
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the runs to this file")
	fl.StringVar(&logLevel, "log-level", "error", "log level of the local mesh (logs go to stderr)")
	return c
}

// tutorialExpr is the anchor's expression on an n x n array of chunks ch.
func tutorialExpr(n, ch int, seed uint64) *array.Array {
	x := array.Random([]int{n, n}, []int{ch, ch}, seed)
	y := x.Add(x.T()).Sub(x.Mean(1))
	return y.Slice(array.Every(2), array.From(n/2)).Mean(1)
}

func benchTutorial(ctx context.Context, out io.Writer, cl *futures.Client, n, chunk, runs int, check, asJSON bool, opts []array.Option) error {
	const seed = 42
	var z *array.Dense
	for r := 1; r <= runs; r++ {
		start := time.Now()
		d, err := tutorialExpr(n, chunk, seed).Compute(ctx, cl, opts...)
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		emitLine(out, asJSON, map[string]any{"bench": "array", "workload": "tutorial", "n": n, "chunk": chunk, "run": r, "seconds": secs, "shape": d.Shape},
			"tutorial run%d: %.3fs shape=%v\n", r, secs, d.Shape)
		z = d
	}
	if !check {
		return nil
	}
	start := time.Now()
	want := TutorialReference(n, seed)
	worst := 0.0
	for i, w := range want {
		worst = max(worst, math.Abs(z.F64[i]-w))
	}
	plain := time.Since(start).Seconds()
	emitLine(out, asJSON, map[string]any{"bench": "array", "workload": "tutorial check", "values": len(want), "max_abs_diff": worst, "plain_seconds": plain},
		"tutorial check: %d values, max |mesh - plain| = %.3g (plain Go: %.1fs)\n", len(want), worst, plain)
	if worst > 1e-9 {
		return fmt.Errorf("tutorial: the mesh's result differs from the plain computation by %g", worst)
	}
	return nil
}

// TutorialReference computes z = ((x + x.T) - x.mean(1))[::2, n/2:].mean(1)
// for x = array.Random(n x n, seed) element by element, without arrays.
func TutorialReference(n int, seed uint64) []float64 {
	x := func(i, j int) float64 { return array.RandomValue(seed, i*n+j) }
	m := make([]float64, n) // row means, for the columns z reads
	for j := n / 2; j < n; j++ {
		s := 0.0
		for k := range n {
			s += x(j, k)
		}
		m[j] = s / float64(n)
	}
	z := make([]float64, (n+1)/2)
	for r := range z {
		i := 2 * r
		s := 0.0
		for j := n / 2; j < n; j++ {
			s += x(i, j) + x(j, i) - m[j]
		}
		z[r] = s / float64(n-n/2)
	}
	return z
}

func benchMatMul(ctx context.Context, out io.Writer, cl *futures.Client, n, chunk, runs int, asJSON bool, opts []array.Option) error {
	const seedA, seedB = 1, 2
	var sum float64
	for r := 1; r <= runs; r++ {
		start := time.Now()
		a := array.Random([]int{n, n}, []int{chunk, chunk}, seedA)
		b := array.Random([]int{n, n}, []int{chunk, chunk}, seedB)
		d, err := a.MatMul(b).Sum().Compute(ctx, cl, opts...)
		if err != nil {
			return err
		}
		sum = d.F64[0]
		secs := time.Since(start).Seconds()
		emitLine(out, asJSON, map[string]any{"bench": "array", "workload": "matmul", "n": n, "chunk": chunk, "run": r, "seconds": secs, "sum": sum},
			"matmul %dx%d sum run%d: %.3fs sum=%.6g\n", n, n, r, secs, sum)
	}
	// Checked (outside the timed runs) against the plain computation.
	want := MatMulSumReference(n, seedA, seedB)
	rel := math.Abs(sum-want) / math.Max(math.Abs(want), 1)
	emitLine(out, asJSON, map[string]any{"bench": "array", "workload": "matmul check", "sum": sum, "plain": want, "relative_difference": rel},
		"matmul check: sum %.17g, plain %.17g, relative difference %.2g\n", sum, want, rel)
	if rel > 1e-9 {
		return fmt.Errorf("matmul: the mesh's sum %g differs from the plain computation's %g (relative %g)", sum, want, rel)
	}
	return nil
}

// MatMulSumReference is sum(a @ b) for a, b = array.Random(n x n) of
// seeds seedA, seedB, element by element without arrays: the sum over k
// of (column k's sum of a) x (row k's sum of b).
func MatMulSumReference(n int, seedA, seedB uint64) float64 {
	col := make([]float64, n)
	for i := range n {
		for k := range n {
			col[k] += array.RandomValue(seedA, i*n+k)
		}
	}
	s := 0.0
	for k := range n {
		row := 0.0
		for j := range n {
			row += array.RandomValue(seedB, k*n+j)
		}
		s += col[k] * row
	}
	return s
}
