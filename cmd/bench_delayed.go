package cmd

import (
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/collections/delayed"
	"github.com/meshcompute/mesh/futures"
)

func newBenchDelayedCmd() *cobra.Command {
	var (
		nodes, threads, leaves, runs int
		asJSON                       bool
		logLevel                     string
	)
	c := &cobra.Command{
		Use:     "delayed",
		Short:   "A Delayed graph on a local mesh: leaves of inc, a tree of adds, computed as one graph",
		Example: "  mesh bench delayed --leaves 20000 --runs 2\n  /usr/bin/python3 bench/dask_delayed.py 20000 2   # the same graph with dask.delayed",
		Long: `Builds --leaves delayed.Call("mesh.inc", i) and a pairwise tree of delayed.Call("mesh.add", a, b)
over them (2*leaves-1 tasks), computes the root with delayed.Compute on a new local mesh of --nodes
nodes x --threads threads, checks the total, and prints the time of each run. bench/dask_delayed.py
builds the same graph with dask.delayed on a 2 x 1 LocalCluster.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			out := c.OutOrStdout()
			log, err := newLogger(c.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			if leaves < 1 || runs < 1 {
				return usageError{fmt.Errorf("--leaves %d --runs %d: want at least 1 each", leaves, runs)}
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
			for run := 1; run <= runs; run++ {
				// Each run's leaves are inc(base+i): keys of their own (no
				// value of an earlier run is reused).
				base := run * leaves
				want := leaves*base + leaves*(leaves+1)/2
				start := time.Now()
				level := make([]*delayed.Value, leaves)
				for i := range level {
					level[i] = delayed.Call("mesh.inc", base+i)
				}
				for len(level) > 1 {
					next := make([]*delayed.Value, 0, (len(level)+1)/2)
					for i := 0; i+1 < len(level); i += 2 {
						next = append(next, delayed.Call("mesh.add", level[i], level[i+1]))
					}
					if len(level)%2 == 1 {
						next = append(next, level[len(level)-1])
					}
					level = next
				}
				got, err := delayed.ComputeAs[int](ctx, cl, level[0])
				if err != nil {
					return err
				}
				secs := time.Since(start).Seconds()
				if got[0] != want {
					return fmt.Errorf("delayed tree: total %d, want %d", got[0], want)
				}
				emitLine(out, asJSON, map[string]any{"bench": "delayed", "run": run, "tasks": 2*leaves - 1, "seconds": secs, "tasks_per_s": float64(2*leaves-1) / secs},
					"delayed tree %d leaves (%d tasks) run%d: %.3fs = %.0f tasks/s\n", leaves, 2*leaves-1, run, secs, float64(2*leaves-1)/secs)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&nodes, "nodes", 2, "nodes of the local mesh")
	fl.IntVar(&threads, "threads", 1, "worker threads per node (0: cores / nodes)")
	fl.IntVar(&leaves, "leaves", 20000, "leaves of the tree (2*leaves-1 tasks)")
	fl.IntVar(&runs, "runs", 2, "runs")
	fl.BoolVar(&asJSON, "json", false, `one JSON object per run ({"bench": "delayed", "run", "tasks", "seconds", "tasks_per_s"})`)
	fl.StringVar(&logLevel, "log-level", "error", "log level of the local mesh (logs go to stderr)")
	return c
}
