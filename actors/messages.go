package actors

import (
	"fmt"
	"time"

	"github.com/meshcompute/mesh/consensus"
	"github.com/meshcompute/mesh/mesh"
)

// Well-known actor ids, the same on every node.
const (
	SupervisorID = "node"
	MembershipID = "node/membership"
	SchedulerID  = "node/scheduler"
)

// ErrorReply answers a request that failed on the remote side.
type ErrorReply struct {
	Code    string `msgpack:"code"`
	Message string `msgpack:"msg"`
}

// Error codes carried by ErrorReply.
const (
	CodeNoActor  = "no_actor"
	CodeNoLeader = "no_leader"
	CodeFailed   = "failed"
	// CodeUnreachable: the message could not be delivered to its node.
	CodeUnreachable = "unreachable"
)

func (e *ErrorReply) Error() string { return e.Message }

// Ping is the leader's heartbeat probe; Pong answers it with the node's
// current resources.
type Ping struct {
	From string `msgpack:"from"`
}

// Pong answers Ping.
type Pong struct {
	ID      string `msgpack:"id"`
	Cores   int    `msgpack:"cores"`
	Memory  uint64 `msgpack:"mem"`
	MemUsed uint64 `msgpack:"mem_used"`
	RSS     uint64 `msgpack:"rss"` // the node process's resident memory
	// The worker's load (zero from nodes built before these fields).
	Threads      int   `msgpack:"threads,omitempty"`
	Running      int   `msgpack:"running,omitempty"`
	Assigned     int   `msgpack:"assigned,omitempty"`
	StoreBytes   int64 `msgpack:"store_bytes,omitempty"`
	SpilledBytes int64 `msgpack:"spilled_bytes,omitempty"`
	// CPU: the node process's CPU use in percent of one core (over the
	// last second or more); MemoryLimit: its store's --memory-limit.
	CPU         float64 `msgpack:"cpu,omitempty"`
	MemoryLimit int64   `msgpack:"mem_limit,omitempty"`
}

// JoinRequest asks the leader to admit (or re-admit) a member.
type JoinRequest struct {
	Member    consensus.Member `msgpack:"member"`
	Forwarded bool             `msgpack:"fwd"`
}

// JoinReply tells a new member who leads and who the members are.
type JoinReply struct {
	Leader  string              `msgpack:"leader"`
	Members []*consensus.Member `msgpack:"members"`
	Voter   bool                `msgpack:"voter"`
}

// LeaveRequest asks the leader to remove a member at once.
type LeaveRequest struct {
	ID        string `msgpack:"id"`
	Forwarded bool   `msgpack:"fwd"`
}

// LeaveReply acknowledges LeaveRequest.
type LeaveReply struct{}

// StatusRequest asks for the mesh's status. A follower forwards it to the
// leader unless Local is set.
type StatusRequest struct {
	Local bool `msgpack:"local"`
}

// MemberStatus is one row of the status.
type MemberStatus struct {
	ID       string   `msgpack:"id" json:"id"`
	Name     string   `msgpack:"name" json:"name"`
	Addrs    []string `msgpack:"addrs" json:"addrs"`
	Role     string   `msgpack:"role" json:"role"`   // voter, nonvoter, none
	State    string   `msgpack:"state" json:"state"` // alive, suspect, dead, left
	Leader   bool     `msgpack:"leader" json:"leader"`
	Cores    int      `msgpack:"cores" json:"cores"`
	Memory   uint64   `msgpack:"memory" json:"memory"`
	LastSeen string   `msgpack:"last_seen" json:"last_seen,omitempty"`
	// RSS is the node process's resident memory, as last reported.
	RSS uint64 `msgpack:"rss" json:"rss"`
	// The worker's load, as last reported: threads, tasks running now,
	// tasks given to it and not yet reported, bytes of values its store
	// holds in memory and spilled to disk.
	Threads      int   `msgpack:"threads,omitempty" json:"threads"`
	Running      int   `msgpack:"running,omitempty" json:"running"`
	Assigned     int   `msgpack:"assigned,omitempty" json:"assigned"`
	StoreBytes   int64 `msgpack:"store_bytes,omitempty" json:"store_bytes"`
	SpilledBytes int64 `msgpack:"spilled_bytes,omitempty" json:"spilled_bytes"`
	// CPU is the node process's CPU use in percent of one core;
	// MemoryLimit its store's memory limit in bytes (0: none, values
	// never spill).
	CPU         float64 `msgpack:"cpu,omitempty" json:"cpu"`
	MemoryLimit int64   `msgpack:"mem_limit,omitempty" json:"memory_limit"`
}

