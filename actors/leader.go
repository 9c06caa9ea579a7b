package actors

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/consensus"
)

// configTimeout bounds one Raft configuration change.
const configTimeout = 5 * time.Second

// catchUpWait bounds how long admit waits for a new member's log to hold
// the configuration before it makes it a voter (the joining node asks with
// a 5 s timeout); after that the failure detector's reconcile promotes it.
// admit does not hold configMu meanwhile: reconcile goes on.
const catchUpWait = time.Second

// admit adds (or re-adds) a member: it is recorded as alive and enters the
// Raft configuration as a non-voter; while the mesh has fewer live voters
// than it keeps, it is promoted as soon as its log holds the configuration
// (consensus.Node.CaughtUp), here or by a later reconcile. Never a voter
// with a stale log: a restarted member's log may lack changes of the voter
// set made while it was down, and raft refuses a vote to a candidate that
// its own latest configuration does not list as a voter. Runs on the
// leader.
func (n *Node) admit(ctx context.Context, m *consensus.Member) (*JoinReply, error) {
	if _, err := peer.Decode(m.ID); err != nil {
		return nil, fmt.Errorf("join: member id %q is not a peer ID", m.ID)
	}
	voter, short, err := n.admitNonvoter(ctx, m)
	if err != nil {
		return nil, err
	}
	if !voter && short {
		wctx, cancel := context.WithTimeout(ctx, catchUpWait)
		caughtUp := n.raft.WaitCaughtUp(wctx, m.ID)
		cancel()
		if caughtUp {
			if voter, err = n.promoteIfShort(m.ID); err != nil {
				return nil, err
			}
		}
	}
	n.log.Info("member admitted", "id", m.ID, "name", m.Name, "voter", voter)
	reply := &JoinReply{Leader: n.self, Voter: voter}
	for _, mm := range n.raft.Membership().Sorted() {
		reply.Members = append(reply.Members, mm)
	}
	return reply, nil
}

// admitNonvoter records m as alive and puts it in the Raft configuration
// (as a non-voter when it is not there); it reports whether m is a voter
// and whether the mesh has fewer live voters than it keeps.
func (n *Node) admitNonvoter(ctx context.Context, m *consensus.Member) (voter, short bool, err error) {
	n.configMu.Lock()
	defer n.configMu.Unlock()
	if !n.raft.IsLeader() {
		return false, false, consensus.ErrNotLeader
	}
	if err := n.raft.Apply(ctx, consensus.Command{Op: consensus.OpJoin, Member: m}); err != nil {
		return false, false, err
	}
	voter, inConfig, liveVoters, want, err := n.voterCount(m.ID)
	if err != nil {
		return false, false, err
	}
	if !inConfig {
		if err := n.raft.AddNonvoter(m.ID, configTimeout); err != nil {
			return false, false, err
		}
	}
	return voter, liveVoters < want, nil
}

// promoteIfShort makes id a voter if the mesh still lacks a live voter,
// id is still a non-voter and its log holds the configuration.
func (n *Node) promoteIfShort(id string) (bool, error) {
	n.configMu.Lock()
	defer n.configMu.Unlock()
	voter, inConfig, liveVoters, want, err := n.voterCount(id)
	if err != nil || voter || !inConfig || liveVoters >= want || !n.raft.CaughtUp(id) {
		return voter, err
	}
	if err := n.raft.AddVoter(id, configTimeout); err != nil {
		return false, err
	}
	return true, nil
}

// voterCount reads the Raft configuration: whether id is in it and a
// voter, how many live members vote, and how many voters the mesh keeps.
func (n *Node) voterCount(id string) (voter, inConfig bool, liveVoters, want int, err error) {
	servers, err := n.raft.Servers()
	if err != nil {
		return false, false, 0, 0, err
	}
	mem := n.raft.Membership()
	for _, s := range servers {
		if s.ID == id {
			inConfig, voter = true, s.Voter
		}
		if s.Voter && mem.Members[s.ID] != nil && mem.Members[s.ID].State == consensus.Alive {
			liveVoters++
		}
	}
	return voter, inConfig, liveVoters, mem.Voters, nil
}

