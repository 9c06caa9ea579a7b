package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scenarios returns the suite, in the order it runs.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "kill-worker", Nodes: 3, Short: true, Desc: "SIGKILL a random non-leader mid-workload", Faults: killWorker},
		{Name: "kill-leader", Nodes: 3, Short: true, Desc: "SIGKILL the leader mid-workload", Faults: killLeader},
		{Name: "kill-leader-then-worker", Nodes: 5, Desc: "SIGKILL the leader, then (once the mesh is repaired) a worker", Faults: killLeaderThenWorker},
		{Name: "rolling-kills", Nodes: 5, NoScatter: true, Desc: "SIGKILL a node every 2-4 s for a minute (20 s short), each restarted 2-5 s later; at most 2 down, at most one voter", Faults: rollingKills},
		{Name: "pause-leader", Nodes: 3, Short: true, Desc: "SIGSTOP the leader for 3-5 s (past the election timeout), then SIGCONT: it must step down and stop scheduling", Faults: pauseLeader, Check: oldLeaderStepsDown},
		{Name: "partition-leader-minority", Nodes: 5, Short: true, Partition: true, Desc: "cut the leader and one node off from the other three for 2-4 s, then heal", Faults: partitionLeader, Check: oldLeaderStepsDown},
		{Name: "isolate-node", Nodes: 3, Partition: true, Desc: "cut a random node off from the others for 2-4 s, then heal", Faults: isolateNode},
		{Name: "restart-killed", Nodes: 3, Short: true, Desc: "SIGKILL a worker, wait until it is dead, restart it on its data dir", Faults: restartKilled},
	}
}

// Soak is the soak scenario: random faults on a random schedule for
// Options.Soak (kills, pauses, partitions when available; killed nodes
// restarted), with new workloads submitted as the old ones finish.
func Soak() Scenario {
	return Scenario{Name: "soak", Nodes: 5, NoScatter: true, Desc: "random faults on a random schedule for --soak", Faults: soak}
}

// Lookup returns the scenarios named in names (comma-separated; "all" or
// empty: the whole suite; "short": the short suite).
func Lookup(names string) ([]Scenario, error) {
	all := Scenarios()
	switch strings.TrimSpace(names) {
	case "", "all":
		return all, nil
	case "short":
		return slices.DeleteFunc(all, func(s Scenario) bool { return !s.Short }), nil
	}
	var out []Scenario
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == name })
		switch {
		case name == "soak":
			out = append(out, Soak())
		case i < 0:
			var known []string
			for _, s := range all {
				known = append(known, s.Name)
			}
			return nil, fmt.Errorf("unknown scenario %q; known: %s, soak, all, short", name, strings.Join(known, ", "))
		default:
			out = append(out, all[i])
		}
	}
	return out, nil
}

func killWorker(e *Env) error {
	if err := e.WaitFraction(0.2); err != nil {
		return err
	}
	ws, err := e.Workers()
	if err != nil {
		return err
	}
	return e.C.Kill(e.Pick(ws), "(a worker)")
}

func killLeader(e *Env) error {
	if err := e.WaitFraction(0.2); err != nil {
		return err
	}
	l, err := e.Leader()
	if err != nil {
		return err
	}
	return e.C.Kill(l, "(the leader)")
}

func killLeaderThenWorker(e *Env) error {
	if err := killLeader(e); err != nil {
		return err
	}
	// The survivors mark it dead and promote a non-voter: then a worker.
	if _, err := e.C.WaitAgreed(e.Ctx); err != nil {
		return fmt.Errorf("after killing the leader: %w", err)
	}
	e.C.Timeline.Note("mesh repaired after the leader's death")
	if err := e.WaitMore(20); err != nil {
		return err
	}
	ws, err := e.Workers()
	if err != nil {
		return err
	}
	return e.C.Kill(e.Pick(ws), "(a worker, after the leader)")
}

