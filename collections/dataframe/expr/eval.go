package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/collections/internal/anyval"
)

type kind uint8

const (
	kNull kind = iota
	kInt
	kFloat
	kString
	kBool
	kTime // timestamp, any unit
)

func (k kind) String() string {
	return [...]string{"null", "int64", "float64", "string", "bool", "timestamp"}[k]
}

// operand is an evaluated sub-expression: an array or a scalar.
type operand struct {
	name   string // the expression, for errors
	n      int
	scalar bool
	kind   kind
	typ    arrow.DataType
	arr    arrow.Array
	owned  bool // arr was made by the evaluation and must be released
	i64    []int64
	f64    []float64
	str    *array.String
	bools  *array.Boolean
	// scalar values
	null bool
	si   int64
	sf   float64
	ss   string
	sb   bool
}

func (o *operand) release() {
	if o.owned && o.arr != nil {
		o.arr.Release()
	}
}

func (o *operand) isNull(i int) bool {
	if o.scalar {
		return o.null
	}
	return o.arr.IsNull(i)
}
func (o *operand) int(i int) int64 {
	if o.scalar {
		return o.si
	}
	return o.i64[i]
}
func (o *operand) float(i int) float64 {
	switch {
	case o.scalar && o.kind == kInt:
		return float64(o.si)
	case o.scalar:
		return o.sf
	case o.kind == kInt:
		return float64(o.i64[i])
	}
	return o.f64[i]
}
func (o *operand) string(i int) string {
	if o.scalar {
		return o.ss
	}
	return o.str.Value(i)
}
func (o *operand) bool(i int) bool {
	if o.scalar {
		return o.sb
	}
	return o.bools.Value(i)
}

// micros returns a timestamp value in microseconds.
func (o *operand) micros(i int) int64 {
	if o.scalar {
		return o.si
	}
	return toMicros(o.i64[i], o.typ.(*arrow.TimestampType).Unit)
}

