package bag

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/futures"
)

func init() {
	futures.Register("btest.big", func(x int64) bool { return x > 10 })
}

// A bag of JSON records over many partitions, turned into a DataFrame on
// the workers and grouped: the answer is a plain Go computation's, one
// conversion task per partition (fused with the read and the decoding),
// and the DataFrame's partitions are those tasks' futures, not values
// scattered by the client.
func TestToDataFrameGroupBy(t *testing.T) {
	ctx, c := newClient(t)
	names := []string{"ada", "bob", "cy", "dee", "eve", "fay", "gus"}
	type agg struct {
		n, size, scored int64
		score           float64
	}
	want := map[string]*agg{}
	var sb strings.Builder
	for i := range 2000 {
		r := map[string]any{"name": names[(i*i+3*i)%len(names)], "n": i}
		if i%5 != 0 { // every fifth record has no score: a null
			r["score"] = float64(i%37) / 4
		}
		a := want[r["name"].(string)]
		if a == nil {
			a = &agg{}
			want[r["name"].(string)] = a
		}
		a.n += int64(i)
		a.size++
		if s, ok := r["score"].(float64); ok {
			a.score += s
			a.scored++
		}
		j, _ := json.Marshal(r)
		sb.Write(j)
		sb.WriteString("\n")
	}
	path := writeFile(t, t.TempDir(), "recs.jsonl", []byte(sb.String()))
	lines, err := ReadText(path, BlockSize(8000))
	if err != nil {
		t.Fatal(err)
	}
	recs := lines.DecodeJSON()
	if recs.NPartitions() < 4 {
		t.Fatalf("%d partitions; the test wants several", recs.NPartitions())
	}
	schema := []Field{{"name", "string"}, {"n", "int64"}, {"score", "float64"}}

	// The graph: one conversion task per partition, each fused by the
	// optimizer with its partition's read and decoding.
	g, outs, err := recs.dataFrameGraph(schema)
	if err != nil {
		t.Fatal(err)
	}
	convs := 0
	for _, ti := range g.Tasks() {
		if ti.Func == toDFFunc {
			convs++
		}
	}
	if convs != recs.NPartitions() || len(outs) != recs.NPartitions() {
		t.Fatalf("%d conversion tasks, %d outputs for %d partitions", convs, len(outs), recs.NPartitions())
	}
	og, err := g.Optimize(outs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range og.Tasks() {
		if len(ti.Chain) != 3 || ti.Chain[0] != textFunc || ti.Chain[2] != toDFFunc {
			t.Fatalf("optimized task %s runs %v; want read, decode and convert in one task", ti.Key, ti.Chain)
		}
	}

	df, err := recs.ToDataFrame(ctx, c, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Release(ctx, c)
	if df.NPartitions() != recs.NPartitions() {
		t.Fatalf("DataFrame of %d partitions, bag of %d", df.NPartitions(), recs.NPartitions())
	}
	// A persisted DataFrame's Submit is its partitions: the conversion
	// tasks' own futures, held by the workers.
	parts, err := df.Submit(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range parts {
		if f.Key() != outs[i].Key() {
			t.Fatalf("partition %d is %s; want the conversion task %s", i, f.Key(), outs[i].Key())
		}
	}

	res, err := df.GroupBy("name").Agg(dataframe.Sum("n").As("n"), dataframe.Size(), dataframe.Sum("score").As("score"),
		dataframe.Count("score").As("scored")).ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	if int(res.NumRows()) != len(want) {
		t.Fatalf("%d groups, want %d", res.NumRows(), len(want))
	}
	for i := range int(res.NumRows()) {
		name := res.Column(0).(*array.String).Value(i)
		w := want[name]
		got := agg{
			n:      res.Column(1).(*array.Int64).Value(i),
			size:   res.Column(2).(*array.Int64).Value(i),
			score:  res.Column(3).(*array.Float64).Value(i),
			scored: res.Column(4).(*array.Int64).Value(i),
		}
		if w == nil || got != *w {
			t.Fatalf("group %q: %+v, want %+v", name, got, w)
		}
	}
}

// Bags with empty partitions, or no elements at all: 0-row partitions of
// the schema; missing fields and short tuples are nulls.
func TestToDataFrameEmptyPartitions(t *testing.T) {
	ctx, c := newClient(t)
	nums := make([]int64, 12)
	for i := range nums {
		nums[i] = int64(i + 1)
	}
	b, err := FromSlice(nums, 6)
	if err != nil {
		t.Fatal(err)
	}
	// Only the last partition (11, 12) keeps elements.
	recs := b.Filter("btest.big").Map("btest.record")
	df, err := recs.ToDataFrame(ctx, c, []Field{{"mod", "int64"}, {"k3", "float64"}, {"absent", "string"}})
	if err != nil {
		t.Fatal(err)
	}
	defer df.Release(ctx, c)
	if df.NPartitions() != 6 {
		t.Fatalf("%d partitions, want the bag's 6", df.NPartitions())
	}
	rec, err := df.ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	mods := rec.Column(0).(*array.Int64)
	if rec.NumRows() != 2 || mods.Value(0) != 11%3 || mods.Value(1) != 12%3 ||
		rec.Column(1).(*array.Float64).Value(0) != 3 || rec.Column(2).NullN() != 2 {
		t.Fatalf("rows %v", rec)
	}
	res, err := df.GroupBy("mod").Agg(dataframe.Size()).ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	if res.NumRows() != 2 {
		t.Fatalf("group-by over empty partitions: %d groups, want 2", res.NumRows())
	}

	// No elements at all: one partition of 0 rows, with the columns.
	none, err := FromSlice([]int64{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	edf, err := none.Map("btest.record").ToDataFrame(ctx, c, []Field{{"mod", "int64"}})
	if err != nil {
		t.Fatal(err)
	}
	defer edf.Release(ctx, c)
	if n, err := edf.Len(ctx, c); err != nil || n != 0 {
		t.Fatalf("empty bag: %d rows, %v", n, err)
	}
	if cols := edf.Columns(); len(cols) != 1 || cols[0] != "mod" {
		t.Fatalf("empty bag's columns %v", cols)
	}

	// Tuples, read by position: a short one has nulls at the end.
	tup, err := FromSlice([][]any{{int64(1), "a"}, {int64(2)}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	tdf, err := tup.ToDataFrame(ctx, c, []Field{{"i", "int64"}, {"s", "string"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tdf.Release(ctx, c)
	trec, err := tdf.ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer trec.Release()
	if trec.NumRows() != 2 || trec.Column(1).(*array.String).Value(0) != "a" || !trec.Column(1).IsNull(1) {
		t.Fatalf("tuples: %v", trec)
	}
}

// A value of the wrong type, or an element that is not a record: an error
// naming the partition, the element and the field, saying what to do.
func TestToDataFrameErrors(t *testing.T) {
	ctx, c := newClient(t)
	var items []map[string]any
	for i := range 9 {
		items = append(items, map[string]any{"n": i, "s": fmt.Sprint(i)})
	}
	items[7]["n"] = "seven" // partition 2 (of 3), element 1
	b, err := FromSlice(items, 3)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.ToDataFrame(ctx, c, []Field{{"n", "int64"}, {"s", "string"}})
	for _, want := range []string{"ToDataFrame", "partition 2, element 1", `field "n"`, `"seven" is not a int64`, "Map before ToDataFrame"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("type mismatch: %v; want an error containing %q", err, want)
		}
	}
	// The string column read as int64: any other element than 7 fails first.
	_, err = b.ToDataFrame(ctx, c, []Field{{"s", "bool"}})
	if err == nil || !strings.Contains(err.Error(), `field "s"`) || !strings.Contains(err.Error(), "is not a bool") {
		t.Fatalf("string as bool: %v", err)
	}

	ints, err := FromSlice([]int64{1, 2, 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ints.ToDataFrame(ctx, c, []Field{{"n", "int64"}})
	if err == nil || !strings.Contains(err.Error(), "partition 0, element 0: a int64 (1), not a record") {
		t.Fatalf("not records: %v", err)
	}

	for _, schema := range [][]Field{nil, {{"n", "int32"}}} {
		if _, err := ints.ToDataFrame(ctx, c, schema); !errors.Is(err, ErrInvalid) {
			t.Fatalf("schema %v: %v; want ErrInvalid", schema, err)
		}
	}
	// The error of a plan that cannot be built is the bag's own.
	if _, err := ints.Map("nosuch.fn").ToDataFrame(ctx, c, []Field{{"n", "int64"}}); !errors.Is(err, futures.ErrUnknownFunc) {
		t.Fatalf("unknown function: %v", err)
	}
}
