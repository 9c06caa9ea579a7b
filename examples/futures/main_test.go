package main

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meshcompute/mesh/examples/internal/extest"
)

func TestMain(m *testing.M) { extest.Main(m) }

func TestSearch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := extest.Mesh(t)
	const tasks, seed = 80, 3

	// The scores, computed here without the mesh.
	cands := candidates(tasks, seed, 0)
	want := make([]float64, tasks)
	best := 0
	for i, c := range cands {
		want[i] = objective(c)
		if want[i] > want[best] {
			best = i
		}
	}

	t.Run("everything", func(t *testing.T) {
		// Unreachable: every score is looked at; the best is the maximum.
		var out bytes.Buffer
		res, err := run(ctx, config{Mesh: m, Tasks: tasks, Seed: seed, WorkMS: 1, Good: 2}, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		t.Logf("\n%s", out.String())
		seen := slices.Clone(res.Seen)
		slices.Sort(seen)
		if len(seen) != tasks || seen[0] != 0 || seen[tasks-1] != tasks-1 || slices.Compact(seen)[tasks-1] != tasks-1 {
			t.Errorf("looked at %d scores (%v), want each of %d once", len(res.Seen), res.Seen, tasks)
		}
		if res.Cancelled != 0 {
			t.Errorf("cancelled %d with nothing left to cancel", res.Cancelled)
		}
		if res.Best.Candidate.ID != best || res.Best.Value != want[best] {
			t.Errorf("best %+v, want candidate %d with %v", res.Best, best, want[best])
		}
		checkRefined(t, res)
	})

	t.Run("connect", func(t *testing.T) {
		// As with -connect ADDR -secret-file FILE: a client of its own.
		var out bytes.Buffer
		res, err := run(ctx, config{Mesh: extest.Connect(t), Tasks: tasks, Seed: seed, WorkMS: 1, Good: 2}, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if len(res.Seen) != tasks || res.Best.Candidate.ID != best || res.Best.Value != want[best] {
			t.Errorf("saw %d, best %+v, want candidate %d with %v", len(res.Seen), res.Best, best, want[best])
		}
	})

	t.Run("good enough", func(t *testing.T) {
		// Stop at the best score: the search ends when it comes in.
		good := want[best]
		var out bytes.Buffer
		res, err := run(ctx, config{Mesh: m, Tasks: tasks, Seed: seed, WorkMS: 15, Good: good}, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		t.Logf("\n%s", out.String())
		if res.Best.Candidate.ID != best || res.Best.Value < good {
			t.Errorf("stopped with %+v, want candidate %d (%v)", res.Best, best, good)
		}
		// The best is the best of those looked at, and the last one looked
		// at is the first that was good enough.
		var bestSeen float64
		for i, id := range res.Seen {
			bestSeen = max(bestSeen, want[id])
			if want[id] >= good && i != len(res.Seen)-1 {
				t.Errorf("candidate %d (%v) was good enough but the search went on", id, want[id])
			}
		}
		if res.Best.Value != bestSeen || res.Best.Value != want[res.Best.Candidate.ID] {
			t.Errorf("best %+v; the best seen scores %v, the candidate %v", res.Best, bestSeen, want[res.Best.Candidate.ID])
		}
		if len(res.Seen)+res.Cancelled > tasks {
			t.Errorf("%d seen + %d cancelled > %d tasks", len(res.Seen), res.Cancelled, tasks)
		}
		checkRefined(t, res)
	})
}

func checkRefined(t *testing.T, res *result) {
	t.Helper()
	if r := refine(res.Best); res.Refined != r || r.Value < res.Best.Value {
		t.Errorf("refined %+v, want %+v (no worse than %v)", res.Refined, r, res.Best.Value)
	}
}
