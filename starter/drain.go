package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"dealflow/workflows"
)

// backlog is the number of tasks waiting on the deal task queue: workflow
// tasks (a new deal's first one among them) and activity tasks (a new deal's
// first activity writes its lead row). Temporal's count is approximate.
func backlog(ctx context.Context, c client.Client, namespace string) (int64, error) {
	var n int64
	for _, tt := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace:     namespace,
			TaskQueue:     &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			TaskQueueType: tt,
			ReportStats:   true,
		})
		if err != nil {
			return 0, fmt.Errorf("describe task queue %s: %w", workflows.TaskQueue, err)
		}
		n += resp.GetStats().GetApproximateBacklogCount()
	}
	return n, nil
}

// waitDrained waits until the worker has caught up with the deals the import
// started: the task queue's backlog is empty on two looks a second apart. It
// reports the backlog as the import's progress does.
func waitDrained(ctx context.Context, c client.Client, namespace string, w io.Writer, mode string, every time.Duration) error {
	f, isFile := w.(*os.File)
	if mode == "auto" {
		mode = "lines"
		if isFile && isTerminal(f) {
			mode = "bar"
		}
	}
	start, last := time.Now(), time.Time{}
	empty := 0
	for {
		n, err := backlog(ctx, c, namespace)
		if err != nil {
			return err
		}
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
		done := empty >= 2
		switch {
		case mode == "bar":
			fmt.Fprintf(w, "\rworker catching up: %d tasks waiting (%s)\x1b[K", n, clock(time.Since(start)))
			if done {
				fmt.Fprintln(w)
			}
		case mode == "lines" && (done || time.Since(last) >= every):
			fmt.Fprintf(w, "import: worker catching up: %d tasks waiting after %s\n", n, clock(time.Since(start)))
			last = time.Now()
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the worker: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
