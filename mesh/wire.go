package mesh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/vmihailenco/msgpack/v5"
)

// MsgProtocol carries actor messages: a stream per direction per peer pair,
// each a sequence of msgpack-encoded Envelopes (msgpack values delimit
// themselves, so no extra framing is needed).
const MsgProtocol protocol.ID = "/mesh/msg/1.0.0"

// ErrQueueFull: the outbound queue to a peer stayed full for queueWait (the
// peer is slow or hung); the message was dropped and its requester told.
var ErrQueueFull = errors.New("outbound queue full")

// ErrUnknownMessage: an envelope names a message type no one registered.
var ErrUnknownMessage = errors.New("unknown message type")

// PIDRef names an actor on a node: the node's peer ID and the actor's id.
type PIDRef struct {
	_msgpack struct{} `msgpack:",as_array"`
	Node     string   `msgpack:"n"`
	ID       string   `msgpack:"i"`
}

// Envelope is one message on the wire.
type Envelope struct {
	_msgpack struct{} `msgpack:",as_array"`
	Target   string   `msgpack:"t"`           // actor id on the receiving node
	Sender   *PIDRef  `msgpack:"s,omitempty"` // who to reply to, if anyone
	Type     string   `msgpack:"y"`           // registered message type name
	// Body is the message's msgpack encoding, carried as bin: a reader
	// allocates it once at its length (a raw msgpack value would be
	// re-parsed and grown piecemeal).
	Body []byte `msgpack:"b"`
	// Parts, when set on a sending side (EncodeMessageParts), are the body
	// in pieces written one after another: large values are not copied
	// into one body first. Never sent as such: the peer reads a Body.
	Parts [][]byte `msgpack:"-"`
}

// bodyLen is the length of the envelope's body, whole or in parts.
func (e *Envelope) bodyLen() int {
	if e.Parts == nil {
		return len(e.Body)
	}
	n := 0
	for _, p := range e.Parts {
		n += len(p)
	}
	return n
}

// encodeEnvelope writes env to w through enc (which writes to w): as
// msgpack would encode it, with a body in parts written piece by piece.
func encodeEnvelope(enc *msgpack.Encoder, w io.Writer, env *Envelope) error {
	if env.Parts == nil {
		return enc.Encode(env)
	}
	if err := enc.EncodeArrayLen(4); err != nil {
		return err
	}
	if err := enc.EncodeString(env.Target); err != nil {
		return err
	}
	if err := enc.Encode(env.Sender); err != nil {
		return err
	}
	if err := enc.EncodeString(env.Type); err != nil {
		return err
	}
	if err := enc.EncodeBytesLen(env.bodyLen()); err != nil {
		return err
	}
	for _, p := range env.Parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

var registry = struct {
	sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
	bulk   map[string]bool
}{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}, bulk: map[string]bool{}}

// RegisterBulkMessage is RegisterMessage for messages that carry data
// (stored values, fetch replies): they travel on a second stream per peer,
// so that megabytes of data never delay heartbeats and scheduling messages
// queued behind them. Bulk messages keep their order among themselves, not
// with the others: use it only for messages whose order against the rest
// does not matter (replies correlated by request).
func RegisterBulkMessage[T any](name string) {
	RegisterMessage[T](name)
	registry.Lock()
	registry.bulk[name] = true
	registry.Unlock()
}

func isBulk(name string) bool {
	registry.RLock()
	defer registry.RUnlock()
	return registry.bulk[name]
}

// RegisterMessage makes *T sendable between nodes under name. Register every
// message type at init on every node; the name must be unique and stable.
func RegisterMessage[T any](name string) {
	t := reflect.TypeFor[T]()
	registry.Lock()
	defer registry.Unlock()
	if old, ok := registry.byName[name]; ok && old != t {
		panic(fmt.Sprintf("mesh.RegisterMessage: %q already names %v", name, old))
	}
	registry.byName[name] = t
	registry.byType[t] = name
}

// EncodeMessage encodes a registered message (a *T) into its type name and
// msgpack body.
func EncodeMessage(msg any) (string, []byte, error) {
	v := reflect.ValueOf(msg)
	if v.Kind() != reflect.Pointer {
		return "", nil, fmt.Errorf("encode %T: %w: send messages as pointers", msg, ErrUnknownMessage)
	}
	registry.RLock()
	name, ok := registry.byType[v.Type().Elem()]
	registry.RUnlock()
	if !ok {
		return "", nil, fmt.Errorf("encode %T: %w: call mesh.RegisterMessage for it", msg, ErrUnknownMessage)
	}
	var buf bytes.Buffer
	if h, ok := msg.(SizeHinter); ok {
		buf.Grow(h.SizeHint())
	}
	if err := msgpack.NewEncoder(&buf).Encode(msg); err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return name, buf.Bytes(), nil
}

