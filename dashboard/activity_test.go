package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/futures"
)

const (
	addFunc  = "dashtest.add"
	failFunc = "dashtest.fail"
)

func init() {
	futures.Register(addFunc, func(a, b int) (int, error) {
		time.Sleep(time.Millisecond)
		return a + b, nil
	})
	futures.Register(failFunc, func(x int) (int, error) {
		return 0, fmt.Errorf("dashtest: %d is not welcome", x)
	})
}

// A workload of three task groups: squares, sums of pairs of squares (their
// dependents), and one task that fails; and one more sum, placed on a
// worker that does not hold its first input, which must fetch it (fetcher,
// its worker).
func runWorkload(t *testing.T, m *testMesh, n int) (squares, sums []*futures.Future, failed, fetcher *futures.Future, worker string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := futures.Connect(ctx, m.nodes[0].Addrs()[0].String(), futures.WithSecret(m.secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	args := make([]any, n)
	for i := range args {
		args[i] = i
	}
	squares, err = cl.Map(ctx, squareFunc, args)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < n; i += 2 {
		f, err := cl.Submit(ctx, addFunc, squares[i], squares[i+1])
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, f)
	}
	if _, err := cl.Gather(ctx, sums); err != nil {
		t.Fatal(err)
	}
	ex, err := cl.Explain(ctx, squares[0].Key())
	if err != nil || len(ex.Tasks) != 1 {
		t.Fatalf("explain %s: %v", squares[0].Key(), err)
	}
	for _, nd := range m.nodes {
		if !slices.Contains(ex.Tasks[0].Holders, nd.ID().String()) {
			worker = nd.ID().String()
		}
	}
	if worker == "" {
		t.Fatalf("every node holds %s: %v", squares[0].Key(), ex.Tasks[0].Holders)
	}
	fetcher, err = cl.Submit(ctx, addFunc, squares[0], squares[2], futures.Workers(worker))
	if err != nil {
		t.Fatal(err)
	}
	if err := fetcher.Err(ctx); err != nil {
		t.Fatal(err)
	}
	failed, err = cl.Submit(ctx, failFunc, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := failed.Err(ctx); err == nil {
		t.Fatal("the failing task did not fail")
	}
	return squares, sums, failed, fetcher, worker
}

func TestDashboardActivityAPI(t *testing.T) {
	m := startTestMesh(t, 3, false)
	lead := m.leader()
	follower := (lead + 1) % 3
	const n = 24
	squares, sums, failed, fetcher, fetchedBy := runWorkload(t, m, n)
	ids := map[string]bool{}
	for _, nd := range m.nodes {
		ids[nd.ID().String()] = true
	}

	t.Run("groups through a follower", func(t *testing.T) {
		waitFor(t, 10*time.Second, "the leader counts the task groups", func() error {
			var gs Groups
			m.getJSON(follower, "/api/v1/groups", &gs)
			byName := map[string]actors.GroupCount{}
			var names []string
			for _, g := range gs.Groups {
				byName[g.Name] = g
				names = append(names, g.Name)
			}
			if g := byName[squareFunc]; g.Memory+g.Released < n || g.Total < n {
				return fmt.Errorf("group %s: %+v, want %d done (groups %v)", squareFunc, g, n, names)
			}
			if g := byName[addFunc]; g.Memory != n/2+1 || g.Total != n/2+1 {
				return fmt.Errorf("group %s: %+v, want %d in memory", addFunc, g, n/2+1)
			}
			if g := byName[failFunc]; g.Erred != 1 {
				return fmt.Errorf("group %s: %+v, want 1 erred", failFunc, g)
			}
			if gs.Stale || gs.Leader != m.nodes[lead].ID().String() {
				return fmt.Errorf("stale %v, leader %s", gs.Stale, gs.Leader)
			}
			return nil
		})
	})

	t.Run("task stream of every worker", func(t *testing.T) {
		var ts TaskStream
		m.getJSON(follower, "/api/v1/taskstream", &ts)
		if len(ts.Workers) != 3 || len(ts.Errors) != 0 {
			t.Fatalf("task stream workers %+v, errors %v: want the 3 members", ts.Workers, ts.Errors)
		}
		for _, w := range ts.Workers {
			if !ids[w.ID] || w.Threads != 2 || w.Name == "" {
				t.Errorf("stream worker %+v: want a member with 2 threads", w)
			}
		}
		groups := map[string]int{}
		workers := map[string]bool{}
		outcomes := map[string]int{}
		for i, e := range ts.Entries {
			groups[e.Group]++
			workers[e.Worker] = true
			outcomes[e.Outcome]++
			if !ids[e.Worker] || e.Thread < 0 || e.Thread >= 2 || e.Start > e.Compute || e.Compute > e.Stop || e.Stop < ts.Since || e.Group != actors.KeySplit(e.Key) {
				t.Errorf("entry %+v: want a member's thread 0 or 1, start <= compute <= stop, after since %d", e, ts.Since)
			}
			if i > 0 && e.Stop < ts.Entries[i-1].Stop {
				t.Errorf("entries out of order at %d", i)
			}
		}
		if groups[squareFunc] < n || groups[addFunc] < n/2 || groups[failFunc] < 1 || outcomes["error"] < 1 {
			t.Errorf("stream groups %v, outcomes %v: want >= %d %s, %d %s, an error of %s", groups, outcomes, n, squareFunc, n/2, addFunc, failFunc)
		}
		// The sum placed away from its input fetched it.
		found := false
		for _, e := range ts.Entries {
			if e.Key == fetcher.Key() {
				found = true
				if e.Worker != fetchedBy || e.FetchBytes <= 0 || e.Outcome != "ok" {
					t.Errorf("entry of the sum placed on %s: %+v, want it there, ok, with input bytes fetched", fetchedBy, e)
				}
			}
		}
		if !found {
			t.Errorf("no entry for %s in the stream", fetcher.Key())
		}
		var later TaskStream
		m.getJSON(follower, fmt.Sprintf("/api/v1/taskstream?since=%d", ts.Now+int64(time.Hour/time.Microsecond)), &later)
		if len(later.Entries) != 0 {
			t.Errorf("stream since an hour from now: %d entries, want none", len(later.Entries))
		}
		var one TaskStream
		m.getJSON(follower, "/api/v1/taskstream?limit=1", &one)
		if len(one.Entries) > 3 {
			t.Errorf("limit=1: %d entries, want at most one per member", len(one.Entries))
		}
		if code, body := m.get(follower, "/api/v1/taskstream?since=yesterday"); code != http.StatusBadRequest {
			t.Errorf("since=yesterday: %d %s, want 400", code, body)
		}
	})

	t.Run("logs merged from every member", func(t *testing.T) {
		var logs Logs
		m.getJSON(follower, "/api/v1/logs", &logs)
		joined := map[string]int{}
		kinds := map[string]int{}
		for i, e := range logs.Events {
			kinds[e.Kind]++
			if e.Kind == actors.EventJoined {
				joined[e.Subject]++
			}
			if i > 0 && e.Time > logs.Events[i-1].Time {
				t.Errorf("events not newest first at %d", i)
			}
		}
		for id := range ids {
			if joined[id] != 1 {
				t.Errorf("node %s: %d joined events, want exactly 1 (every node records it; merged once)", id, joined[id])
			}
		}
		if kinds[actors.EventLeader] < 1 {
			t.Errorf("no leader event: %v", kinds)
		}
		found := false
		for _, e := range logs.Events {
			if e.Kind == actors.EventTaskError && e.Subject == failed.Key() && strings.Contains(e.Message, "not welcome") {
				found = true
			}
		}
		if !found {
			t.Errorf("no task-error event for %s: %+v", failed.Key(), logs.Events)
		}
		var leaders Logs
		m.getJSON(lead, "/api/v1/logs?kind=leader&limit=5", &leaders)
		if len(leaders.Events) == 0 || len(leaders.Events) > 5 {
			t.Fatalf("kind=leader: %d events", len(leaders.Events))
		}
		for _, e := range leaders.Events {
			if e.Kind != actors.EventLeader || e.Term < 1 || !ids[e.Subject] {
				t.Errorf("leader event %+v", e)
			}
		}
		if e := leaders.Events[0]; e.Subject != m.nodes[lead].ID().String() {
			t.Errorf("latest leader event names %s, want the leader %s", e.Subject, m.nodes[lead].ID())
		}
	})

	t.Run("graph with its inputs", func(t *testing.T) {
		var gv actors.GraphView
		m.getJSON(follower, "/api/v1/graph", &gv)
		if gv.Truncated || gv.Total != len(gv.Tasks) || gv.Limit != DefaultGraphLimit || gv.Node != m.nodes[lead].ID().String() {
			t.Fatalf("graph: truncated %v, total %d, %d tasks, limit %d, node %s", gv.Truncated, gv.Total, len(gv.Tasks), gv.Limit, gv.Node)
		}
		byKey := map[string]actors.GraphTask{}
		for _, tk := range gv.Tasks {
			byKey[tk.Key] = tk
		}
		s := byKey[sums[0].Key()]
		if s.State != "memory" || s.Group != addFunc || len(s.Deps) != 2 {
			t.Fatalf("sum task in the graph: %+v, want in memory with 2 inputs", s)
		}
		for _, d := range s.Deps {
			if in := gv.Tasks[d]; in.Key != squares[0].Key() && in.Key != squares[1].Key() {
				t.Errorf("input %+v of the first sum: want square 0 or 1", in)
			}
		}
		if f := byKey[failed.Key()]; f.State != "erred" {
			t.Errorf("failed task in the graph: %+v", f)
		}
		if !slices.Contains(gv.GroupEdges, actors.GroupEdge{From: squareFunc, To: addFunc}) {
			t.Errorf("group edges %+v: want %s -> %s", gv.GroupEdges, squareFunc, addFunc)
		}
	})

	t.Run("graph past its limit is a summary", func(t *testing.T) {
		var gv actors.GraphView
		m.getJSON(follower, "/api/v1/graph?limit=10", &gv)
		if !gv.Truncated || gv.Limit != 10 || len(gv.Tasks) != 0 || gv.Total <= 10 {
			t.Fatalf("graph?limit=10 of %d tasks: truncated %v, limit %d, %d tasks; want a summary", gv.Total, gv.Truncated, gv.Limit, len(gv.Tasks))
		}
		total := 0
		for _, g := range gv.Groups {
			total += g.Total
		}
		if len(gv.Groups) < 3 || total < gv.Total-1 {
			t.Errorf("summary groups %+v (%d tasks): want the 3 groups covering the %d tasks", gv.Groups, total, gv.Total)
		}
		m.getJSON(follower, "/api/v1/graph?limit=1000000", &gv)
		if gv.Limit != actors.MaxGraphLimit {
			t.Errorf("limit=1000000 taken as %d, want the bound %d", gv.Limit, actors.MaxGraphLimit)
		}
	})

	t.Run("workers carry cpu and memory limit", func(t *testing.T) {
		waitFor(t, 10*time.Second, "every worker reports its CPU use", func() error {
			var ws Workers
			m.getJSON(follower, "/api/v1/workers", &ws)
			for _, w := range ws.Workers {
				if w.CPU <= 0 || w.Cores <= 0 || w.Role != "voter" {
					return fmt.Errorf("worker %+v: want CPU > 0, cores, a voter", w)
				}
			}
			return nil
		})
	})

	t.Run("pages", func(t *testing.T) {
		for path, want := range map[string]string{
			"/":                  `id="task-stream"`,
			"/workers":           `id="workers"`,
			"/graph":             `id="graph"`,
			"/logs":              `id="logs"`,
			"/static/common.js":  "EventSource",
			"/static/status.js":  "taskstream",
			"/static/workers.js": "sortBy",
			"/static/graph.js":   "api/v1/graph",
			"/static/logs.js":    "logs=1",
		} {
			code, body := m.get(follower, path)
			if code != http.StatusOK || !strings.Contains(string(body), want) {
				t.Errorf("GET %s: %d, body without %q", path, code, want)
			}
		}
	})

	t.Run("events with the task stream and logs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url(follower, "/api/v1/events?stream=1&logs=1"), nil)
		resp, err := m.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 8<<20)
		got := map[string]int{}
		var first TaskStream
		var logs Logs
		event := ""
		for (got["taskstream"] < 2 || got["logs"] < 1 || got["status"] < 2) && sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				got[event]++
				data := []byte(strings.TrimPrefix(line, "data: "))
				var err error
				switch {
				case event == "taskstream" && got[event] == 1:
					err = json.Unmarshal(data, &first)
				case event == "logs" && got[event] == 1:
					err = json.Unmarshal(data, &logs)
				case event == "error":
					err = errors.New(string(data))
				}
				if err != nil {
					t.Fatalf("event %s: %v", event, err)
				}
			}
		}
		if got["taskstream"] < 2 || got["logs"] < 1 {
			t.Fatalf("events %v before the stream ended (%v)", got, sc.Err())
		}
		if len(first.Entries) < n || len(first.Workers) != 3 {
			t.Errorf("first taskstream event: %d entries, %d workers; want the workload's and 3", len(first.Entries), len(first.Workers))
		}
		if len(logs.Events) == 0 {
			t.Errorf("first logs event is empty")
		}
	})
}
