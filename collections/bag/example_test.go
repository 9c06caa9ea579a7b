package bag_test

import (
	"context"
	"fmt"
	"log"

	"github.com/meshcompute/mesh/collections/bag"
	"github.com/meshcompute/mesh/futures"
)

// Word counts, JSON records and their most frequent users, a DataFrame and
// text files from a bag (compiled, not run: it needs files and a mesh).
func Example() {
	ctx := context.Background()
	lc, err := futures.NewLocalCluster(ctx, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		log.Fatal(err)
	}

	// "words" is registered at init: futures.Register("words", strings.Fields)
	lines, err := bag.ReadText("books/*.txt", bag.BlockSize(16<<20))
	if err != nil {
		log.Fatal(err)
	}
	counts, err := bag.ComputeAs[bag.Pair[string]](ctx, c, lines.FlatMap("words").Frequencies())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(counts[:3])

	recs, err := bag.ReadText("events/*.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	users := recs.DecodeJSON(bag.SkipInvalid()).Pluck("user")
	top, err := bag.TakeAs[bag.Pair[string]](ctx, c, users.Frequencies(), 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(top)

	df, err := recs.DecodeJSON().ToDataFrame(ctx, c, []bag.Field{{Name: "user", Type: "string"}, {Name: "ms", Type: "int64"}})
	if err != nil {
		log.Fatal(err)
	}
	defer df.Release(ctx, c)

	res, err := users.Distinct().ToText(ctx, c, "out/users-*.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Path, res[0].Lines)
}
