package dataframe

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/futures"
)

// opsRow is one row of the test CSV; nil pointers are NA.
type opsRow struct {
	id int64
	g  *string
	x  *float64
	k  *int64
}

// opsData writes a CSV of n rows (id, g, x, k with NAs) and returns its
// path and the rows.
func opsData(t *testing.T, n int) (string, []opsRow) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("id,g,x,k\n")
	rows := make([]opsRow, n)
	for i := range n {
		r := opsRow{id: int64(i)}
		fields := []string{strconv.Itoa(i), "", "", ""}
		if i%11 != 3 {
			g := fmt.Sprintf("g%02d", (i*7)%23)
			r.g, fields[1] = &g, g
		}
		if i%9 != 5 {
			x := float64((i*37)%101) / 4
			r.x, fields[2] = &x, strconv.FormatFloat(x, 'g', -1, 64)
		}
		if i%13 != 7 {
			k := int64((i * 53) % 41)
			r.k, fields[3] = &k, strconv.FormatInt(k, 10)
		}
		rows[i] = r
		sb.WriteString(strings.Join(fields, ",") + "\n")
	}
	path := filepath.Join(t.TempDir(), "ops.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, rows
}

// cmpNA compares optional values, NA last.
func cmpNA[T cmp.Ordered](a, b *T) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*a, *b)
}

func ids(t *testing.T, rec arrow.RecordBatch) []int64 {
	t.Helper()
	idx := rec.Schema().FieldIndices("id")
	if len(idx) == 0 {
		t.Fatalf("no id column in %s", rec.Schema())
	}
	return slices.Clone(rec.Column(idx[0]).(*array.Int64).Int64Values())
}

func rowIDs(rows []opsRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.id
	}
	return out
}

