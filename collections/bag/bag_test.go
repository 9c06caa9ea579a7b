package bag

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/futures"
)

func init() {
	futures.Register("btest.words", func(s string) []string { wordCalls.Add(1); return strings.Fields(s) })
	futures.Register("btest.double", func(x int64) int64 { return 2 * x })
	futures.Register("btest.even", func(x int64) bool { return x%2 == 0 })
	futures.Register("btest.upto", func(x int64) []int64 {
		out := make([]int64, x%4)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	})
	futures.Register("btest.add", func(a, b int64) int64 { return a + b })
	futures.Register("btest.sum", func(xs []int64) int64 {
		s := int64(0)
		for _, x := range xs {
			s += x
		}
		return s
	})
	futures.Register("btest.mod3", func(x int64) int64 { return x % 3 })
	// A map with many keys: Go encodes it in a random order each time.
	futures.Register("btest.record", func(x int64) map[string]int64 {
		m := map[string]int64{"mod": x % 3}
		for i := range 12 {
			m[fmt.Sprintf("k%d", i)] = int64(i)
		}
		return m
	})
	futures.Register("btest.neg", func(x int64) int64 { return -x })
	futures.Register("btest.len", func(s string) int { return len(s) })
	futures.Register("btest.upper", strings.ToUpper)
	futures.Register("btest.trim", strings.TrimSpace)
}

