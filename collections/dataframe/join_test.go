package dataframe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// A small table for the nested-loop model: column names, and rows of
// values with nil for NA.
type modelTable struct {
	cols []string
	rows [][]*string
}

func (m modelTable) col(name string) int { return slices.Index(m.cols, name) }

func sp(s string) *string { return &s }

// randomTable has keys k1 (int, 0..4), k2 (string, a..c), rk (int, 0..4),
// each NA with probability 1/8, so keys repeat (many-to-many matches), a
// column s that both sides have, and a value column.
func randomTable(rng *rand.Rand, rows int, value string, withRK bool) modelTable {
	m := modelTable{cols: []string{"k1", "k2", "s", value}}
	if withRK {
		m.cols = []string{"k1", "k2", "rk", "s", value}
	}
	for i := range rows {
		var r []*string
		key := func(s string) *string {
			if rng.IntN(8) == 0 {
				return nil
			}
			return sp(s)
		}
		r = append(r, key(strconv.Itoa(rng.IntN(5))), key(string(rune('a'+rng.IntN(3)))))
		if withRK {
			r = append(r, key(strconv.Itoa(rng.IntN(5))))
		}
		r = append(r, sp(fmt.Sprintf("s%d", rng.IntN(4))), sp(strconv.Itoa(i)))
		m.rows = append(m.rows, r)
	}
	return m
}

func (m modelTable) types() map[string]string {
	t := map[string]string{}
	for _, c := range m.cols {
		t[c] = "int64"
		if c == "k2" || c == "s" {
			t[c] = "string"
		}
	}
	return t
}

// write writes m as CSV and reads it back in partitions of about block
// bytes.
func (m modelTable) write(t *testing.T, dir, name string, block int64) *DataFrame {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(m.cols, ",") + "\n")
	for _, r := range m.rows {
		for i, v := range r {
			if i > 0 {
				b.WriteByte(',')
			}
			if v != nil {
				b.WriteString(*v)
			}
		}
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, name+".csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := ReadCSV(path, BlockSize(block), Types(m.types()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// nestedLoopJoin is the join by definition: every pair of rows whose keys
// are all non-NA and equal, then the unmatched rows how asks for; columns
// named as Join names them.
func nestedLoopJoin(l, r modelTable, leftOn, rightOn []string, how JoinType, suffixes [2]string) ([]string, [][]*string) {
	merged := map[string]bool{}
	for i := range leftOn {
		if leftOn[i] == rightOn[i] {
			merged[leftOn[i]] = true
		}
	}
	var cols []string
	for _, c := range l.cols {
		if !merged[c] && slices.Contains(r.cols, c) {
			c += suffixes[0]
		}
		cols = append(cols, c)
	}
	var rightCols []int
	for i, c := range r.cols {
		if merged[c] {
			continue
		}
		rightCols = append(rightCols, i)
		if slices.Contains(l.cols, c) {
			c += suffixes[1]
		}
		cols = append(cols, c)
	}
	row := func(lr, rr []*string) []*string {
		var out []*string
		for i, c := range l.cols {
			switch {
			case lr != nil:
				out = append(out, lr[i])
			case merged[c]:
				out = append(out, rr[r.col(c)])
			default:
				out = append(out, nil)
			}
		}
		for _, i := range rightCols {
			if rr != nil {
				out = append(out, rr[i])
			} else {
				out = append(out, nil)
			}
		}
		return out
	}
	match := func(lr, rr []*string) bool {
		for i := range leftOn {
			a, b := lr[l.col(leftOn[i])], rr[r.col(rightOn[i])]
			if a == nil || b == nil || *a != *b {
				return false
			}
		}
		return true
	}
	var rows [][]*string
	rightMatched := make([]bool, len(r.rows))
	for _, lr := range l.rows {
		found := false
		for j, rr := range r.rows {
			if match(lr, rr) {
				rows = append(rows, row(lr, rr))
				found, rightMatched[j] = true, true
			}
		}
		if !found && (how == Left || how == Outer) {
			rows = append(rows, row(lr, nil))
		}
	}
	if how == Right || how == Outer {
		for j, rr := range r.rows {
			if !rightMatched[j] {
				rows = append(rows, row(nil, rr))
			}
		}
	}
	return cols, rows
}

func renderRows(rows [][]*string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := make([]string, len(r))
		for j, v := range r {
			parts[j] = "NA"
			if v != nil {
				parts[j] = *v
			}
		}
		out[i] = strings.Join(parts, ",")
	}
	slices.Sort(out)
	return out
}

