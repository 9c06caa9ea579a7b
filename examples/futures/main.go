// Command futures is the Dask futures tutorial's search on a mesh: score
// many candidates in parallel, watch the results as they complete, keep the
// best so far, and cancel the rest once one is good enough.
//
//	fs = client.map(score, candidates)
//	for f in as_completed(fs):
//	    best = max(best, f.result())
//	    if best.value >= good: break
//	client.cancel([f for f in fs if not f.done()])
//	refined = client.submit(refine, best_future)
//	client.gather([best_future, refined])
//
// The scoring function stands in for training a model: a smooth function of
// (learning rate, depth) with seeded noise, taking -work per call. It is
// registered in init (search.score, search.refine).
//
// It runs on an in-process mesh of -nodes nodes. With -connect ADDR
// -secret-file FILE it uses a running mesh whose nodes all run this binary
// (they must know search.*): this program is also a mesh node when its
// first argument is a mesh command:
//
//	go build -o /tmp/search ./examples/futures
//	/tmp/search join --listen /ip4/127.0.0.1/tcp/0 --data-dir /tmp/s1      # and more nodes
//	/tmp/search -connect $(head -1 /tmp/s1/addr) -secret-file /tmp/s1/secret
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
	"strings"
	"time"

	"github.com/meshcompute/mesh/cmd"
	"github.com/meshcompute/mesh/examples/internal/exmesh"
	"github.com/meshcompute/mesh/futures"
)

func init() {
	futures.Register("search.score", score)
	futures.Register("search.refine", refine)
}

// Candidate is a point to score.
type Candidate struct {
	ID           int
	LearningRate float64
	Depth        int
	Seed         uint64
	WorkMS       int // how long scoring takes
}

// Result is a scored candidate.
type Result struct {
	Candidate Candidate
	Value     float64 // in (0, 1]; higher is better
}

// objective is the score without the work: best near learning rate 0.1
// and depth 6, with seeded noise of up to 3 %.
func objective(c Candidate) float64 {
	h := splitmix(c.Seed ^ math.Float64bits(c.LearningRate) ^ uint64(c.Depth)<<40)
	noise := float64(h>>11) / (1 << 53)
	l := math.Log10(c.LearningRate) + 1
	d := float64(c.Depth-6) / 3
	return math.Exp(-2*l*l-d*d) * (0.97 + 0.03*noise)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// score evaluates c (taking c.WorkMS, or until ctx ends).
func score(ctx context.Context, c Candidate) (Result, error) {
	select {
	case <-time.After(time.Duration(c.WorkMS) * time.Millisecond):
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	return Result{Candidate: c, Value: objective(c)}, nil
}

// refine looks around r: learning rates ×0.8 and ×1.25, depths ±1, and
// returns the best of them and r.
func refine(r Result) Result {
	best := r
	for _, f := range []float64{0.8, 1, 1.25} {
		for _, dd := range []int{-1, 0, 1} {
			c := r.Candidate
			c.LearningRate *= f
			c.Depth = max(c.Depth+dd, 1)
			if v := objective(c); v > best.Value {
				best = Result{Candidate: c, Value: v}
			}
		}
	}
	return best
}

// candidates draws n candidates (seeded): log-uniform learning rates in
// [1e-4, 1], depths 1..16.
func candidates(n int, seed uint64, workMS int) []Candidate {
	r := rand.New(rand.NewPCG(seed, 0x736561726368))
	out := make([]Candidate, n)
	for i := range out {
		out[i] = Candidate{ID: i, LearningRate: math.Pow(10, -4+4*r.Float64()), Depth: 1 + r.IntN(16), Seed: seed, WorkMS: workMS}
	}
	return out
}

type config struct {
	Mesh   exmesh.Mesh
	Tasks  int
	Seed   uint64
	WorkMS int
	Good   float64 // stop once a score reaches this
}

type result struct {
	Best      Result
	Refined   Result
	Seen      []int // IDs of the candidates whose scores were looked at, in that order
	Cancelled int   // futures cancelled when the search stopped
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	c, closeMesh, err := cfg.Mesh.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeMesh()

	start := time.Now()
	cands := candidates(cfg.Tasks, cfg.Seed, cfg.WorkMS)
	args := make([]any, len(cands))
	for i, cand := range cands {
		args[i] = cand
	}
	fs, err := c.Map(ctx, "search.score", args)
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	// Whatever happens, drop the mesh's copies at the end.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c.Release(rctx, fs...)
	}()

	res := &result{}
	var best *futures.Future
	for f, err := range c.AsCompleted(ctx, fs) {
		if err != nil {
			return nil, fmt.Errorf("as completed: %w", err)
		}
		var r Result
		if err := f.Result(ctx, &r); err != nil {
			return nil, fmt.Errorf("result of %s: %w", f.Key(), err)
		}
		res.Seen = append(res.Seen, r.Candidate.ID)
		if best == nil || r.Value > res.Best.Value {
			best, res.Best = f, r
			fmt.Fprintf(out, "best so far after %3d: %.4f (learning rate %.4g, depth %d)\n",
				len(res.Seen), r.Value, r.Candidate.LearningRate, r.Candidate.Depth)
		}
		if res.Best.Value >= cfg.Good {
			break
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no candidates")
	}

	// Good enough (or all done): cancel what has not finished.
	var rest []*futures.Future
	for _, f := range fs {
		if !f.Done() {
			rest = append(rest, f)
		}
	}
	if len(rest) > 0 {
		if err := c.Cancel(ctx, rest...); err != nil {
			return nil, fmt.Errorf("cancel: %w", err)
		}
	}
	for _, f := range rest {
		// A future that finished in the meantime keeps its result.
		if errors.Is(f.Err(ctx), futures.ErrCancelled) {
			res.Cancelled++
		}
	}
	fmt.Fprintf(out, "stopped after %d of %d scores; cancelled %d unfinished (%v)\n",
		len(res.Seen), cfg.Tasks, res.Cancelled, time.Since(start).Round(time.Millisecond))

	// A task on the best future (it runs where that result is), then both
	// results gathered.
	refined, err := c.Submit(ctx, "search.refine", best)
	if err != nil {
		return nil, fmt.Errorf("submit refine: %w", err)
	}
	defer c.Release(context.WithoutCancel(ctx), refined)
	both, err := futures.GatherAs[Result](ctx, c, []*futures.Future{best, refined})
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	res.Refined = both[1]
	fmt.Fprintf(out, "best %.4f (candidate %d), refined %.4f (learning rate %.4g, depth %d)\n",
		both[0].Value, both[0].Candidate.ID, res.Refined.Value, res.Refined.Candidate.LearningRate, res.Refined.Candidate.Depth)
	return res, nil
}

func main() {
	// As a mesh node (join, status, run, ...): the mesh command line, in a
	// binary that knows search.*.
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(cmd.Main(os.Args[1:]))
	}
	var cfg config
	fs := flag.CommandLine
	cfg.Mesh.AddFlags(fs)
	fs.IntVar(&cfg.Tasks, "tasks", 500, "candidates to score")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the candidates and the scores' noise")
	fs.IntVar(&cfg.WorkMS, "work", 20, "milliseconds each score takes")
	fs.Float64Var(&cfg.Good, "good", 0.95, "stop once a score reaches this (above 1: score everything)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		exmesh.Fail("futures", err)
	}
}
