package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/futures"
	"github.com/meshcompute/mesh/mesh"
)

// Built-in functions every mesh binary has, used by `mesh bench` and the
// `mesh run` demo.
func init() {
	futures.Register("mesh.inc", func(x int) int { return x + 1 })
	futures.Register("mesh.add", func(a, b int) int { return a + b })
}

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{Use: "bench", Short: "Benchmarks of a mesh"}
	c.AddCommand(newBenchTasksCmd(), newBenchBagCmd(), newBenchArrayCmd(), newBenchDelayedCmd())
	return c
}

func newBenchTasksCmd() *cobra.Command {
	var (
		nodes, tasks, roundTrips int
		graph                    int
		peerAddr, secretFile     string
		asJSON                   bool
		threads                  int
	)
	c := &cobra.Command{
		Use: "tasks",
		Example: `  mesh bench tasks
  mesh bench tasks --graph 100000 --nodes 3`,
		Short: "Tiny-task throughput and latency: map+gather, a tree reduction, submit->result round trips",
		Long: `Runs the workloads of ../shared/anchors/dask_tasks.py on a mesh: map + gather of --tasks tiny
tasks, a tree reduction of 2N-1 tasks, and --round-trips submit->result round trips.

Without --peer it starts --nodes mesh nodes as separate processes of this binary on 127.0.0.1
(temporary data dirs, removed at exit) and measures from a client in this process.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) (err error) {
			ctx := c.Context()
			out := c.OutOrStdout()
			var opts []futures.Option
			addr := peerAddr
			if addr == "" {
				procs, a, secret, err := startProcesses(ctx, nodes, threads, c.ErrOrStderr())
				defer func() {
					procs.stop()
					if err == nil {
						os.RemoveAll(filepath.Dir(filepath.Dir(secret)))
					}
				}()
				if err != nil {
					return err
				}
				addr = a
				opts = append(opts, futures.WithSecretFile(secret))
			} else {
				opts = append(opts, futures.WithSecretFile(secretFile))
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			cl, err := futures.Connect(cctx, addr, opts...)
			cancel()
			if err != nil {
				return err
			}
			defer cl.Close()
			if graph > 0 {
				return benchGraph(ctx, out, cl, graph)
			}
			return benchTasks(ctx, out, cl, tasks, roundTrips, asJSON)
		},
	}
	fl := c.Flags()
	fl.IntVar(&nodes, "nodes", 3, "nodes to start (without --peer)")
	fl.IntVar(&threads, "threads", 0, "worker threads per started node (default: cores)")
	fl.IntVar(&tasks, "tasks", 20000, "tasks in the map and leaves of the tree reduction")
	fl.IntVar(&roundTrips, "round-trips", 200, "submit->result round trips to time")
	fl.IntVar(&graph, "graph", 0, "instead: one graph of this many tiny tasks (e.g. 1000000), with the leader's peak memory")
	fl.StringVar(&peerAddr, "peer", "", "benchmark an existing mesh through this node")
	fl.StringVar(&secretFile, "secret-file", "", "that mesh's secret (with --peer)")
	fl.BoolVar(&asJSON, "json", false, `one JSON object per measurement ({"bench": "map+gather"|"tree reduce"|"round trip"|"raft log", ...})`)
	return c
}

func benchTasks(ctx context.Context, out io.Writer, cl *futures.Client, n, rts int, benchJSON bool) error {
	args := make([]any, n)
	for i := range args {
		args[i] = i
	}
	// Warm up connections and code paths.
	if fs, err := cl.Map(ctx, "mesh.inc", args[:min(n, 100)], futures.Pure(false)); err == nil {
		cl.Gather(ctx, fs)
		cl.Release(ctx, fs...)
	}

	index0 := commitIndex(ctx, cl)
	start := time.Now()
	fs, err := cl.Map(ctx, "mesh.inc", args, futures.Pure(false))
	if err != nil {
		return err
	}
	vals, err := futures.GatherAs[int](ctx, cl, fs)
	if err != nil {
		return err
	}
	mapTime := time.Since(start)
	for i, v := range vals {
		if v != i+1 {
			return fmt.Errorf("map: inc(%d) = %d", i, v)
		}
	}
	cl.Release(ctx, fs...)

	start = time.Now()
	level, err := cl.Map(ctx, "mesh.inc", args, futures.Pure(false))
	if err != nil {
		return err
	}
	total := len(level)
	for len(level) > 1 {
		var next []*futures.Future
		pairs := make([][2]*futures.Future, 0, len(level)/2)
		for i := 0; i+1 < len(level); i += 2 {
			pairs = append(pairs, [2]*futures.Future{level[i], level[i+1]})
		}
		for _, p := range pairs {
			f, err := cl.Submit(ctx, "mesh.add", p[0], p[1], futures.Pure(false))
			if err != nil {
				return err
			}
			next = append(next, f)
		}
		done := level
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
			done = level[:len(level)-1]
		}
		total += len(pairs)
		cl.Release(ctx, done...)
		level = next
	}
	var sum int
	if err := level[0].Result(ctx, &sum); err != nil {
		return err
	}
	treeTime := time.Since(start)
	if want := n * (n + 1) / 2; sum != want {
		return fmt.Errorf("tree reduction: sum %d, want %d", sum, want)
	}

	lat := make([]time.Duration, rts)
	for i := range rts {
		t0 := time.Now()
		f, err := cl.Submit(ctx, "mesh.inc", i, futures.Pure(false))
		if err != nil {
			return err
		}
		var v int
		if err := f.Result(ctx, &v); err != nil {
			return err
		}
		lat[i] = time.Since(t0)
		cl.Release(ctx, f)
	}
	slices.Sort(lat)
	emitLine(out, benchJSON, map[string]any{"bench": "map+gather", "tasks": n, "seconds": mapTime.Seconds(), "tasks_per_s": float64(n) / mapTime.Seconds()},
		"map+gather   %7d tasks  %8.3fs  %9.0f tasks/s\n", n, mapTime.Seconds(), float64(n)/mapTime.Seconds())
	emitLine(out, benchJSON, map[string]any{"bench": "tree reduce", "tasks": total, "seconds": treeTime.Seconds(), "tasks_per_s": float64(total) / treeTime.Seconds()},
		"tree reduce  %7d tasks  %8.3fs  %9.0f tasks/s\n", total, treeTime.Seconds(), float64(total)/treeTime.Seconds())
	if rts > 0 {
		emitLine(out, benchJSON, map[string]any{"bench": "round trip", "round_trips": rts, "p50_ms": ms(lat[rts/2]), "p99_ms": ms(lat[rts*99/100])},
			"round trip   %7d       p50 %.3f ms  p99 %.3f ms\n", rts, ms(lat[rts/2]), ms(lat[rts*99/100]))
	}
	// Raft entries are batched: the log grows by far fewer entries than
	// tasks (submissions and releases only; completions are not logged).
	time.Sleep(200 * time.Millisecond)
	if index1 := commitIndex(ctx, cl); index0 > 0 && index1 >= index0 {
		all := n + total + rts
		emitLine(out, benchJSON, map[string]any{"bench": "raft log", "entries": index1 - index0, "tasks": all, "entries_per_task": float64(index1-index0) / float64(all)},
			"raft log     %7d entries for %d tasks: %.4f entries per task\n", index1-index0, all, float64(index1-index0)/float64(all))
	}
	return nil
}

// commitIndex is the mesh's Raft commit index (0 if unknown).
func commitIndex(ctx context.Context, cl *futures.Client) uint64 {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := cl.Status(sctx)
	if err != nil {
		return 0
	}
	return st.CommitIndex
}

// benchGraph runs one Map of n tiny tasks, waits for all of them, and
// samples the leader's resident memory meanwhile.
func benchGraph(ctx context.Context, out io.Writer, cl *futures.Client, n int) error {
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := cl.Status(sctx)
			cancel()
			if err == nil {
				for _, m := range st.Members {
					if m.Leader && m.RSS > peak.Load() {
						peak.Store(m.RSS)
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	args := make([]any, n)
	for i := range args {
		args[i] = i
	}
	start := time.Now()
	fs, err := cl.Map(ctx, "mesh.inc", args, futures.Pure(false))
	if err != nil {
		close(stop)
		return err
	}
	submitted := time.Since(start)
	_, notDone, err := cl.Wait(ctx, fs, futures.AllCompleted)
	took := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		return err
	}
	if len(notDone) > 0 {
		return fmt.Errorf("%d tasks not done", len(notDone))
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "graph        %7d tasks  %8.3fs  %9.0f tasks/s  (submitted in %.3fs)  leader peak RSS %s\n",
		n, took.Seconds(), float64(n)/took.Seconds(), submitted.Seconds(), humanBytes(peak.Load()))
	return cl.Release(ctx, fs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type procSet []*exec.Cmd

// stop ends the nodes gracefully (SIGTERM: they leave the mesh), killing
// any that take longer than 5 s.
func (p procSet) stop() {
	for _, c := range p {
		if c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range p {
		if c.Process == nil {
			continue
		}
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

// startProcesses starts n `join` processes of this binary on 127.0.0.1 and
// returns the first one's address and the secret file.
func startProcesses(ctx context.Context, n, threads int, logs io.Writer) (procSet, string, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", "", err
	}
	dir, err := os.MkdirTemp("", "mesh-bench-*")
	if err != nil {
		return nil, "", "", err
	}
	var procs procSet
	start := func(i int, extra ...string) (string, error) {
		d := filepath.Join(dir, fmt.Sprintf("node%d", i))
		args := append([]string{"join", "--listen", "/ip4/127.0.0.1/tcp/0", "--dashboard", "127.0.0.1:0", "--data-dir", d, "--log-level", "warn", "--name", fmt.Sprintf("node%d", i)}, extra...)
		if threads > 0 {
			args = append(args, "--threads", fmt.Sprint(threads))
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		lf, err := os.Create(filepath.Join(dir, fmt.Sprintf("node%d.log", i)))
		if err != nil {
			return "", err
		}
		defer lf.Close()
		cmd.Stderr = lf
		if err := cmd.Start(); err != nil {
			return "", err
		}
		procs = append(procs, cmd)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(filepath.Join(d, "addr")); err == nil && len(b) > 0 {
				return strings.Fields(string(b))[0], nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return "", fmt.Errorf("node%d did not start within 30s", i)
	}
	fmt.Fprintf(logs, "bench mesh: %d nodes, logs in %s\n", n, dir)
	secret := filepath.Join(dir, "node1", mesh.SecretFile)
	first, err := start(1)
	if err != nil {
		return procs, "", secret, err
	}
	for i := 2; i <= n; i++ {
		if _, err := start(i, first, "--secret-file", secret); err != nil {
			return procs, "", secret, err
		}
	}
	// Wait until every node is a member.
	sec, err := mesh.ReadSecretFile(secret)
	if err != nil {
		return procs, "", secret, err
	}
	peers, _ := parsePeers([]string{first})
	deadline := time.Now().Add(30 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := fetchStatus(sctx, sec, peers)
		cancel()
		if err == nil && len(st.Members) == n {
			alive := 0
			for _, m := range st.Members {
				if m.State == "alive" {
					alive++
				}
			}
			if alive == n {
				break
			}
		}
		if time.Now().After(deadline) {
			return procs, "", secret, errors.New("the bench mesh did not form within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return procs, first, secret, nil
}
