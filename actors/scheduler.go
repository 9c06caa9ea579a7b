package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/consensus"
)

// scheduler is the leader's scheduler actor ("node/scheduler"). It exists
// only while its node leads. It owns the graph: it places ready tasks on
// workers, hears their results, tells clients, and reacts to members that
// die by re-running or recomputing what they had.
//
// Submissions and releases are replicated through Raft, batched, off the
// task path: work is dispatched at once and the log catches up. A new
// leader's scheduler first rebuilds the graph from the replicated records
// and the workers' holdings; messages that arrive meanwhile wait.
type scheduler struct {
	n      *Node
	term   uint64
	since  time.Time
	g      *graph
	cancel context.CancelFunc
	ctx    context.Context

	recovering bool
	stash      []stashed
	logCh      chan consensus.Command

	// clients: when each client was last heard from; expired: clients
	// whose keys were released for silence (told so if they come back).
	clients    map[string]time.Time
	expired    map[string]time.Time
	lastExpiry time.Time

	countCost time.Duration // how long the last countTasks took
}

// maxTasksPerEntry bounds the task specs batched into one Raft entry.
const maxTasksPerEntry = 5000

type stashed struct {
	msg    any
	sender *actor.PID
}

type (
	schedTick struct{}
	recovered struct {
		records  map[string]consensus.TaskRecord
		holdings []*Holdings
		err      error
	}
)

func newScheduler(n *Node, term uint64) *scheduler {
	s := &scheduler{n: n, term: term, since: time.Now(), g: newGraph(n.cfg.Replicas, validateSpec), logCh: make(chan consensus.Command, 1<<14),
		clients: map[string]time.Time{}, expired: map[string]time.Time{}}
	// Runs of tasks are numbered after the term: a later leader's runs
	// come after an earlier one's.
	s.g.genBase = term << 40
	return s
}

// validateSpec refuses at submit what can never run: an unknown function or
// a wrong number of arguments.
func validateSpec(spec *consensus.TaskSpec) *TaskFailure {
	fn, err := funcs.Lookup(spec.Func)
	if err != nil {
		return &TaskFailure{Kind: FailUnknown, Message: fmt.Sprintf("%s: the leader's binary does not know it: %v", spec.Key, err)}
	}
	if err := fn.CheckArity(len(spec.Args)); err != nil {
		return &TaskFailure{Kind: FailArgs, Message: fmt.Sprintf("%s: %v", spec.Key, err)}
	}
	return nil
}

