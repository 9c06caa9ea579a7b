package consensus

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// MemberState is a member's replicated state. Suspect is never replicated:
// it is the leader's failure detector's opinion, shown by status.
type MemberState string

// Member states.
const (
	Alive   MemberState = "alive"
	Suspect MemberState = "suspect"
	Dead    MemberState = "dead"
	Left    MemberState = "left"
)

// Member is one node of the mesh as the replicated state knows it.
type Member struct {
	ID      string      `msgpack:"id" json:"id"`
	Name    string      `msgpack:"name" json:"name"`
	Addrs   []string    `msgpack:"addrs" json:"addrs"`
	State   MemberState `msgpack:"state" json:"state"`
	Cores   int         `msgpack:"cores" json:"cores"`
	Threads int         `msgpack:"threads" json:"threads"`
	// Resources the member offers to tasks that ask for them (GPU: 2).
	Resources map[string]float64 `msgpack:"resources,omitempty" json:"resources,omitempty"`
	Memory    uint64             `msgpack:"memory" json:"memory"`
	Joined    time.Time          `msgpack:"joined" json:"joined"`
	// Incarnation is random per process: a member whose incarnation
	// changed was restarted, and whatever its last process held or ran
	// is gone even if no one saw it dead in between.
	Incarnation uint64    `msgpack:"inc,omitempty" json:"incarnation,omitempty"`
	Changed     time.Time `msgpack:"changed" json:"changed"`
}

// Membership is the replicated membership: every member ever seen (left and
// dead ones too, until they come back) and the voter count the mesh keeps.
type Membership struct {
	Voters  int                `msgpack:"voters"`
	Members map[string]*Member `msgpack:"members"`
}

// Clone returns a deep copy.
func (m Membership) Clone() Membership {
	out := Membership{Voters: m.Voters, Members: make(map[string]*Member, len(m.Members))}
	for id, mem := range m.Members {
		c := *mem
		c.Addrs = slices.Clone(mem.Addrs)
		out.Members[id] = &c
	}
	return out
}

// Sorted returns the members ordered by join time, then ID.
func (m Membership) Sorted() []*Member {
	out := slices.Collect(maps.Values(m.Members))
	slices.SortFunc(out, func(a, b *Member) int {
		if c := a.Joined.Compare(b.Joined); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

// Op names a state-machine command.
type Op string

// Commands.
const (
	OpInit  Op = "init"  // set the voter count (first entry of a new mesh)
	OpJoin  Op = "join"  // add or refresh a member; it becomes alive
	OpState Op = "state" // set a member's state (dead, alive, left)
)

// Command is one replicated log entry.
type Command struct {
	Op     Op          `msgpack:"op"`
	Voters int         `msgpack:"voters,omitempty"`
	Member *Member     `msgpack:"member,omitempty"`
	ID     string      `msgpack:"id,omitempty"`
	State  MemberState `msgpack:"state,omitempty"`
	At     time.Time   `msgpack:"at"` // the leader's clock when proposed: keeps apply deterministic

	// Graph commands.
	Client string     `msgpack:"client,omitempty"`
	Tasks  []TaskSpec `msgpack:"tasks,omitempty"`
	Data   []DataItem `msgpack:"data,omitempty"`
	Want   []string   `msgpack:"want,omitempty"`
	Keys   []string   `msgpack:"keys,omitempty"`
	Batch  []Command  `msgpack:"batch,omitempty"`
}

// ErrUnknownMember: a command names a member the state does not have.
var ErrUnknownMember = errors.New("unknown member")

// fsm applies commands to the membership.
type fsm struct {
	mu       sync.RWMutex
	state    Membership
	tasks    map[string]*TaskRecord
	onChange func(Membership)
}

func newFSM(onChange func(Membership)) *fsm {
	return &fsm{state: Membership{Members: map[string]*Member{}}, tasks: map[string]*TaskRecord{}, onChange: onChange}
}

// fsmSnapshot is what a snapshot holds. Its first fields are Membership's,
// so snapshots written before graphs were replicated still restore.
type fsmSnapshot struct {
	Voters  int                    `msgpack:"voters"`
	Members map[string]*Member     `msgpack:"members"`
	Tasks   map[string]*TaskRecord `msgpack:"tasks,omitempty"`
}

func (f *fsm) Apply(l *raft.Log) any {
	var c Command
	if err := msgpack.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("decode command at index %d: %w", l.Index, err)
	}
	f.mu.Lock()
	err := f.apply(c)
	var snap Membership
	if err == nil && f.onChange != nil && c.Op != OpSubmit && c.Op != OpRelease && c.Op != OpBatch {
		snap = f.state.Clone()
	}
	f.mu.Unlock()
	if err == nil && f.onChange != nil && snap.Members != nil {
		f.onChange(snap)
	}
	return err
}

func (f *fsm) apply(c Command) error {
	switch c.Op {
	case OpInit:
		f.state.Voters = c.Voters
	case OpJoin:
		if c.Member == nil {
			return errors.New("join without member")
		}
		m := *c.Member
		m.Addrs = slices.Clone(c.Member.Addrs)
		if old, ok := f.state.Members[m.ID]; ok {
			m.Joined = old.Joined
		} else {
			m.Joined = c.At
		}
		m.State, m.Changed = Alive, c.At
		f.state.Members[m.ID] = &m
	case OpState:
		m, ok := f.state.Members[c.ID]
		if !ok {
			return fmt.Errorf("%w %s", ErrUnknownMember, c.ID)
		}
		if m.State != c.State {
			m.State, m.Changed = c.State, c.At
		}
	case OpSubmit, OpRelease:
		f.applyGraph(c)
	case OpBatch:
		for _, sub := range c.Batch {
			if sub.Op == OpBatch {
				return errors.New("nested batch")
			}
			if err := f.apply(sub); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown command %q", c.Op)
	}
	return nil
}

// Membership returns a copy of the current state.
func (f *fsm) Membership() Membership {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	data, err := msgpack.Marshal(fsmSnapshot{Voters: f.state.Voters, Members: f.state.Members, Tasks: f.tasks})
	if err != nil {
		return nil, err
	}
	return snapshot(data), nil
}

func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	var snapData fsmSnapshot
	if err := msgpack.NewDecoder(r).Decode(&snapData); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	st := Membership{Voters: snapData.Voters, Members: snapData.Members}
	if st.Members == nil {
		st.Members = map[string]*Member{}
	}
	if snapData.Tasks == nil {
		snapData.Tasks = map[string]*TaskRecord{}
	}
	f.mu.Lock()
	f.state = st
	f.tasks = snapData.Tasks
	snap := st.Clone()
	f.mu.Unlock()
	if f.onChange != nil {
		f.onChange(snap)
	}
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}
