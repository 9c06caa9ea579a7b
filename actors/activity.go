package actors

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/consensus"
)

// A node's recent activity, for the dashboard: the task stream (one entry
// per task its worker ran) and events (members joining and dying, leader
// changes, task errors), each in a bounded ring. The node that serves a
// dashboard asks every member for theirs (ActivityRequest) and merges them.

// Ring sizes: a node keeps its last streamCap task-stream entries and its
// last eventCap events.
const (
	streamCap = 8192
	eventCap  = 512
)

// StreamEntry is one task a worker ran: when it took it from its queue,
// when its inputs were there and its function was called, when it ended.
// Times are unix microseconds of the worker's clock.
type StreamEntry struct {
	Key   string `msgpack:"k" json:"key"`
	Group string `msgpack:"g" json:"group"`
	// Worker is the node that ran it (filled in by whoever merges the
	// streams of several nodes; empty on the wire).
	Worker string `msgpack:"-" json:"worker"`
	// Thread is the pool slot (0 .. threads-1) that ran it.
	Thread  int   `msgpack:"t" json:"thread"`
	Start   int64 `msgpack:"s" json:"start"`
	Compute int64 `msgpack:"c" json:"compute"`
	Stop    int64 `msgpack:"e" json:"stop"`
	// Outcome: ok, error (the task failed), missing (an input could not
	// be fetched).
	Outcome string `msgpack:"o" json:"outcome"`
	// FetchBytes: input bytes fetched from other nodes (between Start
	// and Compute).
	FetchBytes int64 `msgpack:"b,omitempty" json:"fetch_bytes"`
}

// Event kinds.
const (
	EventJoined    = "joined"     // a member joined (or rejoined after it left)
	EventDead      = "dead"       // the leader marked a member dead
	EventAlive     = "alive"      // a dead member was heard from again
	EventLeft      = "left"       // a member left the mesh
	EventLeader    = "leader"     // a node saw a new Raft leader
	EventTaskError = "task-error" // the scheduler erred a task
)

// Event is one thing that happened in the mesh, as a node recorded it.
type Event struct {
	// Time is unix microseconds: for membership changes the replicated
	// time of the change (the same on every node), otherwise the
	// recording node's clock.
	Time int64  `msgpack:"at" json:"time"`
	Kind string `msgpack:"kind" json:"kind"`
	// Node recorded it; Subject is what it is about (a member's id, the
	// leader's id, a task's key).
	Node    string `msgpack:"node" json:"node"`
	Subject string `msgpack:"subj,omitempty" json:"subject,omitempty"`
	Term    uint64 `msgpack:"term,omitempty" json:"term,omitempty"`
	Message string `msgpack:"msg" json:"message"`
}

// ActivityRequest asks a node for its task-stream entries that stopped
// after StreamSince and its events after EventsSince (unix microseconds),
// at most the limits of each (the latest; 0: none).
type ActivityRequest struct {
	StreamSince int64 `msgpack:"ss"`
	StreamLimit int   `msgpack:"sl"`
	EventsSince int64 `msgpack:"es"`
	EventLimit  int   `msgpack:"el"`
}

// Activity answers an ActivityRequest, oldest first.
type Activity struct {
	Node    string        `msgpack:"node"`
	Now     int64         `msgpack:"now"`
	Threads int           `msgpack:"threads"`
	Stream  []StreamEntry `msgpack:"stream"`
	Events  []Event       `msgpack:"events"`
}