func (s *scheduler) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.n.log.Info("scheduler active; rebuilding the graph", "term", s.term)
		s.ctx, s.cancel = context.WithCancel(s.n.ctx)
		s.recovering = true
		s.syncWorkers()
		s.startTicker(ctx)
		s.n.spawn(s.runLog)
		self := ctx.Self()
		s.n.spawn(func(context.Context) { s.n.sys.Root.Send(self, s.n.recoverGraph(s.ctx)) })
	case *actor.Stopping:
		if s.cancel != nil {
			s.cancel()
		}
		s.forgetTaskCounts()
		s.n.log.Info("scheduler stopping: leadership lost", "term", s.term)
	case *schedTick:
		start := time.Now()
		s.syncWorkers()
		if !s.recovering {
			s.expireClients(time.Now())
			s.g.expireMissing(time.Now())
			s.askJoined(ctx)
			s.probe(ctx)
		}
		s.flush()
		s.n.metrics.tickSeconds.Observe(time.Since(start).Seconds())
		if !s.recovering {
			s.countTasks(time.Now())
		}
	case *holdingsArrived:
		if s.recovering {
			s.stash = append(s.stash, stashed{msg: m})
			return
		}
		s.g.holdings(m.h)
		s.flush()
	case *probeArrived:
		if s.recovering {
			return // the rebuilt graph has no probes out
		}
		lost, found := s.g.probed(m.worker, m.asked, m.reply)
		if len(lost) > 0 {
			s.n.log.Warn("tasks a worker neither ran nor held in two probes were lost on the way; placing them again",
				"worker", m.worker, "tasks", len(lost), "keys", lost[:min(len(lost), 8)])
		}
		if len(found) > 0 {
			s.n.log.Warn("a worker holds results whose reports never arrived; taking them as finished",
				"worker", m.worker, "tasks", len(found), "keys", found[:min(len(found), 8)])
		}
		s.flush()
	case *SchedulerInfoRequest:
		info := &SchedulerInfo{Node: s.n.self, Term: s.term, Since: s.since, Tasks: len(s.g.tasks), Clients: len(s.clients)}
		if sender := ctx.Sender(); sender != nil && sender.Address != s.n.self {
			_, info.Expired = s.expired[sender.Address]
			delete(s.expired, sender.Address)
			s.touch(sender.Address)
		}
		ctx.Respond(info)
	case *RetireRequest:
		if s.recovering {
			ctx.Respond(&RetireReply{})
			return
		}
		done, running, sole, nowhere := s.g.retire(m.Worker)
		s.flush()
		ctx.Respond(&RetireReply{Done: done, Running: running, SoleCopies: sole, Nowhere: nowhere})
	case *GraphRequest:
		gv := &GraphView{Recovering: true}
		if !s.recovering {
			gv = s.g.view(m.Limit, s.n.metrics.tasks.Load())
		}
		gv.Node, gv.Term = s.n.self, s.term
		ctx.Respond(gv)
	case *ProgressRequest:
		r := &ProgressReply{}
		if !s.recovering {
			r.Done, r.Erred, r.Unknown = s.g.progress(m.Keys)
		}
		ctx.Respond(r)
	case *ExplainRequest:
		ex := &Explain{Node: s.n.self, Term: s.term, Recovering: s.recovering}
		if !s.recovering {
			ex.Tasks = s.g.explain(m.Keys)
		}
		ctx.Respond(ex)
	case *recovered:
		if m.err != nil {
			s.n.log.Warn("graph recovery incomplete", "err", m.err)
		}
		s.syncWorkers()
		s.g.takeJoined() // the holdings below are everyone's
		s.g.restore(m.records, m.holdings)
		// Every client of the replicated graph gets a full timeout.
		for _, t := range s.g.tasks {
			for _, c := range t.wanters {
				s.touch(c)
			}
		}
		s.recovering = false
		s.n.log.Info("scheduler ready", "tasks", len(s.g.tasks), "recovered_in", time.Since(s.since).Round(time.Millisecond))
		for _, st := range s.stash {
			s.handle(st.msg, st.sender)
		}
		s.stash = nil
		s.flush()
	case *SubmitTasks, *TasksFinished, *ReleaseKeys, *StealReply, *ValuesMissing, *ComputeUndelivered, *ReplicasStored:
		if s.recovering {
			s.stash = append(s.stash, stashed{msg: m, sender: ctx.Sender()})
			return
		}
		s.handle(m, ctx.Sender())
		s.flush()
	}
}

func (s *scheduler) handle(msg any, sender *actor.PID) {
	switch m := msg.(type) {
	case *SubmitTasks:
		s.touch(m.Client)
		s.syncWorkers()
		rejected := s.g.submit(m.Client, m.Tasks, m.Want, m.Data)
		if m.More {
			keys := make([]string, 0, len(m.Tasks)+len(m.Data))
			for i := range m.Tasks {
				keys = append(keys, m.Tasks[i].Key)
			}
			for _, d := range m.Data {
				keys = append(keys, d.Key)
			}
			s.g.pin(m.Client, keys)
		} else {
			s.g.unpin(m.Client)
		}
		tasks := m.Tasks
		if len(rejected) > 0 {
			// Only what the graph took is replicated.
			refused := make(map[string]bool, len(rejected))
			for _, r := range rejected {
				refused[r.Key] = true
			}
			tasks = slices.DeleteFunc(slices.Clone(tasks), func(t consensus.TaskSpec) bool { return refused[t.Key] })
		}
		s.log(consensus.Command{Op: consensus.OpSubmit, Client: m.Client, Tasks: tasks, Want: m.Want, Data: m.Data})
		if sender != nil {
			s.n.sys.Root.Send(sender, &SubmitAck{Rejected: rejected})
		}
	case *TasksFinished:
		s.g.noteBandwidth(m.Worker, m.Bandwidth)
		s.g.finished(m.Worker, m.Results)
	case *StealReply:
		s.g.stolen(m.Worker, m.Gave, m.Kept)
	case *holdingsArrived:
		s.g.holdings(m.h)
	case *ReplicasStored:
		s.g.replicasStored(m.Holder, m.Keys, m.Gens)
	case *ComputeUndelivered:
		s.n.log.Warn("tasks never reached their worker; placing them again", "worker", m.Worker, "tasks", len(m.Keys))
		s.g.undelivered(m.Worker, m.Keys)
	case *ValuesMissing:
		s.g.valuesMissing(m.Keys, m.Holders)
		if sender != nil {
			s.n.sys.Root.Send(sender, &ReleaseAck{})
		}
	case *ReleaseKeys:
		s.touch(m.Client)
		s.g.unpin(m.Client)
		s.g.release(m.Client, m.Keys, m.Cancel)
		s.log(consensus.Command{Op: consensus.OpRelease, Client: m.Client, Keys: m.Keys})
		if sender != nil {
			s.n.sys.Root.Send(sender, &ReleaseAck{})
		}
	}
}

