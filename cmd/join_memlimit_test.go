package cmd

import "testing"

func TestSoftMemoryLimit(t *testing.T) {
	for _, c := range []struct{ store, want int64 }{
		{0, 0},
		{-1, 0},
		{100 << 20, 100<<20 + 1<<30},
		{1 << 30, 2 << 30},
		{4 << 30, 8 << 30},
	} {
		if got := softMemoryLimit(c.store); got != c.want {
			t.Errorf("softMemoryLimit(%d) = %d, want %d", c.store, got, c.want)
		}
	}
}
