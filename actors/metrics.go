package actors

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meshcompute/mesh/consensus"
)

// Metrics are a node's counters, gauges and histograms, registered on the
// node's own Prometheus registry (several nodes share a process in tests,
// so there is no global registry). The hot paths touch them with one atomic
// add or one histogram observation; the rest (store, membership, Raft) is
// read when the registry is scraped.
type Metrics struct {
	reg *prometheus.Registry

	taskSeconds  *prometheus.HistogramVec // by function name
	taskOutcomes *prometheus.CounterVec   // ok, error, missing
	transferred  *prometheus.CounterVec   // bytes by kind: fetch, serve, replica
	tickSeconds  prometheus.Histogram

	// running: tasks this worker is executing now.
	running atomic.Int64
	// tasks: the leader's last count of its graph's tasks by state (nil
	// when this node's scheduler is not running).
	tasks atomic.Pointer[TaskCounts]
}

// TaskCounts is a snapshot of the scheduler's tasks by state.
type TaskCounts struct {
	Term   uint64
	At     time.Time
	States map[string]int
	// Groups: the tasks of each task group (KeySplit) by state, the
	// oldest group first.
	Groups []GroupCount
}

// Transfer kinds of mesh_transfer_bytes_total.
const (
	transferFetch   = "fetch"   // task inputs this worker fetched from other nodes
	transferServe   = "serve"   // values this node's store sent to others (workers, clients)
	transferReplica = "replica" // result copies this node sent to other nodes
)

func newMetrics(n *Node) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.taskSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mesh_task_duration_seconds",
		Help:    "Run time of the task functions this worker called, by function name.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 11), // 100 µs .. ~105 s
	}, []string{"func"})
	m.taskOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mesh_worker_tasks_total",
		Help: "Tasks this worker finished, by outcome: ok, error (the task failed), missing (an input could not be fetched).",
	}, []string{"outcome"})
	m.transferred = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mesh_transfer_bytes_total",
		Help: "Value bytes moved between nodes, by kind: fetch (inputs this worker fetched), serve (values this node's store sent on request), replica (result copies this node sent).",
	}, []string{"kind"})
	for _, k := range []string{transferFetch, transferServe, transferReplica} {
		m.transferred.WithLabelValues(k)
	}
	for _, o := range []string{"ok", "error", "missing"} {
		m.taskOutcomes.WithLabelValues(o)
	}
	m.tickSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mesh_scheduler_tick_seconds",
		Help:    "Time the leader's scheduler spent on one periodic tick (worker sync, expiries, balancing, sending).",
		Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10), // 50 µs .. ~13 s
	})
	bandwidth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mesh_transfer_bandwidth_bytes_per_second",
		Help: "Moving average of the rate this worker fetched inputs of 1 MiB or more from other nodes (0 until one); the scheduler prices moving tasks at the workers' mean.",
	}, n.bandwidth.rate)
	m.reg.MustRegister(m.taskSeconds, m.taskOutcomes, m.transferred, m.tickSeconds, bandwidth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{n: n})
	return m
}

// Registry is the node's Prometheus registry: every mesh_ metric of this
// node, plus Go's and the process's.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.reg }

// TaskCounts is the scheduler's last count of tasks by state, refreshed
// every few hundred milliseconds while this node leads; nil otherwise.
func (n *Node) TaskCounts() *TaskCounts { return n.metrics.tasks.Load() }

// Health returns nil when the node is healthy: it runs, Raft knows a
// leader, and the mesh's membership records this node alive. Otherwise the
// error says, in one line, why not.
func (n *Node) Health() error {
	if n.ctx.Err() != nil {
		return errors.New("node is shutting down")
	}
	if _, ok := n.raft.Leader(); !ok {
		return errors.New("no Raft leader known: an election is under way or a majority of voters is unreachable")
	}
	mem, ok := n.raft.Membership().Members[n.self]
	switch {
	case !ok:
		return fmt.Errorf("node %s is not a member of the mesh (yet)", n.self)
	case mem.State != consensus.Alive:
		return fmt.Errorf("node %s is %s in the mesh's membership", n.self, mem.State)
	}
	return nil
}

// observeTask records a task this worker ran: its outcome and, when its
// function was called, the call's run time.
func (m *Metrics) observeTask(fn string, f *finishedTask) {
	called := len(f.result.Missing) == 0
	switch {
	case f.result.Failure != nil:
		m.taskOutcomes.WithLabelValues("error").Inc()
		called = f.result.Failure.Kind != FailUnknown
	case !called:
		m.taskOutcomes.WithLabelValues("missing").Inc()
	default:
		m.taskOutcomes.WithLabelValues("ok").Inc()
	}
	if called {
		m.taskSeconds.WithLabelValues(fn).Observe(float64(f.result.Micros) / 1e6)
	}
}

func (m *Metrics) transfer(kind string, bytes int) {
	if bytes > 0 {
		m.transferred.WithLabelValues(kind).Add(float64(bytes))
	}
}

func valueBytes(values [][]byte) int {
	total := 0
	for _, v := range values {
		total += len(v)
	}
	return total
}

