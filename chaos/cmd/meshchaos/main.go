// Command meshchaos runs mesh's chaos suite (package chaos) against meshes
// of real processes and prints a table: scenario, faults injected, tasks,
// tasks rerun, recovery time, wrong answers, lost values.
//
//	go run ./chaos/cmd/meshchaos                       # the whole suite
//	go run ./chaos/cmd/meshchaos --short               # the short suite, small workloads
//	go run ./chaos/cmd/meshchaos --scenarios kill-leader,pause-leader --seed 42
//	go run ./chaos/cmd/meshchaos --soak 10m            # random faults for 10 minutes
//
// CHAOS_SEED is the default seed. Exit status 1 if a check failed; the
// seed, the fault timeline and the node logs of each failure are printed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/meshcompute/mesh/chaos"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		names   = flag.String("scenarios", "all", `comma-separated scenarios, "all", or "short"`)
		seedStr = flag.String("seed", os.Getenv("CHAOS_SEED"), "seed of the fault schedules and workloads (default: CHAOS_SEED, else the time)")
		short   = flag.Bool("short", false, "short suite: the short scenarios (unless --scenarios), small workloads, short schedules")
		soak    = flag.Duration("soak", 0, "run only the soak scenario for this long (random faults on a random schedule)")
		race    = flag.Bool("race", false, "build the nodes with the race detector (races in their logs fail the run)")
		keep    = flag.Bool("keep", false, "keep the nodes' data dirs and logs (printed)")
		quiet   = flag.Bool("q", false, "do not print progress lines")
		list    = flag.Bool("list", false, "list the scenarios and exit")
		dframe  = flag.Bool("dataframe", os.Getenv("CHAOS_DATAFRAME") != "0", "add the DataFrame workload (persist + group-by) to every round (--dataframe=false or CHAOS_DATAFRAME=0: without)")
		colls   = flag.Bool("collections", os.Getenv("CHAOS_COLLECTIONS") != "0", "add the Array, Bag and Delayed workload to every round (--collections=false or CHAOS_COLLECTIONS=0: without)")
	)
	flag.Parse()
	if *list {
		for _, s := range chaos.Scenarios() {
			fmt.Printf("%-26s %d nodes  %s\n", s.Name, s.Nodes, s.Desc)
		}
		s := chaos.Soak()
		fmt.Printf("%-26s %d nodes  %s\n", s.Name, s.Nodes, s.Desc)
		return 0
	}
	seed := uint64(time.Now().UnixNano())
	if *seedStr != "" {
		var err error
		if seed, err = strconv.ParseUint(*seedStr, 10, 64); err != nil {
			fmt.Fprintf(os.Stderr, "meshchaos: --seed %q: %v\n", *seedStr, err)
			return 2
		}
	}
	which := *names
	if *short && which == "all" {
		which = "short"
	}
	scs, err := chaos.Lookup(which)
	if *soak > 0 {
		scs, err = []chaos.Scenario{chaos.Soak()}, nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshchaos:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "meshchaos-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshchaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	fmt.Printf("building the node binary (race=%v)...\n", *race)
	bin, err := chaos.BuildNode(dir, *race)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshchaos:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("%7.1fs "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}
	if *quiet {
		logf = nil
	}
	fmt.Printf("CHAOS_SEED=%d\n", seed)
	var reports []*chaos.Report
	failed := false
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		bound := 2 * time.Minute
		sctx, cancel := context.WithTimeout(ctx, *soak+10*time.Minute)
		r := chaos.Run(sctx, sc, chaos.Options{Binary: bin, Seed: seed, Short: *short, Soak: *soak, Logf: logf, Bound: bound, Keep: *keep, DataFrame: *dframe, Collections: *colls})
		cancel()
		reports = append(reports, r)
		switch {
		case r.Skipped != "":
			fmt.Printf("---- %s: skipped: %s\n", sc.Name, r.Skipped)
		case r.Passed():
			fmt.Printf("---- %s: ok (%d faults, %.1fs)\n", sc.Name, r.Faults, r.Duration.Seconds())
		default:
			failed = true
			fmt.Printf("---- %s\n", r.Detail())
		}
	}
	fmt.Printf("\nCHAOS_SEED=%d\n", seed)
	chaos.PrintTable(os.Stdout, reports)
	fmt.Println()
	fmt.Println(chaos.TableNotes)
	if failed {
		return 1
	}
	return 0
}
