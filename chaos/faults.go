package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fault kinds.
const (
	KindKill      = "kill"
	KindPause     = "pause"
	KindResume    = "resume"
	KindRestart   = "restart"
	KindPartition = "partition"
	KindHeal      = "heal"
	KindNote      = "note" // not a fault: a milestone in the timeline
)

// Fault is one entry of a scenario's timeline.
type Fault struct {
	At     time.Time
	Kind   string
	Nodes  []string
	Detail string
}

// IsFault reports whether the entry injects a fault (kill, pause,
// partition), as opposed to a repair or a note.
func (f Fault) IsFault() bool {
	return f.Kind == KindKill || f.Kind == KindPause || f.Kind == KindPartition
}

// Timeline records what the harness did, in order.
type Timeline struct {
	mu      sync.Mutex
	start   time.Time
	entries []Fault
}

// NewTimeline starts an empty timeline now.
func NewTimeline() *Timeline { return &Timeline{start: time.Now()} }

// Add records an entry now and returns it.
func (t *Timeline) Add(kind string, nodes []string, format string, args ...any) Fault {
	f := Fault{At: time.Now(), Kind: kind, Nodes: nodes, Detail: fmt.Sprintf(format, args...)}
	t.mu.Lock()
	t.entries = append(t.entries, f)
	t.mu.Unlock()
	return f
}

// Note records a milestone.
func (t *Timeline) Note(format string, args ...any) { t.Add(KindNote, nil, format, args...) }

// Entries returns a copy of the entries.
func (t *Timeline) Entries() []Fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.entries)
}

// Faults returns the entries that injected faults.
func (t *Timeline) Faults() []Fault {
	return slices.DeleteFunc(t.Entries(), func(f Fault) bool { return !f.IsFault() })
}

// String prints the timeline, one entry a line, times from its start.
func (t *Timeline) String() string {
	var b strings.Builder
	for _, f := range t.Entries() {
		fmt.Fprintf(&b, "  +%8.3fs %-9s %-14s %s\n", f.At.Sub(t.start).Seconds(), f.Kind, strings.Join(f.Nodes, ","), f.Detail)
	}
	return b.String()
}

// Kill SIGKILLs node n and waits for its process to be gone.
func (c *Cluster) Kill(n *Node, why string) error {
	if !n.Running() {
		return fmt.Errorf("kill %s: not running", n.Name)
	}
	c.Timeline.Add(KindKill, []string{n.Name}, "SIGKILL %s", why)
	c.logf("SIGKILL %s %s", n.Name, why)
	n.kill(true)
	return nil
}

// Pause stops node n with SIGSTOP and resumes it with SIGCONT after d
// (unless it was resumed, killed or paused again meanwhile).
func (c *Cluster) Pause(n *Node, d time.Duration, why string) error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause %s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.paused = true
	n.pauseGen++
	gen := n.pauseGen
	n.mu.Unlock()
	c.Timeline.Add(KindPause, []string{n.Name}, "SIGSTOP for %v %s", d, why)
	c.logf("SIGSTOP %s for %v %s", n.Name, d, why)
	time.AfterFunc(d, func() {
		n.mu.Lock()
		ok := n.paused && n.pauseGen == gen
		n.mu.Unlock()
		if ok {
			c.Resume(n)
		}
	})
	return nil
}

// Resume sends SIGCONT to a paused node.
func (c *Cluster) Resume(n *Node) error {
	n.mu.Lock()
	was := n.paused
	n.paused = false
	n.pauseGen++
	n.mu.Unlock()
	if !was {
		return nil
	}
	if err := n.signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("resume %s: %w", n.Name, err)
	}
	c.Timeline.Add(KindResume, []string{n.Name}, "SIGCONT")
	c.logf("SIGCONT %s", n.Name)
	return nil
}

