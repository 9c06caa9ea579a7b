package kernels

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"
)

// table builds a record from columns given as name, values pairs; values are []any with nil for NA (int, float64,
// string or bool).
func table(t testing.TB, mem memory.Allocator, cols ...any) arrow.RecordBatch {
	t.Helper()
	var fields []arrow.Field
	var arrs []arrow.Array
	n := 0
	for i := 0; i < len(cols); i += 2 {
		name, vals := cols[i].(string), cols[i+1].([]any)
		n = len(vals)
		var typ arrow.DataType
		for _, v := range vals {
			switch v.(type) {
			case int:
				typ = arrow.PrimitiveTypes.Int64
			case float64:
				typ = arrow.PrimitiveTypes.Float64
			case string:
				typ = arrow.BinaryTypes.String
			case bool:
				typ = arrow.FixedWidthTypes.Boolean
			}
		}
		b := array.NewBuilder(mem, typ)
		for _, v := range vals {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case int:
				b.(*array.Int64Builder).Append(int64(x))
			case float64:
				b.(*array.Float64Builder).Append(x)
			case string:
				b.(*array.StringBuilder).Append(x)
			case bool:
				b.(*array.BooleanBuilder).Append(x)
			}
		}
		arrs = append(arrs, b.NewArray())
		b.Release()
		fields = append(fields, arrow.Field{Name: name, Type: typ, Nullable: true})
	}
	return newRecord(arrow.NewSchema(fields, nil), arrs, n)
}

