// Package fakegcs starts a Google Cloud Storage emulator for tests:
// fake-gcs-server in process, on a free port of 127.0.0.1, with gcsblob
// pointed at it (STORAGE_EMULATOR_HOST); stopped when the test ends. (A
// package of its own: fake-gcs-server brings opencensus, whose worker
// goroutine goleak would report in packages that only need S3.)
package fakegcs

import (
	"fmt"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/meshcompute/mesh/collections/storage/storagetest"
)

// GCS is a running fake-gcs-server.
type GCS struct {
	Server *fakestorage.Server
}

// Start starts fake-gcs-server in process on a free port of 127.0.0.1
// (plain HTTP) and points gcsblob at it (STORAGE_EMULATOR_HOST), with the
// given buckets.
func Start(t testing.TB, buckets ...string) *GCS {
	t.Helper()
	port := storagetest.FreePort(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(port),
		PublicHost: fmt.Sprintf("127.0.0.1:%d", port), Writer: discard{},
	})
	if err != nil {
		t.Skipf("fake-gcs-server did not start: %v", err)
	}
	t.Cleanup(srv.Stop)
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	t.Setenv("STORAGE_EMULATOR_HOST", fmt.Sprintf("127.0.0.1:%d", port))
	return &GCS{Server: srv}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
