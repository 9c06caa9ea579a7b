package futures

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
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

// Encoded is a task result that is already one msgpack value (built with
// its header in place), stored as is.
type Encoded = funcs.Encoded

// RawValue is a parameter that receives the argument's whole msgpack
// encoding (any type) without a copy, to pass a value on undecoded; it
// aliases the stored value and must not be modified.
type RawValue = funcs.RawValue

// ErrClosed: the client was closed.
var ErrClosed = errors.New("futures: client closed")

// ErrReleased: a task was given a future that was released (Release,
// Cancel): the mesh may have forgotten its value. Keep a future while
// tasks are submitted that read it.
var ErrReleased = errors.New("the future was released; keep it until the tasks that read it are submitted")

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
	// inproc: the nodes running in this process (a LocalCluster's client
	// reads their values without the network).
	inproc *actors.InProcess
	// progress: Compute draws a bar of the graph's tasks (WithProgress).
	progress []ProgressOption
	progOn   bool
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
	// progress, progressOn: Compute's bar (WithProgress, MESH_PROGRESS).
	progress   []ProgressOption
	progressOn bool
	// inproc: nodes in this process whose stores fetch reads directly
	// (nil: every fetch goes over the network).
	inproc *actors.InProcess

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
	data   map[string]actors.DataItem // what it scattered
	leader peer.ID
	term   uint64
	// scatterNext rotates the node that takes scattered values.
	scatterNext int
	// unregisteredScatter (tests only) skips telling the scheduler of
	// scattered values, as when a leader acknowledged the registration
	// and died before replicating it.
	unregisteredScatter bool
	// dropSubmissions (tests only): the next n submissions are not sent,
	// as when a leader took them and died before replicating them.
	dropSubmissions int
	// owedKeys: tasks the scheduler refused for an unknown input, to give
	// it again with their lineage (watchLeader); unknownInput counts the
	// times per key.
	owedKeys     []string
	unknownInput map[string]int
	members      []actors.MemberStatus
	closed       bool

	// addrs: every member's addresses as last given to the peerstore, by
	// peer ID (the members' addresses change when they restart on another
	// port: watchMembers keeps them fresh). names: their names, for logs.
	addrs map[string][]string
	names map[string]string
	// connectAddr: the address Connect was given.
	connectAddr string
	// refresh asks watchMembers to refresh the members now (a holder the
	// client cannot reach or does not know).
	refresh chan struct{}
	// lastUnreachable: when the client last warned that no member answered.
	lastUnreachable time.Time
}

// state is what the client knows of one key; every Future of that key
// shares it.
type state struct {
	key     string
	done    chan struct{}
	status  string // "" while pending, then memory, erred or cancelled
	holders []string
	size    int64 // the value's size as its holder reported it (0: unknown)
	failure *actors.TaskFailure
	refs    int
	value   []byte // the encoded value, when it came inline with the update
	// watchers are told when the key finishes (AsCompleted), each once.
	watchers []chan<- *state
	// What a new leader may need to compute it again (resubmit): its own
	// spec (a task) or its registration (scattered data); deps, the
	// futures its task read when it was submitted — kept after they are
	// released, as their lineage (a leader may die before replicating a
	// submission, and the client is then the only one that knows it);
	// lineage, the specs of the graph it was computed in that the client
	// does not hold (Compute).
	spec    *consensus.TaskSpec
	data    *actors.DataItem
	deps    []*state
	lineage map[string]consensus.TaskSpec
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
	c := &Client{conn: conn, log: log, inproc: o.inproc, progress: o.progress, progressOn: progressWanted(o.progOn), states: map[string]*state{}, unknownInput: map[string]int{}, data: map[string]actors.DataItem{},
		addrs: map[string][]string{}, names: map[string]string{}, connectAddr: addr}
	c.bg, c.stop = context.WithCancel(context.Background())
	c.inflight = semaphore.NewWeighted(maxInflightTasks)
	c.kick = make(chan struct{}, 1)
	c.refresh = make(chan struct{}, 1)
	if err := conn.OnTaskUpdates(c.apply); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.findLeader(ctx); err != nil {
		c.stop()
		conn.Close()
		return nil, err
	}
	c.wg.Add(3)
	go c.watchLeader()
	go c.watchMembers()
	go c.runSubmitter()
	return c, nil
}