func sorted(t testing.TB, mem memory.Allocator, rec arrow.RecordBatch, by ...string) string {
	t.Helper()
	s, err := Sort(mem, rec, by, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	return renderRec(s)
}

// allAggsCase is a small table with NAs in keys and values, every
// aggregation, and the answer grouped by k, j (in the kernels' test text).
func allAggsCase(t *testing.T, mem memory.Allocator) (arrow.RecordBatch, []Agg, string) {
	t.Helper()
	rec := table(t, mem,
		"k", []any{"b", "a", nil, "b", "a", "c", nil, "b"},
		"j", []any{1, 1, 2, 1, 1, 3, 2, 1},
		"v", []any{1.0, 2.0, nil, 4.0, nil, nil, 6.0, 4.0},
		"i", []any{5, nil, 3, 1, 2, nil, 7, 3},
		"s", []any{"x", "y", "z", nil, "w", nil, "z", "x"},
		"f", []any{true, false, nil, true, true, nil, false, true},
	)
	aggs := []Agg{
		{Op: "sum", Col: "v"}, {Op: "sum", Col: "i", Name: "sum_i"}, {Op: "mean", Col: "i", Name: "mean_i"},
		{Op: "count", Col: "v", Name: "count_v"}, {Op: "size"},
		{Op: "min", Col: "i", Name: "min_i"}, {Op: "max", Col: "s", Name: "max_s"},
		{Op: "var", Col: "v", Name: "var_v"}, {Op: "std", Col: "i", Population: true, Name: "pstd_i"},
		{Op: "median", Col: "i", Name: "med_i"}, {Op: "first", Col: "s", Name: "first_s"}, {Op: "last", Col: "i", Name: "last_i"},
		{Op: "nunique", Col: "s", Name: "nu_s"}, {Op: "nsmallest", Col: "i", N: 2, Name: "small_i"},
		{Op: "corr", Col: "v", Col2: "i", Name: "corr"}, {Op: "sum", Col: "f", Name: "sum_f"},
	}
	want := "k=a|b|c|_ j=1|1|3|2 v=2|9|_|6 sum_i=2|9|_|10 mean_i=2|3|_|5 count_v=1|3|0|1 size=2|3|1|2 " +
		"min_i=2|1|_|3 max_s=y|x|_|z var_v=_|3|_|_ pstd_i=0|1.632993161855452|_|2 med_i=2|3|_|5 " +
		"first_s=y|x|_|z last_i=2|3|_|7 nu_s=2|1|0|1 small_i=[2]|[1,3]|[]|[3,7] corr=_|-0.8660254037844387|_|NaN sum_f=1|3|_|0"
	return rec, aggs, want
}

func TestGroupByAllAggs(t *testing.T) {
	mem := checkedMem(t)
	rec, aggs, want := allAggsCase(t, mem)
	defer rec.Release()
	keys := []string{"k", "j"}
	// one phase
	whole, err := GroupBy(mem, rec, keys, aggs)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Release()
	if got := sorted(t, mem, whole, "k"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// every split into two partials, combined
	for cut := int64(0); cut <= rec.NumRows(); cut++ {
		var parts []arrow.RecordBatch
		for _, r := range [][2]int64{{0, cut}, {cut, rec.NumRows()}} {
			s := Slice(rec, r[0], r[1])
			p, err := GroupByPartial(mem, s, keys, aggs)
			s.Release()
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		c, err := GroupByCombine(mem, parts, keys, aggs)
		releaseAll(parts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := GroupByFinal(mem, c, keys, aggs)
		c.Release()
		if err != nil {
			t.Fatal(err)
		}
		if got := sorted(t, mem, res, "k"); got != want {
			t.Fatalf("cut %d: got  %s\nwant %s", cut, got, want)
		}
		res.Release()
	}
	// no keys: whole-column reductions
	red, err := Reduce(mem, rec, []Agg{{Op: "sum", Col: "v"}, {Op: "nunique", Col: "k", Name: "nk"}, {Op: "size"}, {Op: "max", Col: "v", Name: "mx"}})
	if err != nil {
		t.Fatal(err)
	}
	defer red.Release()
	if got := renderRec(red); got != "v=17 nk=3 size=8 mx=6" {
		t.Fatalf("reduce: %s", got)
	}
	// errors name the column and type
	if _, err := GroupBy(mem, rec, []string{"k"}, []Agg{{Op: "mean", Col: "s"}}); err == nil || !strings.Contains(err.Error(), "mean(s)") {
		t.Fatalf("mean of strings: %v", err)
	}
	if _, err := GroupBy(mem, rec, []string{"nope"}, []Agg{{Op: "size"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown key: %v", err)
	}
	// aggregations are plain data
	b, err := msgpack.Marshal(aggs)
	if err != nil {
		t.Fatal(err)
	}
	var back []Agg
	if err := msgpack.Unmarshal(b, &back); err != nil || len(back) != len(aggs) || back[13] != aggs[13] || back[8] != aggs[8] {
		t.Fatalf("msgpack: %v %v", back, err)
	}
}

func TestHashJoinKinds(t *testing.T) {
	mem := checkedMem(t)
	l := table(t, mem, "k", []any{1, 2, 2, nil, 4}, "s", []any{"a", "b", "b", "n", "d"}, "v", []any{10, 20, 21, 30, 40})
	defer l.Release()
	r := table(t, mem, "k", []any{2, 3, nil, 2}, "s", []any{"b", "c", "n", "b"}, "v", []any{200, 300, 999, 201})
	defer r.Release()
	cases := []struct {
		how, want string
		on        []string
	}{
		{"inner", "k=2|2|2|2 s_x=b|b|b|b v_x=20|20|21|21 s_y=b|b|b|b v_y=200|201|200|201", []string{"k"}},
		{"left", "k=1|2|2|2|2|4|_ s_x=a|b|b|b|b|d|n v_x=10|20|20|21|21|40|30 s_y=_|b|b|b|b|_|_ v_y=_|200|201|200|201|_|_", []string{"k"}},
		{"right", "k=2|2|2|2|3|_ s_x=b|b|b|b|_|_ v_x=20|20|21|21|_|_ s_y=b|b|b|b|c|n v_y=200|201|200|201|300|999", []string{"k"}},
		{"outer", "k=1|2|2|2|2|3|4|_|_ s_x=a|b|b|b|b|_|d|n|_ v_x=10|20|20|21|21|_|40|30|_ s_y=_|b|b|b|b|c|_|_|n v_y=_|200|201|200|201|300|_|_|999", []string{"k"}},
		{"inner", "k=2|2|2|2 s=b|b|b|b v_x=20|20|21|21 v_y=200|201|200|201", []string{"k", "s"}},
	}
	for _, c := range cases {
		t.Run(c.how+strings.Join(c.on, ","), func(t *testing.T) {
			for _, swap := range []bool{false, true} {
				// the same join whichever side builds: make the left side the larger or the smaller one
				ll := l
				if swap {
					ll = Slice(l, 0, 3)
					defer ll.Release()
					if c.how != "inner" || len(c.on) > 1 {
						continue
					}
				}
				res, err := HashJoin(mem, ll, r, c.on, c.on, c.how, [2]string{})
				if err != nil {
					t.Fatal(err)
				}
				by := append(append([]string{}, c.on...), "v_x", "v_y")
				got := sorted(t, mem, res, by...)
				res.Release()
				if !swap && got != c.want {
					t.Fatalf("got  %s\nwant %s", got, c.want)
				}
				if swap && got != "k=2|2|2|2 s_x=b|b|b|b v_x=20|20|21|21 s_y=b|b|b|b v_y=200|201|200|201" {
					t.Fatalf("swapped: %s", got)
				}
			}
		})
	}
	ls := table(t, mem, "k", []any{"1"})
	defer ls.Release()
	if _, err := HashJoin(mem, ls, r, []string{"k"}, []string{"k"}, "inner", [2]string{}); err == nil || !strings.Contains(err.Error(), "utf8") {
		t.Fatalf("type mismatch: %v", err)
	}
}

func TestSortAndSelect(t *testing.T) {
	mem := checkedMem(t)
	rec := table(t, mem, "a", []any{3, nil, 1, 3, 2}, "b", []any{"x", "y", nil, "a", "b"}, "c", []any{0.5, 1.5, 2.5, nil, -1.0})
	defer rec.Release()
	for _, c := range []struct {
		by        []string
		desc      []bool
		nullsLast bool
		want      string
	}{
		{[]string{"a"}, nil, true, "a=1|2|3|3|_ b=_|b|x|a|y c=2.5|-1|0.5|_|1.5"},
		{[]string{"a", "b"}, []bool{true, false}, false, "a=_|3|3|2|1 b=y|a|x|b|_ c=1.5|_|0.5|-1|2.5"},
		{[]string{"c"}, []bool{true}, true, "a=1|_|3|2|3 b=_|y|x|b|a c=2.5|1.5|0.5|-1|_"},
		{[]string{"b"}, nil, false, "a=1|3|2|3|_ b=_|a|b|x|y c=2.5|_|-1|0.5|1.5"},
	} {
		s, err := Sort(mem, rec, c.by, c.desc, c.nullsLast)
		if err != nil {
			t.Fatal(err)
		}
		if got := renderRec(s); got != c.want {
			t.Errorf("sort %v %v: %s, want %s", c.by, c.desc, got, c.want)
		}
		s.Release()
	}
	nl, err := NLargest(mem, rec, 2, []string{"a", "c"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Release()
	if got := renderRec(nl); got != "a=3|3 b=x|a c=0.5|_" {
		t.Errorf("nlargest: %s", got)
	}
	ns, err := NSmallest(mem, rec, 3, []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Release()
	if got := render(ns.Column(2)); got != "-1|0.5|1.5" {
		t.Errorf("nsmallest: %s", got)
	}
	q, err := Quantiles(mem, rec, "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Release()
	if got := render(q); got != "1|2|3" {
		t.Errorf("quantiles: %s", got)
	}
	h := Head(rec, 2)
	defer h.Release()
	tk, err := Take(mem, rec, []int32{4, -1, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Release()
	if h.NumRows() != 2 || renderRec(tk) != "a=2|_|3 b=b|_|x c=-1|_|0.5" {
		t.Errorf("head/take: %d %s", h.NumRows(), renderRec(tk))
	}
}

func TestIPCPartitionAndColumnOps(t *testing.T) {
	mem := checkedMem(t)
	rec := table(t, mem, "k", []any{"a", "b", nil, "a", "c", "b"}, "v", []any{1, 2, 3, nil, 5, 6}, "f", []any{true, nil, false, true, true, false})
	defer rec.Release()
	p, err := GroupByPartial(mem, rec, []string{"k"}, []Agg{{Op: "median", Col: "v"}, {Op: "nunique", Col: "v", Name: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	for _, r := range []arrow.RecordBatch{rec, p} {
		b, err := EncodeIPC(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeIPC(mem, b)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(back, r) {
			t.Fatalf("ipc round trip: %v", back)
		}
		back.Release()
	}
	// the same key goes to the same bucket whatever else the record holds
	other := table(t, mem, "k", []any{"c", "zz", "a", nil}, "v", []any{0, 0, 0, 0}, "f", []any{true, true, true, true})
	defer other.Release()
	bucketOf := func(r arrow.RecordBatch) map[string]int {
		hs, err := HashPartition(mem, r, []string{"k"}, 3)
		if err != nil {
			t.Fatal(err)
		}
		defer releaseAll(hs)
		m := map[string]int{}
		total := 0
		for i, h := range hs {
			total += int(h.NumRows())
			for _, k := range strings.Split(render(h.Column(0)), "|") {
				if k != "" {
					m[k] = i
				}
			}
		}
		if total != int(r.NumRows()) {
			t.Fatalf("partition lost rows")
		}
		return m
	}
	m1, m2 := bucketOf(rec), bucketOf(other)
	for _, k := range []string{"a", "c", "_"} {
		if m1[k] != m2[k] {
			t.Errorf("key %s: bucket %d and %d", k, m1[k], m2[k])
		}
	}
	// the hash is part of the shuffle's wire contract: nodes must agree, so its values are pinned
	if h, g := hashBytes([]byte("id0000000042")), hashInt(42); h != 0xfd5619ebbb6233e5 || g != 0xb3068b0dc4747898 {
		t.Errorf("fixed hashes changed: %#x %#x", h, g)
	}
	vc, err := ValueCounts(mem, rec, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Release()
	if got := renderRec(vc); got != "k=a|b|_|c count=2|2|1|1" {
		t.Errorf("value counts: %s", got)
	}
	u, err := Unique(mem, rec.Column(0))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Release()
	n1, _ := NUnique(rec.Column(0), true)
	n2, _ := NUnique(rec.Column(0), false)
	if render(u) != "a|b|_|c" || n1 != 3 || n2 != 4 {
		t.Errorf("unique %s, nunique %d %d", render(u), n1, n2)
	}
	if MemoryUsage(rec) < 6*8 {
		t.Errorf("memory usage %d", MemoryUsage(rec))
	}
	mask := table(t, mem, "m", []any{true, false, nil, true, false, true})
	defer mask.Release()
	fr, err := Filter(mem, rec, mask.Column(0))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Release()
	if got := renderRec(fr); got != "k=a|a|b v=1|_|6 f=true|true|false" {
		t.Errorf("filter: %s", got)
	}
}
