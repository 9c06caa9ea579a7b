package futures

import (
	"bytes"
	"testing"
	"unsafe"
)

func init() {
	Register("test.blob", func(n int) []byte { return bytes.Repeat([]byte{7}, n) })
}

// A LocalCluster's own client reads a value from the holder's store (the
// very bytes the store holds); a client made with Connect gets a copy over
// the network; once the holder is closed, the client fetches from the
// other replica over the network.
func TestLocalClusterClientReadsStoresDirectly(t *testing.T) {
	lc, c := newCluster(t, 2)
	ctx := ctxT(t)
	f, err := c.Submit(ctx, "test.blob", 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.raw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	holders := append([]string(nil), f.st.holders...)
	c.mu.Unlock()
	if len(holders) == 0 {
		t.Fatal("no holders")
	}
	var stored []byte
	for _, h := range holders {
		vals, ok := lc.inproc.Values(h, []string{f.Key()})
		if !ok {
			t.Fatalf("holder %s is not in the process's set", h)
		}
		if vals[0] != nil && unsafe.SliceData(vals[0]) == unsafe.SliceData(v) {
			stored = vals[0]
		}
	}
	if stored == nil {
		t.Fatal("the local client's value is not a holder's stored bytes")
	}
	var got []byte
	if err := f.Result(ctx, &got); err != nil || len(got) != 64<<10 || got[0] != 7 {
		t.Fatalf("Result: %d bytes, %v", len(got), err)
	}

	remote, err := Connect(ctx, lc.Addr(), WithSecret(lc.Secret()))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	rv, err := remote.fetch(ctx, map[string][]string{f.Key(): holders})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rv[f.Key()], v) || unsafe.SliceData(rv[f.Key()]) == unsafe.SliceData(v) {
		t.Fatal("a Connect client should get an equal copy over the network")
	}

	// The first holder closes: it leaves the set, and the fetch goes to the
	// next holder.
	if len(holders) > 1 {
		for _, n := range lc.Nodes() {
			if n.ID().String() == holders[0] {
				n.Close()
			}
		}
		if lc.inproc.Has(holders[0]) {
			t.Fatal("a closed node is still in the set")
		}
		again, err := c.fetch(ctx, map[string][]string{f.Key(): holders})
		if err != nil || !bytes.Equal(again[f.Key()], v) {
			t.Fatalf("fetch after the holder closed: %v", err)
		}
	}
}

// GatherAs[RawBytes] aliases the fetched value (the holder's store in a
// LocalCluster) instead of decoding a copy.
func TestGatherRawBytesAliases(t *testing.T) {
	lc, c := newCluster(t, 1)
	ctx := ctxT(t)
	f, err := c.Submit(ctx, "test.blob", 4096)
	if err != nil {
		t.Fatal(err)
	}
	got, err := GatherAs[RawBytes](ctx, c, []*Future{f})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 4096 || got[0][0] != 7 {
		t.Fatalf("got %d bytes", len(got[0]))
	}
	vals, ok := lc.inproc.Values(lc.Nodes()[0].ID().String(), []string{f.Key()})
	if !ok || vals[0] == nil {
		t.Fatal("the node does not hold the value")
	}
	stored := vals[0]
	if unsafe.SliceData(got[0]) != unsafe.SliceData(stored[len(stored)-4096:]) {
		t.Fatal("GatherAs[RawBytes] copied the value")
	}
	copied, err := GatherAs[[]byte](ctx, c, []*Future{f})
	if err != nil || !bytes.Equal(copied[0], got[0]) || unsafe.SliceData(copied[0]) == unsafe.SliceData(got[0]) {
		t.Fatalf("GatherAs[[]byte]: %v", err)
	}
}
