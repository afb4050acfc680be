package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/config"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/tests/e2e"
	"dealflow/workflows"
)

var flagClusterDeals = flag.Int("chaos.cluster-deals", 16, "deals to run on the Temporal cluster while a worker and a history process are killed")

// TestClusterCrash runs deals on the Temporal cluster (separate frontend,
// matching, two history and worker processes on PostgreSQL, mTLS) with two
// worker processes on the deal task queue. Both must complete workflow tasks;
// then one worker is SIGKILLed for good and one history process is SIGKILLed
// and started again, in the middle of the run. The other worker must finish
// every deal, and the crash test's verifier must find every deal at its
// outcome with nothing lost and nothing done twice.
func TestClusterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal cluster")
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	s, err := e2e.Start(ctx, e2e.Options{
		Cluster: &devstack.ClusterOptions{},
		WorkerEnv: map[string]string{
			config.SMTPAddr.Name: sink.Addr(),
			config.SMTPTLS.Name:  config.SMTPTLSNone, // the test sink is plain SMTP
			config.SMTPFrom.Name: "dealflow@chaos.test",
			config.LogLevel.Name: "info",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(s.Logs(40))
		}
		if err := s.Close(); err != nil {
			t.Errorf("stop the cluster stack: %v", err)
		}
	}()

	// The second worker: the same binary and environment, no metrics port.
	second, err := devstack.StartProcess(devstack.ProcessSpec{
		Name: "worker-2", Path: s.Bin.Worker, Env: append(s.WorkerEnv(), config.WorkerMetricsAddr.Name+"="),
		LogFile: filepath.Join(s.Dir, "worker-2.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := devstack.WaitWorkerPolling(ctx, c, second); err != nil {
		t.Fatal(err)
	}
	workers := map[string]string{"worker-1": pidIdentity(s.Worker().PID()), "worker-2": pidIdentity(second.PID())}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	tr := newTraffic()
	run := fmt.Sprintf("k%x", seed&0xffffff)
	deals := newDeals(s, tr, run, *flagClusterDeals)

	var cr crashes
	breakDone := make(chan error, 1)
	go func() { breakDone <- breakCluster(ctx, rng, s, second, deals, &cr, started) }()
	runScripts(ctx, deals, 6)
	if err := <-breakDone; err != nil {
		t.Fatalf("cluster chaos: %v", err)
	}
	t.Logf("cluster chaos: scripts done in %s; crashes:\n  %s", time.Since(started).Round(time.Second), strings.Join(cr.log, "\n  "))

	for _, d := range deals {
		if d.err != nil {
			t.Errorf("deal %s (%s): script failed: %v", d.id, d.sc.name, d.err)
		}
	}
	tr.mu.Lock()
	for _, f := range tr.failures {
		t.Errorf("server error: %s", f)
	}
	tr.mu.Unlock()

	res := verify(ctx, t, s, deals, run)
	t.Logf("cluster chaos: %d deals (%s); %d rows compared; duplicates %d, lost %d, differing %d",
		len(deals), res.byScenario, res.rows, res.duplicates, res.lost, res.differing)
	if res.duplicates != 0 || res.lost != 0 || res.differing != 0 {
		t.Errorf("duplicates found %d, lost %d, records differing %d: want 0, 0 and 0", res.duplicates, res.lost, res.differing)
	}

	// Both workers completed workflow tasks of these deals.
	done := completedBy(ctx, t, c, deals)
	for name, identity := range workers {
		if done[identity] == 0 {
			t.Errorf("%s (%s) completed no workflow task; completed by identity: %v", name, identity, done)
		}
	}
	t.Logf("workflow tasks completed per worker: %v", done)
}

// breakCluster waits until the second worker has completed a workflow task
// and a few deals are under way, SIGKILLs it for good, then SIGKILLs one
// history process and starts it again.
func breakCluster(ctx context.Context, rng *rand.Rand, s *e2e.Stack, second *devstack.Process, deals []*deal, cr *crashes, start time.Time) error {
	c, err := s.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	identity := pidIdentity(second.PID())
	for {
		if done := completedBy(ctx, nil, c, deals[:min(len(deals), 6)]); done[identity] > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the second worker completed no workflow task: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := second.Kill(); err != nil {
		return err
	}
	cr.workerKills++
	cr.note(start, "worker-2 SIGKILL (pid %d); worker-1 carries on alone", second.PID())

	time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
	h := s.Cluster.History(rng.IntN(2))
	if err := h.Kill(); err != nil {
		return err
	}
	cr.temporalRestarts++
	cr.note(start, "%s SIGKILL", h.Name())
	time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
	if err := h.Start(ctx); err != nil {
		return fmt.Errorf("start %s again: %w", h.Name(), err)
	}
	cr.note(start, "%s serving again", h.Name())
	return nil
}

func pidIdentity(pid int) string { return strconv.Itoa(pid) + "@" }

// completedBy counts the deals' completed workflow tasks per worker, keyed by
// the "<pid>@" prefix of the worker's identity. t may be nil: errors then
// only leave a deal out.
func completedBy(ctx context.Context, t *testing.T, c client.Client, deals []*deal) map[string]int {
	out := map[string]int{}
	for _, d := range deals {
		it := c.GetWorkflowHistory(ctx, workflows.WorkflowID(d.id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				if t != nil {
					t.Errorf("history of %s: %v", d.id, err)
				}
				break
			}
			if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil {
				pid, _, _ := strings.Cut(a.GetIdentity(), "@")
				out[pid+"@"]++
			}
		}
	}
	return out
}
