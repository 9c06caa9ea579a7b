// Package extest is what the examples' tests share: one in-process mesh
// per test binary, and a TestMain that closes it and then fails if
// goroutines are left over.
package extest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/examples/internal/exmesh"
	"github.com/meshcompute/mesh/futures"
	"github.com/meshcompute/mesh/mesh"
)

var (
	once   sync.Once
	lc     *futures.LocalCluster
	client *futures.Client
	err    error
)

func start() {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if lc, err = futures.NewLocalCluster(ctx, 2, futures.WithThreads(1)); err != nil {
			return
		}
		client, err = lc.Client(ctx)
	})
}

// Mesh is an exmesh.Mesh on the test binary's LocalCluster of 2 nodes × 1
// thread (started by the first test that asks for it), through a client
// the tests share.
func Mesh(t testing.TB) exmesh.Mesh {
	t.Helper()
	start()
	if err != nil {
		t.Fatal(err)
	}
	return exmesh.Mesh{Client: client}
}

// Connect is an exmesh.Mesh that connects to the same LocalCluster as a
// program given -connect ADDR -secret-file FILE would.
func Connect(t testing.TB) exmesh.Mesh {
	t.Helper()
	start()
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := mesh.WriteSecretFile(secret, lc.Secret()); err != nil {
		t.Fatal(err)
	}
	return exmesh.Mesh{Connect: lc.Addr(), SecretFile: secret}
}

// Main runs the tests, closes the mesh, then fails if goroutines are left
// over (besides protoactor's dead-letter throttle, which outlives a closed
// node by design).
func Main(m *testing.M) {
	code := m.Run()
	if lc != nil {
		lc.Close() // closes the client too
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}
