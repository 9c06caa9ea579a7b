package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/mesh"
)

func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".mesh")
	}
	return ".mesh"
}

type joinFlags struct {
	listen, dataDir, secretFile, name, logLevel string
	pprofAddr, resources, chaosListen           string
	dashboard                                   string
	dashboardSet                                bool // --dashboard (or MESH_DASHBOARD) was given
	chaos                                       bool
	voters, threads, replicas                   int
	memoryLimit                                 int64
	deadAfter, heartbeat, election, joinTimeout time.Duration
	clientTimeout, drainTimeout                 time.Duration
}

func newJoinCmd() *cobra.Command {
	var f joinFlags
	c := &cobra.Command{
		Use:   "join [PEER...]",
		Short: "Start a node in the foreground; with no peer and no state, start a new mesh",
		Long: `Start a mesh node in the foreground.

With no PEER and an empty data dir, the node starts a new mesh and writes a new
secret to <data-dir>/secret (mode 0600). Otherwise it joins through any live PEER,
which needs a copy of the mesh's secret (--secret-file). A PEER is a multiaddr as
printed by the first node (ending in /p2p/<peer id>), or just a host and port
(/dns4/mesh-0.mesh/tcp/7946, /ip4/10.0.0.1/tcp/7946): the node there is then asked
for its peer ID over the secret-protected TLS handshake. A PEER that is this node's
own address is skipped, so every node can be given the first node's address: the
first, left with no peer, creates the mesh. A node restarted with the same data dir
is the same member and rejoins by itself.

SIGTERM or SIGINT leaves the mesh gracefully; a node that dies otherwise is marked
dead by the leader after --dead-after.`,
		Example: `  mesh join --listen /ip4/0.0.0.0/tcp/7946 --data-dir /var/lib/mesh
  mesh join /ip4/10.0.0.1/tcp/7946/p2p/12D3KooW... --secret-file ./secret
  mesh join /dns4/mesh-0.mesh/tcp/7946 --secret-file /etc/mesh/secret`,
		RunE: func(c *cobra.Command, args []string) error {
			f.dashboardSet = c.Flags().Changed("dashboard")
			return runJoin(c, f, args)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.listen, "listen", "/ip4/0.0.0.0/tcp/7946", "multiaddr to listen on (port 0 picks a free port)")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "directory for the node's identity, secret and Raft state")
	fl.StringVar(&f.secretFile, "secret-file", "", "the mesh's secret (a copy of the first node's <data-dir>/secret); default <data-dir>/secret")
	fl.StringVar(&f.name, "name", "", "human-readable node name (default: the host name)")
	fl.IntVar(&f.voters, "voters", 3, "how many Raft voters a new mesh keeps (later members are non-voters)")
	fl.IntVar(&f.threads, "threads", 0, "tasks this node runs at once (default: its cores)")
	fl.StringVar(&f.resources, "resources", "", `resources this node offers to tasks that ask for them, e.g. "GPU=2,MEM=10e9"`)
	fl.IntVar(&f.replicas, "replicas", 2, "how many nodes hold each result, in all (the leader's setting counts)")
	fl.Int64Var(&f.memoryLimit, "memory-limit", 0, "bytes of results kept in memory before spilling to <data-dir>/spill (0: no limit); also sets Go's soft memory limit to max(2x, +1 GiB) unless GOMEMLIMIT is set")
	fl.DurationVar(&f.deadAfter, "dead-after", 2*time.Second, "mark a member dead after this long without a heartbeat reply")
	fl.DurationVar(&f.heartbeat, "heartbeat", 250*time.Millisecond, "interval of the leader's heartbeat probes")
	fl.DurationVar(&f.election, "election-timeout", time.Second, "Raft heartbeat and election timeout")
	fl.DurationVar(&f.clientTimeout, "client-timeout", 30*time.Second, "release the keys of a client not heard from for this long (clients send a heartbeat every 2 s)")
	fl.DurationVar(&f.joinTimeout, "join-timeout", 30*time.Second, "give up joining after this long")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, wait this long at most for the node's running tasks to finish and its only copies of results to move to other nodes before it leaves")
	fl.StringVar(&f.dashboard, "dashboard", defaultDashboard, "serve the dashboard, /health, /metrics, /api/v1/ and /debug/pprof/ over HTTP on this host:port (address in <data-dir>/dashboard-addr); empty: off")
	fl.StringVar(&f.pprofAddr, "pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); empty: off")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	fl.BoolVar(&f.chaos, "chaos", false, "tests and chaos runs only: serve the network-partition switch on --chaos-listen (address in <data-dir>/chaos-addr)")
	fl.StringVar(&f.chaosListen, "chaos-listen", "127.0.0.1:0", "with --chaos: loopback host:port of the partition switch's HTTP endpoint")
	return c
}

