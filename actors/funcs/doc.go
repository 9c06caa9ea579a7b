// Package funcs owns the registry of named task functions and the reflective
// call that runs them.
//
// Go cannot ship closures between processes, so every mesh node runs the same
// binary, and that binary registers its task functions by name at init time
// (as Bigslice and Gleam do). A client submits a task as a function name plus
// msgpack-encoded arguments; a worker looks the function up with [Lookup] and
// runs it with [Func.Call], which decodes each argument into the parameter
// type, calls the function, and msgpack-encodes its result. An argument is
// either a literal from the client or the stored msgpack result of another
// task, so results and arguments share one encoding.
//
// The package owns:
//
//   - the process-wide registry ([Register], [Lookup], [Names]), the one
//     piece of global mutable state, guarded by a sync.RWMutex;
//   - signature validation at registration time, so a bad function fails the
//     binary at startup rather than a task at run time;
//   - the call path ([Func.Call]), with reflection data cached at
//     registration and decoder/encoder state pooled per function;
//   - the error vocabulary of a call: [ErrUnknownFunc], [ErrArgs] and
//     [ErrResult] (sentinels for errors.Is), and [TaskError] and [PanicError]
//     (plain msgpack-encodable structs that can cross the wire).
//
// A valid function has the shape
//
//	func([context.Context,] A1, A2, ...[, ...V]) (R) | (R, error) | (error)
//
// where every Ai, V and R is a type msgpack can encode and decode (basic
// types, structs, slices, arrays, maps, pointers, any). The public face is
// futures.Register, which calls [Register].
//
// This package imports nothing else from the module.
package funcs
