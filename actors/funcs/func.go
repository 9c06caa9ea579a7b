package funcs

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

const validShape = "func([context.Context,] A1, A2, ...[, ...V]) (R) | (R, error) | (error)"

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()

	// Types that msgpack encodes or decodes through methods rather than by
	// kind; their insides are not checked at registration.
	coderTypes = []reflect.Type{
		reflect.TypeFor[msgpack.CustomEncoder](),
		reflect.TypeFor[msgpack.CustomDecoder](),
		reflect.TypeFor[msgpack.Marshaler](),
		reflect.TypeFor[msgpack.Unmarshaler](),
		reflect.TypeFor[encoding.BinaryMarshaler](),
		reflect.TypeFor[encoding.BinaryUnmarshaler](),
		reflect.TypeFor[encoding.TextMarshaler](),
		reflect.TypeFor[encoding.TextUnmarshaler](),
	}
)

// resultShape is what a function returns.
type resultShape uint8

const (
	resultValue    resultShape = iota // (R)
	resultValueErr                    // (R, error)
	resultErr                         // (error)
)

// maxPooledBuf caps the encode buffer kept in a pooled call state, so that one
// huge result does not pin memory forever.
const maxPooledBuf = 64 << 10

// Func is a registered task function. Everything the call path needs from
// reflection is computed once, at Register time. A *Func is safe for
// concurrent use.
type Func struct {
	name     string
	fn       reflect.Value
	typ      reflect.Type
	sig      string         // "name(context.Context, int, ...float64) (int, error)"
	takesCtx bool           // first parameter is context.Context
	params   []reflect.Type // fixed parameters after ctx (excluding the variadic one)
	modes    []paramMode    // how params[i] is decoded
	variadic reflect.Type   // slice type of the variadic parameter, or nil
	result   resultShape
	pool     sync.Pool // of *callState
}

// callState is the per-call scratch space, pooled per Func.
type callState struct {
	rd    bytes.Reader
	dec   *msgpack.Decoder
	buf   bytes.Buffer
	enc   *msgpack.Encoder
	in    []reflect.Value // arguments for reflect.Value.Call
	slots []reflect.Value // reusable zeroed decode targets, for paramSlot params
	ctx   context.Context // backing store of ctxv
	ctxv  reflect.Value   // settable Value of type context.Context aliasing ctx
}

func newFunc(name string, fn any) (*Func, error) {
	if fn == nil {
		return nil, errors.New("fn is nil")
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func {
		return nil, fmt.Errorf("fn is a %s, not a func", t)
	}
	if v.IsNil() {
		return nil, fmt.Errorf("fn is a nil %s", t)
	}
	f := &Func{name: name, fn: v, typ: t}

	// Parameters.
	n := t.NumIn()
	first := 0
	if n > 0 && t.In(0) == contextType {
		f.takesCtx = true
		first = 1
	}
	last := n
	if t.IsVariadic() {
		last = n - 1
		f.variadic = t.In(n - 1)
	}
	for i := first; i < n; i++ {
		pt := t.In(i)
		if pt == contextType {
			return nil, fmt.Errorf("parameter %d is context.Context: a context.Context may only be the first parameter", i)
		}
		check := pt
		if i == n-1 && f.variadic != nil {
			check = pt.Elem()
		}
		if err := checkType(check, true); err != nil {
			return nil, fmt.Errorf("parameter %d (%s): %v", i, pt, err)
		}
		if i < last {
			f.params = append(f.params, pt)
			f.modes = append(f.modes, modeFor(pt))
		}
	}

	// Results.
	switch t.NumOut() {
	case 0:
		return nil, errors.New("fn has no results: it must return (R), (R, error) or (error)")
	case 1:
		if t.Out(0) == errorType {
			f.result = resultErr
		} else {
			f.result = resultValue
		}
	case 2:
		if t.Out(1) != errorType {
			return nil, fmt.Errorf("fn's second result is %s: it must be error", t.Out(1))
		}
		if t.Out(0) == errorType {
			return nil, errors.New("fn returns (error, error): the first result must be a value, not an error")
		}
		f.result = resultValueErr
	default:
		return nil, fmt.Errorf("fn has %d results: it must return (R), (R, error) or (error)", t.NumOut())
	}
	if f.result != resultErr {
		if err := checkType(t.Out(0), false); err != nil {
			return nil, fmt.Errorf("result (%s): %v", t.Out(0), err)
		}
	}

	f.sig = signature(name, t)
	f.pool.New = f.newState
	return f, nil
}

// signature renders t as "name(A1, A2, ...V) (R, error)".
func signature(name string, t reflect.Type) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('(')
	for i := 0; i < t.NumIn(); i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == t.NumIn()-1 && t.IsVariadic() {
			b.WriteString("...")
			b.WriteString(t.In(i).Elem().String())
		} else {
			b.WriteString(t.In(i).String())
		}
	}
	b.WriteByte(')')
	switch t.NumOut() {
	case 0:
	case 1:
		b.WriteByte(' ')
		b.WriteString(t.Out(0).String())
	default:
		b.WriteString(" (")
		for i := 0; i < t.NumOut(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(t.Out(i).String())
		}
		b.WriteByte(')')
	}
	return b.String()
}

