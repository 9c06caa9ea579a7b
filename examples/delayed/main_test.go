package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcompute/mesh/collections/delayed"
	"github.com/meshcompute/mesh/examples/internal/extest"
)

func TestMain(m *testing.M) { extest.Main(m) }

func TestPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config{Mesh: extest.Mesh(t), Parts: 6, Rows: 3000, Seed: 4, Graph: filepath.Join(t.TempDir(), "g")}
	var out bytes.Buffer
	res, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	// The same calls, in this process, in the same order.
	cal := calibrate(cfg.Seed)
	var sums []Summary
	var drops []int
	for i := range cfg.Parts {
		raw := load(i, cfg.Rows, cfg.Seed)
		c := clean(raw, cal)
		sums = append(sums, summarize(c))
		drops = append(drops, dropped(raw, c))
	}
	want, wantDropped := combine(sums), addAll(drops)
	if res.Total != want || res.Dropped != wantDropped {
		t.Errorf("mesh: %+v, %d dropped; plain calls: %+v, %d dropped", res.Total, res.Dropped, want, wantDropped)
	}
	if res.Total.N+int64(res.Dropped) != int64(cfg.Parts*cfg.Rows) || res.Dropped == 0 {
		t.Errorf("%d kept + %d dropped != %d readings (or nothing dropped)", res.Total.N, res.Dropped, cfg.Parts*cfg.Rows)
	}

	// One graph, each value once: calibrate is shared by every clean, and
	// each load by its clean and its dropped count.
	total, drop := pipeline(cfg)
	g, _, err := delayed.Build(total, drop)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, ti := range g.Tasks() {
		calls[ti.Func]++
	}
	for fn, n := range map[string]int{"pipeline.calibrate": 1, "pipeline.load": cfg.Parts, "pipeline.clean": cfg.Parts,
		"pipeline.summarize": cfg.Parts, "pipeline.dropped": cfg.Parts, "pipeline.combine": 1, "pipeline.add_all": 1} {
		if calls[fn] != n {
			t.Errorf("%s: %d tasks in the graph, want %d (all: %v)", fn, calls[fn], n, calls)
		}
	}

	// The drawing.
	dot, err := os.ReadFile(res.DOT)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(dot), "digraph") || strings.Count(string(dot), `[label="pipeline.calibrate`) != 1 {
		t.Errorf("DOT file:\n%s", dot)
	}
	if _, err := exec.LookPath("dot"); err == nil {
		svg, err := os.ReadFile(res.SVG)
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("graphviz is installed but the SVG is missing or not SVG: %v", err)
		}
	}
}
