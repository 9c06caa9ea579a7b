package actors

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshcompute/mesh/consensus"
)

func noValidate(*consensus.TaskSpec) *TaskFailure { return nil }

func task(key string, deps ...string) consensus.TaskSpec {
	s := consensus.TaskSpec{Key: key, Func: "f"}
	for _, d := range deps {
		s.Args = append(s.Args, consensus.Arg{Ref: d})
	}
	return s
}

func workers(ids ...string) map[string]workerInfo {
	m := map[string]workerInfo{}
	for _, id := range ids {
		m[id] = workerInfo{name: id, nthreads: 1}
	}
	return m
}

func assigned(e effects) map[string][]string {
	out := map[string][]string{}
	for w, as := range e.compute {
		for _, a := range as {
			out[w] = append(out[w], a.Spec.Key)
		}
	}
	return out
}

// ok is a successful result of a task that ran 100 ms: long enough that
// the scheduler keeps only one task of slack per thread.
func ok(key string, holders ...string) TaskResult {
	return TaskResult{Key: key, Size: 8, Holders: holders, Micros: 100_000}
}

func TestGraphQueuesRootTasksPastSaturation(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	var specs []consensus.TaskSpec
	for i := range 5 {
		specs = append(specs, task(fmt.Sprint("t", i)))
	}
	g.submit("c", specs, nil, nil)
	got := assigned(g.take())["w1"]
	if len(got) != 3 { // 1 thread + 2 slack
		t.Fatalf("assigned %v, want 3 (saturation)", got)
	}
	if g.queue.Len() != 2 {
		t.Fatalf("queued %d, want 2", g.queue.Len())
	}
	// Long tasks: the worker keeps 1 thread + 1 slot of slack.
	g.finished("w1", []TaskResult{ok("t0", "w1")})
	if got := assigned(g.take())["w1"]; len(got) != 0 {
		t.Fatalf("after one long task finished: %v, want nothing (2 still held)", got)
	}
	g.finished("w1", []TaskResult{ok("t1", "w1")})
	if got := assigned(g.take())["w1"]; !slices.Equal(got, []string{"t3"}) {
		t.Fatalf("after two finished: %v, want [t3]", got)
	}
	// A new worker takes queued work at once.
	g.setWorkers(workers("w1", "w2"))
	if got := assigned(g.take())["w2"]; !slices.Equal(got, []string{"t4"}) {
		t.Fatalf("new worker got %v", got)
	}
}

func TestGraphTinyTasksGetADeepPipeline(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	var specs []consensus.TaskSpec
	for i := range 100 {
		specs = append(specs, task(fmt.Sprint("t", i)))
	}
	g.submit("c", specs, nil, nil)
	first := assigned(g.take())["w1"]
	tiny := TaskResult{Key: first[0], Size: 8, Holders: []string{"w1"}, Micros: 5}
	g.finished("w1", []TaskResult{tiny})
	if got := assigned(g.take())["w1"]; len(got) < 10 {
		t.Fatalf("after a 5 µs task, only %d more assigned: a worker of tiny tasks would idle between batches", len(got))
	}
}

func TestGraphPriorityOrdersQueue(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	specs := []consensus.TaskSpec{task("a"), task("b"), task("c"), task("low"), task("high")}
	specs[4].Priority = 10
	g.submit("c", specs, nil, nil)
	g.take()
	g.finished("w1", []TaskResult{ok("a", "w1"), ok("b", "w1")})
	if got := assigned(g.take())["w1"]; !slices.Equal(got, []string{"high"}) {
		t.Fatalf("got %v, want the high-priority task first", got)
	}
}

func TestGraphDependencyRunsWhereItsInputIs(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1", "w2"))
	g.submit("c", []consensus.TaskSpec{task("a"), task("b", "a")}, []string{"b"}, nil)
	e := g.take()
	if len(assigned(e)) != 1 {
		t.Fatalf("b ran before a: %v", assigned(e))
	}
	var aw string
	for w := range assigned(e) {
		aw = w
	}
	g.finished(aw, []TaskResult{ok("a", aw)})
	e = g.take()
	if got := assigned(e)[aw]; !slices.Equal(got, []string{"b"}) {
		t.Fatalf("b placed %v, want on %s (holds a)", assigned(e), aw)
	}
	if deps := e.compute[aw][0].Deps["a"]; !slices.Equal(deps, []string{aw}) {
		t.Fatalf("b's assignment lists a at %v", deps)
	}
	g.finished(aw, []TaskResult{ok("b", aw)})
	e = g.take()
	if u := e.updates["c"]; len(u) != 1 || u[0].Key != "b" || u[0].State != StateMemory {
		t.Fatalf("client updates %+v", u)
	}
	// a is no longer needed by anyone: its value is dropped.
	if !slices.Contains(e.drops[aw], "a") {
		t.Fatalf("a not released: drops %v", e.drops)
	}
}

