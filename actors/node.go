package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/actors/store"
	"github.com/meshcompute/mesh/consensus"
	"github.com/meshcompute/mesh/mesh"
)

// Files a node keeps in its data dir besides the identity, secret and raft
// state.
const (
	AddrFile  = "addr"  // the node's full multiaddrs, preferred first
	PeersFile = "peers" // members' addresses, to rejoin after a restart
)

// ErrJoin: the node could not join the mesh through any peer.
var ErrJoin = errors.New("could not join the mesh")

// ErrNoLeader: the mesh has no leader at the moment (an election may be
// under way); retry.
var ErrNoLeader = errors.New("no leader is known yet (an election may be under way): retry")

// NodeConfig configures a node. Zero durations take the defaults.
type NodeConfig struct {
	DataDir string
	Listen  []ma.Multiaddr
	// Peers to join through; empty (with no Raft state in DataDir) starts a
	// new mesh.
	Peers  []peer.AddrInfo
	Secret mesh.Secret
	Name   string
	// Voters is how many voting members a new mesh keeps (default 3).
	Voters int
	// DeadAfter is how long the leader waits without a heartbeat reply
	// before it marks a member dead (default 2 s); half of it makes the
	// member suspect.
	DeadAfter time.Duration
	// Heartbeat is the leader's probe interval (default 250 ms).
	Heartbeat time.Duration
	// ElectionTimeout bounds Raft failover (default 1 s).
	ElectionTimeout time.Duration
	// Threads is how many tasks the node runs at once (default: its cores).
	Threads int
	// Resources this node offers to tasks that ask for them, e.g.
	// {"GPU": 2}; a task needing a resource runs only where it is free.
	Resources map[string]float64
	// Replicas is how many nodes hold each result, in all (default 2).
	Replicas int
	// MemoryLimit bounds the result store's memory in bytes; past it
	// values spill to <DataDir>/spill (0: no limit).
	MemoryLimit int64
	// ClientTimeout: a client not heard from for this long is gone; the
	// leader releases every key it held (default 30 s; clients send a
	// heartbeat every 2 s).
	ClientTimeout time.Duration
	// JoinTimeout bounds the attempts to reach a peer (default 30 s).
	JoinTimeout time.Duration
	Logger      *slog.Logger
	// RaftLog receives raft's own log (nil discards it), at RaftLogLevel
	// ("debug", "info", "warn"; default "error").
	RaftLog      io.Writer
	RaftLogLevel string
	// Chaos, for tests and chaos runs only, gates the node's host (nil: none).
	Chaos *mesh.ChaosGater
	// InProcess, if set, is the set of nodes in this process that this
	// node joins: it reads their values from their stores directly.
	InProcess *InProcess
	// OnLeaveAsked, if set, is called (once per request, on its own
	// goroutine) when someone holding the secret asks this node to leave
	// the mesh and stop (`mesh leave`): the owner of the node does what it
	// does on SIGTERM. Nil: such requests are refused.
	OnLeaveAsked func()
}

