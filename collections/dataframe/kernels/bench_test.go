package kernels

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const benchRows = 1_000_000

var (
	benchOnce sync.Once
	benchCSV  []byte
)

// genG1 generates a db-benchmark groupby table (G1_<n>_1e2_0_0 shape) as CSV.
func genG1(n, k int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(n * 60)
	b.WriteString("id1,id2,id3,id4,id5,id6,v1,v2,v3\n")
	nk := max(n/k, 1)
	var line []byte
	for i := 0; i < n; i++ {
		line = line[:0]
		line = fmt.Appendf(line, "id%03d,id%03d,id%010d,", r.IntN(k)+1, r.IntN(k)+1, r.IntN(nk)+1)
		line = strconv.AppendInt(line, int64(r.IntN(k)+1), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(r.IntN(k)+1), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(r.IntN(nk)+1), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(r.IntN(5)+1), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(r.IntN(15)+1), 10)
		line = append(line, ',')
		line = strconv.AppendFloat(line, float64(r.IntN(100_000_000))/1e6, 'f', -1, 64)
		line = append(line, '\n')
		b.Write(line)
	}
	return b.Bytes()
}

func benchData(b *testing.B) []byte {
	benchOnce.Do(func() { benchCSV = genG1(benchRows, 100) })
	return benchCSV
}

func BenchmarkReadCSVRange(b *testing.B) {
	data := benchData(b)
	mem := memory.NewGoAllocator()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}

func benchGroupBy(b *testing.B, keys []string, aggs []Agg) {
	data := benchData(b)
	mem := memory.NewGoAllocator()
	rec, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Release()
	b.ResetTimer()
	var groups int64
	for i := 0; i < b.N; i++ {
		p, err := GroupByPartial(mem, rec, keys, aggs)
		if err != nil {
			b.Fatal(err)
		}
		res, err := GroupByFinal(mem, p, keys, aggs)
		if err != nil {
			b.Fatal(err)
		}
		groups = res.NumRows()
		p.Release()
		res.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
	b.ReportMetric(float64(groups), "groups")
}

func BenchmarkGroupByQ1(b *testing.B) {
	benchGroupBy(b, []string{"id1"}, []Agg{{Op: "sum", Col: "v1"}})
}

func BenchmarkGroupByQ3(b *testing.B) {
	benchGroupBy(b, []string{"id3"}, []Agg{{Op: "sum", Col: "v1"}, {Op: "mean", Col: "v3"}})
}

func BenchmarkGroupByQ10(b *testing.B) {
	benchGroupBy(b, []string{"id1", "id2", "id3", "id4", "id5", "id6"}, []Agg{{Op: "sum", Col: "v3"}, {Op: "size", Name: "count"}})
}

func BenchmarkHashJoin(b *testing.B) {
	data := benchData(b)
	mem := memory.NewGoAllocator()
	rec, err := ReadCSVRange(mem, bytes.NewReader(data), int64(len(data)), 0, int64(len(data)), CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Release()
	small, err := GroupBy(mem, rec, []string{"id6"}, []Agg{{Op: "size", Name: "n"}})
	if err != nil {
		b.Fatal(err)
	}
	defer small.Release()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j, err := HashJoin(mem, rec, small, []string{"id6"}, []string{"id6"}, "inner", [2]string{})
		if err != nil {
			b.Fatal(err)
		}
		j.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}

// The join fixture's x (1e5 rows: 3 int keys, 3 string keys, a float)
// joined as db-benchmark's q1 (a right table of 10 rows), q2 (1e3... rows)
// and q5 (1e5 rows); ns per row of x.
func BenchmarkJoinDBBench(b *testing.B) {
	fixture(b, "J1_1e5_NA_0_0.csv")
	mem := memory.NewGoAllocator()
	x := readWhole(b, mem, filepath.Join(fixtureDir, "J1_1e5_NA_0_0.csv"))
	defer x.Release()
	for _, q := range []struct{ name, right, on string }{{"q1", "small", "id1"}, {"q2", "medium", "id2"}, {"q4", "medium", "id5"}, {"q5", "big", "id3"}} {
		r := readWhole(b, mem, filepath.Join(fixtureDir, "J1_1e5_"+q.right+".csv"))
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				j, err := HashJoin(mem, x, r, []string{q.on}, []string{q.on}, "inner", [2]string{"", "_r"})
				if err != nil {
					b.Fatal(err)
				}
				j.Release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(x.NumRows()), "ns/row")
		})
		r.Release()
	}
	b.Run("partition8", func(b *testing.B) {
		for b.Loop() {
			parts, err := HashPartition(mem, x, []string{"id3"}, 8)
			if err != nil {
				b.Fatal(err)
			}
			releaseAll(parts)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(x.NumRows()), "ns/row")
	})
}

// joinPairs alone on two 1.3M-row integer keys (a q5 shuffle bucket's size
// at 1e7 rows): ns per row of the probe side (the build costs included).
func BenchmarkJoinPairs(b *testing.B) {
	mem := memory.NewGoAllocator()
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 1_300_000
	mk := func() *view {
		bl := array.NewInt64Builder(mem)
		defer bl.Release()
		for range n {
			bl.Append(int64(rng.IntN(n * 11 / 10)))
		}
		v, err := newView(bl.NewArray(), "k")
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	l, r := mk(), mk()
	defer l.arr.Release()
	defer r.arr.Release()
	for b.Loop() {
		joinPairs([]*view{l}, []*view{r}, n, n, false, false)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
}

func BenchmarkGroupByQ4(b *testing.B) {
	benchGroupBy(b, []string{"id4"}, []Agg{{Op: "mean", Col: "v1"}, {Op: "mean", Col: "v2"}, {Op: "mean", Col: "v3"}})
}
