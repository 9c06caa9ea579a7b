package dbbench

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	df "github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/futures"
)

// JoinTables are a join data set's tables (see GenJoin): the left table x
// and the right tables small, medium and big.
type JoinTables struct {
	X, Small, Medium, Big *df.DataFrame
}

// ReadJoinTables reads the join data set of prefix (PREFIX_NA_0_0.csv,
// PREFIX_small.csv, ...), each file in partitions of about blockSize bytes.
func ReadJoinTables(prefix string, blockSize int64) (JoinTables, error) {
	var t JoinTables
	x, small, medium, big := JoinFiles(prefix)
	for _, f := range []struct {
		path string
		dst  **df.DataFrame
	}{{x, &t.X}, {small, &t.Small}, {medium, &t.Medium}, {big, &t.Big}} {
		d, err := df.ReadCSV(f.path, df.BlockSize(blockSize))
		if err != nil {
			return JoinTables{}, err
		}
		*f.dst = d
	}
	return t, nil
}

// Persist persists every table; Release frees them.
func (t JoinTables) Persist(ctx context.Context, c *futures.Client) (JoinTables, error) {
	var out JoinTables
	for _, f := range []struct {
		src *df.DataFrame
		dst **df.DataFrame
	}{{t.X, &out.X}, {t.Small, &out.Small}, {t.Medium, &out.Medium}, {t.Big, &out.Big}} {
		d, err := f.src.Persist(ctx, c)
		if err != nil {
			out.Release(context.WithoutCancel(ctx), c)
			return JoinTables{}, err
		}
		*f.dst = d
	}
	return out, nil
}

// Release frees persisted tables.
func (t JoinTables) Release(ctx context.Context, c *futures.Client) {
	for _, d := range []*df.DataFrame{t.X, t.Small, t.Medium, t.Big} {
		if d != nil {
			d.Release(ctx, c)
		}
	}
}

func (t JoinTables) table(name string) *df.DataFrame {
	switch name {
	case "small":
		return t.Small
	case "medium":
		return t.Medium
	case "big":
		return t.Big
	}
	return nil
}

// JoinQuestion is one join question: x joined with one right table on one
// key. Its answer is the result's row count and the sums of v1 and v2
// (columns rows, sum_v1, sum_v2; v2 is NA on a left join's unmatched rows,
// and the sum skips it).
type JoinQuestion struct {
	Name  string
	Right string // small, medium or big
	On    string
	How   df.JoinType
}

// JoinQuestions are the join questions q1–q5, in order.
var JoinQuestions = []JoinQuestion{
	{Name: "q1", Right: "small", On: "id1", How: df.Inner},
	{Name: "q2", Right: "medium", On: "id2", How: df.Inner},
	{Name: "q3", Right: "medium", On: "id2", How: df.Left},
	{Name: "q4", Right: "medium", On: "id5", How: df.Inner},
	{Name: "q5", Right: "big", On: "id3", How: df.Inner},
}

// JoinQuestionNamed returns the named join question.
func JoinQuestionNamed(name string) (JoinQuestion, error) {
	for _, q := range JoinQuestions {
		if q.Name == name {
			return q, nil
		}
	}
	return JoinQuestion{}, fmt.Errorf("no join question %q (q1..q5)", name)
}

// Join is the question's join: x's columns as they are, then the right
// table's, the key once and the other clashing names suffixed "_r" (as the
// benchmark's SQL, `select x.*, r.id4 as id4_r, ... using (key)`). opts
// are added (a strategy: df.Broadcast(), df.Shuffle(n)).
func (q JoinQuestion) Join(t JoinTables, opts ...df.JoinOption) (*df.DataFrame, error) {
	right := t.table(q.Right)
	if t.X == nil || right == nil {
		return nil, fmt.Errorf("%s: tables x and %s are needed", q.Name, q.Right)
	}
	j, err := t.X.Join(right, append([]df.JoinOption{df.On(q.On), df.How(q.How), df.Suffixes("", "_r")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.Name, err)
	}
	return j, nil
}

// JoinCheck is the answer of a join's result: one row of rows, sum_v1,
// sum_v2.
func JoinCheck(j *df.DataFrame) *df.DataFrame {
	return j.GroupBy().Agg(df.Size().As("rows"), df.Sum("v1").As("sum_v1"), df.Sum("v2").As("sum_v2"))
}

// Run answers the question. With persist, the join's result is persisted
// in the mesh first (materialized, as the benchmark's `create table ans as
// select ...`), then the answer computed from it; the returned DataFrame
// is that result (Release it). Without, the answer's partial sums run in
// the join's tasks and the join's rows are never stored (the returned
// DataFrame is nil).
func (q JoinQuestion) Run(ctx context.Context, c *futures.Client, t JoinTables, persist bool, opts ...df.JoinOption) (arrow.RecordBatch, *df.DataFrame, error) {
	j, err := q.Join(t, opts...)
	if err != nil {
		return nil, nil, err
	}
	var held *df.DataFrame
	if persist {
		if held, err = j.Persist(ctx, c); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", q.Name, err)
		}
		j = held
	}
	rec, err := JoinCheck(j).ComputeRecord(ctx, c)
	if err != nil {
		if held != nil {
			held.Release(context.WithoutCancel(ctx), c)
		}
		return nil, nil, fmt.Errorf("%s: %w", q.Name, err)
	}
	return rec, held, nil
}
