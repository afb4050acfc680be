package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/temporalx"
	"dealflow/workflows"
)

// WorkerSIGTERM sends SIGTERM to the worker in the
// middle of a run of new deals (reps creating leads and reading them back,
// so workflow tasks, queries and the first activities are in flight): the
// worker exits 0 well within its stop timeout, a new worker finishes every
// deal, and no history records a workflow task or activity that failed or
// timed out while running because of the stop.
//
// On a server that completes a stopping worker's polls itself (1.32 with
// frontend.enableCancelWorkerPollsOnShutdown: the cluster) no workflow task
// may be left to time out either.
func WorkerSIGTERM(t *testing.T, stack *Stack) {
	t.Helper()
	const deals, concurrency = 40, 8
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	old := stack.Worker()
	if old == nil {
		t.Fatal("no worker running")
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := stack.StartWorker(context.Background()); err != nil {
				t.Errorf("restart the worker: %v", err)
			}
		}
	})

	ids := make([]string, deals)
	errs := make([]error, deals)
	created := make(chan struct{}, deals)
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i := range ids {
		ids[i] = newLeadID("e2e-sigterm-" + strconv.Itoa(i))
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			created <- struct{}{}
			errs[i] = leadFlow(ctx, stack, ids[i])
		})
	}

	// A quarter of the deals under way, the rest queued behind them.
	for range deals / 4 {
		<-created
	}
	stopped := time.Now()
	if err := old.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Done():
	case <-time.After(temporalx.StopTimeout + 10*time.Second):
		t.Fatalf("the worker did not exit within %s of SIGTERM:\n%s", temporalx.StopTimeout+10*time.Second, old.Describe(30))
	}
	took := time.Since(stopped)
	if err := old.Err(); err != nil {
		t.Fatalf("the worker exited with %v after SIGTERM:\n%s", err, old.Describe(30))
	}
	log := old.LogTail(40)
	for _, want := range []string{"worker stopping: finishing in-flight tasks", "worker stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("worker log lacks %q:\n%s", want, log)
		}
	}
	t.Logf("worker exited 0 %s after SIGTERM", took.Round(time.Millisecond))

	if err := stack.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("deal %s: %v", ids[i], err)
		}
	}

	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	oldIdentity := strconv.Itoa(old.PID()) + "@"
	byOld, byNew := 0, 0
	var orphans []string
	for _, id := range ids {
		h := scanHistory(ctx, t, c, workflows.WorkflowID(id), oldIdentity)
		if h.orphan != "" {
			orphans = append(orphans, workflows.WorkflowID(id)+": "+h.orphan)
		}
		for _, p := range h.problems {
			t.Errorf("%s: %s", workflows.WorkflowID(id), p)
		}
		if h.byOld > 0 {
			byOld++
		}
		if h.byNew > 0 {
			byNew++
		}
		if h.stickyTimeouts > 0 {
			t.Logf("%s: %d sticky schedule-to-start timeout(s): the task went to the normal queue (not a failure)", workflows.WorkflowID(id), h.stickyTimeouts)
		}
	}
	t.Logf("%d deals had workflow tasks started by the stopped worker, %d by its successor", byOld, byNew)
	// A task the server hands to a poll just as the SDK cancels it on stop
	// is orphaned until its timeout. Servers that complete a stopping
	// worker's polls themselves (1.32 with
	// frontend.enableCancelWorkerPollsOnShutdown) say so, and then there
	// must be none; the dev server (1.29) does not, and a task or two may be
	// lost that way: counted, not failed. A task cancelled while being
	// processed shows in the worker's log; that must never happen.
	if pollsComplete(ctx, t, c, stack.Namespace()) {
		for _, o := range orphans {
			t.Errorf("%s", o)
		}
	} else if len(orphans) > 0 {
		t.Logf("%d workflow task(s) orphaned by the SDK cancelling polls on stop (the server lacks WorkerPollCompleteOnShutdown): %s",
			len(orphans), strings.Join(orphans, "; "))
	}
	if strings.Contains(log, "Task processing failed") {
		t.Errorf("the stop cancelled a task being processed:\n%s", log)
	}
	if byOld == 0 || byNew == 0 {
		t.Errorf("the stop did not fall in the middle of the run (%d deals touched by the old worker, %d by the new)", byOld, byNew)
	}
}

// history is what scanHistory found in one deal's history.
type history struct {
	problems            []string
	byOld, byNew        int // workflow tasks started by the stopped worker, by another
	stickyTimeouts      int
	startedByIdentities map[int64]string
	pending             int64  // a started workflow task without its outcome yet
	orphan              string // a workflow task the stopped worker started and never finished
}

// scanHistory reads a deal's history: a failed workflow task or activity,
// or one that timed out while another worker ran it, is a problem; a
// workflow task the stopped worker started and never finished is an orphan
// (see pollsComplete); a workflow task that waited in the stopped worker's
// sticky queue and timed out there is neither (the server hands it to the
// normal queue).
func scanHistory(ctx context.Context, t *testing.T, c client.Client, wfID, oldIdentity string) history {
	t.Helper()
	h := history{startedByIdentities: map[int64]string{}}
	it := c.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", wfID, err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			id := e.GetWorkflowTaskStartedEventAttributes().GetIdentity()
			h.startedByIdentities[e.GetEventId()] = id
			h.pending = e.GetEventId()
			if strings.HasPrefix(id, oldIdentity) {
				h.byOld++
			} else {
				h.byNew++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			h.pending = 0
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			h.pending = 0
			a := e.GetWorkflowTaskFailedEventAttributes()
			h.problems = append(h.problems, fmt.Sprintf("workflow task failed (%s, by %s): %s", a.GetCause(), a.GetIdentity(), a.GetFailure().GetMessage()))
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			h.pending = 0
			a := e.GetWorkflowTaskTimedOutEventAttributes()
			if a.GetTimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
				h.stickyTimeouts++
				continue
			}
			by := h.startedByIdentities[a.GetStartedEventId()]
			if strings.HasPrefix(by, oldIdentity) {
				h.orphan = fmt.Sprintf("workflow task %d started by the stopped worker %s timed out", a.GetStartedEventId(), by)
				continue
			}
			h.problems = append(h.problems, fmt.Sprintf("workflow task timed out (%s) after it started (by %s)", a.GetTimeoutType(), by))
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			a := e.GetActivityTaskFailedEventAttributes()
			h.problems = append(h.problems, fmt.Sprintf("activity failed (by %s): %s", a.GetIdentity(), a.GetFailure().GetMessage()))
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			h.problems = append(h.problems, fmt.Sprintf("activity timed out: %s", e.GetActivityTaskTimedOutEventAttributes().GetFailure().GetMessage()))
		}
	}
	if id := h.startedByIdentities[h.pending]; h.pending != 0 && strings.HasPrefix(id, oldIdentity) {
		h.orphan = fmt.Sprintf("workflow task %d started by the stopped worker %s never finished", h.pending, id)
	}
	return h
}

// pollsComplete reports whether the server completes a stopping worker's
// outstanding polls itself (the namespace's WorkerPollCompleteOnShutdown
// capability), so that the SDK waits for them instead of cancelling them.
func pollsComplete(ctx context.Context, t *testing.T, c client.Client, namespace string) bool {
	t.Helper()
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	return ns.GetNamespaceInfo().GetCapabilities().GetWorkerPollCompleteOnShutdown()
}
