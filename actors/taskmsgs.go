package actors

import (
	"bytes"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/meshcompute/mesh/consensus"
	"github.com/meshcompute/mesh/mesh"
)

// Actor ids of the task runtime, the same on every node.
const (
	WorkerID = "node/worker"
	StoreID  = "node/store"
	// ClientUpdatesID is the id of the process in a client that receives
	// TaskUpdates from the scheduler.
	ClientUpdatesID = "client/updates"
	// FireAndForgetClient is the wanter that keeps a task alive until it
	// finishes, whatever its clients do.
	FireAndForgetClient = "fire-and-forget"
)

// Task states as the client sees them.
const (
	StateMemory    = "memory"
	StateErred     = "erred"
	StateCancelled = "cancelled"
)

// Failure kinds.
const (
	FailError      = "error"        // the function returned an error
	FailPanic      = "panic"        // the function panicked
	FailArgs       = "args"         // arguments could not be decoded
	FailUnknown    = "unknown-func" // no such function on the worker
	FailDependency = "dependency"   // a dependency erred
	// FailUnknownInput: a submitted task reads a key the scheduler does not
	// know (its submission died unreplicated with a leader, or it was
	// released). The task is not recorded: the client may submit it again
	// with its inputs.
	FailUnknownInput = "unknown-input"
	FailKilled       = "killed-workers"
	FailLost         = "lost" // scattered data lost with all its holders
	FailCancelled    = "cancelled"
)

// TaskFailure says why a task erred.
type TaskFailure struct {
	Kind    string `msgpack:"kind"`
	Message string `msgpack:"msg"`
	Stack   string `msgpack:"stack,omitempty"`
	Worker  string `msgpack:"worker,omitempty"`
}

// SubmitTasks adds tasks to the graph. Client is the id of the client's
// update process on the client's node; Want lists the keys the client holds
// futures for (it is told when they finish).
type SubmitTasks struct {
	Client string               `msgpack:"c"`
	Tasks  []consensus.TaskSpec `msgpack:"t"`
	Want   []string             `msgpack:"w"`
	// Data registers scattered values already stored (and replicated).
	Data []DataItem `msgpack:"d,omitempty"`
	// More: another part of the same submission follows (a big one goes in
	// chunks, inputs first). The scheduler keeps this part's tasks and
	// values, wanted or not, until the client's next part, so that an
	// input nobody wants yet is not finished and forgotten before the task
	// that reads it arrives.
	More bool `msgpack:"m,omitempty"`
}

// DataItem is a stored value that has no lineage.
type DataItem = consensus.DataItem

// SubmitAck answers SubmitTasks: Rejected lists tasks refused at once.
type SubmitAck struct {
	Rejected []KeyFailure `msgpack:"r,omitempty"`
}

// KeyFailure is a task that erred, with why.
type KeyFailure struct {
	Key     string       `msgpack:"k"`
	Failure *TaskFailure `msgpack:"f"`
}

// TaskUpdate tells a client a wanted task finished.
type TaskUpdate struct {
	_msgpack struct{}     `msgpack:",as_array"`
	Key      string       `msgpack:"k"`
	State    string       `msgpack:"s"`
	Holders  []string     `msgpack:"h,omitempty"`
	Size     int64        `msgpack:"z,omitempty"`
	Failure  *TaskFailure `msgpack:"f,omitempty"`
	Inline   []byte       `msgpack:"v,omitempty"` // the value, when small and just computed
}

// TaskUpdates is a batch of TaskUpdate.
type TaskUpdates struct {
	Updates []TaskUpdate `msgpack:"u"`
}

// ReleaseKeys tells the scheduler a client no longer needs these keys;
// Cancel also stops them if they have not finished.
type ReleaseKeys struct {
	Client string   `msgpack:"c"`
	Keys   []string `msgpack:"k"`
	Cancel bool     `msgpack:"x,omitempty"`
}

// ReleaseAck answers ReleaseKeys.
type ReleaseAck struct{}

// Assignment is one task for a worker, with where its inputs are.
type Assignment struct {
	_msgpack struct{}            `msgpack:",as_array"`
	Spec     consensus.TaskSpec  `msgpack:"s"`
	Deps     map[string][]string `msgpack:"d,omitempty"` // key -> holders
	Replicas []string            `msgpack:"r,omitempty"` // where to copy the result
	// Gen identifies this run of the task (the scheduler's term and a
	// sequence): its value is stored with it, and a drop of an earlier
	// run's value (DropValues.Gens) leaves it alone.
	Gen uint64 `msgpack:"g,omitempty"`
}