func TestGraphFailureErrsDependantsAndRetries(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	r := task("r")
	r.Retries = 1
	g.submit("c", []consensus.TaskSpec{task("a"), task("b", "a"), r}, []string{"a", "b", "r"}, nil)
	g.take()
	boom := &TaskFailure{Kind: FailError, Message: "boom"}
	g.finished("w1", []TaskResult{{Key: "a", Failure: boom}, {Key: "r", Failure: boom}})
	e := g.take()
	states := map[string]string{}
	for _, u := range e.updates["c"] {
		states[u.Key] = u.State + ":" + u.Failure.Kind
	}
	if states["a"] != "erred:error" || states["b"] != "erred:dependency" {
		t.Fatalf("updates %v", states)
	}
	if _, ok := states["r"]; ok {
		t.Fatal("r erred despite a retry left")
	}
	if got := assigned(e)["w1"]; !slices.Equal(got, []string{"r"}) {
		t.Fatalf("r not retried: %v", got)
	}
}

func TestGraphWorkerDeathReschedulesAndRecomputes(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1", "w2"))
	g.submit("c", []consensus.TaskSpec{task("a"), task("b")}, []string{"a", "b"}, nil)
	e := assigned(g.take())
	wa := "w1"
	if slices.Contains(e["w2"], "a") {
		wa = "w2"
	}
	other := map[string]string{"w1": "w2", "w2": "w1"}[wa]
	g.finished(wa, []TaskResult{ok("a", wa)}) // a held only by wa
	g.take()
	g.setWorkers(workers(other)) // wa dies
	e = assigned(g.take())
	// a lost its only copy and is wanted: recomputed on the survivor. b, if
	// it was on wa, runs again there too.
	if !slices.Contains(e[other], "a") {
		t.Fatalf("lost value not recomputed: %v", e)
	}
}

func TestGraphKilledWorkersErr(t *testing.T) {
	g := newGraph(1, noValidate)
	ids := []string{"w1", "w2", "w3", "w4"}
	g.setWorkers(workers(ids...))
	g.submit("c", []consensus.TaskSpec{task("poison")}, []string{"poison"}, nil)
	live := slices.Clone(ids)
	for range maxSuspicious {
		e := assigned(g.take())
		var on string
		for w := range e {
			on = w
		}
		if on == "" {
			break
		}
		live = slices.DeleteFunc(live, func(w string) bool { return w == on })
		g.setWorkers(workers(live...))
	}
	u := g.take().updates["c"]
	if len(u) != 1 || u[0].Failure == nil || u[0].Failure.Kind != FailKilled {
		t.Fatalf("updates %+v, want killed-workers", u)
	}
}

// A scattered value whose holders all died waits for one to come back
// (a partition heals); past missingGrace it errs, and so do its dependants.
func TestGraphLostScatterWaitsThenErrs(t *testing.T) {
	for _, comesBack := range []bool{true, false} {
		clock := time.Unix(1000, 0)
		g := newGraph(1, noValidate)
		g.now = func() time.Time { return clock }
		g.setWorkers(workers("w1", "w2"))
		g.takeJoined()
		g.submit("c", []consensus.TaskSpec{task("use", "data")}, []string{"use"}, []DataItem{{Key: "data", Holders: []string{"w1"}, Size: 3}})
		g.take()
		g.setWorkers(workers("w2"))
		if e := g.take(); len(e.updates["c"]) != 0 {
			t.Fatalf("updates %+v right after the holder died: want none (it may come back)", e.updates)
		}
		g.expireMissing(clock.Add(missingGrace / 2))
		if e := g.take(); len(e.updates["c"]) != 0 {
			t.Fatalf("erred before the grace: %+v", e.updates)
		}
		if comesBack {
			g.setWorkers(workers("w1", "w2"))
			if j := g.takeJoined(); !slices.Equal(j, []string{"w1"}) {
				t.Fatalf("joined %v, want [w1]", j)
			}
			g.holdings(&Holdings{Worker: "w1", Keys: []string{"data"}, Sizes: []int64{3}})
			if got := assigned(g.take()); len(got["w1"]) != 1 || got["w1"][0] != "use" {
				t.Fatalf("after the holder came back: %v, want use on w1", got)
			}
			g.expireMissing(clock.Add(2 * missingGrace))
			if e := g.take(); len(e.updates["c"]) != 0 {
				t.Fatalf("erred although the value came back: %+v", e.updates)
			}
			continue
		}
		g.expireMissing(clock.Add(missingGrace + time.Second))
		found := false
		for _, u := range g.take().updates["c"] {
			if u.Key == "use" && u.State == StateErred && u.Failure.Kind == FailDependency && strings.Contains(u.Failure.Message, "data") {
				found = true
			}
		}
		if !found {
			t.Fatal("use did not err after its scattered input stayed lost past the grace")
		}
	}
}

