package futures

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/semaphore"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/consensus"
	"github.com/meshcompute/mesh/mesh"
)

// Register makes fn callable by name on every node whose binary registered
// it. fn is func([context.Context,] A1, A2, ...) (R[, error]); a bad
// signature panics at once with a message saying why.
func Register(name string, fn any) { funcs.Register(name, fn) }

// RawBytes is a byte slice that a task function takes or returns without a
// copy (for large opaque values such as Arrow IPC data): a RawBytes
// parameter aliases the stored value, so the function must not modify it.
// On the wire it is the same as []byte.
type RawBytes = funcs.RawBytes

// ErrClosed: the client was closed.
var ErrClosed = errors.New("futures: client closed")

// Option configures Connect and NewLocalCluster.
type Option func(*options)

type options struct {
	secretFile  string
	secret      mesh.Secret
	logger      *slog.Logger
	threads     int
	replicas    int
	memoryLimit int64
	resources   map[string]float64
	clientTTL   time.Duration
}

// WithSecretFile names the mesh's secret file (a copy of the first node's
// <data-dir>/secret).
func WithSecretFile(path string) Option { return func(o *options) { o.secretFile = path } }

// WithSecret passes the mesh's secret itself.
func WithSecret(s mesh.Secret) Option { return func(o *options) { o.secret = s } }

// WithLogger sends the client's (or the local cluster's) logs to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithThreads sets how many tasks each node of a LocalCluster runs at once
// (default: the machine's cores divided among the nodes, at least 1).
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithReplicas sets how many nodes of a LocalCluster hold each result
// (default 2).
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// WithMemoryLimit bounds each LocalCluster node's result store (bytes);
// past it, values spill to disk.
func WithMemoryLimit(bytes int64) Option { return func(o *options) { o.memoryLimit = bytes } }

// WithResources makes every node of a LocalCluster offer these resources
// (e.g. {"GPU": 1}) to tasks that ask for them with futures.Resources.
func WithResources(r map[string]float64) Option { return func(o *options) { o.resources = r } }

// WithClientTimeout (LocalCluster) sets how long the leader waits without
// hearing from a client before it releases the client's keys (default
// 30 s; clients send a heartbeat every 2 s).
func WithClientTimeout(d time.Duration) Option { return func(o *options) { o.clientTTL = d } }

// Client is a connection to a mesh.
type Client struct {
	conn *actors.Client
	log  *slog.Logger

	bg       context.Context // ends at Close: background waits stop
	stop     context.CancelFunc
	wg       sync.WaitGroup
	inflight *semaphore.Weighted // tasks awaiting the scheduler's answer

	// The submission queue: Submit and Map add to it, a goroutine sends.
	sendMu sync.Mutex // orders what goes to the scheduler
	qmu    sync.Mutex
	qspecs []consensus.TaskSpec
	qwant  []bool // qwant[i]: the client holds a future of qspecs[i]
	kick   chan struct{}

	mu     sync.Mutex
	states map[string]*state
	specs  map[string]consensus.TaskSpec // what this client submitted, by key, until released
	data   map[string]actors.DataItem    // what it scattered
	leader peer.ID
	term   uint64
	// scatterNext rotates the node that takes scattered values.
	scatterNext int
	members     []actors.MemberStatus
	closed      bool
}

// state is what the client knows of one key; every Future of that key
// shares it.
type state struct {
	key     string
	done    chan struct{}
	status  string // "" while pending, then memory, erred or cancelled
	holders []string
	failure *actors.TaskFailure
	refs    int
	value   []byte // the encoded value, when it came inline with the update
	// watchers are told when the key finishes (AsCompleted), each once.
	watchers []chan<- *state
}

// finishLocked marks st finished and tells its watchers. Caller holds c.mu.
func finishLocked(st *state) {
	close(st.done)
	for _, w := range st.watchers {
		w <- st // buffered for every key it watches: never blocks
	}
	st.watchers = nil
}

