package array

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// dgemmAcc is C += A·B for row-major A (m×k), B (k×n), C (m×n) with
// leading dimensions lda, ldb, ldc. On amd64 with AVX2 and FMA it packs
// panels of A (6 rows) and B (8 columns) by blocks of kc along k and runs
// an assembly 6×8 tile kernel (BLIS's scheme); elsewhere, and for small
// products, gonum's Dgemm.
func dgemmAcc(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if !haveKernel || m*n*k < 48*48*48 {
		gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
		return
	}
	const kc, mc, nc = 256, 120, 1024
	ap := make([]float64, (mc+5)/6*6*kc)
	bp := make([]float64, (nc+7)/8*8*kc)
	var tile [48]float64
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(bp, b, ldb, pc, jc, kb, nb)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(ap, a, lda, ic, pc, mb, kb)
				for jr := 0; jr < nb; jr += 8 {
					cols := min(8, nb-jr)
					for ir := 0; ir < mb; ir += 6 {
						rows := min(6, mb-ir)
						if rows == 6 && cols == 8 {
							kern6x8acc(kb, &ap[ir*kb], &bp[jr*kb], &c[(ic+ir)*ldc+jc+jr], ldc)
							continue
						}
						kern6x8(kb, &ap[ir*kb], &bp[jr*kb], &tile[0])
						for r := range rows {
							crow := c[(ic+ir+r)*ldc+jc+jr:]
							t := tile[r*8 : r*8+cols]
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

// packA copies A[ic:ic+mb, pc:pc+kb] into panels of 6 rows:
// ap[ir*kb + p*6 + r] = A[ic+ir+r, pc+p], zero past the last row.
func packA(ap, a []float64, lda, ic, pc, mb, kb int) {
	for ir := 0; ir < mb; ir += 6 {
		panel := ap[ir*kb : ir*kb+6*kb]
		rows := min(6, mb-ir)
		if rows < 6 {
			clear(panel)
		}
		for r := range rows {
			src := a[(ic+ir+r)*lda+pc:]
			src = src[:kb]
			for p, x := range src {
				panel[p*6+r] = x
			}
		}
	}
}

// packB copies B[pc:pc+kb, jc:jc+nb] into panels of 8 columns:
// bp[jr*kb + p*8 + j] = B[pc+p, jc+jr+j], zero past the last column.
func packB(bp, b []float64, ldb, pc, jc, kb, nb int) {
	for jr := 0; jr < nb; jr += 8 {
		panel := bp[jr*kb : jr*kb+8*kb]
		cols := min(8, nb-jr)
		for p := range kb {
			src := b[(pc+p)*ldb+jc+jr:]
			dst := panel[p*8 : p*8+8]
			if cols == 8 {
				copy(dst, src[:8])
				continue
			}
			clear(dst)
			copy(dst, src[:cols])
		}
	}
}
