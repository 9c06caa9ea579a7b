package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/collections/bag"
	"github.com/meshcompute/mesh/futures"
)

func init() {
	// For `mesh bench bag`'s word count: the words of a line.
	futures.Register("mesh.words", strings.Fields)
}

func newGenJSONLCmd() *cobra.Command {
	var (
		rows         = count(600_000)
		out, textOut string
		seed         uint64
	)
	c := &cobra.Command{
		Use:     "jsonl --rows N --out FILE.jsonl",
		Example: `  mesh gen jsonl --rows 1000000 --out /tmp/bag.jsonl --text-out /tmp/bag.txt`,
		Short:   "JSON lines for 'mesh bench bag': id, name (1,000, skewed), city (50), score, text (8-15 words of 5,000)",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out FILE.jsonl is required")}
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			var text io.Writer = io.Discard
			var tf *os.File
			if textOut != "" {
				if tf, err = os.Create(textOut); err != nil {
					f.Close()
					return err
				}
				text = tf
			}
			start := time.Now()
			err = genJSONL(f, text, int(rows), seed)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if tf != nil {
				if cerr := tf.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			written := []string{out}
			if textOut != "" {
				written = append(written, textOut)
			}
			if done, err := genWroteJSON(c, int(rows), start, written...); done {
				return err
			}
			for _, p := range written {
				if st, err := os.Stat(p); err == nil {
					fmt.Fprintf(c.OutOrStdout(), "wrote %s: %d rows, %.1f MB in %v\n", p, rows, float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))
				}
			}
			return nil
		},
	}
	c.Flags().Var(&rows, "rows", "rows (N); 1e6 notation works; 600000 is about 100 MB")
	c.Flags().StringVar(&out, "out", "", "the file to write")
	c.Flags().StringVar(&textOut, "text-out", "", "also write each row's text alone, one per line, to this file (for word counts)")
	c.Flags().Uint64Var(&seed, "seed", 7, "random seed: the same seed writes the same file")
	return c
}

