package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/collections/dataframe/dbbench"
)

// newGenCmd: `mesh gen groupby|join` writes db-benchmark data sets.
func newGenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "gen",
		Short: "write benchmark data sets: db-benchmark groupby and join (CSV), JSON lines for bags",
	}
	c.PersistentFlags().Bool("json", false, `print one JSON object when done: {"event": "wrote", "files": [{"path", "bytes"}], "rows", "seconds"}`)
	c.AddCommand(newGenGroupByCmd(), newGenJoinCmd(), newGenJSONLCmd())
	return c
}

// genWroteJSON prints what a gen subcommand wrote as one JSON object when
// --json is set, and reports whether it did (else the caller prints its
// own line).
func genWroteJSON(c *cobra.Command, rows int, start time.Time, paths ...string) (bool, error) {
	if f := c.Flag("json"); f == nil || f.Value.String() != "true" {
		return false, nil
	}
	type file struct {
		Path  string `json:"path"`
		Bytes int64  `json:"bytes"`
	}
	files := make([]file, 0, len(paths))
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return true, err
		}
		files = append(files, file{p, st.Size()})
	}
	b, err := json.Marshal(map[string]any{"event": "wrote", "files": files, "rows": rows, "seconds": time.Since(start).Seconds()})
	if err != nil {
		return true, err
	}
	_, err = c.OutOrStdout().Write(append(b, '\n'))
	return true, err
}

// count is an int flag that also takes 1e7-style values.
type count int

func (c *count) String() string { return strconv.Itoa(int(*c)) }
func (c *count) Type() string   { return "count" }
func (c *count) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != float64(int(f)) {
		return fmt.Errorf("%q: want a whole number such as 100000 or 1e7", s)
	}
	*c = count(f)
	return nil
}

func newGenGroupByCmd() *cobra.Command {
	var (
		rows, k = count(10_000_000), count(100)
		nas     int
		out     string
		seed    uint64
	)
	c := &cobra.Command{
		Use:     "groupby --rows N --k K --nas PCT --out FILE.csv",
		Example: `  mesh gen groupby --rows 1e7 --k 100 --out /tmp/G1_1e7_1e2_0_0.csv`,
		Short:   "groupby data: id1..id6 keys, v1..v3 values (as db-benchmark's groupby-datagen)",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out FILE.csv is required")}
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := dbbench.GenGroupBy(f, dbbench.GroupByOptions{Rows: int(rows), K: int(k), NAs: nas, Seed: seed}); err != nil {
				f.Close()
				return usageError{err}
			}
			if err := f.Close(); err != nil {
				return err
			}
			if done, err := genWroteJSON(c, int(rows), start, out); done {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s: %d rows in %v\n", out, rows, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	c.Flags().Var(&rows, "rows", "rows (N); 1e7 notation works")
	c.Flags().Var(&k, "k", "groups of the small keys id1, id2, id4, id5 (id3 and id6 have N/K)")
	c.Flags().IntVar(&nas, "nas", 0, "percent of NA: of each key column's values, and of each value column's rows")
	c.Flags().StringVar(&out, "out", "", "the CSV file to write")
	c.Flags().Uint64Var(&seed, "seed", 108, "random seed: the same seed writes the same file")
	return c
}

func newGenJoinCmd() *cobra.Command {
	var (
		rows = count(10_000_000)
		out  string
		seed uint64
	)
	c := &cobra.Command{
		Use:     "join --rows N --out PREFIX",
		Example: `  mesh gen join --rows 1e6 --out /tmp/J1_1e6`,
		Short:   "join data: PREFIX_NA_0_0.csv (x) and PREFIX_small/medium/big.csv (as db-benchmark's join-datagen)",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out PREFIX is required")}
			}
			start := time.Now()
			if err := dbbench.GenJoin(out, dbbench.JoinOptions{Rows: int(rows), Seed: seed}); err != nil {
				return err
			}
			x, s, m, b := dbbench.JoinFiles(out)
			if done, err := genWroteJSON(c, int(rows), start, x, s, m, b); done {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s %s %s %s in %v\n", x, s, m, b, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	c.Flags().Var(&rows, "rows", "rows of x and of big (N); 1e7 notation works")
	c.Flags().StringVar(&out, "out", "", "prefix of the four CSV files")
	c.Flags().Uint64Var(&seed, "seed", 108, "random seed")
	return c
}
