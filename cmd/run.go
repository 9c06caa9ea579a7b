package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/dashboard"
	"github.com/meshcompute/mesh/futures"
	"github.com/meshcompute/mesh/mesh"
)

func newRunCmd() *cobra.Command {
	var (
		nodes, threads, tasks int
		keep, demo            bool
		dir, logLevel         string
		dashboardAddr         string
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Start a local mesh in this process, run a futures demo on it and print its status",
		Long: `Start --nodes mesh nodes inside this process on 127.0.0.1 (free ports) with
futures.NewLocalCluster, wait until they agree on membership and a leader, run a
futures workload on them from a client (map + gather, a tree reduction, results
taken as they complete), and print the mesh's status.

With --keep the mesh runs until Ctrl-C, and its address and a copy of its secret
are written to --dir so that 'mesh status', 'mesh bench tasks' or a program using
futures.Connect can reach it, and the first node serves the dashboard (--dashboard).
Otherwise it shuts down after printing.`,
		Example: `  mesh run
  mesh run --keep --demo=false
  mesh run --nodes 5 --threads 1 --tasks 5000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if nodes < 1 {
				return usageError{fmt.Errorf("--nodes %d: want at least 1", nodes)}
			}
			if threads < 0 {
				return usageError{fmt.Errorf("--threads %d: want 0 (the machine's cores shared among the nodes) or more", threads)}
			}
			if threads == 0 {
				// The nodes share this process's cores, as Dask's
				// LocalCluster shares them among its workers.
				threads = max(1, runtime.NumCPU()/nodes)
			}
			if tasks < 1 {
				return usageError{fmt.Errorf("--tasks %d: want at least 1", tasks)}
			}
			log, err := newLogger(c.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			out := c.OutOrStdout()

			start := time.Now()
			nodeGC()
			lc, err := futures.NewLocalCluster(ctx, nodes, futures.WithLogger(log), futures.WithThreads(threads))
			if err != nil {
				return err
			}
			defer lc.Close()
			fmt.Fprintf(out, "local mesh of %d nodes agreed in %v (futures.NewLocalCluster; threads per node: %d)\n\n",
				nodes, round(time.Since(start)), threads)

			if demo {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				cl, err := lc.Client(cctx)
				cancel()
				if err != nil {
					return err
				}
				start = time.Now()
				if err := runDemo(ctx, out, cl, demoConfig{tasks: tasks, search: 1_000_000, blocks: 100}); err != nil {
					return fmt.Errorf("demo: %w", err)
				}
				fmt.Fprintf(out, "demo done in %v\n\n", round(time.Since(start)))
			}

			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			st, err := actors.WaitAgreed(wctx, lc.Nodes())
			if err != nil {
				return err
			}
			printStatus(out, st)
			if !keep {
				return nil
			}

			// Write what a client needs to reach the mesh: its address
			// and a copy of its secret.
			if dir == "" {
				if dir, err = os.MkdirTemp("", "mesh-run-*"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			} else if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			secretFile := filepath.Join(dir, mesh.SecretFile)
			if err := mesh.WriteSecretFile(secretFile, lc.Secret()); err != nil {
				return err
			}
			addr := lc.Addr()
			if err := os.WriteFile(filepath.Join(dir, actors.AddrFile), []byte(addr+"\n"), 0o600); err != nil {
				return err
			}
			var dashLine string
			if dashboardAddr != "" {
				ln, err := listenDashboard(dashboardAddr, c.Flags().Changed("dashboard"), log)
				if err != nil {
					return err
				}
				srv := dashboard.Start(lc.Nodes()[0], ln, dashboard.Config{Logger: log.With("part", "dashboard")})
				defer srv.Close() // before the cluster's Close, deferred earlier
				dashLine = fmt.Sprintf("  dashboard:   http://%s/\n", ln.Addr())
			}
			self := filepath.Base(os.Args[0])
			if self == "" || strings.HasSuffix(self, ".test") {
				self = "mesh"
			}
			fmt.Fprintf(out, `
running until Ctrl-C; connect to it with
  address:     %[1]s
  secret file: %[2]s
%[5]se.g.
  %[4]s status --peer %[1]s --secret-file %[2]s
  %[4]s status --data-dir %[3]s
  %[4]s bench tasks --peer %[1]s --secret-file %[2]s
  futures.Connect(ctx, "%[1]s", futures.WithSecretFile("%[2]s"))
`, addr, secretFile, dir, self, dashLine)
			<-ctx.Done()
			fmt.Fprintln(out, "stopping")
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&nodes, "nodes", 3, "number of nodes")
	fl.IntVar(&threads, "threads", 0, "tasks each node runs at once (default: the machine's cores divided among the nodes, at least 1)")
	fl.BoolVar(&demo, "demo", true, "run the futures demo before printing the status")
	fl.IntVar(&tasks, "tasks", 2000, "the demo's map and tree reduction run over 1..tasks")
	fl.BoolVar(&keep, "keep", false, "keep the mesh running until Ctrl-C (and write its address and secret to --dir)")
	fl.StringVar(&dir, "dir", "", "with --keep: where to write the mesh's addr and secret files (default: a temporary dir, removed at exit)")
	fl.StringVar(&dashboardAddr, "dashboard", defaultDashboard, "with --keep: serve the first node's dashboard on this host:port (see mesh join --dashboard); empty: off")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	return c
}
