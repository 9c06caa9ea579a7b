package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// leadershipChanged tells the supervisor (and through it the membership
// actor) that this node gained or lost Raft leadership.
type leadershipChanged struct {
	leader bool
	term   uint64
}

// supervisor is the root actor of a node ("node"). It owns the membership
// actor for the node's whole life and the scheduler actor while the node
// leads; it restarts a child that panics.
type supervisor struct {
	n          *Node
	membership *actor.PID
	scheduler  *actor.PID
}

func newSupervisor(n *Node) *supervisor { return &supervisor{n: n} }

func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newMembership(s.n) }), "membership")
		if err != nil {
			s.n.log.Error("spawn membership actor", "err", err)
			return
		}
		s.membership = pid
	case *leadershipChanged:
		if m.leader && s.scheduler == nil {
			pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
				return &scheduler{n: s.n, term: m.term, since: time.Now()}
			}), "scheduler")
			if err != nil {
				s.n.log.Error("spawn scheduler actor", "err", err)
			} else {
				s.scheduler = pid
			}
		}
		if !m.leader && s.scheduler != nil {
			ctx.Stop(s.scheduler)
			s.scheduler = nil
		}
		if s.membership != nil {
			ctx.Send(s.membership, m)
		}
		s.n.log.Info("leadership changed", "leader", m.leader, "term", m.term)
	case *Echo:
		ctx.Respond(&Echo{Text: m.Text, From: s.n.self})
	case *actor.Stopped:
		close(s.n.stopped)
	}
}

// scheduler is the leader's scheduler actor ("node/scheduler"). It exists
// only while its node leads; the futures work gives it tasks to place.
type scheduler struct {
	n     *Node
	term  uint64
	since time.Time
}

func (s *scheduler) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		s.n.log.Info("scheduler active", "term", s.term)
	case *actor.Stopping:
		s.n.log.Info("scheduler stopping: leadership lost", "term", s.term)
	case *SchedulerInfoRequest:
		ctx.Respond(&SchedulerInfo{Node: s.n.self, Term: s.term, Since: s.since})
	}
}
