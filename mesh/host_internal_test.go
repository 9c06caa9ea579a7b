package mesh

import (
	"errors"
	"testing"
)

// TestClassifyDialError feeds classifyDialError the errors libp2p v0.51
// really returns (copied from failed dials) and checks the sentinel each
// maps to. Order matters: several contain more than one of the patterns.
func TestClassifyDialError(t *testing.T) {
	const prefix = "failed to dial: failed to dial 12D3KooWFAC655bAkH46uKTGGd86e87y2qtimUJKJPMVMh3PnWwJ: all dials failed\n  * [/ip4/127.0.0.1/tcp/37027] "
	for _, tc := range []struct {
		name, err string
		want      error
	}{
		{"refused", prefix + "dial tcp4 127.0.0.1:37027: connect: connection refused", ErrUnreachable},
		{"no route", prefix + "dial tcp4 10.9.9.9:7946: connect: no route to host", ErrUnreachable},
		{"tcp timeout", prefix + "dial tcp4 10.9.9.9:7946: i/o timeout", ErrUnreachable},
		{"caller's deadline", "failed to dial: context deadline exceeded", ErrUnreachable},
		{"other node at the address", prefix + "failed to negotiate security protocol: peer id mismatch: expected 12D3KooWA, but remote key matches 12D3KooWB", ErrUnreachable},
		// A peer with another secret: which one happens is random.
		{"secret: stall", prefix + "failed to negotiate security protocol: context deadline exceeded", ErrHandshake},
		{"secret: reset", prefix + "failed to negotiate security protocol: read tcp4 127.0.0.1:37340->127.0.0.1:37027: read: connection reset by peer", ErrHandshake},
		{"secret: too large", prefix + "failed to negotiate security protocol: incoming message was too large", ErrHandshake},
		{"secret: EOF", prefix + "failed to negotiate security protocol: EOF", ErrHandshake},
		{"muxer", prefix + "failed to negotiate stream multiplexer: protocols not supported", ErrHandshake},
		{"chaos switch", "failed to dial: failed to dial 12D3KooWFAC655bAkH46uKTGGd86e87y2qtimUJKJPMVMh3PnWwJ: gater disallows connection to peer", ErrUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyDialError(errors.New(tc.err))
			if !errors.Is(got, tc.want) {
				t.Fatalf("classifyDialError(%q) = %v, want %v", tc.err, got, tc.want)
			}
			other := ErrHandshake
			if tc.want == ErrHandshake {
				other = ErrUnreachable
			}
			if errors.Is(got, other) {
				t.Errorf("classified as both %v and %v", tc.want, other)
			}
		})
	}
}