// Connect connects to a mesh through any node's multiaddr.
func Connect(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	secret := o.secret
	if secret == nil {
		if o.secretFile == "" {
			return nil, fmt.Errorf("futures.Connect: the mesh's secret is required: pass futures.WithSecretFile(<copy of the first node's <data-dir>/secret>)")
		}
		var err error
		if secret, err = mesh.ReadSecretFile(o.secretFile); err != nil {
			return nil, err
		}
	}
	info, err := mesh.ParsePeerAddr(addr)
	if err != nil {
		return nil, err
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := actors.Dial(ctx, secret, []peer.AddrInfo{info}, log)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, log: log, states: map[string]*state{}, specs: map[string]consensus.TaskSpec{}, data: map[string]actors.DataItem{}}
	c.bg, c.stop = context.WithCancel(context.Background())
	c.inflight = semaphore.NewWeighted(maxInflightTasks)
	c.kick = make(chan struct{}, 1)
	if err := conn.OnTaskUpdates(c.apply); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.findLeader(ctx); err != nil {
		c.stop()
		conn.Close()
		return nil, err
	}
	c.wg.Add(2)
	go c.watchLeader()
	go c.runSubmitter()
	return c, nil
}

// findLeader asks the members, starting with the one connected to, who
// leads, and learns every member's addresses. It retries until ctx ends.
func (c *Client) findLeader(ctx context.Context) (peer.ID, error) {
	var last error
	for {
		c.mu.Lock()
		ask := []peer.ID{c.conn.Peer()}
		for _, m := range c.members {
			if p, err := peer.Decode(m.ID); err == nil && p != ask[0] && m.State != "dead" && m.State != "left" {
				ask = append(ask, p)
			}
		}
		c.mu.Unlock()
		for _, p := range ask {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := c.conn.StatusFrom(sctx, p)
			cancel()
			if err == nil && st.Leader != "" && !st.Stale {
				for _, m := range st.Members {
					c.addMember(m)
				}
				leader, err := peer.Decode(st.Leader)
				if err == nil {
					c.mu.Lock()
					c.leader, c.term, c.members = leader, st.Term, st.Members
					c.mu.Unlock()
					return leader, nil
				}
			}
			if err == nil {
				err = errors.New("the mesh has no leader at the moment")
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("find the mesh's leader: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// watchLeader notices a change of leader while futures are pending and
// gives the new scheduler everything this client still waits for: the
// specs of its pending tasks and their lineage (submissions the old leader
// had not replicated yet are not lost), and its scattered values.
func (c *Client) watchLeader() {
	defer c.wg.Done()
	var (
		lastPending  int
		stalledSince time.Time
		lastBeat     time.Time
	)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.bg.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		leader, term, pending, held := c.leader, c.term, c.pendingLocked(), len(c.states)
		c.mu.Unlock()
		if len(pending) == 0 {
			stalledSince = time.Time{}
			// Idle, but holding futures: the scheduler still hears from
			// this client (its heartbeat), or it releases them.
			if held == 0 || time.Since(lastBeat) < heartbeatEvery {
				continue
			}
		}
		// Updates are best effort: if nothing has finished for a while,
		// ask again for everything still pending (keys already done are
		// answered at once; lost submissions are made again).
		if len(pending) != lastPending {
			lastPending, stalledSince = len(pending), time.Now()
		} else if len(pending) > 0 && time.Since(stalledSince) > stallAfter {
			c.log.Info("no progress; asking the scheduler again for pending work", "pending", len(pending))
			c.resubmit(pending)
			stalledSince = time.Now()
			continue
		}
		ctx, cancel := context.WithTimeout(c.bg, 3*time.Second)
		r, err := c.conn.Request(ctx, leader, actors.SchedulerID, &actors.SchedulerInfoRequest{})
		cancel()
		lastBeat = time.Now()
		if info, ok := r.(*actors.SchedulerInfo); err == nil && ok && info.Term == term {
			if info.Expired {
				// The scheduler did not hear from this client for its
				// client timeout and released everything: want it all
				// again (finished values are recomputed if dropped).
				c.mu.Lock()
				all := make([]string, 0, len(c.states))
				for k := range c.states {
					all = append(all, k)
				}
				c.mu.Unlock()
				c.log.Warn("the scheduler had given this client up (silent past its client timeout); asking again for every future", "futures", len(all))
				c.resubmit(all)
			}
			continue
		}
		fctx, fcancel := context.WithTimeout(c.bg, 30*time.Second)
		newLeader, err := c.findLeader(fctx)
		fcancel()
		if err != nil {
			c.log.Warn("lost the mesh's leader", "err", err)
			continue
		}
		c.mu.Lock()
		newTerm := c.term
		c.mu.Unlock()
		if newLeader == leader && newTerm == term {
			// Same leader, same term: it was only busy. Resubmitting
			// everything to a busy scheduler would only bury it deeper.
			continue
		}
		c.log.Info("leader changed; resubmitting pending work", "leader", newLeader, "pending", len(pending))
		c.resubmit(pending)
	}
}

// heartbeatEvery: an idle client holding futures tells the scheduler it is
// alive this often (the leader's --client-timeout is 30 s by default).
const heartbeatEvery = 2 * time.Second

// stallAfter: with futures pending and none finishing for this long, the
// client asks the scheduler again for all of them.
const stallAfter = 10 * time.Second

// pendingLocked lists keys with futures not finished. Caller holds c.mu.
func (c *Client) pendingLocked() []string {
	var out []string
	for k, st := range c.states {
		if st.status == "" {
			out = append(out, k)
		}
	}
	return out
}

// resubmit sends the pending keys' tasks, with every input this client
// submitted, inputs first.
func (c *Client) resubmit(keys []string) {
	c.mu.Lock()
	var specs []consensus.TaskSpec
	var data []actors.DataItem
	seen := map[string]bool{}
	var visit func(k string)
	visit = func(k string) {
		if seen[k] {
			return
		}
		seen[k] = true
		if d, ok := c.data[k]; ok {
			data = append(data, d)
			return
		}
		spec, ok := c.specs[k]
		if !ok {
			return
		}
		for _, dk := range spec.Deps() {
			visit(dk)
		}
		specs = append(specs, spec)
	}
	for _, k := range keys {
		visit(k)
	}
	c.mu.Unlock()
	// Inputs first, in chunks; the wanted keys ride with the last chunk.
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	for len(specs) > 0 || len(data) > 0 {
		n := min(len(specs), submitChunk)
		msg := &actors.SubmitTasks{Client: c.conn.ID(), Tasks: specs[:n], Data: data}
		specs, data = specs[n:], nil
		if len(specs) == 0 {
			msg.Want = keys
		}
		c.mu.Lock()
		leader := c.leader
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(c.bg, 30*time.Second)
		call, err := c.conn.Start(leader, actors.SchedulerID, msg)
		if err == nil {
			err = c.awaitSubmit(ctx, call, msg)
		}
		cancel()
		if err != nil {
			c.log.Warn("resubmit", "err", err)
			return
		}
	}
}

func (c *Client) addMember(m actors.MemberStatus) {
	var info peer.AddrInfo
	for _, a := range m.Addrs {
		i, err := mesh.ParsePeerAddr(a)
		if err != nil {
			continue
		}
		info.ID = i.ID
		info.Addrs = append(info.Addrs, i.Addrs...)
	}
	if info.ID != "" {
		c.conn.AddPeer(info)
	}
}

// toScheduler sends a request to the leader's scheduler, finding the
// leader again if it moved.
func (c *Client) toScheduler(ctx context.Context, msg any) (any, error) {
	c.mu.Lock()
	leader, closed := c.leader, c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := c.conn.Request(rctx, leader, actors.SchedulerID, msg)
		cancel()
		if err == nil {
			return reply, nil
		}
		var er *actors.ErrorReply
		retry := errors.Is(err, actors.ErrTimeout) || (errors.As(err, &er) && (er.Code == actors.CodeNoActor || er.Code == actors.CodeUnreachable))
		if !retry || ctx.Err() != nil {
			return nil, err
		}
		if leader, err = c.findLeader(ctx); err != nil {
			return nil, err
		}
	}
}

// apply records task updates from the scheduler.
func (c *Client) apply(updates []actors.TaskUpdate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range updates {
		st := c.states[u.Key]
		if st == nil {
			continue
		}
		if st.status == "" {
			st.status, st.holders, st.failure, st.value = u.State, u.Holders, u.Failure, u.Inline
			finishLocked(st)
			continue
		}
		if st.status == actors.StateMemory {
			// A finished value that lost its copies was computed again
			// (new holders), or, scattered, is gone for good (erred).
			switch u.State {
			case actors.StateMemory:
				st.holders = u.Holders
			case actors.StateErred:
				st.status, st.holders, st.failure, st.value = u.State, nil, u.Failure, nil
			}
		}
	}
}

// Status asks the mesh for its status: leader, Raft term, and members
// with their roles, states and resources.
func (c *Client) Status(ctx context.Context) (*actors.Status, error) {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	st, err := c.conn.StatusFrom(ctx, leader)
	if err != nil {
		return c.conn.Status(ctx)
	}
	return st, nil
}

// Close releases every future of this client and disconnects.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	keys := make([]string, 0, len(c.states))
	for k := range c.states {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	if len(keys) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.flushQueue()
		c.sendMu.Lock()
		_, _ = c.toScheduler(ctx, &actors.ReleaseKeys{Client: c.conn.ID(), Keys: keys})
		c.sendMu.Unlock()
		cancel()
	}
	c.stop()
	c.wg.Wait()
	c.mu.Lock()
	c.closed = true
	for _, st := range c.states {
		if st.status == "" {
			st.status = actors.StateCancelled
			st.failure = &actors.TaskFailure{Kind: actors.FailCancelled, Message: st.key + ": client closed"}
			finishLocked(st)
		}
	}
	c.mu.Unlock()
	return c.conn.Close()
}

// TaskError is the error of a future whose task failed.
type TaskError struct {
	Key     string
	Kind    string // error, panic, args, unknown-func, dependency, killed-workers, lost, cancelled
	Message string
	Stack   string // the remote stack, for panics
	Worker  string
}

func (e *TaskError) Error() string {
	if e.Stack != "" && e.Kind == actors.FailPanic {
		return e.Message + "\n" + indent(e.Stack)
	}
	return e.Message
}

// Sentinel errors a TaskError matches with errors.Is.
var (
	ErrCancelled    = errors.New("cancelled")
	ErrKilledWorker = errors.New("killed workers")
	ErrLost         = errors.New("value lost")
	ErrUnknownFunc  = funcs.ErrUnknownFunc
	ErrArgs         = funcs.ErrArgs
)

// Is maps the kind to the sentinel errors.
func (e *TaskError) Is(target error) bool {
	switch target {
	case ErrCancelled:
		return e.Kind == actors.FailCancelled
	case ErrKilledWorker:
		return e.Kind == actors.FailKilled
	case ErrLost:
		return e.Kind == actors.FailLost
	case ErrUnknownFunc:
		return e.Kind == actors.FailUnknown
	case ErrArgs:
		return e.Kind == actors.FailArgs
	}
	return false
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func taskError(key string, f *actors.TaskFailure) error {
	if f == nil {
		return &TaskError{Key: key, Kind: actors.FailError, Message: key + ": failed"}
	}
	return &TaskError{Key: key, Kind: f.Kind, Message: f.Message, Stack: f.Stack, Worker: f.Worker}
}
