package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/meshcompute/mesh/actors"
)

// The mesh-wide views built from every member's activity (task stream,
// events) and from the leader scheduler's groups and graph.

// Bounds of the activity endpoints.
const (
	// DefaultStreamWindow: /api/v1/taskstream without since returns the
	// tasks that ended in the last DefaultStreamWindow.
	DefaultStreamWindow = 20 * time.Second
	// DefaultStreamLimit and MaxStreamLimit bound the entries asked of
	// each member.
	DefaultStreamLimit = 2000
	MaxStreamLimit     = 8192
	// DefaultLogLimit and MaxLogLimit bound the events returned.
	DefaultLogLimit = 200
	MaxLogLimit     = 512
	// DefaultGraphLimit: the tasks /api/v1/graph lists at most without
	// ?limit (at most actors.MaxGraphLimit).
	DefaultGraphLimit = 1000
	// memberTimeout bounds the wait for one member's activity.
	memberTimeout = 2 * time.Second
)

// Groups is the JSON of /api/v1/groups.
type Groups struct {
	Leader  string              `json:"leader"`
	Term    uint64              `json:"term"`
	Stale   bool                `json:"stale"`
	Groups  []actors.GroupCount `json:"groups"`
	Omitted int                 `json:"groups_omitted"`
}

func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) {
	st := s.statusOr503(w, r)
	if st == nil {
		return
	}
	out := Groups{Leader: st.Leader, Term: st.Term, Stale: st.Stale, Groups: st.Groups, Omitted: st.GroupsOmitted}
	if out.Groups == nil {
		out.Groups = []actors.GroupCount{}
	}
	writeJSON(w, http.StatusOK, out)
}

// StreamWorker is one worker of the task stream: its rows are its threads.
type StreamWorker struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Threads int    `json:"threads"`
}

// TaskStream is the JSON of /api/v1/taskstream and of the "taskstream"
// event: the tasks every member's worker ran (oldest first), times in unix
// microseconds.
type TaskStream struct {
	Now     int64                `json:"now"`
	Since   int64                `json:"since"`
	Workers []StreamWorker       `json:"workers"`
	Entries []actors.StreamEntry `json:"entries"`
	// Errors: members that did not answer.
	Errors []string `json:"errors"`
}

// Logs is the JSON of /api/v1/logs and of the "logs" event: events of
// every member, merged (an event several nodes saw once), newest first.
type Logs struct {
	Now    int64          `json:"now"`
	Events []actors.Event `json:"events"`
	Errors []string       `json:"errors"`
}

