package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/consensus"
)

// scheduler is the leader's scheduler actor ("node/scheduler"). It exists
// only while its node leads. It owns the graph: it places ready tasks on
// workers, hears their results, tells clients, and reacts to members that
// die by re-running or recomputing what they had.
type scheduler struct {
	n      *Node
	term   uint64
	since  time.Time
	g      *graph
	cancel context.CancelFunc
}

type schedTick struct{}

func newScheduler(n *Node, term uint64) *scheduler {
	return &scheduler{n: n, term: term, since: time.Now(), g: newGraph(n.cfg.Replicas, validateSpec)}
}

// validateSpec refuses at submit what can never run: an unknown function or
// a wrong number of arguments.
func validateSpec(spec *consensus.TaskSpec) *TaskFailure {
	fn, err := funcs.Lookup(spec.Func)
	if err != nil {
		return &TaskFailure{Kind: FailUnknown, Message: fmt.Sprintf("%s: %v", spec.Key, err)}
	}
	if err := fn.CheckArity(len(spec.Args)); err != nil {
		return &TaskFailure{Kind: FailArgs, Message: fmt.Sprintf("%s: %v", spec.Key, err)}
	}
	return nil
}

func (s *scheduler) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.n.log.Info("scheduler active", "term", s.term)
		s.syncWorkers()
		s.startTicker(ctx)
	case *actor.Stopping:
		if s.cancel != nil {
			s.cancel()
		}
		s.n.log.Info("scheduler stopping: leadership lost", "term", s.term)
	case *schedTick:
		s.syncWorkers()
	case *SchedulerInfoRequest:
		ctx.Respond(&SchedulerInfo{Node: s.n.self, Term: s.term, Since: s.since})
	case *SubmitTasks:
		s.syncWorkers()
		rejected := s.g.submit(m.Client, m.Tasks, m.Want, m.Data)
		if ctx.Sender() != nil {
			ctx.Respond(&SubmitAck{Rejected: rejected})
		}
	case *TasksFinished:
		s.g.finished(m.Worker, m.Results)
	case *ReleaseKeys:
		s.g.release(m.Client, m.Keys, m.Cancel)
		if ctx.Sender() != nil {
			ctx.Respond(&ReleaseAck{})
		}
	default:
		return
	}
	s.flush()
}

// syncWorkers takes the live members as the workers.
func (s *scheduler) syncWorkers() {
	live := map[string]workerInfo{}
	for id, m := range s.n.raft.Membership().Members {
		if m.State == consensus.Alive {
			threads := m.Threads
			if threads <= 0 {
				threads = max(m.Cores, 1)
			}
			live[id] = workerInfo{name: m.Name, nthreads: threads}
		}
	}
	s.g.setWorkers(live)
}

func (s *scheduler) startTicker(ctx actor.Context) {
	c, cancel := context.WithCancel(s.n.ctx)
	s.cancel = cancel
	self := ctx.Self()
	s.n.spawn(func(context.Context) {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.Done():
				return
			case <-t.C:
				s.n.sys.Root.Send(self, &schedTick{})
			}
		}
	})
}

// flush sends what the last message produced: one Compute per worker, one
// TaskUpdates per client, one DropValues per holder.
func (s *scheduler) flush() {
	e := s.g.take()
	for w, tasks := range e.compute {
		if pid, err := peerPID(s.n, w, WorkerID); err == nil {
			s.n.sys.Root.Send(pid, &Compute{Tasks: tasks})
		}
	}
	for c, ups := range e.updates {
		if pid, err := peerPID(s.n, c, ClientUpdatesID); err == nil {
			s.n.sys.Root.Send(pid, &TaskUpdates{Updates: ups})
		}
	}
	for h, keys := range e.drops {
		if pid, err := peerPID(s.n, h, StoreID); err == nil {
			s.n.sys.Root.Send(pid, &DropValues{Keys: keys})
		}
	}
}

var errBadPeer = errors.New("bad peer id")

func peerPID(n *Node, id, actorID string) (*actor.PID, error) {
	if id == "" {
		return nil, errBadPeer
	}
	return actor.NewPID(id, actorID), nil
}
