package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/meshcompute/mesh/futures"
)

// Workload is a computation whose answer is known in advance.
type Workload interface {
	// Name says what it is ("mapreduce(2000)").
	Name() string
	// Tag is the prefix of every task tag it submits (for the exec logs).
	Tag() string
	// Submit puts the work in the mesh and returns every future it made.
	Submit(ctx context.Context, cl *futures.Client) ([]*futures.Future, error)
	// Check waits (until ctx ends) for the results and compares them
	// with the fault-free answer.
	Check(ctx context.Context, cl *futures.Client) Outcome
}

// Outcome is what a workload's check found.
type Outcome struct {
	Tasks      int // tasks and scattered values submitted
	Wrong      int // values that differ from the fault-free answer
	Lost       int // values that errored with ErrLost (every copy gone, not recomputable)
	Failed     int // futures that errored otherwise
	Unresolved int // futures not done when the check's bound ran out
	Problems   []string
}

// OK reports whether nothing went wrong.
func (o Outcome) OK() bool { return o.Wrong+o.Lost+o.Failed+o.Unresolved == 0 }

func (o *Outcome) add(p Outcome) {
	o.Tasks += p.Tasks
	o.Wrong += p.Wrong
	o.Lost += p.Lost
	o.Failed += p.Failed
	o.Unresolved += p.Unresolved
	o.Problems = append(o.Problems, p.Problems...)
}

func (o *Outcome) problem(format string, args ...any) {
	if len(o.Problems) < 20 {
		o.Problems = append(o.Problems, fmt.Sprintf(format, args...))
	}
}

// FetchTimeout bounds the fetch of one finished future's value by a
// check (a value whose every copy died is recomputed from its lineage, so
// the fetch may wait for that).
var FetchTimeout = 20 * time.Second

// maxFetchFailures: after this many values of one check could not be
// fetched, the rest are not tried (each would wait FetchTimeout).
const maxFetchFailures = 5

// checkInts waits (until ctx ends) for each future to finish, then fetches
// each finished value (FetchTimeout each) and compares it with want[i].
func checkInts(ctx context.Context, what string, fs []*futures.Future, want []int) Outcome {
	var o Outcome
	for _, f := range fs {
		f.Err(ctx) // wait until done or the bound
	}
	fetchFailures := 0
	for i, f := range fs {
		if !f.Done() {
			o.Unresolved++
			o.problem("%s[%d] (%s) never resolved", what, i, f.Key())
			continue
		}
		if err := f.Err(context.Background()); err != nil {
			if errors.Is(err, futures.ErrLost) {
				o.Lost++
				o.problem("%s[%d] (%s) lost: %v", what, i, f.Key(), err)
			} else {
				o.Failed++
				o.problem("%s[%d] (%s) failed: %v", what, i, f.Key(), err)
			}
			continue
		}
		if fetchFailures >= maxFetchFailures {
			o.Lost++
			continue
		}
		fctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
		var v int
		err := f.Result(fctx, &v)
		cancel()
		switch {
		case err != nil:
			fetchFailures++
			o.Lost++
			o.problem("%s[%d] (%s) finished, but its value could not be fetched within %v: %v", what, i, f.Key(), FetchTimeout, err)
			if fetchFailures == maxFetchFailures {
				o.problem("%s: %d values could not be fetched: the rest are counted lost untried", what, fetchFailures)
			}
		case v != want[i]:
			o.Wrong++
			o.problem("%s[%d] (%s) = %d, want %d", what, i, f.Key(), v, want[i])
		}
	}
	return o
}

// MapReduce is N chaos.leaf tasks (each sleeping 0..MaxMS ms, drawn from
// the seed) whose values a tree of chaos.add tasks sums: 2N-1 tasks, most
// with dependencies.
type MapReduce struct {
	N, MaxMS int
	Seed     uint64
	Prefix   string

	leaves []*futures.Future
	total  *futures.Future
}

func (w *MapReduce) Name() string { return fmt.Sprintf("mapreduce(%d, 0-%dms)", w.N, w.MaxMS) }
func (w *MapReduce) Tag() string  { return w.Prefix + "/mr/" }

