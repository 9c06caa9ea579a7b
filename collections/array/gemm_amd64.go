package array

import "golang.org/x/sys/cpu"

// kern6x8acc is in gemm_amd64.s: AVX2 and FMA.
//
//go:noescape
func kern6x8acc(k int, a, b, c *float64, ldc int)

// kern14x16acc is in gemm512_amd64.s (written by gemm_gen.py): AVX-512.
//
//go:noescape
func kern14x16acc(k int, a, b, c *float64, ldc int)

var (
	haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	haveAVX512 = cpu.X86.HasAVX512F
)
