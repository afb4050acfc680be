package chaos

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/tests/chaos/dealrows"
	"dealflow/workflows"
)

// A known way for PostgreSQL to differ from the state after a crash:
// ApplyChange runs as a local activity, inside the workflow task that takes
// the step, and commits before that task completes. When the task then does
// not complete (the worker or Temporal dies, or the server refuses the
// completion), Temporal runs it again, and the new attempt may take another
// step, or the same one at a later workflow time: the state never has what
// the first attempt wrote, but PostgreSQL may keep some of it (a message is
// recorded once, its first created_at kept; a record only that step wrote
// stays). Another issue covers the fix in the workflow.
//
// Such a row is recognisable: every time ApplyChange stores is the step's
// workflow time, which is the start of the task that took it, so the row
// carries the start time of a task that the history shows did not complete.
// Only a difference that carries such a time is put down to this cause; any
// other fails the test.

// incompleteTasks returns, by their start (in microseconds, as PostgreSQL
// keeps times), the deal's workflow tasks that started and then failed or
// timed out instead of completing.
func incompleteTasks(ctx context.Context, c client.Client, id string) (map[int64]string, error) {
	it := c.GetWorkflowHistory(ctx, workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started := map[int64]time.Time{}
	out := map[int64]string{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		var startedID int64
		var how string
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			started[e.GetEventId()] = e.GetEventTime().AsTime()
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
			out[at.UnixMicro()] = fmt.Sprintf("the workflow task started at %s (event %d) %s at %s",
				at.UTC().Format(time.RFC3339Nano), startedID, how, e.GetEventTime().AsTime().UTC().Format(time.RFC3339Nano))
		}
	}
	return out, nil
}

// rerunCause says which incomplete workflow task wrote diff's side in
// PostgreSQL, or "" when nothing shows it was one.
func rerunCause(diff dealrows.Difference, incomplete map[int64]string) string {
	if diff.PGTime.IsZero() || diff.Kind == dealrows.Missing {
		return ""
	}
	return incomplete[diff.PGTime.UnixMicro()]
}
