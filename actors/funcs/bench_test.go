package funcs

import (
	"context"
	"testing"
)

func benchCall(b *testing.B, name string, fn any, args ...any) {
	b.Helper()
	f := register(b, name, fn)
	enc := encAll(b, args...)
	ctx := context.Background()
	if _, err := f.Call(ctx, enc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.Call(ctx, enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCall(b *testing.B) {
	b.Run("int", func(b *testing.B) {
		benchCall(b, "bench_int", func(x int) int { return x + 1 }, 41)
	})
	b.Run("ctx_int_error", func(b *testing.B) {
		benchCall(b, "bench_ctx_int", func(_ context.Context, x int) (int, error) { return x + 1, nil }, 41)
	})
	b.Run("struct_slice", func(b *testing.B) {
		benchCall(b, "bench_struct_slice", func(p point, xs []float64) float64 {
			s := float64(p.X + p.Y)
			for _, x := range xs {
				s += x
			}
			return s
		}, point{X: 1, Y: 2, Label: "p"}, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	})
	b.Run("flat_struct", func(b *testing.B) {
		benchCall(b, "bench_flat", func(f flat) flat { return f }, flat{A: 1, B: 2, C: 3})
	})
	b.Run("variadic", func(b *testing.B) {
		benchCall(b, "bench_variadic", func(xs ...int) int { return len(xs) }, 1, 2, 3)
	})
	b.Run("error_only", func(b *testing.B) {
		benchCall(b, "bench_err", func(int) error { return nil }, 1)
	})
}

func BenchmarkCallParallel(b *testing.B) {
	f := register(b, "bench_par", func(x int) int { return x + 1 })
	enc := encAll(b, 41)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Call(context.Background(), enc); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	register(b, "bench_lookup", func(x int) int { return x })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Lookup("bench_lookup"); err != nil {
			b.Fatal(err)
		}
	}
}