func TestDataFrameOps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	path, rows := opsData(t, 3000)
	st, _ := os.Stat(path)
	df, err := ReadCSV(path, BlockSize(st.Size()/7+1))
	if err != nil {
		t.Fatal(err)
	}
	if df.NPartitions() < 6 {
		t.Fatalf("%d partitions", df.NPartitions())
	}
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compute := func(t *testing.T, d *DataFrame) arrow.RecordBatch {
		t.Helper()
		rec, err := d.ComputeRecord(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rec.Release)
		return rec
	}
	mustFail := func(t *testing.T, d *DataFrame, want string) {
		t.Helper()
		_, err := d.ComputeRecord(ctx, c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want one containing %q", err, want)
		}
		t.Logf("error: %v", err)
	}

	t.Run("Head", func(t *testing.T) {
		for _, n := range []int64{0, 5, 1000, 5000} {
			rec, err := df.Head(ctx, c, n)
			if err != nil {
				t.Fatal(err)
			}
			want := rowIDs(rows[:min(n, int64(len(rows)))])
			if got := ids(t, rec); !slices.Equal(got, want) {
				t.Fatalf("head(%d): %d ids, want %d", n, len(got), len(want))
			}
			if rec.NumCols() != 4 {
				t.Fatalf("head(%d): %d columns", n, rec.NumCols())
			}
			rec.Release()
		}
		if _, err := df.Head(ctx, c, -1); err == nil {
			t.Fatal("head(-1) succeeded")
		}
		// Head reads only the leading partitions it needs: here the last
		// partitions do not parse as the declared types.
		var sb strings.Builder
		sb.WriteString("a,b\n")
		for i := range 400 {
			fmt.Fprintf(&sb, "%d,%d\n", i, i*2)
		}
		sb.WriteString("oops,1\n")
		bad := filepath.Join(t.TempDir(), "bad.csv")
		if err := os.WriteFile(bad, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		bdf, err := ReadCSV(bad, BlockSize(int64(sb.Len()/4)), Types(map[string]string{"a": "int64", "b": "int64"}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bdf.Len(ctx, c); err == nil {
			t.Fatal("the bad CSV read without an error")
		}
		for _, n := range []int64{3, 150} { // one partition, then three
			rec, err := bdf.Head(ctx, c, n)
			if err != nil {
				t.Fatalf("head(%d) read a partition it did not need: %v", n, err)
			}
			if rec.NumRows() != n || rec.Column(0).(*array.Int64).Value(int(n-1)) != n-1 {
				t.Fatalf("head(%d): %d rows", n, rec.NumRows())
			}
			rec.Release()
		}
	})

	t.Run("NLargest", func(t *testing.T) {
		var withX []opsRow
		for _, r := range rows {
			if r.x != nil {
				withX = append(withX, r)
			}
		}
		slices.SortStableFunc(withX, func(a, b opsRow) int { return -cmp.Compare(*a.x, *b.x) })
		if got, want := ids(t, compute(t, df.NLargest(25, "x"))), rowIDs(withX[:25]); !slices.Equal(got, want) {
			t.Fatalf("nlargest x: %v, want %v", got, want)
		}
		slices.SortStableFunc(withX, func(a, b opsRow) int { return cmp.Compare(*a.x, *b.x) })
		if got, want := ids(t, compute(t, df.NSmallest(7, "x"))), rowIDs(withX[:7]); !slices.Equal(got, want) {
			t.Fatalf("nsmallest x: %v, want %v", got, want)
		}
		// The example: top groups by mean.
		sum, cnt := map[string]float64{}, map[string]int64{}
		for _, r := range rows {
			if r.g != nil && r.x != nil {
				sum[*r.g] += *r.x
				cnt[*r.g]++
			}
		}
		type gm struct {
			g    string
			mean float64
		}
		var means []gm
		for g, s := range sum {
			means = append(means, gm{g, s / float64(cnt[g])})
		}
		slices.SortFunc(means, func(a, b gm) int { return -cmp.Compare(a.mean, b.mean) })
		rec := compute(t, df.GroupBy("g").Agg(Mean("x").As("x_mean"), Count("x").As("x_count")).NLargest(5, "x_mean"))
		if rec.NumRows() != 5 {
			t.Fatalf("%d rows", rec.NumRows())
		}
		for i := range 5 {
			g, m := rec.Column(0).(*array.String).Value(i), rec.Column(1).(*array.Float64).Value(i)
			if math.Abs(m-means[i].mean) > 1e-9 || rec.Column(2).(*array.Int64).Value(i) != cnt[g] {
				t.Fatalf("row %d: %s %v, want %s %v", i, g, m, means[i].g, means[i].mean)
			}
		}
		mustFail(t, df.NLargest(-1, "x"), "n is -1")
		mustFail(t, df.NLargest(3, "nope"), `no column "nope"`)
	})

	t.Run("Sort", func(t *testing.T) {
		for _, tc := range []struct {
			keys []SortKey
			cmp  func(a, b opsRow) int
		}{
			{[]SortKey{Desc("x")}, func(a, b opsRow) int {
				if a.x == nil || b.x == nil {
					return cmpNA(a.x, b.x)
				}
				return -cmp.Compare(*a.x, *b.x)
			}},
			{[]SortKey{Asc("g"), Desc("k")}, func(a, b opsRow) int {
				if c := cmpNA(a.g, b.g); c != 0 {
					return c
				}
				if a.k == nil || b.k == nil {
					return cmpNA(a.k, b.k)
				}
				return -cmp.Compare(*a.k, *b.k)
			}},
		} {
			want := slices.Clone(rows)
			slices.SortStableFunc(want, tc.cmp)
			s := df.Sort(tc.keys...)
			if s.NPartitions() != df.NPartitions() {
				t.Fatalf("%d partitions", s.NPartitions())
			}
			if got := ids(t, compute(t, s)); !slices.Equal(got, rowIDs(want)) {
				t.Fatalf("sort %v: ids differ: %v... want %v...", tc.keys, got[:10], rowIDs(want)[:10])
			}
		}
		mustFail(t, df.Sort(), "no columns")
		mustFail(t, df.Sort(Asc("nope")), `no column "nope"`)
	})

	t.Run("SetIndexLoc", func(t *testing.T) {
		idx, err := df.SetIndex(ctx, c, "k")
		if err != nil {
			t.Fatal(err)
		}
		divs := idx.Divisions()
		if idx.Index() != "k" || len(divs) != df.NPartitions()-1 {
			t.Fatalf("index %q divisions %v", idx.Index(), divs)
		}
		if !slices.IsSortedFunc(divs, func(a, b any) int { return cmp.Compare(a.(int64), b.(int64)) }) {
			t.Fatalf("divisions not sorted: %v", divs)
		}
		p, err := idx.Persist(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release(ctx, c)
		var want []opsRow
		for _, r := range rows {
			if r.k != nil && *r.k >= 10 && *r.k <= 14 {
				want = append(want, r)
			}
		}
		slices.SortStableFunc(want, func(a, b opsRow) int { return cmp.Compare(*a.k, *b.k) })
		for _, d := range []*DataFrame{idx, p} {
			loc := d.Loc(10, 14)
			if loc.NPartitions() >= df.NPartitions() {
				t.Fatalf("loc reads %d of %d partitions (divisions %v)", loc.NPartitions(), df.NPartitions(), divs)
			}
			if got := ids(t, compute(t, loc)); !slices.Equal(got, rowIDs(want)) {
				t.Fatalf("loc: %v, want %v", got, rowIDs(want))
			}
		}
		all := compute(t, p.Loc(nil, nil))
		if all.NumRows() != int64(len(rows)) {
			t.Fatalf("loc(nil, nil): %d rows", all.NumRows())
		}
		if got := compute(t, p.Loc(1000, nil)).NumRows(); got != 0 {
			t.Fatalf("loc(1000, nil): %d rows", got)
		}
		mustFail(t, df.Loc(1, 2), "no index")
		if _, err := df.SetIndex(ctx, c, "nope"); err == nil {
			t.Fatal("set index on a missing column succeeded")
		}
	})

	t.Run("Repartition", func(t *testing.T) {
		for _, n := range []int{1, 3, df.NPartitions(), 17} {
			r := df.Repartition(n)
			fs, err := r.Submit(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != n {
				t.Fatalf("repartition(%d): %d partitions", n, len(fs))
			}
			rec, err := Collect(ctx, c, fs)
			c.Release(ctx, fs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(t, rec); !slices.Equal(got, rowIDs(rows)) {
				t.Fatalf("repartition(%d): row order changed", n)
			}
			rec.Release()
		}
		mustFail(t, df.Repartition(0), "n is 0")
	})

	t.Run("ValueCountsUnique", func(t *testing.T) {
		counts := map[int64]int64{}
		var firstG []*string
		seenG := map[string]bool{}
		seenNA := false
		for _, r := range rows {
			if r.k != nil {
				counts[*r.k]++
			}
			switch {
			case r.g == nil && !seenNA:
				seenNA = true
				firstG = append(firstG, nil)
			case r.g != nil && !seenG[*r.g]:
				seenG[*r.g] = true
				firstG = append(firstG, r.g)
			}
		}
		vc := compute(t, df.ValueCounts("k"))
		if vc.NumRows() != int64(len(counts)) || vc.Column(0).NullN() != 0 {
			t.Fatalf("%d values (%d NA), want %d", vc.NumRows(), vc.Column(0).NullN(), len(counts))
		}
		cs := vc.Column(1).(*array.Int64).Int64Values()
		for i := range int(vc.NumRows()) {
			if k := vc.Column(0).(*array.Int64).Value(i); cs[i] != counts[k] {
				t.Fatalf("value %d: count %d, want %d", k, cs[i], counts[k])
			}
			if i > 0 && cs[i] > cs[i-1] {
				t.Fatalf("counts not descending: %v", cs)
			}
		}
		u := compute(t, df.Unique("g"))
		if u.NumRows() != int64(len(firstG)) {
			t.Fatalf("unique: %d values, want %d", u.NumRows(), len(firstG))
		}
		us := u.Column(0).(*array.String)
		for i, g := range firstG {
			if (g == nil) != us.IsNull(i) || (g != nil && us.Value(i) != *g) {
				t.Fatalf("unique value %d: %v, want %v", i, us.ValueStr(i), g)
			}
		}
		n, err := df.NUniqueOf(ctx, c, "g")
		if err != nil || n != int64(len(seenG)) {
			t.Fatalf("nunique: %d %v, want %d", n, err, len(seenG))
		}
		mustFail(t, df.ValueCounts("nope"), `no column "nope"`)
		mustFail(t, df.Unique("nope"), `no column "nope"`)
	})

	t.Run("Describe", func(t *testing.T) {
		rec, err := df.Describe(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Release()
		if got := columnNames(rec.Schema()); !slices.Equal(got, []string{"stat", "id", "x", "k"}) {
			t.Fatalf("columns %v", got)
		}
		vals := map[string][]float64{}
		for _, r := range rows {
			vals["id"] = append(vals["id"], float64(r.id))
			if r.x != nil {
				vals["x"] = append(vals["x"], *r.x)
			}
			if r.k != nil {
				vals["k"] = append(vals["k"], float64(*r.k))
			}
		}
		for ci, name := range []string{"id", "x", "k"} {
			v := vals[name]
			slices.Sort(v)
			n := float64(len(v))
			var s float64
			for _, x := range v {
				s += x
			}
			mean := s / n
			var ss float64
			for _, x := range v {
				ss += (x - mean) * (x - mean)
			}
			quant := func(p float64) float64 { // numpy's linear method, written out
				h := (n - 1) * p
				return v[int(math.Floor(h))] + (h-math.Floor(h))*(v[int(math.Ceil(h))]-v[int(math.Floor(h))])
			}
			want := []float64{n, mean, math.Sqrt(ss / (n - 1)), v[0], quant(0.25), quant(0.5), quant(0.75), v[len(v)-1]}
			col := rec.Column(ci + 1).(*array.Float64)
			for i, w := range want {
				if math.Abs(col.Value(i)-w) > 1e-9*math.Max(1, math.Abs(w)) {
					t.Fatalf("%s %s: %v, want %v", name, describeStats[i], col.Value(i), w)
				}
			}
		}
		if _, err := df.Select("g").Describe(ctx, c); err == nil || !strings.Contains(err.Error(), "no numeric columns") {
			t.Fatalf("describe of a string column: %v", err)
		}
	})

	t.Run("MemoryUsage", func(t *testing.T) {
		shallow, err := df.MemoryUsage(ctx, c, false)
		if err != nil {
			t.Fatal(err)
		}
		deep, err := df.MemoryUsage(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		n := int64(len(rows))
		if shallow["id"] < 8*n || shallow["id"] > 8*n+int64(df.NPartitions())*(n/8+128) || deep["id"] != shallow["id"] {
			t.Fatalf("id: %d / %d bytes for %d int64s", shallow["id"], deep["id"], n)
		}
		var chars int64
		for _, r := range rows {
			if r.g != nil {
				chars += int64(len(*r.g))
			}
		}
		if d := deep["g"] - shallow["g"]; d < chars || d > chars+int64(df.NPartitions())*128 {
			t.Fatalf("g: deep %d - shallow %d, want about %d bytes of characters", deep["g"], shallow["g"], chars)
		}
		t.Logf("shallow %v deep %v", shallow, deep)
	})

	t.Run("Schema", func(t *testing.T) {
		s, err := df.Schema(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int64}
		for i, f := range s.Fields() {
			if !arrow.TypeEqual(f.Type, want[i]) {
				t.Fatalf("schema %s", s)
			}
		}
		types, err := df.GroupBy("g").Agg(Mean("k").As("m"), Count("x").As("n")).Sort(Asc("m")).Dtypes(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !arrow.TypeEqual(types["m"], arrow.PrimitiveTypes.Float64) || !arrow.TypeEqual(types["n"], arrow.PrimitiveTypes.Int64) || len(types) != 3 {
			t.Fatalf("dtypes %v", types)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte("a,b\n1,x\n2,y\n"))
		zw.Close()
		gzPath := filepath.Join(t.TempDir(), "small.csv.gz")
		if err := os.WriteFile(gzPath, gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		gdf, err := ReadCSV(gzPath)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := gdf.Schema(ctx, c); err != nil || s.NumFields() != 2 || !arrow.TypeEqual(s.Field(1).Type, arrow.BinaryTypes.String) {
			t.Fatalf("gzip schema %v %v", s, err)
		}
		p, err := df.Select("x").Persist(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release(ctx, c)
		if s, err := p.Schema(ctx, c); err != nil || s.NumFields() != 1 || s.Field(0).Name != "x" {
			t.Fatalf("persisted schema %v %v", s, err)
		}
	})

	t.Run("MapPartitions", func(t *testing.T) {
		m := df.MapPartitions("test.scale", "x", 3.0).Filter(Col("scaled").Gt(60))
		if m.Columns() != nil {
			t.Fatalf("columns %v before running", m.Columns())
		}
		var want []int64
		for _, r := range rows {
			if r.x != nil && *r.x*3 > 60 {
				want = append(want, r.id)
			}
		}
		rec := compute(t, m)
		if got := ids(t, rec); !slices.Equal(got, want) {
			t.Fatalf("map: %d ids, want %d", len(got), len(want))
		}
		s, err := df.MapPartitions("test.scale", "x", 3.0).Schema(ctx, c)
		if err != nil || s.NumFields() != 5 {
			t.Fatalf("schema after map: %v %v", s, err)
		}
		mustFail(t, df.MapPartitions("test.nothere"), `RegisterPartitionFunc("test.nothere"`)
		mustFail(t, df.MapPartitions("test.panic"), `"test.panic" panicked`)
		mustFail(t, df.MapPartitions("test.scale", "nope", 1.0), `no column "nope"`)
		mustFail(t, df.MapPartitions("test.scale", "x"), "argument 1")
	})
}

func init() {
	// Scale column args[0] by args[1] into a new column "scaled".
	RegisterPartitionFunc("test.scale", func(ctx context.Context, rec arrow.RecordBatch, args Args) (arrow.RecordBatch, error) {
		var col string
		var f float64
		if err := args.Decode(0, &col); err != nil {
			return nil, err
		}
		if err := args.Decode(1, &f); err != nil {
			return nil, err
		}
		idx := rec.Schema().FieldIndices(col)
		if len(idx) == 0 {
			return nil, fmt.Errorf("no column %q", col)
		}
		x, ok := rec.Column(idx[0]).(*array.Float64)
		if !ok {
			return nil, errors.New("not float64")
		}
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		defer b.Release()
		for i := range x.Len() {
			if x.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(x.Value(i) * f)
			}
		}
		scaled := b.NewArray()
		defer scaled.Release()
		fields := append(slices.Clone(rec.Schema().Fields()), arrow.Field{Name: "scaled", Type: arrow.PrimitiveTypes.Float64, Nullable: true})
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), append(slices.Clone(rec.Columns()), scaled), rec.NumRows()), nil
	})
	RegisterPartitionFunc("test.panic", func(ctx context.Context, rec arrow.RecordBatch, args Args) (arrow.RecordBatch, error) {
		var m map[string]int
		m["boom"]++
		return rec, nil
	})
}

// Loc prunes partitions by their divisions: partition j holds
// [d[j-1], d[j]).
func TestLocPruning(t *testing.T) {
	df := &DataFrame{plan: &node{invalid: errors.New("not run")}, columns: []string{"k"}, nparts: 4}
	for _, tc := range []struct {
		divs   []any
		lo, hi any
		want   []int
	}{
		{[]any{int64(10), int64(20), int64(30)}, 12, 18, []int{1}},
		{[]any{int64(10), int64(20), int64(30)}, 10, 20, []int{1, 2}},
		{[]any{int64(10), int64(20), int64(30)}, nil, 9.5, []int{0}},
		{[]any{int64(10), int64(20), int64(30)}, 31, nil, []int{3}},
		{[]any{int64(10), int64(20), int64(30)}, "x", nil, []int{0, 1, 2, 3}}, // incomparable: nothing pruned
		{[]any{"b", "d", nil}, "c", "c", []int{1}},
		{[]any{"b", "d", nil}, "e", nil, []int{2, 3}},              // NA division: after every value
		{[]any{int64(5)}, 1, 100, []int{0, 1}},                     // partitions past the divisions are empty
		{[]any{int64(10), int64(20), int64(30)}, 50, 40, []int{3}}, // lo > hi: the filter leaves no rows
	} {
		d := *df
		d.index = &indexInfo{col: "k", divisions: tc.divs}
		loc := d.Loc(tc.lo, tc.hi)
		var pick *pickNode
		if loc.plan.steps != nil {
			pick = loc.plan.steps.input.pick
		} else {
			pick = loc.plan.pick
		}
		if !slices.Equal(pick.idx, tc.want) {
			t.Errorf("divisions %v loc(%v, %v): partitions %v, want %v", tc.divs, tc.lo, tc.hi, pick.idx, tc.want)
		}
	}
}

func TestNeededColumnsOps(t *testing.T) {
	names := []string{"a", "b", "c"}
	for _, tc := range []struct {
		steps []Step
		want  []string
	}{
		{[]Step{{Op: "unique", Cols: []string{"b"}}}, []string{"b"}},
		{[]Step{{Op: "dropna", Cols: []string{"c"}}, {Op: "unique", Cols: []string{"b"}}}, []string{"b", "c"}},
		{[]Step{{Op: "select", Cols: []string{"a"}}, {Op: "map", Name: "f"}, {Op: "unique", Cols: []string{"b"}}}, []string{"a"}},
		{[]Step{{Op: "map", Name: "f"}, {Op: "select", Cols: []string{"a"}}}, nil},
		{[]Step{{Op: "nlargest", Cols: []string{"c"}}}, nil},
		{[]Step{{Op: "nlargest", Cols: []string{"c"}}, {Op: "select", Cols: []string{"a"}}}, []string{"a", "c"}},
	} {
		if got := neededColumns(names, tc.steps); !slices.Equal(got, tc.want) {
			t.Errorf("steps %v: %v, want %v", tc.steps, got, tc.want)
		}
	}
}
