// Package expr owns the expression trees of the DataFrame collection: column references, literals, arithmetic,
// comparisons, boolean logic, null handling, casts, string operations and date parts, and their evaluation over
// Arrow record batches (Eval, Filter). An Expr is plain data: msgpack round-trips it, so a plan built on the
// client can be executed by any worker without user code. Columns tells which columns an expression reads (for
// projection push-down), String renders it for plans and errors.
package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expr is a node of an expression tree.
type Expr struct {
	// Op: col, lit, add, sub, mul, div, mod, neg, eq, ne, lt, le, gt, ge, and, or, not, is_null, not_null,
	// fill_null, cast, contains, starts_with, ends_with, lower, upper, len, year, month, day, hour, minute,
	// second, weekday (Monday = 0).
	Op string `msgpack:"op"`
	// Col is the column name of a col node.
	Col string `msgpack:"col,omitempty"`
	// Kind is the type of a lit node (int64, float64, string, bool, timestamp (I in microseconds, UTC), null)
	// and of a cast's target (int64, float64, string, bool, timestamp).
	Kind string  `msgpack:"kind,omitempty"`
	I    int64   `msgpack:"i,omitempty"`
	F    float64 `msgpack:"f,omitempty"`
	S    string  `msgpack:"s,omitempty"` // string literal, or the pattern of contains / starts_with / ends_with
	B    bool    `msgpack:"b,omitempty"`
	Args []Expr  `msgpack:"args,omitempty"`
}

// Col refers to a column.
func Col(name string) Expr { return Expr{Op: "col", Col: name} }

// Lit makes a literal of an int (any width), float, string, bool, time.Time or nil.
func Lit(v any) Expr {
	switch x := v.(type) {
	case Expr:
		return x
	case nil:
		return Expr{Op: "lit", Kind: "null"}
	case int:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case int8:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case int16:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case int32:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case int64:
		return Expr{Op: "lit", Kind: "int64", I: x}
	case uint8:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case uint16:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case uint32:
		return Expr{Op: "lit", Kind: "int64", I: int64(x)}
	case float32:
		return Expr{Op: "lit", Kind: "float64", F: float64(x)}
	case float64:
		return Expr{Op: "lit", Kind: "float64", F: x}
	case string:
		return Expr{Op: "lit", Kind: "string", S: x}
	case bool:
		return Expr{Op: "lit", Kind: "bool", B: x}
	case time.Time:
		return Expr{Op: "lit", Kind: "timestamp", I: x.UnixMicro()}
	}
	panic(fmt.Sprintf("expr.Lit: unsupported literal type %T", v))
}

func call(op string, args ...Expr) Expr { return Expr{Op: op, Args: args} }

// Arithmetic (int op int stays int64 except Div, which gives float64; a float operand gives float64).
func (e Expr) Add(o any) Expr { return call("add", e, Lit(o)) }
func (e Expr) Sub(o any) Expr { return call("sub", e, Lit(o)) }
func (e Expr) Mul(o any) Expr { return call("mul", e, Lit(o)) }
func (e Expr) Div(o any) Expr { return call("div", e, Lit(o)) }
func (e Expr) Mod(o any) Expr { return call("mod", e, Lit(o)) }
func (e Expr) Neg() Expr      { return call("neg", e) }

// Comparisons give bool; a null operand gives null.
func (e Expr) Eq(o any) Expr { return call("eq", e, Lit(o)) }
func (e Expr) Ne(o any) Expr { return call("ne", e, Lit(o)) }
func (e Expr) Lt(o any) Expr { return call("lt", e, Lit(o)) }
func (e Expr) Le(o any) Expr { return call("le", e, Lit(o)) }
func (e Expr) Gt(o any) Expr { return call("gt", e, Lit(o)) }
func (e Expr) Ge(o any) Expr { return call("ge", e, Lit(o)) }

// Boolean logic with Kleene semantics for nulls (false AND null = false, true OR null = true).
func (e Expr) And(o any) Expr { return call("and", e, Lit(o)) }
func (e Expr) Or(o any) Expr  { return call("or", e, Lit(o)) }
func (e Expr) Not() Expr      { return call("not", e) }

// Null handling.
func (e Expr) IsNull() Expr          { return call("is_null", e) }
func (e Expr) NotNull() Expr         { return call("not_null", e) }
func (e Expr) FillNull(v any) Expr   { return call("fill_null", e, Lit(v)) }
func (e Expr) Cast(kind string) Expr { return Expr{Op: "cast", Kind: kind, Args: []Expr{e}} }

// String operations (on utf8 columns; Len counts bytes).
func (e Expr) Contains(s string) Expr   { return Expr{Op: "contains", S: s, Args: []Expr{e}} }
func (e Expr) StartsWith(s string) Expr { return Expr{Op: "starts_with", S: s, Args: []Expr{e}} }
func (e Expr) EndsWith(s string) Expr   { return Expr{Op: "ends_with", S: s, Args: []Expr{e}} }
func (e Expr) Lower() Expr              { return call("lower", e) }
func (e Expr) Upper() Expr              { return call("upper", e) }
func (e Expr) Len() Expr                { return call("len", e) }

// Date parts of timestamps (in the timestamp's zone; UTC when it has none), as int64.
func (e Expr) Year() Expr    { return call("year", e) }
func (e Expr) Month() Expr   { return call("month", e) }
func (e Expr) Day() Expr     { return call("day", e) }
func (e Expr) Hour() Expr    { return call("hour", e) }
func (e Expr) Minute() Expr  { return call("minute", e) }
func (e Expr) Second() Expr  { return call("second", e) }
func (e Expr) Weekday() Expr { return call("weekday", e) }

// Columns returns the columns e reads, each once, in order of first reference.
func (e Expr) Columns() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(x Expr)
	walk = func(x Expr) {
		if x.Op == "col" && !seen[x.Col] {
			seen[x.Col] = true
			out = append(out, x.Col)
		}
		for _, a := range x.Args {
			walk(a)
		}
	}
	walk(e)
	return out
}

var infix = map[string]string{"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "eq": "==", "ne": "!=",
	"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "and": "AND", "or": "OR"}

// String renders e, e.g. ((a + b) > 3).
func (e Expr) String() string {
	switch e.Op {
	case "col":
		return e.Col
	case "lit":
		switch e.Kind {
		case "int64":
			return strconv.FormatInt(e.I, 10)
		case "float64":
			s := strconv.FormatFloat(e.F, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eEn") {
				s += ".0"
			}
			return s
		case "string":
			return strconv.Quote(e.S)
		case "bool":
			return strconv.FormatBool(e.B)
		case "timestamp":
			return "timestamp(" + time.UnixMicro(e.I).UTC().Format(time.RFC3339Nano) + ")"
		}
		return "null"
	case "neg":
		return "-" + argString(e, 0)
	case "not":
		return "NOT " + argString(e, 0)
	case "cast":
		return fmt.Sprintf("cast(%s, %s)", argString(e, 0), e.Kind)
	case "contains", "starts_with", "ends_with":
		return fmt.Sprintf("%s(%s, %q)", e.Op, argString(e, 0), e.S)
	}
	if op, ok := infix[e.Op]; ok && len(e.Args) == 2 {
		return "(" + e.Args[0].String() + " " + op + " " + e.Args[1].String() + ")"
	}
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = a.String()
	}
	return e.Op + "(" + strings.Join(parts, ", ") + ")"
}

func argString(e Expr, i int) string {
	if i < len(e.Args) {
		return e.Args[i].String()
	}
	return "?"
}
