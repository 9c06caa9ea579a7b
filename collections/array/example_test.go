package array_test

import (
	"context"
	"fmt"

	"github.com/meshcompute/mesh/collections/array"
	"github.com/meshcompute/mesh/futures"
)

// The tutorial's expression on a small array, on an in-process mesh of
// two nodes.
func Example() {
	ctx := context.Background()
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := array.Random([]int{1000, 1000}, []int{300, 300}, 42)
	y := x.Add(x.T()).Sub(x.Mean(1))
	z := y.Slice(array.Every(2), array.From(500)).Mean(1)
	d, err := z.Compute(ctx, c)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Shape, d.DType)
	fmt.Printf("%.4f %.4f\n", d.F64[0], d.F64[499])

	// Bad input is an error, named.
	_, err = x.Add(array.Ones([]int{3}, []int{3})).Compute(ctx, c)
	fmt.Println(err)
	// Output:
	// [500] float64
	// 0.4759 0.4932
	// array: add: shapes [[1000 1000] [3]] cannot be broadcast together (axis 1: 1000 vs 3): give operands equal sizes or size 1 on each axis
}
