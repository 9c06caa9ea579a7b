package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/actors"
)

func newRunCmd() *cobra.Command {
	var (
		nodes    int
		keep     bool
		dataDir  string
		logLevel string
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Start a local mesh of several nodes in this process and print its status",
		Long: `Start --nodes mesh nodes inside this process on 127.0.0.1 (free ports), wait until
they agree on membership and a leader, and print the mesh's status. With --keep the
mesh runs until Ctrl-C; otherwise it shuts down after printing.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if nodes < 1 {
				return usageError{fmt.Errorf("--nodes %d: want at least 1", nodes)}
			}
			log, err := newLogger(c.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			if dataDir == "" {
				dir, err := os.MkdirTemp("", "mesh-run-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				dataDir = dir
			}
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			ns, err := actors.StartLocalMesh(ctx, dataDir, nodes, actors.NodeConfig{Logger: log})
			defer func() {
				for _, n := range ns {
					n.Close()
				}
			}()
			if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			st, err := actors.WaitAgreed(wctx, ns)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "local mesh of %d nodes agreed in %v (data in %s)\n\n", nodes, time.Since(start).Round(time.Millisecond), dataDir)
			printStatus(out, st)
			if keep {
				fmt.Fprintf(out, "\nrunning; ask it with: mesh status --data-dir %s\nCtrl-C stops it\n", filepath.Join(dataDir, "node1"))
				<-ctx.Done()
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&nodes, "nodes", 3, "number of nodes")
	fl.BoolVar(&keep, "keep", false, "keep the mesh running until Ctrl-C")
	fl.StringVar(&dataDir, "data-dir", "", "parent directory for the nodes' data dirs (default: a temporary one, removed at exit)")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	return c
}
