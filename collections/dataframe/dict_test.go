package dataframe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/meshcompute/mesh/futures"
)

// canonRows is rec's rows as sorted strings (column names first).
func canonRows(rec arrow.RecordBatch) []string {
	var names []string
	for _, f := range rec.Schema().Fields() {
		names = append(names, f.Name+":"+f.Type.String())
	}
	out := make([]string, rec.NumRows())
	for i := range out {
		var parts []string
		for _, c := range rec.Columns() {
			parts = append(parts, c.ValueStr(i))
		}
		out[i] = strings.Join(parts, "|")
	}
	slices.Sort(out)
	return append([]string{strings.Join(names, ",")}, out...)
}

// Every operation gives the same answer on a DataFrame read with
// DictionaryStrings (persisted or not) as on the plain one, and the
// results hold plain strings.
func TestDictionaryStrings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	path, _ := opsData(t, 3000)
	st, _ := os.Stat(path)
	plain, err := ReadCSV(path, BlockSize(st.Size()/5+1))
	if err != nil {
		t.Fatal(err)
	}
	dict, err := ReadCSV(path, BlockSize(st.Size()/5+1), DictionaryStrings())
	if err != nil {
		t.Fatal(err)
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
	pdict, err := dict.Persist(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer pdict.Release(ctx, c)
	small, err := ReadCSV(path, BlockSize(st.Size()/2+1), DictionaryStrings())
	if err != nil {
		t.Fatal(err)
	}
	small = small.Filter(Col("id").Lt(40)).Select("g", "k")

	ops := map[string]func(d *DataFrame) (*DataFrame, error){
		"all":           func(d *DataFrame) (*DataFrame, error) { return d, nil },
		"select":        func(d *DataFrame) (*DataFrame, error) { return d.Select("g", "id"), nil },
		"filter":        func(d *DataFrame) (*DataFrame, error) { return d.Filter(Col("g").Eq("g05").Or(Col("g").IsNull())), nil },
		"with":          func(d *DataFrame) (*DataFrame, error) { return d.WithColumn("u", Col("g").Upper()), nil },
		"groupby g":     func(d *DataFrame) (*DataFrame, error) { return d.GroupBy("g").Agg(Sum("x"), Count("k"), Size()), nil },
		"groupby split": func(d *DataFrame) (*DataFrame, error) { return d.GroupBy("g", "k").SplitOut(3).Agg(Mean("x")), nil },
		"agg on g": func(d *DataFrame) (*DataFrame, error) {
			return d.GroupBy("k").Agg(Min("g").As("mn"), Max("g").As("mx"), First("g").As("f"), NUnique("g").As("nu"), Count("g").As("n")), nil
		},
		"agg g by g": func(d *DataFrame) (*DataFrame, error) {
			return d.GroupBy("g").Agg(Count("g").As("n"), Max("g").As("m")), nil
		},
		"groupby none": func(d *DataFrame) (*DataFrame, error) { return d.GroupBy().Agg(NUnique("g"), Max("g").As("m")), nil },
		"valuecounts":  func(d *DataFrame) (*DataFrame, error) { return d.ValueCounts("g"), nil },
		"unique":       func(d *DataFrame) (*DataFrame, error) { return d.Unique("g"), nil },
		"sort":         func(d *DataFrame) (*DataFrame, error) { return d.Sort(Asc("g"), Desc("id")), nil },
		"nlargest":     func(d *DataFrame) (*DataFrame, error) { return d.NLargest(7, "id"), nil },
		"repartition":  func(d *DataFrame) (*DataFrame, error) { return d.Repartition(2), nil },
		"join":         func(d *DataFrame) (*DataFrame, error) { return d.Join(small, On("g"), Broadcast()) },
		"join shuffle": func(d *DataFrame) (*DataFrame, error) { return d.Join(small, On("g"), Shuffle(3)) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			want := computeCanon(ctx, t, c, op, plain)
			for _, d := range []*DataFrame{dict, pdict} {
				got := computeCanon(ctx, t, c, op, d)
				if !slices.Equal(got, want) {
					n := min(len(got), 5)
					t.Fatalf("%d rows %v..., want %d rows %v...", len(got), got[:n], len(want), want[:min(len(want), 5)])
				}
			}
		})
	}
	t.Run("Head, Schema, Describe, MemoryUsage", func(t *testing.T) {
		for _, d := range []*DataFrame{dict, pdict} {
			h, err := d.Head(ctx, c, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !arrow.TypeEqual(h.Schema().Field(1).Type, arrow.BinaryTypes.String) {
				t.Fatalf("head schema %s", h.Schema())
			}
			h.Release()
			s, err := d.Schema(ctx, c)
			if err != nil || !arrow.TypeEqual(s.Field(1).Type, arrow.BinaryTypes.String) {
				t.Fatalf("schema %v %v", s, err)
			}
			desc, err := d.Describe(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			desc.Release()
			n, err := d.NUniqueOf(ctx, c, "g")
			if err != nil || n != 23 {
				t.Fatalf("nunique %d %v", n, err)
			}
		}
		mu, err := pdict.MemoryUsage(ctx, c, true)
		if err != nil || mu["g"] <= 0 {
			t.Fatalf("memory usage %v %v", mu, err)
		}
		pu, _ := plain.MemoryUsage(ctx, c, true)
		if mu["g"] >= pu["g"] {
			t.Errorf("dictionary column takes %d bytes, plain %d", mu["g"], pu["g"])
		}
	})
	t.Run("ToCSV, ToParquet", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := pdict.ToCSV(ctx, c, filepath.Join(dir, "csv", "part-*.csv")); err != nil {
			t.Fatal(err)
		}
		if _, err := pdict.ToParquet(ctx, c, filepath.Join(dir, "pq", "part-*.parquet")); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(filepath.Join(dir, "csv", "*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		want := computeCanon(ctx, t, c, func(d *DataFrame) (*DataFrame, error) { return d, nil }, plain)
		got := computeCanon(ctx, t, c, func(d *DataFrame) (*DataFrame, error) { return d, nil }, back)
		if !slices.Equal(got, want) {
			t.Fatalf("ToCSV round trip differs")
		}
		pq, err := ReadParquet(filepath.Join(dir, "pq", "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		got = computeCanon(ctx, t, c, func(d *DataFrame) (*DataFrame, error) { return d.Select("id", "g", "x", "k"), nil }, pq)
		if !slices.Equal(got, want) {
			t.Fatalf("ToParquet round trip differs")
		}
	})
}

func computeCanon(ctx context.Context, t *testing.T, c *futures.Client, op func(*DataFrame) (*DataFrame, error), d *DataFrame) []string {
	t.Helper()
	dd, err := op(d)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := dd.ComputeRecord(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	return canonRows(rec)
}

// A group-by with about a group per row (the pass-through partial: keys
// keep their dictionaries through the hash shuffle and are unified when
// combined) gives the plain DataFrame's answer. Partitions must exceed the
// adaptive sample (65,536 rows) for the pass-through to be chosen.
func TestDictionaryKeysManyGroupsShuffle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 150_000
	var sb strings.Builder
	sb.WriteString("s,u,x\n")
	for i := range n {
		s := (i * 7919) % 120_000 // rows i and i+120,000 (in the other partition) are one group
		u := fmt.Sprintf("u%02d", s%47)
		if s%17 == 4 {
			u = ""
		}
		fmt.Fprintf(&sb, "s%06d,%s,%d\n", s, u, i%1000)
	}
	path := filepath.Join(t.TempDir(), "many.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
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
	op := func(d *DataFrame) (*DataFrame, error) {
		return d.GroupBy("s", "u").SplitOut(3).Agg(Sum("x"), Size(), Mean("x")), nil
	}
	var want []string
	for _, opts := range [][]Option{nil, {DictionaryStrings()}} {
		d, err := ReadCSV(path, append(opts, BlockSize(int64(sb.Len())/2+1))...)
		if err != nil {
			t.Fatal(err)
		}
		if d.NPartitions() != 2 {
			t.Fatalf("%d partitions, want 2 of more than 65,536 rows", d.NPartitions())
		}
		got := computeCanon(ctx, t, c, op, d)
		if len(got) != 120_001 { // a header line, then the groups
			t.Fatalf("%d groups, want 120,000", len(got)-1)
		}
		if want == nil {
			want = got
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("dictionary strings: %d rows %v..., plain %d rows %v...", len(got), got[:3], len(want), want[:3])
		}
	}
}