func parsePeers(args []string) ([]peer.AddrInfo, error) {
	var peers []peer.AddrInfo
	for _, a := range args {
		info, err := mesh.ParsePeerAddr(a)
		if err != nil {
			return nil, usageError{err}
		}
		peers = append(peers, info)
	}
	return peers, nil
}

// parseResources reads "GPU=2,MEM=10e9".
func parseResources(s string) (map[string]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		q, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || strings.TrimSpace(name) == "" || err != nil || q < 0 {
			return nil, fmt.Errorf("--resources %q: %q is not NAME=QUANTITY (e.g. GPU=2,MEM=10e9)", s, part)
		}
		out[strings.TrimSpace(name)] = q
	}
	return out, nil
}

// resolveSecret finds the secret a node uses, or makes a new mesh's.
func resolveSecret(dataDir, secretFile string, joining bool) (s mesh.Secret, created bool, err error) {
	own := filepath.Join(dataDir, mesh.SecretFile)
	ownData, ownErr := os.ReadFile(own)
	if ownErr != nil && !errors.Is(ownErr, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read %s: %w", own, ownErr)
	}
	if secretFile != "" {
		s, err := mesh.ReadSecretFile(secretFile)
		if err != nil {
			return nil, false, err
		}
		if ownErr == nil && !bytes.Equal(bytes.TrimSpace(ownData), bytes.TrimSpace(s.Encode())) {
			return nil, false, fmt.Errorf("%s holds a different secret than %s: this data dir belongs to another mesh; use another --data-dir", own, secretFile)
		}
		if ownErr != nil {
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, false, err
			}
			if err := mesh.WriteSecretFile(own, s); err != nil {
				return nil, false, err
			}
		}
		return s, false, nil
	}
	if ownErr == nil {
		s, err := mesh.ParseSecret(ownData)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w (%v): restore it, or pass the mesh's secret with --secret-file", own, mesh.ErrBadSecret, err)
		}
		return s, false, nil
	}
	if joining {
		return nil, false, usageError{fmt.Errorf("joining a mesh needs its secret: pass --secret-file with a copy of the first node's <data-dir>/secret")}
	}
	if s, err = mesh.NewSecret(); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data dir: %w", err)
	}
	if err := mesh.WriteSecretFile(own, s); err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// raftLevel maps --log-level to raft's own log: raft warns about normal
// events (a follower catching up, a peer that left), so it speaks at
// error level unless debugging.
func raftLevel(level string) string {
	if level == "debug" {
		return "debug"
	}
	return "error"
}