// ComputeUndelivered tells the local scheduler that a Compute for Worker
// never left this node (the peer could not be reached: a worker restarted
// on the same address, still behind the dial backoff): its tasks are placed
// again instead of waiting on a worker that never got them. Local only.
type ComputeUndelivered struct {
	Worker string
	Keys   []string
}

// computeMessage is Compute's registered name.
const computeMessage = "mesh.Compute"

// Compute gives a worker tasks to run.
type Compute struct {
	Tasks []Assignment `msgpack:"t"`
}

// TaskResult reports one finished task.
type TaskResult struct {
	_msgpack struct{}     `msgpack:",as_array"`
	Key      string       `msgpack:"k"`
	Size     int64        `msgpack:"z"`
	Holders  []string     `msgpack:"h"`
	Failure  *TaskFailure `msgpack:"f,omitempty"`
	// Missing lists inputs no holder could serve.
	Missing []string `msgpack:"m,omitempty"`
	// Micros is how long the function ran.
	Micros int64 `msgpack:"us,omitempty"`
	// Inline carries a small value (at most InlineMax bytes) so that the
	// client that wants it needs no fetch.
	Inline []byte `msgpack:"v,omitempty"`
	// Gen is the Assignment's Gen.
	Gen uint64 `msgpack:"g,omitempty"`
}

// InlineMax is the largest value that travels inline with its completion.
const InlineMax = 1024

// TasksFinished is a worker's batch of results.
type TasksFinished struct {
	Worker  string       `msgpack:"w"`
	Results []TaskResult `msgpack:"r"`
	// Bandwidth is the worker's measured fetch rate, bytes per second
	// (0: not measured yet; bandwidth.go).
	Bandwidth float64 `msgpack:"bw,omitempty"`
}

// ReplicasStored tells the scheduler that Holder acknowledged copies of
// Worker's results after the batch's TasksFinished had left without them
// (the copy took longer than the report may wait). Gens beside Keys.
type ReplicasStored struct {
	Worker string   `msgpack:"w"`
	Holder string   `msgpack:"h"`
	Keys   []string `msgpack:"k"`
	Gens   []uint64 `msgpack:"g"`
}

// RetireRequest asks the leader's scheduler to drain Worker before it
// leaves: answered with RetireReply, asked again until Done.
type RetireRequest struct {
	Worker string `msgpack:"w"`
}

// RetireReply says how far the drain is: tasks still running on the
// worker and values of which it holds the only copy.
type RetireReply struct {
	Done       bool `msgpack:"d"`
	Running    int  `msgpack:"r"`
	SoleCopies int  `msgpack:"s"`
	// Nowhere: every worker is leaving, so nothing can move; Done is set
	// and Running and SoleCopies say what is lost with the mesh.
	Nowhere bool `msgpack:"n,omitempty"`
}

// PushValues asks a retiring worker to copy values to other workers (To
// beside Keys and Gens), then report them with ReplicasStored.
type PushValues struct {
	Keys []string `msgpack:"k"`
	Gens []uint64 `msgpack:"g"`
	To   []string `msgpack:"t"`
}

// FetchValues asks a store for values.
type FetchValues struct {
	Keys []string `msgpack:"k"`
}

// FetchReply answers FetchValues, in order; Missing names keys not held.
type FetchReply struct {
	Values  [][]byte `msgpack:"v"`
	Missing []string `msgpack:"m,omitempty"`
}

// EncodeParts gives the FetchReply's msgpack encoding (a map of "v" and,
// when not empty, "m") as headers and the values themselves
// (mesh.PartsEncoder): a reply of many megabytes is written to the wire
// without being copied into one buffer first.
func (m *FetchReply) EncodeParts() ([][]byte, error) {
	p := newPartsWriter(len(m.Values))
	fields := 1
	if len(m.Missing) > 0 {
		fields = 2
	}
	p.mapLen(fields)
	p.field("v")
	p.values(m.Values)
	if fields == 2 {
		p.field("m")
		p.value(m.Missing)
	}
	return p.done()
}

// partsWriter builds a message's msgpack encoding as parts: small headers
// it encodes, and byte values by reference (PartsEncoder).
type partsWriter struct {
	hdr   bytes.Buffer
	enc   *msgpack.Encoder
	parts [][]byte
	err   error
}

func newPartsWriter(values int) *partsWriter {
	p := &partsWriter{parts: make([][]byte, 0, 2*values+2)}
	p.enc = msgpack.NewEncoder(&p.hdr)
	return p
}

func (p *partsWriter) cut() {
	if p.hdr.Len() > 0 {
		p.parts = append(p.parts, bytes.Clone(p.hdr.Bytes()))
		p.hdr.Reset()
	}
}

func (p *partsWriter) mapLen(n int) {
	if p.err == nil {
		p.err = p.enc.EncodeMapLen(n)
	}
}

