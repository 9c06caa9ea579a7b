package funcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type point struct {
	X, Y  int
	Label string
}

// flat is pointer-free, so its decode slot is reused across calls.
type flat struct {
	A, B int
	C    float64
}

type ctxKey struct{}

// shout decodes through its own method (so it takes the reflect.New path)
// and upper-cases what it decodes.
type shout struct{ S string }

func (s *shout) DecodeMsgpack(d *msgpack.Decoder) error {
	str, err := d.DecodeString()
	s.S = strings.ToUpper(str)
	return err
}

func (s shout) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeString(s.S) }

type floats []float64

// register registers fn under name for the duration of the test.
func register(t testing.TB, name string, fn any) *Func {
	t.Helper()
	Register(name, fn)
	t.Cleanup(func() { unregisterForTest(name) })
	f, err := Lookup(name)
	if err != nil {
		t.Fatalf("Lookup(%q) after Register: %v", name, err)
	}
	return f
}

func enc(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("msgpack.Marshal(%#v): %v", v, err)
	}
	return b
}

func encAll(t testing.TB, vs ...any) [][]byte {
	t.Helper()
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = enc(t, v)
	}
	return out
}

// decodeAs decodes b into a new value of want's type (nil want: into any).
func decodeAs(t testing.TB, b []byte, want any) any {
	t.Helper()
	if want == nil {
		var v any
		if err := msgpack.Unmarshal(b, &v); err != nil {
			t.Fatalf("decode result %x: %v", b, err)
		}
		return v
	}
	p := reflect.New(reflect.TypeOf(want))
	if err := msgpack.Unmarshal(b, p.Interface()); err != nil {
		t.Fatalf("decode result %x into %T: %v", b, want, err)
	}
	return p.Elem().Interface()
}

// mustPanic runs fn and returns the panic message, failing if it does not
// panic with a string.
func mustPanic(t *testing.T, fn func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("did not panic")
		}
		s, ok := r.(string)
		if !ok {
			t.Fatalf("panicked with %T %v, want a string message", r, r)
		}
		msg = s
	}()
	fn()
	return ""
}

