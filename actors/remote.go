package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/mesh"
)

// ErrTimeout: a request got no reply in time.
var ErrTimeout = errors.New("request timed out")

// Remote connects an actor system to the mesh: PIDs whose Address is a peer
// ID are delivered over the host, and envelopes arriving from peers are
// delivered to local actors.
type Remote struct {
	sys  *actor.ActorSystem
	host *mesh.Host
	self string
	log  *slog.Logger
	// procs caches the process for each remote address: decoding a peer ID
	// on every message costs more than the rest of the send.
	procs sync.Map // string -> *remoteProcess
	// calls waiting for a reply from each peer: failed at once when the
	// connection to that peer is lost, rather than at their timeout.
	callsMu sync.Mutex
	calls   map[string]map[*replyProcess]struct{}
}

// NewRemote wires sys to host. Call it before spawning any actor, so that
// local PIDs carry this node's peer ID as their address.
func NewRemote(sys *actor.ActorSystem, host *mesh.Host, log *slog.Logger) *Remote {
	r := &Remote{sys: sys, host: host, self: host.ID().String(), log: log, calls: map[string]map[*replyProcess]struct{}{}}
	sys.ProcessRegistry.Address = r.self
	sys.ProcessRegistry.RegisterAddressResolver(r.resolve)
	host.SetHandler(r.deliver)
	host.SetDropHandler(r.undeliverable)
	host.OnDisconnect(r.disconnected)
	return r
}

// disconnected fails the calls waiting on a peer the host lost.
func (r *Remote) disconnected(p peer.ID) {
	r.callsMu.Lock()
	waiting := r.calls[p.String()]
	delete(r.calls, p.String())
	r.callsMu.Unlock()
	for rp := range waiting {
		rp.SendUserMessage(nil, &ErrorReply{Code: CodeUnreachable, Message: fmt.Sprintf("node %s: connection lost while waiting for its answer", p)})
	}
}

// PID names the actor with the given id on node p.
func (r *Remote) PID(p peer.ID, id string) *actor.PID { return actor.NewPID(p.String(), id) }

func (r *Remote) resolve(pid *actor.PID) (actor.Process, bool) {
	if p, ok := r.procs.Load(pid.Address); ok {
		return p.(*remoteProcess), true
	}
	p, err := peer.Decode(pid.Address)
	if err != nil {
		return nil, false
	}
	rp := &remoteProcess{r: r, peer: p}
	r.procs.Store(pid.Address, rp)
	return rp, true
}

type remoteProcess struct {
	r    *Remote
	peer peer.ID
}

func (p *remoteProcess) SendUserMessage(pid *actor.PID, message any) {
	_, msg, sender := actor.UnwrapEnvelope(message)
	name, body, parts, err := mesh.EncodeMessageParts(msg)
	if err != nil {
		p.r.log.Error("cannot send message to remote actor", "to", pid, "err", err)
		return
	}
	env := &mesh.Envelope{Target: pid.Id, Type: name, Body: body, Parts: parts}
	if sender != nil {
		env.Sender = &mesh.PIDRef{Node: sender.Address, ID: sender.Id}
		if sender.Address == "nonhost" {
			env.Sender.Node = p.r.self
		}
	}
	if err := p.r.host.Send(p.peer, env); err != nil {
		p.r.log.Debug("remote send failed", "to", pid, "err", err)
	}
}

// System messages (watch, stop) are not carried between nodes: membership,
// not actor watches, tells who is gone.
func (p *remoteProcess) SendSystemMessage(pid *actor.PID, message any) {}
func (p *remoteProcess) Stop(pid *actor.PID)                           {}

func (r *Remote) deliver(from peer.ID, env *mesh.Envelope) {
	var sender *actor.PID
	if env.Sender != nil {
		sender = actor.NewPID(env.Sender.Node, env.Sender.ID)
	}
	msg, err := mesh.DecodeMessage(env.Type, env.Body)
	if err != nil {
		r.log.Warn("undecodable message from peer", "peer", from, "err", err)
		if sender != nil {
			r.sys.Root.Send(sender, &ErrorReply{Code: CodeFailed, Message: fmt.Sprintf("node %s: %v", r.self, err)})
		}
		return
	}
	if _, ok := r.sys.ProcessRegistry.GetLocal(env.Target); !ok {
		if sender != nil {
			r.sys.Root.Send(sender, &ErrorReply{Code: CodeNoActor, Message: fmt.Sprintf("node %s has no actor %q", r.self, env.Target)})
		}
		return
	}
	target := actor.NewPID(r.self, env.Target)
	if sender != nil {
		r.sys.Root.RequestWithCustomSender(target, msg, sender)
	} else {
		r.sys.Root.Send(target, msg)
	}
}