func (p *partsWriter) field(name string) {
	if p.err == nil {
		p.err = p.enc.EncodeString(name)
	}
}

// value encodes v as msgpack would (small values only: it is copied).
func (p *partsWriter) value(v any) {
	if p.err == nil {
		p.err = p.enc.Encode(v)
	}
}

// values encodes a [][]byte with each value by reference.
func (p *partsWriter) values(vs [][]byte) {
	if p.err != nil {
		return
	}
	if vs == nil {
		p.err = p.enc.EncodeNil()
		return
	}
	if p.err = p.enc.EncodeArrayLen(len(vs)); p.err != nil {
		return
	}
	for _, v := range vs {
		if v == nil {
			if p.err = p.enc.EncodeNil(); p.err != nil {
				return
			}
			continue
		}
		if p.err = p.enc.EncodeBytesLen(len(v)); p.err != nil {
			return
		}
		p.cut()
		if len(v) > 0 {
			p.parts = append(p.parts, v)
		}
	}
}

func (p *partsWriter) done() ([][]byte, error) {
	p.cut()
	return p.parts, p.err
}

// DecodeBody decodes a FetchReply encoded by msgpack (a map of "v" and
// "m") with its values aliasing body: a reply of many megabytes is not
// copied once more after it was read off the wire (mesh.BodyDecoder).
func (m *FetchReply) DecodeBody(body []byte) error {
	r := bytes.NewReader(body)
	dec := msgpack.NewDecoder(r)
	n, err := dec.DecodeMapLen()
	if err != nil {
		return err
	}
	for range max(n, 0) {
		key, err := dec.DecodeString()
		if err != nil {
			return err
		}
		switch key {
		case "v":
			vn, err := dec.DecodeArrayLen()
			if err != nil {
				return err
			}
			if vn < 0 {
				m.Values = nil
				continue
			}
			m.Values = make([][]byte, vn)
			for i := range vn {
				c, err := dec.PeekCode()
				if err != nil {
					return err
				}
				if c == msgpcode.Nil {
					if err := dec.DecodeNil(); err != nil {
						return err
					}
					continue
				}
				ln, err := dec.DecodeBytesLen()
				if err != nil {
					return err
				}
				at := len(body) - r.Len()
				if ln < 0 || at+ln > len(body) {
					return fmt.Errorf("fetch reply: value %d of %d bytes overruns the %d-byte body", i, ln, len(body))
				}
				m.Values[i] = body[at : at+ln : at+ln]
				if _, err := r.Seek(int64(ln), io.SeekCurrent); err != nil {
					return err
				}
			}
		case "m":
			if err := dec.Decode(&m.Missing); err != nil {
				return err
			}
		default:
			if err := dec.Skip(); err != nil {
				return err
			}
		}
	}
	return nil
}

// SizeHint: the values and a little per value.
func (m *FetchReply) SizeHint() int { return valuesSize(m.Values) + 16*len(m.Missing) + 16 }

func valuesSize(vs [][]byte) int {
	n := 0
	for _, v := range vs {
		n += len(v) + 5
	}
	return n
}

// EncodeParts gives StoreValues' msgpack encoding with the values by
// reference (mesh.PartsEncoder): replicas are written to the wire without
// being copied into one buffer first.
func (m *StoreValues) EncodeParts() ([][]byte, error) {
	p := newPartsWriter(len(m.Values))
	fields := 2
	if len(m.Replicas) > 0 {
		fields++
	}
	if len(m.Gens) > 0 {
		fields++
	}
	p.mapLen(fields)
	p.field("k")
	p.value(m.Keys)
	p.field("v")
	p.values(m.Values)
	if len(m.Replicas) > 0 {
		p.field("r")
		p.value(m.Replicas)
	}
	if len(m.Gens) > 0 {
		p.field("g")
		p.value(m.Gens)
	}
	return p.done()
}

// StoreValues puts replicas (or scattered data) into a store.
type StoreValues struct {
	Keys   []string `msgpack:"k"`
	Values [][]byte `msgpack:"v"`
	// Replicas asks the receiving store to copy the values on to these
	// nodes before it answers (used by Scatter).
	Replicas []string `msgpack:"r,omitempty"`
	// Gens: the generation of each value (Assignment.Gen; absent or 0 for
	// scattered data).
	Gens []uint64 `msgpack:"g,omitempty"`
}

// SizeHint: the values, keys and a little more.
func (m *StoreValues) SizeHint() int {
	n := valuesSize(m.Values) + 16
	for _, k := range m.Keys {
		n += len(k) + 5
	}
	return n + 64*len(m.Replicas)
}

// StoreAck answers StoreValues with the nodes that hold the values.
type StoreAck struct {
	Holders []string `msgpack:"h"`
}