// genJSONL writes rows JSON lines of a fixed shape to w, and each row's
// text field alone to text.
func genJSONL(w, text io.Writer, rows int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	syll := []string{"ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "bri", "dan", "fel", "gor", "hul"}
	word := func(r *rand.Rand) string {
		n := 2 + r.IntN(3)
		var b strings.Builder
		for range n {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		return b.String()
	}
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = word(rng)
	}
	names := make([]string, 1000)
	for i := range names {
		names[i] = strings.ToUpper(word(rng)[:1]) + word(rng)
	}
	cities := make([]string, 50)
	for i := range cities {
		cities[i] = "City" + word(rng)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	tw := bufio.NewWriterSize(text, 1<<20)
	type rec struct {
		ID    int     `json:"id"`
		Name  string  `json:"name"`
		City  string  `json:"city"`
		Score float64 `json:"score"`
		Text  string  `json:"text"`
	}
	enc := json.NewEncoder(bw)
	words := make([]string, 0, 16)
	for i := range rows {
		words = words[:0]
		for range 8 + rng.IntN(8) {
			// Skewed: small indexes far more often.
			words = append(words, vocab[int(float64(len(vocab))*rng.Float64()*rng.Float64())])
		}
		r := rec{ID: i, Name: names[int(float64(len(names))*rng.Float64()*rng.Float64())], City: cities[rng.IntN(len(cities))],
			Score: float64(rng.IntN(100000)) / 100, Text: strings.Join(words, " ")}
		if err := enc.Encode(r); err != nil {
			return err
		}
		tw.WriteString(r.Text)
		if err := tw.WriteByte('\n'); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

func newBenchBagCmd() *cobra.Command {
	var (
		f               dbbenchFlags
		workloads, text string
	)
	c := &cobra.Command{
		Use:     "bag --data FILE.jsonl",
		Example: `  mesh bench bag --data /tmp/bag.jsonl --text /tmp/bag.txt --runs 2`,
		Short:   "Bag workloads on JSON lines: count, word count, JSON pluck + frequencies (as bench/dask_bag.py)",
		Long: `Reads FILE (see 'mesh gen jsonl') with bag.ReadText in --block-size blocks on a new local mesh of
--nodes nodes in this process (or the mesh at --peer) and runs each workload --runs times, printing one
line per run: "wordcount run1: 1.605s distinct=3132 total=12650047 top=ranu:62168 file=bag100.txt".
Workloads:
  count      ReadText(FILE).Count()
  wordcount  ReadText(TEXT).FlatMap("mesh.words").Frequencies()   (words = strings.Fields of the line;
             TEXT is --text, or FILE)
  wordcount-str  ReadText(TEXT).Str().Split("").Flatten().Frequencies()   (the built-in string
             methods, no function call per line; Dask: b.str.split().flatten().frequencies())
  pluck      ReadText(FILE).DecodeJSON().Pluck("name").Frequencies()
bench/dask_bag.py runs the same on Dask.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(c.ErrOrStderr(), f.logLevel)
			if err != nil {
				return usageError{err}
			}
			if f.data == "" {
				return usageError{fmt.Errorf("--data FILE.jsonl is required (write one with 'mesh gen jsonl')")}
			}
			if f.runs < 1 {
				return usageError{fmt.Errorf("--runs %d: want at least 1", f.runs)}
			}
			ctx := c.Context()
			out := c.OutOrStdout()
			client, closeMesh, err := f.connect(ctx, out, log)
			if err != nil {
				return err
			}
			defer closeMesh()
			stop, err := f.startProfile()
			if err != nil {
				return err
			}
			defer stop()
			for _, w := range strings.Split(workloads, ",") {
				w = strings.TrimSpace(w)
				for run := 1; run <= f.runs; run++ {
					t0 := time.Now()
					summary, err := runBagWorkload(ctx, client, w, f.data, text, f.blockSize)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "%s run%d: %.3fs %s\n", w, run, time.Since(t0).Seconds(), summary)
				}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "the JSON lines file (required)")
	fl.StringVar(&text, "text", "", "the text file of the word count (default: --data); 'mesh gen jsonl --text-out' writes one")
	fl.StringVar(&workloads, "workloads", "count,wordcount,wordcount-str,pluck", "workloads to run, comma-separated")
	f.addCommonFlags(c)
	fl.Lookup("block-size").Usage = "bytes of text per partition"
	fl.Lookup("block-size").DefValue = "16777216"
	fl.Lookup("runs").Usage = "runs of each workload"
	fl.Lookup("cpuprofile").Usage = "write a Go CPU profile of the workloads to this file"
	f.blockSize = 16 << 20
	fl.MarkHidden("answers")
	fl.MarkHidden("load-cpuprofile")
	return c
}

func runBagWorkload(ctx context.Context, c *futures.Client, w, data, text string, blockSize int64) (string, error) {
	if (w == "wordcount" || w == "wordcount-str") && text != "" {
		data = text
	}
	lines, err := bag.ReadText(data, bag.BlockSize(blockSize))
	if err != nil {
		return "", err
	}
	var freq *bag.Bag
	switch w {
	case "count":
		var n int64
		if err := lines.Count().Compute(ctx, c, &n); err != nil {
			return "", err
		}
		return fmt.Sprintf("lines=%d partitions=%d", n, lines.NPartitions()), nil
	case "wordcount":
		freq = lines.FlatMap("mesh.words").Frequencies()
	case "wordcount-str":
		freq = lines.Str().Split("").Flatten().Frequencies()
	case "pluck":
		freq = lines.DecodeJSON().Pluck("name").Frequencies()
	default:
		return "", usageError{fmt.Errorf("unknown workload %q: want count, wordcount, wordcount-str or pluck", w)}
	}
	pairs, err := bag.ComputeAs[bag.Pair[string]](ctx, c, freq)
	if err != nil {
		return "", err
	}
	var total int64
	for _, p := range pairs {
		total += p.Count
	}
	top := ""
	if len(pairs) > 0 {
		top = fmt.Sprintf("%s:%d", pairs[0].Value, pairs[0].Count)
	}
	return fmt.Sprintf("distinct=%d total=%d top=%s file=%s", len(pairs), total, top, filepath.Base(data)), nil
}
