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

var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
