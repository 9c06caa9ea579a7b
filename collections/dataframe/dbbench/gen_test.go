package dbbench

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func readAll(t *testing.T, data []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestGenGroupByShape(t *testing.T) {
	for _, tc := range []struct {
		name         string
		rows, k, nas int
	}{
		{"no NA", 20000, 10, 0},
		{"5% NA", 20000, 10, 5},
		{"few rows", 7, 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := GenGroupBy(&buf, GroupByOptions{Rows: tc.rows, K: tc.k, NAs: tc.nas, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			rows := readAll(t, buf.Bytes())
			if got := strings.Join(rows[0], ","); got != "id1,id2,id3,id4,id5,id6,v1,v2,v3" {
				t.Fatalf("header %q", got)
			}
			rows = rows[1:]
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			k3 := max(tc.rows/tc.k, 1)
			distinct := make([]map[string]bool, 9)
			nas := make([]int, 9)
			for i := range distinct {
				distinct[i] = map[string]bool{}
			}
			for _, r := range rows {
				for c, v := range r {
					if v == "" {
						nas[c]++
						continue
					}
					distinct[c][v] = true
					switch {
					case c < 2 && (len(v) != 5 || !strings.HasPrefix(v, "id")):
						t.Fatalf("id%d = %q", c+1, v)
					case c == 2 && len(v) != 12:
						t.Fatalf("id3 = %q", v)
					}
					if c >= 3 {
						f, err := strconv.ParseFloat(v, 64)
						if err != nil {
							t.Fatalf("column %d: %q", c, err)
						}
						hi := []float64{float64(tc.k), float64(tc.k), float64(k3), 5, 15, 100}[c-3]
						lo := []float64{1, 1, 1, 1, 1, 0}[c-3]
						if f < lo || f > hi || (c == 8 && f >= 100) {
							t.Fatalf("column %d = %v out of [%v, %v]", c, f, lo, hi)
						}
					}
				}
			}
			if tc.rows >= 1000 {
				if len(distinct[0]) < tc.k*(100-tc.nas)/100 || len(distinct[0]) > tc.k {
					t.Errorf("id1 has %d values, want about %d", len(distinct[0]), tc.k)
				}
				for c := range 9 {
					share := float64(nas[c]) / float64(tc.rows)
					// An id column has floor(values × nas%) NA values:
					// none when that is under one.
					values := []int{tc.k, tc.k, k3, tc.k, tc.k, k3, 1, 1, 1}[c]
					if c < 6 && values*tc.nas/100 == 0 {
						if nas[c] != 0 {
							t.Errorf("column %d has %d NAs, want none (%d values)", c, nas[c], values)
						}
						continue
					}
					if tc.nas == 0 && nas[c] != 0 {
						t.Errorf("column %d has %d NAs, want none", c, nas[c])
					}
					if tc.nas > 0 && (share < 0.02 || share > 0.2) {
						t.Errorf("column %d: %.3f NA, want about %d%%", c, share, tc.nas)
					}
				}
			}
		})
	}
	var a, b bytes.Buffer
	GenGroupBy(&a, GroupByOptions{Rows: 100, K: 10, Seed: 7})
	GenGroupBy(&b, GroupByOptions{Rows: 100, K: 10, Seed: 7})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different data")
	}
	if err := GenGroupBy(&a, GroupByOptions{Rows: 10, K: 0}); err == nil {
		t.Fatal("k 0 accepted")
	}
}

func TestGenJoinMatchesNinetyPercent(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "J1")
	const n = 5000
	if err := GenJoin(prefix, JoinOptions{Rows: n, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	xName, smallName, mediumName, bigName := JoinFiles(prefix)
	load := func(name string) [][]string {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, data)
	}
	x, small, medium, big := load(xName), load(smallName), load(mediumName), load(bigName)
	for _, tc := range []struct {
		rows   [][]string
		header string
		n      int
	}{
		{x, "id1,id2,id3,id4,id5,id6,v1", n},
		{small, "id1,id4,v2", 10},
		{medium, "id1,id2,id4,id5,v2", 100},
		{big, "id1,id2,id3,id4,id5,id6,v2", n},
	} {
		if got := strings.Join(tc.rows[0], ","); got != tc.header || len(tc.rows)-1 != tc.n {
			t.Fatalf("%s: %d rows, want %q with %d", got, len(tc.rows)-1, tc.header, tc.n)
		}
	}
	// id4 is "id" + id1, on every row.
	for _, r := range x[1:] {
		if r[3] != "id"+r[0] || r[5] != "id"+r[2] {
			t.Fatalf("row %v: string keys differ from int keys", r)
		}
	}
	matched := func(right [][]string, col int, xcol int) float64 {
		keys := map[string]bool{}
		for _, r := range right[1:] {
			keys[r[col]] = true
		}
		m := 0
		for _, r := range x[1:] {
			if keys[r[xcol]] {
				m++
			}
		}
		return float64(m) / float64(len(x)-1)
	}
	for name, share := range map[string]float64{
		"small id1": matched(small, 0, 0), "medium id2": matched(medium, 1, 1), "big id3": matched(big, 2, 2),
	} {
		if share < 0.8 || share > 0.97 {
			t.Errorf("%s: %.3f of x matches, want about 0.9", name, share)
		}
	}
}
