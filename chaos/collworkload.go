package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/meshcompute/mesh/collections/array"
	"github.com/meshcompute/mesh/collections/bag"
	"github.com/meshcompute/mesh/collections/delayed"
	"github.com/meshcompute/mesh/futures"
)

// Collections is an Array, a Bag and a Delayed computation run through
// their collections' Compute while the faults happen, each checked against
// a plain Go answer: the tutorial's array expression ((x + x.T) -
// x.mean(axis=1), every other row from the middle column on, its row
// means) on a seeded random array in odd chunks; a word count of a
// generated text file read in blocks; a delayed graph where ten branches
// share one input. Compute blocks, so Submit runs the three on goroutines
// that Check waits for; they make no futures for the progress watch.
type Collections struct {
	Seed   uint64
	Dir    string
	Prefix string
	// N is the array's side; Lines the text file's lines.
	N, Lines int

	cancel context.CancelFunc
	wg     sync.WaitGroup
	text   string
	arr    *array.Dense
	words  []bag.Pair[string]
	total  int
	errs   [3]error
}

func (w *Collections) Name() string {
	return fmt.Sprintf("collections(array %dx%d, bag %d lines, delayed)", w.N, w.N, w.Lines)
}
func (w *Collections) Tag() string { return w.Prefix + "/coll/" }

// delayedBranches is how many branches of the delayed graph share its
// input.
const delayedBranches = 10

func (w *Collections) Submit(ctx context.Context, cl *futures.Client) ([]*futures.Future, error) {
	w.text = filepath.Join(w.Dir, fmt.Sprintf("words-%d.txt", w.Seed))
	if err := os.WriteFile(w.text, []byte(strings.Join(w.lines(), "\n")), 0o644); err != nil {
		return nil, err
	}
	words, err := bag.ReadText(w.text, bag.BlockSize(2048))
	if err != nil {
		return nil, err
	}
	ctx, w.cancel = context.WithCancel(ctx)
	x := array.Random([]int{w.N, w.N}, []int{w.N/4 + 3, w.N/3 + 1}, w.Seed)
	z := x.Add(x.T()).Sub(x.Mean(1)).Slice(array.Every(2), array.From(w.N/2)).Mean(1)
	w.wg.Go(func() { w.arr, w.errs[0] = z.Compute(ctx, cl) })
	w.wg.Go(func() {
		w.words, w.errs[1] = bag.ComputeAs[bag.Pair[string]](ctx, cl, words.Str().Split("").Flatten().Frequencies())
	})
	w.wg.Go(func() {
		tag := w.Tag() + "delayed/"
		base := delayed.Call(FnLeaf, tag+"base", 5, 20)
		sum := delayed.Call(FnInc, tag+"zero", -1)
		for i := range delayedBranches {
			b := delayed.Call(FnDouble, fmt.Sprintf("%sd%d", tag, i), delayed.Call(FnAdd, fmt.Sprintf("%sa%d", tag, i), base, i))
			sum = delayed.Call(FnAdd, fmt.Sprintf("%ss%d", tag, i), sum, b)
		}
		var got []int
		got, w.errs[2] = delayed.ComputeAs[int](ctx, cl, sum)
		if len(got) == 1 {
			w.total = got[0]
		}
	})
	return nil, nil
}

// lines makes the text file: words from a small vocabulary, some lines
// empty, the last without a newline.
func (w *Collections) lines() []string {
	rng := rand.New(rand.NewPCG(w.Seed, 7))
	vocab := strings.Fields("mesh node leader raft task graph future value worker shard chunk block bag array delayed")
	out := make([]string, w.Lines)
	for i := range out {
		n := rng.IntN(9)
		ws := make([]string, n)
		for j := range ws {
			ws[j] = vocab[rng.IntN(len(vocab))]
		}
		out[i] = strings.Join(ws, " ")
	}
	return out
}

func (w *Collections) Check(ctx context.Context, cl *futures.Client) Outcome {
	o := Outcome{Tasks: 3}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel()
		<-done
	}
	w.cancel()
	names := []string{"array", "bag", "delayed"}
	for i, err := range w.errs {
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			o.Unresolved++
		} else {
			o.Failed++
		}
		o.problem("%s: %s: %v", w.Name(), names[i], err)
	}
	if w.errs[0] == nil {
		w.checkArray(&o)
	}
	if w.errs[1] == nil {
		want := map[string]int64{}
		for _, l := range w.lines() {
			for _, word := range strings.Fields(l) {
				want[word]++
			}
		}
		got := map[string]int64{}
		for _, p := range w.words {
			got[p.Value] = p.Count
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			o.Wrong++
			o.problem("%s: word counts %v, want %v", w.Name(), got, want)
		}
	}
	if w.errs[2] == nil {
		want := 0
		for i := range delayedBranches {
			want += 2 * (LeafValue(5) + i)
		}
		if w.total != want {
			o.Wrong++
			o.problem("%s: delayed total %d, want %d", w.Name(), w.total, want)
		}
	}
	return o
}

// checkArray compares the array's answer with the expression computed
// element by element from array.RandomValue.
func (w *Collections) checkArray(o *Outcome) {
	n := w.N
	xv := func(i, j int) float64 { return array.RandomValue(w.Seed, i*n+j) }
	m := make([]float64, n)
	for j := range n {
		for k := range n {
			m[j] += xv(j, k)
		}
		m[j] /= float64(n)
	}
	if len(w.arr.Shape) != 1 || w.arr.Shape[0] != n/2 || len(w.arr.F64) != n/2 {
		o.Wrong++
		o.problem("%s: array shape %v (%d values), want [%d]", w.Name(), w.arr.Shape, len(w.arr.F64), n/2)
		return
	}
	for r := range n / 2 {
		want := 0.0
		for j := n / 2; j < n; j++ {
			want += xv(2*r, j) + xv(j, 2*r) - m[j]
		}
		want /= float64(n - n/2)
		if got := w.arr.F64[r]; math.Abs(got-want) > 1e-9 {
			o.Wrong++
			o.problem("%s: array row %d: %v, want %v", w.Name(), r, got, want)
			return
		}
	}
}
