package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/meshcompute/mesh/examples/internal/extest"
)

func TestMain(m *testing.M) { extest.Main(m) }

func TestBagToDataFrame(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := config{Mesh: extest.Mesh(t), Data: dir, Rows: 6_000, Files: 3, Seed: 9, BlockSize: 48 << 10, Top: 5}
	var out bytes.Buffer
	res, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	// The same from the files, with encoding/json and maps.
	names := map[string]int64{}
	type acc struct {
		n, scored    int64
		ms, scoreSum float64
	}
	byCity := map[string]*acc{}
	var events int64
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			events++
			names[e.Name]++
			a := byCity[e.City]
			if a == nil {
				a = &acc{}
				byCity[e.City] = a
			}
			a.n++
			a.ms += float64(e.MS)
			if e.Score != nil {
				a.scored++
				a.scoreSum += *e.Score
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if events != int64(cfg.Rows) || res.Events != events {
		t.Errorf("%d events in the DataFrame, %d in the files, %d generated", res.Events, events, cfg.Rows)
	}
	if res.Partitions <= cfg.Files {
		t.Errorf("%d bag partitions: want more than one per file at this block size", res.Partitions)
	}

	counts := make([]int64, 0, len(names))
	for _, n := range names {
		counts = append(counts, n)
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i] > counts[j] })
	if len(res.TopNames) != cfg.Top {
		t.Fatalf("%d top names, want %d", len(res.TopNames), cfg.Top)
	}
	for i, p := range res.TopNames {
		if names[p.Value] != p.Count || p.Count != counts[i] {
			t.Errorf("name %d: %s × %d; the files have it %d times, rank %d has %d", i, p.Value, p.Count, names[p.Value], i, counts[i])
		}
	}

	var cities []string
	for c := range byCity {
		cities = append(cities, c)
	}
	slices.Sort(cities)
	if len(res.Cities) != len(cities) {
		t.Fatalf("%d cities, want %d", len(res.Cities), len(cities))
	}
	var scoredAll, all int64
	for i, got := range res.Cities {
		a := byCity[cities[i]]
		want := city{City: cities[i], Events: a.n, MeanMS: a.ms / float64(a.n), Scored: a.scored, MeanScore: a.scoreSum / float64(a.scored)}
		if got.City != want.City || got.Events != want.Events || got.Scored != want.Scored ||
			math.Abs(got.MeanMS-want.MeanMS) > 1e-9 || math.Abs(got.MeanScore-want.MeanScore) > 1e-9 {
			t.Errorf("got %+v, want %+v", got, want)
		}
		scoredAll += a.scored
		all += a.n
	}
	if scoredAll == all {
		t.Error("every generated event has a score: the null path is not exercised")
	}
}
