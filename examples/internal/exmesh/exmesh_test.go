package exmesh_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcompute/mesh/examples/internal/exmesh"
	"github.com/meshcompute/mesh/examples/internal/extest"
)

// The leak check runs after the tests: Open's LocalCluster must be gone.
func TestMain(m *testing.M) { extest.Main(m) }

func TestOpenLocalCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, closeMesh, err := exmesh.Mesh{Nodes: 2, Threads: 1}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	closeMesh()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 2 {
		t.Fatalf("%d members, want 2", len(st.Members))
	}
}

func TestConnectNeedsSecret(t *testing.T) {
	_, _, err := exmesh.Mesh{Connect: "/ip4/127.0.0.1/tcp/1"}.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "-secret-file") {
		t.Fatalf("err %v", err)
	}
}

func TestDataDir(t *testing.T) {
	given := filepath.Join(t.TempDir(), "a", "b")
	dir, cleanup, err := exmesh.DataDir(given, "x-*", false)
	if err != nil || dir != given {
		t.Fatal(dir, err)
	}
	cleanup()
	if _, err := os.Stat(given); err != nil {
		t.Fatalf("a given directory was removed: %v", err)
	}
	tmp, cleanup, err := exmesh.DataDir("", "mesh-exmesh-test-*", false)
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("the temporary directory %s is still there: %v", tmp, err)
	}
}
