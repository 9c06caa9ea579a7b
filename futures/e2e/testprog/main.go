// Command testprog is a mesh binary (the whole `mesh` command line) that
// also knows the task functions the multi-process tests of package
// futures/e2e call. Every node of a test mesh runs it.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/meshcompute/mesh/cmd"
	"github.com/meshcompute/mesh/futures"
)

// Messages the tests look for in errors.
const (
	FailMessage  = "e2e.fail: deliberate failure"
	PanicMessage = "e2e.boom: deliberate panic"
)

func init() {
	futures.Register("e2e.inc", func(x int) int { return x + 1 })
	futures.Register("e2e.add", func(a, b int) int { return a + b })
	futures.Register("e2e.sleep", func(ctx context.Context, ms int) int {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return ms
	})
	futures.Register("e2e.fail", func(x int) (int, error) { return 0, errors.New(FailMessage) })
	futures.Register("e2e.boom", func(x int) int { panic(PanicMessage) })
	// e2e.bytes returns n bytes, byte i being (seed + i) mod 251.
	futures.Register("e2e.bytes", func(seed, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte((seed + i) % 251)
		}
		return b
	})
	// e2e.crash takes its worker process down, as a task that runs out of
	// memory or segfaults would: after ms milliseconds the process exits
	// with code 3, without reporting anything.
	futures.Register("e2e.crash", func(ms int) int {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		os.Exit(3)
		return 0
	})
}

func main() { os.Exit(cmd.Main(os.Args[1:])) }