// Status is the mesh as one node (normally the leader) sees it.
type Status struct {
	Leader      string         `msgpack:"leader" json:"leader"`
	Term        uint64         `msgpack:"term" json:"term"`
	CommitIndex uint64         `msgpack:"commit" json:"commit_index"`
	Voters      int            `msgpack:"voters" json:"voters_target"`
	AnsweredBy  string         `msgpack:"by" json:"answered_by"`
	Stale       bool           `msgpack:"stale" json:"stale"` // the leader could not be asked; this is a follower's view
	Members     []MemberStatus `msgpack:"members" json:"members"`
	// Tasks counts the leader scheduler's tasks by state (empty when the
	// answering node does not run the scheduler).
	Tasks map[string]int `msgpack:"tasks,omitempty" json:"tasks"`
	// Groups counts them by task group and state, the oldest group first
	// (at most MaxStatusGroups; GroupsOmitted says how many more).
	Groups        []GroupCount `msgpack:"groups,omitempty" json:"groups"`
	GroupsOmitted int          `msgpack:"groups_omitted,omitempty" json:"groups_omitted"`
}

// MaxStatusGroups bounds the task groups a Status carries.
const MaxStatusGroups = 200

// SchedulerInfoRequest asks the scheduler actor about itself.
type SchedulerInfoRequest struct{}

// SchedulerInfo answers it: the scheduler runs only on the leader.
// It is also a client's heartbeat: a client that sends none for the
// leader's client timeout is gone and its keys are released.
type SchedulerInfo struct {
	Node  string    `msgpack:"node"`
	Term  uint64    `msgpack:"term"`
	Since time.Time `msgpack:"since"`
	// Tasks the scheduler knows, and clients it hears from.
	Tasks   int `msgpack:"tasks"`
	Clients int `msgpack:"clients"`
	// Expired: this scheduler released the asking client's keys because
	// it had not heard from it for the client timeout.
	Expired bool `msgpack:"expired,omitempty"`
}

// ExplainRequest asks the scheduler how it sees some tasks: why a future
// has not finished (what the task waits on, where it runs, who holds it).
type ExplainRequest struct {
	Keys []string `msgpack:"keys"`
}

// Explain answers an ExplainRequest.
type Explain struct {
	Node       string `msgpack:"node" json:"node"`
	Term       uint64 `msgpack:"term" json:"term"`
	Recovering bool   `msgpack:"recovering,omitempty" json:"recovering"`
	// Tasks in the order asked; an unknown key has State "unknown".
	Tasks []TaskExplanation `msgpack:"tasks" json:"tasks"`
}