// checkType rejects types msgpack cannot handle: chan, func, complex and
// unsafe.Pointer anywhere in the type's pointer/slice/array/map structure,
// and, for parameters (decode), non-empty interfaces other than error.
// Struct fields are not inspected (they may be skipped by tags); problems
// there surface at call time as ErrArgs or ErrResult.
func checkType(t reflect.Type, decode bool) error {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type) error
	walk = func(t reflect.Type) error {
		if seen[t] {
			return nil
		}
		seen[t] = true
		if hasCoder(t) {
			return nil
		}
		switch t.Kind() {
		case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
			return fmt.Errorf("msgpack cannot encode or decode %s", t)
		case reflect.Interface:
			if decode && t.NumMethod() > 0 && t != errorType {
				return fmt.Errorf("msgpack cannot decode into the non-empty interface %s; use a concrete type or any", t)
			}
		case reflect.Pointer, reflect.Slice, reflect.Array:
			return walk(t.Elem())
		case reflect.Map:
			if err := walk(t.Key()); err != nil {
				return err
			}
			return walk(t.Elem())
		}
		return nil
	}
	return walk(t)
}

// paramMode says how a parameter is decoded on the call path.
type paramMode uint8

const (
	// paramSlot: decode into a zeroed value kept in the pooled call state.
	// Safe because reflect.Value.Call copies each argument into the callee's
	// frame, so the function never sees the slot's memory, and a zeroed
	// slot holds no references for msgpack to reuse: everything a decode
	// allocates is fresh. The slot is zeroed again after the call so the
	// pool does not keep arguments alive.
	paramSlot paramMode = iota
	// paramSlice: an unnamed slice type (other than []byte) is decoded by
	// reading the array header and allocating the slice at its exact length
	// (msgpack v5.4.1's own slice decoding allocates several times; see
	// decodeSlice).
	paramSlice
	// paramNew: decode into reflect.New(t). Used for types whose own
	// msgpack/encoding decode methods receive a pointer to the target, which
	// they could retain.
	paramNew
	// paramRaw: a RawBytes parameter aliases the argument's bytes.
	paramRaw
	// paramRawValue: a RawValue parameter is the argument's whole msgpack
	// encoding, aliased.
	paramRawValue
)

func modeFor(t reflect.Type) paramMode {
	if t == rawBytesType {
		return paramRaw
	}
	if t == rawValueType {
		return paramRawValue
	}
	if hasCoder(t) {
		return paramNew
	}
	if t.Kind() == reflect.Slice && t.Name() == "" && t.Elem().Kind() != reflect.Uint8 {
		return paramSlice
	}
	return paramSlot
}

// hasCoder reports whether msgpack would encode or decode t (or *t) through
// methods rather than by kind.
func hasCoder(t reflect.Type) bool {
	for _, c := range coderTypes {
		if t.Implements(c) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(c)) {
			return true
		}
	}
	return false
}

func (f *Func) newState() any {
	st := &callState{
		dec:   msgpack.NewDecoder(nil),
		enc:   msgpack.NewEncoder(nil),
		in:    make([]reflect.Value, 0, f.typ.NumIn()),
		slots: make([]reflect.Value, len(f.params)),
	}
	for i, pt := range f.params {
		if f.modes[i] == paramSlot {
			st.slots[i] = reflect.New(pt).Elem()
		}
	}
	if f.takesCtx {
		st.ctxv = reflect.ValueOf(&st.ctx).Elem()
	}
	return st
}

// Name returns the name the function was registered under.
func (f *Func) Name() string { return f.name }

// Signature returns the function's signature with its registered name, e.g.
// "score(context.Context, int, ...float64) (int, error)".
func (f *Func) Signature() string { return f.sig }

// NumArgs returns the number of arguments the function takes, not counting a
// leading context.Context, and whether it is variadic (then NumArgs is the
// minimum).
func (f *Func) NumArgs() (n int, variadic bool) { return len(f.params), f.variadic != nil }

