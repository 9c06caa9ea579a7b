package actors

import (
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
		for name, producer := range map[string]actor.Producer{
			"worker": func() actor.Actor { return &workerActor{n: s.n} },
			"store":  func() actor.Actor { return &storeActor{n: s.n} },
		} {
			if _, err := ctx.SpawnNamed(actor.PropsFromProducer(producer), name); err != nil {
				s.n.log.Error("spawn actor", "name", name, "err", err)
			}
		}
	case *leadershipChanged:
		if m.leader && s.scheduler == nil {
			pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
				return newScheduler(s.n, m.term)
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
