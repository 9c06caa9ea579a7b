package mesh

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// An envelope whose body is in parts is written exactly as the same
// envelope with the parts joined into its body.
func TestEnvelopePartsEncodeAsABody(t *testing.T) {
	parts := [][]byte{{0x81, 0xa1, 'v'}, bytes.Repeat([]byte{9}, 100_000), {1, 2, 3}}
	for _, sender := range []*PIDRef{nil, {Node: "n", ID: "a"}} {
		whole := &Envelope{Target: "t", Sender: sender, Type: "x", Body: bytes.Join(parts, nil)}
		want, err := msgpack.Marshal(whole)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		enc := msgpack.NewEncoder(w)
		split := &Envelope{Target: "t", Sender: sender, Type: "x", Parts: parts}
		if err := encodeEnvelope(enc, w, split); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("sender %v: %d bytes, want %d", sender, got.Len(), len(want))
		}
		var back Envelope
		if err := msgpack.Unmarshal(got.Bytes(), &back); err != nil || !bytes.Equal(back.Body, whole.Body) {
			t.Fatalf("decoded back: %v, body %d bytes", err, len(back.Body))
		}
		if split.bodyLen() != len(whole.Body) {
			t.Fatalf("bodyLen %d, want %d", split.bodyLen(), len(whole.Body))
		}
	}
}