func (c *NodeConfig) defaults() {
	if c.Voters <= 0 {
		c.Voters = 3
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = 2 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 250 * time.Millisecond
	}
	if c.Threads <= 0 {
		c.Threads = runtime.NumCPU()
	}
	if c.Replicas <= 0 {
		c.Replicas = 2
	}
	if c.ClientTimeout <= 0 {
		c.ClientTimeout = 30 * time.Second
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Node is a running mesh node: host, Raft and actors.
type Node struct {
	// incarnation is random per process (consensus.Member.Incarnation).
	incarnation uint64

	cfg    NodeConfig
	log    *slog.Logger
	host   *mesh.Host
	sys    *actor.ActorSystem
	remote *Remote
	raft   *consensus.Node
	self   string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	store   *store.Store
	metrics *Metrics
	// bandwidth: the rate this node fetches inputs at (bandwidth.go).
	bandwidth bandwidthMeter
	activity  *activity // the task stream and events, for the dashboard
	cpu       cpuMeter
	// gens: the generation (Assignment.Gen) of held values that have one;
	// a drop of an earlier generation leaves a value alone (putValue,
	// dropValues).
	gensMu sync.Mutex
	gens   map[string]uint64
	taskCh chan Assignment
	doneCh chan finishedTask
	// assigned: tasks given to this worker and not yet reported, true once
	// started; stolen: tasks given up before they started (how many
	// queued copies to skip).
	assignedMu sync.Mutex
	assigned   map[string]bool
	stolen     map[string]int
	// replInFlight: per replica target, copies on their way (replicaSlot).
	replMu       sync.Mutex
	replInFlight map[string]int

	supervisor *actor.PID
	stopped    chan struct{} // closed when the supervisor has stopped

	// Created reports whether this start created a new mesh.
	Created bool

	// configMu serializes the leader's membership changes (admit, remove,
	// applyPlan): each counts the live voters and then adds or promotes one,
	// so two at once would both see room for a voter.
	configMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

// StartNode starts a node and brings it into its mesh: it bootstraps a new
// mesh, joins through cfg.Peers, or (with Raft state in the data dir)
// rejoins the mesh it belonged to. It returns once the node is a member.
func StartNode(ctx context.Context, cfg NodeConfig) (_ *Node, err error) {
	cfg.defaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data dir %s is not a directory: %w", cfg.DataDir, mesh.ErrCorruptDataDir)
	}
	key, err := mesh.LoadOrCreateIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	host, err := mesh.NewHost(mesh.Config{Listen: cfg.Listen, Key: key, Secret: cfg.Secret, Logger: cfg.Logger, Gater: cfg.Chaos})
	if err != nil {
		return nil, err
	}
	n := &Node{incarnation: rand.Uint64() | 1, cfg: cfg, log: cfg.Logger, host: host, self: host.ID().String(), stopped: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.metrics = newMetrics(n)
	n.activity = newActivity()
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	n.store, err = store.Open(store.Config{Dir: filepath.Join(cfg.DataDir, "spill"), MemoryLimit: cfg.MemoryLimit})
	if err != nil {
		return nil, fmt.Errorf("open result store: %w", err)
	}
	n.taskCh = make(chan Assignment, 1<<16)
	n.assigned = map[string]bool{}
	n.stolen = map[string]int{}
	n.doneCh = make(chan finishedTask, 1<<12)
	n.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return cfg.Logger.With("lib", "protoactor")
	}))
	n.remote = NewRemote(n.sys, host, cfg.Logger)
	n.raft, err = consensus.Open(consensus.Config{
		Host: host, DataDir: cfg.DataDir, Logger: cfg.Logger, LogOutput: cfg.RaftLog, LogLevel: cfg.RaftLogLevel,
		HeartbeatTimeout: cfg.ElectionTimeout, ElectionTimeout: cfg.ElectionTimeout,
		OnMembership: n.onMembership,
	})
	if err != nil {
		return nil, err
	}
	n.supervisor, err = n.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newSupervisor(n) }), SupervisorID)
	if err != nil {
		return nil, fmt.Errorf("spawn node supervisor: %w", err)
	}
	n.wg.Add(1)
	go n.forwardLeadership()
	for slot := range cfg.Threads {
		n.spawn(func(ctx context.Context) { n.runPool(ctx, slot) })
	}
	n.spawn(n.runReporter)

	existing, err := n.raft.HasExistingState()
	if err != nil {
		return nil, fmt.Errorf("read raft state: %w", err)
	}
	if n.cfg.Peers, err = n.withoutSelf(ctx, cfg.Peers, !existing); err != nil {
		return nil, err
	}
	switch {
	case !existing && len(n.cfg.Peers) == 0:
		n.Created = true
		if err := n.raft.Bootstrap(ctx, cfg.Voters); err != nil {
			return nil, err
		}
		if err := n.raft.Apply(ctx, consensus.Command{Op: consensus.OpJoin, Member: n.memberRecord()}); err != nil {
			return nil, fmt.Errorf("record first member: %w", err)
		}
	default:
		if err := n.join(ctx, existing); err != nil {
			return nil, err
		}
	}
	if err := n.writeAddrFile(); err != nil {
		return nil, err
	}
	cfg.InProcess.add(n)
	n.log.Info("node started", "id", n.self, "addrs", n.Addrs(), "new_mesh", n.Created)
	return n, nil
}