// countTasks is the scheduler's hook on its tick: it counts the graph's
// tasks by state, no more often than every 500 ms nor than 50 times the
// count's own cost (a million tasks take ~10 ms), so that the count costs
// the leader at most 2% of a core.
func (s *scheduler) countTasks(now time.Time) {
	last := s.n.metrics.tasks.Load()
	if last != nil && last.Term == s.term && now.Sub(last.At) < max(500*time.Millisecond, 50*s.countCost) {
		return
	}
	var counts [tsReleased + 1]int
	groups := make([][tsReleased + 1]int, len(s.g.groups.names))
	for _, t := range s.g.tasks {
		counts[t.state]++
		groups[t.group][t.state]++
	}
	c := &TaskCounts{Term: s.term, At: now, States: make(map[string]int, len(counts)), Groups: s.g.groups.counted(groups)}
	for st, k := range counts {
		c.States[taskState(st).String()] = k
	}
	s.countCost = time.Since(now)
	s.n.metrics.tasks.Store(c)
}

// forgetTaskCounts drops the scheduler's counts when it stops.
func (s *scheduler) forgetTaskCounts() {
	if c := s.n.metrics.tasks.Load(); c != nil && c.Term == s.term {
		s.n.metrics.tasks.CompareAndSwap(c, nil)
	}
}

// nodeCollector reads the node's state when the registry is scraped.
type nodeCollector struct{ n *Node }

var (
	descTasks        = prometheus.NewDesc("mesh_scheduler_tasks", "Tasks in the leader's graph by state (only the leader exports it).", []string{"state"}, nil)
	descMembers      = prometheus.NewDesc("mesh_members", "Members of the mesh by replicated state, as this node knows them.", []string{"state"}, nil)
	descIsLeader     = prometheus.NewDesc("mesh_raft_is_leader", "1 if this node is the Raft leader, else 0.", nil, nil)
	descHasLeader    = prometheus.NewDesc("mesh_raft_has_leader", "1 if this node knows a Raft leader, else 0.", nil, nil)
	descTerm         = prometheus.NewDesc("mesh_raft_term", "Current Raft term.", nil, nil)
	descCommit       = prometheus.NewDesc("mesh_raft_commit_index", "Index of the last Raft entry this node knows committed.", nil, nil)
	descStoreBytes   = prometheus.NewDesc("mesh_store_bytes", "Bytes of values this node's store holds, by where: memory or disk (spilled).", []string{"where"}, nil)
	descStoreKeys    = prometheus.NewDesc("mesh_store_keys", "Values this node's store holds.", nil, nil)
	descSpills       = prometheus.NewDesc("mesh_store_spills_total", "Values this node's store wrote to disk past --memory-limit.", nil, nil)
	descUnspills     = prometheus.NewDesc("mesh_store_unspills_total", "Spilled values this node's store read back from disk.", nil, nil)
	descSpillErrors  = prometheus.NewDesc("mesh_store_spill_errors_total", "Spill writes that failed (the values stayed in memory).", nil, nil)
	descThreads      = prometheus.NewDesc("mesh_worker_threads", "Tasks this worker runs at once (--threads).", nil, nil)
	descRunning      = prometheus.NewDesc("mesh_worker_running_tasks", "Tasks this worker is running now.", nil, nil)
	descAssigned     = prometheus.NewDesc("mesh_worker_assigned_tasks", "Tasks given to this worker and not yet reported (running or waiting for a thread).", nil, nil)
	memberStateNames = []consensus.MemberState{consensus.Alive, consensus.Dead, consensus.Left}
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTasks, descMembers, descIsLeader, descHasLeader, descTerm, descCommit,
		descStoreBytes, descStoreKeys, descSpills, descUnspills, descSpillErrors, descThreads, descRunning, descAssigned} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if tc := n.metrics.tasks.Load(); tc != nil && n.raft.IsLeader() {
		for st, k := range tc.States {
			gauge(descTasks, float64(k), st)
		}
	}
	byState := map[consensus.MemberState]int{}
	for _, m := range n.raft.Membership().Members {
		byState[m.State]++
	}
	for _, st := range memberStateNames {
		gauge(descMembers, float64(byState[st]), string(st))
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	_, hasLeader := n.raft.Leader()
	gauge(descIsLeader, b2f(n.raft.IsLeader()))
	gauge(descHasLeader, b2f(hasLeader))
	gauge(descTerm, float64(n.raft.Term()))
	gauge(descCommit, float64(n.raft.CommitIndex()))
	st := n.store.Stats()
	gauge(descStoreBytes, float64(st.MemoryBytes), "memory")
	gauge(descStoreBytes, float64(st.SpilledBytes), "disk")
	gauge(descStoreKeys, float64(st.Keys))
	counter(descSpills, float64(st.Spills))
	counter(descUnspills, float64(st.Unspills))
	counter(descSpillErrors, float64(st.SpillErrors))
	gauge(descThreads, float64(n.cfg.Threads))
	gauge(descRunning, float64(n.metrics.running.Load()))
	gauge(descAssigned, float64(n.assignedCount()))
}

func (n *Node) assignedCount() int {
	n.assignedMu.Lock()
	defer n.assignedMu.Unlock()
	return len(n.assigned)
}

// workerLoad is what a node reports of itself in Pong and status.
func (n *Node) workerLoad() (threads, running, assigned int, memBytes, diskBytes int64) {
	st := n.store.Stats()
	return n.cfg.Threads, int(n.metrics.running.Load()), n.assignedCount(), st.MemoryBytes, st.SpilledBytes
}