// wordCalls counts btest.words calls: a persisted bag does not call it again.
var wordCalls atomic.Int64

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func newClient(t *testing.T) (context.Context, *futures.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	lc, err := futures.NewLocalCluster(ctx, 2, futures.WithThreads(1))
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

// textFixture writes n files of random words (one without a final
// newline, one empty, one gzip) and returns the glob and every line.
func textFixture(t *testing.T, dir string) (string, []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := []string{"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "mesh", "bag", "dask", "go"}
	var all []string
	for f := range 5 {
		var sb strings.Builder
		nlines := 200 + 50*f
		if f == 3 {
			nlines = 0
		}
		for l := range nlines {
			nw := rng.IntN(9)
			words := make([]string, nw)
			for i := range words {
				words[i] = vocab[rng.IntN(len(vocab))]
			}
			line := strings.Join(words, " ")
			all = append(all, line)
			sb.WriteString(line)
			if f != 1 || l < nlines-1 {
				sb.WriteString("\n")
			}
		}
		data := []byte(sb.String())
		name := fmt.Sprintf("words-%d.txt", f)
		if f == 4 {
			data, name = gz(t, data), name+".gz"
		}
		writeFile(t, dir, name, data)
	}
	return filepath.Join(dir, "words-*"), all
}

func TestWordCount(t *testing.T) {
	ctx, c := newClient(t)
	pattern, lines := textFixture(t, t.TempDir())
	want := map[string]int64{}
	nwords := 0
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			want[w]++
			nwords++
		}
	}
	b, err := ReadText(pattern, BlockSize(700))
	if err != nil {
		t.Fatal(err)
	}
	if b.NPartitions() < 10 {
		t.Fatalf("%d partitions: the fixture should be split in blocks", b.NPartitions())
	}
	words := b.FlatMap("btest.words")
	freqs, err := ComputeAs[Pair[string]](ctx, c, words.Frequencies())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for i, p := range freqs {
		got[p.Value] = p.Count
		if i > 0 && freqs[i-1].Count < p.Count {
			t.Fatalf("frequencies not most frequent first: %v", freqs)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("word counts\n%v\nwant\n%v", got, want)
	}

	var n int64
	if err := words.Count().Compute(ctx, c, &n); err != nil || n != int64(nwords) {
		t.Fatalf("Count = %d, %v; want %d", n, err, nwords)
	}
	// Persisted: the same answers from the held partitions.
	held, err := words.Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range held.n.held {
		if err := f.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	calls := wordCalls.Load()
	if err := held.Count().Compute(ctx, c, &n); err != nil || n != int64(nwords) {
		t.Fatalf("Count of the persisted words = %d, %v; want %d", n, err, nwords)
	}
	hf, err := ComputeAs[Pair[string]](ctx, c, held.Frequencies())
	if err != nil || fmt.Sprint(hf) != fmt.Sprint(freqs) {
		t.Fatalf("frequencies of the persisted words differ: %v", err)
	}
	if calls != wordCalls.Load() {
		t.Fatalf("the persisted bag called its FlatMap function again %d times", wordCalls.Load()-calls)
	}
	if err := held.Release(ctx, c); err != nil {
		t.Fatal(err)
	}
	all, err := ComputeAs[string](ctx, c, b)
	if err != nil || !slices.Equal(all, lines) {
		t.Fatalf("lines: %d, %v; want %d in order", len(all), err, len(lines))
	}
	distinct, err := ComputeAs[string](ctx, c, words.Distinct())
	if err != nil {
		t.Fatal(err)
	}
	if len(distinct) != len(want) {
		t.Fatalf("Distinct: %v", distinct)
	}
	// The longest lines by a key function, and the top words by themselves.
	top, err := ComputeAs[string](ctx, c, b.TopK(3, "btest.len"))
	if err != nil {
		t.Fatal(err)
	}
	byLen := slices.Clone(lines)
	slices.SortStableFunc(byLen, func(x, y string) int { return cmp.Compare(len(y), len(x)) })
	if !slices.Equal(top, byLen[:3]) {
		t.Fatalf("TopK(3, len) = %q, want %q", top, byLen[:3])
	}
	first, err := TakeAs[string](ctx, c, b, 5)
	if err != nil || !slices.Equal(first, lines[:5]) {
		t.Fatalf("Take(5) = %q, %v; want %q", first, err, lines[:5])
	}

	// The optimizer fuses each partition's read, flatmap and partial count.
	g, refs, err := words.Frequencies().Graph()
	if err != nil {
		t.Fatal(err)
	}
	og, err := g.Optimize(refs...)
	if err != nil {
		t.Fatal(err)
	}
	fused := 0
	for _, ti := range og.Tasks() {
		// (the last partition's chain also takes in its one-input combine)
		if len(ti.Chain) >= 3 && slices.Equal(ti.Chain[:3], []string{textFunc, stepFunc, partialFunc}) {
			fused++
		}
	}
	if fused != b.NPartitions() || og.Len() >= g.Len() {
		for _, ti := range og.Tasks() {
			t.Logf("%s %v %v", ti.Key, ti.Chain, ti.Deps)
		}
		t.Fatalf("%d fused read-flatmap-partial chains for %d partitions; %d tasks of %d", fused, b.NPartitions(), og.Len(), g.Len())
	}
}

type record struct {
	Name  string  `json:"name" msgpack:"name"`
	Score float64 `json:"score" msgpack:"score"`
	N     int64   `json:"n" msgpack:"n"`
	OK    bool    `json:"ok" msgpack:"ok"`
}

func TestJSON(t *testing.T) {
	ctx, c := newClient(t)
	dir := t.TempDir()
	names := []string{"ada", "bob", "cy", "dee"}
	var recs []record
	var sb strings.Builder
	for i := range 300 {
		r := record{Name: names[i*i%len(names)], Score: float64(i) / 4, N: int64(i), OK: i%3 == 0}
		recs = append(recs, r)
		j, _ := json.Marshal(r)
		sb.Write(j)
		sb.WriteString("\n")
	}
	path := writeFile(t, dir, "good.jsonl", []byte(sb.String()))
	b, err := ReadText(path, BlockSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	js := b.DecodeJSON()
	freqs, err := ComputeAs[Pair[string]](ctx, c, js.Pluck("name").Frequencies())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, r := range recs {
		want[r.Name]++
	}
	got := map[string]int64{}
	for _, p := range freqs {
		got[p.Value] = p.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("name frequencies %v, want %v", got, want)
	}
	back, err := ComputeAs[record](ctx, c, js)
	if err != nil || !slices.Equal(back, recs) {
		t.Fatalf("decoded records differ: %d, %v", len(back), err)
	}

	// ToDataFrame with a schema, checked against the records.
	df, err := js.ToDataFrame(ctx, c, []Field{{"name", "string"}, {"score", "float64"}, {"n", "int64"}, {"ok", "bool"}, {"missing", "string"}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := df.ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if rec.NumRows() != int64(len(recs)) || rec.NumCols() != 5 {
		t.Fatalf("DataFrame %d x %d", rec.NumRows(), rec.NumCols())
	}
	for i, r := range recs {
		if rec.Column(0).(*array.String).Value(i) != r.Name || rec.Column(1).(*array.Float64).Value(i) != r.Score ||
			rec.Column(2).(*array.Int64).Value(i) != r.N || rec.Column(3).(*array.Boolean).Value(i) != r.OK || !rec.Column(4).IsNull(i) {
			t.Fatalf("row %d differs from %+v", i, r)
		}
	}
	df.Release(ctx, c)

	// A bad line: an error naming the file and its line, in a later block;
	// or skipped when asked.
	lines := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
	lines[241] = `{"name": "broken",`
	bad := writeFile(t, dir, "bad.jsonl", []byte(strings.Join(lines, "\n")))
	b, err = ReadText(bad, BlockSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.DecodeJSON().Compute(ctx, c)
	if err == nil || !strings.Contains(err.Error(), bad+" line 242") || !strings.Contains(err.Error(), "invalid JSON") {
		t.Fatalf("bad line: %v; want an error naming %s line 242", err, bad)
	}
	// After a Map the elements are still the lines: the line is named.
	_, err = b.Map("btest.trim").DecodeJSON().Compute(ctx, c)
	if err == nil || !strings.Contains(err.Error(), bad+" line 242") {
		t.Fatalf("bad line after Map: %v", err)
	}
	var n int64
	if err := b.DecodeJSON(SkipInvalid()).Count().Compute(ctx, c, &n); err != nil || n != 299 {
		t.Fatalf("count skipping the bad line: %d, %v; want 299", n, err)
	}
	// Pluck of a key some records lack.
	_, err = b.DecodeJSON(SkipInvalid()).Pluck("nope").Compute(ctx, c)
	if err == nil || !strings.Contains(err.Error(), `no key "nope" in map`) {
		t.Fatalf("pluck of a missing key: %v", err)
	}
}

func TestSliceOps(t *testing.T) {
	ctx, c := newClient(t)
	var xs []int64
	for i := range 1000 {
		xs = append(xs, int64(i*7%1013))
	}
	b, err := FromSlice(xs, 7)
	if err != nil {
		t.Fatal(err)
	}
	if b.NPartitions() != 7 {
		t.Fatalf("%d partitions", b.NPartitions())
	}
	// Plain references.
	var doubledEven, flat []int64
	var sum int64
	groups := map[int64][]int64{}
	for _, x := range xs {
		if 2*x%2 == 0 {
			doubledEven = append(doubledEven, 2*x)
		}
		for i := range x % 4 {
			flat = append(flat, i)
		}
		sum += x
		groups[x%3] = append(groups[x%3], x)
	}
	sorted := slices.Clone(xs)
	slices.SortFunc(sorted, func(a, b int64) int { return cmp.Compare(b, a) })

	type check struct {
		name string
		run  func() (any, error)
		want any
	}
	checks := []check{
		{"map filter", func() (any, error) { return ComputeAs[int64](ctx, c, b.Map("btest.double").Filter("btest.even")) }, doubledEven},
		{"flatmap", func() (any, error) { return ComputeAs[int64](ctx, c, b.FlatMap("btest.upto")) }, flat},
		{"fold", func() (any, error) {
			var s int64
			return s, b.Fold("btest.add", "").Compute(ctx, c, &s)
		}, sum},
		{"fold init", func() (any, error) {
			var s int64
			return s, b.FoldInit("btest.add", "btest.add", 1).Compute(ctx, c, &s)
		}, sum + 1 + int64(b.NPartitions())}, // initial in every partition and in the combine
		{"reduction", func() (any, error) {
			var s int64
			return s, b.Reduction("btest.sum", "btest.sum").Compute(ctx, c, &s)
		}, sum},
		{"topk", func() (any, error) { return ComputeAs[int64](ctx, c, b.TopK(10, "")) }, sorted[:10]},
		{"topk by key", func() (any, error) { return ComputeAs[int64](ctx, c, b.TopK(3, "btest.neg")) }, []int64{sorted[len(sorted)-1], sorted[len(sorted)-2], sorted[len(sorted)-3]}},
		{"take", func() (any, error) { return TakeAs[int64](ctx, c, b, 300) }, xs[:300]},
		{"take more than there is", func() (any, error) { return TakeAs[int64](ctx, c, b, 5000) }, xs},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			got, err := ck.run()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(ck.want) {
				t.Fatalf("got %v\nwant %v", got, ck.want)
			}
		})
	}

	gs, err := ComputeAs[Group[int64, int64]](ctx, c, b.GroupBy("btest.mod3", 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != len(groups) {
		t.Fatalf("%d groups, want %d", len(gs), len(groups))
	}
	for _, g := range gs {
		if !slices.Equal(g.Values, groups[g.Key]) {
			t.Fatalf("group %d: %v, want %v", g.Key, g.Values, groups[g.Key])
		}
	}

	// Values equal whatever their encoding: maps from a Go function, whose
	// key order varies, and int64s (9 bytes) against small ints.
	recs := b.Map("btest.record")
	if d, err := recs.Distinct().Compute(ctx, c); err != nil || len(d) != 3 {
		t.Fatalf("Distinct of records: %d, %v; want 3", len(d), err)
	}
	rf, err := ComputeAs[Pair[map[string]int64]](ctx, c, recs.Frequencies())
	if err != nil || len(rf) != 3 {
		t.Fatalf("Frequencies of records: %d, %v", len(rf), err)
	}
	for _, p := range rf {
		if want := int64(len(groups[p.Value["mod"]])); p.Count != want {
			t.Fatalf("record with mod %d: %d, want %d", p.Value["mod"], p.Count, want)
		}
	}
	rg, err := ComputeAs[Group[map[string]int64, int64]](ctx, c, b.GroupBy("btest.record", 2))
	if err != nil || len(rg) != 3 {
		t.Fatalf("GroupBy with records as keys: %d groups, %v; want 3", len(rg), err)
	}
	for _, g := range rg {
		if !slices.Equal(g.Values, groups[g.Key["mod"]]) {
			t.Fatalf("group of the record with mod %d differs", g.Key["mod"])
		}
	}
	ints, err := b.Map("btest.double").Map("btest.mod3").Frequencies().Compute(ctx, c)
	if err != nil || len(ints) != 3 {
		t.Fatalf("Frequencies of int64s: %v, %v", ints, err)
	}

	// Compute into any: integers int64 whatever their encoding.
	mixed, err := FromSlice([]any{int8(1), 300, uint16(7), uint64(1) << 63, -5, 1.5, "s", map[string]any{"a": uint32(300)}, []any{uint8(2)}, nil}, 3)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := mixed.Compute(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%#v", vals), fmt.Sprintf("%#v", []any{int64(1), int64(300), int64(7), uint64(1) << 63, int64(-5), 1.5, "s", map[string]any{"a": int64(300)}, []any{int64(2)}, nil}); got != want {
		t.Fatalf("Compute into any:\n%s\nwant\n%s", got, want)
	}
	var one any
	if err := mixed.Count().Compute(ctx, c, &one); err != nil || one != int64(10) {
		t.Fatalf("Count into any: %#v, %v", one, err)
	}

	// Empty bag: Count 0, Fold without initial errs clearly.
	empty, err := FromSlice([]int64{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := empty.Count().Compute(ctx, c, &n); err != nil || n != 0 {
		t.Fatalf("count of empty = %d, %v", n, err)
	}
	var s int64
	if err := empty.Fold("btest.add", "").Compute(ctx, c, &s); err == nil || !strings.Contains(err.Error(), "empty bag") {
		t.Fatalf("fold of empty: %v", err)
	}
}

func TestErrors(t *testing.T) {
	ctx, c := newClient(t)
	b, err := FromSlice([]int64{1, 2, 3}, 2)
	if err != nil {
		t.Fatal(err)
	}
	strs, err := FromSlice([]string{"a", "b"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := FromSlice([]any{1, "a", 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		bag  *Bag
		want string
		is   error
	}{
		{"unknown map function", b.Map("btest.doubel"), `did you mean "btest.double"`, futures.ErrUnknownFunc},
		{"unknown function, later steps too", b.Filter("nosuch.fn").Map("btest.double"), `unknown function "nosuch.fn"`, futures.ErrUnknownFunc},
		{"wrong arity", b.Map("btest.add"), "wrong number of arguments", futures.ErrArgs},
		{"filter not bool", b.Filter("btest.double"), "not a bool", nil},
		{"flatmap not a slice", b.FlatMap("btest.double"), "not a slice", nil},
		{"json of numbers", b.DecodeJSON(), "invalid JSON in element 0 of partition", nil},
		{"pluck of a bad key", b.Pluck(1.5), "give a string (map key) or an int", ErrInvalid},
		{"key function of another type", strs.Map("btest.len").TopK(1, "btest.upper"), "cannot decode", nil},
		{"topk of mixed values", mixed.TopK(1, ""), "cannot order", nil},
		{"groupby unknown", b.GroupBy("nope", 2), `unknown function "nope"`, futures.ErrUnknownFunc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.bag.Compute(ctx, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
		})
	}
	if _, err := ReadText(filepath.Join(t.TempDir(), "*.txt")); !errors.Is(err, ErrNoFiles) {
		t.Fatalf("no files: %v", err)
	}
	if _, err := ReadText("[bad"); !errors.Is(err, filepath.ErrBadPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
	if _, err := FromSlice([]int{1}, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("0 partitions: %v", err)
	}
}

func TestToText(t *testing.T) {
	ctx, c := newClient(t)
	dir := t.TempDir()
	pattern, lines := textFixture(t, dir)
	b, err := ReadText(pattern, BlockSize(2000))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Map("btest.upper").ToText(ctx, c, filepath.Join(dir, "out", "part-*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != b.NPartitions() {
		t.Fatalf("%d files for %d partitions", len(res), b.NPartitions())
	}
	var total int64
	for _, r := range res {
		total += r.Lines
		st, err := os.Stat(r.Path)
		if err != nil || st.Size() != r.Bytes {
			t.Fatalf("%s: %v, %d bytes reported", r.Path, err, r.Bytes)
		}
	}
	if total != int64(len(lines)) {
		t.Fatalf("%d lines written, want %d", total, len(lines))
	}
	back, err := ReadText(filepath.Join(dir, "out", "part-*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ComputeAs[string](ctx, c, back)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lines {
		if got[i] != strings.ToUpper(lines[i]) {
			t.Fatalf("line %d: %q, want %q", i, got[i], strings.ToUpper(lines[i]))
		}
	}
	// Non-strings are written as JSON, gzip by the name.
	freq, err := b.FlatMap("btest.words").Frequencies().ToText(ctx, c, filepath.Join(dir, "freq-*.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := ReadText(freq[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := ComputeAs[[]any](ctx, c, fb.DecodeJSON())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			want[w]++
		}
	}
	if len(pairs) != len(want) {
		t.Fatalf("%d pairs written, want %d", len(pairs), len(want))
	}
	keys := make([]string, 0, len(pairs))
	for _, p := range pairs {
		w := p[0].(string)
		keys = append(keys, w)
		if fmt.Sprint(p[1]) != fmt.Sprint(want[w]) {
			t.Fatalf("%s: %v, want %d", w, p[1], want[w])
		}
	}
	sort.Strings(keys)
	if _, err := b.ToText(ctx, c, filepath.Join(dir, "no-star.txt")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a pattern without *: %v", err)
	}
}

// Word counts over the committed text fixtures (CRLF, no final newline, an
// empty file, gzip, non-ASCII words), against a plain reading of them.
func TestWordCountFixtures(t *testing.T) {
	ctx, c := newClient(t)
	paths, err := filepath.Glob("testdata/words-*")
	if err != nil || len(paths) != 4 {
		t.Fatalf("fixtures: %v %v", paths, err)
	}
	want := map[string]int64{}
	lines := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range plainLines(string(data)) {
			lines++
			for _, w := range strings.Fields(l) {
				want[w]++
			}
		}
	}
	for _, bs := range []int64{0, 16} {
		b, err := ReadText("testdata/words-*", BlockSize(bs))
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := b.Count().Compute(ctx, c, &n); err != nil || n != int64(lines) {
			t.Fatalf("block size %d: %d lines, %v; want %d", bs, n, err, lines)
		}
		freqs, err := ComputeAs[Pair[string]](ctx, c, b.FlatMap("btest.words").Frequencies())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, p := range freqs {
			got[p.Value] = p.Count
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("block size %d: word counts\n%v\nwant\n%v", bs, got, want)
		}
		if freqs[0].Value != "the" {
			t.Fatalf("most frequent word %q, want \"the\"", freqs[0].Value)
		}
	}
}
