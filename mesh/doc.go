// Package mesh owns a node's libp2p host: its persistent Ed25519 identity, the
// cluster secret that makes the mesh a private network, the TCP transport with
// TLS and yamux, connections to peers, and the msgpack wire protocol that
// carries actor messages between nodes.
//
// It imports nothing else of this module; every higher layer builds on it.
package mesh