// PartsEncoder is a message made mostly of large byte values it already
// holds: it gives its msgpack encoding as parts — the small headers it
// writes and the values themselves — so that sending it copies no value
// into a body first. The parts, concatenated, must be exactly what
// msgpack encodes for it (a receiver decodes them as one body). Parts
// alias the values: they must not change until sent.
type PartsEncoder interface{ EncodeParts() ([][]byte, error) }

// EncodeMessageParts is EncodeMessage for a message that may be a
// PartsEncoder: parts is set (and body nil) when it is.
func EncodeMessageParts(msg any) (name string, body []byte, parts [][]byte, err error) {
	pe, ok := msg.(PartsEncoder)
	if !ok {
		name, body, err = EncodeMessage(msg)
		return name, body, nil, err
	}
	registry.RLock()
	name, ok = registry.byType[reflect.TypeOf(msg).Elem()]
	registry.RUnlock()
	if !ok {
		return "", nil, nil, fmt.Errorf("encode %T: %w: call mesh.RegisterMessage for it", msg, ErrUnknownMessage)
	}
	parts, err = pe.EncodeParts()
	if err != nil {
		return "", nil, nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return name, nil, parts, nil
}

// SizeHinter is a message that knows about how large its encoding is (one
// carrying data): the encoder allocates that once instead of doubling.
type SizeHinter interface{ SizeHint() int }

// BodyDecoder is a message that decodes its own msgpack body, e.g. so that
// its byte values alias the body instead of being copied out of it. The
// body is the message's own: nothing else uses it after the decode.
type BodyDecoder interface{ DecodeBody(body []byte) error }

// DecodeMessage decodes a body encoded by EncodeMessage into a new *T.
func DecodeMessage(name string, body []byte) (any, error) {
	registry.RLock()
	t, ok := registry.byName[name]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("decode %q: %w (is the node running an older binary?)", name, ErrUnknownMessage)
	}
	v := reflect.New(t)
	if bd, ok := v.Interface().(BodyDecoder); ok {
		if err := bd.DecodeBody(body); err != nil {
			return nil, fmt.Errorf("decode %s: %w", name, err)
		}
		return v.Interface(), nil
	}
	// The body is in memory: decode its values at their size at once (the
	// default limit grows them 1 MB at a time, copying as it goes).
	dec := msgpack.NewDecoder(bytes.NewReader(body))
	dec.DisableAllocLimit(true)
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return v.Interface(), nil
}

// SetHandler installs the function that receives every inbound envelope. It
// is called on the stream's goroutine, in order per peer, and must not block.
func (m *Host) SetHandler(fn func(from peer.ID, env *Envelope)) {
	m.mu.Lock()
	m.handler = fn
	m.mu.Unlock()
}

func (m *Host) handleStream(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	dec := msgpack.NewDecoder(bufio.NewReaderSize(s, 64<<10))
	// Peers are members that know the secret: a large body is read at once
	// into a buffer of its size rather than grown 1 MB at a time.
	dec.DisableAllocLimit(true)
	for {
		env := new(Envelope)
		if err := dec.Decode(env); err != nil {
			if m.ctx.Err() == nil {
				m.log.Debug("inbound stream ended", "peer", from, "err", err)
			}
			s.Reset()
			return
		}
		m.mu.Lock()
		h := m.handler
		m.mu.Unlock()
		if h != nil {
			h(from, env)
		}
	}
}

const (
	outboundQueue = 16384
	queueWait     = 10 * time.Second
	dialTimeout   = 5 * time.Second
	writeTimeout  = 5 * time.Second
)

// outbound is the ordered queue of envelopes for one peer and lane, and the
// goroutine (owned by the Host) that writes them to a long-lived stream.
type outbound struct {
	peer  peer.ID
	queue chan *Envelope
}

// lane: control messages, or bulk data (RegisterBulkMessage).
type lane struct {
	peer peer.ID
	bulk bool
}

