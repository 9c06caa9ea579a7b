package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/futures"
	"github.com/meshcompute/mesh/mesh"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter log throttle waits out its interval
		// after the last dead letter, even past ActorSystem.Shutdown.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	)
}

const squareFunc = "dashtest.square"

func init() {
	futures.Register(squareFunc, func(x int) (int, error) {
		time.Sleep(2 * time.Millisecond)
		return x * x, nil
	})
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testMesh is a mesh of nodes in this process, each serving its dashboard
// on a free loopback port.
type testMesh struct {
	t       *testing.T
	nodes   []*actors.Node
	servers []*Server
	http    *http.Client
	logs    *syncBuffer
	secret  mesh.Secret
	gaters  []*mesh.ChaosGater
}

// startTestMesh starts n nodes; with chaos, each has a partition switch
// (m.gaters).
func startTestMesh(t *testing.T, n int, chaos bool) *testMesh {
	t.Helper()
	return startTestMeshWith(t, n, chaos, nil)
}

// startTestMeshWith is startTestMesh with each node's config passed
// through configure (if not nil) first.
func startTestMeshWith(t *testing.T, n int, chaos bool, configure func(*actors.NodeConfig)) *testMesh {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := &testMesh{t: t, logs: logs, http: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		for _, s := range m.servers {
			if err := s.Close(); err != nil {
				t.Errorf("close dashboard: %v", err)
			}
		}
		m.http.CloseIdleConnections()
		for _, nd := range m.nodes {
			nd.Close()
		}
		if t.Failed() {
			t.Logf("node logs:\n%s", logs.String())
		}
	})
	secret, err := mesh.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	m.secret = secret
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := actors.NodeConfig{Secret: secret, Threads: 2, DeadAfter: time.Second, Heartbeat: 100 * time.Millisecond, Logger: log}
	if configure != nil {
		configure(&cfg)
	}
	if !chaos {
		m.nodes, err = actors.StartLocalMesh(ctx, t.TempDir(), n, cfg)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		// Each node with its own partition switch (a gater gates one host).
		listen, _ := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/0")
		for i := range n {
			c := cfg
			c.DataDir, c.Name, c.Listen = t.TempDir(), fmt.Sprintf("node%d", i+1), []ma.Multiaddr{listen}
			c.Chaos = mesh.NewChaosGater()
			if i > 0 {
				first, err := peer.AddrInfoFromP2pAddr(m.nodes[0].Addrs()[0])
				if err != nil {
					t.Fatal(err)
				}
				c.Peers = []peer.AddrInfo{*first}
			}
			nd, err := actors.StartNode(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			m.nodes, m.gaters = append(m.nodes, nd), append(m.gaters, c.Chaos)
		}
	}
	nodes := m.nodes
	if _, err := actors.WaitAgreed(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m.servers = append(m.servers, Start(nd, ln, Config{Logger: log, EventInterval: 200 * time.Millisecond}))
	}
	return m
}

func (m *testMesh) url(i int, path string) string {
	return "http://" + m.servers[i].Addr().String() + path
}

func (m *testMesh) get(i int, path string) (int, []byte) {
	m.t.Helper()
	resp, err := m.http.Get(m.url(i, path))
	if err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, body
}

func (m *testMesh) getJSON(i int, path string, out any) {
	m.t.Helper()
	code, body := m.get(i, path)
	if code != http.StatusOK {
		m.t.Fatalf("GET %s on node %d: %d %s", path, i, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		m.t.Fatalf("GET %s: bad JSON (%v): %s", path, err, body)
	}
}

func (m *testMesh) metrics(i int) map[string]*dto.MetricFamily {
	m.t.Helper()
	code, body := m.get(i, "/metrics")
	if code != http.StatusOK {
		m.t.Fatalf("GET /metrics on node %d: %d %s", i, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		m.t.Fatalf("/metrics of node %d does not parse as Prometheus text: %v\n%s", i, err, body)
	}
	return fams
}

// leader returns the index of the leading node.
func (m *testMesh) leader() int {
	m.t.Helper()
	for i, nd := range m.nodes {
		if nd.Raft().IsLeader() {
			return i
		}
	}
	m.t.Fatal("no node leads")
	return -1
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// value is the value of the family's sample whose labels include want.
func value(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, mt := range f.Metric {
		for k, v := range want {
			found := false
			for _, lp := range mt.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case mt.Gauge != nil:
			return mt.Gauge.GetValue(), true
		case mt.Counter != nil:
			return mt.Counter.GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestDashboardOfALocalMesh(t *testing.T) {
	m := startTestMesh(t, 3, false)
	lead := m.leader()
	follower := (lead + 1) % 3

	// Some real work: 24 tasks through a client, results held.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := futures.Connect(ctx, m.nodes[0].Addrs()[0].String(), futures.WithSecret(m.secret))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const tasks = 24
	args := make([]any, tasks)
	for i := range args {
		args[i] = i
	}
	fs, err := cl.Map(ctx, squareFunc, args)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cl.Gather(ctx, fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != tasks {
		t.Fatalf("gathered %d results, want %d", len(out), tasks)
	}

	t.Run("health", func(t *testing.T) {
		for i := range m.nodes {
			code, body := m.get(i, "/health")
			if code != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
				t.Errorf("node %d /health: %d %q, want 200 ok", i, code, body)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// Task counts refresh on the scheduler's tick: poll.
		waitFor(t, 10*time.Second, "leader's mesh_scheduler_tasks{state=memory} reaches the tasks held", func() error {
			v, ok := value(m.metrics(lead)["mesh_scheduler_tasks"], map[string]string{"state": "memory"})
			if !ok || v < tasks {
				return fmt.Errorf("mesh_scheduler_tasks{state=memory} = %v (present %v), want >= %d", v, ok, tasks)
			}
			return nil
		})
		var okTasks, observed, replicaBytes, storeBytes float64
		for i := range m.nodes {
			fams := m.metrics(i)
			for _, name := range []string{"mesh_task_duration_seconds", "mesh_worker_tasks_total", "mesh_transfer_bytes_total",
				"mesh_store_bytes", "mesh_store_spills_total", "mesh_members", "mesh_raft_is_leader", "mesh_raft_term",
				"mesh_worker_threads", "mesh_worker_running_tasks", "go_goroutines", "process_resident_memory_bytes"} {
				if fams[name] == nil {
					t.Errorf("node %d: no metric family %s", i, name)
				}
			}
			isLeader, _ := value(fams["mesh_raft_is_leader"], nil)
			if want := map[bool]float64{true: 1, false: 0}[i == lead]; isLeader != want {
				t.Errorf("node %d: mesh_raft_is_leader = %v, want %v", i, isLeader, want)
			}
			if _, ok := fams["mesh_scheduler_tasks"]; ok != (i == lead) {
				t.Errorf("node %d: mesh_scheduler_tasks present = %v, want it on the leader only", i, ok)
			}
			if term, _ := value(fams["mesh_raft_term"], nil); term < 1 {
				t.Errorf("node %d: mesh_raft_term = %v", i, term)
			}
			if alive, _ := value(fams["mesh_members"], map[string]string{"state": "alive"}); alive != 3 {
				t.Errorf("node %d: mesh_members{state=alive} = %v, want 3", i, alive)
			}
			if th, _ := value(fams["mesh_worker_threads"], nil); th != 2 {
				t.Errorf("node %d: mesh_worker_threads = %v, want 2", i, th)
			}
			v, _ := value(fams["mesh_worker_tasks_total"], map[string]string{"outcome": "ok"})
			okTasks += v
			v, _ = value(fams["mesh_task_duration_seconds"], map[string]string{"func": squareFunc})
			observed += v
			v, _ = value(fams["mesh_transfer_bytes_total"], map[string]string{"kind": "replica"})
			replicaBytes += v
			v, _ = value(fams["mesh_store_bytes"], map[string]string{"where": "memory"})
			storeBytes += v
		}
		if okTasks < tasks || observed < tasks {
			t.Errorf("over the mesh: %v tasks ok and %v durations of %s observed, want >= %d", okTasks, observed, squareFunc, tasks)
		}
		if replicaBytes <= 0 || storeBytes <= 0 {
			t.Errorf("over the mesh: %v replica bytes sent, %v store bytes in memory; want both > 0 (results are held with 2 replicas)", replicaBytes, storeBytes)
		}
	})

	t.Run("members through a follower", func(t *testing.T) {
		var ms Members
		m.getJSON(follower, "/api/v1/members", &ms)
		if ms.Stale || ms.Leader != m.nodes[lead].ID().String() || len(ms.Members) != 3 {
			t.Fatalf("members via follower %d: stale=%v leader=%s members=%d; want the leader's view of 3 members, leader %s", follower, ms.Stale, ms.Leader, len(ms.Members), m.nodes[lead].ID())
		}
		seen := map[string]bool{}
		for _, mem := range ms.Members {
			seen[mem.ID] = true
			if mem.State != "alive" || mem.Leader != (mem.ID == ms.Leader) || mem.Cores <= 0 || len(mem.Addrs) == 0 {
				t.Errorf("member %+v: want alive, leader mark only on the leader, cores and addrs", mem)
			}
		}
		for _, nd := range m.nodes {
			if !seen[nd.ID().String()] {
				t.Errorf("node %s missing from the members", nd.ID())
			}
		}
	})

	t.Run("workers and tasks through a follower", func(t *testing.T) {
		waitFor(t, 10*time.Second, "workers report their store bytes to the leader", func() error {
			var ws Workers
			m.getJSON(follower, "/api/v1/workers", &ws)
			if len(ws.Workers) != 3 {
				return fmt.Errorf("%d workers, want 3", len(ws.Workers))
			}
			var store int64
			for _, w := range ws.Workers {
				if w.Threads != 2 {
					return fmt.Errorf("worker %s: %d threads, want 2", w.Name, w.Threads)
				}
				store += w.StoreBytes
			}
			if store <= 0 {
				return fmt.Errorf("workers hold %d store bytes in all, want > 0", store)
			}
			return nil
		})
		var ts Tasks
		m.getJSON(follower, "/api/v1/tasks", &ts)
		if ts.States["memory"] < tasks || ts.Total < tasks || len(ts.States) != len(TaskStates) {
			t.Errorf("tasks via follower: %+v, want >= %d in memory and every state listed", ts, tasks)
		}
	})

	t.Run("explain", func(t *testing.T) {
		// A follower asks the leader's scheduler about one task.
		var ex actors.Explain
		m.getJSON(follower, "/api/v1/tasks/"+fs[3].Key(), &ex)
		if len(ex.Tasks) != 1 || ex.Tasks[0].Key != fs[3].Key() || ex.Tasks[0].State != "memory" || len(ex.Tasks[0].Holders) == 0 || len(ex.Tasks[0].Wanters) != 1 {
			t.Errorf("explain %s: %+v, want it in memory with holders and one wanter", fs[3].Key(), ex)
		}
		if code, body := m.get(follower, "/api/v1/tasks/no-such-task"); code != http.StatusNotFound || !strings.Contains(string(body), "no-such-task") {
			t.Errorf("explain of an unknown key: %d %s, want 404 naming it", code, body)
		}
	})

	t.Run("events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url(follower, "/api/v1/events"), nil)
		resp, err := m.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("events Content-Type %q", ct)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var events []View
		event := ""
		for len(events) < 2 && sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if event != "status" {
					t.Fatalf("event %q: %s", event, line)
				}
				var v View
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v); err != nil {
					t.Fatalf("event data is not a status: %v: %s", err, line)
				}
				events = append(events, v)
			}
		}
		if len(events) < 2 {
			t.Fatalf("%d status events before the stream ended (%v), want 2", len(events), sc.Err())
		}
		for _, v := range events {
			if len(v.Members) != 3 || v.Leader == "" || v.Node != m.nodes[follower].ID().String() || v.TasksTotal < tasks {
				t.Errorf("event: %d members, leader %q, node %s, %d tasks; want 3 members, a leader, node %s, >= %d tasks",
					len(v.Members), v.Leader, v.Node, v.TasksTotal, m.nodes[follower].ID(), tasks)
			}
		}
	})

	t.Run("page and pprof", func(t *testing.T) {
		for path, want := range map[string]string{
			"/":                              `<table id="members">`,
			"/static/common.js":              "EventSource",
			"/static/style.css":              ".stacked",
			"/debug/pprof/":                  "goroutine",
			"/debug/pprof/goroutine?debug=1": "goroutine profile",
		} {
			code, body := m.get(follower, path)
			if code != http.StatusOK || !strings.Contains(string(body), want) {
				t.Errorf("GET %s: %d, body without %q", path, code, want)
			}
		}
		if code, _ := m.get(follower, "/nope"); code != http.StatusNotFound {
			t.Errorf("GET /nope: %d, want 404", code)
		}
	})
}

// A node that lost its quorum is unhealthy: 503 with the reason; the API
// still answers with the node's own (stale) view.
func TestHealthWithoutLeader(t *testing.T) {
	m := startTestMesh(t, 3, false)
	// Keep node 0 (leader or not); the other two go away.
	for _, nd := range m.nodes[1:] {
		nd.Close()
	}
	waitFor(t, 15*time.Second, "the survivor's /health turns 503", func() error {
		code, body := m.get(0, "/health")
		if code != http.StatusServiceUnavailable {
			return fmt.Errorf("%d %q", code, body)
		}
		if !strings.Contains(string(body), "no Raft leader") || strings.Count(strings.TrimSpace(string(body)), "\n") != 0 {
			t.Fatalf("503 body %q: want one line naming the missing leader", body)
		}
		return nil
	})
	var ms Members
	m.getJSON(0, "/api/v1/members", &ms)
	if !ms.Stale || ms.Leader != "" || len(ms.Members) != 3 {
		t.Errorf("members without a leader: stale=%v leader=%q members=%d; want the node's own stale view of 3", ms.Stale, ms.Leader, len(ms.Members))
	}
}

// A follower cut off from the others (partition switches) turns unhealthy
// and its pages show its own stale view, while the leader stays healthy
// and sees it dead.
func TestCutOffFollower(t *testing.T) {
	m := startTestMesh(t, 3, true)
	lead := m.leader()
	f := (lead + 1) % 3
	cut := m.nodes[f].ID()
	var others []peer.ID
	for i, nd := range m.nodes {
		if i != f {
			others = append(others, nd.ID())
			m.gaters[i].Block([]peer.ID{cut})
		}
	}
	m.gaters[f].Block(others)

	waitFor(t, 15*time.Second, "the cut-off follower's /health turns 503", func() error {
		if code, body := m.get(f, "/health"); code != http.StatusServiceUnavailable {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	var ms Members
	m.getJSON(f, "/api/v1/members", &ms)
	if !ms.Stale || len(ms.Members) != 3 {
		t.Errorf("members via the cut-off follower: stale=%v, %d members; want its own stale view of 3", ms.Stale, len(ms.Members))
	}
	waitFor(t, 15*time.Second, "the leader sees the follower dead and stays healthy", func() error {
		if code, body := m.get(lead, "/health"); code != http.StatusOK {
			return fmt.Errorf("leader /health: %d %q", code, body)
		}
		var ms Members
		m.getJSON(lead, "/api/v1/members", &ms)
		for _, mem := range ms.Members {
			if mem.ID == cut.String() && mem.State != "dead" {
				return fmt.Errorf("the cut-off follower is %s", mem.State)
			}
		}
		return nil
	})
	// The leader's logs tell of the death; a dead member is not asked for
	// its activity.
	var logs Logs
	m.getJSON(lead, "/api/v1/logs?kind=dead", &logs)
	if len(logs.Events) != 1 || logs.Events[0].Subject != cut.String() || !strings.Contains(logs.Events[0].Message, "dead") {
		t.Errorf("dead events on the leader: %+v, want one, of %s", logs.Events, cut)
	}
	var ts TaskStream
	m.getJSON(lead, "/api/v1/taskstream", &ts)
	if len(ts.Workers) != 2 {
		t.Errorf("task stream workers while one is dead: %+v, want the 2 alive", ts.Workers)
	}
}
