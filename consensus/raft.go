package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/bbolt"

	"github.com/meshcompute/mesh/mesh"
)

// Sentinel errors.
var (
	// ErrNotLeader: the operation must run on the leader.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrDataDirLocked: another node process uses the data dir.
	ErrDataDirLocked = errors.New("data dir in use by another mesh node")
)

// Config configures a Raft node.
type Config struct {
	Host    *mesh.Host
	DataDir string // raft state goes to <DataDir>/raft
	// HeartbeatTimeout and ElectionTimeout bound failover; zero means 1 s.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// LogOutput receives raft's own log; nil discards it.
	LogOutput io.Writer
	// LogLevel of raft's own log: "debug", "info", "warn" or "error"
	// (default "error": raft warns about normal events, such as a follower
	// catching up or a peer that went away).
	LogLevel string
	Logger   *slog.Logger
	// OnMembership is called after every change to the membership, on
	// raft's apply goroutine; it must be quick.
	OnMembership func(Membership)
}

// Node is a running Raft server.
type Node struct {
	r         *raft.Raft
	fsm       *fsm
	store     *raftboltdb.BoltStore
	transport *raft.NetworkTransport
	layer     *streamLayer
	acked     *ackTracker
	notify    chan bool
	// cfgTerm, cfgIndex: see configIndex.
	cfgMu    sync.Mutex
	cfgTerm  uint64
	cfgIndex uint64
	id       raft.ServerID
	log      *slog.Logger
	// closing is closed when Close begins: waits on raft futures end.
	closing   chan struct{}
	closeOnce sync.Once
}

// Open starts raft on the host, with its log, stable store and snapshots in
// <DataDir>/raft. It does not bootstrap or join: see Bootstrap and
// HasExistingState.
func Open(cfg Config) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w: stop the other node or use another --data-dir", cfg.DataDir, ErrDataDirLocked)
		}
		return nil, fmt.Errorf("open raft log %s: %w: %w (restore the data dir from a backup, or remove it to rejoin as a new node)", filepath.Join(dir, "raft.db"), mesh.ErrCorruptDataDir, err)
	}
	out := cfg.LogOutput
	if out == nil {
		out = io.Discard
	}
	level := hclog.LevelFromString(cfg.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Error
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: level, Output: out})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	layer, err := newStreamLayer(cfg.Host.LibP2P())
	if err != nil {
		store.Close()
		return nil, err
	}
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 3,
		Timeout: 5 * time.Second,
		Logger:  hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Host.ID().String())
	rc.Logger = hlog
	rc.HeartbeatTimeout = orDefault(cfg.HeartbeatTimeout, time.Second)
	rc.ElectionTimeout = orDefault(cfg.ElectionTimeout, time.Second)
	rc.LeaderLeaseTimeout = rc.HeartbeatTimeout / 2
	rc.CommitTimeout = 20 * time.Millisecond
	notify := make(chan bool, 64)
	rc.NotifyCh = notify
	f := newFSM(cfg.OnMembership)
	// Entries carry batches of task specs (up to a few MB). With raft's
	// pipelining a leader keeps up to 128 AppendEntries of 64 entries in
	// flight per follower — gigabytes when a follower lags — so replicate
	// one bounded request at a time instead.
	rc.MaxAppendEntries = 16
	acked := &ackTracker{by: map[raft.ServerID]ack{}}
	r, err := raft.NewRaft(rc, f, store, store, snaps, noPipeline{transport, acked})
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	return &Node{r: r, fsm: f, store: store, transport: transport, layer: layer, acked: acked, notify: notify, id: rc.LocalID, log: log, closing: make(chan struct{})}, nil
}

// noPipeline is the network transport without AppendEntries pipelining.
// On the leader it also records, per follower, the last log index the
// follower acknowledged holding (see Node.CaughtUp): raft keeps that to
// itself.
type noPipeline struct {
	*raft.NetworkTransport
	acked *ackTracker
}

