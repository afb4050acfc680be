package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the floor worker, which the
// benchmark starts by running its own executable again.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == roleFloorWorker {
		os.Exit(runFloorWorker())
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole benchmark at a tiny size on a stack of its own,
// so that it cannot rot: every phase completes, every deal goes through, and
// the table and the JSON are well formed. It asserts nothing about speed;
// the numbers of a run this small, on a machine running other tests, mean
// nothing.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-self", "-n", "5", "-c", "2", "-phases", "floor,product,open,idle", "-open-actions", "20",
		"-idle", "50", "-idle-actions", "10", "-json", path}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
	for name, r := range map[string]*Run{"floor": rep.Floor, "product": rep.Product} {
		if r == nil {
			t.Fatalf("no %s run in %s", name, b)
		}
		if r.Deals != 5 || r.Failed != 0 || r.DealsPerSec <= 0 {
			t.Errorf("%s: deals %d, failed %d, deals/s %v; want 5, 0, > 0", name, r.Deals, r.Failed, r.DealsPerSec)
		}
		want := append([]string{"create"}, dealActions...)
		want = append(want, allActions)
		if len(r.Actions) != len(want) {
			t.Fatalf("%s: %d action rows, want %d: %+v", name, len(r.Actions), len(want), r.Actions)
		}
		for i, a := range r.Actions {
			n := 5
			if a.Action == allActions {
				n = 5 * len(dealActions)
			}
			if a.Action != want[i] || a.Count != n || a.Failed != 0 || a.P50 <= 0 || a.P50 > a.P99 || a.P99 > a.Max {
				t.Errorf("%s: action row %d = %+v; want %s, %d timings, p50 ≤ p99 ≤ max", name, i, a, want[i], n)
			}
		}
		// The deal and the floor run their activities as local activities.
		if r.Breakdown == nil || r.Breakdown.ActivityRun.Count+r.Breakdown.LocalActivities != 5*(len(dealActions)+2) {
			t.Errorf("%s: breakdown %+v; want %d activities", name, r.Breakdown, 5*(len(dealActions)+2))
		}
		if !hasProc(r.Processes, "worker") || !hasProc(r.Processes, "api") || !hasProc(r.Processes, "temporal") {
			t.Errorf("%s: processes %+v; want worker, api and temporal", name, r.Processes)
		}
	}
	if !hasProc(rep.Floor.Processes, "floor worker") {
		t.Errorf("floor: no floor worker in %+v", rep.Floor.Processes)
	}
	if rep.Ratio <= 0 {
		t.Errorf("product/floor ratio %v", rep.Ratio)
	}
	if i := rep.Idle; i == nil || i.Deals != 50 || i.WorkerRSSMB <= 0 || len(i.Actions) != 1 || i.Actions[0].Count != 10 || i.Actions[0].Failed != 0 {
		t.Errorf("idle: %+v; want 50 deals, the worker's RSS, 10 timed actions", rep.Idle)
	}
	checkOpen(t, &rep)
	out := stdout.String()
	for _, s := range []string{"throughput", "product/floor", "floor latency (ms)", "product latency (ms)",
		"record_payment", "all actions", "peak RSS MB", "idle: 50 deals parked", "edit_lead",
		"open loop: rep actions arriving as a Poisson process", "open 50% latency", "open 80% processes", allArrivals, "sender lag"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

func hasProc(ps []ProcStats, name string) bool {
	for _, p := range ps {
		if p.Name == name && p.PID > 0 && p.PeakRSSMB > 0 {
			return true
		}
	}
	return false
}

// checkOpen checks the open loop of the smoke run: two levels at 50% and
// 80% of the product's rate, 20 arrivals each, every one answered and
// counted once under its action.
func checkOpen(t *testing.T, rep *Report) {
	t.Helper()
	o := rep.Open
	if o == nil {
		t.Fatal("no open run")
	}
	if rep.Product == nil || o.RateFrom != "product" || o.ActionsPerDeal != 10 ||
		math.Abs(o.SaturationPerSec-rep.Product.DealsPerSec*10) > 0.01 || o.Arrivals != 20 {
		t.Fatalf("open: %+v; want the product's %v deals/s × 10 actions, 20 arrivals per level", o, rep.Product)
	}
	if len(o.Levels) != 2 {
		t.Fatalf("open: %d levels, want 2", len(o.Levels))
	}
	for i, pct := range []float64{50, 80} {
		l := o.Levels[i]
		if l.Percent != pct || math.Abs(l.TargetPerSec-o.SaturationPerSec*pct/100) > 0.01 {
			t.Errorf("open level %d: %g%% at %v/s; want %g%% of %v", i, l.Percent, l.TargetPerSec, pct, o.SaturationPerSec)
		}
		if l.Arrivals != 20 || l.Answered != 20 || l.Failed != 0 || l.Deals < 1 || l.SentPerSec <= 0 || l.AnsweredPerSec <= 0 ||
			l.MaxInFlight < 1 || l.SenderLag.Count != 20 || l.Breakdown == nil || !hasProc(l.Processes, "worker") {
			t.Errorf("open %g%%: %+v; want 20 arrivals answered, a deal, the sender lag, a breakdown and the worker", pct, l)
		}
		want := append(append([]string{"create"}, dealActions...), allActions, allArrivals)
		if len(l.Actions) != len(want) {
			t.Fatalf("open %g%%: %d action rows, want %d: %+v", pct, len(l.Actions), len(want), l.Actions)
		}
		sum := 0
		for j, a := range l.Actions {
			if a.Action != want[j] || a.Failed != 0 || (a.Count > 0 && (a.P50 <= 0 || a.P50 > a.P99 || a.P99 > a.Max)) {
				t.Errorf("open %g%%: row %d = %+v; want %s, p50 ≤ p99 ≤ max", pct, j, a, want[j])
			}
			if j < len(want)-2 {
				sum += a.Count
			}
		}
		if sum != 20 || l.Actions[0].Count != l.Deals || l.Actions[len(want)-1].Count != 20 {
			t.Errorf("open %g%%: %d actions timed, %d creates for %d deals, %d arrivals pooled; want 20, the deals, 20",
				pct, sum, l.Actions[0].Count, l.Deals, l.Actions[len(want)-1].Count)
		}
	}
}

// TestPoissonSchedule checks the open loop's arrival times: reproducible
// from the seed, increasing, exponential gaps of mean 1/rate.
func TestPoissonSchedule(t *testing.T) {
	a, b := poissonSchedule(100, 0, 20000, 7), poissonSchedule(100, 0, 20000, 7)
	if len(a) != 20000 || !slices.Equal(a, b) {
		t.Fatalf("seed 7 twice: %d and %d arrivals, equal %v", len(a), len(b), slices.Equal(a, b))
	}
	if slices.Equal(a[:100], poissonSchedule(100, 0, 100, 8)) {
		t.Error("seeds 7 and 8 gave the same arrivals")
	}
	var sum, sq float64
	prev := time.Duration(0)
	for _, at := range a {
		if at < prev {
			t.Fatalf("arrival %v before %v", at, prev)
		}
		g := (at - prev).Seconds()
		sum, sq, prev = sum+g, sq+g*g, at
	}
	mean := sum / float64(len(a))
	sd := math.Sqrt(sq/float64(len(a)) - mean*mean)
	// An exponential distribution's standard deviation is its mean.
	if math.Abs(mean-0.01) > 0.0003 || math.Abs(sd/mean-1) > 0.05 {
		t.Errorf("gaps: mean %.5f s, sd/mean %.3f; want 0.01 s and 1", mean, sd/mean)
	}
	n := len(poissonSchedule(100, 10*time.Second, 0, 1))
	if n < 880 || n > 1120 {
		t.Errorf("10 s at 100/s: %d arrivals", n)
	}
	if s := poissonSchedule(100, 10*time.Second, 0, 1); s[len(s)-1] > 10*time.Second {
		t.Errorf("last arrival at %v, after the 10 s", s[len(s)-1])
	}
}

// TestOpenFlags checks that the open phase gets a rate: from -open-rate or
// from a product phase run before it.
func TestOpenFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-phases", "product,open"}, true},
		{[]string{"-phases", "floor,product,open,idle", "-open-levels", "25,50,90"}, true},
		{[]string{"-phases", "open", "-open-rate", "80"}, true},
		{[]string{"-phases", "open,product", "-open-rate", "80"}, true},
		{[]string{"-phases", "open"}, false},
		{[]string{"-phases", "open,product"}, false},
		{[]string{"-phases", "product,open", "-open-levels", "50,x"}, false},
		{[]string{"-phases", "product,open", "-open-levels", "0"}, false},
		{[]string{"-phases", "product,open", "-open-duration", "0s"}, false},
		{[]string{"-phases", "product,open", "-open-actions", "-1"}, false},
		{[]string{"-phases", "product,opened"}, false},
	} {
		_, err := parseFlags(append([]string{"-self"}, c.args...), io.Discard)
		if (err == nil) != c.ok {
			t.Errorf("%v: error %v, want ok %v", c.args, err, c.ok)
		}
	}
}
