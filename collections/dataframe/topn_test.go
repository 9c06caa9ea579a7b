package dataframe

import (
	"cmp"
	"encoding/csv"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// readCSVRows reads a whole CSV file with encoding/csv (header first).
func readCSVRows(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// normRow renders a fixture row for comparison: NA as "NA", column v3
// (index 8) with its 6 decimals.
func normRow(r []string) string {
	out := make([]string, len(r))
	for i, v := range r {
		switch {
		case v == "":
			out[i] = "NA"
		case i == 8:
			f, _ := strconv.ParseFloat(v, 64)
			out[i] = strconv.FormatFloat(f, 'f', 6, 64)
		default:
			out[i] = v
		}
	}
	return strings.Join(out, ",")
}

// recordLines renders a result's rows like normRow.
func recordLines(t *testing.T, rec arrow.RecordBatch) []string {
	t.Helper()
	out := make([]string, rec.NumRows())
	for i := range out {
		cells := make([]string, rec.NumCols())
		for c, col := range rec.Columns() {
			if col.IsNull(i) {
				cells[c] = "NA"
				continue
			}
			switch a := col.(type) {
			case *array.Int64:
				cells[c] = strconv.FormatInt(a.Value(i), 10)
			case *array.Float64:
				cells[c] = strconv.FormatFloat(a.Value(i), 'f', 6, 64)
			case *array.String:
				cells[c] = a.Value(i)
			default:
				t.Fatalf("column %s: type %s", rec.Schema().Field(c).Name, col.DataType())
			}
		}
		out[i] = strings.Join(cells, ",")
	}
	return out
}

// refTopRows is the plain computation of GroupBy(keys).NLargest/NSmallest
// on the rows that keep: groups in the order of their first row with a
// value of col (NA keys a group), each group's rows with a value stably
// sorted best first, the first n. Rows are normRow's.
func refTopRows(rows [][]string, keys []int, col, n int, largest bool, keep func([]string) bool) []string {
	var order []string
	groups := map[string][][]string{}
	for _, r := range rows {
		if !keep(r) {
			continue
		}
		var k []string
		for _, i := range keys {
			k = append(k, r[i])
		}
		g := strings.Join(k, "\x00")
		if r[col] == "" {
			continue
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	var out []string
	for _, g := range order {
		rs := groups[g]
		slices.SortStableFunc(rs, func(a, b []string) int {
			x, _ := strconv.ParseFloat(a[col], 64)
			y, _ := strconv.ParseFloat(b[col], 64)
			if largest {
				return cmp.Compare(y, x)
			}
			return cmp.Compare(x, y)
		})
		for _, r := range rs[:min(n, len(rs))] {
			out = append(out, normRow(r))
		}
	}
	return out
}

// byGroup splits rendered rows by their key cells (keys: column indices),
// checking that each group's rows are contiguous.
func byGroup(t *testing.T, lines []string, keys []int) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	prev := ""
	for _, l := range lines {
		cells := strings.Split(l, ",")
		var k []string
		for _, i := range keys {
			k = append(k, cells[i])
		}
		g := strings.Join(k, ",")
		if _, seen := out[g]; seen && g != prev {
			t.Fatalf("group %s: rows not together", g)
		}
		out[g] = append(out[g], l)
		prev = g
	}
	return out
}

// Top n rows per group on the db-benchmark fixture (with NAs), in several
// partitions, by a tree and by a hash shuffle (SplitOut), against a plain
// Go computation and DuckDB's q8 answer.
func TestGroupByNBestRows(t *testing.T) {
	rows := readCSVRows(t, fixture)
	header, data := rows[0], rows[1:]
	idx := func(name string) int { return slices.Index(header, name) }
	all := func([]string) bool { return true }
	ctx, c := testCluster(t)
	st, err := os.Stat(fixture)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ReadCSV(fixture, BlockSize(st.Size()/6+1))
	if err != nil {
		t.Fatal(err)
	}
	if d.NPartitions() < 6 {
		t.Fatalf("%d partitions", d.NPartitions())
	}

	check := func(name string, df *DataFrame, keys []int, want []string, splitOut int) []string {
		t.Helper()
		if df.NPartitions() != max(splitOut, 1) {
			t.Fatalf("%s: %d partitions, want %d", name, df.NPartitions(), max(splitOut, 1))
		}
		if !slices.Equal(df.Columns(), header) {
			t.Fatalf("%s: columns %v", name, df.Columns())
		}
		rec, err := df.ComputeRecord(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := recordLines(t, rec)
		rec.Release()
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d", name, len(got), len(want))
		}
		if splitOut <= 1 { // groups in order of their first value, rows best first
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: row %d is %s, want %s", name, i, got[i], want[i])
				}
			}
			return got
		}
		gg, wg := byGroup(t, got, keys), byGroup(t, want, keys)
		if len(gg) != len(wg) {
			t.Fatalf("%s: %d groups, want %d", name, len(gg), len(wg))
		}
		for g, w := range wg {
			if !slices.Equal(gg[g], w) {
				t.Fatalf("%s: group %s: %v, want %v", name, g, gg[g], w)
			}
		}
		return got
	}

	// q8 in row form: the two largest v3 per id6 (1e4 groups, NA id6 one of them).
	id6, v3 := idx("id6"), idx("v3")
	want := refTopRows(data, []int{id6}, v3, 2, true, all)
	tree := d.GroupBy("id6").NLargest(2, "v3")
	if e := tree.Explain(); !strings.Contains(e, "group-nlargest 2 v3 by [id6] split-out 1") {
		t.Errorf("explain:\n%s", e)
	}
	q8 := check("q8 tree", tree, []int{id6}, want, 1)
	shuffled := d.GroupBy("id6").SplitOut(4).NLargest(2, "v3")
	check("q8 split-out 4", shuffled, []int{id6}, want, 4)
	checkQ8Answer(t, q8, id6, v3)

	// Many ties (v1 is 1..5), two keys, a fused filter before it.
	id1, id4, v1 := idx("id1"), idx("id4"), idx("v1")
	v2 := idx("v2")
	keep := func(r []string) bool {
		x, err := strconv.Atoi(r[v2])
		return err == nil && x > 5
	}
	want = refTopRows(data, []int{id1, id4}, v1, 3, false, keep)
	f := d.Filter(Col("v2").Gt(5))
	check("nsmallest tree", f.GroupBy("id1", "id4").NSmallest(3, "v1"), []int{id1, id4}, want, 1)
	check("nsmallest split-out 3", f.GroupBy("id1", "id4").SplitOut(3).NSmallest(3, "v1"), []int{id1, id4}, want, 3)

	// Whole groups (n beyond every group's size) over persisted input.
	p, err := d.Select(header...).Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(ctx, c)
	id3 := idx("id3")
	want = refTopRows(data, []int{id3}, v2, 1000, true, all)
	check("id3 all rows split-out 2", p.GroupBy("id3").SplitOut(2).NLargest(1000, "v2"), []int{id3}, want, 2)

	// The result is a DataFrame like any other: its schema, and more steps.
	s, err := tree.Schema(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := d.Schema(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(ds) {
		t.Fatalf("schema %s, want %s", s, ds)
	}
	n, err := shuffled.Filter(Col("v3").Gt(50)).Len(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	wantN := 0
	for _, l := range q8 {
		if x, _ := strconv.ParseFloat(strings.Split(l, ",")[v3], 64); x > 50 {
			wantN++
		}
	}
	if n != int64(wantN) {
		t.Fatalf("filtered len %d, want %d", n, wantN)
	}
}

// checkQ8Answer: the v3 values of the rows, per id6 (sorted by id6, NA
// last, then v3 descending), are DuckDB's q8 answer.
func checkQ8Answer(t *testing.T, lines []string, id6, v3 int) {
	t.Helper()
	ans := readCSVRows(t, "../../../shared/fixtures/dbbench/answers/G1_1e5_1e1_5_0/q8.csv")[1:]
	type pair struct {
		id  int64 // -1: NA
		val float64
	}
	parse := func(id, v string) pair {
		p := pair{id: -1}
		if id != "" && id != "NA" {
			p.id, _ = strconv.ParseInt(id, 10, 64)
		}
		p.val, _ = strconv.ParseFloat(v, 64)
		return p
	}
	order := func(a, b pair) int {
		na, nb := a.id < 0, b.id < 0
		switch {
		case na != nb:
			if na {
				return 1
			}
			return -1
		case a.id != b.id:
			return cmp.Compare(a.id, b.id)
		}
		return cmp.Compare(b.val, a.val)
	}
	var got, want []pair
	for _, l := range lines {
		cells := strings.Split(l, ",")
		got = append(got, parse(cells[id6], cells[v3]))
	}
	for _, r := range ans {
		want = append(want, parse(r[0], r[1]))
	}
	slices.SortFunc(got, order)
	if len(got) != len(want) {
		t.Fatalf("q8: %d rows, DuckDB has %d", len(got), len(want))
	}
	for i := range got {
		if got[i].id != want[i].id || math.Abs(got[i].val-want[i].val) > 1e-9*math.Max(1, math.Abs(want[i].val)) {
			t.Fatalf("q8 row %d: %v, DuckDB %v", i, got[i], want[i])
		}
	}
}

func TestGroupByNBestErrors(t *testing.T) {
	ctx, c := testCluster(t)
	d, err := ReadCSV(fixture)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	for _, tc := range []struct {
		df   *DataFrame
		want string
	}{
		{d.GroupBy("id6").NLargest(0, "v3"), "n is 0, want n >= 1"},
		{d.GroupBy("id6").NSmallest(-2, "v3"), "n is -2"},
		{d.GroupBy("id6").NLargest(2, "nope"), `no column "nope"`},
		{d.GroupBy("id6", "key").NLargest(2, "v3"), `no column "key"`},
		{d.GroupBy().NLargest(2, "v3"), "no group keys"},
	} {
		_, err := tc.df.ComputeRecord(ctx, c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	// after MapPartitions the columns are not known to the plan: the
	// workers report a missing one
	_, err = d.MapPartitions("test.scale", "v3", 2.0).GroupBy("id6").NLargest(1, "nope").ComputeRecord(ctx, c)
	if err == nil || !strings.Contains(err.Error(), `unknown column "nope"`) {
		t.Fatalf("nlargest of a missing column after MapPartitions: %v", err)
	}
}