func (noPipeline) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (t noPipeline) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success {
		// The follower's log now matches ours through the last entry sent
		// (or through PrevLogEntry when none was: a probe or a heartbeat,
		// whose PrevLogEntry is 0).
		last := args.PrevLogEntry
		if k := len(args.Entries); k > 0 {
			last = args.Entries[k-1].Index
		}
		t.acked.record(id, args.Term, last)
	}
	return err
}

func (t noPipeline) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	err := t.NetworkTransport.InstallSnapshot(id, target, args, resp, data)
	if err == nil && resp.Success {
		t.acked.record(id, args.Term, args.LastLogIndex)
	}
	return err
}

// ackTracker holds, per follower, the highest log index it acknowledged in
// a leader's term.
type ackTracker struct {
	mu sync.Mutex
	by map[raft.ServerID]ack
}

type ack struct{ term, index uint64 }

func (a *ackTracker) record(id raft.ServerID, term, index uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.by[id]; !ok || term > cur.term || (term == cur.term && index > cur.index) {
		a.by[id] = ack{term, index}
	}
}

// index is what id acknowledged to this node as leader of term (0: nothing).
func (a *ackTracker) index(id raft.ServerID, term uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.by[id]; ok && cur.term == term {
		return cur.index
	}
	return 0
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// HasExistingState reports whether this data dir already belongs to a mesh.
func (n *Node) HasExistingState() (bool, error) {
	last, err := n.store.LastIndex()
	if err != nil {
		return false, err
	}
	return last > 0, nil
}

// Bootstrap makes this node the single voter of a new mesh and records the
// voter count the mesh keeps.
func (n *Node) Bootstrap(ctx context.Context, voters int) error {
	cfg := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: n.id, Address: raft.ServerAddress(n.id)}}}
	if err := n.wait(n.r.BootstrapCluster(cfg)); err != nil {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	if err := n.WaitLeader(ctx); err != nil {
		return err
	}
	return n.Apply(ctx, Command{Op: OpInit, Voters: voters})
}

