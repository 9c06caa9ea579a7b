package actors

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/mesh"
)

// A FetchReply decodes with its values aliasing the body, equal to what
// msgpack's own decoding gives, nil values and Missing included.
func TestFetchReplyDecodesWithoutCopies(t *testing.T) {
	for _, in := range []*FetchReply{
		{},
		{Values: [][]byte{}},
		{Values: [][]byte{[]byte("a"), nil, {}, bytes.Repeat([]byte{7}, 70_000)}, Missing: []string{"k1", "k2"}},
		{Missing: []string{"only"}},
	} {
		name, body, err := mesh.EncodeMessage(in)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mesh.DecodeMessage(name, body)
		if err != nil {
			t.Fatal(err)
		}
		out := m.(*FetchReply)
		if len(out.Values) != len(in.Values) || !slices.Equal(out.Missing, in.Missing) {
			t.Fatalf("decoded %d values %v, want %d %v", len(out.Values), out.Missing, len(in.Values), in.Missing)
		}
		for i := range in.Values {
			if !bytes.Equal(out.Values[i], in.Values[i]) {
				t.Fatalf("value %d: %d bytes, want %d", i, len(out.Values[i]), len(in.Values[i]))
			}
			if len(out.Values[i]) > 0 {
				// Aliases the body: a change to it shows in a second decode.
				out.Values[i][0] ^= 0xff
				again, err := mesh.DecodeMessage(name, body)
				if err != nil {
					t.Fatal(err)
				}
				if again.(*FetchReply).Values[i][0] != out.Values[i][0] {
					t.Fatalf("value %d does not alias the body", i)
				}
				out.Values[i][0] ^= 0xff
				if cap(out.Values[i]) != len(out.Values[i]) {
					t.Fatalf("value %d: cap %d beyond its length %d", i, cap(out.Values[i]), len(out.Values[i]))
				}
			}
		}
	}
	// A truncated body is an error, not a panic.
	_, body, _ := mesh.EncodeMessage(&FetchReply{Values: [][]byte{bytes.Repeat([]byte{1}, 100)}})
	if _, err := mesh.DecodeMessage("mesh.FetchReply", body[:len(body)-10]); err == nil {
		t.Fatal("a truncated reply decoded")
	}
}

// EncodeParts, concatenated, is exactly msgpack's encoding of the reply.
func TestFetchReplyPartsAreItsEncoding(t *testing.T) {
	for _, in := range []*FetchReply{
		{},
		{Values: [][]byte{}},
		{Values: [][]byte{[]byte("a"), nil, {}, bytes.Repeat([]byte{7}, 70_000)}, Missing: []string{"k1", "k2"}},
		{Missing: []string{"only"}},
	} {
		want, err := msgpack.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := in.EncodeParts()
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Join(parts, nil); !bytes.Equal(got, want) {
			t.Fatalf("parts of %d values: %d bytes %x..., want %d bytes %x...", len(in.Values), len(got), got[:min(len(got), 16)], len(want), want[:min(len(want), 16)])
		}
	}
}

// StoreValues' parts, concatenated, are exactly msgpack's encoding of it.
func TestStoreValuesPartsAreItsEncoding(t *testing.T) {
	for _, in := range []*StoreValues{
		{},
		{Keys: []string{"a", "b"}, Values: [][]byte{[]byte("x"), bytes.Repeat([]byte{3}, 5000)}},
		{Keys: []string{"a"}, Values: [][]byte{{}}, Replicas: []string{"n2"}, Gens: []uint64{1 << 41}},
		{Keys: []string{"a"}, Values: [][]byte{nil}, Gens: []uint64{7}},
	} {
		want, err := msgpack.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := in.EncodeParts()
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Join(parts, nil); !bytes.Equal(got, want) {
			t.Fatalf("%+v: parts give %x, want %x", in, got[:min(len(got), 24)], want[:min(len(want), 24)])
		}
	}
}