func (n *Node) memberRecord() *consensus.Member {
	cores, mem, _ := hostResources()
	name := n.cfg.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	var addrs []string
	for _, a := range n.host.Addrs() {
		addrs = append(addrs, a.String())
	}
	return &consensus.Member{ID: n.self, Name: name, Addrs: addrs, Cores: cores, Threads: n.cfg.Threads, Memory: mem, Resources: n.cfg.Resources,
		Incarnation: n.incarnation}
}

// withoutSelf drops the peers that are this node: by peer ID, or for an
// address given without /p2p/<id>, by resolving it to one of this node's
// own addresses. So every member of a StatefulSet (or every node of a Slurm
// job) can be given the first member's address: the first member skips it
// and, with no other peer, creates the mesh (or rejoins it, with state).
//
// When the decision whether to create the mesh hangs on it (wait: no state
// yet) and no other peer is known, it waits (until JoinTimeout) for
// addresses that do not resolve yet (a pod's DNS name appears shortly after
// the pod): creating a mesh on a guess could split it in two.
func (n *Node) withoutSelf(ctx context.Context, peers []peer.AddrInfo, wait bool) ([]peer.AddrInfo, error) {
	var out, pending []peer.AddrInfo
	for _, p := range peers {
		switch {
		case p.ID == n.host.ID():
		case p.ID == "":
			pending = append(pending, p)
		default:
			out = append(out, p)
		}
	}
	if len(pending) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		var unresolved []peer.AddrInfo
		errs := map[string]error{}
		for _, p := range pending {
			own, resolved := false, false
			for _, a := range p.Addrs {
				rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
				is, err := n.host.IsOwnAddr(rctx, a)
				rcancel()
				if err != nil {
					errs[mesh.PeerLabel(p)] = err
					continue
				}
				resolved = true
				own = own || is
			}
			switch {
			case own:
				n.log.Info("skipping a peer address that is this node's own", "addr", mesh.PeerLabel(p))
			case resolved:
				out = append(out, p)
			default:
				unresolved = append(unresolved, p)
			}
		}
		if len(unresolved) == 0 || len(out) > 0 || !wait {
			return append(out, unresolved...), nil
		}
		pending = unresolved
		n.log.Info("waiting for peer addresses to resolve", "peers", len(unresolved))
		select {
		case <-ctx.Done():
			var b strings.Builder
			for addr, e := range errs {
				fmt.Fprintf(&b, "\n  %s: %v", addr, e)
			}
			return nil, fmt.Errorf("%w: no peer address resolved within %v, so whether this node is the first (and creates the mesh) is unknown; check the names (a Kubernetes headless Service needs publishNotReadyAddresses: true):%s", ErrJoin, n.cfg.JoinTimeout, b.String())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// join asks any reachable peer (or, after a restart, the mesh we belonged
// to) to admit this node, retrying with backoff until JoinTimeout.
func (n *Node) join(ctx context.Context, rejoin bool) error {
	peers := slices.Clone(n.cfg.Peers)
	for _, p := range n.readPeersFile() {
		if !slices.ContainsFunc(peers, func(q peer.AddrInfo) bool { return q.ID == p.ID }) {
			peers = append(peers, p)
		}
	}
	peers = slices.DeleteFunc(peers, func(p peer.AddrInfo) bool { return p.ID == n.host.ID() })
	for _, p := range peers {
		if p.ID != "" {
			n.host.AddPeer(p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	req := &JoinRequest{Member: *n.memberRecord()}
	tried := map[string]string{}
	backoff := 100 * time.Millisecond
	for {
		targets := slices.Clone(peers) // peers may shrink below
		if rejoin {
			// Our own membership actor forwards to the leader once one is
			// known: a lone node restarting elects itself.
			targets = append([]peer.AddrInfo{{ID: n.host.ID()}}, peers...)
		}
		for _, p := range targets {
			label := mesh.PeerLabel(p)
			if p.ID != n.host.ID() {
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				// A peer given without its ID gets it here (Identify).
				full, err := n.host.Connect(cctx, []peer.AddrInfo{p})
				ccancel()
				if errors.Is(err, mesh.ErrSelf) {
					// Our own address under a name that did not resolve to
					// it (e.g. behind a Service): skip it from now on.
					peers = slices.DeleteFunc(peers, func(q peer.AddrInfo) bool { return mesh.PeerLabel(q) == label })
					tried[label] = err.Error()
					continue
				}
				if err != nil {
					tried[label] = err.Error()
					if errors.Is(err, mesh.ErrHandshake) && !rejoin {
						// A wrong secret will not fix itself: say so now.
						return fmt.Errorf("%w through %s: %w", ErrJoin, label, err)
					}
					continue
				}
				p = full
			}
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			reply, err := replyAs[JoinReply](n.remote.Request(rctx, n.remote.PID(p.ID, MembershipID), req))
			rcancel()
			if err != nil {
				tried[label] = err.Error()
				continue
			}
			for _, m := range reply.Members {
				n.addMemberAddrs(m)
			}
			n.log.Info("joined mesh", "through", p.ID, "leader", reply.Leader, "voter", reply.Voter)
			return nil
		}
		select {
		case <-ctx.Done():
			var b strings.Builder
			for addr, e := range tried {
				fmt.Fprintf(&b, "\n  %s: %s", addr, e)
			}
			if len(tried) == 0 {
				b.WriteString(" no peer known: pass a peer's address (mesh join <addr>)")
			}
			return fmt.Errorf("%w within %v; tried:%s", ErrJoin, n.cfg.JoinTimeout, b.String())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (n *Node) addMemberAddrs(m *consensus.Member) {
	if m.ID == n.self {
		return
	}
	id, err := peer.Decode(m.ID)
	if err != nil {
		return
	}
	info := peer.AddrInfo{ID: id}
	for _, s := range m.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		t, _ := peer.SplitAddr(a)
		if t != nil {
			info.Addrs = append(info.Addrs, t)
		}
	}
	n.host.AddPeer(info)
}

// onMembership runs on raft's apply goroutine after each change.
func (n *Node) onMembership(m consensus.Membership) {
	n.noteMembership(m)
	var lines []string
	for _, mem := range m.Sorted() {
		n.addMemberAddrs(mem)
		if mem.ID != n.self && mem.State != consensus.Left && len(mem.Addrs) > 0 {
			lines = append(lines, mem.Addrs...)
		}
	}
	if err := mesh.WriteFileAtomic(filepath.Join(n.cfg.DataDir, PeersFile), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		n.log.Warn("save peers file", "err", err)
	}
}

func (n *Node) readPeersFile() []peer.AddrInfo {
	data, err := os.ReadFile(filepath.Join(n.cfg.DataDir, PeersFile))
	if err != nil {
		return nil
	}
	byID := map[peer.ID]*peer.AddrInfo{}
	var order []peer.ID
	for _, line := range strings.Fields(string(data)) {
		info, err := mesh.ParsePeerAddr(line)
		if err != nil {
			continue
		}
		if p, ok := byID[info.ID]; ok {
			p.Addrs = append(p.Addrs, info.Addrs...)
			continue
		}
		byID[info.ID] = &info
		order = append(order, info.ID)
	}
	out := make([]peer.AddrInfo, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out
}

func (n *Node) writeAddrFile() error {
	var lines []string
	for _, a := range n.Addrs() {
		lines = append(lines, a.String())
	}
	return mesh.WriteFileAtomic(filepath.Join(n.cfg.DataDir, AddrFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// forwardLeadership turns raft's leadership notifications into messages to
// the supervisor.
func (n *Node) forwardLeadership() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case leader := <-n.raft.LeaderEvents():
			n.sys.Root.Send(n.supervisor, &leadershipChanged{leader: leader, term: n.raft.Term()})
		}
	}
}

// spawn runs fn on a goroutine the node owns: Close cancels its context and
// waits for it.
func (n *Node) spawn(fn func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn(n.ctx)
	}()
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs are the node's full multiaddrs, preferred first.
func (n *Node) Addrs() []ma.Multiaddr { return n.host.Addrs() }

// Raft exposes the node's consensus layer.
func (n *Node) Raft() *consensus.Node { return n.raft }

// Remote exposes the node's bridge to other nodes' actors.
func (n *Node) Remote() *Remote { return n.remote }

// Status asks the leader (through this node) for the mesh's status.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	return replyAs[Status](n.remote.Request(ctx, n.remote.PID(n.host.ID(), MembershipID), &StatusRequest{}))
}

// Explain asks the leader's scheduler how it sees keys (ExplainRequest).
func (n *Node) Explain(ctx context.Context, keys []string) (*Explain, error) {
	leader, ok := n.raft.Leader()
	if !ok {
		return nil, fmt.Errorf("explain: %w", ErrNoLeader)
	}
	return replyAs[Explain](n.remote.Request(ctx, n.remote.PID(leader, SchedulerID), &ExplainRequest{Keys: keys}))
}

// Graph asks the leader's scheduler for its graph (GraphRequest): every
// task when there are at most limit, a summary by task group otherwise.
func (n *Node) Graph(ctx context.Context, limit int) (*GraphView, error) {
	leader, ok := n.raft.Leader()
	if !ok {
		return nil, fmt.Errorf("graph: %w", ErrNoLeader)
	}
	return replyAs[GraphView](n.remote.Request(ctx, n.remote.PID(leader, SchedulerID), &GraphRequest{Limit: limit}))
}

// Leave removes this node from the mesh at once: a leader first hands its
// leadership to another voter. The node keeps running until Close.
func (n *Node) Leave(ctx context.Context) error {
	m := n.raft.Membership()
	others := 0
	for _, mem := range m.Members {
		if mem.ID != n.self && mem.State == consensus.Alive {
			others++
		}
	}
	if others == 0 {
		return nil // the last member: nobody to tell
	}
	if n.raft.IsLeader() {
		if err := n.raft.TransferLeadership(); err != nil {
			n.log.Warn("leadership transfer before leaving failed", "err", err)
		}
	}
	// The drain may take most of ctx, not all: the leave itself needs a
	// moment.
	dctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, dl.Add(-min(3*time.Second, time.Until(dl)/3)))
		defer cancel()
	}
	n.drain(dctx)
	var lastErr error
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := replyAs[LeaveReply](n.remote.Request(rctx, n.remote.PID(n.host.ID(), MembershipID), &LeaveRequest{ID: n.self}))
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("leave: %w (last error: %v)", ctx.Err(), lastErr)
}

// drain asks the leader's scheduler to retire this node's worker
// (RetireRequest) until nothing runs here and no value is held only here,
// so that leaving recomputes nothing. If ctx ends first the leave goes on,
// and what is left is recomputed or served by replicas as after a death.
func (n *Node) drain(ctx context.Context) {
	start := time.Now()
	var last *RetireReply
	var lastErr error
	for ctx.Err() == nil {
		if leader, ok := n.raft.Leader(); ok {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			r, err := replyAs[RetireReply](n.remote.Request(rctx, n.remote.PID(leader, SchedulerID), &RetireRequest{Worker: n.self}))
			cancel()
			if err == nil && r.Done && r.Nowhere {
				if r.Running > 0 || r.SoleCopies > 0 {
					n.log.Warn("every node of the mesh is leaving: nothing to drain to; running tasks and values held only here go with it",
						"running", r.Running, "sole_copies", r.SoleCopies)
				} else {
					n.log.Info("every node of the mesh is leaving: nothing to drain")
				}
				return
			}
			if err == nil && r.Done {
				n.log.Info("drained before leaving", "took", time.Since(start).Round(time.Millisecond))
				return
			}
			last, lastErr = r, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if last != nil {
		n.log.Warn("leaving before the drain finished: the rest is recomputed or served by replicas",
			"running", last.Running, "sole_copies", last.SoleCopies, "after", time.Since(start).Round(time.Millisecond))
	} else {
		n.log.Warn("leaving without a drain: the leader did not answer", "err", lastErr)
	}
}

// Close stops the actors, Raft and the host. It does not leave the mesh:
// a closed node is a dead member until it restarts (see Leave).
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cfg.InProcess.remove(n)
		if n.supervisor != nil {
			n.sys.Root.Stop(n.supervisor)
			select {
			case <-n.stopped:
			case <-time.After(5 * time.Second):
				n.log.Warn("supervisor did not stop in time")
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		var errs []error
		if n.raft != nil {
			errs = append(errs, n.raft.Close())
		}
		n.wg.Wait()
		errs = append(errs, n.host.Close())
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		if n.sys != nil {
			n.sys.Shutdown()
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// StoredKeys lists the keys this node's result store holds.
func (n *Node) StoredKeys() []string { return n.store.Keys() }
