// Package delayed owns Delayed values: lazy calls of registered functions
// that form one task graph, as dask.delayed does. Call records a call whose
// arguments may be literals, other delayed values or futures; nothing runs
// until Compute (or Persist) builds one futures.Graph of every value asked
// for, optimizes it (package futures: culling, fusion of linear chains,
// depth-first priorities) and submits it, so a value shared by several
// others is computed once.
//
//	func init() {
//		futures.Register("load", load)   // func(path string) ([]float64, error)
//		futures.Register("clean", clean) // func([]float64) []float64
//		futures.Register("stats", stats) // func(a, b []float64) Summary
//	}
//
//	a := delayed.Call("clean", delayed.Call("load", "a.json"))
//	b := delayed.Call("clean", delayed.Call("load", "b.json"))
//	s := delayed.Call("stats", a, b)
//	out, err := delayed.ComputeAs[Summary](ctx, client, s)
//
// Functions are registered by name (futures.Register) in a binary every
// node runs; a name the mesh does not know is an error from Compute.
// Visualize writes the graph as Graphviz DOT, and SVG when the dot program
// is installed.
package delayed

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/futures"
)

// Value is a lazy call (or a future wrapped by FromFuture). It is
// immutable; one Value may be an argument of many others.
type Value struct {
	fn   string
	args []any
	fut  *futures.Future
	err  error
}

// ErrInvalid is wrapped by the errors of values built with bad arguments.
var ErrInvalid = errors.New("invalid delayed call")

// Call returns the lazy call fn(args...). An argument may be a *Value, a
// *futures.Future, a []*Value (the function gets a slice of their results,
// gathered by a "delayed.list" task), a futures.TaskOption (Retries,
// Pure(false), ..., applied to this call) or any msgpack-encodable value.
// Delayed values are looked for only there: a *Value inside a map, a
// struct or a []any is an error.
func Call(fn string, args ...any) *Value {
	v := &Value{fn: fn, args: args}
	if fn == "" {
		v.err = fmt.Errorf("%w: empty function name", ErrInvalid)
		return v
	}
	for i, a := range args {
		switch x := a.(type) {
		case *Value:
			if x == nil {
				v.err = fmt.Errorf("%w: %s: argument %d is a nil *Value", ErrInvalid, fn, i)
			}
		case Value:
			v.err = fmt.Errorf("%w: %s: argument %d is a delayed.Value: pass the *Value that Call returned", ErrInvalid, fn, i)
		case []*Value:
			for j, e := range x {
				if e == nil {
					v.err = fmt.Errorf("%w: %s: argument %d: element %d is a nil *Value", ErrInvalid, fn, i, j)
				}
			}
		case []any:
			for j, e := range x {
				if _, ok := e.(*Value); ok {
					v.err = fmt.Errorf("%w: %s: argument %d: element %d of a []any is a *Value: pass a []*Value (all delayed) or the values as separate arguments", ErrInvalid, fn, i, j)
				}
			}
		case *futures.Future:
			if x == nil {
				v.err = fmt.Errorf("%w: %s: argument %d is a nil *futures.Future", ErrInvalid, fn, i)
			}
		}
	}
	return v
}

// FromFuture wraps a future (from Submit, Scatter, Persist ...) as a value.
func FromFuture(f *futures.Future) *Value {
	if f == nil {
		return &Value{err: fmt.Errorf("%w: FromFuture(nil)", ErrInvalid)}
	}
	return &Value{fut: f}
}

// Future is the future behind a value made by Persist or FromFuture, or
// nil for a lazy call.
func (v *Value) Future() *futures.Future { return v.fut }

// String describes the call, e.g. "clean(load(\"a.json\"))".
func (v *Value) String() string {
	if v.fut != nil {
		return "future(" + v.fut.Key() + ")"
	}
	s := v.fn + "("
	for i, a := range v.args {
		if i > 0 {
			s += ", "
		}
		switch x := a.(type) {
		case *Value:
			s += x.String()
		case []*Value:
			s += "["
			for j, e := range x {
				if j > 0 {
					s += ", "
				}
				s += e.String()
			}
			s += "]"
		case *futures.Future:
			s += "future(" + x.Key() + ")"
		default:
			s += fmt.Sprintf("%#v", a)
		}
	}
	return s + ")"
}

// Build adds values and everything they call to a new graph (each Value
// once, and equal pure calls once by key) and returns it with the values'
// refs, in order, as built: not optimized. Compute and Persist optimize it.
func Build(values ...*Value) (*futures.Graph, []futures.Ref, error) {
	if len(values) == 0 {
		return nil, nil, fmt.Errorf("%w: no values given", ErrInvalid)
	}
	b := &builder{g: futures.NewGraph(), refs: map[*Value]futures.Ref{}}
	refs := make([]futures.Ref, len(values))
	for i, v := range values {
		if v == nil {
			return nil, nil, fmt.Errorf("%w: value %d is nil", ErrInvalid, i)
		}
		if v.fut != nil {
			// An output that is already a future: an identity task gives
			// it a place in the graph.
			r, err := b.g.Add(identityFunc, v.fut)
			if err != nil {
				return nil, nil, err
			}
			refs[i] = r
			continue
		}
		r, err := b.add(v)
		if err != nil {
			return nil, nil, err
		}
		refs[i] = r
	}
	return b.g, refs, nil
}

