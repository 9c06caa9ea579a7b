package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshcompute/mesh/examples/internal/extest"
)

func TestMain(m *testing.M) { extest.Main(m) }

// reference computes the answer from the CSV files with encoding/csv and
// maps: every IPA beer's mean review_overall and review count.
func reference(t *testing.T, dir string) (rows int64, perBeer map[string]beer) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	perBeer = map[string]beer{}
	sums := map[string]float64{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for _, r := range recs[1:] {
			rows++
			if !strings.Contains(r[col["beer_style"]], "IPA") {
				continue
			}
			v, err := strconv.ParseFloat(r[col["review_overall"]], 64)
			if err != nil {
				t.Fatal(err)
			}
			name := r[col["beer_name"]]
			b := perBeer[name]
			b.Name = name
			b.Reviews++
			sums[name] += v
			b.Mean = sums[name] / float64(b.Reviews)
			perBeer[name] = b
		}
	}
	return rows, perBeer
}

func TestBestIPAs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := config{
		Mesh: extest.Mesh(t), Data: dir,
		Rows: 12_000, Files: 3, Seed: 7, MinReviews: 12, Top: 10, BlockSize: 160 << 10,
	}
	var out bytes.Buffer
	res, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	rows, perBeer := reference(t, dir)
	if res.Rows != rows || rows != int64(cfg.Rows) {
		t.Errorf("%d rows read, the files have %d (generated %d)", res.Rows, rows, cfg.Rows)
	}
	if res.Partitions < cfg.Files {
		t.Errorf("%d partitions, want at least one per file (%d)", res.Partitions, cfg.Files)
	}
	var want []beer
	for _, b := range perBeer {
		if b.Reviews >= cfg.MinReviews {
			want = append(want, b)
		}
	}
	slices.SortFunc(want, func(a, b beer) int { return cmp.Compare(b.Mean, a.Mean) })
	want = want[:min(len(want), cfg.Top)]
	if len(want) < cfg.Top {
		t.Fatalf("the generated data has only %d qualifying beers; the test needs %d", len(want), cfg.Top)
	}
	if len(res.Top) != len(want) {
		t.Fatalf("got %d beers, want %d: %v", len(res.Top), len(want), res.Top)
	}
	for i, b := range res.Top {
		ref, ok := perBeer[b.Name]
		switch {
		case !ok:
			t.Errorf("%d: %q is not an IPA of the data", i, b.Name)
		case b.Reviews != ref.Reviews || math.Abs(b.Mean-ref.Mean) > 1e-9:
			t.Errorf("%d: %q mean %v over %d reviews, want %v over %d", i, b.Name, b.Mean, b.Reviews, ref.Mean, ref.Reviews)
		}
		// Ties may come in any order: compare the ranks' means.
		if math.Abs(b.Mean-want[i].Mean) > 1e-9 {
			t.Errorf("rank %d: mean %v (%q), want %v (%q)", i+1, b.Mean, b.Name, want[i].Mean, want[i].Name)
		}
	}

	// A second run on the same directory reads the files already there.
	out.Reset()
	again, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "wrote") || !slices.Equal(again.Top, res.Top) {
		t.Errorf("second run regenerated the data or differs:\n%s", out.String())
	}
}

// The generator is deterministic: the same seed writes the same bytes.
func TestGenerateDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	pa, err := generate(a, 2000, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := generate(b, 2000, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pa {
		x, _ := os.ReadFile(pa[i])
		y, _ := os.ReadFile(pb[i])
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Fatalf("%s and %s differ (or are empty)", pa[i], pb[i])
		}
	}
}
