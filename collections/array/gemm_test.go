package array

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// dgemmAcc against gonum's Dgemm, on shapes around the kernel's and the
// blocks' edges, with leading dimensions wider than the matrices.
func TestDgemmAcc(t *testing.T) {
	for _, s := range [][3]int{{1, 1, 1}, {6, 8, 5}, {47, 49, 50}, {61, 67, 300}, {130, 9, 257}, {7, 1030, 64}, {121, 33, 513}} {
		m, n, k := s[0], s[1], s[2]
		lda, ldb, ldc := k+3, n+1, n+2
		a := make([]float64, m*lda)
		b := make([]float64, k*ldb)
		c := make([]float64, m*ldc)
		for i := range a {
			a[i] = RandomValue(1, i) - 0.5
		}
		for i := range b {
			b[i] = RandomValue(2, i) - 0.5
		}
		for i := range c {
			c[i] = RandomValue(3, i)
		}
		want := append([]float64(nil), c...)
		gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, lda, b, ldb, 1, want, ldc)
		for _, kern := range []*tileKernel{gemmKernel(true), gemmKernel(false)} {
			got := append([]float64(nil), c...)
			dgemmWith(kern, m, n, k, a, lda, b, ldb, got, ldc)
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-12*float64(k) {
					t.Fatalf("%dx%dx%d, kernel %+v: element %d: %v, want %v", m, n, k, kern, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkMatMulBlock: one 1000x1000x1000 block product (2 GFLOP), our
// kernel and gonum's.
func BenchmarkMatMulBlock(b *testing.B) {
	const n = 1000
	x := make([]float64, n*n)
	for i := range x {
		x[i] = RandomValue(1, i)
	}
	c := make([]float64, n*n)
	for _, avx512 := range []bool{true, false} {
		kern := gemmKernel(avx512)
		if kern == nil {
			continue
		}
		b.Run(fmt.Sprintf("tile%dx%d", kern.mr, kern.nr), func(b *testing.B) {
			for b.Loop() {
				dgemmWith(kern, n, n, n, x, n, x, n, c, n)
			}
			b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
	b.Run("gonum", func(b *testing.B) {
		for b.Loop() {
			gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, x, n, x, n, 1, c, n)
		}
		b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
}
