package chaos

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/meshcompute/mesh/futures"
)

// ExecLogEnv names the environment variable that tells a node of the suite
// where to record the tasks it runs: one line per execution, the task's
// tag, appended when the task starts. The harness counts lines to find
// tasks that ran more than once (reruns).
const ExecLogEnv = "CHAOS_EXEC_LOG"

// The workload functions. Every one takes a tag first: a string unique to
// the task within a run, which makes its key unique and lets the exec log
// name it. Registered by this package's init, so both the node binary
// (chaos/chaosnode) and the client that imports chaos know them.
const (
	FnLeaf   = "chaos.leaf"   // (tag, i, ms) → LeafValue(i), after sleeping ms
	FnAdd    = "chaos.add"    // (tag, a, b) → a+b
	FnInc    = "chaos.inc"    // (tag, x) → x+1
	FnDouble = "chaos.double" // (tag, x) → 2x
)

// LeafValue is what chaos.leaf returns for i: the fault-free answer of a
// map-reduce over 0..n-1 is the sum of these.
func LeafValue(i int) int { return 3*i + 1 }

func init() {
	futures.Register(FnLeaf, func(ctx context.Context, tag string, i, ms int) int {
		recordExec(tag)
		if ms > 0 {
			t := time.NewTimer(time.Duration(ms) * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		return LeafValue(i)
	})
	futures.Register(FnAdd, func(tag string, a, b int) int { recordExec(tag); return a + b })
	futures.Register(FnInc, func(tag string, x int) int { recordExec(tag); return x + 1 })
	futures.Register(FnDouble, func(tag string, x int) int { recordExec(tag); return 2 * x })
}

var execLog struct {
	once sync.Once
	mu   sync.Mutex
	f    *os.File
}

// recordExec appends tag to the exec log, if the process has one: one
// write per line with O_APPEND, so the line is in the file (the kernel's)
// even if the process is SIGKILLed right after.
func recordExec(tag string) {
	execLog.once.Do(func() {
		if p := os.Getenv(ExecLogEnv); p != "" {
			execLog.f, _ = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		}
	})
	if execLog.f == nil {
		return
	}
	execLog.mu.Lock()
	execLog.f.Write([]byte(tag + "\n"))
	execLog.mu.Unlock()
}
