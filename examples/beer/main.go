// Command beer is the DataFrame tutorial on beer reviews: which IPAs do
// reviewers like best?
//
// It writes CSV files shaped like the BeerAdvocate review dump (one row per
// review: brewery_name, beer_name, beer_style, review_overall,
// review_aroma, ...; seeded, so every run writes the same rows) and, as
// the pandas/Dask tutorial does,
//
//	df = dd.read_csv("reviews/*.csv")
//	ipa = df[df.beer_style.str.contains("IPA")]
//	g = ipa.groupby("beer_name").review_overall.agg(["mean", "count"])
//	g[g["count"] >= 20].nlargest(10, "mean")
//
// runs the same plan on a mesh: an in-process one of -nodes nodes by
// default, or a running mesh with -connect ADDR -secret-file FILE (the
// files must then be readable at the same path on every node: give -data a
// shared directory). No registered functions are needed.
//
//	go run ./examples/beer -rows 500000 -min-reviews 50
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/examples/internal/exmesh"
)

type config struct {
	Mesh       exmesh.Mesh
	Data       string // directory of the CSV files; empty: a temporary one
	Keep       bool   // keep the temporary directory
	Rows       int    // reviews to generate
	Files      int    // CSV files to write them to
	Seed       uint64 // generator seed
	MinReviews int64  // beers with fewer IPA reviews are left out
	Top        int    // how many beers to show
	BlockSize  int64  // bytes of CSV per partition
}

// beer is a row of the answer.
type beer struct {
	Name    string
	Mean    float64 // mean review_overall
	Reviews int64
}

// result is what run found.
type result struct {
	Rows       int64 // reviews read
	Partitions int
	Top        []beer
	Dir        string
}

// columns of the generated files, in the order of the BeerAdvocate dump.
var columns = []string{"brewery_id", "brewery_name", "review_time", "review_overall", "review_aroma",
	"review_appearance", "review_profilename", "beer_style", "review_palate", "review_taste", "beer_name",
	"beer_abv", "beer_beerid"}

var styles = []string{
	"American IPA", "American Double / Imperial IPA", "English India Pale Ale (IPA)", "Belgian IPA",
	"Black IPA", "American Pale Ale (APA)", "American Porter", "Russian Imperial Stout", "Hefeweizen",
	"Saison / Farmhouse Ale", "American Amber / Red Ale", "Czech Pilsener", "Witbier", "Fruit / Vegetable Beer",
}

var (
	nameA = []string{"Hop", "Dank", "Citra", "Old", "Pale", "Golden", "Black", "Double", "West Coast", "Hazy", "Resin", "Pine", "Northern", "Simcoe", "Mosaic", "Bitter"}
	nameB = []string{"Storm", "Rider", "Bomb", "Monster", "Trail", "Crush", "Harvest", "Lupulin", "Dream", "Valley", "Hammer", "Wave", "Kettle", "Fog", "Peak", "Canyon"}
	brew  = []string{"Stone", "Lagunitas", "Bell's", "Founders", "Russian River", "Dogfish Head", "Sierra Nevada", "Tree House", "Hill Farmstead", "Three Floyds", "Alchemist", "Firestone Walker"}
)

// generate writes cfg.Rows reviews to cfg.Files CSV files in dir and
// returns their paths. The same seed writes the same bytes.
func generate(dir string, rows, files int, seed uint64) ([]string, error) {
	r := rand.New(rand.NewPCG(seed, 0x6265657273))
	nbeers := max(rows/60, 20)
	type beerInfo struct {
		name, style, brewery string
		breweryID, id        int
		quality, abv         float64
	}
	beers := make([]beerInfo, nbeers)
	for i := range beers {
		b := &beers[i]
		b.id = 1000 + i
		b.breweryID = r.IntN(len(brew))
		b.brewery = brew[b.breweryID]
		b.name = fmt.Sprintf("%s %s %d", nameA[r.IntN(len(nameA))], nameB[r.IntN(len(nameB))], 1+r.IntN(99))
		b.style = styles[r.IntN(len(styles))]
		b.quality = 2.5 + 2*r.Float64()
		b.abv = math.Round((4+r.Float64()*8)*10) / 10
	}
	// Popular beers get most reviews (Zipf-like).
	zipf := rand.NewZipf(r, 1.1, 3, uint64(nbeers-1))
	score := func(q float64) string {
		v := math.Round((q+r.NormFloat64()*0.6)*2) / 2
		return strconv.FormatFloat(min(max(v, 1), 5), 'f', 1, 64)
	}
	paths := make([]string, files)
	per := (rows + files - 1) / files
	for f := range files {
		paths[f] = filepath.Join(dir, fmt.Sprintf("reviews-%02d.csv", f))
		out, err := os.Create(paths[f])
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		w := csv.NewWriter(out)
		w.Write(columns)
		for i := f * per; i < min((f+1)*per, rows); i++ {
			b := beers[zipf.Uint64()]
			abv := strconv.FormatFloat(b.abv, 'f', 1, 64)
			if b.id%17 == 0 {
				abv = "" // missing, as in the real dump
			}
			w.Write([]string{
				strconv.Itoa(b.breweryID), b.brewery, strconv.FormatInt(1_000_000_000+int64(i)*613, 10),
				score(b.quality), score(b.quality), score(b.quality), fmt.Sprintf("user%d", r.IntN(5000)),
				b.style, score(b.quality), score(b.quality), b.name, abv, strconv.Itoa(b.id),
			})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			out.Close()
			return nil, fmt.Errorf("generate %s: %w", paths[f], err)
		}
		if err := out.Close(); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	}
	return paths, nil
}