// remove takes a leaving member out at once. Runs on the leader.
func (n *Node) remove(ctx context.Context, id string) (*LeaveReply, error) {
	n.configMu.Lock()
	defer n.configMu.Unlock()
	if !n.raft.IsLeader() {
		return nil, consensus.ErrNotLeader
	}
	if err := n.raft.Apply(ctx, consensus.Command{Op: consensus.OpState, ID: id, State: consensus.Left}); err != nil {
		return nil, err
	}
	if err := n.raft.RemoveServer(id, configTimeout); err != nil {
		// The last voter cannot be removed: the mesh ends with it, and it
		// stays recorded as left.
		if !strings.Contains(err.Error(), "need at least one voter") {
			return nil, err
		}
	}
	n.log.Info("member left", "id", id)
	return &LeaveReply{}, nil
}

// reconcilePlan is what the failure detector concluded in one round.
type reconcilePlan struct {
	dead    []string        // alive members silent past DeadAfter
	alive   []string        // dead members answering again
	healthy map[string]bool // members that answered recently
}

// applyPlan records state changes and repairs the voter set: live
// non-voters whose log holds the configuration are promoted until the mesh
// has its number of voters again, then dead voters are demoted and left
// members removed. Runs on the leader.
//
// Promoting before demoting: with a dead voter D of {L, V, D}, the
// promotion of X makes {L, V, D, X}, which commits only once L, V and X all
// hold it, so each survivor lists the others as voters before D is demoted
// ({L, V, X}, which L and any one of V and X commit). Demoting first left
// {L, V}, which the death of L stalls whatever else is live, and then {L,
// V, X} committed by L and X alone: a V without it refuses X's vote.
func (n *Node) applyPlan(ctx context.Context, p reconcilePlan) error {
	n.configMu.Lock()
	defer n.configMu.Unlock()
	for _, id := range p.dead {
		if err := n.raft.Apply(ctx, consensus.Command{Op: consensus.OpState, ID: id, State: consensus.Dead}); err != nil {
			return err
		}
		n.log.Warn("member dead: no heartbeat reply", "id", id, "after", n.cfg.DeadAfter)
	}
	for _, id := range p.alive {
		if err := n.raft.Apply(ctx, consensus.Command{Op: consensus.OpState, ID: id, State: consensus.Alive}); err != nil {
			return err
		}
		n.log.Info("member alive again", "id", id)
	}
	mem := n.raft.Membership()
	servers, err := n.raft.Servers()
	if err != nil {
		return err
	}
	inConfig := map[string]bool{}
	liveVoters := 0
	var candidates, deadVoters, left []string
	for _, s := range servers {
		inConfig[s.ID] = true
		m := mem.Members[s.ID]
		if m == nil {
			continue
		}
		switch {
		case m.State == consensus.Left:
			left = append(left, s.ID)
		case m.State == consensus.Dead && s.Voter:
			deadVoters = append(deadVoters, s.ID)
		case m.State == consensus.Alive && s.Voter:
			liveVoters++
		case m.State == consensus.Alive && p.healthy[s.ID]:
			candidates = append(candidates, s.ID)
		}
	}
	for _, id := range candidates {
		if liveVoters >= mem.Voters {
			break
		}
		if !n.raft.CaughtUp(id) {
			continue // its log lacks the configuration: a later round
		}
		if err := n.raft.AddVoter(id, configTimeout); err != nil {
			return err
		}
		liveVoters++
		n.log.Info("non-voter promoted to keep the voter count", "id", id, "voters", liveVoters)
	}
	for _, id := range deadVoters {
		if err := n.raft.DemoteVoter(id, configTimeout); err != nil {
			return err
		}
		n.log.Warn("dead voter demoted", "id", id)
	}
	for _, id := range left {
		if err := n.raft.RemoveServer(id, configTimeout); err != nil {
			return err
		}
	}
	for id, m := range mem.Members {
		if !inConfig[id] && m.State == consensus.Alive && p.healthy[id] {
			if err := n.raft.AddNonvoter(id, configTimeout); err != nil {
				return err
			}
		}
	}
	return nil
}
