// Package actors holds the protoactor-go actors every mesh node runs — the
// node supervisor, membership, and the scheduler that is alive only on the
// Raft leader — and the bridge that lets an actor message an actor on
// another node: a PID whose Address is a libp2p peer ID resolves to a process
// that writes msgpack envelopes to that peer.
//
// Node assembles a whole node: libp2p host, Raft, actor system and actors.
package actors