func TestGraphPureKeyOnceAndValidation(t *testing.T) {
	g := newGraph(1, func(s *consensus.TaskSpec) *TaskFailure {
		if s.Func == "nope" {
			return &TaskFailure{Kind: FailUnknown, Message: "no such function nope"}
		}
		return nil
	})
	g.setWorkers(workers("w1"))
	g.submit("c1", []consensus.TaskSpec{task("k")}, []string{"k"}, nil)
	g.submit("c2", []consensus.TaskSpec{task("k")}, []string{"k"}, nil)
	if got := assigned(g.take())["w1"]; !slices.Equal(got, []string{"k"}) {
		t.Fatalf("same key ran %v", got)
	}
	g.finished("w1", []TaskResult{ok("k", "w1")})
	e := g.take()
	if len(e.updates["c1"]) != 1 || len(e.updates["c2"]) != 1 {
		t.Fatalf("both clients told: %v", e.updates)
	}
	bad := task("bad")
	bad.Func = "nope"
	if rej := g.submit("c1", []consensus.TaskSpec{bad}, []string{"bad"}, nil); len(rej) != 1 || rej[0].Failure.Kind != FailUnknown {
		t.Fatalf("rejected %+v", rej)
	}
	// One client releasing leaves the other's interest.
	g.release("c1", []string{"k"}, false)
	if e := g.take(); len(e.drops) != 0 {
		t.Fatalf("dropped while c2 holds it: %v", e.drops)
	}
	g.release("c2", []string{"k"}, false)
	if e := g.take(); !slices.Equal(e.drops["w1"], []string{"k"}) {
		t.Fatalf("drops %v", e.drops)
	}
	if _, ok := g.tasks["k"]; ok {
		t.Fatal("released task not forgotten")
	}
}

func TestGraphResourcesRestrictAndLimitPlacement(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(map[string]workerInfo{
		"cpu": {name: "cpu", nthreads: 4},
		"gpu": {name: "gpu", nthreads: 4, resources: map[string]float64{"GPU": 1}},
	})
	var specs []consensus.TaskSpec
	for i := range 3 {
		s := task(fmt.Sprint("g", i))
		s.Resources = map[string]float64{"GPU": 1}
		specs = append(specs, s)
	}
	g.submit("c", specs, nil, nil)
	e := assigned(g.take())
	if len(e["cpu"]) != 0 || !slices.Equal(e["gpu"], []string{"g0"}) {
		t.Fatalf("assigned %v: want only g0, on gpu (one GPU, held by one task at a time)", e)
	}
	r := ok("g0", "gpu")
	g.finished("gpu", []TaskResult{r})
	if e := assigned(g.take()); !slices.Equal(e["gpu"], []string{"g1"}) || len(e["cpu"]) != 0 {
		t.Fatalf("after g0: %v, want g1 on gpu", e)
	}
	// A resource nobody offers: the task waits, and other work still runs.
	odd := task("tpu")
	odd.Resources = map[string]float64{"TPU": 1}
	g.submit("c", []consensus.TaskSpec{odd, task("plain")}, nil, nil)
	if e := assigned(g.take()); !slices.Equal(e["cpu"], []string{"plain"}) {
		t.Fatalf("assigned %v: want plain on cpu while tpu waits", e)
	}
	if g.tasks["tpu"].state != tsQueued {
		t.Fatalf("tpu is %s, want queued", g.tasks["tpu"].state)
	}
}