// intParam reads a non-negative integer query parameter (def when absent).
func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("query parameter %s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

func badRequest(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}

// activity asks every live member for its activity and merges the answers.
func (s *Server) activity(ctx context.Context, req actors.ActivityRequest) (*TaskStream, *Logs) {
	acts, errs := s.node.Activity(ctx, req, memberTimeout)
	now := time.Now().UnixMicro()
	ts := &TaskStream{Now: now, Since: req.StreamSince, Workers: []StreamWorker{}, Entries: []actors.StreamEntry{}, Errors: []string{}}
	logs := &Logs{Now: now, Events: []actors.Event{}, Errors: []string{}}
	for _, err := range errs {
		ts.Errors = append(ts.Errors, err.Error())
		logs.Errors = append(logs.Errors, err.Error())
	}
	members := s.node.Raft().Membership().Members
	seen := map[string]int{} // dedup key -> index in logs.Events
	for _, a := range acts {
		name := a.Node
		if m, ok := members[a.Node]; ok {
			name = m.Name
		}
		ts.Workers = append(ts.Workers, StreamWorker{ID: a.Node, Name: name, Threads: a.Threads})
		for _, e := range a.Stream {
			e.Worker = a.Node
			ts.Entries = append(ts.Entries, e)
		}
		for _, e := range a.Events {
			k := eventKey(&e)
			if i, ok := seen[k]; ok {
				if e.Time < logs.Events[i].Time {
					logs.Events[i] = e
				}
				continue
			}
			seen[k] = len(logs.Events)
			logs.Events = append(logs.Events, e)
		}
	}
	slices.SortFunc(ts.Workers, func(a, b StreamWorker) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	slices.SortFunc(ts.Entries, func(a, b actors.StreamEntry) int { return cmp.Compare(a.Stop, b.Stop) })
	slices.SortFunc(logs.Events, func(a, b actors.Event) int { return cmp.Compare(b.Time, a.Time) })
	if len(logs.Events) > req.EventLimit {
		logs.Events = logs.Events[:req.EventLimit]
	}
	return ts, logs
}

// eventKey identifies an event that several nodes record: a membership
// change (replicated, the same time everywhere) or a leader in a term.
func eventKey(e *actors.Event) string {
	switch e.Kind {
	case actors.EventLeader:
		return e.Kind + "\x00" + e.Subject + "\x00" + strconv.FormatUint(e.Term, 10)
	case actors.EventJoined, actors.EventDead, actors.EventAlive, actors.EventLeft:
		return e.Kind + "\x00" + e.Subject + "\x00" + strconv.FormatInt(e.Time, 10)
	default:
		return e.Node + "\x00" + e.Kind + "\x00" + e.Subject + "\x00" + strconv.FormatInt(e.Time, 10) + "\x00" + e.Message
	}
}

// apiTaskStream: /api/v1/taskstream?since=MICROS&limit=N.
func (s *Server) apiTaskStream(w http.ResponseWriter, r *http.Request) {
	since, err := intParam(r, "since", time.Now().Add(-DefaultStreamWindow).UnixMicro())
	if err != nil {
		badRequest(w, err)
		return
	}
	limit, err := intParam(r, "limit", DefaultStreamLimit)
	if err != nil {
		badRequest(w, err)
		return
	}
	ts, _ := s.activity(r.Context(), actors.ActivityRequest{StreamSince: since, StreamLimit: int(min(max(limit, 1), MaxStreamLimit))})
	writeJSON(w, http.StatusOK, ts)
}

// apiLogs: /api/v1/logs?since=MICROS&limit=N&kind=K.
func (s *Server) apiLogs(w http.ResponseWriter, r *http.Request) {
	since, err := intParam(r, "since", 0)
	if err != nil {
		badRequest(w, err)
		return
	}
	limit, err := intParam(r, "limit", DefaultLogLimit)
	if err != nil {
		badRequest(w, err)
		return
	}
	limit = min(max(limit, 1), MaxLogLimit)
	kind := r.URL.Query().Get("kind")
	req := actors.ActivityRequest{EventsSince: since, EventLimit: int(limit)}
	if kind != "" {
		req.EventLimit = MaxLogLimit // filtered below
	}
	_, logs := s.activity(r.Context(), req)
	if kind != "" {
		logs.Events = slices.DeleteFunc(logs.Events, func(e actors.Event) bool { return e.Kind != kind })
		logs.Events = logs.Events[:min(len(logs.Events), int(limit))]
	}
	writeJSON(w, http.StatusOK, logs)
}

// apiGraph: /api/v1/graph?limit=N, the leader scheduler's graph (bounded).
func (s *Server) apiGraph(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", DefaultGraphLimit)
	if err != nil {
		badRequest(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	gv, err := s.node.Graph(ctx, int(min(max(limit, 1), actors.MaxGraphLimit)))
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("ask the leader's scheduler for its graph: %v", err)})
		return
	}
	if gv.Tasks == nil {
		gv.Tasks = []actors.GraphTask{}
	}
	if gv.Groups == nil {
		gv.Groups = []actors.GroupCount{}
	}
	if gv.GroupEdges == nil {
		gv.GroupEdges = []actors.GroupEdge{}
	}
	writeJSON(w, http.StatusOK, gv)
}
