package actors

import (
	"bytes"
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/mesh"
)

// Nodes of one in-process set read each other's values and take replicas
// without the network (sharing the bytes); a node cut off by its chaos
// gater, a node outside the set, or a closed node goes over the network.
func TestInProcessValuesAndReplicas(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set := NewInProcess()
	cfg := testConfig(t)
	cfg.InProcess = set
	gater := mesh.NewChaosGater()
	nodes, err := StartLocalMesh(ctx, dir, 2, cfg)
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := nodes[0], nodes[1]
	if !set.Has(a.self) || !set.Has(b.self) {
		t.Fatal("started nodes are not in the set")
	}
	v := bytes.Repeat([]byte{1}, 4096)
	if err := a.store.Put("k", v); err != nil {
		t.Fatal(err)
	}
	got, err := b.input(ctx, "k", []string{a.self})
	if err != nil || unsafe.SliceData(got) != unsafe.SliceData(v) {
		t.Fatalf("input from an in-process holder: %v (shared: %v)", err, err == nil && unsafe.SliceData(got) == unsafe.SliceData(v))
	}
	if ok := a.replicate(ctx, []string{b.self}, []string{"r"}, [][]byte{v}, nil); len(ok) != 1 {
		t.Fatalf("replicate to an in-process node: %v", ok)
	}
	if r, err := b.store.Get("r"); err != nil || unsafe.SliceData(r) != unsafe.SliceData(v) {
		t.Fatalf("replica: %v", err)
	}

	// Gated: b's gater blocks a, so b does not read a's store.
	b.cfg.Chaos = gater
	gater.Block([]peer.ID{a.ID()})
	if b.localNode(a.self) != nil {
		t.Fatal("a node cut off by the gater is read in process")
	}
	gater.Heal()
	b.cfg.Chaos = nil

	// Not in the set: over the network, a copy.
	set.remove(a)
	got, err = b.input(ctx, "k", []string{a.self})
	if err != nil || !bytes.Equal(got, v) || unsafe.SliceData(got) == unsafe.SliceData(v) {
		t.Fatalf("input over the network: %v", err)
	}
	set.add(a)
	a.Close()
	if set.Has(a.self) {
		t.Fatal("a closed node stays in the set")
	}
	if vals, ok := set.Values(a.self, []string{"k"}); ok || vals != nil {
		t.Fatal("Values of a closed node")
	}
}

// A fetch of 1 MiB or more over the network sets the worker's measured
// bandwidth (reported to the scheduler with its results, and exported as
// mesh_transfer_bandwidth_bytes_per_second); a small one does not.
func TestFetchMeasuresBandwidth(t *testing.T) {
	nodes, _ := startMesh(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := nodes[0], nodes[1]
	if err := a.store.Put("small", []byte("tiny")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.input(ctx, "small", []string{a.self}); err != nil {
		t.Fatal(err)
	}
	if r := b.bandwidth.rate(); r != 0 {
		t.Fatalf("a 4-byte fetch set the bandwidth to %v", r)
	}
	big := bytes.Repeat([]byte{7}, 4<<20)
	if err := a.store.Put("big", big); err != nil {
		t.Fatal(err)
	}
	got, err := b.input(ctx, "big", []string{a.self})
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("fetch 4 MiB: %v", err)
	}
	r := b.bandwidth.rate()
	if r <= 0 || r > maxBandwidth {
		t.Fatalf("bandwidth after a 4 MiB fetch: %v bytes/s", r)
	}
	fams, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "mesh_transfer_bandwidth_bytes_per_second" {
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != r {
				t.Fatalf("mesh_transfer_bandwidth_bytes_per_second = %v, want %v", v, r)
			}
			t.Logf("measured %.0f MB/s over loopback", r/1e6)
			return
		}
	}
	t.Fatal("no mesh_transfer_bandwidth_bytes_per_second metric")
}