// voterDown reports whether the mesh has fewer than its 3 voters alive,
// as the leader sees it (a voter just killed and not yet replaced).
func voterDown(e *Env) (bool, error) {
	l, err := e.C.Leader(e.Ctx)
	if err != nil {
		return true, err
	}
	st, err := e.C.Status(e.Ctx, l)
	if err != nil {
		return true, err
	}
	alive := 0
	for _, m := range st.Members {
		if m.Role == "voter" && m.State == "alive" {
			if n := e.C.ByID(m.ID); n != nil && n.Running() && !n.Paused() {
				alive++
			}
		}
	}
	return alive < 3, nil
}

func isVoter(e *Env, n *Node) bool {
	l, err := e.C.Leader(e.Ctx)
	if err != nil {
		return true
	}
	st, err := e.C.Status(e.Ctx, l)
	if err != nil {
		return true
	}
	for _, m := range st.Members {
		if m.ID == n.ID() {
			return m.Role == "voter"
		}
	}
	return false
}

// keepBusy submits a new round when fewer than min futures are pending.
func keepBusy(e *Env, minPending int) error {
	d, t := e.Progress.Done()
	if t-d >= minPending {
		return nil
	}
	for _, w := range e.NewRound(false) {
		if err := e.Submit(w); err != nil {
			return err
		}
	}
	return nil
}

// restartDue restarts the killed nodes whose time has come.
func restartDue(e *Env, down map[*Node]time.Time, all bool) error {
	for _, n := range e.C.Nodes {
		at, ok := down[n]
		if !ok || (!all && time.Now().Before(at)) {
			continue
		}
		if err := e.C.Restart(e.Ctx, n); err != nil {
			return err
		}
		delete(down, n)
	}
	return nil
}

