package dataframe

import (
	"context"
	"encoding/csv"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/futures"
)

const fixture = "../../../shared/fixtures/dbbench/G1_1e5_1e1_5_0.csv"

// Filter and WithColumn on a mesh, checked against a plain reading of the
// same CSV.
func TestFilterWithColumnGroupBy(t *testing.T) {
	f, err := os.Open(fixture)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// v1 is column 6; NA is empty.
	wantBig := 0
	wantSum := map[string]int64{} // id1 -> sum of 2*v1 over rows with v1 > 3
	for _, r := range rows[1:] {
		if r[6] == "" {
			continue
		}
		v, _ := strconv.Atoi(r[6])
		if v > 3 {
			wantBig++
			wantSum[r[0]] += int64(2 * v)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(fixture)
	d, err := ReadCSV(fixture, BlockSize(st.Size()/3+1))
	if err != nil {
		t.Fatal(err)
	}
	big := d.Filter(Col("v1").Gt(3))
	if n, err := big.Len(ctx, c); err != nil || n != int64(wantBig) {
		t.Fatalf("len of v1 > 3: %d %v, want %d", n, err, wantBig)
	}
	res := big.WithColumn("v4", Col("v1").Mul(2)).GroupBy("id1").Agg(Sum("v4"))
	if cols := res.Columns(); !slices.Equal(cols, []string{"id1", "v4"}) {
		t.Fatalf("columns %v", cols)
	}
	rec, err := res.ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	got := map[string]int64{}
	ids := rec.Column(0).(*array.String)
	for i := range int(rec.NumRows()) {
		key := ""
		if !ids.IsNull(i) {
			key = ids.Value(i)
		}
		got[key] = rec.Column(1).(*array.Int64).Value(i)
	}
	if len(got) != len(wantSum) {
		t.Fatalf("%d groups, want %d", len(got), len(wantSum))
	}
	for k, v := range wantSum {
		if got[k] != v {
			t.Fatalf("group %q: sum %d, want %d", k, got[k], v)
		}
	}
	// A bad column is a clear error, not a hang.
	_, err = d.Filter(Col("nope").Gt(1)).Len(ctx, c)
	if err == nil {
		t.Fatal("filter on a missing column succeeded")
	}
	t.Logf("error for a missing column: %v", err)
	_ = arrow.PrimitiveTypes.Int64
}

func TestNeededColumnsPushDown(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	e := Col("b").Gt(1)
	for _, tc := range []struct {
		steps []Step
		want  []string
	}{
		{nil, nil},
		{[]Step{{Op: "select", Cols: []string{"c", "a"}}}, []string{"a", "c"}},
		{[]Step{{Op: "filter", Expr: &e}, {Op: "select", Cols: []string{"a"}}}, []string{"a", "b"}},
		{[]Step{{Op: "groupby-partial", Keys: []string{"d"}, Aggs: nil}}, []string{"d"}},
		{[]Step{{Op: "len"}}, []string{"a"}},
		{[]Step{{Op: "select", Cols: []string{"c", "a"}}, {Op: "select", Cols: []string{"a"}}}, []string{"a"}},
	} {
		if got := neededColumns(names, tc.steps); !slices.Equal(got, tc.want) {
			t.Errorf("steps %v: %v, want %v", tc.steps, got, tc.want)
		}
	}
	// a select is narrowed to what the steps after it need (the reader
	// does not read the rest)
	_, steps := pushDown(names, []Step{{Op: "select", Cols: []string{"c", "a"}}, {Op: "len"}})
	if len(steps[0].Cols) != 0 {
		t.Errorf("select before len: %v", steps[0].Cols)
	}
	_, steps = pushDown(names, []Step{{Op: "select", Cols: []string{"c", "a", "b"}}, {Op: "select", Cols: []string{"b", "a"}}})
	if !slices.Equal(steps[0].Cols, []string{"a", "b"}) {
		t.Errorf("select then select: %v", steps[0].Cols)
	}
}