// Restart starts a killed node again on its data dir (it rejoins by
// itself) and waits until it has written its address.
func (c *Cluster) Restart(ctx context.Context, n *Node) error {
	if n.Running() {
		return fmt.Errorf("restart %s: still running", n.Name)
	}
	c.Timeline.Add(KindRestart, []string{n.Name}, "same data dir")
	c.logf("restart %s", n.Name)
	if err := n.start(); err != nil {
		return err
	}
	err := n.waitAddr(ctx)
	if err != nil && !n.Running() && strings.Contains(n.LogTail(20), "address already in use") {
		// Someone took the node's port meanwhile: another one.
		c.Timeline.Note("%s's port %s is taken: restarted on a new port", n.Name, n.port)
		n.mu.Lock()
		n.port = ""
		n.mu.Unlock()
		if err := n.start(); err != nil {
			return err
		}
		err = n.waitAddr(ctx)
	}
	return err
}

// chaosAddr is the node's chaos admin endpoint (host:port).
func (n *Node) chaosAddr() (string, error) {
	data, err := os.ReadFile(filepath.Join(n.Dir, "chaos-addr"))
	if err != nil {
		return "", fmt.Errorf("%s has no chaos endpoint (was it started with --chaos?): %w", n.Name, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// chaosCall sends one request to the node's chaos endpoint.
func (n *Node) chaosCall(ctx context.Context, method, path string) ([]byte, error) {
	addr, err := n.chaosAddr()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", n.Name, method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %s %s: %s: %s", n.Name, method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// Blocked returns the peers node n currently refuses.
func (c *Cluster) Blocked(ctx context.Context, n *Node) ([]string, error) {
	body, err := n.chaosCall(ctx, "GET", "/blocked")
	if err != nil {
		return nil, err
	}
	var out struct {
		Blocked []string `json:"blocked"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: /blocked: %w", n.Name, err)
	}
	return out.Blocked, nil
}

// ErrNoPartitions is returned by Partition when the binary has no --chaos
// switch.
var ErrNoPartitions = errors.New("the node binary has no --chaos switch: partitions are not available")

// Partition cuts the given groups off from each other: every node of a
// group refuses every node of the others. Nodes in no group are cut off
// from everyone. It replaces any previous partition.
func (c *Cluster) Partition(ctx context.Context, groups ...[]*Node) error {
	if !c.hasChaos {
		return ErrNoPartitions
	}
	group := map[*Node]int{}
	var desc []string
	for i, g := range groups {
		var names []string
		for _, n := range g {
			group[n] = i + 1
			names = append(names, n.Name)
		}
		desc = append(desc, "{"+strings.Join(names, ",")+"}")
	}
	var errs []error
	var touched []string
	for _, n := range c.Nodes {
		if !n.Running() || n.ID() == "" {
			continue
		}
		var block []string
		for _, o := range c.Nodes {
			if o != n && o.ID() != "" && (group[o] != group[n] || group[n] == 0) {
				block = append(block, o.ID())
			}
		}
		if _, err := n.chaosCall(ctx, "POST", "/partition?block="+strings.Join(block, ",")); err != nil {
			errs = append(errs, err)
		}
		touched = append(touched, n.Name)
	}
	c.Timeline.Add(KindPartition, touched, "%s", strings.Join(desc, " | "))
	c.logf("partition %s", strings.Join(desc, " | "))
	return errors.Join(errs...)
}

// Isolate cuts node n off from every other node.
func (c *Cluster) Isolate(ctx context.Context, n *Node) error {
	var rest []*Node
	for _, o := range c.Nodes {
		if o != n {
			rest = append(rest, o)
		}
	}
	return c.Partition(ctx, []*Node{n}, rest)
}

// Heal lifts every partition (on every running node).
func (c *Cluster) Heal(ctx context.Context) error {
	if !c.hasChaos {
		return nil
	}
	var errs []error
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if _, err := n.chaosCall(ctx, "POST", "/heal"); err != nil {
			errs = append(errs, err)
		}
	}
	c.Timeline.Add(KindHeal, nil, "all partitions lifted")
	c.logf("heal")
	return errors.Join(errs...)
}
