// Package mesh owns a node's libp2p host: its persistent Ed25519 identity, the
// cluster secret that only members know (mixed into every Noise handshake),
// the TCP transport with Noise and yamux, connections to peers, and the msgpack wire protocol that
// carries actor messages between nodes.
//
// It imports nothing else of this module; every higher layer builds on it.
package mesh
