package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshcompute/mesh/consensus"
)

func TestKeySplit(t *testing.T) {
	for key, want := range map[string]string{
		"chaos.inc-ab12cd34ef56":                 "chaos.inc",
		"dashtest.square-3f0c9a1b2c3d4e5f":       "dashtest.square",
		"square-0a1b2c3d4e5f6a7b-1z":             "square",
		"bag-map-1f2e":                           "bag-map",
		"scatter-deadbeefcafe-9f3a-2":            "scatter",
		"add-deadbeef":                           "add",
		"plain":                                  "plain",
		"x-1":                                    "x",
		"-odd":                                   "-odd",
		"read_csv-part-abcdefab":                 "read_csv-part",
		"f-":                                     "f",
		"inc-a":                                  "inc-a",
		"mesh.sum-" + "0123456789abcdef01234567": "mesh.sum",
	} {
		if got := KeySplit(key); got != want {
			t.Errorf("KeySplit(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestRingKeepsTheLast(t *testing.T) {
	r := newRing[int](4)
	if got := r.last(10, nil, nil); len(got) != 0 {
		t.Fatalf("empty ring: %v", got)
	}
	for i := 1; i <= 10; i++ {
		r.add(i)
	}
	if got := r.last(10, nil, nil); !slices.Equal(got, []int{7, 8, 9, 10}) {
		t.Fatalf("last of a wrapped ring: %v, want [7 8 9 10]", got)
	}
	if got := r.last(2, nil, nil); !slices.Equal(got, []int{9, 10}) {
		t.Fatalf("last 2: %v", got)
	}
	if got := r.last(10, func(v *int) bool { return *v%2 == 0 }, nil); !slices.Equal(got, []int{8, 10}) {
		t.Fatalf("even: %v", got)
	}
	if got := r.last(10, nil, func(v *int) bool { return *v < 9 }); !slices.Equal(got, []int{9, 10}) {
		t.Fatalf("stopped below 9: %v", got)
	}
	if got := r.last(0, nil, nil); got != nil {
		t.Fatalf("limit 0: %v", got)
	}
}

// Group counts come from ids interned at submit; groups that lose their
// last task are forgotten (ids reused, edges dropped).
func TestGraphGroupsAndView(t *testing.T) {
	g := newGraph(1, noValidate)
	g.setWorkers(workers("w1"))
	var specs []consensus.TaskSpec
	for i := range 6 {
		specs = append(specs, task(fmt.Sprintf("load-%08x", i)))
	}
	for i := range 3 {
		specs = append(specs, task(fmt.Sprintf("sum-%08x", i), fmt.Sprintf("load-%08x", 2*i), fmt.Sprintf("load-%08x", 2*i+1)))
	}
	keys := make([]string, 0, len(specs))
	for _, s := range specs {
		keys = append(keys, s.Key)
	}
	g.submit("c", specs, keys, nil)
	count := func() []GroupCount {
		counts := make([][tsReleased + 1]int, len(g.groups.names))
		for _, t := range g.tasks {
			counts[t.group][t.state]++
		}
		return g.groups.counted(counts)
	}
	gc := count()
	if len(gc) != 2 || gc[0].Name != "load" || gc[0].Total != 6 || gc[1].Name != "sum" || gc[1].Total != 3 || gc[1].Waiting != 3 {
		t.Fatalf("groups %+v: want load (6) then sum (3 waiting)", gc)
	}
	if e := g.groups.edgeList(); !slices.Equal(e, []GroupEdge{{From: "load", To: "sum"}}) {
		t.Fatalf("group edges %+v", e)
	}

	v := g.view(100, nil)
	if v.Truncated || v.Total != 9 || len(v.Tasks) != 9 || len(v.Groups) != 2 {
		t.Fatalf("view of 9 tasks, limit 100: truncated %v, total %d, %d tasks, %d groups", v.Truncated, v.Total, len(v.Tasks), len(v.Groups))
	}
	for _, tk := range v.Tasks {
		if tk.Group == "sum" {
			if len(tk.Deps) != 2 || v.Tasks[tk.Deps[0]].Group != "load" {
				t.Errorf("task %+v: want two load inputs", tk)
			}
		}
	}
	last := &TaskCounts{Groups: gc}
	v = g.view(5, last)
	if !v.Truncated || v.Total != 9 || len(v.Tasks) != 0 || len(v.Groups) != 2 || len(v.GroupEdges) != 1 || v.Limit != 5 {
		t.Fatalf("view of 9 tasks, limit 5: %+v; want truncated, a summary of 2 groups and 1 edge", v)
	}

	// Releasing everything forgets the tasks, then their groups.
	g.release("c", keys, true)
	if n := len(g.tasks); n != 0 {
		t.Fatalf("%d tasks left after release", n)
	}
	if gc := count(); len(gc) != 0 || len(g.groups.ids) != 0 || len(g.groups.edges) != 0 || len(g.groups.free) != 2 {
		t.Fatalf("after release: groups %+v, ids %v, edges %v, free %v", gc, g.groups.ids, g.groups.edges, g.groups.free)
	}
	g.submit("c", []consensus.TaskSpec{task("again-00000000")}, []string{"again-00000000"}, nil)
	if gc := count(); len(gc) != 1 || gc[0].Name != "again" || len(g.groups.free) != 1 {
		t.Fatalf("a new group after reuse: %+v, free %v", gc, g.groups.free)
	}
}

// Past maxGroups distinct groups, tasks count under OtherGroup.
func TestGraphGroupsAreBounded(t *testing.T) {
	g := newGraph(1, noValidate)
	var specs []consensus.TaskSpec
	for i := range maxGroups + 10 {
		specs = append(specs, task(fmt.Sprintf("g%c%c%c-1", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26)))
	}
	g.submit("c", specs, nil, nil)
	counts := make([][tsReleased + 1]int, len(g.groups.names))
	for _, t := range g.tasks {
		counts[t.group][t.state]++
	}
	gc := g.groups.counted(counts)
	if len(gc) != maxGroups+1 || gc[0].Name != OtherGroup || gc[0].Total != 10 {
		t.Fatalf("%d groups, first %+v; want %d and %q with 10 tasks", len(gc), gc[0], maxGroups+1, OtherGroup)
	}
}

func TestCPUMeter(t *testing.T) {
	var m cpuMeter
	m.percent()
	m.at = time.Now().Add(-2 * time.Second) // a window has passed
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) {
	}
	if p := m.percent(); p <= 0 {
		t.Errorf("CPU percent after a busy loop: %v, want > 0", p)
	}
}

// Recording a task in the stream allocates nothing (it runs per task).
func TestRecordTaskDoesNotAllocate(t *testing.T) {
	n := &Node{activity: newActivity()}
	f := &finishedTask{result: TaskResult{Key: "square-0123456789abcdef"}, computeAt: time.Now(), fetched: 10}
	start := time.Now()
	if a := testing.AllocsPerRun(1000, func() { n.recordTask(1, start, f) }); a != 0 {
		t.Fatalf("recordTask: %v allocations per call, want 0", a)
	}
	got := n.activity.stream.last(1, nil, nil)
	if len(got) != 1 || got[0].Group != "square" || got[0].Thread != 1 || got[0].FetchBytes != 10 || got[0].Outcome != "ok" {
		t.Fatalf("recorded %+v", got)
	}
}