// run generates the data (unless cfg.Data holds it already), then computes
// the best IPAs on the mesh.
func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	dir, cleanup, err := exmesh.DataDir(cfg.Data, "mesh-beer-*", cfg.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	pattern := filepath.Join(dir, "*.csv")
	if have, _ := filepath.Glob(pattern); len(have) == 0 {
		start := time.Now()
		if _, err := generate(dir, cfg.Rows, cfg.Files, cfg.Seed); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "wrote %d reviews to %d files in %s (%v)\n", cfg.Rows, cfg.Files, dir, time.Since(start).Round(time.Millisecond))
	}

	c, closeMesh, err := cfg.Mesh.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeMesh()

	start := time.Now()
	df, err := dataframe.ReadCSV(pattern, dataframe.BlockSize(cfg.BlockSize),
		dataframe.Types(map[string]string{"review_overall": "float64", "beer_abv": "float64"}))
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	n, err := df.Len(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}

	// The plan: nothing runs until Compute. Only beer_style, beer_name and
	// review_overall are read from the files (projection push-down).
	ipa := df.Filter(dataframe.Col("beer_style").Contains("IPA"))
	perBeer := ipa.GroupBy("beer_name").Agg(
		dataframe.Mean("review_overall").As("mean"),
		dataframe.Count("review_overall").As("reviews"),
	)
	top := perBeer.Filter(dataframe.Col("reviews").Ge(cfg.MinReviews)).NLargest(cfg.Top, "mean")
	fmt.Fprintf(out, "the group-by's plan:\n%s", perBeer.Explain())

	tbl, err := top.Compute(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	defer tbl.Release()
	res := &result{Rows: n, Partitions: df.NPartitions(), Dir: dir}
	if res.Top, err = beers(tbl); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%d reviews in %d partitions; the best IPAs with at least %d reviews (%v):\n",
		n, res.Partitions, cfg.MinReviews, time.Since(start).Round(time.Millisecond))
	for i, b := range res.Top {
		fmt.Fprintf(out, "%3d. %-24s %.3f  (%d reviews)\n", i+1, b.Name, b.Mean, b.Reviews)
	}
	return res, nil
}

// beers reads the answer's rows out of the Arrow table.
func beers(tbl arrow.Table) ([]beer, error) {
	var out []beer
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		s := rec.Schema()
		name, ok1 := rec.Column(s.FieldIndices("beer_name")[0]).(*array.String)
		mean, ok2 := rec.Column(s.FieldIndices("mean")[0]).(*array.Float64)
		cnt, ok3 := rec.Column(s.FieldIndices("reviews")[0]).(*array.Int64)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("unexpected result schema %v", s)
		}
		for i := range int(rec.NumRows()) {
			out = append(out, beer{Name: name.Value(i), Mean: mean.Value(i), Reviews: cnt.Value(i)})
		}
	}
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	return out, nil
}

func main() {
	var cfg config
	fs := flag.CommandLine
	cfg.Mesh.AddFlags(fs)
	fs.StringVar(&cfg.Data, "data", "", "directory of the review CSV files (generated there if it has none; default: a temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary data directory")
	fs.IntVar(&cfg.Rows, "rows", 200_000, "reviews to generate")
	fs.IntVar(&cfg.Files, "files", 4, "CSV files to generate")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "generator seed")
	fs.Int64Var(&cfg.MinReviews, "min-reviews", 20, "leave out beers with fewer IPA reviews")
	fs.IntVar(&cfg.Top, "top", 10, "beers to show")
	fs.Int64Var(&cfg.BlockSize, "block-size", 4<<20, "bytes of CSV per partition")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		exmesh.Fail("beer", err)
	}
}
