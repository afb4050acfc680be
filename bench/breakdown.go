package main

import (
	"context"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Breakdown splits the deals' time, as their histories record it, into the
// waits that make up an action's latency: a task waiting in its queue for
// a poller (schedule-to-start), the worker running it, and the workflow
// task failures that force a retry.
type Breakdown struct {
	// WorkflowTaskNormalQueue is schedule-to-start of workflow tasks on the
	// task queue (the first of each deal, and any after stickiness was lost).
	WorkflowTaskNormalQueue ActionStats `json:"workflowTaskNormalQueue"`
	// WorkflowTaskStickyQueue is schedule-to-start on the worker's own
	// sticky queue (every later task of a cached workflow).
	WorkflowTaskStickyQueue ActionStats `json:"workflowTaskStickyQueue"`
	// WorkflowTaskRun is started-to-completed of workflow tasks.
	WorkflowTaskRun ActionStats `json:"workflowTaskRun"`
	// ActivityQueue is schedule-to-start of activity tasks (zero when
	// started eagerly with the workflow task's completion).
	ActivityQueue ActionStats `json:"activityQueue"`
	// ActivityRun is started-to-completed of activities.
	ActivityRun ActionStats `json:"activityRun"`
	// WorkflowTaskFailures and WorkflowTaskTimeouts count failed and
	// timed-out workflow tasks; LocalActivities counts the local activities'
	// markers (not the version markers of workflow.GetVersion).
	WorkflowTaskFailures int `json:"workflowTaskFailures"`
	// FailureCauses counts the failures by cause and message, and the
	// timeouts by type.
	FailureCauses        map[string]int `json:"workflowTaskFailureCauses,omitempty"`
	WorkflowTaskTimeouts int            `json:"workflowTaskTimeouts"`
	LocalActivities      int            `json:"localActivities"`
	// OffStickyTasks counts the workflow tasks on the task queue beyond the
	// first of each deal: a task that left the worker's sticky queue, e.g.
	// an Update's speculative task that no sticky poll took within 5 s and
	// the server rescheduled (the wait before it is in no event).
	OffStickyTasks int `json:"offStickyTasks"`
	// Events is the mean history length of a deal.
	Events float64 `json:"meanEvents"`
}

// breakdown reads the histories of (up to max of) the workflows in ids.
func breakdown(ctx context.Context, tc client.Client, ids []string, limit int) *Breakdown {
	if len(ids) > limit {
		ids = ids[:limit]
	}
	l := newLatencies()
	var (
		mu                       sync.Mutex
		fails, timeouts, markers int
		events                   int
		causes                   = map[string]int{}
		wg                       sync.WaitGroup
		work                     = make(chan string)
	)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				var scheduled, started, actScheduled, actStarted = map[int64]time.Time{}, map[int64]time.Time{}, map[int64]time.Time{}, map[int64]time.Time{}
				sticky := map[int64]bool{}
				f, to, mk, n := 0, 0, 0, 0
				var why []string
				it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
				for it.HasNext() {
					e, err := it.Next()
					if err != nil {
						break
					}
					n++
					at := e.GetEventTime().AsTime()
					switch e.GetEventType() {
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
						scheduled[e.GetEventId()] = at
						sticky[e.GetEventId()] = e.GetWorkflowTaskScheduledEventAttributes().GetTaskQueue().GetKind() == enumspb.TASK_QUEUE_KIND_STICKY
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
						a := e.GetWorkflowTaskStartedEventAttributes()
						started[e.GetEventId()] = at
						if s, ok := scheduled[a.GetScheduledEventId()]; ok {
							if sticky[a.GetScheduledEventId()] {
								l.add("sticky", at.Sub(s))
							} else {
								l.add("normal", at.Sub(s))
							}
						}
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
						if s, ok := started[e.GetWorkflowTaskCompletedEventAttributes().GetStartedEventId()]; ok {
							l.add("wftRun", at.Sub(s))
						}
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
						f++
						a := e.GetWorkflowTaskFailedEventAttributes()
						msg := a.GetFailure().GetMessage()
						if len(msg) > 80 {
							msg = msg[:80]
						}
						why = append(why, "failed "+a.GetCause().String()+": "+msg)
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
						to++
						kind := "sticky queue"
						if !sticky[e.GetWorkflowTaskTimedOutEventAttributes().GetScheduledEventId()] {
							kind = "normal queue"
						}
						why = append(why, "timed out "+e.GetWorkflowTaskTimedOutEventAttributes().GetTimeoutType().String()+" on the "+kind)
					case enumspb.EVENT_TYPE_MARKER_RECORDED:
						if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
							mk++
						}
					case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
						actScheduled[e.GetEventId()] = at
					case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
						a := e.GetActivityTaskStartedEventAttributes()
						actStarted[a.GetScheduledEventId()] = at
						if s, ok := actScheduled[a.GetScheduledEventId()]; ok {
							l.add("actQueue", at.Sub(s))
						}
					case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
						if s, ok := actStarted[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
							l.add("actRun", at.Sub(s))
						}
					}
				}
				mu.Lock()
				fails, timeouts, markers, events = fails+f, timeouts+to, markers+mk, events+n
				for _, w := range why {
					causes[w]++
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	get := func(name, label string) ActionStats {
		for _, s := range l.stats() {
			if s.Action == name {
				s.Action = label
				return s
			}
		}
		return ActionStats{Action: label}
	}
	b := &Breakdown{
		WorkflowTaskNormalQueue: get("normal", "workflow task: queue wait (normal)"),
		WorkflowTaskStickyQueue: get("sticky", "workflow task: queue wait (sticky)"),
		WorkflowTaskRun:         get("wftRun", "workflow task: run on worker"),
		ActivityQueue:           get("actQueue", "activity: queue wait"),
		ActivityRun:             get("actRun", "activity: run on worker"),
		WorkflowTaskFailures:    fails,
		WorkflowTaskTimeouts:    timeouts,
		LocalActivities:         markers,
	}
	if len(causes) > 0 {
		b.FailureCauses = causes
	}
	b.OffStickyTasks = max(0, b.WorkflowTaskNormalQueue.Count-len(ids))
	if len(ids) > 0 {
		b.Events = round2(float64(events) / float64(len(ids)))
	}
	return b
}

func (b *Breakdown) rows() []ActionStats {
	return []ActionStats{b.WorkflowTaskNormalQueue, b.WorkflowTaskStickyQueue, b.WorkflowTaskRun, b.ActivityQueue, b.ActivityRun}
}
