package funcs

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestRawBytesAliasAndFrame(t *testing.T) {
	fn, err := newFunc("raw", func(a RawBytes, rest ...RawBytes) RawBytes {
		out := append([]byte(nil), a...)
		for _, r := range rest {
			out = append(out, r...)
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 5, 300, 70_000} {
		big := bytes.Repeat([]byte{7}, size)
		arg, _ := msgpack.Marshal(big) // []byte encodes as bin
		out, err := fn.Call(context.Background(), [][]byte{arg, arg})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		var got []byte
		if err := msgpack.Unmarshal(out, &got); err != nil || len(got) != 2*size {
			t.Fatalf("size %d: result of %d bytes (%v)", size, len(got), err)
		}
	}
	// The parameter aliases the argument: no copy.
	var seen RawBytes
	alias, _ := newFunc("alias", func(a RawBytes) int { seen = a; return len(a) })
	arg, _ := msgpack.Marshal([]byte("hello"))
	if _, err := alias.Call(context.Background(), [][]byte{arg}); err != nil {
		t.Fatal(err)
	}
	if &seen[0] != &arg[len(arg)-5] {
		t.Fatal("RawBytes argument was copied")
	}
	// Not bytes: a clear ErrArgs.
	notBytes, _ := msgpack.Marshal(42)
	if _, err := alias.Call(context.Background(), [][]byte{notBytes}); !errors.Is(err, ErrArgs) {
		t.Fatalf("int as RawBytes: %v, want ErrArgs", err)
	}
	short := []byte{0xc5, 0x01}
	if _, err := alias.Call(context.Background(), [][]byte{short}); !errors.Is(err, ErrArgs) {
		t.Fatalf("truncated bin: %v, want ErrArgs", err)
	}
}

func TestEncodedResultIsStoredAsIs(t *testing.T) {
	fn, err := newFunc("enc", func(n int) Encoded {
		if n == 0 {
			return nil
		}
		b, _ := msgpack.Marshal(n * 2)
		return b
	})
	if err != nil {
		t.Fatal(err)
	}
	arg, _ := msgpack.Marshal(21)
	out, err := fn.Call(context.Background(), [][]byte{arg})
	var v int
	if err != nil || msgpack.Unmarshal(out, &v) != nil || v != 42 {
		t.Fatalf("got %v (%v), want 42", v, err)
	}
	zero, _ := msgpack.Marshal(0)
	if _, err := fn.Call(context.Background(), [][]byte{zero}); !errors.Is(err, ErrResult) {
		t.Fatalf("empty Encoded: %v, want ErrResult", err)
	}
}
