package anyval

import (
	"cmp"
	"math"
	"testing"
	"time"
)

// NaN is equal to everything, as the collections' < and > ordering always
// had it (cmp.Compare would put it first): TopK and Loc keep their
// behaviour.
func TestCompareNaN(t *testing.T) {
	nan := math.NaN()
	floats := []float64{nan, math.Inf(-1), -1.5, 0, 2, math.Inf(1)}
	for _, a := range floats {
		for _, b := range floats {
			want := 0
			if a < b {
				want = -1
			} else if a > b {
				want = 1
			}
			if got := Compare(a, b); got != want {
				t.Fatalf("Compare(%v, %v) = %d, want %d", a, b, got, want)
			}
			if got, ok := CompareAny(a, b); !ok || got != want {
				t.Fatalf("CompareAny(%v, %v) = %d, %v; want %d", a, b, got, ok, want)
			}
		}
	}
	if cmp.Compare(nan, 1.0) != -1 || Compare(nan, 1.0) != 0 {
		t.Fatal("the NaN semantics differ from what this test says: see Compare's doc")
	}
}

func TestCompareAny(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		a, b any
		want int
		ok   bool
	}{
		{int64(math.MaxInt64), int64(math.MaxInt64 - 1), 1, true}, // exact, not through float64
		{int8(3), uint32(3), 0, true},
		{int(2), 2.5, -1, true},
		{uint64(math.MaxUint64), int64(1), 1, true}, // beyond int64: as a float
		{float32(1.5), 1.5, 0, true},
		{"b", "a", 1, true},
		{false, true, -1, true},
		{true, true, 0, true},
		{t0, t0.Add(time.Second), -1, true},
		{"1", 1, 0, false},
		{true, 1, 0, false},
		{nil, 1, 0, false},
		{[]int{1}, []int{1}, 0, false},
	}
	for _, tt := range tests {
		got, ok := CompareAny(tt.a, tt.b)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CompareAny(%#v, %#v) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIntFloat(t *testing.T) {
	if i, ok := Int(uint64(math.MaxInt64)); !ok || i != math.MaxInt64 {
		t.Fatalf("Int(MaxInt64 as uint64) = %d, %v", i, ok)
	}
	if _, ok := Int(uint64(math.MaxInt64) + 1); ok {
		t.Fatal("Int of a uint64 beyond int64 should not fit")
	}
	if _, ok := Int(1.0); ok {
		t.Fatal("Int(1.0): a float is not an integer here")
	}
	if f, ok := Float(uint64(math.MaxUint64)); !ok || f != math.MaxUint64 {
		t.Fatalf("Float(MaxUint64) = %v, %v", f, ok)
	}
	if _, ok := Float("1"); ok {
		t.Fatal("Float of a string")
	}
}