func recordRows(t *testing.T, rec arrow.RecordBatch) [][]*string {
	t.Helper()
	rows := make([][]*string, rec.NumRows())
	for c := range int(rec.NumCols()) {
		col := rec.Column(c)
		for i := range rows {
			if col.IsNull(i) {
				rows[i] = append(rows[i], nil)
				continue
			}
			switch a := col.(type) {
			case *array.Int64:
				rows[i] = append(rows[i], sp(strconv.FormatInt(a.Value(i), 10)))
			case *array.String:
				rows[i] = append(rows[i], sp(a.Value(i)))
			default:
				t.Fatalf("column %s: type %s", rec.Schema().Field(c).Name, col.DataType())
			}
		}
	}
	return rows
}

func testCluster(t *testing.T) (context.Context, *futures.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

// Every kind of join, every key shape and every strategy on a mesh, against
// the nested-loop join of the same rows.
func TestJoinMatchesNestedLoop(t *testing.T) {
	ctx, c := testCluster(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 11))
	lm, rm := randomTable(rng, 60, "lv", false), randomTable(rng, 45, "rv", true)
	left := lm.write(t, dir, "left", 200)   // 3+ partitions
	right := rm.write(t, dir, "right", 400) // 2+ partitions
	one := lm.write(t, dir, "one", 0)       // the left rows in one partition
	if left.NPartitions() < 3 || right.NPartitions() < 2 || one.NPartitions() != 1 {
		t.Fatalf("partitions: %d %d %d", left.NPartitions(), right.NPartitions(), one.NPartitions())
	}
	empty := modelTable{cols: lm.cols}
	emptyRight := modelTable{cols: rm.cols}
	noLeft := left.Filter(Col("lv").Lt(0))
	noRight := right.Filter(Col("rv").Lt(0))

	type keys struct {
		name            string
		opts            []JoinOption
		leftOn, rightOn []string
	}
	keySets := []keys{
		{"int", []JoinOption{On("k1")}, []string{"k1"}, []string{"k1"}},
		{"string", []JoinOption{On("k2")}, []string{"k2"}, []string{"k2"}},
		{"two keys", []JoinOption{On("k2", "k1")}, []string{"k2", "k1"}, []string{"k2", "k1"}},
		{"different names", []JoinOption{LeftOn("k1"), RightOn("rk")}, []string{"k1"}, []string{"rk"}},
		{"mixed names", []JoinOption{LeftOn("k1", "k2"), RightOn("rk", "k2")}, []string{"k1", "k2"}, []string{"rk", "k2"}},
	}
	strategies := []struct {
		name string
		opts []JoinOption
	}{
		{"auto", nil},
		{"broadcast", []JoinOption{Broadcast()}},
		{"shuffle", []JoinOption{Shuffle(3)}},
		{"shuffle1", []JoinOption{Shuffle(1)}},
	}
	sides := []struct {
		name        string
		l, r        *DataFrame
		lm, rm      modelTable
		onlySomeKey bool
	}{
		{"partitioned", left, right, lm, rm, false},
		{"one left partition", one, right, lm, rm, true},
		{"empty left", noLeft, right, empty, rm, true},
		{"empty right", left, noRight, lm, emptyRight, true},
		{"both empty", noLeft, noRight, empty, emptyRight, true},
	}
	for _, side := range sides {
		for ki, k := range keySets {
			if side.onlySomeKey && ki != 0 && ki != 4 {
				continue
			}
			for _, how := range []JoinType{Inner, Left, Right, Outer} {
				wantCols, wantRows := nestedLoopJoin(side.lm, side.rm, k.leftOn, k.rightOn, how, [2]string{"_x", "_y"})
				want := renderRows(wantRows)
				for _, s := range strategies {
					name := fmt.Sprintf("%s/%s/%s/%s", side.name, k.name, how, s.name)
					opts := append(append([]JoinOption{How(how)}, k.opts...), s.opts...)
					j, err := side.l.Join(side.r, opts...)
					if s.name == "broadcast" && how == Outer && side.l.NPartitions() > 1 && side.r.NPartitions() > 1 {
						if !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), "Shuffle") {
							t.Fatalf("%s: %v, want an error", name, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !slices.Equal(j.Columns(), wantCols) {
						t.Fatalf("%s: columns %v, want %v", name, j.Columns(), wantCols)
					}
					rec, err := j.ComputeRecord(ctx, c)
					if err != nil {
						t.Fatalf("%s: %v\n%s", name, err, j.Explain())
					}
					if got := columnNames(rec.Schema()); !slices.Equal(got, wantCols) {
						t.Fatalf("%s: computed columns %v, want %v", name, got, wantCols)
					}
					got := renderRows(recordRows(t, rec))
					rec.Release()
					if !slices.Equal(got, want) {
						t.Fatalf("%s: %d rows, want %d\n%s\ngot  %v\nwant %v", name, len(got), len(want), j.Explain(), got, want)
					}
					// a projection: only the columns it needs are gathered, read and shuffled
					proj := []int{len(wantCols) - 1, 0, 2}
					var pcols []string
					for _, i := range proj {
						pcols = append(pcols, wantCols[i])
					}
					rec, err = j.Select(pcols...).ComputeRecord(ctx, c)
					if err != nil {
						t.Fatalf("%s: select %v: %v", name, pcols, err)
					}
					var prow [][]*string
					for _, r := range wantRows {
						prow = append(prow, []*string{r[proj[0]], r[proj[1]], r[proj[2]]})
					}
					if got, want := renderRows(recordRows(t, rec)), renderRows(prow); !slices.Equal(got, want) {
						t.Fatalf("%s: select %v: got %v\nwant %v", name, pcols, got, want)
					}
					rec.Release()
				}
			}
		}
	}
}

// The strategy Join picks, and what its plan looks like.
func TestJoinStrategy(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	lm, rm := randomTable(rng, 60, "lv", false), randomTable(rng, 45, "rv", true)
	many := lm.write(t, dir, "many", 300)
	many2 := rm.write(t, dir, "many2", 300)
	one := rm.write(t, dir, "one", 0)
	oneL := lm.write(t, dir, "oneL", 0)
	for _, tc := range []struct {
		l, r  *DataFrame
		opts  []JoinOption
		want  joinStrategy
		parts int
	}{
		{many, one, []JoinOption{How(Inner)}, broadcastRight, many.NPartitions()},
		{many, one, []JoinOption{How(Left)}, broadcastRight, many.NPartitions()},
		{many, one, []JoinOption{How(Right)}, shuffleJoin, many.NPartitions()},
		{many, one, []JoinOption{How(Outer)}, shuffleJoin, many.NPartitions()},
		{oneL, many2, []JoinOption{How(Inner)}, broadcastLeft, many2.NPartitions()},
		{oneL, many2, []JoinOption{How(Right)}, broadcastLeft, many2.NPartitions()},
		{oneL, many2, []JoinOption{How(Left)}, shuffleJoin, many2.NPartitions()},
		{oneL, one, []JoinOption{How(Outer)}, broadcastRight, 1},
		{many, many2, []JoinOption{How(Inner)}, shuffleJoin, max(many.NPartitions(), many2.NPartitions())},
		{many, many2, []JoinOption{How(Inner), Broadcast()}, broadcastRight, many.NPartitions()},
		{many, many2, []JoinOption{How(Left), BroadcastLimit(100)}, broadcastRight, many.NPartitions()},
		{many, one, []JoinOption{How(Inner), Shuffle(5)}, shuffleJoin, 5},
		{many, one, []JoinOption{How(Inner), Shuffle(5), Broadcast()}, broadcastRight, many.NPartitions()},
		{oneL, many2, []JoinOption{How(Outer), Broadcast()}, broadcastRight, 1},
	} {
		j, err := tc.l.Join(tc.r, append([]JoinOption{On("k1")}, tc.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if j.plan.join.strategy != tc.want || j.NPartitions() != tc.parts {
			t.Errorf("%d x %d partitions, %v: %s into %d, want %s into %d", tc.l.NPartitions(), tc.r.NPartitions(), tc.opts,
				j.plan.join.strategy, j.NPartitions(), tc.want, tc.parts)
		}
	}
	j, _ := many.Join(one, On("k1"))
	if e := j.Select("k1", "lv").Explain(); !strings.Contains(e, "join inner [k1]=[k1] broadcast right") || !strings.Contains(e, "steps select") {
		t.Errorf("explain: %s", e)
	}
	// A join task's argument is plain data.
	task := JoinTask{How: "left", LeftOn: []string{"a"}, RightOn: []string{"b"}, Columns: []kernels.JoinColumn{{Name: "a", Left: "a", Right: "a"}, {Name: "v_r", Right: "v"}},
		Left: 2, Steps: []Step{{Op: "len"}}}
	b, err := msgpack.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	var back JoinTask
	if err := msgpack.Unmarshal(b, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(task) {
		t.Fatalf("msgpack: %v %v", back, err)
	}
}

// Bad joins fail at plan time with errors naming the problem.
func TestJoinErrors(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	lm, rm := randomTable(rng, 20, "lv", false), randomTable(rng, 20, "rv", true)
	l := lm.write(t, dir, "l", 100)
	r := rm.write(t, dir, "r", 100)
	for _, tc := range []struct {
		name string
		opts []JoinOption
		want string
	}{
		{"no keys", nil, "no key columns"},
		{"unknown left key", []JoinOption{On("nope")}, `no key column "nope" on the left`},
		{"unknown right key", []JoinOption{LeftOn("k1"), RightOn("nope")}, `no key column "nope" on the right`},
		{"key counts", []JoinOption{LeftOn("k1", "k2"), RightOn("k1")}, "2 left keys [k1 k2] but 1 right keys [k1]"},
		{"only left keys", []JoinOption{LeftOn("k1")}, "1 left keys [k1] but 0 right keys"},
		{"both ways", []JoinOption{On("k1"), LeftOn("k1"), RightOn("k1")}, "not both"},
		{"key types", []JoinOption{LeftOn("k1"), RightOn("k2")}, `key "k1" is int64 on the left but "k2" is string on the right`},
		{"how", []JoinOption{On("k1"), How("cross")}, `unknown join type "cross"`},
		{"outer broadcast", []JoinOption{On("k1"), How(Outer), Broadcast()}, "cannot be broadcast"},
		{"same names", []JoinOption{On("k1"), Suffixes("", "")}, `column "k2" twice`},
	} {
		_, err := l.Join(r, tc.opts...)
		if !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := l.Join(nil, On("k1")); !errors.Is(err, ErrJoin) {
		t.Errorf("nil right side: %v", err)
	}
	// Types the plan does not know (a computed column) are checked when the
	// join runs: the error names both types, and nothing hangs.
	ctx, c := testCluster(t)
	j, err := l.WithColumn("kk", Col("k1")).Join(r, LeftOn("kk"), RightOn("k2"))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if _, err := j.Len(ctx, c); err == nil || !strings.Contains(err.Error(), "int64") || !strings.Contains(err.Error(), "utf8") {
		t.Fatalf("run: %v", err)
	}
}

// Joins compose with the rest of the API: on persisted inputs, steps and
// group-bys fused into the join's tasks, a join of a join, Len.
func TestJoinComposes(t *testing.T) {
	ctx, c := testCluster(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	lm, rm := randomTable(rng, 80, "lv", false), randomTable(rng, 50, "rv", true)
	l, err := lm.write(t, dir, "l", 300).Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx, c)
	r := rm.write(t, dir, "r", 300)
	_, rows := nestedLoopJoin(lm, rm, []string{"k1"}, []string{"k1"}, Left, [2]string{"", "_r"})
	var wantSum int64
	for _, row := range rows {
		if row[7] != nil { // rv
			v, _ := strconv.ParseInt(*row[7], 10, 64)
			wantSum += v
		}
	}
	for _, s := range []JoinOption{Broadcast(), Shuffle(4)} {
		j, err := l.Join(r, On("k1"), How(Left), Suffixes("", "_r"), s)
		if err != nil {
			t.Fatal(err)
		}
		if got := j.Columns(); !slices.Equal(got, []string{"k1", "k2", "s", "lv", "k2_r", "rk", "s_r", "rv"}) {
			t.Fatalf("columns %v", got)
		}
		n, err := j.Len(ctx, c)
		if err != nil || n != int64(len(rows)) {
			t.Fatalf("len %d %v, want %d", n, err, len(rows))
		}
		// the group-by's partial aggregation runs in the join's tasks
		agg := j.Filter(Col("rv").NotNull()).GroupBy().Agg(Size().As("rows"), Sum("rv"))
		rec, err := agg.ComputeRecord(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Column(1).(*array.Int64).Value(0); got != wantSum {
			t.Fatalf("sum rv %d, want %d", got, wantSum)
		}
		rec.Release()
		// join the join again (its output partitions are an input)
		jj, err := j.Select("k1", "lv", "rv").Join(r.Select("k2", "rk"), LeftOn("lv"), RightOn("rk"), Shuffle(2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jj.Len(ctx, c); err != nil {
			t.Fatalf("join of a join: %v\n%s", err, jj.Explain())
		}
	}
}
