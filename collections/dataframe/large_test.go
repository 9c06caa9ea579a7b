package dataframe

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/meshcompute/mesh/futures"
)

// largeRun starts what an opt-in timing test on a big file needs: the file
// named by env (the test is skipped without it), a context of its time
// limit and a client of a 2-node in-process mesh (closed when the test
// ends).
func largeRun(t *testing.T, env string, limit time.Duration) (string, context.Context, *futures.Client) {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Skipf("set %s to a db-benchmark groupby CSV", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return path, ctx, c
}
