package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/tests/chaos/dealrows"
	"dealflow/workflows"
)

// A way PostgreSQL used to differ from the state after a crash, and the
// first suspect should it again: ApplyChange runs as a local activity,
// inside the workflow task that takes the step, and commits before that
// task completes. When the task then does not complete (the worker or
// Temporal dies, or the server refuses the completion), Temporal runs it
// again, and the new attempt may take another step, or the same one at a
// later workflow time. ApplyChange then finds the timeline already at the
// step's seq and rewrites the deal's records (store.rewritesStep); the
// crash test fails on any row left different, and names such a task when
// the row's time points at one.
//
// Such a row is recognisable: every time ApplyChange stores is the step's
// workflow time, which is the start of the attempt of the task that took it.
// The history shows a task that did not complete (failed or timed out), but
// not its further attempts until one completes (Temporal records a retried
// task's attempts only once one completes): the row carries a time from the
// failed task's start up to, not including, the start of the attempt that
// completed. Only a difference that carries such a time is put down to this
// cause; any other fails the test.

// incompleteTasks returns the time windows of the deal's workflow task
// attempts that did not complete: each from the start of a task that failed
// or timed out to the start of the next attempt the history records.
func incompleteTasks(ctx context.Context, c client.Client, id string) ([]rerunWindow, error) {
	it := c.GetWorkflowHistory(ctx, workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started := map[int64]time.Time{}
	var out []rerunWindow
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		var startedID int64
		var how string
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			at := e.GetEventTime().AsTime()
			started[e.GetEventId()] = at
			for i := range out {
				if out[i].to.IsZero() {
					out[i].to = at // the attempt that completed
				}
			}
			continue
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			a := e.GetWorkflowTaskFailedEventAttributes()
			startedID, how = a.GetStartedEventId(), "failed ("+a.GetCause().String()+")"
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			a := e.GetWorkflowTaskTimedOutEventAttributes()
			startedID, how = a.GetStartedEventId(), "timed out ("+a.GetTimeoutType().String()+")"
		default:
			continue
		}
		if at, ok := started[startedID]; ok {
			out = append(out, rerunWindow{from: at, what: fmt.Sprintf("the workflow task started at %s (event %d) %s at %s, or an attempt of it retried before one completed",
				at.UTC().Format(time.RFC3339Nano), startedID, how, e.GetEventTime().AsTime().UTC().Format(time.RFC3339Nano))})
		}
	}
	return out, nil
}

// rerunWindow is when the attempts of a task that did not complete ran: from
// (its start) up to to (the start of the attempt that completed; zero: none
// has yet).
type rerunWindow struct {
	from, to time.Time
	what     string
}

// rerunCause says which incomplete workflow task wrote diff's side in
// PostgreSQL, or "" when nothing shows it was one.
func rerunCause(diff dealrows.Difference, incomplete []rerunWindow) string {
	if diff.PGTime.IsZero() || diff.Kind == dealrows.Missing {
		return ""
	}
	at := diff.PGTime.Truncate(time.Microsecond)
	for _, w := range incomplete {
		from := w.from.Truncate(time.Microsecond)
		if !at.Before(from) && (w.to.IsZero() || at.Before(w.to.Truncate(time.Microsecond))) {
			return w.what
		}
	}
	return ""
}

// TestRerunCauseWindow: a write is put down to an incomplete task when its
// time is that task's start or any time before the attempt that completed
// (its retried attempts are not in the history); never before the task, nor
// from the completing attempt on.
func TestRerunCauseWindow(t *testing.T) {
	start := time.Date(2026, 12, 2, 3, 54, 55, 295566032, time.UTC)
	done := start.Add(10 * time.Second)
	closed := []rerunWindow{{from: start, to: done, what: "task"}}
	open := []rerunWindow{{from: start, what: "task"}}
	for _, c := range []struct {
		at      time.Time
		windows []rerunWindow
		want    bool
	}{
		{start, closed, true},
		{start.Add(40 * time.Millisecond), closed, true},
		{done.Add(-time.Microsecond), closed, true},
		{done, closed, false},
		{start.Add(-time.Microsecond), closed, false},
		{done.Add(time.Hour), open, true},
	} {
		diff := dealrows.Difference{Kind: dealrows.Changed, Record: "message m", PGTime: c.at}
		if got := rerunCause(diff, c.windows) != ""; got != c.want {
			t.Errorf("write at %s: put down to the task %v, want %v", c.at.Format(time.RFC3339Nano), got, c.want)
		}
	}
	if rerunCause(dealrows.Difference{Kind: dealrows.Missing, PGTime: start}, closed) != "" {
		t.Error("a missing row is never put down to a rerun")
	}
}
