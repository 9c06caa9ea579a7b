package funcs

import "errors"

// Sentinel errors, for use with errors.Is. The errors returned by this
// package carry their own messages; the sentinels only classify them.
var (
	// ErrUnknownFunc: no function is registered under the name.
	ErrUnknownFunc = errors.New("funcs: unknown function")
	// ErrArgs: wrong number of arguments, or an argument that cannot be
	// decoded into its parameter type.
	ErrArgs = errors.New("funcs: bad arguments")
	// ErrResult: the function's result cannot be msgpack-encoded.
	ErrResult = errors.New("funcs: result cannot be encoded")
)

// kindError is an error with its own message that matches a sentinel (kind)
// under errors.Is and wraps an optional cause.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }
func (e *kindError) Unwrap() error        { return e.cause }

// TaskError reports that a task function returned a non-nil error.
//
// It is a plain struct so that it can be msgpack-encoded and sent to the
// client. Locally it wraps the function's original error (see Unwrap); after
// a round trip through msgpack only Func and Message survive.
type TaskError struct {
	Func    string `msgpack:"func"`    // registered name of the function
	Message string `msgpack:"message"` // the error's Error() text
	err     error  // original error; not encoded
}

// Error returns "<func>: <message>".
func (e *TaskError) Error() string { return e.Func + ": " + e.Message }

// Unwrap returns the function's original error, or nil if the TaskError was
// decoded from the wire.
func (e *TaskError) Unwrap() error { return e.err }

// PanicError reports that a task function panicked. The panic was recovered;
// Stack holds the goroutine stack captured (runtime/debug.Stack) while the
// panic was being handled, so it includes the panicking frames.
//
// It is a plain struct so that it can be msgpack-encoded and sent to the
// client, which can show Stack to the user.
type PanicError struct {
	Func  string `msgpack:"func"`  // registered name of the function
	Value string `msgpack:"value"` // fmt.Sprint of the panic value
	Stack string `msgpack:"stack"` // stack trace at the panic
	err   error  // panic value, if it was an error; not encoded
}

// Error returns "<func> panicked: <value>".
func (e *PanicError) Error() string { return e.Func + " panicked: " + e.Value }

// Unwrap returns the panic value if it was an error (for example a
// runtime.Error), or nil.
func (e *PanicError) Unwrap() error { return e.err }
