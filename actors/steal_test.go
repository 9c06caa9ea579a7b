package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshcompute/mesh/consensus"
)

// pile puts n tasks that depend on one value held only by w1 onto w1, the
// only worker when they are placed; then w2 and w3 join, idle.
func pile(t *testing.T, n int, micros int64) *graph {
	t.Helper()
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	g.submit("c", nil, []string{"data"}, []DataItem{{Key: "data", Holders: []string{"w1"}, Size: 8}})
	var specs []consensus.TaskSpec
	var want []string
	for i := range n {
		specs = append(specs, task(fmt.Sprintf("t%02d", i), "data"))
		want = append(want, specs[i].Key)
	}
	g.submit("c", specs, want, nil)
	if got := assigned(g.take()); len(got["w1"]) != n {
		t.Fatalf("placement: %v, want all %d on w1 (the only worker)", got, n)
	}
	g.setWorkers(workers("w1", "w2", "w3"))
	if got := assigned(g.take()); len(got) != 0 {
		t.Fatalf("new workers were given %v before any steal", got)
	}
	if micros > 0 {
		g.workers["w1"].avgMicros = float64(micros)
	}
	return g
}

func TestGraphStealsFromABusyWorker(t *testing.T) {
	g := pile(t, 20, 100_000)
	now := time.Now()
	g.balance(now)
	e := g.take()
	asked := e.steals["w1"]
	// w2 and w3 each have a free thread: one task each, the latest ones.
	if !slices.Equal(asked, []string{"t19", "t18"}) {
		t.Fatalf("steal request %v, want [t19 t18]", asked)
	}
	// No second request to w1 while the first is unanswered.
	g.balance(now)
	if e := g.take(); len(e.steals) != 0 {
		t.Fatalf("second request while the first is out: %v", e.steals)
	}
	// w1 had started t18 already: it gives up only t19.
	g.stolen("w1", []string{"t19"}, []string{"t18"})
	got := assigned(g.take())
	moved := append(got["w2"], got["w3"]...)
	if !slices.Equal(moved, []string{"t19"}) {
		t.Fatalf("after the reply: %v, want t19 on an idle worker", got)
	}
	if w := g.tasks["t19"].worker; w == "w1" || g.workers["w1"].running["t19"] != nil {
		t.Fatalf("t19 still on w1 (worker %s)", w)
	}
	if n := len(g.workers["w1"].running); n != 19 {
		t.Fatalf("w1 runs %d, want 19", n)
	}
	// The worker without a task gets another one at the next balance.
	g.balance(now)
	if asked := g.take().steals["w1"]; len(asked) != 1 {
		t.Fatalf("next request %v, want one task for the worker still idle", asked)
	}
	// A finished stolen task is taken from the thief.
	thief := g.tasks["t19"].worker
	g.finished(thief, []TaskResult{ok("t19", thief)})
	if g.tasks["t19"].state != tsMemory {
		t.Fatalf("t19 %s, want memory", g.tasks["t19"].state)
	}
}

func TestGraphDoesNotStealTinyTasks(t *testing.T) {
	g := pile(t, 50, 20) // 20 µs each: the backlog is 1 ms of work
	g.balance(time.Now())
	if e := g.take(); len(e.steals) != 0 {
		t.Fatalf("stole tiny tasks: %v", e.steals)
	}
}

func TestGraphStealRespectsRestrictions(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1", "w2"))
	var specs []consensus.TaskSpec
	for i := range 6 {
		s := task(fmt.Sprint("t", i))
		s.Workers = []string{"w1"}
		specs = append(specs, s)
	}
	g.submit("c", specs, nil, nil)
	g.take()
	g.workers["w1"].avgMicros = 100_000
	g.balance(time.Now())
	if e := g.take(); len(e.steals) != 0 {
		t.Fatalf("stole tasks restricted to w1: %v", e.steals)
	}
}

func TestGraphStealAnswerLostOrVictimGone(t *testing.T) {
	g := pile(t, 20, 100_000)
	now := time.Now()
	g.balance(now)
	if len(g.take().steals["w1"]) == 0 {
		t.Fatal("no steal asked")
	}
	// No answer: after the timeout w1 may be asked again.
	g.balance(now.Add(stealTimeout + time.Second))
	if len(g.take().steals["w1"]) == 0 {
		t.Fatal("no new request after the first timed out")
	}
	// w1 dies with the request out: its tasks rerun elsewhere, and the
	// thieves expect nothing more from it.
	g.setWorkers(workers("w2", "w3"))
	for _, id := range []string{"w2", "w3"} {
		if in := g.workers[id].incoming; in != 0 {
			t.Fatalf("%s still expects %d stolen tasks", id, in)
		}
	}
	// A late answer from the dead worker changes nothing.
	g.stolen("w1", []string{"t19"}, nil)
	if w := g.tasks["t19"].worker; w == "w1" {
		t.Fatalf("t19 on the dead worker")
	}
}
