// Package dashboard owns a node's HTTP endpoints: /health, Prometheus
// /metrics, the JSON API under /api/v1/ (with server-sent events), Go's
// pprof under /debug/pprof/, and the embedded status page at /.
//
// Every node serves them; pages that show the whole mesh ask the node's
// membership actor for the status, which a follower forwards to the
// leader, so any node's dashboard shows the same mesh.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshcompute/mesh/actors"
)

// AddrFile is the file in a node's data dir where `mesh join` writes the
// host:port its dashboard listens on.
const AddrFile = "dashboard-addr"

//go:embed static
var static embed.FS

// Config configures a Server. Zero values take the defaults.
type Config struct {
	Logger *slog.Logger
	// StatusTimeout bounds one status question to the mesh (default 7 s:
	// longer than a follower waits for an unreachable leader, 5 s, before
	// it answers with its own stale view).
	StatusTimeout time.Duration
	// EventInterval is the period of /api/v1/events (default 500 ms).
	EventInterval time.Duration
}

// Server serves one node's endpoints on one listener.
type Server struct {
	node *actors.Node
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server

	ctx    context.Context // cancelled by Close: ends event streams
	cancel context.CancelFunc
	serve  chan struct{} // closed when Serve has returned
	active sync.WaitGroup

	mu       sync.Mutex // serializes status questions; guards the cache
	cached   *actors.Status
	cachedAt time.Time

	closeOnce sync.Once
}

// Start serves node's endpoints on ln until Close. The server owns ln.
func Start(node *actors.Node, ln net.Listener, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = 7 * time.Second
	}
	if cfg.EventInterval <= 0 {
		cfg.EventInterval = 500 * time.Millisecond
	}
	s := &Server{node: node, cfg: cfg, log: cfg.Logger, ln: ln, serve: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.track(s.routes()),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.serve)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("dashboard stopped serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server: it closes the listener and every connection and
// waits for the handlers to return.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.cancel()
		err = s.srv.Close()
		<-s.serve
		s.active.Wait()
	})
	return err
}

// track counts running handlers so that Close can wait for them.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer s.active.Done()
		h.ServeHTTP(w, r)
	})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.node.Registry(), promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /api/v1/status", s.apiStatus)
	mux.HandleFunc("GET /api/v1/members", s.apiMembers)
	mux.HandleFunc("GET /api/v1/workers", s.apiWorkers)
	mux.HandleFunc("GET /api/v1/tasks", s.apiTasks)
	mux.HandleFunc("GET /api/v1/events", s.events)
	mux.HandleFunc("GET /api/v1/tasks/{key...}", s.apiExplain)
	mux.HandleFunc("GET /api/v1/groups", s.apiGroups)
	mux.HandleFunc("GET /api/v1/taskstream", s.apiTaskStream)
	mux.HandleFunc("GET /api/v1/graph", s.apiGraph)
	mux.HandleFunc("GET /api/v1/logs", s.apiLogs)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	for path, file := range map[string]string{"/{$}": "index.html", "/workers": "workers.html", "/graph": "graph.html", "/logs": "logs.html"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, file)
		})
	}
	return mux
}

// health answers 200 "ok" on a healthy node, 503 with the reason otherwise.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.node.Health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// status asks the mesh (through this node, which forwards to the leader)
// for its status; answers younger than half the event interval are
// shared, so many open pages cost the leader one question per period.
func (s *Server) status(ctx context.Context) (*actors.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && time.Since(s.cachedAt) < s.cfg.EventInterval/2 {
		return s.cached, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	defer cancel()
	st, err := s.node.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("ask node %s for the mesh's status: %w", s.node.ID(), err)
	}
	s.cached, s.cachedAt = st, time.Now()
	return st, nil
}

// statusOr503 returns the status, or answers 503 and returns nil.
func (s *Server) statusOr503(w http.ResponseWriter, r *http.Request) *actors.Status {
	st, err := s.status(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return nil
	}
	return st
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// View is the JSON of /api/v1/status and of each event: the mesh's status
// plus the answering node's identity and the tasks' total.
type View struct {
	*actors.Status
	// Node is the node whose dashboard answered.
	Node       string `json:"node"`
	TasksTotal int    `json:"tasks_total"`
}

func newView(node string, st *actors.Status) View {
	cp := *st // st may be shared with other requests: not modified
	if cp.Tasks == nil {
		cp.Tasks = map[string]int{}
	}
	v := View{Status: &cp, Node: node}
	for _, k := range cp.Tasks {
		v.TasksTotal += k
	}
	return v
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	if st := s.statusOr503(w, r); st != nil {
		writeJSON(w, http.StatusOK, newView(s.node.ID().String(), st))
	}
}

// Members is the JSON of /api/v1/members.
type Members struct {
	Leader  string                `json:"leader"`
	Term    uint64                `json:"term"`
	Stale   bool                  `json:"stale"`
	Members []actors.MemberStatus `json:"members"`
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	if st := s.statusOr503(w, r); st != nil {
		writeJSON(w, http.StatusOK, Members{Leader: st.Leader, Term: st.Term, Stale: st.Stale, Members: st.Members})
	}
}

// Worker is one row of /api/v1/workers.
type Worker struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	State        string  `json:"state"`
	Role         string  `json:"role"`
	Leader       bool    `json:"leader"`
	Threads      int     `json:"threads"`
	Running      int     `json:"running"`
	Assigned     int     `json:"assigned"`
	CPU          float64 `json:"cpu"`
	StoreBytes   int64   `json:"store_bytes"`
	MemoryLimit  int64   `json:"memory_limit"`
	SpilledBytes int64   `json:"spilled_bytes"`
	RSS          uint64  `json:"rss"`
	Cores        int     `json:"cores"`
	Memory       uint64  `json:"memory"`
}

