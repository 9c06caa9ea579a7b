// Command delayed is the dask.delayed tutorial's pipeline on a mesh: load
// each part, clean it, summarize it, combine the summaries, with inputs
// shared between calls.
//
//	cal = calibrate(seed)                       # one value, read by every clean
//	raws = [load(i, rows, seed) for i in range(parts)]
//	cleaned = [clean(r, cal) for r in raws]
//	total = combine([summarize(c) for c in cleaned])
//	dropped = add_all([dropped(r, c) for r, c in zip(raws, cleaned)])  # each raw read twice, loaded once
//	dask.compute(total, dropped); dask.visualize(total, dropped)
//
// The functions are Go functions registered by name in init (pipeline.*);
// delayed.Call records calls, delayed.Compute builds one graph of them (each
// value once), optimizes and runs it, and delayed.Visualize draws it (DOT;
// SVG when Graphviz's dot is installed).
//
// It runs on an in-process mesh of -nodes nodes. With -connect ADDR
// -secret-file FILE it uses a running mesh whose nodes all run this binary,
// because they must know the pipeline.* functions: this program is also a
// mesh node (its first argument a mesh command, as cmd.Main takes it):
//
//	go build -o /tmp/delayed ./examples/delayed
//	/tmp/delayed join --listen /ip4/127.0.0.1/tcp/0 --data-dir /tmp/d1      # and more nodes
//	/tmp/delayed -connect $(head -1 /tmp/d1/addr) -secret-file /tmp/d1/secret
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshcompute/mesh/cmd"
	"github.com/meshcompute/mesh/collections/delayed"
	"github.com/meshcompute/mesh/examples/internal/exmesh"
	"github.com/meshcompute/mesh/futures"
)

// The pipeline's functions. Every node must run a binary that registered
// them (on an in-process LocalCluster, this one).
func init() {
	futures.Register("pipeline.calibrate", calibrate)
	futures.Register("pipeline.load", load)
	futures.Register("pipeline.clean", clean)
	futures.Register("pipeline.summarize", summarize)
	futures.Register("pipeline.combine", combine)
	futures.Register("pipeline.dropped", dropped)
	futures.Register("pipeline.add_all", addAll)
}

// Reading is one sensor reading. Value is -999 when the sensor failed.
type Reading struct {
	Sensor int
	Value  float64
}

// Calibration corrects readings and bounds the plausible ones.
type Calibration struct {
	Offset, Scale float64
	Low, High     float64
}

// Summary is what the pipeline reports.
type Summary struct {
	N        int64
	Sum, Min float64
	Max      float64
}

// Mean is Sum/N.
func (s Summary) Mean() float64 { return s.Sum / float64(s.N) }

func calibrate(seed uint64) Calibration {
	r := rand.New(rand.NewPCG(seed, 1))
	return Calibration{Offset: r.Float64() - 0.5, Scale: 0.9 + 0.2*r.Float64(), Low: -40, High: 60}
}

// load makes part's readings (standing in for reading a file).
func load(part, rows int, seed uint64) []Reading {
	r := rand.New(rand.NewPCG(seed, uint64(part)+2))
	out := make([]Reading, rows)
	for i := range out {
		out[i] = Reading{Sensor: r.IntN(16), Value: math.Round((15+r.NormFloat64()*12)*100) / 100}
		switch r.IntN(50) {
		case 0:
			out[i].Value = -999 // a failed sensor
		case 1:
			out[i].Value = 150 + r.Float64()*50 // a glitch
		}
	}
	return out
}

// clean drops failed readings, calibrates the rest and drops implausible
// values.
func clean(raw []Reading, cal Calibration) []Reading {
	out := make([]Reading, 0, len(raw))
	for _, x := range raw {
		if x.Value == -999 {
			continue
		}
		v := (x.Value + cal.Offset) * cal.Scale
		if v < cal.Low || v > cal.High {
			continue
		}
		out = append(out, Reading{Sensor: x.Sensor, Value: v})
	}
	return out
}

