package actors

import (
	"context"
	"errors"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/mesh"
)

// Client is a connection to a mesh from outside it: an ephemeral libp2p
// host in the mesh's private network with an actor system that holds no
// actors, only replies.
type Client struct {
	host   *mesh.Host
	sys    *actor.ActorSystem
	remote *Remote
	peer   peer.ID
}

// Dial connects to the first of peers that answers, retrying until ctx ends.
func Dial(ctx context.Context, secret mesh.Secret, peers []peer.AddrInfo, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := mesh.NewHost(mesh.Config{Secret: secret, Logger: log})
	if err != nil {
		return nil, err
	}
	p, err := h.Connect(ctx, peers)
	if err != nil {
		h.Close()
		return nil, err
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	return &Client{host: h, sys: sys, remote: NewRemote(sys, h, log), peer: p.ID}, nil
}

// Peer is the node the client talks to.
func (c *Client) Peer() peer.ID { return c.peer }

// Status asks the connected node for the mesh's status (it forwards to the
// leader).
func (c *Client) Status(ctx context.Context) (*Status, error) {
	return replyAs[Status](c.remote.Request(ctx, c.remote.PID(c.peer, MembershipID), &StatusRequest{}))
}

// StatusFrom asks node p for the mesh's status.
func (c *Client) StatusFrom(ctx context.Context, p peer.ID) (*Status, error) {
	return replyAs[Status](c.remote.Request(ctx, c.remote.PID(p, MembershipID), &StatusRequest{}))
}

// Request sends msg to actor id on node p and waits for the reply.
func (c *Client) Request(ctx context.Context, p peer.ID, id string, msg any) (any, error) {
	return c.remote.Request(ctx, c.remote.PID(p, id), msg)
}

// Start sends msg to actor id on node p now; Wait on the call for the reply.
func (c *Client) Start(p peer.ID, id string, msg any) (*Call, error) {
	return c.remote.Start(c.remote.PID(p, id), msg)
}

// Close disconnects.
func (c *Client) Close() error {
	err := c.host.Close()
	c.sys.Shutdown()
	return err
}

// updatesProcess hands TaskUpdates from the scheduler to a callback, on the
// goroutine that read them from the wire (in order per sender).
type updatesProcess struct{ fn func([]TaskUpdate) }

func (p *updatesProcess) SendUserMessage(_ *actor.PID, m any) {
	if u, ok := actor.UnwrapEnvelopeMessage(m).(*TaskUpdates); ok {
		p.fn(u.Updates)
	}
}
func (p *updatesProcess) SendSystemMessage(*actor.PID, any) {}
func (p *updatesProcess) Stop(*actor.PID)                   {}

// OnTaskUpdates installs the callback that receives the scheduler's task
// updates for this client. Call it once, before submitting.
func (c *Client) OnTaskUpdates(fn func([]TaskUpdate)) error {
	if _, ok := c.sys.ProcessRegistry.Add(&updatesProcess{fn: fn}, ClientUpdatesID); !ok {
		return errors.New("task updates callback already installed")
	}
	return nil
}

// ID is the client's peer ID, by which the scheduler knows it.
func (c *Client) ID() string { return c.host.ID().String() }

// AddPeer records a member's addresses so the client can reach it.
func (c *Client) AddPeer(info peer.AddrInfo) { c.host.AddPeer(info) }