// Send queues env for delivery to peer p. Delivery is ordered per peer and
// best effort: if the peer cannot be reached the envelope is dropped (the
// drop handler is told, so a request fails at once). When the peer's queue
// is full, Send waits for room — backpressure on a fast sender — for at
// most queueWait, then drops the envelope with ErrQueueFull.
func (m *Host) Send(p peer.ID, env *Envelope) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("send to %s: host closed", p)
	}
	l := lane{peer: p, bulk: isBulk(env.Type)}
	o, ok := m.out[l]
	if !ok {
		o = &outbound{peer: p, queue: make(chan *Envelope, outboundQueue)}
		m.out[l] = o
		m.wg.Add(1)
		go m.runOutbound(o)
	}
	m.mu.Unlock()
	select {
	case o.queue <- env:
		return nil
	default:
	}
	t := time.NewTimer(queueWait)
	defer t.Stop()
	select {
	case o.queue <- env:
		return nil
	case <-t.C:
	case <-m.ctx.Done():
	}
	err := fmt.Errorf("send to %s: %w (the peer is slow or hung)", p, ErrQueueFull)
	m.dropped(p, []*Envelope{env}, err)
	return err
}

// writeDeadline: the write timeout, plus time for a large body at a slow
// 10 MB/s.
func writeDeadline(env *Envelope) time.Duration {
	return writeTimeout + time.Duration(env.bodyLen()/10_000)*time.Millisecond
}

func (m *Host) runOutbound(o *outbound) {
	defer m.wg.Done()
	var (
		s     network.Stream
		w     *bufio.Writer
		enc   *msgpack.Encoder
		batch []*Envelope
	)
	reset := func() {
		if s != nil {
			s.Reset()
		}
		s, w, enc = nil, nil, nil
	}
	defer reset()
	for {
		var env *Envelope
		select {
		case <-m.ctx.Done():
			return
		case env = <-o.queue:
		}
		batch = append(batch[:0], env)
		if s == nil {
			// Member pings pace the retries: the swarm's own dial backoff
			// would only delay reaching a peer that is back.
			if sw, ok := m.h.Network().(*swarm.Swarm); ok {
				sw.Backoff().Clear(o.peer)
			}
			ctx, cancel := context.WithTimeout(m.ctx, dialTimeout)
			ns, err := m.h.NewStream(ctx, o.peer, MsgProtocol)
			cancel()
			if err != nil {
				// Whatever is queued now would meet the same fate: fail it
				// all at once rather than dial once per message.
				for len(o.queue) > 0 {
					batch = append(batch, <-o.queue)
				}
				m.dropped(o.peer, batch, fmt.Errorf("%w: %v", ErrUnreachable, err))
				continue
			}
			s, w = ns, bufio.NewWriterSize(ns, 64<<10)
			enc = msgpack.NewEncoder(w)
		}
		_ = s.SetWriteDeadline(time.Now().Add(writeDeadline(env)))
		err := encodeEnvelope(enc, w, env)
		// Batch whatever else is queued into the same flush.
		for err == nil && len(o.queue) > 0 && w.Buffered() < 1<<20 {
			next := <-o.queue
			batch = append(batch, next)
			_ = s.SetWriteDeadline(time.Now().Add(writeDeadline(next)))
			err = encodeEnvelope(enc, w, next)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			reset()
			m.dropped(o.peer, batch, fmt.Errorf("%w: write failed: %v", ErrUnreachable, err))
		}
	}
}

// SetDropHandler installs the function told about envelopes that could not
// be delivered (the peer could not be reached or the write failed), so that
// requests waiting for replies can fail at once instead of timing out.
// OnDisconnect calls fn (on its own goroutine) whenever the host loses its
// last connection to a peer: messages in flight to it will get no answer.
func (m *Host) OnDisconnect(fn func(p peer.ID)) {
	m.h.Network().Notify(&network.NotifyBundle{DisconnectedF: func(n network.Network, c network.Conn) {
		p := c.RemotePeer()
		if n.Connectedness(p) != network.Connected {
			go fn(p)
		}
	}})
}

func (m *Host) SetDropHandler(fn func(to peer.ID, env *Envelope, err error)) {
	m.mu.Lock()
	m.onDrop = fn
	m.mu.Unlock()
}

func (m *Host) dropped(to peer.ID, envs []*Envelope, err error) {
	m.log.Debug("messages to peer dropped", "peer", to, "count", len(envs), "err", err)
	m.mu.Lock()
	fn := m.onDrop
	m.mu.Unlock()
	if fn == nil {
		return
	}
	for _, env := range envs {
		fn(to, env, err)
	}
}
