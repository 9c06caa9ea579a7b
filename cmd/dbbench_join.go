package cmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/spf13/cobra"

	df "github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/collections/dataframe/dbbench"
)

func newDBBenchJoinCmd() *cobra.Command {
	var f dbbenchFlags
	c := &cobra.Command{
		Use: "join --data PREFIX",
		Example: `  mesh dbbench join --data /tmp/J1_1e6 --runs 2
  mesh dbbench join --data /tmp/J1_1e6 --strategy shuffle`,
		Short: "load a join data set into persisted DataFrames and time questions q1..q5",
		Long: `Loads PREFIX_NA_0_0.csv (x), PREFIX_small.csv, PREFIX_medium.csv and PREFIX_big.csv (see 'mesh gen
join') into persisted DataFrames, on a new local mesh of --nodes nodes in this process unless --peer
names a node of a running mesh, then runs each question --runs times and prints one line per run:
"q1 run1: 0.123s rows=90078" (rows of the join's result).

A run joins x with the question's right table and persists the result in the mesh (materialized,
as the benchmark's 'create table ans as select ...'), then computes the answer from it: the row
count and the sums of v1 and v2; the time covers both. With --materialize=false the answer's
sums run inside the join's tasks instead and the joined rows are never stored. With --answers
DIR it writes DIR/qN.csv in the fixtures' format (rows,sum_v1,sum_v2).

--strategy auto broadcasts a right table of one partition to every partition of x and
hash-shuffles both sides otherwise; broadcast and shuffle force either.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(c.ErrOrStderr(), f.logLevel)
			if err != nil {
				return usageError{err}
			}
			return runDBBenchJoin(c.Context(), c.OutOrStdout(), log, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "prefix of the join data set's files, e.g. data/J1_1e7 (required)")
	fl.StringVar(&f.questions, "questions", "q1,q2,q3,q4,q5", "questions to run, comma-separated")
	fl.StringVar(&f.strategy, "strategy", "auto", "join strategy: auto, broadcast or shuffle")
	fl.IntVar(&f.shuffleN, "shuffle-partitions", 0, "partitions of a shuffle join (0: as many as the larger side has)")
	fl.BoolVar(&f.materialize, "materialize", true, "persist each join's result before computing the answer from it")
	f.addCommonFlags(c)
	return c
}

func runDBBenchJoin(ctx context.Context, out io.Writer, log *slog.Logger, f dbbenchFlags) error {
	if f.data == "" {
		return usageError{fmt.Errorf("--data PREFIX is required (write a data set with 'mesh gen join --out PREFIX')")}
	}
	if f.runs < 1 {
		return usageError{fmt.Errorf("--runs %d: want at least 1", f.runs)}
	}
	var opts []df.JoinOption
	switch f.strategy {
	case "auto":
	case "broadcast":
		opts = append(opts, df.Broadcast())
	case "shuffle":
		opts = append(opts, df.Shuffle(f.shuffleN))
	default:
		return usageError{fmt.Errorf("--strategy %q: want auto, broadcast or shuffle", f.strategy)}
	}
	var qs []dbbench.JoinQuestion
	for _, name := range strings.Split(f.questions, ",") {
		q, err := dbbench.JoinQuestionNamed(strings.TrimSpace(name))
		if err != nil {
			return usageError{err}
		}
		qs = append(qs, q)
	}
	raw, err := dbbench.ReadJoinTables(f.data, f.blockSize)
	if err != nil {
		return usageError{fmt.Errorf("--data %s: %w", f.data, err)}
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

	start := time.Now()
	tables, err := raw.Persist(ctx, client)
	if err != nil {
		return fmt.Errorf("load %s: %w", f.data, err)
	}
	defer tables.Release(context.WithoutCancel(ctx), client)
	var sizes []string
	for _, t := range []struct {
		name string
		d    *df.DataFrame
	}{{"x", tables.X}, {"small", tables.Small}, {"medium", tables.Medium}, {"big", tables.Big}} {
		n, err := t.d.Len(ctx, client)
		if err != nil {
			return err
		}
		sizes = append(sizes, fmt.Sprintf("%s=%d/%d", t.name, n, t.d.NPartitions()))
	}
	secs := time.Since(start).Seconds()
	f.emit(out, map[string]any{"event": "load", "data": filepath.Base(f.data), "seconds": secs, "tables": sizes},
		"load %s: %.3fs rows/partitions %s\n", filepath.Base(f.data), secs, strings.Join(sizes, " "))

	stop, err := f.startProfile()
	if err != nil {
		return err
	}
	defer stop()
	for _, q := range qs {
		j, err := q.Join(tables, opts...)
		if err != nil {
			return err
		}
		plan, _, _ := strings.Cut(j.Explain(), "\n")
		f.emit(out, map[string]any{"event": "plan", "question": q.Name, "right": q.Right, "plan": plan}, "%s: x %s %s\n", q.Name, q.Right, plan)
		for run := 1; run <= f.runs; run++ {
			t0 := time.Now()
			rec, held, err := q.Run(ctx, client, tables, f.materialize, opts...)
			if err != nil {
				return err
			}
			elapsed := time.Since(t0)
			if held != nil {
				held.Release(context.WithoutCancel(ctx), client)
			}
			rows := int64(-1)
			if v, ok := rec.Column(0).(*array.Int64); ok && v.Len() == 1 {
				rows = v.Value(0)
			}
			f.emit(out, map[string]any{"event": "run", "question": q.Name, "run": run, "seconds": elapsed.Seconds(), "rows": rows},
				"%s run%d: %.3fs rows=%d\n", q.Name, run, elapsed.Seconds(), rows)
			if f.answers != "" && run == 1 {
				err = writeAnswerFile(filepath.Join(f.answers, q.Name+".csv"), rec)
			}
			rec.Release()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