func TestCallRoundTrip(t *testing.T) {
	type namedFunc func(a, b string) string
	tests := []struct {
		name string
		fn   any
		ctx  context.Context
		args []any
		want any // decoded into a value of this type; nil means msgpack nil
	}{
		{"int", func(a, b int) int { return a*10 + b }, nil, []any{4, 2}, 42},
		{"no_args", func() string { return "hi" }, nil, nil, "hi"},
		{"ctx_value", func(ctx context.Context, s string) string {
			return s + ctx.Value(ctxKey{}).(string)
		}, context.WithValue(context.Background(), ctxKey{}, "!"), []any{"hey"}, "hey!"},
		{"nil_ctx_becomes_background", func(ctx context.Context) bool { return ctx != nil }, nil, nil, true},
		{"value_error_ok", func(n int) (int, error) { return n * 2, nil }, nil, []any{21}, 42},
		{"ctx_value_error_ok", func(_ context.Context, s string) (string, error) { return strings.ToUpper(s), nil },
			context.Background(), []any{"abc"}, "ABC"},
		{"error_only_nil", func(n int) error { return nil }, nil, []any{1}, nil},
		{"ctx_error_only_nil", func(context.Context) error { return nil }, context.Background(), nil, nil},
		{"variadic_none_is_nil", func(xs ...int) bool { return xs == nil }, nil, nil, true},
		{"variadic_one", func(p string, xs ...float64) string { return fmt.Sprint(p, xs) }, nil, []any{"s", 1.5}, "s[1.5]"},
		{"variadic_three", func(p string, xs ...float64) string { return fmt.Sprint(p, xs) }, nil,
			[]any{"s", 1.5, 2.0, 3.25}, "s[1.5 2 3.25]"},
		{"variadic_structs", func(ps ...point) int { return len(ps) + ps[1].X }, nil,
			[]any{point{}, point{X: 7}}, 9},
		{"struct_and_slice", func(p point, scale []float64) point {
			return point{X: int(float64(p.X) * scale[0]), Y: int(float64(p.Y) * scale[1]), Label: p.Label + "'"}
		}, nil, []any{point{X: 2, Y: 3, Label: "p"}, []float64{10, 100}}, point{X: 20, Y: 300, Label: "p'"}},
		{"flat_struct", func(f flat) flat { return flat{A: f.B, B: f.A, C: -f.C} }, nil,
			[]any{flat{A: 1, B: 2, C: 0.5}}, flat{A: 2, B: 1, C: -0.5}},
		{"pointer_arg", func(p *point) *point { p.X++; return p }, nil, []any{&point{X: 1, Label: "q"}},
			&point{X: 2, Label: "q"}},
		{"nil_pointer_arg", func(p *point) bool { return p == nil }, nil, []any{(*point)(nil)}, true},
		{"map_arg", func(m map[string]int) []string {
			keys := make([]string, 0, len(m))
			for k, v := range m {
				keys = append(keys, fmt.Sprint(k, "=", v))
			}
			slices.Sort(keys)
			return keys
		}, nil, []any{map[string]int{"b": 2, "a": 1}}, []string{"a=1", "b=2"}},
		{"map_result", func(k string, v []int) map[string][]int { return map[string][]int{k: v} }, nil,
			[]any{"k", []int{1, 2}}, map[string][]int{"k": {1, 2}}},
		{"any_arg", func(v any) string { return fmt.Sprintf("%T", v) }, nil, []any{"s"}, "string"},
		{"array_arg", func(a [3]int) int { return a[0] + a[1] + a[2] }, nil, []any{[3]int{1, 2, 3}}, 6},
		{"bytes_arg", func(b []byte) int { return len(b) }, nil, []any{[]byte("four")}, 4},
		{"bool_uint_float32", func(b bool, u uint16, f float32) string { return fmt.Sprint(b, u, f) }, nil,
			[]any{true, uint16(7), float32(0.25)}, "true 7 0.25"},
		{"named_func_type", namedFunc(func(a, b string) string { return a + b }), nil, []any{"x", "y"}, "xy"},
		{"nil_slice_result", func() []int { return nil }, nil, nil, []int(nil)},
		{"nil_slice_arg", func(xs []int) bool { return xs == nil }, nil, []any{[]int(nil)}, true},
		{"empty_slice_arg", func(xs []int) string { return fmt.Sprint(xs == nil, len(xs)) }, nil, []any{[]int{}}, "false 0"},
		{"slice_of_structs", func(ps []point) string { return ps[0].Label + ps[1].Label }, nil,
			[]any{[]point{{Label: "a"}, {Label: "b"}}}, "ab"},
		{"slice_of_strings", func(ss []string) string { return strings.Join(ss, "+") }, nil,
			[]any{[]string{"a", "b", "c"}}, "a+b+c"},
		{"named_slice", func(fs floats) float64 { return fs[0] + fs[1] }, nil, []any{floats{1, 2}}, 3.0},
		{"custom_decoder", func(s shout) shout { return shout{S: s.S + "!"} }, nil, []any{"hey"}, "HEY!"},
		{"custom_decoder_ptr", func(s *shout) string { return s.S }, nil, []any{"ptr"}, "PTR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := register(t, "rt_"+tt.name, tt.fn)
			res, err := f.Call(tt.ctx, encAll(t, tt.args...))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			got := decodeAs(t, res, tt.want)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("result = %#v, want %#v", got, tt.want)
			}
			if tt.want == nil && !slices.Equal(res, enc(t, nil)) {
				t.Fatalf("result bytes = %x, want msgpack nil %x", res, enc(t, nil))
			}
		})
	}
}

