package mesh_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/mesh"
)

type benchBulk struct{ B []byte }

func listenLoopback() []ma.Multiaddr { return []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")} }

func init() { mesh.RegisterBulkMessage[benchBulk]("mesh_test.benchBulk") }

// BenchmarkBulkThroughput sends 16 MB bulk envelopes from one host to
// another over loopback (private network + TLS + yamux, one stream per
// lane): the ceiling of moving values between two nodes.
func BenchmarkBulkThroughput(b *testing.B) {
	t := &testing.T{}
	_ = t
	secret, err := mesh.NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	mk := func() *mesh.Host {
		h, err := mesh.NewHost(mesh.Config{Listen: listenLoopback(), Secret: secret})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}
	src, dst := mk(), mk()
	var got atomic.Int64
	done := make(chan struct{}, 1024)
	dst.SetHandler(func(from peer.ID, env *mesh.Envelope) {
		got.Add(int64(len(env.Body)))
		done <- struct{}{}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := src.Connect(ctx, []peer.AddrInfo{{ID: dst.ID(), Addrs: dst.Addrs()}}); err != nil {
		b.Fatal(err)
	}
	name, body, err := mesh.EncodeMessage(&benchBulk{B: make([]byte, 16<<20)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		if err := src.Send(dst.ID(), &mesh.Envelope{Target: "x", Type: name, Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		<-done
	}
}