// holdingsArrived carries the holdings of a worker that (re)appeared.
type holdingsArrived struct{ h *Holdings }

// askJoined asks workers that appeared (a node that joined, or came back
// after it was thought dead) what they hold: values given up for lost may
// be there.
func (s *scheduler) askJoined(ctx actor.Context) {
	joined := s.g.takeJoined()
	if len(joined) == 0 {
		return
	}
	self := ctx.Self()
	for _, id := range joined {
		p, err := peer.Decode(id)
		if err != nil {
			continue
		}
		s.n.spawn(func(context.Context) {
			c, cancel := context.WithTimeout(s.ctx, 5*time.Second)
			defer cancel()
			h, err := replyAs[Holdings](s.n.remote.Request(c, s.n.remote.PID(p, WorkerID), &HoldingsRequest{}))
			if err != nil {
				s.n.log.Warn("no holdings from a worker that appeared", "id", id, "err", err)
				return
			}
			s.n.sys.Root.Send(self, &holdingsArrived{h: h})
		})
	}
}

// probeArrived carries a worker's answer to a TaskProbe (reply nil: none).
type probeArrived struct {
	worker string
	asked  *TaskProbe
	reply  *TaskProbeReply
}

// probe asks workers about the tasks they have had for a while (see
// probesDue): a lost Compute or TasksFinished does not leave a task
// processing forever.
func (s *scheduler) probe(ctx actor.Context) {
	due := s.g.probesDue()
	if len(due) == 0 {
		return
	}
	self := ctx.Self()
	for id, p := range due {
		s.n.spawn(func(context.Context) {
			msg := &probeArrived{worker: id, asked: p}
			if pid, err := peer.Decode(id); err == nil {
				c, cancel := context.WithTimeout(s.ctx, 5*time.Second)
				r, err := replyAs[TaskProbeReply](s.n.remote.Request(c, s.n.remote.PID(pid, WorkerID), p))
				cancel()
				if err == nil {
					msg.reply = r
				} else {
					s.n.log.Debug("no answer to a task probe", "worker", id, "err", err)
				}
			}
			s.n.sys.Root.Send(self, msg)
		})
	}
}

// touch records that a client was heard from.
func (s *scheduler) touch(client string) {
	if client != FireAndForgetClient {
		s.clients[client] = time.Now()
	}
}