// Workers is the JSON of /api/v1/workers: every member that has not left.
type Workers struct {
	Stale   bool     `json:"stale"`
	Workers []Worker `json:"workers"`
}

func (s *Server) apiWorkers(w http.ResponseWriter, r *http.Request) {
	st := s.statusOr503(w, r)
	if st == nil {
		return
	}
	out := Workers{Stale: st.Stale, Workers: []Worker{}}
	for _, m := range st.Members {
		if m.State == "left" {
			continue
		}
		out.Workers = append(out.Workers, Worker{ID: m.ID, Name: m.Name, State: m.State, Role: m.Role, Leader: m.Leader, Threads: m.Threads,
			Running: m.Running, Assigned: m.Assigned, CPU: m.CPU, StoreBytes: m.StoreBytes, MemoryLimit: m.MemoryLimit,
			SpilledBytes: m.SpilledBytes, RSS: m.RSS, Cores: m.Cores, Memory: m.Memory})
	}
	writeJSON(w, http.StatusOK, out)
}

// Tasks is the JSON of /api/v1/tasks: the leader scheduler's tasks by
// state (every state present, zero included).
type Tasks struct {
	Leader string         `json:"leader"`
	Term   uint64         `json:"term"`
	Stale  bool           `json:"stale"`
	Total  int            `json:"total"`
	States map[string]int `json:"states"`
}

// TaskStates are the scheduler's task states, in the order of a task's life.
var TaskStates = []string{"waiting", "queued", "processing", "memory", "erred", "released"}

func (s *Server) apiTasks(w http.ResponseWriter, r *http.Request) {
	st := s.statusOr503(w, r)
	if st == nil {
		return
	}
	out := Tasks{Leader: st.Leader, Term: st.Term, Stale: st.Stale, States: map[string]int{}}
	for _, name := range TaskStates {
		out.States[name] = 0
	}
	names := make([]string, 0, len(st.Tasks))
	for name := range st.Tasks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out.States[name] = st.Tasks[name]
		out.Total += st.Tasks[name]
	}
	writeJSON(w, http.StatusOK, out)
}

// apiExplain answers how the leader's scheduler sees one task (state,
// worker, holders, the inputs it waits on): /api/v1/tasks/KEY.
func (s *Server) apiExplain(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ex, err := s.node.Explain(ctx, []string{key})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	if len(ex.Tasks) != 1 || ex.Tasks[0].State == "unknown" && len(ex.Tasks[0].Orphan) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("the scheduler does not know task %q (never submitted, or released)", key)})
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

// events streams the status as server-sent events ("status", the View's
// JSON) every EventInterval until the client goes away or the server
// closes; a status that cannot be had is sent as an "error" event. With
// ?stream=1 each period also sends a "taskstream" event (TaskStream: the
// tasks that ended since the last one, the first covering the last
// DefaultStreamWindow); with ?logs=1 a "logs" event (Logs: the events
// since the last one, the first the latest DefaultLogLimit) when there
// are new ones.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	withStream, withLogs := q.Get("stream") == "1", q.Get("logs") == "1"
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", 2*s.cfg.EventInterval.Milliseconds())
	flusher.Flush()
	send := func(event string, v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			s.log.Warn("encode event", "event", event, "err", err)
			return false
		}
		_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		return err == nil
	}
	t := time.NewTicker(s.cfg.EventInterval)
	defer t.Stop()
	streamSince := time.Now().Add(-DefaultStreamWindow).UnixMicro()
	var logsSince int64
	for {
		st, err := s.status(r.Context())
		if r.Context().Err() != nil {
			return
		}
		if err != nil {
			if !send("error", map[string]string{"error": err.Error()}) {
				return
			}
		} else if !send("status", newView(s.node.ID().String(), st)) {
			return
		}
		if withStream || withLogs {
			req := actors.ActivityRequest{}
			if withStream {
				req.StreamSince, req.StreamLimit = streamSince, DefaultStreamLimit
			}
			if withLogs {
				req.EventsSince, req.EventLimit = logsSince, DefaultLogLimit
			}
			ts, logs := s.activity(r.Context(), req)
			if r.Context().Err() != nil {
				return
			}
			if withStream {
				for _, e := range ts.Entries {
					streamSince = max(streamSince, e.Stop)
				}
				if !send("taskstream", ts) {
					return
				}
			}
			if withLogs && (len(logs.Events) > 0 || logsSince == 0) {
				for _, e := range logs.Events {
					logsSince = max(logsSince, e.Time)
				}
				logsSince = max(logsSince, 1)
				if !send("logs", logs) {
					return
				}
			}
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