// ring is a bounded buffer that keeps the last len(buf) items added.
type ring[T any] struct {
	mu   sync.Mutex
	buf  []T
	next int // where the next item goes
	full bool
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) add(v T) {
	r.mu.Lock()
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// last returns up to limit of the latest items that keep accepts, oldest
// first, walking back from the newest until stop says so.
func (r *ring[T]) last(limit int, keep, stop func(*T) bool) []T {
	if limit <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	var out []T
	for i := 0; i < n && len(out) < limit; i++ {
		v := &r.buf[(r.next-1-i+len(r.buf))%len(r.buf)]
		if stop != nil && stop(v) {
			break
		}
		if keep == nil || keep(v) {
			out = append(out, *v)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// activity is a node's two rings and what it needs to notice changes.
type activity struct {
	stream *ring[StreamEntry]
	events *ring[Event]

	mu         sync.Mutex
	members    map[string]consensus.MemberState // the last membership seen (onMembership)
	leader     string                           // the last leader seen, and its term
	leaderTerm uint64
}

func newActivity() *activity {
	return &activity{stream: newRing[StreamEntry](streamCap), events: newRing[Event](eventCap), members: map[string]consensus.MemberState{}}
}

func micros(t time.Time) int64 { return t.UnixMicro() }

// event records an event at now.
func (n *Node) event(kind, subject, msg string) {
	n.activity.events.add(Event{Time: micros(time.Now()), Kind: kind, Node: n.self, Subject: subject, Message: msg})
}

// noteMembership records the members whose replicated state changed since
// the last call (run on raft's apply goroutine).
func (n *Node) noteMembership(m consensus.Membership) {
	a := n.activity
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, mem := range m.Sorted() {
		was, known := a.members[mem.ID]
		if known && was == mem.State {
			continue
		}
		a.members[mem.ID] = mem.State
		kind, what := "", ""
		switch {
		case mem.State == consensus.Alive && (!known || was == consensus.Left):
			kind, what = EventJoined, "joined the mesh"
		case mem.State == consensus.Alive:
			kind, what = EventAlive, "is alive again"
		case mem.State == consensus.Dead:
			kind, what = EventDead, "was marked dead (no heartbeat reply)"
		case mem.State == consensus.Left:
			kind, what = EventLeft, "left the mesh"
		default:
			continue
		}
		at := mem.Changed
		if at.IsZero() {
			at = time.Now()
		}
		n.activity.events.add(Event{Time: micros(at), Kind: kind, Node: n.self, Subject: mem.ID,
			Message: fmt.Sprintf("%s (%s) %s", mem.Name, shortID(mem.ID), what)})
	}
}

// noteLeader records a leader this node had not seen lead (in that term).
func (n *Node) noteLeader() {
	l, ok := n.raft.Leader()
	if !ok {
		return
	}
	term := n.raft.Term()
	a := n.activity
	a.mu.Lock()
	changed := l.String() != a.leader || term != a.leaderTerm
	a.leader, a.leaderTerm = l.String(), term
	a.mu.Unlock()
	if !changed {
		return
	}
	name := shortID(l.String())
	if mem, ok := n.raft.Membership().Members[l.String()]; ok {
		name = mem.Name + " (" + name + ")"
	}
	n.activity.events.add(Event{Time: micros(time.Now()), Kind: EventLeader, Node: n.self, Subject: l.String(), Term: term,
		Message: fmt.Sprintf("%s leads in term %d", name, term)})
}

func shortID(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-6:]
	}
	return id
}

// recordTask adds a task the pool ran to the stream: O(1), no allocation.
func (n *Node) recordTask(slot int, start time.Time, f *finishedTask) {
	e := StreamEntry{Key: f.result.Key, Group: KeySplit(f.result.Key), Thread: slot, Start: micros(start), Stop: micros(time.Now()),
		Outcome: "ok", FetchBytes: f.fetched}
	e.Compute = e.Start
	if !f.computeAt.IsZero() {
		e.Compute = micros(f.computeAt)
	}
	switch {
	case f.result.Failure != nil:
		e.Outcome = "error"
	case len(f.result.Missing) > 0:
		e.Outcome = "missing"
	}
	n.activity.stream.add(e)
}

// localActivity answers an ActivityRequest from this node's rings.
func (n *Node) localActivity(req *ActivityRequest) *Activity {
	out := &Activity{Node: n.self, Now: micros(time.Now()), Threads: n.cfg.Threads}
	// Entries go in about in the order they end (pool threads race by
	// microseconds): the walk back stops a second before since.
	out.Stream = n.activity.stream.last(req.StreamLimit,
		func(e *StreamEntry) bool { return e.Stop > req.StreamSince },
		func(e *StreamEntry) bool { return e.Stop < req.StreamSince-1e6 })
	out.Events = n.activity.events.last(req.EventLimit,
		func(e *Event) bool { return e.Time > req.EventsSince },
		nil)
	return out
}

// Activity asks every member that is not dead or gone (this node
// included) for its recent activity, at once, each for at most timeout;
// it returns the answers, and an error for each member that gave none.
func (n *Node) Activity(ctx context.Context, req ActivityRequest, timeout time.Duration) ([]*Activity, []error) {
	var (
		mu   sync.Mutex
		out  []*Activity
		errs []error
		wg   sync.WaitGroup
	)
	for id, mem := range n.raft.Membership().Members {
		if mem.State != consensus.Alive {
			continue
		}
		if id == n.self {
			a := n.localActivity(&req)
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
			continue
		}
		p, err := peer.Decode(id)
		if err != nil {
			continue
		}
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			a, err := replyAs[Activity](n.remote.Request(c, n.remote.PID(p, MembershipID), &req))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("activity of %s (%s): %w", mem.Name, shortID(id), err))
				return
			}
			out = append(out, a)
		})
	}
	wg.Wait()
	return out, errs
}

// cpuMeter measures the process's CPU use, in percent of one core, over
// windows of at least a second.
type cpuMeter struct {
	mu  sync.Mutex
	at  time.Time
	cpu time.Duration
	pct float64
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percent is the CPU use over the last completed window.
func (m *cpuMeter) percent() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if wall := now.Sub(m.at); wall >= time.Second {
		cpu := processCPU()
		if !m.at.IsZero() {
			m.pct = 100 * float64(cpu-m.cpu) / float64(wall)
		}
		m.at, m.cpu = now, cpu
	}
	return m.pct
}