// WaitLeader waits until some leader is known.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, ok := n.Leader(); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for a raft leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Apply replicates a command; only the leader may.
func (n *Node) Apply(ctx context.Context, c Command) error {
	if n.r.State() != raft.Leader {
		return ErrNotLeader
	}
	if c.At.IsZero() {
		c.At = time.Now().UTC()
	}
	data, err := msgpack.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	fut := n.r.Apply(data, timeout)
	if err := n.wait(fut); err != nil {
		return wrapRaftErr("apply "+string(c.Op), err)
	}
	if err, ok := fut.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

func wrapRaftErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%s: %w: %w", what, ErrNotLeader, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Barrier waits until every entry committed before it has been applied
// here: a new leader's state machine is then current.
func (n *Node) Barrier(timeout time.Duration) error {
	return wrapRaftErr("barrier", n.wait(n.r.Barrier(timeout)))
}

// Membership returns this node's copy of the replicated membership.
func (n *Node) Membership() Membership { return n.fsm.Membership() }

// IsLeader reports whether this node leads.
func (n *Node) IsLeader() bool { return n.r.State() == raft.Leader }

// Leader returns the current leader's peer ID, if one is known.
func (n *Node) Leader() (peer.ID, bool) {
	_, id := n.r.LeaderWithID()
	if id == "" {
		return "", false
	}
	p, err := peer.Decode(string(id))
	if err != nil {
		return "", false
	}
	return p, true
}

// Term is the current Raft term.
func (n *Node) Term() uint64 { return n.r.CurrentTerm() }

// CommitIndex is the index of the last committed entry this node knows.
func (n *Node) CommitIndex() uint64 { return n.r.CommitIndex() }

// State is the Raft role of this node (Leader, Follower, Candidate...).
func (n *Node) State() string { return n.r.State().String() }

// LeaderEvents delivers true when this node becomes leader, false when it
// stops being leader. Consume it promptly: raft blocks on it.
func (n *Node) LeaderEvents() <-chan bool { return n.notify }

// Server is one entry of the Raft configuration.
type Server struct {
	ID    string
	Voter bool
}

// Servers returns the current Raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.r.GetConfiguration()
	if err := n.wait(f); err != nil {
		return nil, err
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// CaughtUp reports, on the leader, whether the member's Raft log holds the
// latest configuration (it acknowledged that entry, or a later one, in this
// term). Only such a member may become a voter: raft refuses a vote to a
// candidate that is not a voter in the voter's own latest configuration, so
// a voter whose log lags behind a change of the voter set can refuse its
// vote to the voters that remain when the leader dies, and no one is
// elected (see AddVoter).
func (n *Node) CaughtUp(id string) bool {
	if n.r.State() != raft.Leader {
		return false
	}
	term := n.r.CurrentTerm()
	acked := n.acked.index(raft.ServerID(id), term)
	return acked > 0 && acked >= n.configIndex(term, 0)
}

// configIndex returns a bound on the index of the latest configuration
// entry while this node leads in term (raft does not expose the index:
// GetConfiguration's is always 0): the last log index when first asked in
// the term, which covers every configuration entry of earlier leaders,
// raised to the index of every change this node makes (changed, when not
// 0).
func (n *Node) configIndex(term, changed uint64) uint64 {
	n.cfgMu.Lock()
	defer n.cfgMu.Unlock()
	if n.cfgTerm != term {
		n.cfgTerm, n.cfgIndex = term, n.r.LastIndex()
	}
	n.cfgIndex = max(n.cfgIndex, changed)
	return n.cfgIndex
}

// configChange waits for a change of the configuration and notes its index.
func (n *Node) configChange(what string, f raft.IndexFuture) error {
	term := n.r.CurrentTerm()
	if err := n.wait(f); err != nil {
		return wrapRaftErr(what, err)
	}
	n.configIndex(term, f.Index())
	return nil
}

// WaitCaughtUp waits until CaughtUp(id) or ctx ends, and reports which.
func (n *Node) WaitCaughtUp(ctx context.Context, id string) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !n.CaughtUp(id) {
		select {
		case <-ctx.Done():
			return false
		case <-n.closing:
			return false
		case <-t.C:
		}
	}
	return true
}

// AddVoter adds or promotes a member to voter. Call it only for a member
// that is CaughtUp: raft adds the voter at once, without waiting for its
// log to catch up.
func (n *Node) AddVoter(id string, timeout time.Duration) error {
	return n.configChange("add voter "+id, n.r.AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, timeout))
}

// AddNonvoter adds a member that replicates the log but does not vote.
func (n *Node) AddNonvoter(id string, timeout time.Duration) error {
	return n.configChange("add nonvoter "+id, n.r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(id), 0, timeout))
}

// DemoteVoter keeps a member in the configuration without a vote.
func (n *Node) DemoteVoter(id string, timeout time.Duration) error {
	return n.configChange("demote "+id, n.r.DemoteVoter(raft.ServerID(id), 0, timeout))
}

// RemoveServer removes a member from the configuration.
func (n *Node) RemoveServer(id string, timeout time.Duration) error {
	return n.configChange("remove "+id, n.r.RemoveServer(raft.ServerID(id), 0, timeout))
}

// TransferLeadership hands leadership to another voter and waits for it.
func (n *Node) TransferLeadership() error {
	return n.wait(n.r.LeadershipTransfer())
}

// Close shuts raft down and closes its stores.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.closing) })
	err := n.r.Shutdown().Error()
	if terr := n.transport.Close(); terr != nil && err == nil && !strings.Contains(terr.Error(), "closed") {
		err = terr
	}
	if serr := n.store.Close(); serr != nil && err == nil {
		err = serr
	}
	return err
}
