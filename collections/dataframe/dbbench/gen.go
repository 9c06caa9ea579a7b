// Package dbbench owns the db-benchmark workloads of the DataFrame
// collection (the H2O / DuckDB Labs groupby and join benchmarks): data
// generators shaped like the benchmark's groupby-datagen.R and
// join-datagen.R (and ../shared/anchors/gen_*.py), the questions, and the
// answer format of ../shared/fixtures/dbbench.
package dbbench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
)

// GroupByOptions shape a groupby data set.
type GroupByOptions struct {
	Rows int    // N
	K    int    // groups of the small keys (id1, id2, id4, id5); id3 and id6 have N/K
	NAs  int    // percent: of each id column's distinct values, and of each v column's rows
	Seed uint64 // same seed, same file
}

// GenGroupBy writes a groupby data set as CSV (header id1..id6,v1,v2,v3; NA
// is an empty field): id1, id2 "id%03d" of K values, id3 "id%010d" of N/K
// values, id4, id5 ints 1..K, id6 int 1..N/K, v1 int 1..5, v2 int 1..15, v3
// uniform in [0,100) rounded to 6 decimals. With NAs, that percent of each
// id column's values are NA wherever they occur, and each v value is NA with
// that probability.
func GenGroupBy(w io.Writer, o GroupByOptions) error {
	if o.Rows < 1 || o.K < 1 {
		return fmt.Errorf("groupby data: rows %d and k %d must be at least 1", o.Rows, o.K)
	}
	if o.NAs < 0 || o.NAs > 100 {
		return fmt.Errorf("groupby data: nas %d: want a percent, 0..100", o.NAs)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6d657368))
	k3 := max(o.Rows/o.K, 1)
	// naIDs[c][v]: value v of id column c is NA everywhere.
	var naIDs [6][]bool
	for c := range naIDs {
		n := o.K
		if c == 2 || c == 5 {
			n = k3
		}
		naIDs[c] = make([]bool, n+1)
		for _, v := range rng.Perm(n)[:n*o.NAs/100] {
			naIDs[c][v+1] = true
		}
	}
	naRate := float64(o.NAs) / 100
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("id1,id2,id3,id4,id5,id6,v1,v2,v3\n")
	line := make([]byte, 0, 128)
	for range o.Rows {
		line = line[:0]
		ids := [6]int{rng.IntN(o.K) + 1, rng.IntN(o.K) + 1, rng.IntN(k3) + 1, rng.IntN(o.K) + 1, rng.IntN(o.K) + 1, rng.IntN(k3) + 1}
		for c, v := range ids {
			if !naIDs[c][v] {
				switch c {
				case 0, 1:
					line = appendPadded(append(line, "id"...), v, 3)
				case 2:
					line = appendPadded(append(line, "id"...), v, 10)
				default:
					line = strconv.AppendInt(line, int64(v), 10)
				}
			}
			line = append(line, ',')
		}
		v1, v2, v3 := rng.IntN(5)+1, rng.IntN(15)+1, math.Round(rng.Float64()*100*1e6)/1e6
		if naRate == 0 || rng.Float64() >= naRate {
			line = strconv.AppendInt(line, int64(v1), 10)
		}
		line = append(line, ',')
		if naRate == 0 || rng.Float64() >= naRate {
			line = strconv.AppendInt(line, int64(v2), 10)
		}
		line = append(line, ',')
		if naRate == 0 || rng.Float64() >= naRate {
			line = strconv.AppendFloat(line, v3, 'f', -1, 64)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendPadded appends v in decimal, zero-padded to width.
func appendPadded(b []byte, v, width int) []byte {
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// JoinOptions shape a join data set.
type JoinOptions struct {
	Rows int // rows of the left table x (and of big)
	Seed uint64
}

// JoinFiles are the files GenJoin writes for a prefix.
func JoinFiles(prefix string) (x, small, medium, big string) {
	return prefix + "_NA_0_0.csv", prefix + "_small.csv", prefix + "_medium.csv", prefix + "_big.csv"
}

// GenJoin writes a join data set like join-datagen.R: the left table x
// (id1..id3 ints, id4..id6 the same keys as strings "id<n>", v1) with
// PREFIX_NA_0_0.csv, and right tables PREFIX_small.csv (id1,id4,v2; N/1e6
// keys, at least 10), PREFIX_medium.csv (id1,id2,id4,id5,v2; N/1e3 keys, at
// least 100) and PREFIX_big.csv (id1..id6,v2; N keys). Each key space is
// split 90/10/10: keys in both sides, in x only, in the right side only,
// so about 90% of each key matches.
func GenJoin(prefix string, o JoinOptions) error {
	if o.Rows < 1 {
		return fmt.Errorf("join data: rows %d must be at least 1", o.Rows)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6a6f696e))
	n := o.Rows
	k1, k2, k3 := splitKeys(rng, max(n/1_000_000, 10)), splitKeys(rng, max(n/1_000, 100)), splitKeys(rng, n)
	xName, smallName, mediumName, bigName := JoinFiles(prefix)

	id1, id2, id3 := sampleAll(rng, k1.left(), n), sampleAll(rng, k2.left(), n), sampleAll(rng, k3.left(), n)
	if err := writeCSV(xName, "id1,id2,id3,id4,id5,id6,v1", n, func(i int, b []byte) []byte {
		b = appendInts(b, id1[i], id2[i], id3[i])
		b = appendIDs(b, id1[i], id2[i], id3[i])
		return appendUniform(b, rng)
	}); err != nil {
		return err
	}
	ks := k1.right()
	if err := writeCSV(smallName, "id1,id4,v2", len(ks), func(i int, b []byte) []byte {
		b = appendInts(b, ks[i])
		b = appendIDs(b, ks[i])
		return appendUniform(b, rng)
	}); err != nil {
		return err
	}
	km := permuted(rng, k2.right())
	r1 := k1.right()
	if err := writeCSV(mediumName, "id1,id2,id4,id5,v2", len(km), func(i int, b []byte) []byte {
		a := r1[rng.IntN(len(r1))]
		b = appendInts(b, a, km[i])
		b = appendIDs(b, a, km[i])
		return appendUniform(b, rng)
	}); err != nil {
		return err
	}
	kb := permuted(rng, k3.right())
	r2 := k2.right()
	return writeCSV(bigName, "id1,id2,id3,id4,id5,id6,v2", len(kb), func(i int, b []byte) []byte {
		a, c := r1[rng.IntN(len(r1))], r2[rng.IntN(len(r2))]
		b = appendInts(b, a, c, kb[i])
		b = appendIDs(b, a, c, kb[i])
		return appendUniform(b, rng)
	})
}

// keySplit is a permutation of 1..1.1n cut into keys on both sides (x),
// on the left only (l) and on the right only (r).
type keySplit struct{ x, l, r []int }

func splitKeys(rng *rand.Rand, n int) keySplit {
	total := n + n/10
	key := rng.Perm(total)
	for i := range key {
		key[i]++
	}
	a, b := n*9/10, n
	return keySplit{x: key[:a], l: key[a:b], r: key[b:total]}
}

func (k keySplit) left() []int  { return append(append([]int(nil), k.x...), k.l...) }
func (k keySplit) right() []int { return append(append([]int(nil), k.x...), k.r...) }

// sampleAll draws size keys from pool: every key of the pool at least once
// when size exceeds it (the rest at random), a sample without replacement
// otherwise; shuffled.
func sampleAll(rng *rand.Rand, pool []int, size int) []int {
	var out []int
	if size > len(pool) {
		out = append(make([]int, 0, size), pool...)
		for len(out) < size {
			out = append(out, pool[rng.IntN(len(pool))])
		}
	} else {
		out = permuted(rng, pool)[:size]
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func permuted(rng *rand.Rand, s []int) []int {
	out := append([]int(nil), s...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func writeCSV(name, header string, rows int, row func(i int, b []byte) []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString(header + "\n")
	line := make([]byte, 0, 128)
	for i := range rows {
		line = append(row(i, line[:0]), '\n')
		if _, err := bw.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func appendInts(b []byte, vs ...int) []byte {
	for _, v := range vs {
		b = append(strconv.AppendInt(b, int64(v), 10), ',')
	}
	return b
}

func appendIDs(b []byte, vs ...int) []byte {
	for _, v := range vs {
		b = append(strconv.AppendInt(append(b, "id"...), int64(v), 10), ',')
	}
	return b
}

func appendUniform(b []byte, rng *rand.Rand) []byte {
	return strconv.AppendFloat(b, math.Round(rng.Float64()*100*1e6)/1e6, 'f', -1, 64)
}
