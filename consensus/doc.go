// Package consensus runs hashicorp/raft over libp2p streams with its log and
// stable store on disk, and owns the replicated state machine (today: the
// mesh's membership) and leadership events.
//
// Raft server IDs and addresses are both libp2p peer IDs: the stream layer
// dials a peer ID and libp2p finds its addresses in the peerstore.
package consensus
