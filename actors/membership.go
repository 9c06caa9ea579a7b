package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/consensus"
)

// Local messages of the membership actor.
type (
	tick       struct{}
	pingResult struct {
		id   string
		pong *Pong
		at   time.Time
	}
	reconcileDone struct{}
)

// membership is the actor ("node/membership") that admits and removes
// members, answers status, and — on the leader only — runs the failure
// detector (heartbeat probes), marks silent members dead, and keeps the
// number of voters by promoting live non-voters.
type membership struct {
	n      *Node
	leader bool
	since  time.Time

	lastSeen    map[string]time.Time
	pinging     map[string]bool
	pong        map[string]*Pong
	reconciling bool
	stopTicker  context.CancelFunc
}

func newMembership(n *Node) *membership {
	return &membership{n: n, lastSeen: map[string]time.Time{}, pinging: map[string]bool{}, pong: map[string]*Pong{}}
}

func (a *membership) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.startTicker(ctx)
	case *actor.Stopping:
		if a.stopTicker != nil {
			a.stopTicker()
		}
	case *Ping:
		cores, mem, used := hostResources()
		p := &Pong{ID: a.n.self, Cores: cores, Memory: mem, MemUsed: used, RSS: processRSS()}
		p.Threads, p.Running, p.Assigned, p.StoreBytes, p.SpilledBytes = a.n.workerLoad()
		p.CPU, p.MemoryLimit = a.n.cpu.percent(), a.n.cfg.MemoryLimit
		ctx.Respond(p)
	case *ActivityRequest:
		ctx.Respond(a.n.localActivity(m))
	case *leadershipChanged:
		a.leader = m.leader
		if m.leader {
			// Every member gets a full timeout from the moment we lead.
			a.since = time.Now()
			clear(a.lastSeen)
			clear(a.pong)
		}
	case *tick:
		a.n.noteLeader()
		if a.leader {
			a.probe(ctx)
			a.reconcile(ctx)
		}
	case *pingResult:
		delete(a.pinging, m.id)
		if m.pong != nil {
			a.lastSeen[m.id] = m.at
			a.pong[m.id] = m.pong
		}
	case *reconcileDone:
		a.reconciling = false
	case *JoinRequest:
		a.leaderOnly(ctx, m.Forwarded, func(c context.Context) (any, error) { return a.n.admit(c, &m.Member) }, func() { m.Forwarded = true })
	case *LeaveRequest:
		a.leaderOnly(ctx, m.Forwarded, func(c context.Context) (any, error) { return a.n.remove(c, m.ID) }, func() { m.Forwarded = true })
	case *LeaveSelfRequest:
		if a.n.cfg.OnLeaveAsked == nil {
			ctx.Respond(&ErrorReply{Code: CodeFailed, Message: fmt.Sprintf("node %s cannot be asked to leave: it is not run by `mesh join` (stop its program instead)", a.n.self)})
			return
		}
		a.n.log.Info("asked to leave the mesh", "by", ctx.Sender())
		go a.n.cfg.OnLeaveAsked()
		ctx.Respond(&LeaveSelfReply{Node: a.n.self})
	case *StatusRequest:
		if a.leader || m.Local {
			ctx.Respond(a.status())
			return
		}
		local := a.status()
		local.Stale = true
		sender := ctx.Sender()
		a.n.spawn(func(c context.Context) {
			reply := a.forward(c, &StatusRequest{Local: true})
			if _, ok := reply.(*Status); !ok {
				reply = local // the leader is unreachable: answer with what we know
			}
			a.n.sys.Root.Send(sender, reply)
		})
	}
}

func (a *membership) startTicker(ctx actor.Context) {
	tctx, cancel := context.WithCancel(a.n.ctx)
	a.stopTicker = cancel
	self := ctx.Self()
	a.n.spawn(func(context.Context) {
		t := time.NewTicker(a.n.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				a.n.sys.Root.Send(self, &tick{})
			}
		}
	})
}

// leaderOnly runs op on a node-owned goroutine when this node leads, or
// forwards the request once to the leader; the reply goes to the sender.
func (a *membership) leaderOnly(ctx actor.Context, forwarded bool, op func(context.Context) (any, error), markForwarded func()) {
	sender := ctx.Sender()
	msg := ctx.Message()
	if a.leader {
		a.n.spawn(func(c context.Context) {
			c, cancel := context.WithTimeout(c, 10*time.Second)
			defer cancel()
			reply, err := op(c)
			if err != nil {
				reply = errorReply(err)
			}
			a.n.sys.Root.Send(sender, reply)
		})
		return
	}
	if forwarded {
		ctx.Respond(&ErrorReply{Code: CodeNoLeader, Message: "node " + a.n.self + " is not the leader (leadership is changing): retry"})
		return
	}
	markForwarded()
	a.n.spawn(func(c context.Context) { a.n.sys.Root.Send(sender, a.forward(c, msg)) })
}

// forward sends msg to the leader's membership actor and returns the reply
// (or an ErrorReply).
func (a *membership) forward(c context.Context, msg any) any {
	leader, ok := a.n.raft.Leader()
	if !ok || leader == a.n.host.ID() {
		return &ErrorReply{Code: CodeNoLeader, Message: "no leader is known yet (an election may be under way): retry"}
	}
	c, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	reply, err := a.n.remote.Request(c, a.n.remote.PID(leader, MembershipID), msg)
	if err != nil {
		return errorReply(err)
	}
	return reply
}

func errorReply(err error) *ErrorReply {
	var e *ErrorReply
	if errors.As(err, &e) {
		return e
	}
	code := CodeFailed
	if errors.Is(err, consensus.ErrNotLeader) {
		code = CodeNoLeader
	}
	return &ErrorReply{Code: code, Message: err.Error()}
}

