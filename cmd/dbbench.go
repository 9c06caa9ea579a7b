package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/spf13/cobra"

	df "github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/collections/dataframe/dbbench"
	"github.com/meshcompute/mesh/futures"
)

// newDBBenchCmd: `mesh dbbench groupby|join` runs the db-benchmark
// questions on persisted DataFrames.
func newDBBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "dbbench",
		Short: "run the db-benchmark questions (groupby, join) on the mesh's DataFrame",
	}
	c.AddCommand(newDBBenchGroupByCmd(), newDBBenchJoinCmd())
	return c
}

type dbbenchFlags struct {
	data, questions, answers, peer, secretFile string
	cpuProfile, loadProfile, logLevel          string
	runs, nodes, threads, replicas             int
	blockSize                                  int64
	// join only
	strategy    string
	shuffleN    int
	materialize bool
	// groupby only
	dictionary bool
	asJSON     bool
}

// emit prints a line for people, or with --json the object as one JSON
// line (for scripts).
func (f *dbbenchFlags) emit(out io.Writer, obj map[string]any, format string, args ...any) {
	emitLine(out, f.asJSON, obj, format, args...)
}

// emitLine prints a line for people (format, args), or with asJSON the
// object as one JSON line for scripts.
func emitLine(out io.Writer, asJSON bool, obj map[string]any, format string, args ...any) {
	if asJSON {
		b, err := json.Marshal(obj)
		if err == nil {
			out.Write(append(b, '\n'))
			return
		}
	}
	fmt.Fprintf(out, format, args...)
}

// addCommonFlags adds the flags both runners have.
func (f *dbbenchFlags) addCommonFlags(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.answers, "answers", "", "write each question's answer to DIR/qN.csv")
	fl.BoolVar(&f.asJSON, "json", false, `print one JSON object per line: {"event": "mesh"|"load"|"size"|"run", ...} ("run": question, run, seconds, rows)`)
	fl.IntVar(&f.runs, "runs", 2, "runs of each question")
	fl.IntVar(&f.nodes, "nodes", 2, "nodes of the local mesh (without --peer)")
	fl.IntVar(&f.threads, "threads", 0, "worker threads per local node (0: cores / nodes)")
	fl.IntVar(&f.replicas, "replicas", 0, "copies of each held result in the local mesh (0: the mesh's default, 2)")
	fl.Int64Var(&f.blockSize, "block-size", 64<<20, "bytes of CSV per partition")
	fl.StringVar(&f.peer, "peer", "", "run on an existing mesh through this node's multiaddr")
	fl.StringVar(&f.secretFile, "secret-file", "", "that mesh's secret (with --peer)")
	fl.StringVar(&f.logLevel, "log-level", "error", "log level of the local mesh and the client (logs go to stderr)")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the questions (not the load) to this file")
	fl.StringVar(&f.loadProfile, "load-cpuprofile", "", "write a Go CPU profile of the load to this file")
}

// connect returns a client of the mesh at --peer, or of a new local mesh
// (announced on out); close ends both.
func (f dbbenchFlags) connect(ctx context.Context, out io.Writer, log *slog.Logger) (client *futures.Client, close func(), err error) {
	if f.peer != "" {
		if client, err = futures.Connect(ctx, f.peer, futures.WithSecretFile(f.secretFile), futures.WithLogger(log)); err != nil {
			return nil, nil, err
		}
		return client, func() { client.Close() }, nil
	}
	threads := f.threads
	if threads <= 0 {
		threads = max(1, runtime.NumCPU()/max(f.nodes, 1))
	}
	nodeGC()
	lc, err := futures.NewLocalCluster(ctx, f.nodes, futures.WithThreads(threads), futures.WithReplicas(f.replicas), futures.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	// The cluster's own client: it reads the nodes' stores directly.
	if client, err = lc.Client(ctx, futures.WithLogger(log)); err != nil {
		lc.Close()
		return nil, nil, err
	}
	f.emit(out, map[string]any{"event": "mesh", "nodes": f.nodes, "threads": threads}, "local mesh: %d nodes x %d threads\n", f.nodes, threads)
	return client, func() { client.Close(); lc.Close() }, nil
}

// startProfile starts the --cpuprofile, if any; the returned func stops it.
func (f dbbenchFlags) startProfile() (func(), error) { return startCPUProfile(f.cpuProfile) }

// startCPUProfile writes a Go CPU profile to path (none if path is empty)
// until the returned func is called (a second call does nothing).
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	pf, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			pf.Close()
		})
	}, nil
}

