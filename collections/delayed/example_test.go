package delayed_test

import (
	"context"
	"fmt"
	"log"

	"github.com/meshcompute/mesh/collections/delayed"
	"github.com/meshcompute/mesh/futures"
)

// A value shared by two calls is computed once (compiled, not run: "load",
// "clean" and "summary" would be registered functions).
func Example() {
	ctx := context.Background()
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close()
	client, err := lc.Client(ctx)
	if err != nil {
		log.Fatal(err)
	}

	data := delayed.Call("load", "a.json")
	a := delayed.Call("clean", data)
	b := delayed.Call("summary", data, futures.Retries(2))
	res, err := delayed.Compute(ctx, client, a, b)
	if err != nil {
		log.Fatal(err)
	}
	var n int
	if err := res[1].Decode(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)

	p, err := delayed.Persist(ctx, client, data)
	if err != nil {
		log.Fatal(err)
	}
	defer delayed.Release(ctx, client, p...)
	if err := delayed.Visualize(ctx, "/tmp/graph", []*delayed.Value{a, b}, delayed.Optimized()); err != nil {
		log.Print(err) // the DOT file is written even without graphviz
	}
}
