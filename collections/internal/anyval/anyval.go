// Package anyval converts and orders the dynamically typed values the
// collections get from users and from msgpack (bag's TopK keys and
// ToDataFrame fields, dataframe's Loc bounds): integers of any Go type as
// int64, numbers as float64, and one ordering of numbers, strings, bools
// and times.
package anyval

import (
	"math"
	"time"
)

// Int is v as an int64 when v is an integer that fits one.
func Int(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// Float is v as a float64 when v is a number (an integer or a float).
func Float(v any) (float64, bool) {
	if i, ok := Int(v); ok {
		return float64(i), true
	}
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// Compare orders a and b: -1, 0 or 1. Unlike cmp.Compare, a NaN is equal
// to everything (neither less nor greater), as the collections have always
// ordered floats with < and >.
func Compare[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CompareAny orders two values of the same kind (ok false when they are
// not): integers exactly, other numbers as float64 (Compare: a NaN is equal
// to everything), strings, bools (false first) and times.
func CompareAny(a, b any) (c int, ok bool) {
	ai, aInt := Int(a)
	bi, bInt := Int(b)
	if aInt && bInt {
		return Compare(ai, bi), true
	}
	af, aNum := Float(a)
	bf, bNum := Float(b)
	if aNum && bNum {
		return Compare(af, bf), true
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return Compare(x, y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0, true
			case y:
				return -1, true
			}
			return 1, true
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true
		}
	}
	return 0, false
}
