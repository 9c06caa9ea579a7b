package array

import "golang.org/x/sys/cpu"

// kern6x8 is in gemm_amd64.s.
//
//go:noescape
func kern6x8(k int, a, b, c *float64)

// kern6x8acc is in gemm_amd64.s.
//
//go:noescape
func kern6x8acc(k int, a, b, c *float64, ldc int)

// kern8x16 and kern8x16acc are kern6x8's with AVX-512: 8x16 tiles.
//
//go:noescape
func kern8x16(k int, a, b, c *float64)

//go:noescape
func kern8x16acc(k int, a, b, c *float64, ldc int)

var (
	haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	haveAVX512 = cpu.X86.HasAVX512F
)
