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

func TestRawValue(t *testing.T) {
	// Any msgpack value, fixed and variadic, aliased; passed on as the result.
	var seen []RawValue
	fn, err := newFunc("rawvalue", func(a RawValue, rest ...RawValue) RawValue {
		seen = append([]RawValue{a}, rest...)
		return rest[len(rest)-1]
	})
	if err != nil {
		t.Fatal(err)
	}
	vals := []any{42, "s", []int{1, 2}, map[string]int{"a": 1}, nil, []byte("bin")}
	args := make([][]byte, len(vals))
	for i, v := range vals {
		args[i], _ = msgpack.Marshal(v)
	}
	out, err := fn.Call(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, args[len(args)-1]) {
		t.Fatalf("result % x, want the last argument % x", out, args[len(args)-1])
	}
	for i := range args {
		if !bytes.Equal(seen[i], args[i]) || &seen[i][0] != &args[i][0] {
			t.Fatalf("argument %d: % x, not the argument's bytes aliased", i, seen[i])
		}
	}
	empty, _ := newFunc("emptyraw", func(a RawValue) RawValue { return nil })
	if _, err := empty.Call(context.Background(), [][]byte{args[0]}); !errors.Is(err, ErrResult) {
		t.Fatalf("empty RawValue result: %v, want ErrResult", err)
	}
}