// killSome kills a random live node if at most one is down and no voter
// is missing (so that a Raft majority always remains).
func killSome(e *Env, down map[*Node]time.Time, why string) (bool, error) {
	if len(down) >= 2 {
		return false, nil
	}
	var cands []*Node
	for _, n := range e.C.Nodes {
		if n.Running() && !n.Paused() {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return false, nil
	}
	v := e.Pick(cands)
	if isVoter(e, v) {
		if missing, err := voterDown(e); err != nil || missing {
			return false, nil // no voter while one is missing
		}
		// Nor while the live nodes do not agree (a restarted node not
		// yet back in the membership).
		if _, err := e.C.Agreed(e.Ctx); err != nil {
			return false, nil
		}
	}
	if err := e.C.Kill(v, why); err != nil {
		return false, err
	}
	down[v] = time.Now().Add(e.Between(2*time.Second, 5*time.Second))
	return true, nil
}

func rollingKills(e *Env) error {
	dur := time.Minute
	if e.Opts.Short {
		dur = 20 * time.Second
	}
	if err := e.WaitFraction(0.1); err != nil {
		return err
	}
	end := time.Now().Add(dur)
	down := map[*Node]time.Time{}
	err := func() error {
		for time.Now().Before(end) {
			if err := keepBusy(e, 300); err != nil {
				return err
			}
			if err := restartDue(e, down, false); err != nil {
				return err
			}
			if _, err := killSome(e, down, "(rolling)"); err != nil {
				return err
			}
			if err := e.Sleep(e.Between(2*time.Second, 4*time.Second)); err != nil {
				return err
			}
		}
		return nil
	}()
	return errors.Join(err, restartAll(e, down))
}

// restartAll restarts every node still down, whatever fails.
func restartAll(e *Env, down map[*Node]time.Time) error {
	var errs []error
	for _, n := range e.C.Nodes {
		if _, ok := down[n]; ok && !n.Running() {
			if err := e.C.Restart(e.Ctx, n); err != nil {
				errs = append(errs, err)
			}
			delete(down, n)
		}
	}
	return errors.Join(errs...)
}

func pauseLeader(e *Env) error {
	if err := e.WaitFraction(0.2); err != nil {
		return err
	}
	l, err := e.Leader()
	if err != nil {
		return err
	}
	e.State["old leader"] = l
	if err := e.C.Pause(l, e.Between(3*time.Second, 5*time.Second), "(the leader)"); err != nil {
		return err
	}
	nl, err := e.C.WaitLeader(e.Ctx, l)
	if err != nil {
		return fmt.Errorf("no new leader while %s is paused: %w", l.Name, err)
	}
	e.C.Timeline.Note("new leader %s", nl.Name)
	// Wait for the resume (the pause's own timer).
	for l.Paused() {
		if err := e.Sleep(50 * time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// nonVoter returns a random live non-voter other than not: cut off with
// the leader, it leaves the minority with one voter of three, so the
// majority side can elect.
func nonVoter(e *Env, not *Node) (*Node, error) {
	st, err := e.C.Status(e.Ctx, not)
	if err != nil {
		return nil, err
	}
	var cands []*Node
	for _, m := range st.Members {
		if n := e.C.ByID(m.ID); n != nil && n != not && m.Role != "voter" && n.Running() && !n.Paused() {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no live non-voter: %s", describe(st, e.C))
	}
	return e.Pick(cands), nil
}

// majorityLeader waits until a node of group names a leader in group
// (and the answer is not stale).
func majorityLeader(e *Env, group []*Node) (*Node, error) {
	ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second)
	defer cancel()
	var last error = errors.New("no answer")
	for {
		for _, n := range group {
			st, err := e.C.Status(ctx, n)
			if err != nil {
				last = err
				continue
			}
			if l := e.C.ByID(st.Leader); l != nil && !st.Stale && slices.Contains(group, l) {
				return l, nil
			}
			last = fmt.Errorf("%s", describe(st, e.C))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader in the majority: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notScheduling waits until node n runs no scheduler.
func notScheduling(e *Env, n *Node, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		running, err := e.C.SchedulerRunning(e.Ctx, n)
		if err == nil && !running {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("cannot ask %s whether it still schedules: %v", n.Name, err)
			}
			return fmt.Errorf("%s still runs a scheduler %v after losing the leadership", n.Name, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func partitionLeader(e *Env) error {
	if err := e.WaitFraction(0.2); err != nil {
		return err
	}
	l, err := e.Leader()
	if err != nil {
		return err
	}
	e.State["old leader"] = l
	x, err := nonVoter(e, l)
	if err != nil {
		return err
	}
	minority := []*Node{l, x}
	var majority []*Node
	for _, n := range e.C.Nodes {
		if !slices.Contains(minority, n) {
			majority = append(majority, n)
		}
	}
	if err := e.C.Partition(e.Ctx, minority, majority); err != nil {
		return err
	}
	nl, err := majorityLeader(e, majority)
	if err != nil {
		return err
	}
	e.C.Timeline.Note("new leader %s in the majority", nl.Name)
	// Cut off from a quorum, the old leader steps down and stops
	// scheduling while still partitioned.
	if err := notScheduling(e, l, 10*time.Second); err != nil {
		e.State["problems"] = []string{"during the partition: " + err.Error()}
	} else {
		e.C.Timeline.Note("%s stopped scheduling", l.Name)
	}
	if err := e.Sleep(e.Between(2*time.Second, 4*time.Second)); err != nil {
		return err
	}
	return e.C.Heal(e.Ctx)
}

// oldLeaderStepsDown checks that the old leader (unless it leads again)
// runs no scheduler, and that the current leader does.
func oldLeaderStepsDown(e *Env) []string {
	probs, _ := e.State["problems"].([]string)
	old, _ := e.State["old leader"].(*Node)
	if old == nil {
		return probs
	}
	l, err := e.C.WaitLeader(e.Ctx)
	if err != nil {
		return append(probs, err.Error())
	}
	if l != old {
		if err := notScheduling(e, old, 15*time.Second); err != nil {
			probs = append(probs, err.Error())
		}
	}
	if running, err := e.C.SchedulerRunning(e.Ctx, l); err != nil || !running {
		probs = append(probs, fmt.Sprintf("the leader %s runs no scheduler (%v)", l.Name, err))
	}
	return probs
}

func isolateNode(e *Env) error {
	if err := e.WaitFraction(0.2); err != nil {
		return err
	}
	n := e.Pick(e.C.Nodes)
	if err := e.C.Isolate(e.Ctx, n); err != nil {
		return err
	}
	if err := e.Sleep(e.Between(2*time.Second, 4*time.Second)); err != nil {
		return err
	}
	return e.C.Heal(e.Ctx)
}

func restartKilled(e *Env) error {
	if err := e.WaitFraction(0.2); err != nil {
		return err
	}
	ws, err := e.Workers()
	if err != nil {
		return err
	}
	v := e.Pick(ws)
	if err := e.C.Kill(v, "(a worker, to restart)"); err != nil {
		return err
	}
	if _, err := e.C.WaitAgreed(e.Ctx); err != nil {
		return fmt.Errorf("after killing %s: %w", v.Name, err)
	}
	e.C.Timeline.Note("%s shown dead", v.Name)
	if err := e.C.Restart(e.Ctx, v); err != nil {
		return err
	}
	if _, err := e.C.WaitAgreed(e.Ctx); err != nil {
		return fmt.Errorf("after restarting %s: %w", v.Name, err)
	}
	e.C.Timeline.Note("%s alive again", v.Name)
	return nil
}

func soak(e *Env) error {
	dur := e.Opts.Soak
	if dur <= 0 {
		dur = time.Minute
	}
	end := time.Now().Add(dur)
	down := map[*Node]time.Time{}
	partitioned := time.Time{}
	for time.Now().Before(end) {
		if err := keepBusy(e, 500); err != nil {
			return err
		}
		if err := restartDue(e, down, false); err != nil {
			return err
		}
		if !partitioned.IsZero() && time.Now().After(partitioned) {
			if err := e.C.Heal(e.Ctx); err != nil {
				return err
			}
			partitioned = time.Time{}
		}
		busy := !partitioned.IsZero() || slices.ContainsFunc(e.C.Nodes, (*Node).Paused)
		switch k := e.Rng.IntN(5); {
		case busy && len(down) > 0:
			// one fault at a time besides kills
		case k <= 1:
			if _, err := killSome(e, down, "(soak)"); err != nil {
				return err
			}
		case k == 2 && len(down) == 0 && !busy:
			n := e.Pick(e.C.Live())
			if err := e.C.Pause(n, e.Between(500*time.Millisecond, 4*time.Second), "(soak)"); err != nil {
				return err
			}
		case k == 3 && e.C.HasPartitions() && len(down) == 0 && !busy:
			n := e.Pick(e.C.Nodes)
			if err := e.C.Isolate(e.Ctx, n); err != nil {
				return err
			}
			partitioned = time.Now().Add(e.Between(time.Second, 4*time.Second))
		case k == 4 && e.C.HasPartitions() && len(down) == 0 && !busy:
			l, err := e.C.Leader(e.Ctx)
			if err != nil {
				break
			}
			var rest []*Node
			for _, n := range e.C.Nodes {
				if n != l {
					rest = append(rest, n)
				}
			}
			x, err := nonVoter(e, l)
			if err != nil {
				break
			}
			rest = slices.DeleteFunc(rest, func(n *Node) bool { return n == x })
			if err := e.C.Partition(e.Ctx, []*Node{l, x}, rest); err != nil {
				return err
			}
			partitioned = time.Now().Add(e.Between(time.Second, 4*time.Second))
		}
		if err := e.Sleep(e.Between(time.Second, 5*time.Second)); err != nil {
			return err
		}
	}
	if !partitioned.IsZero() {
		if err := e.C.Heal(e.Ctx); err != nil {
			return err
		}
	}
	return restartAll(e, down)
}
