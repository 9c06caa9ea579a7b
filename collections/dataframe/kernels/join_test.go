package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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

// joinRef is the nested-loop join of rows given as []any (nil for NA):
// every pair whose keys are all non-NA and equal, then the unmatched rows
// how keeps, rendered as HashJoin lays out its columns (keys named alike
// once, coalesced), sorted.
func joinRef(lcols []string, lrows [][]any, rcols []string, rrows [][]any, leftOn, rightOn []string, how string) []string {
	merged := map[string]bool{}
	for i := range leftOn {
		if leftOn[i] == rightOn[i] {
			merged[leftOn[i]] = true
		}
	}
	idx := func(cols []string, c string) int {
		for i, x := range cols {
			if x == c {
				return i
			}
		}
		return -1
	}
	render := func(lr, rr []any) string {
		var parts []string
		for i, c := range lcols {
			var v any
			switch {
			case lr != nil:
				v = lr[i]
			case merged[c]:
				v = rr[idx(rcols, c)]
			}
			parts = append(parts, fmt.Sprint(v))
		}
		for i, c := range rcols {
			if merged[c] {
				continue
			}
			var v any
			if rr != nil {
				v = rr[i]
			}
			parts = append(parts, fmt.Sprint(v))
		}
		return strings.Join(parts, ",")
	}
	var out []string
	matchedR := make([]bool, len(rrows))
	for _, lr := range lrows {
		found := false
		for j, rr := range rrows {
			ok := true
			for k := range leftOn {
				a, b := lr[idx(lcols, leftOn[k])], rr[idx(rcols, rightOn[k])]
				if a == nil || b == nil || a != b {
					ok = false
				}
			}
			if ok {
				out = append(out, render(lr, rr))
				found, matchedR[j] = true, true
			}
		}
		if !found && (how == "left" || how == "outer") {
			out = append(out, render(lr, nil))
		}
	}
	if how == "right" || how == "outer" {
		for j, rr := range rrows {
			if !matchedR[j] {
				out = append(out, render(nil, rr))
			}
		}
	}
	sort.Strings(out)
	return out
}

// rowsOf renders rec's rows as joinRef does.
func rowsOf(rec arrow.RecordBatch) []string {
	out := make([]string, rec.NumRows())
	for i := range out {
		var parts []string
		for _, c := range rec.Columns() {
			var v any
			if !c.IsNull(i) {
				switch a := c.(type) {
				case *array.Int64:
					v = int(a.Value(i))
				case *array.Float64:
					v = a.Value(i)
				case *array.String:
					v = a.Value(i)
				case *array.Boolean:
					v = a.Value(i)
				}
			}
			parts = append(parts, fmt.Sprint(v))
		}
		out[i] = strings.Join(parts, ",")
	}
	sort.Strings(out)
	return out
}

// HashJoin against the nested-loop join: every kind, int, string, float and
// bool keys, one and two keys, keys named alike or not, duplicate and NA
// keys, either side building (the smaller one builds), empty sides; the
// checked allocator finds leaks.
func TestHashJoinMatchesNestedLoop(t *testing.T) {
	mem := checkedMem(t)
	rng := rand.New(rand.NewPCG(9, 9))
	gen := func(n int, names []string) [][]any {
		rows := make([][]any, n)
		for i := range rows {
			row := make([]any, len(names))
			for c, name := range names {
				if strings.HasPrefix(name, "k") && rng.IntN(7) == 0 {
					continue // NA key
				}
				switch name {
				case "ki", "kj":
					row[c] = rng.IntN(4)
				case "ks":
					row[c] = string(rune('a' + rng.IntN(3)))
				case "kf":
					row[c] = float64(rng.IntN(3)) / 2
				case "kb":
					row[c] = rng.IntN(2) == 0
				default:
					row[c] = i
				}
			}
			rows[i] = row
		}
		return rows
	}
	build := func(names []string, rows [][]any) arrow.RecordBatch {
		var cols []any
		for c, name := range names {
			vals := make([]any, len(rows))
			for r := range rows {
				vals[r] = rows[r][c]
			}
			cols = append(cols, name, vals)
		}
		// typed even with no rows or only NAs: a first row of the column's kind, sliced away (the
		// columns then start at offset 1)
		cols2 := make([]any, len(cols))
		copy(cols2, cols)
		for c := 1; c < len(cols2); c += 2 {
			var probe any
			switch cols2[c-1].(string) {
			case "ks":
				probe = "z"
			case "kf":
				probe = 0.5
			case "kb":
				probe = true
			default:
				probe = 0
			}
			cols2[c] = append([]any{probe}, cols2[c].([]any)...)
		}
		full := table(t, mem, cols2...)
		defer full.Release()
		return Slice(full, 1, int64(len(rows))+1)
	}
	lcols := []string{"ki", "ks", "kf", "kb", "v", "w"}
	rcols := []string{"ki", "ks", "kj", "kf", "kb", "v"}
	keySets := [][2][]string{
		{{"ki"}, {"ki"}}, {{"ks"}, {"ks"}}, {{"kf"}, {"kf"}}, {{"kb"}, {"kb"}},
		{{"ks", "ki"}, {"ks", "ki"}}, {{"ki"}, {"kj"}}, {{"ki", "ks"}, {"kj", "ks"}},
	}
	for _, sizes := range [][2]int{{30, 12}, {12, 30}, {0, 10}, {10, 0}, {0, 0}, {1, 1}} {
		lrows, rrows := gen(sizes[0], lcols), gen(sizes[1], rcols)
		l, r := build(lcols, lrows), build(rcols, rrows)
		for _, keys := range keySets {
			for _, how := range []string{"inner", "left", "right", "outer"} {
				res, err := HashJoin(mem, l, r, keys[0], keys[1], how, [2]string{})
				if err != nil {
					t.Fatal(err)
				}
				got, want := rowsOf(res), joinRef(lcols, lrows, rcols, rrows, keys[0], keys[1], how)
				res.Release()
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("%v rows, keys %v, %s: got %d rows, want %d\ngot  %v\nwant %v", sizes, keys, how, len(got), len(want), got, want)
				}
			}
		}
		l.Release()
		r.Release()
	}
}
