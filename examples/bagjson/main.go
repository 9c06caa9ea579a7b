// Command bagjson is the Dask Bag tutorial on JSON records: from lines of
// JSON to a DataFrame and a group-by.
//
// It writes JSON-lines files of events (id, name, city, ms, score, ok;
// some events have no score; seeded) and, as
//
//	b = db.read_text("events/*.jsonl").map(json.loads)
//	b.pluck("name").frequencies().topk(5, key=1)
//	df = b.to_dataframe(meta)
//	df.groupby("city").agg(events=("id", "count"), mean_ms=("ms", "mean"), ...)
//
// runs it on a mesh: Bag's ReadText, DecodeJSON, Pluck and Frequencies,
// then ToDataFrame with a schema (a persisted DataFrame) and a DataFrame
// group-by. It runs on an in-process mesh of -nodes nodes, or on a running
// mesh with -connect ADDR -secret-file FILE (give -data a directory every
// node can read at the same path). No registered functions are needed.
//
//	go run ./examples/bagjson -rows 1000000
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/collections/bag"
	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/examples/internal/exmesh"
)

type config struct {
	Mesh      exmesh.Mesh
	Data      string // directory of the .jsonl files; empty: a temporary one
	Keep      bool
	Rows      int
	Files     int
	Seed      uint64
	BlockSize int64 // bytes of text per bag partition
	Top       int   // most frequent names to show
}

// event is a generated record (score is nil for some).
type event struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	City  string   `json:"city"`
	MS    int64    `json:"ms"`
	Score *float64 `json:"score,omitempty"`
	OK    bool     `json:"ok"`
}

// city is a row of the group-by's answer.
type city struct {
	City      string
	Events    int64
	MeanMS    float64
	Scored    int64   // events with a score
	MeanScore float64 // over those
}

type result struct {
	Events     int64
	Partitions int
	TopNames   []bag.Pair[string]
	Cities     []city // by city name
}

var cities = []string{"Amsterdam", "Berlin", "Bogotá", "Cairo", "Chicago", "Delhi", "Hanoi", "Lagos", "Lima", "Lisbon",
	"London", "Madrid", "Montréal", "Mumbai", "Nairobi", "Osaka", "Paris", "Perth", "Seoul", "Tokyo"}

// generate writes rows events as JSON lines to files files in dir.
func generate(dir string, rows, files int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0x6a736f6e))
	names := make([]string, 300)
	for i := range names {
		names[i] = fmt.Sprintf("user%03d", i)
	}
	zipf := rand.NewZipf(r, 1.2, 2, uint64(len(names)-1))
	per := (rows + files - 1) / files
	for f := range files {
		fh, err := os.Create(filepath.Join(dir, fmt.Sprintf("events-%02d.jsonl", f)))
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		w := bufio.NewWriter(fh)
		enc := json.NewEncoder(w)
		for i := f * per; i < min((f+1)*per, rows); i++ {
			c := r.IntN(len(cities))
			e := event{ID: int64(i), Name: names[zipf.Uint64()], City: cities[c], MS: 5 + int64(c)*3 + r.Int64N(200), OK: r.IntN(10) > 0}
			if r.IntN(8) > 0 {
				s := math.Round(r.Float64()*1000) / 100
				e.Score = &s
			}
			if err := enc.Encode(e); err != nil {
				fh.Close()
				return fmt.Errorf("generate: %w", err)
			}
		}
		if err := w.Flush(); err != nil {
			fh.Close()
			return fmt.Errorf("generate: %w", err)
		}
		if err := fh.Close(); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	}
	return nil
}