// undeliverable answers a local requester whose message could not reach its
// peer, so that it fails at once with the reason instead of timing out.
func (r *Remote) undeliverable(to peer.ID, env *mesh.Envelope, err error) {
	if env.Type == computeMessage {
		// The scheduler sends tasks without waiting for an answer: tell it
		// these never left, or they would wait on the worker forever.
		if m, derr := mesh.DecodeMessage(env.Type, env.Body); derr == nil {
			if c, ok := m.(*Compute); ok {
				keys := make([]string, len(c.Tasks))
				for i, a := range c.Tasks {
					keys[i] = a.Spec.Key
				}
				r.sys.Root.Send(actor.NewPID(r.self, SchedulerID), &ComputeUndelivered{Worker: to.String(), Keys: keys})
			}
		}
		return
	}
	if env.Sender == nil || env.Sender.Node != r.self {
		return
	}
	r.sys.Root.Send(actor.NewPID(r.self, env.Sender.ID), &ErrorReply{Code: CodeUnreachable, Message: fmt.Sprintf("node %s: %v", to, err)})
}

// replyProcess receives exactly one reply into a channel. It replaces
// protoactor's RequestFuture, whose completion races (protoactor-go #1145).
type replyProcess struct{ ch chan any }

func (p *replyProcess) SendUserMessage(_ *actor.PID, m any) {
	select {
	case p.ch <- actor.UnwrapEnvelopeMessage(m):
	default:
	}
}
func (p *replyProcess) SendSystemMessage(*actor.PID, any) {}
func (p *replyProcess) Stop(*actor.PID)                   {}

// Call is a request on its way: Send it now, Wait for the reply later.
type Call struct {
	r      *Remote
	p      *replyProcess
	self   *actor.PID
	target *actor.PID
	msg    any
}

// Start sends msg to target (local or on any node) at once and returns the
// call to Wait on. Messages started from one goroutine reach a node in order.
func (r *Remote) Start(target *actor.PID, msg any) (*Call, error) {
	p := &replyProcess{ch: make(chan any, 1)}
	self, ok := r.sys.ProcessRegistry.Add(p, "reply"+r.sys.ProcessRegistry.NextId())
	if !ok {
		return nil, errors.New("reply id collision")
	}
	if target.Address != r.self {
		r.callsMu.Lock()
		m := r.calls[target.Address]
		if m == nil {
			m = map[*replyProcess]struct{}{}
			r.calls[target.Address] = m
		}
		m[p] = struct{}{}
		r.callsMu.Unlock()
	}
	r.sys.Root.RequestWithCustomSender(target, msg, self)
	return &Call{r: r, p: p, self: self, target: target, msg: msg}, nil
}

// Wait waits for the reply until ctx ends. An *ErrorReply comes back as an
// error. Wait once per call.
func (c *Call) Wait(ctx context.Context) (any, error) {
	defer c.r.sys.ProcessRegistry.Remove(c.self)
	defer func() {
		c.r.callsMu.Lock()
		if m := c.r.calls[c.target.Address]; m != nil {
			delete(m, c.p)
			if len(m) == 0 {
				delete(c.r.calls, c.target.Address)
			}
		}
		c.r.callsMu.Unlock()
	}()
	select {
	case reply := <-c.p.ch:
		if e, ok := reply.(*ErrorReply); ok {
			return nil, e
		}
		return reply, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%T to %s on %s: %w (%w)", c.msg, c.target.Id, c.target.Address, ErrTimeout, ctx.Err())
	}
}

// Request sends msg to target (local or on any node) and waits for the reply
// until ctx ends. An *ErrorReply comes back as an error.
func (r *Remote) Request(ctx context.Context, target *actor.PID, msg any) (any, error) {
	c, err := r.Start(target, msg)
	if err != nil {
		return nil, err
	}
	return c.Wait(ctx)
}