// A new leader keeps the results of tasks it does not know yet (their
// submission died unreplicated with the old leader) until the client gives
// them again, instead of dropping them and then believing in copies that
// no longer exist. Found by chaos pause-leader with the DataFrame workload
// (seed 6): the values of finished futures could not be fetched.
func TestGraphNewLeaderKeepsUnknownResults(t *testing.T) {
	clock := time.Unix(1000, 0)
	g := newGraph(2, noValidate)
	g.now = func() time.Time { return clock }
	g.setWorkers(workers("w1", "w2"))
	g.takeJoined()
	records := map[string]consensus.TaskRecord{"old": {Spec: task("old"), Wanters: []string{"c"}}}
	g.restore(records, []*Holdings{{Worker: "w1", Keys: []string{"old", "d"}, Sizes: []int64{1, 1}}, {Worker: "w2"}})
	g.take()
	// The worker that ran d (for the old leader) reports it now.
	g.finished("w2", []TaskResult{ok("d", "w2", "w1")})
	if e := g.take(); len(e.drops) != 0 {
		t.Fatalf("dropped %v right after a leader change: the client may still give the task", e.drops)
	}
	// The client gives d again: it is in memory, on both holders.
	g.submit("c", []consensus.TaskSpec{task("d")}, []string{"d"}, nil)
	e := g.take()
	if len(assigned(e)) != 0 {
		t.Fatalf("d computed again: %v", assigned(e))
	}
	var got *TaskUpdate
	for i, u := range e.updates["c"] {
		if u.Key == "d" {
			got = &e.updates["c"][i]
		}
	}
	if got == nil || got.State != StateMemory || len(got.Holders) != 2 {
		t.Fatalf("update for d %+v, want memory on w1 and w2", got)
	}
	// A result nobody gives again is dropped after the grace...
	g.finished("w1", []TaskResult{ok("x", "w1")})
	g.expireMissing(clock.Add(missingGrace + time.Second))
	if e := g.take(); !slices.Equal(e.drops["w1"], []string{"x"}) {
		t.Fatalf("drops %v, want x on w1 after the grace", e.drops)
	}
	// ...and, once the grace is over, at once.
	clock = clock.Add(missingGrace + time.Second)
	g.finished("w1", []TaskResult{ok("y", "w1")})
	if e := g.take(); !slices.Equal(e.drops["w1"], []string{"y"}) {
		t.Fatalf("drops %v, want y on w1", e.drops)
	}
}

// A submission sent in parts keeps its first part's tasks until the next
// part arrives: an input nobody wants yet that finishes in between is not
// forgotten (the part that reads it was refused as "unknown to the
// scheduler": found by the chaos soak, a client giving a new leader 2,000+
// tasks).
func TestGraphPartsOfASubmissionArePinned(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	g.takeJoined()
	if rej := g.submit("c", []consensus.TaskSpec{task("a")}, nil, nil); len(rej) != 0 {
		t.Fatal(rej)
	}
	g.pin("c", []string{"a"})
	g.take()
	g.finished("w1", []TaskResult{ok("a", "w1")})
	if e := g.take(); len(e.drops) != 0 {
		t.Fatalf("a dropped before the rest of its submission came: %v", e.drops)
	}
	if rej := g.submit("c", []consensus.TaskSpec{task("b", "a")}, []string{"b"}, nil); len(rej) != 0 {
		t.Fatalf("b refused: %+v", rej)
	}
	g.unpin("c")
	if got := assigned(g.take()); len(got["w1"]) != 1 || got["w1"][0] != "b" {
		t.Fatalf("assigned %v, want b on w1", got)
	}
	g.finished("w1", []TaskResult{ok("b", "w1")})
	if e := g.take(); !slices.Equal(e.drops["w1"], []string{"a"}) {
		t.Fatalf("drops %v, want a (nothing needs it once b is done)", e.drops)
	}
	// Without the pin, a finished unwanted input is forgotten at once.
	g.submit("c", []consensus.TaskSpec{task("x")}, nil, nil)
	g.take()
	g.finished("w1", []TaskResult{ok("x", "w1")})
	if rej := g.submit("c", []consensus.TaskSpec{task("y", "x")}, []string{"y"}, nil); len(rej) != 1 {
		t.Fatalf("y accepted without its pinned input: %+v", rej)
	}
}

// A task whose input the scheduler does not know is refused and not
// recorded: given again after its input, it runs.
func TestGraphUnknownInputIsRefusedNotRecorded(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	g.takeJoined()
	rej := g.submit("c", []consensus.TaskSpec{task("b", "a")}, []string{"b"}, nil)
	if len(rej) != 1 || rej[0].Failure.Kind != FailUnknownInput || !strings.Contains(rej[0].Failure.Message, "input a") {
		t.Fatalf("rejected %+v, want b refused for its unknown input a", rej)
	}
	if g.tasks["b"] != nil {
		t.Fatal("refused task recorded")
	}
	if rej := g.submit("c", []consensus.TaskSpec{task("a"), task("b", "a")}, []string{"b"}, nil); len(rej) != 0 {
		t.Fatalf("given again with its input: %+v", rej)
	}
	if got := assigned(g.take()); len(got["w1"]) != 1 || got["w1"][0] != "a" {
		t.Fatalf("assigned %v, want a", got)
	}
}

// A result a client holds is copied to --replicas workers unless its spec
// asks for fewer (Replicas 1: a Compute's outputs, fetched once).
func TestGraphSpecReplicasOverrideTheDefault(t *testing.T) {
	g := newGraph(2, noValidate)
	g.setWorkers(workers("w1", "w2", "w3"))
	once := task("once")
	once.Replicas = 1
	three := task("three")
	three.Replicas = 3
	g.submit("c", []consensus.TaskSpec{task("default"), once, three}, []string{"default", "once", "three"}, nil)
	got := map[string]int{}
	for _, as := range g.take().compute {
		for _, a := range as {
			got[a.Spec.Key] = len(a.Replicas)
		}
	}
	if want := map[string]int{"default": 1, "once": 0, "three": 2}; !maps.Equal(got, want) {
		t.Fatalf("extra copies per task %v, want %v", got, want)
	}
}