// schema is the DataFrame's columns; a record without a score gets a null.
var schema = []bag.Field{
	{Name: "id", Type: "int64"}, {Name: "name", Type: "string"}, {Name: "city", Type: "string"},
	{Name: "ms", Type: "int64"}, {Name: "score", Type: "float64"}, {Name: "ok", Type: "bool"},
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	dir, cleanup, err := exmesh.DataDir(cfg.Data, "mesh-bagjson-*", cfg.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	pattern := filepath.Join(dir, "*.jsonl")
	if have, _ := filepath.Glob(pattern); len(have) == 0 {
		if err := generate(dir, cfg.Rows, cfg.Files, cfg.Seed); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "wrote %d events to %d files in %s\n", cfg.Rows, cfg.Files, dir)
	}
	c, closeMesh, err := cfg.Mesh.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeMesh()

	start := time.Now()
	lines, err := bag.ReadText(pattern, bag.BlockSize(cfg.BlockSize))
	if err != nil {
		return nil, fmt.Errorf("read text: %w", err)
	}
	recs := lines.DecodeJSON()
	res := &result{Partitions: lines.NPartitions()}

	// Bag operations: the most frequent names.
	if res.TopNames, err = bag.TakeAs[bag.Pair[string]](ctx, c, recs.Pluck("name").Frequencies(), cfg.Top); err != nil {
		return nil, fmt.Errorf("name frequencies: %w", err)
	}
	fmt.Fprintf(out, "most frequent names:")
	for _, p := range res.TopNames {
		fmt.Fprintf(out, " %s:%d", p.Value, p.Count)
	}
	fmt.Fprintln(out)

	// To a DataFrame (persisted in the mesh until released), then a
	// group-by.
	df, err := recs.ToDataFrame(ctx, c, schema)
	if err != nil {
		return nil, fmt.Errorf("to dataframe: %w", err)
	}
	defer df.Release(context.WithoutCancel(ctx), c)
	if res.Events, err = df.Len(ctx, c); err != nil {
		return nil, fmt.Errorf("len: %w", err)
	}
	g := df.GroupBy("city").Agg(
		dataframe.Count("id").As("events"),
		dataframe.Mean("ms").As("mean_ms"),
		dataframe.Count("score").As("scored"),
		dataframe.Mean("score").As("mean_score"),
	).Sort(dataframe.Asc("city"))
	tbl, err := g.Compute(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("group by city: %w", err)
	}
	defer tbl.Release()
	if res.Cities, err = readCities(tbl); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%d events in %d partitions, by city (%v):\n", res.Events, res.Partitions, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(out, "  %-10s %8s %8s %8s %10s\n", "city", "events", "mean_ms", "scored", "mean_score")
	for _, r := range res.Cities {
		fmt.Fprintf(out, "  %-10s %8d %8.2f %8d %10.4f\n", r.City, r.Events, r.MeanMS, r.Scored, r.MeanScore)
	}
	return res, nil
}

func readCities(tbl arrow.Table) ([]city, error) {
	var out []city
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		col := func(name string) arrow.Array {
			if idx := rec.Schema().FieldIndices(name); len(idx) == 1 {
				return rec.Column(idx[0])
			}
			return nil
		}
		name, ok1 := col("city").(*array.String)
		events, ok2 := col("events").(*array.Int64)
		ms, ok3 := col("mean_ms").(*array.Float64)
		scored, ok4 := col("scored").(*array.Int64)
		score, ok5 := col("mean_score").(*array.Float64)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return nil, fmt.Errorf("unexpected result schema %v", rec.Schema())
		}
		for i := range int(rec.NumRows()) {
			out = append(out, city{City: name.Value(i), Events: events.Value(i), MeanMS: ms.Value(i),
				Scored: scored.Value(i), MeanScore: score.Value(i)})
		}
	}
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if !slices.IsSortedFunc(out, func(a, b city) int { return cmp.Compare(a.City, b.City) }) {
		return nil, fmt.Errorf("cities are not sorted")
	}
	return out, nil
}

func main() {
	var cfg config
	fs := flag.CommandLine
	cfg.Mesh.AddFlags(fs)
	fs.StringVar(&cfg.Data, "data", "", "directory of the .jsonl files (generated there if it has none; default: a temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary data directory")
	fs.IntVar(&cfg.Rows, "rows", 200_000, "events to generate")
	fs.IntVar(&cfg.Files, "files", 4, "files to generate")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "generator seed")
	fs.Int64Var(&cfg.BlockSize, "block-size", 4<<20, "bytes of text per partition")
	fs.IntVar(&cfg.Top, "top", 5, "most frequent names to show")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		exmesh.Fail("bagjson", err)
	}
}