func toMicros(v int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return v * 1e6
	case arrow.Millisecond:
		return v * 1e3
	case arrow.Nanosecond:
		return floorDiv(v, 1e3)
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func fromArray(arr arrow.Array, name string, owned bool) (operand, error) {
	o := operand{name: name, n: arr.Len(), arr: arr, typ: arr.DataType(), owned: owned}
	switch a := arr.(type) {
	case *array.Int64:
		o.kind, o.i64 = kInt, a.Int64Values()
	case *array.Float64:
		o.kind, o.f64 = kFloat, a.Float64Values()
	case *array.String:
		o.kind, o.str = kString, a
	case *array.Boolean:
		o.kind, o.bools = kBool, a
	case *array.Timestamp:
		o.kind = kTime
		o.i64 = arrow.Int64Traits.CastFromBytes(a.Data().Buffers()[1].Bytes())[a.Data().Offset() : a.Data().Offset()+a.Len()]
	case *array.Null:
		o.kind = kNull
	default:
		if owned {
			arr.Release()
		}
		return operand{}, fmt.Errorf("%s: unsupported type %s (supported: int64, float64, string, bool, timestamp)", name, arr.DataType())
	}
	return o, nil
}

// Eval evaluates e over rec; the result (of rec's length) is owned by the caller.
func Eval(mem memory.Allocator, rec arrow.RecordBatch, e Expr) (arrow.Array, error) {
	o, err := eval(mem, rec, e)
	if err != nil {
		return nil, err
	}
	if o.scalar {
		return broadcast(mem, &o, int(rec.NumRows())), nil
	}
	if !o.owned {
		o.arr.Retain()
	}
	return o.arr, nil
}

// Filter keeps the rows of rec where pred is true (null counts as false).
func Filter(mem memory.Allocator, rec arrow.RecordBatch, pred Expr) (arrow.RecordBatch, error) {
	m, err := Eval(mem, rec, pred)
	if err != nil {
		return nil, err
	}
	defer m.Release()
	if m.DataType().ID() != arrow.BOOL {
		return nil, fmt.Errorf("filter: predicate %s has type %s, want bool", pred, m.DataType())
	}
	return kernels.Filter(mem, rec, m)
}

// Project evaluates exprs over rec into a new record with the given column names.
func Project(mem memory.Allocator, rec arrow.RecordBatch, names []string, exprs []Expr) (arrow.RecordBatch, error) {
	if len(names) != len(exprs) {
		return nil, fmt.Errorf("project: %d names for %d expressions", len(names), len(exprs))
	}
	cols := make([]arrow.Array, len(exprs))
	fields := make([]arrow.Field, len(exprs))
	for i, e := range exprs {
		c, err := Eval(mem, rec, e)
		if err != nil {
			for _, c := range cols[:i] {
				c.Release()
			}
			return nil, err
		}
		cols[i] = c
		fields[i] = arrow.Field{Name: names[i], Type: c.DataType(), Nullable: true}
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}

func broadcast(mem memory.Allocator, o *operand, n int) arrow.Array {
	switch o.kind {
	case kInt:
		return buildInt(mem, n, func(int) (int64, bool) { return o.si, !o.null })
	case kFloat:
		return buildFloat(mem, n, func(int) (float64, bool) { return o.sf, !o.null })
	case kString:
		return buildString(mem, n, func(int) (string, bool) { return o.ss, !o.null })
	case kBool:
		return buildBool(mem, n, func(int) (bool, bool) { return o.sb, !o.null })
	case kTime:
		return buildTime(mem, n, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, func(int) (int64, bool) { return o.si, !o.null })
	}
	return array.NewNull(n)
}

// ---- builders ----

func buildInt(mem memory.Allocator, n int, f func(i int) (int64, bool)) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if v, ok := f(i); ok {
			b.UnsafeAppend(v)
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	return b.NewArray()
}

func buildTime(mem memory.Allocator, n int, t arrow.DataType, f func(i int) (int64, bool)) arrow.Array {
	b := array.NewTimestampBuilder(mem, t.(*arrow.TimestampType))
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if v, ok := f(i); ok {
			b.UnsafeAppend(arrow.Timestamp(v))
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	return b.NewArray()
}

func buildFloat(mem memory.Allocator, n int, f func(i int) (float64, bool)) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if v, ok := f(i); ok {
			b.UnsafeAppend(v)
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	return b.NewArray()
}

func buildBool(mem memory.Allocator, n int, f func(i int) (bool, bool)) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if v, ok := f(i); ok {
			b.UnsafeAppend(v)
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	return b.NewArray()
}

func buildString(mem memory.Allocator, n int, f func(i int) (string, bool)) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if v, ok := f(i); ok {
			b.Append(v)
		} else {
			b.AppendNull()
		}
	}
	return b.NewArray()
}

// ---- evaluation ----

func eval(mem memory.Allocator, rec arrow.RecordBatch, e Expr) (operand, error) {
	n := int(rec.NumRows())
	switch e.Op {
	case "col":
		idx := rec.Schema().FieldIndices(e.Col)
		if len(idx) == 0 {
			names := make([]string, rec.NumCols())
			for i, f := range rec.Schema().Fields() {
				names[i] = f.Name
			}
			return operand{}, fmt.Errorf("unknown column %q (have %v)", e.Col, names)
		}
		o, err := fromArray(rec.Column(idx[0]), "column "+strconv.Quote(e.Col), false)
		if err != nil {
			return operand{}, err
		}
		return o, nil
	case "lit":
		o := operand{name: e.String(), n: n, scalar: true}
		switch e.Kind {
		case "int64":
			o.kind, o.si = kInt, e.I
		case "float64":
			o.kind, o.sf = kFloat, e.F
		case "string":
			o.kind, o.ss = kString, e.S
		case "bool":
			o.kind, o.sb = kBool, e.B
		case "timestamp":
			o.kind, o.si = kTime, e.I
			o.typ = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case "null", "":
			o.kind, o.null = kNull, true
		default:
			return operand{}, fmt.Errorf("literal of unknown kind %q", e.Kind)
		}
		return o, nil
	}
	args := make([]operand, len(e.Args))
	defer func() {
		for i := range args {
			args[i].release()
		}
	}()
	for i, a := range e.Args {
		o, err := eval(mem, rec, a)
		if err != nil {
			return operand{}, err
		}
		args[i] = o
	}
	want := map[string]int{"add": 2, "sub": 2, "mul": 2, "div": 2, "mod": 2, "eq": 2, "ne": 2, "lt": 2, "le": 2,
		"gt": 2, "ge": 2, "and": 2, "or": 2, "fill_null": 2}[e.Op]
	if want == 0 {
		want = 1
	}
	if len(args) != want {
		return operand{}, fmt.Errorf("%s: %d arguments, want %d", e.Op, len(args), want)
	}
	res, err := apply(mem, e, args, n)
	if err != nil {
		return operand{}, err
	}
	if res.scalar {
		return res, nil
	}
	out, err := fromArray(res.arr, e.String(), true)
	return out, err
}

// apply computes one node; the result is an array operand (owned) or a scalar.
func apply(mem memory.Allocator, e Expr, a []operand, n int) (operand, error) {
	// an operation on scalars only is evaluated once, on one row
	allScalar := true
	for i := range a {
		allScalar = allScalar && a[i].scalar
	}
	if allScalar && n != 1 {
		one, err := apply(mem, e, a, 1)
		if err != nil {
			return operand{}, err
		}
		defer one.release()
		return scalarOf(one, e.String())
	}
	arr, err := compute(mem, e, a, n)
	if err != nil {
		return operand{}, err
	}
	return operand{arr: arr, owned: true, n: n}, nil
}

func scalarOf(o operand, name string) (operand, error) {
	if o.scalar {
		return o, nil
	}
	v, err := fromArray(o.arr, name, false)
	if err != nil {
		return operand{}, err
	}
	s := operand{name: name, scalar: true, kind: v.kind, typ: v.typ, null: v.arr.IsNull(0)}
	if s.null {
		return s, nil
	}
	switch v.kind {
	case kInt:
		s.si = v.i64[0]
	case kTime:
		s.si = v.micros(0)
	case kFloat:
		s.sf = v.f64[0]
	case kString:
		s.ss = strings.Clone(v.str.Value(0))
	case kBool:
		s.sb = v.bools.Value(0)
	}
	return s, nil
}

func numeric(k kind) bool { return k == kInt || k == kFloat || k == kNull }

func typeErr(e Expr, o *operand, want string) error {
	return fmt.Errorf("%s: %s has type %s, want %s", e.String(), o.name, o.kindName(), want)
}

func (o *operand) kindName() string {
	if o.typ != nil {
		return o.typ.String()
	}
	return o.kind.String()
}

func compute(mem memory.Allocator, e Expr, a []operand, n int) (arrow.Array, error) {
	switch e.Op {
	case "add", "sub", "mul", "div", "mod":
		x, y := &a[0], &a[1]
		for _, o := range []*operand{x, y} {
			if !numeric(o.kind) {
				return nil, typeErr(e, o, "a number")
			}
		}
		null := func(i int) bool { return x.isNull(i) || y.isNull(i) }
		if x.kind != kFloat && y.kind != kFloat && e.Op != "div" {
			return buildInt(mem, n, func(i int) (int64, bool) {
				if null(i) {
					return 0, false
				}
				p, q := x.int(i), y.int(i)
				switch e.Op {
				case "add":
					return p + q, true
				case "sub":
					return p - q, true
				case "mul":
					return p * q, true
				}
				if q == 0 {
					return 0, false
				}
				r := p % q
				if r != 0 && (r < 0) != (q < 0) {
					r += q // floored modulo, as Python
				}
				return r, true
			}), nil
		}
		return buildFloat(mem, n, func(i int) (float64, bool) {
			if null(i) {
				return 0, false
			}
			p, q := x.float(i), y.float(i)
			switch e.Op {
			case "add":
				return p + q, true
			case "sub":
				return p - q, true
			case "mul":
				return p * q, true
			case "div":
				return p / q, true
			}
			r := math.Mod(p, q)
			if r != 0 && (r < 0) != (q < 0) {
				r += q
			}
			return r, true
		}), nil
	case "neg":
		x := &a[0]
		switch x.kind {
		case kInt, kNull:
			return buildInt(mem, n, func(i int) (int64, bool) { return -x.int(i), !x.isNull(i) }), nil
		case kFloat:
			return buildFloat(mem, n, func(i int) (float64, bool) { return -x.float(i), !x.isNull(i) }), nil
		}
		return nil, typeErr(e, x, "a number")
	case "eq", "ne", "lt", "le", "gt", "ge":
		return compare(mem, e, &a[0], &a[1], n)
	case "and", "or":
		x, y := &a[0], &a[1]
		for _, o := range []*operand{x, y} {
			if o.kind != kBool && o.kind != kNull {
				return nil, typeErr(e, o, "bool")
			}
		}
		and := e.Op == "and"
		return buildBool(mem, n, func(i int) (bool, bool) {
			xn, yn := x.isNull(i), y.isNull(i)
			xv, yv := !xn && x.bool(i), !yn && y.bool(i)
			if and {
				if (!xn && !xv) || (!yn && !yv) {
					return false, true
				}
				if xn || yn {
					return false, false
				}
				return true, true
			}
			if xv || yv {
				return true, true
			}
			if xn || yn {
				return false, false
			}
			return false, true
		}), nil
	case "not":
		x := &a[0]
		if x.kind != kBool && x.kind != kNull {
			return nil, typeErr(e, x, "bool")
		}
		return buildBool(mem, n, func(i int) (bool, bool) { return !x.isNull(i) && !x.bool(i), !x.isNull(i) }), nil
	case "is_null", "not_null":
		x := &a[0]
		want := e.Op == "is_null"
		return buildBool(mem, n, func(i int) (bool, bool) { return x.isNull(i) == want, true }), nil
	case "fill_null":
		return fillNull(mem, e, &a[0], &a[1], n)
	case "cast":
		return cast(mem, e, &a[0], n)
	case "contains", "starts_with", "ends_with":
		x := &a[0]
		if x.kind != kString && x.kind != kNull {
			return nil, typeErr(e, x, "string")
		}
		f := map[string]func(string, string) bool{"contains": strings.Contains, "starts_with": strings.HasPrefix, "ends_with": strings.HasSuffix}[e.Op]
		return buildBool(mem, n, func(i int) (bool, bool) {
			if x.isNull(i) {
				return false, false
			}
			return f(x.string(i), e.S), true
		}), nil
	case "lower", "upper":
		x := &a[0]
		if x.kind != kString && x.kind != kNull {
			return nil, typeErr(e, x, "string")
		}
		var scratch []byte
		upper := e.Op == "upper"
		return buildString(mem, n, func(i int) (string, bool) {
			if x.isNull(i) {
				return "", false
			}
			s := x.string(i)
			scratch = scratch[:0]
			for j := 0; j < len(s); j++ {
				c := s[j]
				if c >= utf8.RuneSelf {
					if upper {
						return strings.ToUpper(s), true
					}
					return strings.ToLower(s), true
				}
				if upper && 'a' <= c && c <= 'z' {
					c -= 'a' - 'A'
				} else if !upper && 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				scratch = append(scratch, c)
			}
			if len(scratch) == 0 {
				return "", true
			}
			return unsafe.String(&scratch[0], len(scratch)), true // copied by the builder
		}), nil
	case "len":
		x := &a[0]
		if x.kind != kString && x.kind != kNull {
			return nil, typeErr(e, x, "string")
		}
		return buildInt(mem, n, func(i int) (int64, bool) {
			if x.isNull(i) {
				return 0, false
			}
			return int64(utf8.RuneCountInString(x.string(i))), true
		}), nil
	case "year", "month", "day", "hour", "minute", "second", "weekday":
		return datePart(mem, e, &a[0], n)
	}
	return nil, fmt.Errorf("unknown operation %q in %s", e.Op, e.String())
}

func compare(mem memory.Allocator, e Expr, x, y *operand, n int) (arrow.Array, error) {
	// a string literal compared with a timestamp is parsed as a timestamp
	for _, p := range [][2]*operand{{x, y}, {y, x}} {
		if p[0].kind == kTime && p[1].kind == kString && p[1].scalar {
			us, err := parseTime(p[1].ss)
			if err != nil {
				return nil, fmt.Errorf("%s: %s is not a timestamp: %v", e.String(), p[1].name, err)
			}
			p[1].kind, p[1].si = kTime, us
		}
	}
	var c func(i int) int
	switch {
	case x.kind == kNull || y.kind == kNull:
		c = func(int) int { return 0 }
	case x.kind == kInt && y.kind == kInt:
		c = func(i int) int { return anyval.Compare(x.int(i), y.int(i)) }
	case numeric(x.kind) && numeric(y.kind):
		c = func(i int) int { return anyval.Compare(x.float(i), y.float(i)) }
	case x.kind == kString && y.kind == kString:
		c = func(i int) int { return strings.Compare(x.string(i), y.string(i)) }
	case x.kind == kBool && y.kind == kBool:
		c = func(i int) int { return anyval.Compare(b2i(x.bool(i)), b2i(y.bool(i))) }
	case x.kind == kTime && y.kind == kTime:
		c = func(i int) int { return anyval.Compare(x.micros(i), y.micros(i)) }
	default:
		return nil, fmt.Errorf("%s: cannot compare %s (%s) with %s (%s)", e.String(), x.name, x.kindName(), y.name, y.kindName())
	}
	var ok func(int) bool
	switch e.Op {
	case "eq":
		ok = func(r int) bool { return r == 0 }
	case "ne":
		ok = func(r int) bool { return r != 0 }
	case "lt":
		ok = func(r int) bool { return r < 0 }
	case "le":
		ok = func(r int) bool { return r <= 0 }
	case "gt":
		ok = func(r int) bool { return r > 0 }
	default:
		ok = func(r int) bool { return r >= 0 }
	}
	return buildBool(mem, n, func(i int) (bool, bool) {
		if x.isNull(i) || y.isNull(i) {
			return false, false
		}
		return ok(c(i)), true
	}), nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func fillNull(mem memory.Allocator, e Expr, x, y *operand, n int) (arrow.Array, error) {
	k := x.kind
	switch {
	case x.kind == kNull:
		k = y.kind
	case y.kind == kNull || x.kind == y.kind:
	case numeric(x.kind) && numeric(y.kind):
		k = kFloat
	case x.kind == kTime && y.kind == kString && y.scalar:
		us, err := parseTime(y.ss)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not a timestamp: %v", e.String(), y.name, err)
		}
		y.kind, y.si = kTime, us
	default:
		return nil, fmt.Errorf("%s: cannot fill %s (%s) with %s (%s)", e.String(), x.name, x.kindName(), y.name, y.kindName())
	}
	pick := func(i int) *operand {
		if x.isNull(i) {
			return y
		}
		return x
	}
	switch k {
	case kInt:
		return buildInt(mem, n, func(i int) (int64, bool) { o := pick(i); return o.int(i), !o.isNull(i) }), nil
	case kFloat:
		return buildFloat(mem, n, func(i int) (float64, bool) { o := pick(i); return o.float(i), !o.isNull(i) }), nil
	case kString:
		return buildString(mem, n, func(i int) (string, bool) { o := pick(i); return o.string(i), !o.isNull(i) }), nil
	case kBool:
		return buildBool(mem, n, func(i int) (bool, bool) { o := pick(i); return o.bool(i), !o.isNull(i) }), nil
	case kTime:
		t := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		if x.kind == kTime && !x.scalar {
			t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: x.typ.(*arrow.TimestampType).TimeZone}
		}
		return buildTime(mem, n, t, func(i int) (int64, bool) { o := pick(i); return o.micros(i), !o.isNull(i) }), nil
	}
	return array.NewNull(n), nil
}

