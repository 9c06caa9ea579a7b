package dataframe

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/vmihailenco/msgpack/v5"
)

// PartitionFunc is a user function that MapPartitions runs on every
// partition, on the workers. It must not release rec (nor keep it after
// returning); it returns a new record, which the caller releases, or rec
// itself. Allocate with memory.DefaultAllocator.
type PartitionFunc func(ctx context.Context, rec arrow.RecordBatch, args Args) (arrow.RecordBatch, error)

// Args are the arguments given to MapPartitions, as the partition function
// receives them (msgpack-encoded for the trip to the workers).
type Args struct{ raw [][]byte }

// Len is the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Decode decodes argument i into v (a pointer), e.g.
//
//	var factor float64
//	if err := args.Decode(0, &factor); err != nil { return nil, err }
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return fmt.Errorf("partition function argument %d: there are %d arguments", i, len(a.raw))
	}
	if err := msgpack.Unmarshal(a.raw[i], v); err != nil {
		return fmt.Errorf("partition function argument %d: %w", i, err)
	}
	return nil
}

var (
	partFuncsMu sync.RWMutex
	partFuncs   = map[string]PartitionFunc{}
)

// RegisterPartitionFunc makes fn available to MapPartitions under name.
// Workers run it by name, so register it in an init function of the node
// binary (and of the client, when it is another binary), e.g.
//
//	func init() {
//		dataframe.RegisterPartitionFunc("scale", func(ctx context.Context, rec arrow.RecordBatch, args dataframe.Args) (arrow.RecordBatch, error) { ... })
//	}
//
// It panics if name is empty, fn is nil or name is already registered.
func RegisterPartitionFunc(name string, fn PartitionFunc) {
	if name == "" || fn == nil {
		panic("dataframe.RegisterPartitionFunc: empty name or nil function")
	}
	partFuncsMu.Lock()
	defer partFuncsMu.Unlock()
	if _, ok := partFuncs[name]; ok {
		panic(fmt.Sprintf("dataframe.RegisterPartitionFunc: %q is already registered", name))
	}
	partFuncs[name] = fn
}

func partitionFunc(name string) (PartitionFunc, bool) {
	partFuncsMu.RLock()
	defer partFuncsMu.RUnlock()
	fn, ok := partFuncs[name]
	return fn, ok
}

// runPartitionFunc runs a registered function on rec; a panic becomes an
// error naming the function.
func runPartitionFunc(ctx context.Context, rec arrow.RecordBatch, name string, args [][]byte) (out arrow.RecordBatch, err error) {
	fn, ok := partitionFunc(name)
	if !ok {
		return nil, fmt.Errorf("dataframe: partition function %q is not registered on this node: call dataframe.RegisterPartitionFunc(%q, fn) in an init function of the node binary", name, name)
	}
	defer func() {
		if r := recover(); r != nil {
			out = nil
			err = fmt.Errorf("dataframe: partition function %q panicked: %v (at %s)", name, r, panicSite())
		}
	}()
	out, err = fn(ctx, rec, Args{raw: args})
	if err != nil {
		return nil, fmt.Errorf("partition function %q: %w", name, err)
	}
	if out == nil {
		return nil, fmt.Errorf("dataframe: partition function %q returned no record and no error", name)
	}
	if out == rec {
		out.Retain() // the caller releases both
	}
	return out, nil
}

// panicSite is the file:line where a panic being recovered was raised (the
// first frame outside the runtime), for the error message.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}
