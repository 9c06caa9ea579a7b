// Package chaos is mesh's chaos suite: it starts meshes of real node
// processes on 127.0.0.1 (Cluster: each node its own port and data dir),
// runs workloads whose answers are known in advance (MapReduce, Chain,
// Scattered) through a futures client, injects faults (SIGKILL of a worker
// or the leader, SIGSTOP/SIGCONT, restart on the same data dir, network
// partitions through the nodes' test-only --chaos endpoint) on a seeded
// schedule (Scenario), and checks afterwards that every future resolved
// with the fault-free value, nothing replicated was lost, the live nodes
// agree on the leader and the membership, exactly one node schedules, no
// node crashed that was not killed, and the survivors' goroutine counts
// returned to their baseline (Run, Report).
//
// The node binary is chaos/chaosnode (the mesh command plus the workload
// functions registered by this package); BuildNode builds it. `go test
// ./chaos/` runs the short suite; `go run ./chaos/cmd/meshchaos` runs the
// whole suite or a soak and prints the table (make chaos, make soak).
// A failed check prints the seed, the fault timeline and the node logs;
// CHAOS_SEED reproduces the same fault schedule and workloads.
package chaos