// DropValues tells a store to forget keys.
type DropValues struct {
	Keys []string `msgpack:"k"`
	// Term is the Raft term of the scheduler that sends it: a worker that
	// knows a later term ignores it (a leader paused past an election
	// drops values by its stale graph before it learns it was deposed).
	Term uint64 `msgpack:"t,omitempty"`
	// Gens, beside Keys: the generation of the value to drop (0: whatever
	// is stored). A store holding a later generation of the key — the task
	// ran again after it was released, and its new value reached the store
	// before this drop did — keeps it.
	Gens []uint64 `msgpack:"g,omitempty"`
}

// HoldingsRequest asks a worker what it holds and runs: a new leader's
// scheduler rebuilds its view from the answers.
type HoldingsRequest struct{}

// Holdings answers HoldingsRequest.
type Holdings struct {
	Worker  string   `msgpack:"w"`
	Keys    []string `msgpack:"k"`
	Sizes   []int64  `msgpack:"s"`
	Running []string `msgpack:"r"`
	// Gens beside Keys: each value's generation (0: none).
	Gens []uint64 `msgpack:"g,omitempty"`
}

// TaskProbe asks a worker about tasks the scheduler has it running for a
// while: messages are best effort, and a Compute that never arrived or a
// TasksFinished that never left would otherwise leave a task processing
// forever. Gens beside Keys: the runs asked about.
type TaskProbe struct {
	Keys []string `msgpack:"k"`
	Gens []uint64 `msgpack:"g"`
}

// TaskProbeReply answers TaskProbe: of the keys asked, those queued or
// running on the worker, and those whose value it holds (with size and
// generation).
type TaskProbeReply struct {
	Worker  string   `msgpack:"w"`
	Running []string `msgpack:"r"`
	Held    []string `msgpack:"h"`
	Sizes   []int64  `msgpack:"s"`
	Gens    []uint64 `msgpack:"g"`
}

// ValuesMissing tells the scheduler that holders it named for keys
// answered a client's fetch without them (Holders beside Keys): a value
// can be gone from a holder the scheduler still counts (a stale report of
// what a worker held). The scheduler forgets those holders and, when none
// is left, computes the value again from its lineage.
type ValuesMissing struct {
	Keys    []string   `msgpack:"k"`
	Holders [][]string `msgpack:"h"`
}

// StealRequest asks a worker to give up tasks it has not started: the
// scheduler has an idle worker for them.
type StealRequest struct {
	Keys []string `msgpack:"k"`
}

// StealReply is the worker's answer, sent to the leader's scheduler: Gave
// will not run here; Kept have started (or finished) and stay.
type StealReply struct {
	Worker string   `msgpack:"w"`
	Gave   []string `msgpack:"g"`
	Kept   []string `msgpack:"k"`
}

func init() {
	mesh.RegisterMessage[HoldingsRequest]("mesh.HoldingsRequest")
	mesh.RegisterMessage[Holdings]("mesh.Holdings")
	mesh.RegisterMessage[TaskProbe]("mesh.TaskProbe")
	mesh.RegisterMessage[ReplicasStored]("mesh.ReplicasStored")
	mesh.RegisterMessage[RetireRequest]("mesh.RetireRequest")
	mesh.RegisterMessage[RetireReply]("mesh.RetireReply")
	mesh.RegisterMessage[PushValues]("mesh.PushValues")
	mesh.RegisterMessage[TaskProbeReply]("mesh.TaskProbeReply")
	mesh.RegisterMessage[SubmitTasks]("mesh.SubmitTasks")
	mesh.RegisterMessage[SubmitAck]("mesh.SubmitAck")
	mesh.RegisterMessage[TaskUpdates]("mesh.TaskUpdates")
	mesh.RegisterMessage[ReleaseKeys]("mesh.ReleaseKeys")
	mesh.RegisterMessage[ValuesMissing]("mesh.ValuesMissing")
	mesh.RegisterMessage[ReleaseAck]("mesh.ReleaseAck")
	mesh.RegisterMessage[Compute](computeMessage)
	mesh.RegisterMessage[TasksFinished]("mesh.TasksFinished")
	mesh.RegisterMessage[FetchValues]("mesh.FetchValues")
	mesh.RegisterBulkMessage[FetchReply]("mesh.FetchReply")
	mesh.RegisterBulkMessage[StoreValues]("mesh.StoreValues")
	mesh.RegisterMessage[StoreAck]("mesh.StoreAck")
	mesh.RegisterMessage[DropValues]("mesh.DropValues")
	mesh.RegisterMessage[StealRequest]("mesh.StealRequest")
	mesh.RegisterMessage[StealReply]("mesh.StealReply")
}