// A task goes where it would start soonest: the time to fetch the input
// bytes a worker lacks (at 100 MB/s) plus its queue (running tasks times
// its average task time).
func TestGraphPlacementWeighsTransferAgainstQueue(t *testing.T) {
	for _, tc := range []struct {
		name        string
		aSize       int64   // input a, held by w1
		bSize       int64   // input b, held by w2 (0: no b)
		w1Busy      int     // tasks already running on w1 (1 s each)
		bandwidth   float64 // what the workers report, bytes/s (0: none, 100 MB/s assumed)
		want        string
		description string
	}{
		{"big input stays", 1 << 30, 0, 3, 0, "w1", "10 s to move 1 GB beats a 3 s queue"},
		{"small input moves", 1 << 20, 0, 3, 0, "w2", "10 ms to move 1 MB beats a 3 s queue"},
		{"idle holder keeps it", 1 << 20, 0, 0, 0, "w1", "nothing to wait for"},
		{"even halves, busy w1", 80 << 20, 80 << 20, 2, 0, "w2", "either moves 80 MB; w2 has no queue"},
		{"bigger half wins", 80 << 20, 20 << 20, 0, 0, "w1", "moving 20 MB beats moving 80 MB"},
		{"fast links move a big input", 1 << 30, 0, 3, 1e9, "w2", "1 s to move 1 GB at a measured 1 GB/s beats a 3 s queue"},
		{"medium input moves at the default", 50 << 20, 0, 3, 0, "w2", "0.5 s to move 50 MB at the assumed 100 MB/s beats a 3 s queue"},
		{"slow links keep a medium input", 50 << 20, 0, 3, 10e6, "w1", "5 s to move 50 MB at a measured 10 MB/s loses to a 3 s queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph(1, noValidate)
			g.setWorkers(workers("w1", "w2"))
			data := []DataItem{{Key: "a", Holders: []string{"w1"}, Size: tc.aSize}}
			deps := []string{"a"}
			if tc.bSize > 0 {
				data = append(data, DataItem{Key: "b", Holders: []string{"w2"}, Size: tc.bSize})
				deps = append(deps, "b")
			}
			g.submit("c", nil, deps, data)
			w1 := g.workers["w1"]
			w1.avgMicros = 1_000_000
			g.workers["w2"].avgMicros = 1_000_000
			for i := range tc.w1Busy {
				w1.running[fmt.Sprint("busy", i)] = &stask{}
			}
			g.noteBandwidth("w1", tc.bandwidth)
			g.noteBandwidth("w2", tc.bandwidth)
			g.submit("c", []consensus.TaskSpec{task("x", deps...)}, []string{"x"}, nil)
			got := assigned(g.take())
			if len(got[tc.want]) != 1 || got[tc.want][0] != "x" {
				t.Fatalf("placed %v, want x on %s (%s)", got, tc.want, tc.description)
			}
		})
	}
}

// The scheduler prices transfers at the mean of the bandwidths its
// workers report; a worker that leaves takes its figure with it.
func TestGraphTransferRateIsTheWorkersMean(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1", "w2", "w3"))
	if got := g.transferRate(); got != defaultBandwidth/1e6 {
		t.Fatalf("before any report: %v bytes/µs, want the default %v", got, defaultBandwidth/1e6)
	}
	g.noteBandwidth("w1", 200e6)
	g.noteBandwidth("w2", 400e6)
	g.noteBandwidth("w3", 0) // nothing measured: not counted
	g.noteBandwidth("gone", 1e9)
	if got := g.transferRate(); got != 300 {
		t.Fatalf("mean of 200 and 400 MB/s: %v bytes/µs, want 300", got)
	}
	g.setWorkers(workers("w2", "w3"))
	if got := g.transferRate(); got != 400 {
		t.Fatalf("after w1 left: %v bytes/µs, want 400", got)
	}
	g.setWorkers(workers("w3"))
	if got := g.transferRate(); got != defaultBandwidth/1e6 {
		t.Fatalf("no measured worker left: %v bytes/µs, want the default", got)
	}
}

