// Package extest is what the examples' tests share: one in-process mesh
// per test binary, and a TestMain that closes it and then fails if
// goroutines are left over.
package extest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/examples/internal/exmesh"
	"github.com/meshcompute/mesh/futures"
)

var (
	once   sync.Once
	client *futures.Client
	stop   func()
	err    error
)

// Mesh is an exmesh.Mesh on the test binary's LocalCluster of 2 nodes × 1
// thread, started by the first test that asks for it.
func Mesh(t testing.TB) exmesh.Mesh {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		client, stop, err = exmesh.Mesh{Nodes: 2, Threads: 1}.Open(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	return exmesh.Mesh{Client: client}
}

// Main runs the tests, closes the mesh, then fails if goroutines are left
// over (besides protoactor's dead-letter throttle, which outlives a closed
// node by design).
func Main(m *testing.M) {
	code := m.Run()
	if stop != nil {
		stop()
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}
