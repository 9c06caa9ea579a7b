package kernels

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const fixtureDir = "../../../../shared/fixtures/dbbench"

func fixture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(fixtureDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("fixture %s absent (expected the shared/ checkout beside the repository): %v", p, err)
	}
	return p
}

func checkedMem(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// readPartitions reads a CSV file as n byte-range partitions.
func readPartitions(t testing.TB, mem memory.Allocator, path string, n int, opts CSVOptions) []arrow.RecordBatch {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	size := st.Size()
	var out []arrow.RecordBatch
	for i := 0; i < n; i++ {
		rec, err := ReadCSVRange(mem, f, size, size*int64(i)/int64(n), size*int64(i+1)/int64(n), opts)
		if err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
		out = append(out, rec)
	}
	return out
}

// cell is one value of a result table.
type cell struct {
	null bool
	num  bool
	f    float64
	s    string
}

func tableOf(t testing.TB, rec arrow.RecordBatch) [][]cell {
	t.Helper()
	rows := make([][]cell, rec.NumRows())
	for i := range rows {
		rows[i] = make([]cell, rec.NumCols())
	}
	for c := 0; c < int(rec.NumCols()); c++ {
		col := rec.Column(c)
		for r := range rows {
			if col.IsNull(r) {
				rows[r][c] = cell{null: true}
				continue
			}
			switch a := col.(type) {
			case *array.Int64:
				rows[r][c] = cell{num: true, f: float64(a.Value(r))}
			case *array.Float64:
				rows[r][c] = cell{num: true, f: a.Value(r)}
			case *array.String:
				rows[r][c] = cell{s: a.Value(r)}
			default:
				t.Fatalf("column %d: unexpected type %s", c, col.DataType())
			}
		}
	}
	return rows
}

func readAnswer(t testing.TB, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return all[0], all[1:]
}

func compareTable(t testing.TB, got [][]cell, header []string, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	bad := 0
	for r := range want {
		for c := range header {
			g, w := got[r][c], want[r][c]
			ok := true
			switch {
			case w == "":
				ok = g.null
			case g.null:
				ok = false
			case g.num:
				wf, err := strconv.ParseFloat(w, 64)
				if err != nil {
					ok = false
				} else {
					// relative tolerance 1e-9; an absolute floor of 1e-12 for values that are zero up to rounding
					// noise (q9's r2 of uncorrelated groups is ~1e-33 in DuckDB and here, with different noise)
					ok = g.f == wf || (math.IsNaN(g.f) && math.IsNaN(wf)) ||
						math.Abs(g.f-wf) <= max(1e-9*math.Max(math.Abs(g.f), math.Abs(wf)), 1e-12)
				}
			default:
				ok = g.s == w
			}
			if !ok {
				bad++
				if bad <= 5 {
					t.Errorf("row %d column %s: got %+v, want %q", r, header[c], g, w)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d cells differ", bad)
	}
}

type question struct {
	keys []string
	aggs []Agg
	// post turns the final (sorted) result into the answer's columns
	post func(t testing.TB, mem memory.Allocator, res arrow.RecordBatch) [][]cell
}

func questions() map[string]question {
	plain := func(t testing.TB, mem memory.Allocator, res arrow.RecordBatch) [][]cell { return tableOf(t, res) }
	return map[string]question{
		"q1": {keys: []string{"id1"}, aggs: []Agg{{Op: "sum", Col: "v1"}}},
		"q2": {keys: []string{"id1", "id2"}, aggs: []Agg{{Op: "sum", Col: "v1"}}},
		"q3": {keys: []string{"id3"}, aggs: []Agg{{Op: "sum", Col: "v1"}, {Op: "mean", Col: "v3"}}},
		"q4": {keys: []string{"id4"}, aggs: []Agg{{Op: "mean", Col: "v1"}, {Op: "mean", Col: "v2"}, {Op: "mean", Col: "v3"}}},
		"q5": {keys: []string{"id6"}, aggs: []Agg{{Op: "sum", Col: "v1"}, {Op: "sum", Col: "v2"}, {Op: "sum", Col: "v3"}}},
		"q6": {keys: []string{"id4", "id5"}, aggs: []Agg{{Op: "median", Col: "v3", Name: "median_v3"}, {Op: "std", Col: "v3", Name: "sd_v3"}}},
		"q7": {keys: []string{"id3"}, aggs: []Agg{{Op: "max", Col: "v1", Name: "max_v1"}, {Op: "min", Col: "v2", Name: "min_v2"}},
			post: func(t testing.TB, mem memory.Allocator, res arrow.RecordBatch) [][]cell {
				rows := tableOf(t, res)
				for i, r := range rows {
					d := cell{null: r[1].null || r[2].null, num: true, f: r[1].f - r[2].f}
					rows[i] = []cell{r[0], d}
				}
				return rows
			}},
		"q8": {keys: []string{"id6"}, aggs: []Agg{{Op: "nlargest", Col: "v3", N: 2, Name: "largest2_v3"}},
			post: func(t testing.TB, mem memory.Allocator, res arrow.RecordBatch) [][]cell {
				ex, err := Explode(mem, res, "largest2_v3")
				if err != nil {
					t.Fatal(err)
				}
				defer ex.Release()
				s, err := Sort(mem, ex, []string{"id6", "largest2_v3"}, []bool{false, true}, true)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Release()
				return tableOf(t, s)
			}},
		"q9": {keys: []string{"id2", "id4"}, aggs: []Agg{{Op: "corr", Col: "v1", Col2: "v2", Name: "r2"}},
			post: func(t testing.TB, mem memory.Allocator, res arrow.RecordBatch) [][]cell {
				rows := tableOf(t, res)
				for _, r := range rows {
					r[2].f *= r[2].f
				}
				return rows
			}},
		"q10": {keys: []string{"id1", "id2", "id3", "id4", "id5", "id6"}, aggs: []Agg{{Op: "sum", Col: "v3"}, {Op: "size", Name: "count"}}, post: plain},
	}
}

// finish sorts a final result by its keys (NA last) and converts it for comparison.
func finish(t testing.TB, mem memory.Allocator, q question, res arrow.RecordBatch) [][]cell {
	t.Helper()
	s, err := Sort(mem, res, q.keys, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if q.post != nil {
		return q.post(t, mem, s)
	}
	return tableOf(t, s)
}

func TestGroupByFixtures(t *testing.T) {
	for _, data := range []string{"G1_1e5_1e2_0_0", "G1_1e5_1e1_5_0"} {
		t.Run(data, func(t *testing.T) {
			path := fixture(t, data+".csv")
			mem := checkedMem(t)
			parts := readPartitions(t, mem, path, 4, CSVOptions{})
			defer releaseAll(parts)
			total := int64(0)
			for _, p := range parts {
				total += p.NumRows()
			}
			if total != 100000 {
				t.Fatalf("read %d rows, want 100000", total)
			}
			qs := questions()
			for q := 1; q <= 10; q++ {
				name := fmt.Sprintf("q%d", q)
				qq := qs[name]
				header, want := readAnswer(t, filepath.Join(fixtureDir, "answers", data, name+".csv"))
				t.Run(name, func(t *testing.T) {
					partials := make([]arrow.RecordBatch, len(parts))
					for i, p := range parts {
						pr, err := GroupByPartial(mem, p, qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						partials[i] = pr
					}
					defer releaseAll(partials)

					t.Run("combine", func(t *testing.T) {
						c, err := GroupByCombine(mem, partials, qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						defer c.Release()
						res, err := GroupByFinal(mem, c, qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						defer res.Release()
						compareTable(t, finish(t, mem, qq, res), header, want)
					})
					t.Run("tree", func(t *testing.T) {
						a, err := GroupByCombine(mem, partials[:2], qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						defer a.Release()
						b, err := GroupByCombine(mem, partials[2:], qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						defer b.Release()
						c, err := GroupByCombine(mem, []arrow.RecordBatch{a, b}, qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						defer c.Release()
						res, err := GroupByFinal(mem, c, qq.keys, qq.aggs)
						if err != nil {
							t.Fatal(err)
						}
						defer res.Release()
						compareTable(t, finish(t, mem, qq, res), header, want)
					})
					t.Run("shuffle", func(t *testing.T) {
						const nb = 3
						buckets := make([][]arrow.RecordBatch, nb)
						for _, p := range partials {
							hs, err := HashPartition(mem, p, qq.keys, nb)
							if err != nil {
								t.Fatal(err)
							}
							for b, h := range hs {
								buckets[b] = append(buckets[b], h)
							}
						}
						var finals []arrow.RecordBatch
						for _, bs := range buckets {
							c, err := GroupByCombine(mem, bs, qq.keys, qq.aggs)
							releaseAll(bs)
							if err != nil {
								t.Fatal(err)
							}
							f, err := GroupByFinal(mem, c, qq.keys, qq.aggs)
							c.Release()
							if err != nil {
								t.Fatal(err)
							}
							finals = append(finals, f)
						}
						all, err := Concat(mem, finals)
						releaseAll(finals)
						if err != nil {
							t.Fatal(err)
						}
						defer all.Release()
						compareTable(t, finish(t, mem, qq, all), header, want)
					})
				})
			}
		})
	}
}
