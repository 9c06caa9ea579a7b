package kernels

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func readWhole(t testing.TB, mem memory.Allocator, path string) arrow.RecordBatch {
	t.Helper()
	parts := readPartitions(t, mem, path, 2, CSVOptions{})
	defer releaseAll(parts)
	r, err := Concat(mem, parts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestJoinFixtures(t *testing.T) {
	fixture(t, "J1_1e5_NA_0_0.csv")
	mem := checkedMem(t)
	x := readWhole(t, mem, filepath.Join(fixtureDir, "J1_1e5_NA_0_0.csv"))
	defer x.Release()
	tables := map[string]arrow.RecordBatch{}
	for _, n := range []string{"small", "medium", "big"} {
		tables[n] = readWhole(t, mem, filepath.Join(fixtureDir, "J1_1e5_"+n+".csv"))
	}
	defer func() {
		for _, r := range tables {
			r.Release()
		}
	}()
	qs := []struct {
		right, on, how string
	}{
		{"small", "id1", "inner"},
		{"medium", "id2", "inner"},
		{"medium", "id2", "left"},
		{"medium", "id5", "inner"},
		{"big", "id3", "inner"},
	}
	for i, q := range qs {
		name := fmt.Sprintf("q%d", i+1)
		header, want := readAnswer(t, filepath.Join(fixtureDir, "answers", "J1_1e5", name+".csv"))
		if _, err := os.Stat(filepath.Join(fixtureDir, "answers", "J1_1e5", name+".csv")); err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T, res arrow.RecordBatch, v1, v2 string) {
			sums, err := Reduce(mem, res, []Agg{{Op: "size", Name: "rows"}, {Op: "sum", Col: v1, Name: "sum_v1"}, {Op: "sum", Col: v2, Name: "sum_v2"}})
			if err != nil {
				t.Fatal(err)
			}
			defer sums.Release()
			compareTable(t, tableOf(t, sums), header, want)
		}
		t.Run(name, func(t *testing.T) {
			res, err := HashJoin(mem, x, tables[q.right], []string{q.on}, []string{q.on}, q.how, [2]string{})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Release()
			check(t, res, "v1", "v2")
		})
		// the same join with the sides swapped (the other side builds)
		t.Run(name+"/swapped", func(t *testing.T) {
			how := q.how
			if how == "left" {
				how = "right"
			}
			res, err := HashJoin(mem, tables[q.right], x, []string{q.on}, []string{q.on}, how, [2]string{"_r", "_l"})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Release()
			check(t, res, "v1", "v2")
		})
	}
}
