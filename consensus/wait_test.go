package consensus

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// wait relies on raft's futures embedding an exported ShutdownCh; an
// upgrade of raft that drops it must fail here, not hang a Close.
func TestRaftFuturesCanBeArmed(t *testing.T) {
	conf := raft.DefaultConfig()
	conf.LocalID = "a"
	conf.LogLevel = "off"
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	addr, trans := raft.NewInmemTransport("a")
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(conf, nopFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown().Error() }()
	if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "a", Address: addr}}}).Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.State() != raft.Leader {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ch := make(chan struct{})
	for name, f := range map[string]raft.Future{
		"apply":   r.Apply([]byte("x"), time.Second),
		"barrier": r.Barrier(time.Second),
		"voter":   r.AddNonvoter("b", "b", 0, time.Second),
		"config":  r.GetConfiguration(),
	} {
		if !armShutdown(f, ch) {
			t.Errorf("%s: %T has no settable ShutdownCh: Node.wait cannot end waits at Close", name, f)
		}
	}
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, nil }
func (nopFSM) Restore(io.ReadCloser) error         { return nil }