// A worker's meter ignores small fetches, starts at its first measured
// rate, moves a fifth of the way to each new one, and caps instant
// (in-process) hand-overs.
func TestBandwidthMeter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fetches [][2]float64 // bytes, seconds
		want    float64
	}{
		{"nothing yet", nil, 0},
		{"small fetches measure latency, not bandwidth", [][2]float64{{1000, 0.001}, {bandwidthMinBytes - 1, 1}}, 0},
		{"first fetch", [][2]float64{{100e6, 1}}, 100e6},
		{"moving average", [][2]float64{{100e6, 1}, {200e6, 1}}, 120e6},
		{"instant hand-over is capped", [][2]float64{{4e6, 0}}, maxBandwidth},
		{"a very fast fetch is capped", [][2]float64{{100e6, 1e-6}}, maxBandwidth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m bandwidthMeter
			for _, f := range tc.fetches {
				m.observe(int(f[0]), time.Duration(f[1]*float64(time.Second)))
			}
			if got := m.rate(); math.Abs(got-tc.want) > 1e-6*tc.want {
				t.Fatalf("rate %v, want %v", got, tc.want)
			}
		})
	}
}

// Tasks whose Compute never left the scheduler's node (the worker could
// not be reached) are placed again, not left processing on that worker.
func TestGraphUndeliveredTasksArePlacedAgain(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	g.submit("c", []consensus.TaskSpec{task("a"), task("b")}, []string{"a", "b"}, nil)
	if got := assigned(g.take())["w1"]; len(got) != 2 {
		t.Fatalf("assigned %v", got)
	}
	g.setWorkers(workers("w1", "w2"))
	g.take()
	g.undelivered("w1", []string{"a", "b", "unknown"})
	got := assigned(g.take())
	if n := len(got["w1"]) + len(got["w2"]); n != 2 {
		t.Fatalf("placed again %v, want a and b", got)
	}
	for _, k := range []string{"a", "b"} {
		if tk := g.tasks[k]; tk.state != tsProcessing || tk.worker == "" {
			t.Fatalf("%s: %s on %q", k, tk.state, tk.worker)
		}
	}
	// A stale report (the task already moved) changes nothing.
	moved := g.tasks["a"].worker
	other := map[string]string{"w1": "w2", "w2": "w1"}[moved]
	g.undelivered(other, []string{"a"})
	if g.tasks["a"].worker != moved || len(assigned(g.take())) != 0 {
		t.Fatal("an undelivered report for another worker moved the task")
	}
}

// A task whose Compute or TasksFinished was lost on the way is found by
// the probes: placed again when its worker neither runs nor holds it in
// two probes in a row, taken as finished when the worker holds its value.
func TestGraphProbesFindLostTasks(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGraph(1, noValidate)
	g.now = func() time.Time { return now }
	g.setWorkers(map[string]workerInfo{"w1": {name: "w1", nthreads: 2}})
	g.submit("c", []consensus.TaskSpec{task("lost"), task("done"), task("busy"), task("late")}, []string{"lost", "done", "busy", "late"}, nil)
	if got := assigned(g.take())["w1"]; len(got) != 4 {
		t.Fatalf("assigned %v", got)
	}
	if due := g.probesDue(); len(due) != 0 {
		t.Fatalf("probed tasks just assigned: %v", due)
	}
	now = now.Add(probeAfter + time.Second)
	due := g.probesDue()
	p := due["w1"]
	if p == nil || len(p.Keys) != 4 {
		t.Fatalf("probes due %v, want w1's four tasks", due)
	}
	if again := g.probesDue(); len(again) != 0 {
		t.Fatal("a second probe while the first is out")
	}
	gen := map[string]uint64{}
	for i, k := range p.Keys {
		gen[k] = p.Gens[i]
	}
	// First probe: "done" is held (its report was lost), "late" is held
	// and still listed (its report is on its way), "busy" runs, "lost" is
	// nowhere — one miss is not enough.
	reply := &TaskProbeReply{Worker: "w1", Running: []string{"busy", "late"}, Held: []string{"done", "late"}, Sizes: []int64{8, 9}, Gens: []uint64{gen["done"], gen["late"]}}
	if lost, found := g.probed("w1", p, reply); len(lost) != 0 || !slices.Equal(found, []string{"done"}) {
		t.Fatalf("lost after one probe: %v", lost)
	}
	if d := g.tasks["done"]; d.state != tsMemory || !slices.Equal(d.holders, []string{"w1"}) || d.size != 8 {
		t.Fatalf("done: %s holders %v size %d", d.state, d.holders, d.size)
	}
	if l := g.tasks["late"]; l.state != tsMemory || l.size != 9 {
		t.Fatalf("late: %s size %d", l.state, l.size)
	}
	if upd := g.take().updates["c"]; len(upd) != 2 {
		t.Fatalf("client updates %+v, want done's and late's", upd)
	}
	// Not due again before probeEvery.
	now = now.Add(time.Second)
	if due := g.probesDue(); len(due) != 0 {
		t.Fatalf("probed again after 1s: %v", due)
	}
	now = now.Add(probeEvery)
	p = g.probesDue()["w1"]
	if p == nil || len(p.Keys) != 2 {
		t.Fatalf("second probe %+v, want lost and busy", p)
	}
	lost, _ := g.probed("w1", p, &TaskProbeReply{Worker: "w1", Running: []string{"busy"}})
	if !slices.Equal(lost, []string{"lost"}) {
		t.Fatalf("lost %v, want [lost]", lost)
	}
	if got := assigned(g.take())["w1"]; !slices.Equal(got, []string{"lost"}) {
		t.Fatalf("placed again %v", got)
	}
	if l := g.tasks["lost"]; l.state != tsProcessing || l.gen == gen["lost"] {
		t.Fatalf("lost: %s gen %d (was %d)", l.state, l.gen, gen["lost"])
	}
	if b := g.tasks["busy"]; b.state != tsProcessing || b.unseen != 0 {
		t.Fatalf("busy: %s unseen %d", b.state, b.unseen)
	}
	// No answer (the worker is slow or gone: membership's business)
	// changes nothing but lets the next probe go.
	now = now.Add(probeEvery)
	p = g.probesDue()["w1"]
	if p == nil {
		t.Fatal("no probe due")
	}
	if lost, _ := g.probed("w1", p, nil); len(lost) != 0 {
		t.Fatalf("lost on no answer: %v", lost)
	}
	now = now.Add(probeEvery)
	if g.probesDue()["w1"] == nil {
		t.Fatal("no probe after an unanswered one")
	}
}

