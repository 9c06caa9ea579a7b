package dbbench

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	df "github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

var mem = memory.DefaultAllocator

// Question is one db-benchmark question: a plan on the data, and what the
// client does with its (small) result to give the answer's columns.
type Question struct {
	Name string
	// Keys the answer is sorted by (ascending, NA last), then Desc columns
	// descending.
	Keys []string
	Desc []string
	plan func(d *df.DataFrame) *df.DataFrame
	post func(rec arrow.RecordBatch) (arrow.RecordBatch, error)
}

// GroupByQuestions are the groupby questions q1–q10, in order.
var GroupByQuestions = []Question{
	{Name: "q1", Keys: []string{"id1"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id1").Agg(df.Sum("v1"))
	}},
	{Name: "q2", Keys: []string{"id1", "id2"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id1", "id2").Agg(df.Sum("v1"))
	}},
	{Name: "q3", Keys: []string{"id3"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id3").SplitOut(manyGroups(d)).Agg(df.Sum("v1"), df.Mean("v3"))
	}},
	{Name: "q4", Keys: []string{"id4"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id4").Agg(df.Mean("v1"), df.Mean("v2"), df.Mean("v3"))
	}},
	{Name: "q5", Keys: []string{"id6"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id6").SplitOut(manyGroups(d)).Agg(df.Sum("v1"), df.Sum("v2"), df.Sum("v3"))
	}},
	{Name: "q6", Keys: []string{"id4", "id5"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id4", "id5").Agg(df.Median("v3").As("median_v3"), df.Std("v3").As("sd_v3"))
	}},
	{Name: "q7", Keys: []string{"id3"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id3").SplitOut(manyGroups(d)).Agg(df.Max("v1").As("max_v1"), df.Min("v2").As("min_v2"))
	}, post: rangeV1V2},
	{Name: "q8", Keys: []string{"id6"}, Desc: []string{"largest2_v3"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id6").SplitOut(manyGroups(d)).Agg(df.Largest(2, "v3").As("largest2_v3"))
	}, post: func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		return kernels.Explode(mem, rec, "largest2_v3")
	}},
	{Name: "q9", Keys: []string{"id2", "id4"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id2", "id4").Agg(df.Corr("v1", "v2").As("r2"))
	}, post: squareR2},
	{Name: "q10", Keys: []string{"id1", "id2", "id3", "id4", "id5", "id6"}, plan: func(d *df.DataFrame) *df.DataFrame {
		return d.GroupBy("id1", "id2", "id3", "id4", "id5", "id6").SplitOut(manyGroups(d)).Agg(df.Sum("v3"), df.Size().As("count"))
	}},
}

// manyGroups is the split-out for questions with up to a group per row:
// one output partition per input partition (at least 1).
func manyGroups(d *df.DataFrame) int { return max(d.NPartitions(), 1) }

// Question returns the named groupby question.
func GroupByQuestion(name string) (Question, error) {
	for _, q := range GroupByQuestions {
		if q.Name == name {
			return q, nil
		}
	}
	return Question{}, fmt.Errorf("no groupby question %q (q1..q10)", name)
}

// Run answers the question on d (typically persisted), in no particular
// row order (as the benchmark's queries, which have no ORDER BY), as the
// arrow.Table a user's Compute gives: one chunk per output partition, not
// concatenated. Sorted orders it as the answers are.
func (q Question) Run(ctx context.Context, c *futures.Client, d *df.DataFrame) (arrow.Table, error) {
	if q.post == nil {
		tbl, err := q.plan(d).Compute(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Name, err)
		}
		return tbl, nil
	}
	rec, err := q.plan(d).ComputeRecord(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.Name, err)
	}
	next, err := q.post(rec)
	rec.Release()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.Name, err)
	}
	defer next.Release()
	return array.NewTableFromRecords(next.Schema(), []arrow.RecordBatch{next}), nil
}

