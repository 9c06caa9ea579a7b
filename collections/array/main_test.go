package array

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/futures"
)

// One in-process mesh of 2 nodes for the package's tests (started by the
// first test that needs it, closed before the leak check).
var (
	meshOnce sync.Once
	meshLC   *futures.LocalCluster
	meshC    *futures.Client
	meshErr  error
)

func client(t testing.TB) *futures.Client {
	t.Helper()
	meshOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		meshLC, meshErr = futures.NewLocalCluster(ctx, 2, futures.WithThreads(1))
		if meshErr == nil {
			meshC, meshErr = meshLC.Client(ctx)
		}
	})
	if meshErr != nil {
		t.Fatal(meshErr)
	}
	return meshC
}

func TestMain(m *testing.M) {
	code := m.Run()
	if meshLC != nil {
		meshLC.Close()
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