// A worker restarted between two looks at the membership (never seen
// dead: same id, new incarnation) lost what its old process ran and held.
func TestGraphRestartedWorkerUnseenDead(t *testing.T) {
	g := newGraph(2, noValidate)
	ws := func(inc1 uint64) map[string]workerInfo {
		return map[string]workerInfo{
			"w1": {name: "w1", nthreads: 1, incarnation: inc1},
			"w2": {name: "w2", nthreads: 1, incarnation: 7},
		}
	}
	g.setWorkers(ws(1))
	g.submit("c", []consensus.TaskSpec{task("a"), task("b"), task("c")}, []string{"a", "b", "c"}, nil)
	got := assigned(g.take())
	if len(got["w1"]) == 0 || len(got["w2"]) == 0 {
		t.Fatalf("assigned %v, want both workers busy", got)
	}
	onW1 := got["w1"][0]
	// One of w2's tasks finishes with a copy on w1 too, one only on w1.
	g.finished("w2", []TaskResult{ok(got["w2"][0], "w2", "w1")})
	g.take()
	held := g.tasks[got["w2"][0]]
	// w1 restarts: same id, new incarnation.
	g.setWorkers(ws(2))
	if slices.Contains(held.holders, "w1") {
		t.Fatalf("holders %v still name the restarted w1", held.holders)
	}
	tk := g.tasks[onW1]
	if tk.state != tsProcessing || tk.gen == 0 {
		t.Fatalf("%s: %s", onW1, tk.state)
	}
	if got := assigned(g.take()); len(got["w1"])+len(got["w2"]) == 0 {
		t.Fatalf("%s not placed again after w1 restarted: %v", onW1, got)
	}
	if j := g.takeJoined(); !slices.Contains(j, "w1") {
		t.Fatalf("joined %v: the restarted w1 is not asked for its holdings", j)
	}
	// The same incarnation again changes nothing.
	g.setWorkers(ws(2))
	if got := assigned(g.take()); len(got) != 0 {
		t.Fatalf("placed again with no restart: %v", got)
	}
}

// Copies acknowledged after their task's report are added as holders when
// they are of the value the graph holds, and dropped otherwise.
func TestGraphReplicasStoredLate(t *testing.T) {
	g := newGraph(2, noValidate)
	g.setWorkers(workers("w1", "w2"))
	g.submit("c", []consensus.TaskSpec{task("a"), task("b")}, []string{"a", "b"}, nil)
	got := assigned(g.take())
	var on string
	for w, ks := range got {
		if slices.Contains(ks, "a") {
			on = w
		}
	}
	other := map[string]string{"w1": "w2", "w2": "w1"}[on]
	g.finished(on, []TaskResult{ok("a", on)})
	g.take()
	a := g.tasks["a"]
	// A copy of another run is dropped (with its own run's number).
	g.replicasStored(other, []string{"a"}, []uint64{a.gen - 1})
	if e := g.take(); !slices.Equal(e.gens[other], []uint64{a.gen - 1}) || !slices.Equal(a.holders, []string{on}) {
		t.Fatalf("stale copy: drops %v gens %v, holders %v", e.drops[other], e.gens[other], a.holders)
	}
	g.replicasStored(other, []string{"a", "gone", "b"}, []uint64{a.gen, 5, 9})
	if !slices.Equal(a.holders, []string{on, other}) {
		t.Fatalf("holders %v, want [%s %s]", a.holders, on, other)
	}
	e := g.take()
	if drops := e.drops[other]; !slices.Equal(drops, []string{"gone", "b"}) {
		t.Fatalf("drops on %s: %v, want the unknown key and the unfinished task's copy", other, drops)
	}
}

