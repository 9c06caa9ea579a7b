package array

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// tileKernel computes an mr×nr tile from packed panels: into tile
// (row-major, nr wide) or, acc, added into c with leading dimension ldc.
type tileKernel struct {
	mr, nr int
	tile   func(k int, a, b, c *float64)
	acc    func(k int, a, b, c *float64, ldc int)
}

// gemmKernel is the best tile kernel of this CPU (nil: none).
func gemmKernel(avx512 bool) *tileKernel {
	switch {
	case avx512 && haveAVX512:
		return &tileKernel{mr: 8, nr: 16, tile: kern8x16, acc: kern8x16acc}
	case haveKernel:
		return &tileKernel{mr: 6, nr: 8, tile: kern6x8, acc: kern6x8acc}
	}
	return nil
}

var bestKernel = gemmKernel(true)

// dgemmAcc is C += A·B for row-major A (m×k), B (k×n), C (m×n) with
// leading dimensions lda, ldb, ldc. On amd64 it packs panels of A (mr
// rows) and B (nr columns) by blocks of kc along k and runs an assembly
// tile kernel (BLIS's scheme): 8×16 with AVX-512, 6×8 with AVX2 and FMA.
// Elsewhere, and for small products, gonum's Dgemm.
func dgemmAcc(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	dgemmWith(bestKernel, m, n, k, a, lda, b, ldb, c, ldc)
}

func dgemmWith(kern *tileKernel, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if kern == nil || m*n*k < 48*48*48 {
		gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
		return
	}
	mr, nr := kern.mr, kern.nr
	const kc, mc, nc = 256, 144, 1024 // mc: a multiple of 6 and 8; nc: of 8 and 16
	ap := make([]float64, (mc+mr-1)/mr*mr*kc)
	bp := make([]float64, (nc+nr-1)/nr*nr*kc)
	tile := make([]float64, mr*nr)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(bp, b, ldb, pc, jc, kb, nb, nr)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(ap, a, lda, ic, pc, mb, kb, mr)
				for jr := 0; jr < nb; jr += nr {
					cols := min(nr, nb-jr)
					for ir := 0; ir < mb; ir += mr {
						rows := min(mr, mb-ir)
						if rows == mr && cols == nr {
							kern.acc(kb, &ap[ir*kb], &bp[jr*kb], &c[(ic+ir)*ldc+jc+jr], ldc)
							continue
						}
						kern.tile(kb, &ap[ir*kb], &bp[jr*kb], &tile[0])
						for r := range rows {
							crow := c[(ic+ir+r)*ldc+jc+jr:]
							t := tile[r*nr : r*nr+cols]
							crow = crow[:len(t)]
							for j, x := range t {
								crow[j] += x
							}
						}
					}
				}
			}
		}
	}
}

// packA copies A[ic:ic+mb, pc:pc+kb] into panels of mr rows:
// ap[ir*kb + p*mr + r] = A[ic+ir+r, pc+p], zero past the last row.
func packA(ap, a []float64, lda, ic, pc, mb, kb, mr int) {
	for ir := 0; ir < mb; ir += mr {
		panel := ap[ir*kb : ir*kb+mr*kb]
		rows := min(mr, mb-ir)
		if rows < mr {
			clear(panel)
		}
		for r := range rows {
			src := a[(ic+ir+r)*lda+pc:]
			src = src[:kb]
			for p, x := range src {
				panel[p*mr+r] = x
			}
		}
	}
}

// packB copies B[pc:pc+kb, jc:jc+nb] into panels of nr columns:
// bp[jr*kb + p*nr + j] = B[pc+p, jc+jr+j], zero past the last column.
func packB(bp, b []float64, ldb, pc, jc, kb, nb, nr int) {
	for jr := 0; jr < nb; jr += nr {
		panel := bp[jr*kb : jr*kb+nr*kb]
		cols := min(nr, nb-jr)
		for p := range kb {
			src := b[(pc+p)*ldb+jc+jr:]
			dst := panel[p*nr : p*nr+nr]
			if cols < nr {
				clear(dst)
			}
			copy(dst, src[:cols])
		}
	}
}
