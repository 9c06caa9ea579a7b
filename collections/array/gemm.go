package array

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// tileKernel adds an mr×nr tile of a product into c (leading dimension
// ldc) from packed panels of A (mr rows) and B (nr columns) k long, and
// the block sizes it is run with: mc×kc blocks of A (kept in L2), kc×nc
// blocks of B (in L3; one kc×nr panel is reused by all the tiles of an
// mc×kc block of A). The AVX-512 sizes were measured on a 48 KiB L1,
// 2 MiB L2 Xeon: kc 512 (two passes over C for k = 1000) beat 256 by a
// few percent although a 512×16 panel of B is larger than L1.
type tileKernel struct {
	name       string
	mr, nr     int
	mc, kc, nc int
	acc        func(k int, a, b, c *float64, ldc int)
}

// The tile kernels: AVX-512 14x16 (28 zmm accumulators) and AVX2+FMA 6x8.
var (
	kernAVX512 = &tileKernel{name: "avx512-14x16", mr: 14, nr: 16, mc: 168, kc: 512, nc: 1024, acc: kern14x16acc}
	kernAVX2   = &tileKernel{name: "avx2-6x8", mr: 6, nr: 8, mc: 144, kc: 256, nc: 1024, acc: kern6x8acc}
)

// gemmKernels are the tile kernels this CPU runs, best first.
func gemmKernels() []*tileKernel {
	var ks []*tileKernel
	if haveAVX512 {
		ks = append(ks, kernAVX512)
	}
	if haveKernel {
		ks = append(ks, kernAVX2)
	}
	return ks
}

// bestKernel is the best tile kernel of this CPU (nil: none, gonum's
// pure Go Dgemm instead).
var bestKernel = func() *tileKernel {
	if ks := gemmKernels(); len(ks) > 0 {
		return ks[0]
	}
	return nil
}()

// dgemmAcc is C += A·B for row-major A (m×k), B (k×n), C (m×n) with
// leading dimensions lda, ldb, ldc. On amd64 it packs blocks of A (mc×kc,
// in panels of mr rows) and of B (kc×nc, in panels of nr columns) into
// contiguous buffers and runs an assembly tile kernel on each mr×nr tile
// (the Goto/BLIS scheme): 14×16 with AVX-512, 6×8 with AVX2 and FMA.
// Elsewhere, and for small products, gonum's Dgemm.
func dgemmAcc(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	kern := bestKernel
	if m*n*k < 48*48*48 {
		kern = nil
	}
	dgemmWith(kern, m, n, k, a, lda, b, ldb, c, ldc)
}

// gemmBufs are a dgemm's packing buffers, reused through gemmPool.
type gemmBufs struct{ ap, bp, tile []float64 }

var gemmPool sync.Pool

func getBufs(na, nb, nt int) *gemmBufs {
	g, _ := gemmPool.Get().(*gemmBufs)
	if g == nil {
		g = &gemmBufs{}
	}
	if cap(g.ap) < na {
		g.ap = make([]float64, na)
	}
	if cap(g.bp) < nb {
		g.bp = make([]float64, nb)
	}
	if cap(g.tile) < nt {
		g.tile = make([]float64, nt)
	}
	g.ap, g.bp, g.tile = g.ap[:na], g.bp[:nb], g.tile[:nt]
	return g
}

// dgemmWith is dgemmAcc on the tile kernel kern (nil: gonum's Dgemm).
func dgemmWith(kern *tileKernel, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if kern == nil {
		gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
		return
	}
	mr, nr, kc, mc, nc := kern.mr, kern.nr, kern.kc, kern.mc, kern.nc
	bufs := getBufs((min(mc, m)+mr-1)/mr*mr*min(kc, k), (min(nc, n)+nr-1)/nr*nr*min(kc, k), mr*nr)
	defer gemmPool.Put(bufs)
	ap, bp, tile := bufs.ap, bufs.bp, bufs.tile
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
						// An edge tile: into a zeroed mr×nr tile, then
						// its rows×cols corner added into C.
						clear(tile)
						kern.acc(kb, &ap[ir*kb], &bp[jr*kb], &tile[0], nr)
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
		r := 0
		// Four rows at a time: four loads and stores per column step.
		for ; r+4 <= rows; r += 4 {
			o := (ic+ir+r)*lda + pc
			s0 := a[o : o+kb]
			s1 := a[o+lda : o+lda+kb]
			s2 := a[o+2*lda : o+2*lda+kb]
			s3 := a[o+3*lda : o+3*lda+kb]
			for p := range s0 {
				d := panel[p*mr+r : p*mr+r+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; r < rows; r++ {
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
// It reads B row by row (sequentially, as the prefetchers like).
func packB(bp, b []float64, ldb, pc, jc, kb, nb, nr int) {
	full := nb / nr * nr
	for p := range kb {
		row := b[(pc+p)*ldb+jc : (pc+p)*ldb+jc+nb]
		jr := 0
		if nr == 16 {
			for ; jr < full; jr += 16 {
				*(*[16]float64)(bp[jr*kb+p*16:]) = *(*[16]float64)(row[jr:])
			}
		} else {
			for ; jr < full; jr += nr {
				copy(bp[jr*kb+p*nr:jr*kb+p*nr+nr], row[jr:jr+nr])
			}
		}
		if jr < nb {
			dst := bp[jr*kb+p*nr : jr*kb+p*nr+nr]
			n := copy(dst, row[jr:])
			clear(dst[n:])
		}
	}
}