// Sorted returns the answer tbl as one record sorted by the question's keys
// (ascending, NA last), then its Desc columns descending.
func (q Question) Sorted(tbl arrow.Table) (arrow.RecordBatch, error) {
	rec, err := tableRecord(tbl)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	by := append(append([]string(nil), q.Keys...), q.Desc...)
	desc := make([]bool, len(by))
	for i := len(q.Keys); i < len(by); i++ {
		desc[i] = true
	}
	return kernels.Sort(mem, rec, by, desc, true)
}

// tableRecord concatenates tbl's chunks into one record.
func tableRecord(tbl arrow.Table) (arrow.RecordBatch, error) {
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	var recs []arrow.RecordBatch
	for tr.Next() {
		r := tr.RecordBatch()
		r.Retain()
		recs = append(recs, r)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if err := tr.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		cols := make([]arrow.Array, tbl.NumCols())
		for i, f := range tbl.Schema().Fields() {
			cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
			defer cols[i].Release()
		}
		return array.NewRecordBatch(tbl.Schema(), cols, 0), nil
	}
	return kernels.Concat(mem, recs)
}

// rangeV1V2 replaces max_v1, min_v2 by range_v1_v2 = max_v1 - min_v2.
func rangeV1V2(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	return derive(rec, []string{"max_v1", "min_v2"}, "range_v1_v2", func(v []float64) float64 { return v[0] - v[1] })
}

// squareR2 squares the correlation.
func squareR2(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	return derive(rec, []string{"r2"}, "r2", func(v []float64) float64 { return v[0] * v[0] })
}

// derive replaces the columns from by one column name = fn(values), NA if
// any input is NA; integer inputs give an integer column when fn keeps
// integers.
func derive(rec arrow.RecordBatch, from []string, name string, fn func([]float64) float64) (arrow.RecordBatch, error) {
	in := make([]arrow.Array, len(from))
	allInt := true
	for i, c := range from {
		idx := rec.Schema().FieldIndices(c)
		if len(idx) == 0 {
			return nil, fmt.Errorf("no column %q", c)
		}
		in[i] = rec.Column(idx[0])
		if in[i].DataType().ID() != arrow.INT64 {
			allInt = false
		}
	}
	n := int(rec.NumRows())
	vals := make([]float64, len(in))
	var out arrow.Array
	if allInt {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		for r := range n {
			if anyNull(in, r) {
				b.AppendNull()
				continue
			}
			for i, a := range in {
				vals[i] = float64(a.(*array.Int64).Value(r))
			}
			b.Append(int64(fn(vals)))
		}
		out = b.NewArray()
	} else {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		for r := range n {
			if anyNull(in, r) {
				b.AppendNull()
				continue
			}
			for i, a := range in {
				v, ok := floatAt(a, r)
				if !ok {
					return nil, fmt.Errorf("column %q: %s is not numeric", from[i], a.DataType())
				}
				vals[i] = v
			}
			b.Append(fn(vals)) // NaN stays NaN (DuckDB's corr of a constant column)
		}
		out = b.NewArray()
	}
	defer out.Release()
	var fields []arrow.Field
	var cols []arrow.Array
	placed := false
	for i, f := range rec.Schema().Fields() {
		if slices.Contains(from, f.Name) {
			if !placed {
				fields = append(fields, arrow.Field{Name: name, Type: out.DataType(), Nullable: true})
				cols = append(cols, out)
				placed = true
			}
			continue
		}
		fields = append(fields, f)
		cols = append(cols, rec.Column(i))
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}

func anyNull(in []arrow.Array, r int) bool {
	for _, a := range in {
		if a.IsNull(r) {
			return true
		}
	}
	return false
}

func floatAt(a arrow.Array, r int) (float64, bool) {
	switch a := a.(type) {
	case *array.Float64:
		return a.Value(r), true
	case *array.Int64:
		return float64(a.Value(r)), true
	}
	return 0, false
}