var timeLayouts = []string{"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05Z07:00"}

func parseTime(s string) (int64, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixMicro(), nil
		}
	}
	return 0, fmt.Errorf("cannot parse %q as a timestamp", s)
}

func cast(mem memory.Allocator, e Expr, x *operand, n int) (arrow.Array, error) {
	bad := func(i int) error {
		return fmt.Errorf("%s: cannot cast %s value %q to %s", e.String(), x.name, x.string(i), e.Kind)
	}
	var firstErr error
	switch e.Kind {
	case "int64":
		switch x.kind {
		case kInt, kNull, kTime:
			if x.kind == kTime {
				return buildInt(mem, n, func(i int) (int64, bool) { return x.micros(i), !x.isNull(i) }), nil
			}
			return buildInt(mem, n, func(i int) (int64, bool) { return x.int(i), !x.isNull(i) }), nil
		case kFloat:
			return buildInt(mem, n, func(i int) (int64, bool) {
				f := x.float(i)
				return int64(f), !x.isNull(i) && !math.IsNaN(f) && !math.IsInf(f, 0)
			}), nil
		case kBool:
			return buildInt(mem, n, func(i int) (int64, bool) { return b2i(x.bool(i)), !x.isNull(i) }), nil
		case kString:
			a := buildInt(mem, n, func(i int) (int64, bool) {
				if x.isNull(i) {
					return 0, false
				}
				v, err := strconv.ParseInt(strings.TrimSpace(x.string(i)), 10, 64)
				if err != nil && firstErr == nil {
					firstErr = bad(i)
				}
				return v, err == nil
			})
			return errOr(a, firstErr)
		}
	case "float64":
		switch x.kind {
		case kInt, kFloat, kNull:
			return buildFloat(mem, n, func(i int) (float64, bool) { return x.float(i), !x.isNull(i) }), nil
		case kBool:
			return buildFloat(mem, n, func(i int) (float64, bool) { return float64(b2i(x.bool(i))), !x.isNull(i) }), nil
		case kString:
			a := buildFloat(mem, n, func(i int) (float64, bool) {
				if x.isNull(i) {
					return 0, false
				}
				v, err := strconv.ParseFloat(strings.TrimSpace(x.string(i)), 64)
				if err != nil && firstErr == nil {
					firstErr = bad(i)
				}
				return v, err == nil
			})
			return errOr(a, firstErr)
		}
	case "string":
		var buf []byte
		return buildString(mem, n, func(i int) (string, bool) {
			if x.isNull(i) {
				return "", false
			}
			buf = buf[:0]
			switch x.kind {
			case kInt:
				buf = strconv.AppendInt(buf, x.int(i), 10)
			case kFloat:
				buf = strconv.AppendFloat(buf, x.float(i), 'g', -1, 64)
			case kBool:
				buf = strconv.AppendBool(buf, x.bool(i))
			case kString:
				return x.string(i), true
			case kTime:
				buf = time.UnixMicro(x.micros(i)).UTC().AppendFormat(buf, "2006-01-02 15:04:05.999999")
			}
			return string(buf), true
		}), nil
	case "bool":
		switch x.kind {
		case kBool, kNull:
			return buildBool(mem, n, func(i int) (bool, bool) { return x.bool(i), !x.isNull(i) }), nil
		case kInt, kFloat:
			return buildBool(mem, n, func(i int) (bool, bool) { return x.float(i) != 0, !x.isNull(i) }), nil
		case kString:
			a := buildBool(mem, n, func(i int) (bool, bool) {
				if x.isNull(i) {
					return false, false
				}
				v, err := strconv.ParseBool(strings.TrimSpace(x.string(i)))
				if err != nil && firstErr == nil {
					firstErr = bad(i)
				}
				return v, err == nil
			})
			return errOr(a, firstErr)
		}
	case "timestamp":
		t := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		switch x.kind {
		case kTime:
			return buildTime(mem, n, t, func(i int) (int64, bool) { return x.micros(i), !x.isNull(i) }), nil
		case kInt, kNull:
			return buildTime(mem, n, t, func(i int) (int64, bool) { return x.int(i), !x.isNull(i) }), nil
		case kString:
			a := buildTime(mem, n, t, func(i int) (int64, bool) {
				if x.isNull(i) {
					return 0, false
				}
				v, err := parseTime(strings.TrimSpace(x.string(i)))
				if err != nil && firstErr == nil {
					firstErr = bad(i)
				}
				return v, err == nil
			})
			return errOr(a, firstErr)
		}
	default:
		return nil, fmt.Errorf("%s: unknown target type %q (want int64, float64, string, bool or timestamp)", e.String(), e.Kind)
	}
	return nil, fmt.Errorf("%s: cannot cast %s (%s) to %s", e.String(), x.name, x.kindName(), e.Kind)
}

