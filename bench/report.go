package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// printReport writes the report as plain-text tables.
func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\ndealflow bench — %s, %d CPUs (%s), %.1f GB, %s\n", r.Started.Format("2006-01-02 15:04 MST"),
		r.Machine.CPUs, r.Machine.Model, r.Machine.MemoryGB, r.Machine.GoVer)
	fmt.Fprintf(w, "%s\n", r.Config.Command)
	fmt.Fprintf(w, "deals %d, concurrency %d, thank-you after %s", r.Config.Deals, r.Config.Concurrency, r.Config.ThankYou)
	switch {
	case r.Config.Self && r.Config.Temporal == "cluster":
		fmt.Fprintf(w, ", own stack (Temporal cluster on PostgreSQL, %d worker process(es))", r.Config.Workers)
	case r.Config.Self:
		fmt.Fprintf(w, ", own stack (Temporal SQLite %s, %d worker process(es))", r.Config.TemporalDB, r.Config.Workers)
	}
	if r.Config.FloorLocal {
		fmt.Fprint(w, ", floor activities local (as the deal's)")
	} else {
		fmt.Fprint(w, ", floor activities remote")
	}
	if r.Config.Encrypted {
		fmt.Fprint(w, ", product payloads encrypted")
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if r.Floor != nil || r.Product != nil {
		fmt.Fprintln(w, "\nthroughput")
		fmt.Fprintln(tw, "run\tdeals\tfailed\tseconds\tdeals/s\tload before\tload after\t")
		for _, x := range []struct {
			name string
			run  *Run
		}{{"floor", r.Floor}, {"product", r.Product}} {
			if x.run != nil {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t\n", x.name, x.run.Deals, x.run.Failed,
					x.run.Seconds, x.run.DealsPerSec, x.run.LoadBefore, x.run.LoadAfter)
			}
		}
		if r.Ratio > 0 {
			fmt.Fprintf(tw, "product/floor\t\t\t\t%.2f\t\t\t\n", r.Ratio)
		}
		tw.Flush()
	}
	for _, x := range []struct {
		name string
		run  *Run
	}{{"floor", r.Floor}, {"product", r.Product}} {
		if x.run == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s latency (ms)\n", x.name)
		actionTable(tw, x.run.Actions)
		breakdownTable(w, tw, x.name, x.run.Breakdown)
		fmt.Fprintf(w, "\n%s processes\n", x.name)
		procTable(tw, x.run.Processes)
	}
	if r.Open != nil {
		openTables(w, tw, r.Open)
	}
	if r.Idle != nil {
		i := r.Idle
		fmt.Fprintf(w, "\nidle: %d deals parked in Qualify in %.1f s; worker RSS %.1f MB (peak %.1f MB); load %.2f → %.2f\n",
			i.Deals, i.ParkSeconds, i.WorkerRSSMB, i.WorkerPeakRSSMB, i.LoadBefore, i.LoadAfter)
		if g := i.WorkerGo; g != nil {
			fmt.Fprintf(w, "worker Go runtime: %d goroutines, heap in use %.1f MB, stacks %.1f MB\n", g.Goroutines, g.HeapInuseMB, g.StackMB)
		}
		fmt.Fprintln(w, "\nidle: rep actions on random parked deals, one at a time (ms)")
		actionTable(tw, i.Actions)
		breakdownTable(w, tw, "idle (the deals acted on)", i.Breakdown)
		fmt.Fprintln(w, "\nidle processes")
		procTable(tw, i.Processes)
	}
}

func breakdownTable(w io.Writer, tw *tabwriter.Writer, name string, b *Breakdown) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\n%s: where the time goes, from the histories (ms; mean %.0f events per deal, %d workflow task failures, %d timeouts, %d tasks off the sticky queue, %d local activities)\n",
		name, b.Events, b.WorkflowTaskFailures, b.WorkflowTaskTimeouts, b.OffStickyTasks, b.LocalActivities)
	actionTable(tw, b.rows())
	for cause, n := range b.FailureCauses {
		fmt.Fprintf(w, "  workflow task %d×: %s\n", n, cause)
	}
}

func actionTable(tw *tabwriter.Writer, rows []ActionStats) {
	fmt.Fprintln(tw, "action\tcount\tfailed\tretried\tp50\tp95\tp99\tmax\tp99/p50\t")
	for _, a := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", a.Action, a.Count, a.Failed, a.Retried,
			a.P50, a.P95, a.P99, a.Max, a.TailRatio)
	}
	tw.Flush()
}

func procTable(tw *tabwriter.Writer, rows []ProcStats) {
	fmt.Fprintln(tw, "process\tpid\tCPU s\tpeak RSS MB\tRSS MB\t")
	for _, p := range rows {
		peak := fmt.Sprintf("%.1f", p.PeakRSSMB)
		switch {
		case p.PeakRSSMB == 0:
			peak = "-"
		case p.PeakSinceStart:
			peak += " (since start)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%.1f\t\n", p.Name, p.PID, p.CPUSeconds, peak, p.RSSMB)
	}
	tw.Flush()
}

// openTables writes the open loop: one line per level, then each level's
// latencies, breakdown and processes.
func openTables(w io.Writer, tw *tabwriter.Writer, o *Open) {
	from := "given by -open-rate"
	if o.RateFrom == "product" {
		from = fmt.Sprintf("the product's %.2f deals/s × %d actions per deal", o.SaturationPerSec/float64(o.ActionsPerDeal), o.ActionsPerDeal)
	}
	sched := o.Duration + " per level"
	if o.Arrivals > 0 {
		sched = fmt.Sprintf("%d arrivals per level", o.Arrivals)
	}
	fmt.Fprintf(w, "\nopen loop: rep actions arriving as a Poisson process (seed %d, %s), each sent at its time by a goroutine of its own;\n"+
		"latency from the scheduled send time to the answer; saturation %.2f actions/s (%s)\n", o.Seed, sched, o.SaturationPerSec, from)
	fmt.Fprintln(tw, "level\ttarget/s\tarrivals\tseconds\tsent/s\tanswered/s\tfailed\tdeals\tpaid\tmax in flight\tsender lag p99\tload before\tload after\t")
	for _, l := range o.Levels {
		fmt.Fprintf(tw, "%g%%\t%.2f\t%d\t%.1f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t\n", l.Percent, l.TargetPerSec, l.Arrivals,
			l.Seconds, l.SentPerSec, l.AnsweredPerSec, l.Failed, l.Deals, l.Paid, l.MaxInFlight, l.SenderLag.P99, l.LoadBefore, l.LoadAfter)
	}
	tw.Flush()
	for _, l := range o.Levels {
		name := fmt.Sprintf("open %g%%", l.Percent)
		fmt.Fprintf(w, "\n%s latency at %.2f actions/s, from the scheduled send (ms)\n", name, l.TargetPerSec)
		actionTable(tw, slices.Concat(l.Actions, []ActionStats{l.SenderLag}))
		breakdownTable(w, tw, name, l.Breakdown)
		fmt.Fprintf(w, "\n%s processes\n", name)
		procTable(tw, l.Processes)
	}
}