// A pointer-free parameter's decode slot is reused; fields absent from the
// next argument must read as zero, not as the previous call's values.
func TestReusedSlotIsZeroed(t *testing.T) {
	f := register(t, "slot", func(x flat) flat { return x })
	tests := []struct {
		arg  any
		want flat
	}{
		{flat{A: 1, B: 2, C: 3}, flat{A: 1, B: 2, C: 3}},
		{map[string]any{"A": 5}, flat{A: 5}},
		{map[string]any{}, flat{}},
		{flat{B: 9}, flat{B: 9}},
	}
	for i, tt := range tests {
		res, err := f.Call(context.Background(), encAll(t, tt.arg))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := decodeAs(t, res, flat{}); got != tt.want {
			t.Fatalf("call %d: got %+v, want %+v", i, got, tt.want)
		}
	}
}

// The function must get its own copy of each argument: retaining a pointer
// to one call's argument must not see the next call's.
func TestArgumentsNotShared(t *testing.T) {
	var kept []*flat
	f := register(t, "keep", func(x flat) int { kept = append(kept, &x); return x.A })
	for i := range 3 {
		if _, err := f.Call(context.Background(), encAll(t, flat{A: i})); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range kept {
		if p.A != i {
			t.Fatalf("kept[%d].A = %d, want %d", i, p.A, i)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	Register("dup", func(int) int { return 1 })
	t.Cleanup(func() { unregisterForTest("dup") })

	var nilFunc func(int) int
	tests := []struct {
		name string
		reg  string
		fn   any
		want []string // substrings of the panic message
	}{
		{"nil", "f_nil", nil, []string{`"f_nil"`, "fn is nil"}},
		{"not_a_func", "f_int", 3, []string{`"f_int"`, "fn is a int, not a func"}},
		{"nil_func_value", "f_nilfunc", nilFunc, []string{`"f_nilfunc"`, "nil func(int) int"}},
		{"no_results", "f_nores", func(int) {}, []string{`"f_nores"`, "no results", "(R), (R, error) or (error)"}},
		{"three_results", "f_three", func() (int, int, error) { return 0, 0, nil },
			[]string{`"f_three"`, "3 results"}},
		{"second_not_error", "f_second", func() (int, string) { return 0, "" },
			[]string{`"f_second"`, "second result is string: it must be error"}},
		{"error_error", "f_errerr", func() (error, error) { return nil, nil },
			[]string{`"f_errerr"`, "first result must be a value"}},
		{"ctx_not_first", "f_ctx2", func(int, context.Context) int { return 0 },
			[]string{`"f_ctx2"`, "parameter 1 is context.Context", "only be the first parameter"}},
		{"chan_param", "f_chan", func(chan int) int { return 0 },
			[]string{`"f_chan"`, "parameter 0 (chan int)", "msgpack cannot encode or decode chan int"}},
		{"func_in_slice_param", "f_funcs", func([]func()) int { return 0 },
			[]string{`"f_funcs"`, "parameter 0 ([]func())", "cannot encode or decode func()"}},
		{"variadic_chan", "f_vchan", func(...chan int) int { return 0 },
			[]string{`"f_vchan"`, "parameter 0", "chan int"}},
		{"interface_param", "f_iface", func(io.Reader) int { return 0 },
			[]string{`"f_iface"`, "non-empty interface io.Reader"}},
		{"func_result", "f_fres", func() func() { return nil },
			[]string{`"f_fres"`, "result (func())", "cannot encode or decode"}},
		{"complex_result", "f_cres", func() (complex128, error) { return 0, nil },
			[]string{`"f_cres"`, "complex128"}},
		{"empty_name", "", func() int { return 0 }, []string{`funcs.Register("")`, "name must not be empty"}},
		{"duplicate", "dup", func(int) int { return 2 },
			[]string{`"dup"`, "duplicate name", "already registered as dup(int) int"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := mustPanic(t, func() { Register(tt.reg, tt.fn) })
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("panic message %q does not contain %q", msg, w)
				}
			}
			if tt.reg != "dup" {
				if _, err := Lookup(tt.reg); err == nil {
					t.Errorf("%q was registered despite the panic", tt.reg)
				}
			}
		})
	}
}

func TestRegisterSameFuncTwice(t *testing.T) {
	fn := func(x int) int { return x }
	register(t, "twice", fn)
	Register("twice", fn) // must not panic
	if n := strings.Count(strings.Join(Names(), ","), "twice"); n != 1 {
		t.Fatalf("twice appears %d times in Names()", n)
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, n := range []string{"score", "scores", "rank", "normalize"} {
		register(t, n, func(x int) int { return x })
	}
	tests := []struct {
		lookup  string
		suggest []string // must appear, quoted
		absent  []string // must not appear, quoted
	}{
		{"scor", []string{"score", "scores"}, []string{"rank"}},
		{"Score", []string{"score"}, []string{"normalize"}},
		{"rnak", []string{"rank"}, []string{"score"}},
		{"normalise", []string{"normalize"}, nil},
		{"zzzzzzzz", nil, []string{"score", "rank", "normalize"}},
	}
	for _, tt := range tests {
		t.Run(tt.lookup, func(t *testing.T) {
			f, err := Lookup(tt.lookup)
			if f != nil || !errors.Is(err, ErrUnknownFunc) {
				t.Fatalf("Lookup(%q) = %v, %v; want error wrapping ErrUnknownFunc", tt.lookup, f, err)
			}
			msg := err.Error()
			for _, w := range []string{fmt.Sprintf("%q", tt.lookup), "futures.Register", "every node"} {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if len(tt.suggest) > 0 && !strings.Contains(msg, "did you mean") {
				t.Errorf("message %q has no suggestions", msg)
			}
			for _, s := range tt.suggest {
				if !strings.Contains(msg, fmt.Sprintf("%q", s)) {
					t.Errorf("message %q does not suggest %q", msg, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(msg, fmt.Sprintf("%q", s)) {
					t.Errorf("message %q suggests unrelated %q", msg, s)
				}
			}
		})
	}
}

func TestNamesSorted(t *testing.T) {
	for _, n := range []string{"names_c", "names_a", "names_b"} {
		register(t, n, func() int { return 0 })
	}
	names := Names()
	if !slices.IsSorted(names) {
		t.Fatalf("Names() not sorted: %v", names)
	}
	var ours []string
	for _, n := range names {
		if strings.HasPrefix(n, "names_") {
			ours = append(ours, n)
		}
	}
	if want := []string{"names_a", "names_b", "names_c"}; !slices.Equal(ours, want) {
		t.Fatalf("Names() has %v, want %v", ours, want)
	}
}

func TestResetForTest(t *testing.T) {
	Register("reset_me", func() int { return 0 })
	resetForTest()
	if n := Names(); len(n) != 0 {
		t.Fatalf("Names() after reset = %v", n)
	}
	_, err := Lookup("reset_me")
	if !errors.Is(err, ErrUnknownFunc) || !strings.Contains(err.Error(), "no functions are registered") {
		t.Fatalf("Lookup after reset: %v", err)
	}
}

func TestArity(t *testing.T) {
	fixed := register(t, "pair", func(ctx context.Context, a int, b string) (int, error) { return a, nil })
	vari := register(t, "atleast", func(a int, xs ...int) int { return a })
	tests := []struct {
		name string
		f    *Func
		n    int
		ok   bool
		want []string
	}{
		{"fixed_exact", fixed, 2, true, nil},
		{"fixed_none", fixed, 0, false, []string{"pair:", "got 0, want 2", "pair(context.Context, int, string) (int, error)", "supplied by the worker"}},
		{"fixed_one", fixed, 1, false, []string{"got 1, want 2"}},
		{"fixed_three", fixed, 3, false, []string{"got 3, want 2"}},
		{"variadic_min", vari, 1, true, nil},
		{"variadic_more", vari, 5, true, nil},
		{"variadic_none", vari, 0, false, []string{"atleast:", "got 0, want at least 1", "atleast(int, ...int) int"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.CheckArity(tt.n)
			args := make([][]byte, tt.n)
			for i := range args {
				args[i] = enc(t, 1)
			}
			if tt.n > 1 && tt.f == fixed {
				args[1] = enc(t, "s")
			}
			_, callErr := tt.f.Call(context.Background(), args)
			if tt.ok {
				if err != nil || callErr != nil {
					t.Fatalf("CheckArity = %v, Call err = %v; want nil", err, callErr)
				}
				return
			}
			for _, e := range []error{err, callErr} {
				if !errors.Is(e, ErrArgs) {
					t.Fatalf("error %v does not wrap ErrArgs", e)
				}
				for _, w := range tt.want {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("message %q does not contain %q", e.Error(), w)
					}
				}
			}
		})
	}
}

func TestUndecodableArgument(t *testing.T) {
	calls := 0
	score := register(t, "score", func(name string, n int) int { calls++; return n })
	pt := register(t, "pt", func(p point) int { calls++; return p.X })
	vari := register(t, "vsum", func(a int, xs ...int) int { calls++; return a })
	sl := register(t, "sl", func(xs []int) int { calls++; return len(xs) })
	tests := []struct {
		name string
		f    *Func
		args [][]byte
		want string // prefix of the message
	}{
		{"string_into_int", score, encAll(t, "a", "seven"), "score: argument 1: cannot decode into int: "},
		{"int_into_string", score, encAll(t, 7, 7), "score: argument 0: cannot decode into string: "},
		{"int_into_struct", pt, encAll(t, 3), "pt: argument 0: cannot decode into funcs.point: "},
		{"empty_bytes", score, [][]byte{enc(t, "a"), nil}, "score: argument 1: cannot decode into int: EOF"},
		{"truncated", score, [][]byte{enc(t, "a"), enc(t, "abcdef")[:3]}, "score: argument 1: cannot decode into int: "},
		{"trailing_bytes", score, [][]byte{append(enc(t, "a"), 0x01), enc(t, 1)}, "score: argument 0: cannot decode into string: 1 trailing bytes"},
		{"variadic_elem", vari, encAll(t, 1, 2, "x"), "vsum: argument 2: cannot decode into int: "},
		{"slice_of_wrong_type", sl, encAll(t, []string{"a"}), "sl: argument 0: cannot decode into []int: "},
		{"slice_from_map", sl, encAll(t, map[string]int{"a": 1}), "sl: argument 0: cannot decode into []int: "},
		{"slice_trailing", sl, [][]byte{append(enc(t, []int{1}), 0xc0)}, "sl: argument 0: cannot decode into []int: 1 trailing bytes"},
		// array32 header claiming 1e9 elements, with no elements: must fail
		// without allocating a 1e9-element slice.
		{"slice_hostile_length", sl, [][]byte{{0xdd, 0x3b, 0x9a, 0xca, 0x00}},
			"sl: argument 0: cannot decode into []int: array of 1000000000 elements in 0 remaining bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls = 0
			res, err := tt.f.Call(context.Background(), tt.args)
			if res != nil || !errors.Is(err, ErrArgs) {
				t.Fatalf("Call = %x, %v; want error wrapping ErrArgs", res, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("message %q does not start with %q", err.Error(), tt.want)
			}
			if calls != 0 {
				t.Fatalf("function was called %d times despite a bad argument", calls)
			}
		})
	}
}

var errSentinel = errors.New("sentinel")

type ptrErr struct{ msg string }

func (e *ptrErr) Error() string { return e.msg } // panics on a nil *ptrErr

func TestTaskError(t *testing.T) {
	tests := []struct {
		name string
		fn   any
		ctx  context.Context
		msg  string
	}{
		{"value_error", func(n int) (int, error) { return 0, fmt.Errorf("bad n %d: %w", n, errSentinel) }, nil,
			"task_value_error: bad n 3: sentinel"},
		{"error_only", func(n int) error { return fmt.Errorf("only %d: %w", n, errSentinel) }, nil,
			"task_error_only: only 3: sentinel"},
		{"ctx_error", func(_ context.Context, n int) (string, error) { return "", errSentinel }, context.Background(),
			"task_ctx_error: sentinel"},
		{"typed_nil", func(n int) (int, error) { var e *ptrErr; return 0, e }, nil,
			"task_typed_nil: <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := register(t, "task_"+tt.name, tt.fn)
			res, err := f.Call(tt.ctx, encAll(t, 3))
			var te *TaskError
			if res != nil || !errors.As(err, &te) {
				t.Fatalf("Call = %x, %v; want *TaskError", res, err)
			}
			if te.Func != f.Name() || err.Error() != tt.msg {
				t.Fatalf("TaskError = %+v (%q), want Func %q and message %q", te, err, f.Name(), tt.msg)
			}
			if tt.name != "typed_nil" && !errors.Is(err, errSentinel) {
				t.Fatalf("TaskError does not wrap the original error")
			}
		})
	}
}

func panicHere(kind string) int {
	switch kind {
	case "string":
		panic("kaboom")
	case "error":
		panic(errSentinel)
	case "runtime":
		var m map[string]int
		m["x"] = 1
	}
	return 0
}

func TestPanicRecovered(t *testing.T) {
	f := register(t, "panicky", func(kind string) int { return panicHere(kind) })
	tests := []struct {
		kind    string
		value   string
		unwraps func(error) bool
	}{
		{"string", "kaboom", func(e error) bool { return errors.Unwrap(e) == nil }},
		{"error", "sentinel", func(e error) bool { return errors.Is(e, errSentinel) }},
		{"runtime", "assignment to entry in nil map", func(e error) bool {
			var re runtime.Error
			return errors.As(e, &re)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			res, err := f.Call(context.Background(), encAll(t, tt.kind))
			var pe *PanicError
			if res != nil || !errors.As(err, &pe) {
				t.Fatalf("Call = %x, %v; want *PanicError", res, err)
			}
			if pe.Func != "panicky" || pe.Value != tt.value {
				t.Fatalf("PanicError = {Func %q, Value %q}, want {panicky, %q}", pe.Func, pe.Value, tt.value)
			}
			if want := "panicky panicked: " + tt.value; err.Error() != want {
				t.Fatalf("Error() = %q, want %q", err.Error(), want)
			}
			if !strings.Contains(pe.Stack, "funcs_test.go") || !strings.Contains(pe.Stack, "panicHere") {
				t.Fatalf("stack does not show the panicking function:\n%s", pe.Stack)
			}
			if !tt.unwraps(err) {
				t.Fatalf("PanicError unwrap mismatch: %v", errors.Unwrap(err))
			}
			// The Func still works after a panic.
			if _, err := f.Call(context.Background(), encAll(t, "none")); err != nil {
				t.Fatalf("call after panic: %v", err)
			}
		})
	}
}

func TestResultNotEncodable(t *testing.T) {
	tests := []struct {
		name string
		fn   any
		want string
	}{
		{"chan_in_any", func() any { return make(chan int) }, "res_chan_in_any: cannot encode result of type chan int"},
		{"complex_in_any", func() (any, error) { return complex(1, 2), nil }, "res_complex_in_any: cannot encode result of type complex128"},
		{"func_in_map", func() map[string]any { return map[string]any{"f": func() {}} }, "res_func_in_map: cannot encode result of type map[string]interface {}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := register(t, "res_"+tt.name, tt.fn)
			res, err := f.Call(context.Background(), nil)
			if res != nil || !errors.Is(err, ErrResult) {
				t.Fatalf("Call = %x, %v; want error wrapping ErrResult", res, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("message %q does not start with %q", err.Error(), tt.want)
			}
		})
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	tests := []struct {
		name string
		in   error
		out  error // pointer to a zero value of the same type
	}{
		{"task", &TaskError{Func: "score", Message: "boom", err: errSentinel}, &TaskError{}},
		{"panic", &PanicError{Func: "score", Value: "kaboom", Stack: "goroutine 1 [running]:\n...", err: errSentinel}, &PanicError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := enc(t, tt.in)
			if err := msgpack.Unmarshal(b, tt.out); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if tt.out.Error() != tt.in.Error() {
				t.Fatalf("after round trip Error() = %q, want %q", tt.out.Error(), tt.in.Error())
			}
			if pe, ok := tt.out.(*PanicError); ok && pe.Stack != tt.in.(*PanicError).Stack {
				t.Fatalf("stack lost: %q", pe.Stack)
			}
			if errors.Unwrap(tt.out) != nil {
				t.Fatalf("decoded error unwraps to %v; the original cannot cross the wire", errors.Unwrap(tt.out))
			}
		})
	}
}

func TestContextCancellation(t *testing.T) {
	started := make(chan struct{}, 1)
	f := register(t, "waiter", func(ctx context.Context, block bool) (string, error) {
		started <- struct{}{}
		if !block {
			return "", ctx.Err()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(10 * time.Second):
			return "not canceled", nil
		}
	})
	tests := []struct {
		name  string
		block bool
		ctx   func() (context.Context, context.CancelFunc)
		while func(context.CancelFunc) // run once the function has started
		want  error
	}{
		{"canceled_while_running", true, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"already_canceled", false, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, nil, context.Canceled},
		{"deadline", true, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, nil, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-started
				if tt.while != nil {
					tt.while(cancel)
				}
			}()
			res, err := f.Call(ctx, encAll(t, tt.block))
			wg.Wait()
			var te *TaskError
			if res != nil || !errors.As(err, &te) || !errors.Is(err, tt.want) {
				t.Fatalf("Call = %q, %v; want *TaskError wrapping %v", res, err, tt.want)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	scale := register(t, "conc_scale", func(p point, s []float64) point {
		return point{X: int(float64(p.X) * s[0]), Y: p.Y, Label: p.Label}
	})
	add := register(t, "conc_add", func(ctx context.Context, a, b int) (int, error) { return a + b, ctx.Err() })
	const workers, iters = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range iters {
				res, err := scale.Call(context.Background(), encAll(t, point{X: i, Y: w, Label: "w"}, []float64{2}))
				if err != nil {
					errs <- err
					return
				}
				var got point
				if err := msgpack.Unmarshal(res, &got); err != nil || got != (point{X: 2 * i, Y: w, Label: "w"}) {
					errs <- fmt.Errorf("worker %d iter %d: got %+v, %v", w, i, got, err)
					return
				}
				res, err = add.Call(context.Background(), encAll(t, w, i))
				var n int
				if err == nil {
					err = msgpack.Unmarshal(res, &n)
				}
				if err != nil || n != w+i {
					errs <- fmt.Errorf("worker %d iter %d: add = %d, %v", w, i, n, err)
					return
				}
			}
		}()
		go func() { // registry churn alongside the calls
			defer wg.Done()
			for i := range iters / 10 {
				name := fmt.Sprintf("conc_reg_%d_%d", w, i)
				Register(name, func() int { return i })
				if _, err := Lookup(name); err != nil {
					errs <- err
					return
				}
				_ = Names()
				unregisterForTest(name)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"alpha", "alphabet", "beta", "gamma", "delta"}
	tests := []struct {
		name string
		want []string
	}{
		{"alpah", []string{"alpha"}},
		{"alp", []string{"alpha", "alphabet"}},
		{"ALPHA", []string{"alpha", "alphabet"}},
		{"deta", []string{"beta", "delta"}},
		{"xyzzy", []string{}},
		{"ab", []string{}},
	}
	for _, tt := range tests {
		if got := suggest(tt.name, names, 3); !slices.Equal(got, tt.want) {
			t.Errorf("suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"rank", "rnak", 1}, // transposition
		{"score", "scor", 1},
		{"héllo", "hello", 1}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
