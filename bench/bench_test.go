package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
	code := run(ctx, []string{"-self", "-n", "5", "-c", "2", "-idle", "50", "-idle-actions", "10", "-json", path}, &stdout, &stderr)
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
	out := stdout.String()
	for _, s := range []string{"throughput", "product/floor", "floor latency (ms)", "product latency (ms)",
		"record_payment", "all actions", "peak RSS MB", "idle: 50 deals parked", "edit_lead"} {
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
