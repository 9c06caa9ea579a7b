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

// admit adds (or re-adds) a member: it is recorded as alive, and enters the
// Raft configuration as a voter while the mesh has fewer live voters than it
// keeps, as a non-voter after that. Runs on the leader.
func (n *Node) admit(ctx context.Context, m *consensus.Member) (*JoinReply, error) {
	n.configMu.Lock()
	defer n.configMu.Unlock()
	if _, err := peer.Decode(m.ID); err != nil {
		return nil, fmt.Errorf("join: member id %q is not a peer ID", m.ID)
	}
	if !n.raft.IsLeader() {
		return nil, consensus.ErrNotLeader
	}
	if err := n.raft.Apply(ctx, consensus.Command{Op: consensus.OpJoin, Member: m}); err != nil {
		return nil, err
	}
	servers, err := n.raft.Servers()
	if err != nil {
		return nil, err
	}
	mem := n.raft.Membership()
	voter, inConfig := false, false
	liveVoters := 0
	for _, s := range servers {
		if s.ID == m.ID {
			inConfig, voter = true, s.Voter
		}
		if s.Voter && mem.Members[s.ID] != nil && mem.Members[s.ID].State == consensus.Alive {
			liveVoters++
		}
	}
	if !inConfig {
		if liveVoters < mem.Voters {
			err, voter = n.raft.AddVoter(m.ID, configTimeout), true
		} else {
			err = n.raft.AddNonvoter(m.ID, configTimeout)
		}
		if err != nil {
			return nil, err
		}
	}
	n.log.Info("member admitted", "id", m.ID, "name", m.Name, "voter", voter)
	reply := &JoinReply{Leader: n.self, Voter: voter}
	for _, mm := range n.raft.Membership().Sorted() {
		reply.Members = append(reply.Members, mm)
	}
	return reply, nil
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

// applyPlan records state changes and repairs the voter set: dead voters
// are demoted, left members removed, and live non-voters promoted until the
// mesh has its number of voters again. Runs on the leader.
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
	var candidates []string
	for _, s := range servers {
		inConfig[s.ID] = true
		m := mem.Members[s.ID]
		if m == nil {
			continue
		}
		switch {
		case m.State == consensus.Left:
			if err := n.raft.RemoveServer(s.ID, configTimeout); err != nil {
				return err
			}
		case m.State == consensus.Dead && s.Voter:
			if err := n.raft.DemoteVoter(s.ID, configTimeout); err != nil {
				return err
			}
			n.log.Warn("dead voter demoted", "id", s.ID)
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
		if err := n.raft.AddVoter(id, configTimeout); err != nil {
			return err
		}
		liveVoters++
		n.log.Info("non-voter promoted to keep the voter count", "id", id, "voters", liveVoters)
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