// Retiring a worker: nothing new goes to it, its tasks not started are
// asked back, values only it holds are pushed to a worker that stays, and
// it is done when nothing runs there and nothing is only there.
func TestGraphRetire(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(map[string]workerInfo{"w1": {name: "w1", nthreads: 4}, "w2": {name: "w2", nthreads: 4}})
	g.submit("c", []consensus.TaskSpec{task("a"), task("b"), task("c"), task("d")}, []string{"a", "b", "c", "d"}, nil)
	got := assigned(g.take())
	if len(got["w1"]) == 0 {
		t.Fatalf("assigned %v: w1 got nothing", got)
	}
	// w1 finishes one task; the rest are still processing there.
	first := got["w1"][0]
	g.finished("w1", []TaskResult{ok(first, "w1")})
	g.take()
	done, running, sole, _ := g.retire("w1")
	if done || sole != 1 || running != len(got["w1"])-1 {
		t.Fatalf("retire: done %v running %d sole %d", done, running, sole)
	}
	e := g.take()
	if p := e.pushes["w1"]; p == nil || !slices.Equal(p.Keys, []string{first}) || !slices.Equal(p.To, []string{"w2"}) {
		t.Fatalf("pushes %+v, want %s to w2", e.pushes["w1"], first)
	}
	if len(e.steals["w1"]) != running {
		t.Fatalf("steals %v, want w1's %d unfinished tasks", e.steals["w1"], running)
	}
	// New work and replicas go elsewhere.
	g.submit("c", []consensus.TaskSpec{task("e")}, []string{"e"}, nil)
	if got := assigned(g.take()); len(got["w1"]) != 0 {
		t.Fatalf("a retiring worker got new tasks: %v", got)
	}
	if r := g.pickReplicas("w2", 2); len(r) != 0 {
		t.Fatalf("replicas %v on a retiring worker", r)
	}
	// It gives its tasks up; they go to w2. The push arrives.
	g.stolen("w1", e.steals["w1"], nil)
	if moved := assigned(g.take())["w2"]; len(moved) != running {
		t.Fatalf("moved %v, want %d tasks on w2", moved, running)
	}
	g.replicasStored("w2", []string{first}, []uint64{g.tasks[first].gen})
	if done, running, sole, nowhere := g.retire("w1"); !done || nowhere {
		t.Fatalf("retire after the moves: done %v running %d sole %d nowhere %v", done, running, sole, nowhere)
	}
}

// When every worker is leaving nothing can move: the drain is done at
// once (it used to wait for its timeout), saying what is lost.
func TestGraphRetireWithNowhereToGo(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(map[string]workerInfo{"w1": {name: "w1", nthreads: 1}, "w2": {name: "w2", nthreads: 1}})
	g.submit("c", []consensus.TaskSpec{task("a"), task("b")}, []string{"a", "b"}, nil)
	got := assigned(g.take())
	if len(got["w1"]) != 1 || len(got["w2"]) != 1 {
		t.Fatalf("assigned %v, want one task each", got)
	}
	a := got["w1"][0]
	g.finished("w1", []TaskResult{ok(a, "w1")})
	g.take()
	// w1 leaves first: w2 stays, so w1 must push its sole copy.
	if done, _, sole, nowhere := g.retire("w1"); done || nowhere || sole != 1 {
		t.Fatalf("w1 retiring while w2 stays: done %v sole %d nowhere %v", done, sole, nowhere)
	}
	g.take()
	// Then w2 leaves too: neither can drain to anyone.
	done, running, sole, nowhere := g.retire("w2")
	if !done || !nowhere || running != 1 || sole != 0 {
		t.Fatalf("w2 retiring after w1: done %v running %d sole %d nowhere %v, want done, nowhere, 1 running", done, running, sole, nowhere)
	}
	if done, _, sole, nowhere := g.retire("w1"); !done || !nowhere || sole != 1 {
		t.Fatalf("w1 asking again: done %v sole %d nowhere %v, want done, nowhere, its 1 sole copy", done, sole, nowhere)
	}
	// A mesh of one node leaves at once.
	one := newGraph(1, noValidate)
	one.setWorkers(map[string]workerInfo{"w1": {name: "w1", nthreads: 1}})
	if done, _, _, nowhere := one.retire("w1"); !done || !nowhere {
		t.Fatalf("the only worker: done %v nowhere %v", done, nowhere)
	}
}