func newDBBenchGroupByCmd() *cobra.Command {
	var f dbbenchFlags
	c := &cobra.Command{
		Use: "groupby --data FILE.csv",
		Example: `  mesh dbbench groupby --data /tmp/G1_1e7_1e2_0_0.csv --questions q1,q2,q10 --runs 2
  mesh dbbench groupby --data G1.csv --peer /ip4/10.0.0.1/tcp/7946/p2p/12D3KooW... --secret-file ./secret`,
		Short: "load a groupby data set into a persisted DataFrame and time questions q1..q10",
		Long: `Loads FILE.csv (see 'mesh gen groupby') into a persisted DataFrame, on a new local mesh of --nodes
nodes in this process unless --peer names a node of a running mesh, then runs each question --runs
times and prints one line per run: "q3 run1: 0.123s rows=100000". With --answers DIR it writes
DIR/qN.csv in the format of the fixtures' answers (sorted by the group keys, NA last; the sort is not
timed: like the benchmark's queries, a question's result comes in no particular order).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(c.ErrOrStderr(), f.logLevel)
			if err != nil {
				return usageError{err}
			}
			return runDBBenchGroupBy(c.Context(), c.OutOrStdout(), log, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "the groupby CSV file (required)")
	fl.StringVar(&f.questions, "questions", "q1,q2,q3,q4,q5,q6,q7,q8,q9,q10", "questions to run, comma-separated")
	fl.BoolVar(&f.dictionary, "dictionary", true, "load the string columns dictionary-encoded (df.DictionaryStrings)")
	f.addCommonFlags(c)
	return c
}

func runDBBenchGroupBy(ctx context.Context, out io.Writer, log *slog.Logger, f dbbenchFlags) error {
	if f.data == "" {
		return usageError{fmt.Errorf("--data FILE.csv is required (write one with 'mesh gen groupby')")}
	}
	if f.runs < 1 {
		return usageError{fmt.Errorf("--runs %d: want at least 1", f.runs)}
	}
	var qs []dbbench.Question
	for _, name := range strings.Split(f.questions, ",") {
		q, err := dbbench.GroupByQuestion(strings.TrimSpace(name))
		if err != nil {
			return usageError{err}
		}
		qs = append(qs, q)
	}
	if f.answers != "" {
		if err := os.MkdirAll(f.answers, 0o755); err != nil {
			return err
		}
	}
	client, closeMesh, err := f.connect(ctx, out, log)
	if err != nil {
		return err
	}
	defer closeMesh()
	stopLoadProfile, err := startCPUProfile(f.loadProfile)
	if err != nil {
		return err
	}
	defer stopLoadProfile() // on error; a second stop does nothing
	start := time.Now()
	opts := []df.Option{df.BlockSize(f.blockSize)}
	if f.dictionary {
		opts = append(opts, df.DictionaryStrings())
	}
	raw, err := df.ReadCSV(f.data, opts...)
	if err != nil {
		return err
	}
	data, err := raw.Persist(ctx, client)
	if err != nil {
		return fmt.Errorf("load %s: %w", f.data, err)
	}
	defer data.Release(context.WithoutCancel(ctx), client)
	n, err := data.Len(ctx, client)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	f.emit(out, map[string]any{"event": "load", "data": filepath.Base(f.data), "seconds": secs, "rows": n, "partitions": data.NPartitions()},
		"load %s: %.3fs rows=%d partitions=%d\n", filepath.Base(f.data), secs, n, data.NPartitions())
	stopLoadProfile()
	// The Arrow size of the persisted partitions (not timed): what the mesh
	// holds, to set memory figures against.
	if usage, err := data.MemoryUsage(ctx, client, true); err == nil {
		var total int64
		for _, b := range usage {
			total += b
		}
		f.emit(out, map[string]any{"event": "size", "arrow_bytes": total}, "arrow size: %.1f MB\n", float64(total)/1e6)
	}
	stop, err := f.startProfile()
	if err != nil {
		return err
	}
	defer stop()
	for _, q := range qs {
		for run := 1; run <= f.runs; run++ {
			t0 := time.Now()
			rec, err := q.Run(ctx, client, data)
			if err != nil {
				return err
			}
			secs := time.Since(t0).Seconds()
			f.emit(out, map[string]any{"event": "run", "question": q.Name, "run": run, "seconds": secs, "rows": rec.NumRows()},
				"%s run%d: %.3fs rows=%d\n", q.Name, run, secs, rec.NumRows())
			if f.answers != "" && run == 1 {
				sorted, err := q.Sorted(rec)
				if err == nil {
					err = writeAnswerFile(filepath.Join(f.answers, q.Name+".csv"), sorted)
					sorted.Release()
				}
				if err != nil {
					rec.Release()
					return err
				}
			}
			rec.Release()
		}
	}
	return nil
}

func writeAnswerFile(path string, rec arrow.RecordBatch) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := dbbench.WriteAnswer(fh, rec); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
