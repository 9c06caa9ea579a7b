package futures

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var calls atomic.Int64
var flaky atomic.Int64

func init() {
	Register("test.inc", func(x int) int { calls.Add(1); return x + 1 })
	Register("test.add", func(a, b int) int { return a + b })
	Register("test.fail", func(x int) (int, error) { return 0, fmt.Errorf("no good: %d", x) })
	Register("test.boom", func(x int) int { panic(fmt.Sprintf("boom %d", x)) })
	Register("test.sleep", func(ctx context.Context, ms int) int {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return ms
	})
	Register("test.flaky", func(x int) (int, error) {
		if flaky.Add(1) <= 2 {
			return 0, errors.New("not yet")
		}
		return x, nil
	})
	Register("test.len", func(s []string) int { return len(s) })
	Register("test.sleepon", func(ctx context.Context, x, ms int) int {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return x + ms
	})
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func newCluster(t *testing.T, n int, opts ...Option) (*LocalCluster, *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := NewLocalCluster(ctx, n, append([]Option{WithThreads(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return lc, c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitMapGather(t *testing.T) {
	_, c := newCluster(t, 3)
	ctx := ctxT(t)
	f, err := c.Submit(ctx, "test.inc", 41)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := f.Result(ctx, &got); err != nil || got != 42 {
		t.Fatalf("inc(41) = %d, %v", got, err)
	}
	args := make([]any, 500)
	for i := range args {
		args[i] = i
	}
	fs, err := c.Map(ctx, "test.inc", args)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := GatherAs[int](ctx, c, fs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != i+1 {
			t.Fatalf("inc(%d) = %d", i, v)
		}
	}
	anyVals, err := c.Gather(ctx, fs[:3])
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(anyVals) != "[1 2 3]" {
		t.Fatalf("Gather = %v", anyVals)
	}
}

func TestTreeReduction(t *testing.T) {
	_, c := newCluster(t, 3)
	ctx := ctxT(t)
	n := 256
	args := make([]any, n)
	for i := range args {
		args[i] = i
	}
	level, err := c.Map(ctx, "test.inc", args)
	if err != nil {
		t.Fatal(err)
	}
	for len(level) > 1 {
		var next []*Future
		for i := 0; i < len(level); i += 2 {
			f, err := c.Submit(ctx, "test.add", level[i], level[i+1])
			if err != nil {
				t.Fatal(err)
			}
			next = append(next, f)
		}
		level = next
	}
	var sum int
	if err := level[0].Result(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if want := n * (n + 1) / 2; sum != want {
		t.Fatalf("sum = %d, want %d", sum, want)
	}
}

func TestPureCallsComputeOnce(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	before := calls.Load()
	a, _ := c.Submit(ctx, "test.inc", 1000)
	b, _ := c.Submit(ctx, "test.inc", 1000)
	if a.Key() != b.Key() {
		t.Fatalf("pure keys differ: %s %s", a.Key(), b.Key())
	}
	if _, err := c.Gather(ctx, []*Future{a, b}); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load() - before; n != 1 {
		t.Fatalf("computed %d times, want once", n)
	}
	u, _ := c.Submit(ctx, "test.inc", 1000, Pure(false))
	if u.Key() == a.Key() {
		t.Fatal("impure call got the pure key")
	}
	k, _ := c.Submit(ctx, "test.inc", 1, Key("my-key"))
	if k.Key() != "my-key" {
		t.Fatalf("key = %s", k.Key())
	}
}

func TestAsCompletedYieldsInFinishingOrder(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	fs, err := c.Map(ctx, "test.sleep", []any{300, 10, 150})
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	for f, err := range c.AsCompleted(ctx, fs) {
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := f.Result(ctx, &v); err != nil {
			t.Fatal(err)
		}
		order = append(order, v)
	}
	if !slices.Equal(order, []int{10, 150, 300}) {
		t.Fatalf("order %v", order)
	}
	done, notDone, err := c.Wait(ctx, fs, AllCompleted)
	if err != nil || len(done) != 3 || len(notDone) != 0 {
		t.Fatalf("wait: %d done %d not, %v", len(done), len(notDone), err)
	}
}

func TestFailuresAreClear(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)

	f, _ := c.Submit(ctx, "test.fail", 7)
	var te *TaskError
	if err := f.Err(ctx); !errors.As(err, &te) || !strings.Contains(err.Error(), "no good: 7") || te.Kind != "error" {
		t.Fatalf("error task: %v", err)
	}
	dep, _ := c.Submit(ctx, "test.inc", f)
	if err := dep.Err(ctx); err == nil || !strings.Contains(err.Error(), "no good: 7") {
		t.Fatalf("dependant of an erred task: %v", err)
	}

	p, _ := c.Submit(ctx, "test.boom", 3)
	err := p.Err(ctx)
	if !errors.As(err, &te) || te.Kind != "panic" || !strings.Contains(err.Error(), "boom 3") || !strings.Contains(te.Stack, "futures_test.go") {
		t.Fatalf("panic: %v (stack %q)", err, te.Stack)
	}

	if _, err := c.Submit(ctx, "test.nope", 1); !errors.Is(err, ErrUnknownFunc) || !strings.Contains(err.Error(), "test.nope") {
		t.Fatalf("unknown function: %v", err)
	}
	if _, err := c.Submit(ctx, "test.add", 1); !errors.Is(err, ErrArgs) {
		t.Fatalf("wrong arity: %v", err)
	}
	bad, _ := c.Submit(ctx, "test.inc", "not a number")
	if err := bad.Err(ctx); !errors.Is(err, ErrArgs) {
		t.Fatalf("undecodable argument: %v", err)
	}

	// The rest of the graph goes on.
	ok, _ := c.Submit(ctx, "test.inc", 1)
	var v int
	if err := ok.Result(ctx, &v); err != nil || v != 2 {
		t.Fatalf("after failures: %d %v", v, err)
	}
}

func TestRetries(t *testing.T) {
	_, c := newCluster(t, 1)
	ctx := ctxT(t)
	flaky.Store(0)
	f, _ := c.Submit(ctx, "test.flaky", 5, Retries(2))
	var v int
	if err := f.Result(ctx, &v); err != nil || v != 5 {
		t.Fatalf("flaky with retries: %d %v", v, err)
	}
}

func TestScatter(t *testing.T) {
	lc, c := newCluster(t, 3)
	ctx := ctxT(t)
	fs, err := c.Scatter(ctx, []any{[]string{"a", "b", "c"}, []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	// Replicated before Scatter returned: two nodes hold each value.
	holders := 0
	for _, n := range lc.Nodes() {
		if slices.Contains(n.StoredKeys(), fs[0].Key()) {
			holders++
		}
	}
	if holders != 2 {
		t.Fatalf("scattered value held by %d nodes, want 2", holders)
	}
	ls, err := c.Map(ctx, "test.len", []any{fs[0], fs[1]})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := GatherAs[int](ctx, c, ls)
	if err != nil || !slices.Equal(vals, []int{3, 1}) {
		t.Fatalf("lens %v %v", vals, err)
	}
}

// Tasks that all need a value held by one node are placed there; the
// other nodes, idle, steal the ones it has not started.
func TestIdleWorkersSteal(t *testing.T) {
	lc, c := newCluster(t, 3, WithThreads(1), WithReplicas(1))
	ctx := ctxT(t)
	data, err := c.Submit(ctx, "test.inc", 1) // one copy: its node holds it
	if err != nil {
		t.Fatal(err)
	}
	var fs []*Future
	for i := range 30 {
		f, err := c.Submit(ctx, "test.sleepon", data, 40+i)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	vals, err := GatherAs[int](ctx, c, fs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != 42+i {
			t.Fatalf("value %d = %d, want %d", i, v, 42+i)
		}
	}
	// With one copy of each result, its holder is the node that ran it.
	ran := 0
	for _, n := range lc.Nodes() {
		for _, f := range fs {
			if slices.Contains(n.StoredKeys(), f.Key()) {
				ran++
				break
			}
		}
	}
	if ran != 3 {
		t.Fatalf("results on %d node(s), want 3: idle nodes did not steal from the one holding the input", ran)
	}
}

func TestResultsAreReplicated(t *testing.T) {
	lc, c := newCluster(t, 3)
	ctx := ctxT(t)
	f, _ := c.Submit(ctx, "test.inc", 99)
	if err := f.Err(ctx); err != nil {
		t.Fatal(err)
	}
	holders := 0
	for _, n := range lc.Nodes() {
		if slices.Contains(n.StoredKeys(), f.Key()) {
			holders++
		}
	}
	if holders != 2 {
		t.Fatalf("result held by %d nodes, want 2", holders)
	}
}

func TestReleaseForgetsAndCancelStops(t *testing.T) {
	lc, c := newCluster(t, 2)
	ctx := ctxT(t)
	f, _ := c.Submit(ctx, "test.inc", 5)
	if err := f.Err(ctx); err != nil {
		t.Fatal(err)
	}
	key := f.Key()
	if err := c.Release(ctx, f); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		held := false
		for _, n := range lc.Nodes() {
			held = held || slices.Contains(n.StoredKeys(), key)
		}
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("released key %s still stored", key)
		}
		time.Sleep(20 * time.Millisecond)
	}

	slow, _ := c.Submit(ctx, "test.sleep", 5000)
	if err := c.Cancel(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if err := slow.Err(ctx); !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled future: %v", err)
	}
}

func TestWorkerLossRerunsItsTasks(t *testing.T) {
	lc, c := newCluster(t, 3, WithReplicas(2))
	ctx := ctxT(t)
	args := make([]any, 60)
	for i := range args {
		args[i] = 40
	}
	fs, err := c.Map(ctx, "test.sleep", args, Pure(false))
	if err != nil {
		t.Fatal(err)
	}
	// Stop a node that is not the leader while it runs tasks.
	for _, n := range lc.Nodes() {
		if !n.Raft().IsLeader() {
			time.Sleep(100 * time.Millisecond)
			n.Close()
			break
		}
	}
	vals, err := GatherAs[int](ctx, c, fs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != 40 {
			t.Fatalf("task %d = %d", i, v)
		}
	}
}

func TestLeaderLossMidGraphLosesNothing(t *testing.T) {
	lc, c := newCluster(t, 3)
	ctx := ctxT(t)
	args := make([]any, 120)
	for i := range args {
		args[i] = 30
	}
	fs, err := c.Map(ctx, "test.sleep", args, Pure(false))
	if err != nil {
		t.Fatal(err)
	}
	// A dependent level too, so lineage matters.
	var sums []*Future
	for i := 0; i+1 < len(fs); i += 2 {
		f, err := c.Submit(ctx, "test.add", fs[i], fs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, f)
	}
	// Wait until work is flowing, then take the leader down (the client is
	// connected to it, too).
	for f, err := range c.AsCompleted(ctx, fs) {
		if err != nil {
			t.Fatal(err)
		}
		_ = f
		break
	}
	for _, n := range lc.Nodes() {
		if n.Raft().IsLeader() {
			n.Close()
			break
		}
	}
	vals, err := GatherAs[int](ctx, c, sums)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != 60 {
			t.Fatalf("sum %d = %d, want 60", i, v)
		}
	}
}

func TestResourcesRestrictWhereTasksRun(t *testing.T) {
	_, c := newCluster(t, 2, WithResources(map[string]float64{"GPU": 1}))
	ctx := ctxT(t)
	gpu, err := c.Submit(ctx, "test.inc", 1, Resources(map[string]float64{"GPU": 1}))
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := gpu.Result(ctx, &v); err != nil || v != 2 {
		t.Fatalf("GPU task: %d %v", v, err)
	}
	// Nobody offers a TPU: that task waits while the rest goes on.
	tpu, _ := c.Submit(ctx, "test.inc", 2, Resources(map[string]float64{"TPU": 1}))
	plain, _ := c.Submit(ctx, "test.inc", 3)
	if err := plain.Result(ctx, &v); err != nil || v != 4 {
		t.Fatalf("plain task: %d %v", v, err)
	}
	if tpu.Done() {
		t.Fatal("a task needing a resource no node offers ran")
	}
}

// A client that vanishes without closing (its process died) keeps nothing
// alive past the client timeout; an idle client that is still there keeps
// its futures.
func TestVanishedClientsKeysAreReleased(t *testing.T) {
	const timeout = 3 * time.Second
	lc, idle := newCluster(t, 2, WithClientTimeout(timeout))
	ctx := ctxT(t)
	gone, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := idle.Submit(ctx, "test.inc", 1)
	lost, _ := gone.Submit(ctx, "test.inc", 100)
	if err := kept.Err(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lost.Err(ctx); err != nil {
		t.Fatal(err)
	}
	held := func(key string) bool {
		for _, n := range lc.Nodes() {
			if slices.Contains(n.StoredKeys(), key) {
				return true
			}
		}
		return false
	}
	// The process "dies": no release, no more heartbeats.
	start := time.Now()
	gone.mu.Lock()
	gone.states = map[string]*state{}
	gone.mu.Unlock()
	gone.Close()
	for held(lost.Key()) {
		if time.Since(start) > timeout+15*time.Second {
			t.Fatalf("the vanished client's value is still held %v after it went", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("released after %v, before the client timeout %v", d, timeout)
	}
	// The idle client, silent but for its heartbeats, keeps its value.
	for time.Since(start) < 2*timeout {
		time.Sleep(100 * time.Millisecond)
	}
	if !held(kept.Key()) {
		t.Fatal("an idle client's value was released")
	}
	var v int
	if err := kept.Result(ctx, &v); err != nil || v != 2 {
		t.Fatalf("idle client's result %d %v", v, err)
	}
}

// A graph submitted with Compute: only its outputs are held; the other
// tasks run, feed their dependants, and are dropped.
func TestGraphComputeHoldsOnlyOutputs(t *testing.T) {
	lc, c := newCluster(t, 3)
	ctx := ctxT(t)
	g := NewGraph()
	a, err := g.Add("test.inc", 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := g.Add("test.inc", a)
	d, _ := g.Add("test.add", a, b)
	if again, _ := g.Add("test.inc", 1); again != a || g.Len() != 3 {
		t.Fatalf("the same pure call twice: %v %v, %d tasks", again, a, g.Len())
	}
	if _, err := g.Add("test.inc", Ref{key: "elsewhere"}); err == nil {
		t.Fatal("a Ref of another graph was accepted")
	}
	fs, err := c.Compute(ctx, g, d)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := GatherAs[int](ctx, c, fs)
	if err != nil || len(vals) != 1 || vals[0] != 5 {
		t.Fatalf("compute: %v %v, want [5]", vals, err)
	}
	c.mu.Lock()
	_, heldA := c.states[a.Key()]
	c.mu.Unlock()
	if heldA {
		t.Fatal("the client holds an intermediate")
	}
	// The intermediates are dropped once the output is computed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stored := 0
		for _, n := range lc.Nodes() {
			for _, k := range n.StoredKeys() {
				if k == a.Key() || k == b.Key() {
					stored++
				}
			}
		}
		if stored == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d copies of intermediates still stored", stored)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A scheduler that learns of scattered values only as the inputs of a
// task (their registration died with a leader that had acknowledged it)
// keeps them for the client that holds their futures: they are not dropped
// when the task that read them is done. Found by chaos kill-leader with the
// DataFrame workload (seed 1).
func TestScatteredInputsOfATaskStayWanted(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	c.mu.Lock()
	c.unregisteredScatter = true
	c.mu.Unlock()
	fs, err := c.Scatter(ctx, []any{[]string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Submit(ctx, "test.len", fs[0])
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := n.Result(ctx, &got); err != nil || got != 3 {
		t.Fatalf("len = %d, %v", got, err)
	}
	// The scheduler has released what nobody wanted by now (the answer
	// came after it).
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var v []string
	if err := fs[0].Result(fctx, &v); err != nil || !slices.Equal(v, []string{"a", "b", "c"}) {
		t.Fatalf("scattered value after the task that read it: %v, %v", v, err)
	}
}

// A client keeps the lineage of what it holds after releasing the inputs:
// a leader may die before replicating a submission, and a new one must get
// every task again, inputs first, or a held task's input is "unknown to the
// scheduler". Found by the chaos soak (chain and map-reduce futures erred
// after a leader change).
func TestResubmissionKeepsReleasedInputs(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	s, err := c.Scatter(ctx, []any{[]string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Submit(ctx, "test.len", s[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Submit(ctx, "test.inc", a)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	inner, err := g.Add("test.inc", b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Add("test.inc", inner)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := c.Compute(ctx, g, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx, s[0], a, b); err != nil {
		t.Fatal(err)
	}
	specs, data, wanted := c.resubmission([]string{fs[0].Key()})
	if !slices.Equal(wanted, []string{fs[0].Key()}) {
		t.Fatalf("wanted %v, want only the held output", wanted)
	}
	var order []string
	for _, sp := range specs {
		order = append(order, sp.Key)
	}
	want := []string{a.Key(), b.Key(), inner.Key(), fs[0].Key()}
	if !slices.Equal(order, want) {
		t.Fatalf("resubmission %v, want %v (inputs first)", order, want)
	}
	if len(data) != 1 || data[0].Key != s[0].Key() {
		t.Fatalf("scattered inputs %+v, want %s", data, s[0].Key())
	}
	var v int
	if err := fs[0].Result(ctx, &v); err != nil || v != 4 {
		t.Fatalf("result %d, %v; want 4", v, err)
	}
}

// A task whose input the scheduler never heard of (the leader that took
// the input's submission died before replicating it) is given again with
// its lineage, and both run. Found by the chaos soak: such tasks erred for
// good ("unknown to the scheduler") and their dependants with them.
func TestTaskWhoseInputTheSchedulerLostRuns(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	c.mu.Lock()
	c.dropSubmissions = 1
	c.mu.Unlock()
	a, err := c.Submit(ctx, "test.inc", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.flushQueue(); err != nil { // dropped
		t.Fatal(err)
	}
	b, err := c.Submit(ctx, "test.inc", a)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := GatherAs[int](ctx, c, []*Future{a, b})
	if err != nil || !slices.Equal(vals, []int{2, 3}) {
		t.Fatalf("values %v, %v; want [2 3]", vals, err)
	}
}

// A released future cannot be a task's input: Submit says so at once.
func TestSubmitWithAReleasedFutureErrs(t *testing.T) {
	_, c := newCluster(t, 1)
	ctx := ctxT(t)
	a, err := c.Submit(ctx, "test.inc", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, "test.inc", a); !errors.Is(err, ErrReleased) {
		t.Fatalf("submit with a released input: %v, want ErrReleased", err)
	}
}
