package chaos

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// PrintTable prints one row per report: scenario, faults injected, tasks,
// tasks rerun, recovery time (fault → next future done: p50/max), wrong
// answers, lost values, failed or hung futures, duration and verdict.
func PrintTable(w io.Writer, reports []*Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFAULTS\tTASKS\tRERUN\tRECOVERY p50/max\tWRONG\tLOST\tFAILED/HUNG\tTIME\tRESULT")
	for _, r := range reports {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\tSKIP: %s\n", r.Scenario, secs(r.Duration), r.Skipped)
			continue
		}
		rec := "-"
		if len(r.Recoveries) > 0 {
			rec = fmt.Sprintf("%s/%s", secs(r.RecoveryP50()), secs(r.RecoveryMax()))
		}
		if r.NoRecovery > 0 {
			rec += fmt.Sprintf(" (+%d after the work)", r.NoRecovery)
		}
		rerun := "?"
		if r.Reruns >= 0 {
			rerun = fmt.Sprint(r.Reruns)
		}
		verdict := "ok"
		if !r.Passed() {
			verdict = fmt.Sprintf("FAIL (%d checks)", len(r.Failures))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%d\t%d/%d\t%s\t%s\n", r.Scenario, r.Faults, r.Tasks, rerun, rec,
			r.Wrong, r.Lost, r.Failed, r.Unresolved, secs(r.Duration), verdict)
	}
	tw.Flush()
}

// TableNotes explains the columns (what is measured and how).
const TableNotes = `FAULTS: kills, pauses and partitions injected. TASKS: tasks and scattered values of the scenario's
workloads (map-reduce, chain, scatter+double; the DataFrame's persisted and result partitions). RERUN: task
executions beyond the first of the chaos tasks (not the DataFrame's), counted from the nodes' exec logs
(each task logs its tag when it starts; a task a killed node was running counts).
RECOVERY: from each fault to the next future the client saw finish (p50/max over the faults; faults after
which no work was left are counted apart). WRONG: values different from the fault-free answer. LOST:
futures that errored with ErrLost. FAILED/HUNG: futures that erred otherwise / did not resolve in the bound.`

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}
