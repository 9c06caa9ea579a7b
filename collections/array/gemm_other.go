//go:build !amd64

package array

func kern6x8acc(k int, a, b, c *float64, ldc int) {
	panic("array: no 6x8 kernel on this architecture")
}

func kern14x16acc(k int, a, b, c *float64, ldc int) {
	panic("array: no 14x16 kernel on this architecture")
}

const (
	haveKernel = false
	haveAVX512 = false
)