func errOr(a arrow.Array, err error) (arrow.Array, error) {
	if err != nil {
		a.Release()
		return nil, err
	}
	return a, nil
}

// civil returns year, month, day of days since 1970-01-01.
func civil(days int64) (int64, int64, int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func datePart(mem memory.Allocator, e Expr, x *operand, n int) (arrow.Array, error) {
	if x.kind != kTime && x.kind != kNull {
		return nil, typeErr(e, x, "timestamp")
	}
	var loc *time.Location
	if x.kind == kTime && !x.scalar {
		if tz := x.typ.(*arrow.TimestampType).TimeZone; tz != "" && tz != "UTC" {
			l, err := time.LoadLocation(tz)
			if err != nil {
				return nil, fmt.Errorf("%s: time zone %q: %v", e.String(), tz, err)
			}
			loc = l
		}
	}
	op := e.Op
	return buildInt(mem, n, func(i int) (int64, bool) {
		if x.isNull(i) {
			return 0, false
		}
		us := x.micros(i)
		if loc != nil {
			_, off := time.UnixMicro(us).In(loc).Zone()
			us += int64(off) * 1e6
		}
		days := floorDiv(us, 86400e6)
		rem := us - days*86400e6
		switch op {
		case "year":
			y, _, _ := civil(days)
			return y, true
		case "month":
			_, m, _ := civil(days)
			return m, true
		case "day":
			_, _, d := civil(days)
			return d, true
		case "hour":
			return rem / 3600e6, true
		case "minute":
			return rem / 60e6 % 60, true
		case "second":
			return rem / 1e6 % 60, true
		}
		return ((days+3)%7 + 7) % 7, true // 1970-01-01 was a Thursday; Monday = 0
	}), nil
}