// CheckArity returns an error wrapping ErrArgs if n arguments (not counting
// the context.Context, which the worker supplies) are the wrong number for
// the function.
func (f *Func) CheckArity(n int) error {
	want := len(f.params)
	if n == want || (f.variadic != nil && n > want) {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: wrong number of arguments: got %d, want ", f.name, n)
	if f.variadic != nil {
		b.WriteString("at least ")
	}
	fmt.Fprintf(&b, "%d; signature %s", want, f.sig)
	if f.takesCtx {
		b.WriteString(" (the context.Context is supplied by the worker, not passed as an argument)")
	}
	return &kindError{kind: ErrArgs, msg: b.String()}
}

// Call decodes args (one msgpack value each) into the function's parameter
// types, calls the function, and returns the msgpack encoding of its result.
// If the function takes a context.Context, ctx is passed (a nil ctx becomes
// context.Background()). A function returning only error yields the msgpack
// encoding of nil.
//
// Errors:
//   - wrong argument count, or an argument that does not decode into its
//     parameter type: an error wrapping ErrArgs, e.g.
//     "score: argument 1: cannot decode into int: <msgpack error>"
//     (argument indexes are 0-based positions in args);
//   - the function returns a non-nil error: *TaskError wrapping it;
//   - the function panics: *PanicError, with the stack at the panic;
//   - the result cannot be encoded: an error wrapping ErrResult.
func (f *Func) Call(ctx context.Context, args [][]byte) (result []byte, err error) {
	if err := f.CheckArity(len(args)); err != nil {
		return nil, err
	}
	st := f.pool.Get().(*callState)
	in := st.in[:0]
	if f.takesCtx {
		if ctx == nil {
			ctx = context.Background()
		}
		st.ctx = ctx
		in = append(in, st.ctxv)
	}

	nfixed := len(f.params)
	for i := 0; i < nfixed; i++ {
		var v reflect.Value
		var err error
		switch f.modes[i] {
		case paramSlot:
			v = st.slots[i] // zero: fresh from newState or zeroed by release
			err = st.decode(args[i], v)
		case paramSlice:
			v, err = st.decodeSlice(args[i], f.params[i])
		case paramRawValue:
			v = reflect.ValueOf(RawValue(args[i]))
		case paramRaw:
			var raw RawBytes
			raw, err = rawBin(args[i])
			v = reflect.ValueOf(raw)
		default:
			v = reflect.New(f.params[i]).Elem()
			err = st.decode(args[i], v)
		}
		if err != nil {
			f.release(st, in)
			return nil, f.argError(i, f.params[i], err)
		}
		in = append(in, v)
	}
	if f.variadic != nil {
		// Decode the extras straight into the variadic slice and use
		// CallSlice: one allocation for the slice, none per element. No
		// extras means a nil slice, as in an ordinary Go call.
		extra := len(args) - nfixed
		sv := reflect.Zero(f.variadic)
		if extra > 0 {
			sv = reflect.MakeSlice(f.variadic, extra, extra)
			raw := f.variadic.Elem() == rawBytesType
			rawValue := f.variadic.Elem() == rawValueType
			for j := 0; j < extra; j++ {
				if rawValue {
					sv.Index(j).Set(reflect.ValueOf(RawValue(args[nfixed+j])))
					continue
				}
				if raw {
					b, err := rawBin(args[nfixed+j])
					if err != nil {
						f.release(st, in)
						return nil, f.argError(nfixed+j, rawBytesType, err)
					}
					sv.Index(j).Set(reflect.ValueOf(b))
					continue
				}
				if err := st.decode(args[nfixed+j], sv.Index(j)); err != nil {
					f.release(st, in)
					return nil, f.argError(nfixed+j, f.variadic.Elem(), err)
				}
			}
		}
		in = append(in, sv)
	}

	out, perr := f.invoke(in)
	if perr != nil {
		// The state is fine (the panic was in user code), but drop it
		// anyway rather than reason about it.
		clear(in)
		st.ctx = nil
		return nil, perr
	}
	switch f.result {
	case resultErr:
		f.release(st, in)
		if e := out[0]; !e.IsNil() {
			return nil, f.taskError(e)
		}
		return []byte{msgpcode.Nil}, nil
	case resultValueErr:
		if e := out[1]; !e.IsNil() {
			f.release(st, in)
			return nil, f.taskError(e)
		}
	}
	if t := out[0].Type(); t == encodedType || t == rawValueType {
		// Already one msgpack value (a RawValue passed on, say).
		result = out[0].Bytes()
		f.release(st, in)
		if len(result) == 0 {
			return nil, fmt.Errorf("%s: %w: an empty %s result", f.name, ErrResult, t.Name())
		}
		return result, nil
	}
	if out[0].Type() == rawBytesType {
		result = frameBin(out[0].Interface().(RawBytes))
		f.release(st, in)
		return result, nil
	}
	result, err = st.encode(f.name, out[0])
	f.release(st, in)
	return result, err
}

// invoke calls the function, turning a panic into a *PanicError.
func (f *Func) invoke(in []reflect.Value) (out []reflect.Value, perr *PanicError) {
	defer func() {
		if r := recover(); r != nil {
			perr = &PanicError{Func: f.name, Value: fmt.Sprint(r), Stack: string(debug.Stack())}
			if e, ok := r.(error); ok {
				perr.err = e
			}
		}
	}()
	if f.variadic != nil {
		return f.fn.CallSlice(in), nil
	}
	return f.fn.Call(in), nil
}

// release clears the references the call state holds, so that pooling it
// does not keep arguments or the context alive, and returns it to the pool.
func (f *Func) release(st *callState, in []reflect.Value) {
	clear(in)
	st.in = in[:0]
	st.ctx = nil
	for _, v := range st.slots {
		if v.IsValid() {
			v.SetZero()
		}
	}
	st.rd.Reset(nil)
	if st.buf.Cap() > maxPooledBuf {
		st.buf = bytes.Buffer{}
	}
	f.pool.Put(st)
}

func (f *Func) argError(i int, t reflect.Type, err error) error {
	return &kindError{
		kind:  ErrArgs,
		msg:   fmt.Sprintf("%s: argument %d: cannot decode into %s: %v", f.name, i, t, err),
		cause: err,
	}
}

func (f *Func) taskError(v reflect.Value) *TaskError {
	err := v.Interface().(error)
	// fmt.Sprint rather than err.Error(): fmt recovers a panicking Error
	// method (a typed nil pointer returned as error, say) instead of
	// crashing the worker.
	return &TaskError{Func: f.name, Message: fmt.Sprint(err), err: err}
}

// decode decodes exactly one msgpack value from b into v.
func (st *callState) decode(b []byte, v reflect.Value) (err error) {
	defer func() {
		// msgpack can panic inside reflect on hostile input for some
		// types; that is a bad argument, not a task failure.
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while decoding: %v", r)
		}
	}()
	st.rd.Reset(b)
	st.dec.Reset(&st.rd)
	if err := st.dec.DecodeValue(v); err != nil {
		return err
	}
	if n := st.rd.Len(); n > 0 {
		return fmt.Errorf("%d trailing bytes after the msgpack value", n)
	}
	return nil
}