// TaskExplanation is one task as the scheduler sees it.
type TaskExplanation struct {
	Key   string `msgpack:"key" json:"key"`
	State string `msgpack:"state" json:"state"`
	// Worker runs it (processing), Gen numbers that run.
	Worker  string   `msgpack:"worker,omitempty" json:"worker,omitempty"`
	Gen     uint64   `msgpack:"gen,omitempty" json:"gen,omitempty"`
	Holders []string `msgpack:"holders,omitempty" json:"holders,omitempty"`
	Size    int64    `msgpack:"size,omitempty" json:"size,omitempty"`
	// WaitingOn lists inputs not in memory yet, as "key=state".
	WaitingOn []string `msgpack:"waiting_on,omitempty" json:"waiting_on,omitempty"`
	Wanters   []string `msgpack:"wanters,omitempty" json:"wanters,omitempty"`
	Retries   int      `msgpack:"retries,omitempty" json:"retries,omitempty"`
	Pins      int      `msgpack:"pins,omitempty" json:"pins,omitempty"`
	Failure   string   `msgpack:"failure,omitempty" json:"failure,omitempty"`
	// Orphan: the graph does not know the key but a worker holds it.
	Orphan []string `msgpack:"orphan,omitempty" json:"orphan,omitempty"`
}

// ProgressRequest asks the scheduler how many of keys are done (a client's
// progress bar of a graph it submitted).
type ProgressRequest struct {
	Keys []string `msgpack:"k"`
}

// ProgressReply counts the keys asked: done (in memory, or computed and
// released since), erred, and unknown to the scheduler.
type ProgressReply struct {
	Done    int `msgpack:"d"`
	Erred   int `msgpack:"e"`
	Unknown int `msgpack:"u"`
}

// LeaveSelfRequest asks the node that receives it to leave the mesh
// gracefully and stop, as on SIGTERM (`mesh leave`).
type LeaveSelfRequest struct{}

// LeaveSelfReply: the node is leaving (draining first).
type LeaveSelfReply struct {
	Node string `msgpack:"node"`
}

// Echo is a request any node's supervisor answers with the same text; it
// exercises the remote path end to end.
type Echo struct {
	Text string `msgpack:"text"`
	From string `msgpack:"from"`
}

func init() {
	mesh.RegisterMessage[ErrorReply]("mesh.ErrorReply")
	mesh.RegisterMessage[Ping]("mesh.Ping")
	mesh.RegisterMessage[Pong]("mesh.Pong")
	mesh.RegisterMessage[JoinRequest]("mesh.JoinRequest")
	mesh.RegisterMessage[JoinReply]("mesh.JoinReply")
	mesh.RegisterMessage[LeaveRequest]("mesh.LeaveRequest")
	mesh.RegisterMessage[LeaveReply]("mesh.LeaveReply")
	mesh.RegisterMessage[StatusRequest]("mesh.StatusRequest")
	mesh.RegisterMessage[Status]("mesh.Status")
	mesh.RegisterMessage[SchedulerInfoRequest]("mesh.SchedulerInfoRequest")
	mesh.RegisterMessage[SchedulerInfo]("mesh.SchedulerInfo")
	mesh.RegisterMessage[Echo]("mesh.Echo")
	mesh.RegisterMessage[ExplainRequest]("mesh.ExplainRequest")
	mesh.RegisterMessage[LeaveSelfRequest]("mesh.LeaveSelfRequest")
	mesh.RegisterMessage[ProgressRequest]("mesh.ProgressRequest")
	mesh.RegisterMessage[ProgressReply]("mesh.ProgressReply")
	mesh.RegisterMessage[LeaveSelfReply]("mesh.LeaveSelfReply")
	mesh.RegisterMessage[Explain]("mesh.Explain")
	mesh.RegisterMessage[ActivityRequest]("mesh.ActivityRequest")
	mesh.RegisterMessage[Activity]("mesh.Activity")
	mesh.RegisterMessage[GraphRequest]("mesh.GraphRequest")
	mesh.RegisterMessage[GraphView]("mesh.GraphView")
}

// replyAs checks a reply's type: an ErrorReply becomes an error.
func replyAs[T any](reply any, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	switch r := reply.(type) {
	case *T:
		return r, nil
	case *ErrorReply:
		return nil, r
	default:
		var zero T
		return nil, fmt.Errorf("unexpected reply %T, want %T", reply, &zero)
	}
}