// probe pings every member not already being pinged.
func (a *membership) probe(ctx actor.Context) {
	self := ctx.Self()
	timeout := a.n.cfg.DeadAfter / 2
	for id, mem := range a.n.raft.Membership().Members {
		if id == a.n.self || mem.State == consensus.Left || a.pinging[id] {
			continue
		}
		pid, err := peer.Decode(id)
		if err != nil {
			continue
		}
		a.pinging[id] = true
		a.n.spawn(func(c context.Context) {
			c, cancel := context.WithTimeout(c, timeout)
			defer cancel()
			reply, err := replyAs[Pong](a.n.remote.Request(c, a.n.remote.PID(pid, MembershipID), &Ping{From: a.n.self}))
			if err != nil {
				reply = nil
			}
			a.n.sys.Root.Send(self, &pingResult{id: id, pong: reply, at: time.Now()})
		})
	}
}

// seen is when the leader last heard from a member (at least since it led).
func (a *membership) seen(id string) time.Time {
	if t, ok := a.lastSeen[id]; ok && t.After(a.since) {
		return t
	}
	return a.since
}

// reconcile decides, from the detector's view, which members changed state
// and lets one goroutine at a time apply that and fix the voter set.
func (a *membership) reconcile(ctx actor.Context) {
	if a.reconciling {
		return
	}
	now := time.Now()
	plan := reconcilePlan{healthy: map[string]bool{a.n.self: true}}
	for id, mem := range a.n.raft.Membership().Members {
		if id == a.n.self {
			if mem.State != consensus.Alive {
				plan.alive = append(plan.alive, id)
			}
			continue
		}
		silent := now.Sub(a.seen(id))
		recent := a.lastSeen[id].After(a.since) && silent < a.n.cfg.DeadAfter/2
		plan.healthy[id] = recent
		if mem.State == consensus.Alive {
			// A member that (re)joined is silent only from then on:
			// admit records it alive before the detector has heard from
			// it, and the next round must not mark it dead again at once.
			silent = min(silent, now.Sub(mem.Changed))
		}
		switch {
		case mem.State == consensus.Alive && silent > a.n.cfg.DeadAfter:
			plan.dead = append(plan.dead, id)
		case mem.State == consensus.Dead && recent:
			plan.alive = append(plan.alive, id)
		}
	}
	a.reconciling = true
	self := ctx.Self()
	a.n.spawn(func(c context.Context) {
		defer a.n.sys.Root.Send(self, &reconcileDone{})
		c, cancel := context.WithTimeout(c, 10*time.Second)
		defer cancel()
		if err := a.n.applyPlan(c, plan); err != nil && !errors.Is(err, consensus.ErrNotLeader) {
			a.n.log.Warn("membership reconcile", "err", err)
		}
	})
}

// status builds the status table from this node's view.
func (a *membership) status() *Status {
	r := a.n.raft
	st := &Status{Term: r.Term(), CommitIndex: r.CommitIndex(), AnsweredBy: a.n.self}
	if l, ok := r.Leader(); ok {
		st.Leader = l.String()
	}
	m := r.Membership()
	st.Voters = m.Voters
	roles := map[string]string{}
	if servers, err := r.Servers(); err == nil {
		for _, s := range servers {
			roles[s.ID] = "nonvoter"
			if s.Voter {
				roles[s.ID] = "voter"
			}
		}
	}
	now := time.Now()
	for _, mem := range m.Sorted() {
		ms := MemberStatus{ID: mem.ID, Name: mem.Name, Addrs: mem.Addrs, Role: roles[mem.ID], State: string(mem.State),
			Leader: mem.ID == st.Leader, Cores: mem.Cores, Memory: mem.Memory}
		if ms.Role == "" {
			ms.Role = "none"
		}
		if mem.ID == a.n.self {
			ms.RSS = processRSS()
			ms.Threads, ms.Running, ms.Assigned, ms.StoreBytes, ms.SpilledBytes = a.n.workerLoad()
			ms.CPU, ms.MemoryLimit = a.n.cpu.percent(), a.n.cfg.MemoryLimit
		}
		if a.leader && mem.ID != a.n.self {
			if t, ok := a.lastSeen[mem.ID]; ok {
				ms.LastSeen = t.UTC().Format(time.RFC3339Nano)
			}
			if mem.State == consensus.Alive && now.Sub(a.seen(mem.ID)) > a.n.cfg.DeadAfter/2 {
				ms.State = string(consensus.Suspect)
			}
			if p := a.pong[mem.ID]; p != nil {
				ms.Cores, ms.Memory, ms.RSS = p.Cores, p.Memory, p.RSS
				ms.Threads, ms.Running, ms.Assigned, ms.StoreBytes, ms.SpilledBytes = p.Threads, p.Running, p.Assigned, p.StoreBytes, p.SpilledBytes
				ms.CPU, ms.MemoryLimit = p.CPU, p.MemoryLimit
			}
		}
		if ms.Threads == 0 && mem.State == consensus.Alive {
			ms.Threads = mem.Threads // not heard from yet: what it joined with
		}
		st.Members = append(st.Members, ms)
	}
	if tc := a.n.metrics.tasks.Load(); tc != nil && a.leader {
		st.Tasks = tc.States
		st.Groups = tc.Groups
		if len(st.Groups) > MaxStatusGroups {
			st.Groups, st.GroupsOmitted = st.Groups[:MaxStatusGroups], len(st.Groups)-MaxStatusGroups
		}
	}
	return st
}