// decodeSlice decodes one msgpack array (or nil) from b as a new value of the
// slice type t, allocating the slice once at its final length. The length is
// checked against the bytes left (every element takes at least one), so a
// short hostile header cannot make it allocate a huge slice.
func (st *callState) decodeSlice(b []byte, t reflect.Type) (s reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while decoding: %v", r)
		}
	}()
	st.rd.Reset(b)
	st.dec.Reset(&st.rd)
	n, err := st.dec.DecodeArrayLen()
	if err != nil {
		return reflect.Value{}, err
	}
	if n == -1 {
		s = reflect.Zero(t)
	} else {
		if n > st.rd.Len() {
			return reflect.Value{}, fmt.Errorf("array of %d elements in %d remaining bytes", n, st.rd.Len())
		}
		s = reflect.MakeSlice(t, n, n)
		for i := 0; i < n; i++ {
			if err := st.dec.DecodeValue(s.Index(i)); err != nil {
				return reflect.Value{}, err
			}
		}
	}
	if n := st.rd.Len(); n > 0 {
		return reflect.Value{}, fmt.Errorf("%d trailing bytes after the msgpack value", n)
	}
	return s, nil
}

// encode msgpack-encodes v into a freshly allocated slice.
func (st *callState) encode(name string, v reflect.Value) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while encoding: %v", r)
		}
		if err != nil {
			t := v.Type()
			if t.Kind() == reflect.Interface && !v.IsNil() {
				t = v.Elem().Type()
			}
			b = nil
			err = &kindError{
				kind:  ErrResult,
				msg:   fmt.Sprintf("%s: cannot encode result of type %s: %v", name, t, err),
				cause: err,
			}
		}
	}()
	st.buf.Reset()
	st.enc.Reset(&st.buf)
	if err := st.enc.EncodeValue(v); err != nil {
		return nil, err
	}
	return bytes.Clone(st.buf.Bytes()), nil
}