func runJoin(c *cobra.Command, f joinFlags, args []string) error {
	out := c.OutOrStdout()
	log, err := newLogger(c.ErrOrStderr(), f.logLevel)
	if err != nil {
		return err
	}
	listen, err := mesh.ParseListenAddr(f.listen)
	if err != nil {
		return usageError{err}
	}
	peers, err := parsePeers(args)
	if err != nil {
		return err
	}
	res, err := parseResources(f.resources)
	if err != nil {
		return usageError{err}
	}
	if f.voters < 1 {
		return usageError{fmt.Errorf("--voters %d: want at least 1", f.voters)}
	}
	if f.chaos {
		if err := checkLoopback(f.chaosListen); err != nil {
			return usageError{err}
		}
	}
	var dashLn net.Listener
	if f.dashboard != "" {
		// Listen first, so that a bad or taken address fails at once,
		// before anything is written or joined.
		if dashLn, err = listenDashboard(f.dashboard, f.dashboardSet, log); err != nil {
			return err
		}
		defer func() {
			if dashLn != nil {
				dashLn.Close() // the node did not start: not served
			}
		}()
	}
	// Check the data dir before anything is written into it.
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if _, err := mesh.LoadOrCreateIdentity(f.dataDir); err != nil {
		return err
	}
	secret, created, err := resolveSecret(f.dataDir, f.secretFile, len(peers) > 0)
	if err != nil {
		return err
	}
	sigCtx, stopSignals := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	// `mesh leave` asks for what SIGTERM does.
	ctx, leaveAsked := context.WithCancel(sigCtx)
	stop := func() { stopSignals(); leaveAsked() }
	defer leaveAsked()
	nodeGC()
	// With a store limit, a soft heap limit too (GOMEMLIMIT still wins): the
	// store keeps up to --memory-limit bytes of values and tasks work beside
	// them, so past softMemoryLimit the GC runs more often instead of letting
	// GOGC's headroom grow with transient task memory.
	if lim := softMemoryLimit(f.memoryLimit); lim > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(lim)
		log.Info("soft memory limit", "bytes", lim)
	}
	if f.pprofAddr != "" {
		ln, err := net.Listen("tcp", f.pprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof %s: %w", f.pprofAddr, err)
		}
		srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("pprof serving", "addr", ln.Addr().String())
	}
	if err := removeDashboardAddr(f.dataDir); err != nil {
		return err
	}
	var gater *mesh.ChaosGater
	if f.chaos {
		// Served from the start, so that a chaos run can cut a node off
		// while it joins.
		gater = mesh.NewChaosGater()
		stopChaos, err := serveChaos(f.chaosListen, f.dataDir, gater, log)
		if err != nil {
			return err
		}
		defer stopChaos()
	}
	node, err := actors.StartNode(ctx, actors.NodeConfig{
		DataDir: f.dataDir, Listen: []ma.Multiaddr{listen}, Peers: peers, Secret: secret, Name: f.name,
		Voters: f.voters, DeadAfter: f.deadAfter, Heartbeat: f.heartbeat, ElectionTimeout: f.election,
		JoinTimeout: f.joinTimeout, Logger: log, RaftLog: c.ErrOrStderr(), RaftLogLevel: raftLevel(f.logLevel),
		Threads: f.threads, Replicas: f.replicas, MemoryLimit: f.memoryLimit, Resources: res, Chaos: gater,
		ClientTimeout: f.clientTimeout, OnLeaveAsked: leaveAsked,
	})
	if err != nil {
		return err
	}
	var dashURL string
	stopDash := func() {}
	if dashLn != nil {
		dashURL = "http://" + dashLn.Addr().String() + "/"
		stop, err := serveDashboard(node, dashLn, f.dataDir, log)
		dashLn = nil // owned by the dashboard now
		if err != nil {
			node.Close()
			return err
		}
		stopDash = stop
		defer stop() // idempotent
	}
	secretPath := filepath.Join(f.dataDir, mesh.SecretFile)
	if created || node.Created {
		fmt.Fprintf(out, "new mesh; secret written to %s\n", secretPath)
	} else {
		fmt.Fprintf(out, "joined mesh\n")
	}
	addrs := node.Addrs()
	fmt.Fprintf(out, "node %s listening on:\n", node.ID())
	for _, a := range addrs {
		fmt.Fprintf(out, "  %s\n", a)
	}
	if len(addrs) > 0 {
		fmt.Fprintf(out, "join with: mesh join %s --secret-file <copy of %s>\n", addrs[0], secretPath)
	}
	if dashURL != "" {
		fmt.Fprintf(out, "dashboard: %s\n", dashURL)
	}
	<-ctx.Done()
	stop()
	stopDash()
	fmt.Fprintln(out, "leaving the mesh")
	lctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout+5*time.Second)
	defer cancel()
	if err := node.Leave(lctx); err != nil {
		log.Warn("graceful leave failed; the leader will mark this node dead", "err", err)
	}
	if err := node.Close(); err != nil {
		log.Warn("shutdown", "err", err)
	}
	fmt.Fprintln(out, "left")
	return nil
}

// softMemoryLimit is the Go soft memory limit a node with this store limit
// sets: twice the store limit, and at least the store limit plus 1 GiB of
// working memory for tasks (0: no store limit, no soft limit).
func softMemoryLimit(storeLimit int64) int64 {
	if storeLimit <= 0 {
		return 0
	}
	return max(2*storeLimit, storeLimit+1<<30)
}

// nodeGC sets the garbage collector as a node process runs it (unless GOGC
// is set): a node's heap is mostly long-lived data (held values, graph
// state), so collecting at 50% growth instead of Go's default 100% keeps its
// resident memory near what it holds, and fewer fresh pages are touched by
// transient task memory. Processes that run nodes in-process (dbbench, run)
// do the same.
func nodeGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}