func (w *MapReduce) Submit(ctx context.Context, cl *futures.Client) ([]*futures.Future, error) {
	rng := rand.New(rand.NewPCG(w.Seed, 1))
	all := make([]*futures.Future, 0, 2*w.N)
	for i := range w.N {
		f, err := cl.Submit(ctx, FnLeaf, fmt.Sprintf("%sl%d", w.Tag(), i), i, rng.IntN(w.MaxMS+1))
		if err != nil {
			return nil, err
		}
		w.leaves = append(w.leaves, f)
	}
	all = append(all, w.leaves...)
	level, t := w.leaves, 0
	for len(level) > 1 {
		var next []*futures.Future
		for i := 0; i+1 < len(level); i += 2 {
			f, err := cl.Submit(ctx, FnAdd, fmt.Sprintf("%sa%d", w.Tag(), t), level[i], level[i+1])
			if err != nil {
				return nil, err
			}
			t++
			next = append(next, f)
			all = append(all, f)
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	w.total = level[0]
	return all, nil
}

func (w *MapReduce) Check(ctx context.Context, cl *futures.Client) Outcome {
	want := make([]int, w.N)
	sum := 0
	for i := range want {
		want[i] = LeafValue(i)
		sum += want[i]
	}
	o := checkInts(ctx, w.Name()+" total", []*futures.Future{w.total}, []int{sum})
	o.add(checkInts(ctx, w.Name()+" leaf", w.leaves, want))
	o.Tasks = 2*w.N - 1
	return o
}

// Chain is L chaos.inc tasks, each depending on the one before.
type Chain struct {
	L      int
	Start  int
	Prefix string

	links []*futures.Future
}

func (w *Chain) Name() string { return fmt.Sprintf("chain(%d)", w.L) }
func (w *Chain) Tag() string  { return w.Prefix + "/chain/" }

func (w *Chain) Submit(ctx context.Context, cl *futures.Client) ([]*futures.Future, error) {
	var prev any = w.Start
	for i := range w.L {
		f, err := cl.Submit(ctx, FnInc, fmt.Sprintf("%s%d", w.Tag(), i), prev)
		if err != nil {
			return nil, err
		}
		w.links = append(w.links, f)
		prev = f
	}
	return w.links, nil
}

func (w *Chain) Check(ctx context.Context, cl *futures.Client) Outcome {
	want := make([]int, w.L)
	for i := range want {
		want[i] = w.Start + i + 1
	}
	// The end first: it resolves only if the whole chain did.
	o := checkInts(ctx, w.Name()+" end", w.links[w.L-1:], want[w.L-1:])
	o.add(checkInts(ctx, w.Name()+" link", w.links[:w.L-1], want[:w.L-1]))
	o.Tasks = w.L
	return o
}

// Scattered is K values put in the mesh with Scatter (in a few batches,
// so that different nodes take them), and a chaos.double task over each.
// Its check also gathers the scattered values themselves at the end: a
// scattered value was replicated before Scatter returned, so one lost to a
// single failure is a lost value.
type Scattered struct {
	K       int
	Batches int
	Seed    uint64
	Prefix  string

	vals    []int
	scatter []*futures.Future
	doubles []*futures.Future
}

func (w *Scattered) Name() string { return fmt.Sprintf("scatter(%d)+double", w.K) }
func (w *Scattered) Tag() string  { return w.Prefix + "/sc/" }

func (w *Scattered) Submit(ctx context.Context, cl *futures.Client) ([]*futures.Future, error) {
	rng := rand.New(rand.NewPCG(w.Seed, 2))
	w.vals = make([]int, w.K)
	for i := range w.vals {
		// Distinct values (scattered keys are hashes of the value),
		// distinct from other runs' too.
		w.vals[i] = int(rng.Uint32()>>4)*1024 + i
	}
	batches := max(1, w.Batches)
	per := (w.K + batches - 1) / batches
	for lo := 0; lo < w.K; lo += per {
		hi := min(w.K, lo+per)
		vs := make([]any, 0, hi-lo)
		for _, v := range w.vals[lo:hi] {
			vs = append(vs, v)
		}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		fs, err := cl.Scatter(sctx, vs)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("scatter values %d..%d: %w", lo, hi-1, err)
		}
		w.scatter = append(w.scatter, fs...)
	}
	for i, f := range w.scatter {
		d, err := cl.Submit(ctx, FnDouble, fmt.Sprintf("%sd%d", w.Tag(), i), f)
		if err != nil {
			return nil, err
		}
		w.doubles = append(w.doubles, d)
	}
	return append(append([]*futures.Future(nil), w.scatter...), w.doubles...), nil
}

func (w *Scattered) Check(ctx context.Context, cl *futures.Client) Outcome {
	twice := make([]int, w.K)
	for i, v := range w.vals {
		twice[i] = 2 * v
	}
	o := checkInts(ctx, w.Name()+" double", w.doubles, twice)
	o.add(checkInts(ctx, w.Name()+" scattered", w.scatter, w.vals))
	o.Tasks = 2 * w.K
	return o
}

// Progress records when the futures of a run finish, as the client sees
// them: the time to the first completion after a fault is its recovery
// time.
type Progress struct {
	mu    sync.Mutex
	total int
	times []time.Time // in order
	errs  int
	fs    []*futures.Future
}

// Pending lists the keys of watched futures not finished yet.
func (p *Progress) Pending() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, f := range p.fs {
		if !f.Done() {
			out = append(out, f.Key())
		}
	}
	return out
}

// Watch starts recording the completions of fs until ctx ends.
func (p *Progress) Watch(ctx context.Context, cl *futures.Client, fs []*futures.Future) {
	p.mu.Lock()
	p.total += len(fs)
	p.fs = append(p.fs, fs...)
	p.mu.Unlock()
	go func() {
		for f, err := range cl.AsCompleted(ctx, fs) {
			if f == nil {
				return
			}
			p.mu.Lock()
			p.times = append(p.times, time.Now())
			if err != nil {
				p.errs++
			}
			p.mu.Unlock()
		}
	}()
}

// Done returns how many futures finished, of how many.
func (p *Progress) Done() (done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.times), p.total
}

// WaitFraction waits until at least frac of the futures finished.
func (p *Progress) WaitFraction(ctx context.Context, frac float64) error {
	for {
		d, t := p.Done()
		if t > 0 && float64(d) >= frac*float64(t) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d futures done, waiting for %.0f%%: %w", d, t, frac*100, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WaitMore waits until n more futures have finished than now.
func (p *Progress) WaitMore(ctx context.Context, n int) error {
	d0, _ := p.Done()
	for {
		d, t := p.Done()
		if d >= d0+n || d == t {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d futures done, waiting for %d more: %w", d, t, d0+n-d, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Recovery returns the time from at to the first completion after it, and
// false when none came after it (or all were done before).
func (p *Progress) Recovery(at time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, t := range p.times {
		if t.After(at) && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return first.Sub(at), true
}