// findLeader asks the members, starting with the one connected to, who
// leads, and learns every member's addresses. It retries with backoff until
// ctx ends, warning (at most every unreachableWarnEvery) what it tried when
// no member has answered for a while.
func (c *Client) findLeader(ctx context.Context) (peer.ID, error) {
	start := time.Now()
	backoff := 50 * time.Millisecond
	for {
		var tried []string
		for _, p := range c.candidates("") {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := c.conn.StatusFrom(sctx, p)
			cancel()
			if err == nil {
				// Even a member that cannot reach the leader knows the
				// others' addresses.
				c.learnMembers(st)
				if leader, derr := peer.Decode(st.Leader); st.Leader != "" && !st.Stale && derr == nil {
					c.mu.Lock()
					c.leader, c.term = leader, st.Term
					c.mu.Unlock()
					return leader, nil
				}
				err = errors.New("answers, but knows no leader at the moment")
			}
			tried = append(tried, c.describe(p, err))
			if ctx.Err() != nil {
				break
			}
		}
		if time.Since(start) > 2*time.Second {
			c.warnUnreachable("cannot find the mesh's leader; retrying", tried)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("find the mesh's leader: %w; tried:\n  %s", ctx.Err(), strings.Join(tried, "\n  "))
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// candidates lists the members to ask about the mesh: first (if any), the
// node connected to, the members last seen alive, then those last seen
// suspect or dead (they may be back); not those that left.
func (c *Client) candidates(first peer.ID) []peer.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []peer.ID
	seen := map[peer.ID]bool{}
	add := func(p peer.ID) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add(first)
	add(c.conn.Peer())
	for _, alive := range []bool{true, false} {
		for _, m := range c.members {
			if (m.State == "alive") != alive || m.State == "left" {
				continue
			}
			if p, err := peer.Decode(m.ID); err == nil {
				add(p)
			}
		}
	}
	return out
}

// describe names a member and the addresses the client knows for it, with
// what asking it gave.
func (c *Client) describe(p peer.ID, err error) string {
	c.mu.Lock()
	name, addrs := c.names[p.String()], c.addrs[p.String()]
	if len(addrs) == 0 && p == c.conn.Peer() {
		addrs = []string{c.connectAddr}
	}
	c.mu.Unlock()
	if name == "" {
		name = p.ShortString()
	} else {
		name += " (" + p.ShortString() + ")"
	}
	return fmt.Sprintf("%s at %v: %v", name, addrs, err)
}

// warnUnreachable logs, at most every unreachableWarnEvery, that no member
// gave what the client needs, with every member it tried.
func (c *Client) warnUnreachable(msg string, tried []string) {
	c.mu.Lock()
	due := time.Since(c.lastUnreachable) >= unreachableWarnEvery
	if due {
		c.lastUnreachable = time.Now()
	}
	c.mu.Unlock()
	if due {
		c.log.Warn(msg+" (the members' addresses may all be stale: a node restarted on another port is found through a member that knows it)",
			"tried", strings.Join(tried, "; "))
	}
}

// unreachableWarnEvery spaces the client's warnings that it cannot reach
// the mesh.
const unreachableWarnEvery = 10 * time.Second

// learnMembers records the members' addresses a status shows (in the
// peerstore too, where the client dials them) and, from the leader's
// status, the members themselves. A member that restarted on another port
// is reachable again once its new address is known.
func (c *Client) learnMembers(st *actors.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range st.Members {
		if m.Name != "" {
			c.names[m.ID] = m.Name
		}
		old, known := c.addrs[m.ID]
		if len(m.Addrs) == 0 || slices.Equal(old, m.Addrs) {
			continue
		}
		c.addrs[m.ID] = slices.Clone(m.Addrs)
		c.addMember(m)
		if known {
			c.log.Info("member's address changed", "member", m.Name, "id", m.ID, "addrs", m.Addrs, "was", old)
		}
	}
	if st.Leader != "" && !st.Stale && st.AnsweredBy == st.Leader {
		c.members = st.Members
		return
	}
	// Another member's view: it adds members, it does not remove any.
	for _, m := range st.Members {
		i := slices.IndexFunc(c.members, func(k actors.MemberStatus) bool { return k.ID == m.ID })
		if i < 0 {
			c.members = append(c.members, m)
		} else if len(m.Addrs) > 0 {
			c.members[i].Addrs = m.Addrs
		}
	}
}

// watchMembers keeps the members' addresses fresh while all is well: every
// membersEvery, or at once when asked (refreshMembers), it asks the leader
// (or, if it does not answer, any member) for the status.
func (c *Client) watchMembers() {
	defer c.wg.Done()
	t := time.NewTicker(membersEvery)
	defer t.Stop()
	for {
		select {
		case <-c.bg.Done():
			return
		case <-t.C:
		case <-c.refresh:
		}
		ctx, cancel := context.WithTimeout(c.bg, 5*time.Second)
		c.refreshMembers(ctx)
		cancel()
		// Asked again at once (a burst of failed fetches): not more often
		// than this.
		select {
		case <-c.bg.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// membersEvery: how often the client refreshes the members' addresses. A
// node restarted on another port is reachable again once the client knows
// its new address; the client must learn it before every node it knows has
// moved, or it cannot find the mesh any more.
const membersEvery = 2 * time.Second

// refreshNow asks watchMembers for a refresh now.
func (c *Client) refreshNow() {
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// refreshMembers asks the leader, or else any member, for its view of the
// members (a local answer, not forwarded) and learns their addresses.
func (c *Client) refreshMembers(ctx context.Context) error {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	var tried []string
	for _, p := range c.candidates(leader) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := c.conn.Request(sctx, p, actors.MembershipID, &actors.StatusRequest{Local: true})
		cancel()
		if st, ok := r.(*actors.Status); err == nil && ok {
			c.learnMembers(st)
			return nil
		}
		if err == nil {
			err = fmt.Errorf("unexpected reply %T", r)
		}
		tried = append(tried, c.describe(p, err))
		if ctx.Err() != nil {
			break
		}
	}
	c.warnUnreachable("no member of the mesh answers; retrying", tried)
	return fmt.Errorf("no member answers; tried: %s", strings.Join(tried, "; "))
}

// watchLeader notices a change of leader while futures are pending and
// gives the new scheduler everything this client still waits for: the
// specs of its pending tasks and their lineage (submissions the old leader
// had not replicated yet are not lost), and its scattered values. A client
// the scheduler gave up (silent past its client timeout) asks again for
// every future it holds.
func (c *Client) watchLeader() {
	defer c.wg.Done()
	var (
		lastPending  int
		stalledSince time.Time
		lastBeat     time.Time
		// heard: when the scheduler last answered this client.
		heard = time.Now()
		// owed: every held future must be sent to the scheduler again,
		// until it takes them.
		owed bool
	)
	c.mu.Lock()
	known, knownTerm := c.leader, c.term
	c.mu.Unlock()
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
		if held == 0 {
			heard = time.Now() // nothing to lose
		}
		if leader != known || term != knownTerm {
			// A new leader (found here, or by a submission or a release
			// that met the old one gone).
			if silent := time.Since(heard); silent > mayBeExpiredAfter {
				// The old leader may have released this client's keys
				// and cannot say so any more: want everything again.
				c.log.Warn("leader changed while this client was out of touch with the mesh; asking the new leader again for every future",
					"leader", leader, "term", term, "silent", silent.Round(time.Millisecond), "futures", held)
				owed = true
			} else if held > 0 {
				// Every held future, finished ones too: the old leader may
				// have run a task whose submission it never replicated, and
				// its successor would drop the value as unknown.
				c.log.Info("leader changed; giving the new leader every future again", "leader", leader, "pending", len(pending), "futures", held)
				owed = true
			}
			known, knownTerm = leader, term
		}
		c.mu.Lock()
		again := c.owedKeys
		c.owedKeys = nil
		c.mu.Unlock()
		if len(again) > 0 && !owed {
			c.log.Info("the scheduler did not know inputs of tasks; giving them again with their lineage", "tasks", len(again))
			if err := c.resubmit(again); err != nil {
				c.log.Warn("could not give the scheduler tasks again; retrying", "tasks", len(again), "err", err)
				c.mu.Lock()
				c.owedKeys = append(c.owedKeys, again...)
				c.mu.Unlock()
			}
			continue
		}
		if owed {
			keys := c.heldKeys()
			if err := c.resubmit(keys); err != nil {
				c.log.Warn("could not give the scheduler this client's futures again; retrying", "futures", len(keys), "err", err)
				continue
			}
			owed, heard, stalledSince = false, time.Now(), time.Now()
			continue
		}
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
			if err := c.resubmit(pending); err != nil {
				c.log.Warn("resubmit", "err", err)
			}
			stalledSince = time.Now()
			continue
		}
		ctx, cancel := context.WithTimeout(c.bg, 3*time.Second)
		r, err := c.conn.Request(ctx, leader, actors.SchedulerID, &actors.SchedulerInfoRequest{})
		cancel()
		lastBeat = time.Now()
		if info, ok := r.(*actors.SchedulerInfo); err == nil && ok && info.Term == term {
			heard = time.Now()
			if info.Expired {
				// The scheduler did not hear from this client for its
				// client timeout and released everything: want it all
				// again (finished values are recomputed if dropped).
				c.log.Warn("the scheduler had given this client up (silent past its client timeout); asking again for every future", "futures", held)
				owed = true
			}
			continue
		}
		fctx, fcancel := context.WithTimeout(c.bg, 30*time.Second)
		_, err = c.findLeader(fctx)
		fcancel()
		if err != nil && c.bg.Err() == nil {
			c.log.Warn("lost the mesh's leader; still trying", "err", err)
		}
		// A new leader or term is handled at the next tick; the same
		// leader in the same term was only busy: resubmitting everything
		// to a busy scheduler would only bury it deeper.
	}
}

// heldKeys lists every key the client holds a future of.
func (c *Client) heldKeys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := make([]string, 0, len(c.states))
	for k := range c.states {
		all = append(all, k)
	}
	return all
}

// heartbeatEvery: an idle client holding futures tells the scheduler it is
// alive this often (the leader's --client-timeout is 30 s by default).
const heartbeatEvery = 2 * time.Second

// mayBeExpiredAfter: a client that found a new leader after this long
// without an answer from any scheduler asks it again for every future, not
// only the pending ones: the old leader may have released its keys (if its
// --client-timeout was shorter) and cannot tell it so.
const mayBeExpiredAfter = 5 * time.Second

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

// resubmit sends the keys' tasks, with every input this client submitted,
// inputs first.
func (c *Client) resubmit(keys []string) error {
	specs, data, want := c.resubmission(keys)
	// Inputs first, in chunks; the wanted keys ride with the last chunk.
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	for len(specs) > 0 || len(data) > 0 {
		n := min(len(specs), submitChunk)
		msg := &actors.SubmitTasks{Client: c.conn.ID(), Tasks: specs[:n], Data: data, More: n < len(specs)}
		specs, data = specs[n:], nil
		if len(specs) == 0 {
			msg.Want = want
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
			return fmt.Errorf("resubmit %d futures: %w", len(keys), err)
		}
	}
	return nil
}

// resubmission lists what a new leader needs for keys: their tasks with
// every input this client submitted or scattered, inputs first, and the
// keys among them this client holds futures of (to want).
func (c *Client) resubmission(keys []string) (specs []consensus.TaskSpec, data []actors.DataItem, want []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	lineage := map[string]consensus.TaskSpec{}
	for _, k := range keys {
		if st := c.states[k]; st != nil {
			for lk, ls := range st.lineage {
				lineage[lk] = ls
			}
		}
	}
	// Inputs before the tasks that read them: released inputs are reached
	// through deps, a Compute's inner tasks through lineage.
	var visitKey func(k string)
	var visitState func(st *state)
	visitState = func(st *state) {
		if seen[st.key] {
			return
		}
		seen[st.key] = true
		if c.states[st.key] == st {
			want = append(want, st.key)
		}
		if st.data != nil {
			data = append(data, *st.data)
			return
		}
		for _, d := range st.deps {
			visitState(d)
		}
		if st.spec != nil {
			for _, dk := range st.spec.Deps() {
				visitKey(dk)
			}
			specs = append(specs, *st.spec)
		}
	}
	visitKey = func(k string) {
		if seen[k] {
			return
		}
		if st := c.states[k]; st != nil {
			visitState(st)
			return
		}
		spec, ok := lineage[k]
		if !ok {
			return
		}
		seen[k] = true
		for _, dk := range spec.Deps() {
			visitKey(dk)
		}
		specs = append(specs, spec)
	}
	for _, k := range keys {
		visitKey(k)
	}
	return specs, data, want
}

// addMember gives a member's addresses to the peerstore. Caller holds c.mu.
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
	unknown := false
	for _, u := range updates {
		st := c.states[u.Key]
		if st == nil {
			continue
		}
		for _, h := range u.Holders {
			if _, ok := c.addrs[h]; !ok {
				unknown = true // a member that joined since the last refresh
			}
		}
		if st.status == "" {
			st.status, st.holders, st.failure, st.value, st.size = u.State, u.Holders, u.Failure, u.Inline, u.Size
			finishLocked(st)
			continue
		}
		if st.status == actors.StateMemory {
			// A finished value that lost its copies was computed again
			// (new holders), or, scattered, is gone for good (erred).
			switch u.State {
			case actors.StateMemory:
				st.holders, st.size = u.Holders, u.Size
			case actors.StateErred:
				st.status, st.holders, st.failure, st.value = u.State, nil, u.Failure, nil
			}
		}
	}
	if unknown {
		c.refreshNow()
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

// Explain asks the leader's scheduler how it sees keys: state, the worker
// running each, holders, the inputs it still waits on, the clients that
// want it. It is for finding out why a future does not finish.
func (c *Client) Explain(ctx context.Context, keys ...string) (*actors.Explain, error) {
	r, err := c.toScheduler(ctx, &actors.ExplainRequest{Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("explain %d keys: %w", len(keys), err)
	}
	ex, ok := r.(*actors.Explain)
	if !ok {
		return nil, fmt.Errorf("explain: unexpected reply %T", r)
	}
	return ex, nil
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
