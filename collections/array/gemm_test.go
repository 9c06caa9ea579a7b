package array

import (
	"math"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmPaths are the dgemm paths this CPU runs: each tile kernel with its
// block sizes, each again with tiny blocks (so that small shapes cross
// the mc, kc and nc blocks' edges), and gonum's pure Go Dgemm (nil).
func gemmPaths() []*tileKernel {
	var ps []*tileKernel
	for _, k := range gemmKernels() {
		tiny := *k
		tiny.name += "-tiny-blocks"
		tiny.mc, tiny.kc, tiny.nc = 2*k.mr, 7, 2*k.nr
		ps = append(ps, k, &tiny)
	}
	return append(ps, nil)
}

// naiveGemm is C += A·B by the triple loop.
func naiveGemm(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	for i := range m {
		for j := range n {
			s := 0.0
			for p := range k {
				s += a[i*lda+p] * b[p*ldb+j]
			}
			c[i*ldc+j] += s
		}
	}
}

// Every dgemm path against the triple loop, on odd shapes (1x1, 7x13 by
// 13x5, empty ones, k = 0, edges of the tiles and of the blocks), with
// leading dimensions wider than the matrices; the elements of C outside
// the m×n product must not change.
func TestDgemmPaths(t *testing.T) {
	shapes := [][3]int{
		{1, 1, 1}, {7, 5, 13}, {0, 5, 3}, {4, 0, 3}, {3, 4, 0}, {0, 0, 0},
		{14, 16, 1}, {13, 15, 2}, {15, 17, 3}, {6, 8, 5}, {28, 32, 9}, {29, 33, 31},
		{47, 49, 50}, {61, 67, 300}, {130, 9, 257}, {7, 1030, 64}, {121, 33, 513}, {169, 40, 260},
	}
	if testing.Short() {
		shapes = shapes[:12]
	}
	for _, kern := range gemmPaths() {
		name := "gonum"
		if kern != nil {
			name = kern.name
		}
		t.Run(name, func(t *testing.T) {
			for _, s := range shapes {
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
				naiveGemm(m, n, k, a, lda, b, ldb, want, ldc)
				got := append([]float64(nil), c...)
				dgemmWith(kern, m, n, k, a, lda, b, ldb, got, ldc)
				for i := range got {
					if math.Abs(got[i]-want[i]) > 1e-12*float64(k+1) {
						t.Fatalf("%dx%dx%d: element %d (row %d, column %d): %v, want %v", m, n, k, i, i/ldc, i%ldc, got[i], want[i])
					}
				}
			}
		})
	}
}

// dgemmAcc (the best kernel, gonum for small products) against the triple
// loop on a product large enough for the kernel.
func TestDgemmAcc(t *testing.T) {
	const m, n, k = 100, 90, 110
	a := make([]float64, m*k)
	b := make([]float64, k*n)
	for i := range a {
		a[i] = RandomValue(4, i)
	}
	for i := range b {
		b[i] = RandomValue(5, i)
	}
	got, want := make([]float64, m*n), make([]float64, m*n)
	dgemmAcc(m, n, k, a, k, b, n, got, n)
	naiveGemm(m, n, k, a, k, b, n, want, n)
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12*k {
			t.Fatalf("element %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// BenchmarkMatMulBlock: one 1000x1000x1000 block product (2 GFLOP), on
// each tile kernel and on gonum's Dgemm: GFLOPS over all the iterations
// and over the fastest one.
func BenchmarkMatMulBlock(b *testing.B) {
	const n = 1000
	x := make([]float64, n*n)
	for i := range x {
		x[i] = RandomValue(1, i)
	}
	c := make([]float64, n*n)
	for _, kern := range append(gemmKernels(), nil) {
		name := "gonum"
		if kern != nil {
			name = kern.name
		}
		b.Run(name, func(b *testing.B) {
			best := time.Duration(math.MaxInt64)
			for b.Loop() {
				start := time.Now()
				if kern == nil {
					gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, x, n, x, n, 1, c, n)
				} else {
					dgemmWith(kern, n, n, n, x, n, x, n, c, n)
				}
				best = min(best, time.Since(start))
			}
			b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			// The fastest product, comparable with a best-of-N timing of
			// numpy's (on a shared machine, the mean counts other work's
			// preemptions).
			b.ReportMetric(2*n*n*n/best.Seconds()/1e9, "GFLOPS-best")
		})
	}
}