// identityFunc returns its argument: it makes a future an output of a
// graph. listFunc returns its arguments as one msgpack array: a []*Value
// argument.
const (
	identityFunc = "delayed.identity"
	listFunc     = "delayed.list"
)

func init() {
	futures.Register(identityFunc, func(v futures.RawValue) futures.Encoded { return futures.Encoded(v) })
	futures.Register(listFunc, func(vs ...futures.RawValue) futures.Encoded {
		n := len(vs)
		size := 5
		for _, v := range vs {
			size += len(v)
		}
		out := make([]byte, 0, size)
		switch {
		case n < 16:
			out = append(out, 0x90|byte(n))
		case n <= 0xffff:
			out = append(out, 0xdc, byte(n>>8), byte(n))
		default:
			out = append(out, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		for _, v := range vs {
			out = append(out, v...)
		}
		return futures.Encoded(out)
	})
}

type builder struct {
	g    *futures.Graph
	refs map[*Value]futures.Ref
}

func (b *builder) add(v *Value) (futures.Ref, error) {
	if r, ok := b.refs[v]; ok {
		return r, nil
	}
	if v.err != nil {
		return futures.Ref{}, v.err
	}
	args := make([]any, len(v.args))
	for i, a := range v.args {
		var err error
		switch x := a.(type) {
		case *Value:
			args[i], err = b.arg(x)
		case []*Value:
			list := make([]any, len(x))
			for j, e := range x {
				if list[j], err = b.arg(e); err != nil {
					break
				}
			}
			if err == nil {
				args[i], err = b.g.Add(listFunc, list...)
			}
		default:
			args[i] = a
		}
		if err != nil {
			return futures.Ref{}, err
		}
	}
	r, err := b.g.Add(v.fn, args...)
	if err != nil {
		return futures.Ref{}, fmt.Errorf("delayed %s: %w", v.fn, err)
	}
	b.refs[v] = r
	return r, nil
}

// arg is what a delayed value is as a task argument: its future, or the
// ref of its call.
func (b *builder) arg(x *Value) (any, error) {
	if x.fut != nil {
		return x.fut, nil
	}
	return b.add(x)
}

// submit builds, optimizes and submits the graph of values.
func submit(ctx context.Context, c *futures.Client, values []*Value) ([]*futures.Future, error) {
	g, refs, err := Build(values...)
	if err != nil {
		return nil, err
	}
	og, err := g.Optimize(refs...)
	if err != nil {
		return nil, err
	}
	return c.Compute(ctx, og, refs...)
}

// Result is one computed value, msgpack-encoded.
type Result []byte

// Decode decodes the value into out (a pointer).
func (r Result) Decode(out any) error { return msgpack.Unmarshal(r, out) }

// Compute runs values as one graph and returns their results in order.
// The client holds nothing afterwards.
func Compute(ctx context.Context, c *futures.Client, values ...*Value) ([]Result, error) {
	raws, err := compute[msgpack.RawMessage](ctx, c, values)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(raws))
	for i, r := range raws {
		out[i] = Result(r)
	}
	return out, nil
}

// ComputeAs runs values as one graph and decodes their results into T.
func ComputeAs[T any](ctx context.Context, c *futures.Client, values ...*Value) ([]T, error) {
	return compute[T](ctx, c, values)
}

func compute[T any](ctx context.Context, c *futures.Client, values []*Value) ([]T, error) {
	fs, err := submit(ctx, c, values)
	if err != nil {
		return nil, err
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	return futures.GatherAs[T](ctx, c, fs)
}

// Persist submits values as one graph and returns values backed by their
// futures, without waiting: later calls that read them start from the
// results the mesh holds. Release them when done.
func Persist(ctx context.Context, c *futures.Client, values ...*Value) ([]*Value, error) {
	fs, err := submit(ctx, c, values)
	if err != nil {
		return nil, err
	}
	out := make([]*Value, len(fs))
	for i, f := range fs {
		out[i] = FromFuture(f)
	}
	return out, nil
}

// Release drops the results held for persisted values (lazy calls are
// skipped).
func Release(ctx context.Context, c *futures.Client, values ...*Value) error {
	var fs []*futures.Future
	for _, v := range values {
		if v != nil && v.fut != nil {
			fs = append(fs, v.fut)
		}
	}
	if len(fs) == 0 {
		return nil
	}
	return c.Release(ctx, fs...)
}