// expireClients releases the keys of clients silent past the client
// timeout (Dask's client heartbeat): a client process that died without
// closing must not keep its values in memory forever. Checked once a
// second.
func (s *scheduler) expireClients(now time.Time) {
	if now.Sub(s.lastExpiry) < time.Second {
		return
	}
	s.lastExpiry = now
	for c, seen := range s.expired {
		if now.Sub(seen) > time.Hour {
			delete(s.expired, c)
		}
	}
	var gone []string
	for c, seen := range s.clients {
		if now.Sub(seen) > s.n.cfg.ClientTimeout {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 {
		return
	}
	wanted := s.g.wantedBy(gone)
	for _, c := range gone {
		delete(s.clients, c)
		s.g.unpin(c)
		keys := wanted[c]
		if len(keys) > 0 {
			s.n.log.Info("client silent past the client timeout: releasing its keys", "client", c, "keys", len(keys), "timeout", s.n.cfg.ClientTimeout)
			s.expired[c] = now
			s.g.release(c, keys, false)
			s.log(consensus.Command{Op: consensus.OpRelease, Client: c, Keys: keys})
		}
	}
}

// log queues a command for the replicated graph.
func (s *scheduler) log(c consensus.Command) {
	select {
	case s.logCh <- c:
	case <-s.ctx.Done():
	}
}

// runLog applies queued graph commands through Raft, as many per log entry
// as have queued up while the previous entry committed.
func (s *scheduler) runLog(context.Context) {
	var batch []consensus.Command
	for {
		batch = batch[:0]
		select {
		case <-s.ctx.Done():
			return
		case c := <-s.logCh:
			batch = append(batch, c)
		}
		// Entries stay small (a few MB at most): followers decode each one
		// whole, and the leader reads it back once per follower.
		tasks := len(batch[0].Tasks)
	drain:
		for len(batch) < 1000 && tasks < maxTasksPerEntry {
			select {
			case c := <-s.logCh:
				batch = append(batch, c)
				tasks += len(c.Tasks)
			default:
				break drain
			}
		}
		cmd := batch[0]
		if len(batch) > 1 {
			cmd = consensus.Command{Op: consensus.OpBatch, Batch: batch}
		}
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		err := s.n.raft.Apply(ctx, cmd)
		cancel()
		if err != nil {
			if errors.Is(err, consensus.ErrNotLeader) || s.ctx.Err() != nil {
				return
			}
			s.n.log.Warn("replicate graph changes", "commands", len(batch), "err", err)
		}
	}
}

// recoverGraph waits until the replicated graph is current here, then asks
// every live member what it holds and runs.
func (n *Node) recoverGraph(ctx context.Context) *recovered {
	out := &recovered{}
	if err := n.raft.Barrier(5 * time.Second); err != nil {
		out.err = err
	}
	out.records = n.raft.Tasks()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, m := range n.raft.Membership().Members {
		if m.State != consensus.Alive {
			continue
		}
		p, err := peer.Decode(id)
		if err != nil {
			continue
		}
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			h, err := replyAs[Holdings](n.remote.Request(c, n.remote.PID(p, WorkerID), &HoldingsRequest{}))
			if err != nil {
				n.log.Warn("no holdings from member", "id", id, "err", err)
				return
			}
			mu.Lock()
			out.holdings = append(out.holdings, h)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
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
			live[id] = workerInfo{incarnation: m.Incarnation, name: m.Name, nthreads: threads, resources: m.Resources}
		}
	}
	s.g.setWorkers(live)
}

func (s *scheduler) startTicker(ctx actor.Context) {
	self := ctx.Self()
	s.n.spawn(func(context.Context) {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
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
	s.g.balance(time.Now())
	e := s.g.take()
	for w, tasks := range e.compute {
		s.n.sys.Root.Send(actor.NewPID(w, WorkerID), &Compute{Tasks: tasks})
	}
	for c, ups := range e.updates {
		s.n.sys.Root.Send(actor.NewPID(c, ClientUpdatesID), &TaskUpdates{Updates: ups})
	}
	for w, p := range e.pushes {
		s.n.sys.Root.Send(actor.NewPID(w, WorkerID), p)
	}
	for v, keys := range e.steals {
		s.n.sys.Root.Send(actor.NewPID(v, WorkerID), &StealRequest{Keys: keys})
	}
	for h, keys := range e.drops {
		s.n.sys.Root.Send(actor.NewPID(h, StoreID), &DropValues{Keys: keys, Term: s.term, Gens: e.gens[h]})
	}
	for _, kf := range e.erred {
		msg := kf.Key + " erred"
		if kf.Failure != nil {
			msg = kf.Failure.Message
			if kf.Failure.Worker != "" {
				msg += " (on " + shortID(kf.Failure.Worker) + ")"
			}
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		s.n.event(EventTaskError, kf.Key, msg)
	}
	if e.erredMore > 0 {
		s.n.event(EventTaskError, "", fmt.Sprintf("and %d more tasks erred", e.erredMore))
	}
	if len(e.fafDone) > 0 {
		s.log(consensus.Command{Op: consensus.OpRelease, Client: FireAndForgetClient, Keys: e.fafDone})
	}
}