func summarize(rs []Reading) Summary {
	s := Summary{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range rs {
		s.N++
		s.Sum += x.Value
		s.Min = min(s.Min, x.Value)
		s.Max = max(s.Max, x.Value)
	}
	return s
}

func combine(parts []Summary) Summary {
	s := Summary{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, p := range parts {
		s.N += p.N
		s.Sum += p.Sum
		s.Min = min(s.Min, p.Min)
		s.Max = max(s.Max, p.Max)
	}
	return s
}

func dropped(raw, cleaned []Reading) int { return len(raw) - len(cleaned) }

func addAll(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

type config struct {
	Mesh  exmesh.Mesh
	Parts int
	Rows  int // readings per part
	Seed  uint64
	Graph string // Visualize's path (without .dot/.svg); empty: none
}

type result struct {
	Total   Summary
	Dropped int
	DOT     string // the graph's file, if written
	SVG     string // the rendered graph, if Graphviz is installed
}

// pipeline records the calls; nothing runs.
func pipeline(cfg config) (total, drops *delayed.Value) {
	cal := delayed.Call("pipeline.calibrate", cfg.Seed)
	var sums, ds []*delayed.Value
	for i := range cfg.Parts {
		raw := delayed.Call("pipeline.load", i, cfg.Rows, cfg.Seed)
		c := delayed.Call("pipeline.clean", raw, cal)
		sums = append(sums, delayed.Call("pipeline.summarize", c))
		ds = append(ds, delayed.Call("pipeline.dropped", raw, c))
	}
	// A []*delayed.Value argument is the slice of their results.
	return delayed.Call("pipeline.combine", sums), delayed.Call("pipeline.add_all", ds)
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	total, drops := pipeline(cfg)
	res := &result{}
	if cfg.Graph != "" {
		err := delayed.Visualize(ctx, cfg.Graph, []*delayed.Value{total, drops}, delayed.Optimized())
		switch {
		case errors.Is(err, delayed.ErrNoGraphviz):
			res.DOT = cfg.Graph + ".dot"
			fmt.Fprintf(out, "graph: %s (install graphviz for SVG)\n", res.DOT)
		case err != nil:
			return nil, fmt.Errorf("visualize: %w", err)
		default:
			res.DOT, res.SVG = cfg.Graph+".dot", cfg.Graph+".svg"
			fmt.Fprintf(out, "graph: %s and %s\n", res.DOT, res.SVG)
		}
	}

	c, closeMesh, err := cfg.Mesh.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeMesh()
	start := time.Now()
	vals, err := delayed.Compute(ctx, c, total, drops)
	if err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	if err := vals[0].Decode(&res.Total); err != nil {
		return nil, fmt.Errorf("decode the total: %w", err)
	}
	if err := vals[1].Decode(&res.Dropped); err != nil {
		return nil, fmt.Errorf("decode the dropped count: %w", err)
	}
	fmt.Fprintf(out, "%d parts × %d readings: %d kept, %d dropped; mean %.4f, min %.2f, max %.2f (%v)\n",
		cfg.Parts, cfg.Rows, res.Total.N, res.Dropped, res.Total.Mean(), res.Total.Min, res.Total.Max,
		time.Since(start).Round(time.Millisecond))
	return res, nil
}

func main() {
	// As a mesh node (join, status, run, ...): the mesh command line, in a
	// binary that knows the pipeline's functions.
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(cmd.Main(os.Args[1:]))
	}
	var cfg config
	fs := flag.CommandLine
	cfg.Mesh.AddFlags(fs)
	fs.IntVar(&cfg.Parts, "parts", 8, "parts to load")
	fs.IntVar(&cfg.Rows, "rows", 50_000, "readings per part")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated readings")
	fs.StringVar(&cfg.Graph, "graph", filepath.Join(os.TempDir(), "mesh-delayed-pipeline"), "write the graph to this path + .dot/.svg (empty: don't)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		exmesh.Fail("delayed", err)
	}
}
