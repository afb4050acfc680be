package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"dealflow/internal/config"
	"dealflow/internal/temporalx"
)

// The floor: the bare engine doing what a deal does, with no-op bodies.
const (
	// floorTaskQueue is the floor worker's own task queue.
	floorTaskQueue = "dealflow-bench-floor"
	// floorWorkflowName is the registered name of floorWorkflow.
	floorWorkflowName = "BenchFloor"
	// floorActivityName is the no-op activity standing for ApplyChange.
	floorActivityName = "BenchNoop"
	// roleEnv, set to roleFloorWorker, makes this program (or the test
	// binary) run the floor worker instead of the benchmark.
	roleEnv         = "DEALFLOW_BENCH_ROLE"
	roleFloorWorker = "floor-worker"
)

// dealActions are the rep actions of one deal from lead to paid invoice, in
// order: each is one Update, and each runs one activity (ApplyChange).
var dealActions = []string{
	"qualify", "edit_opportunity", "add_stakeholder", "add_line", "propose",
	"activate_quote", "close", "fulfill_order", "record_payment",
}

// floorInput says what one floor deal does.
type floorInput struct {
	// Updates are the Update names the deal takes, each once.
	Updates []string
	// TimerAfter names the Update after which a ThankYou timer starts
	// (the won deal's thank-you follow-up); its firing runs one more activity.
	TimerAfter string
	ThankYou   time.Duration
	// Local runs the activities as local activities.
	Local bool
}

// floorWorkflow is a deal with the process taken out: the same Updates, the
// same activities (one at the start, one per Update, one when the thank-you
// timer fires) with the options of the deal's ApplyChange, no-op bodies.
func floorWorkflow(ctx workflow.Context, in floorInput) error {
	noop := func(ctx workflow.Context) error {
		if in.Local {
			ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
				StartToCloseTimeout: 30 * time.Second,
				RetryPolicy:         floorRetry,
			})
			return workflow.ExecuteLocalActivity(ctx, floorActivityName).Get(ctx, nil)
		}
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         floorRetry,
		})
		return workflow.ExecuteActivity(ctx, floorActivityName).Get(ctx, nil)
	}
	ready, done, timerStarted := false, 0, false
	for _, name := range in.Updates {
		err := workflow.SetUpdateHandler(ctx, name, func(ctx workflow.Context) error {
			// Like the deal's lock: an Update waits until the lead is written.
			if err := workflow.Await(ctx, func() bool { return ready }); err != nil {
				return err
			}
			if err := noop(ctx); err != nil {
				return err
			}
			done++
			if name == in.TimerAfter {
				timerStarted = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := noop(ctx); err != nil { // the lead row
		return err
	}
	ready = true
	if in.TimerAfter != "" {
		if err := workflow.Await(ctx, func() bool { return timerStarted }); err != nil {
			return err
		}
		if err := workflow.Sleep(ctx, in.ThankYou); err != nil {
			return err
		}
		if err := noop(ctx); err != nil { // the thank-you message
			return err
		}
	}
	return workflow.Await(ctx, func() bool { return done == len(in.Updates) && workflow.AllHandlersFinished(ctx) })
}

// floorRetry is the deal's ApplyChange retry policy.
var floorRetry = &temporal.RetryPolicy{
	InitialInterval:    500 * time.Millisecond,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
}

func floorNoop(context.Context) error { return nil }

// runFloorWorker is the floor worker process: the floor workflow and its
// no-op activity on their own task queue, with the deal worker's options
// (temporalx.NewWorker), until SIGTERM.
func runFloorWorker() int {
	r := config.NewReader()
	conn := r.Temporal()
	if err := r.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "floor worker: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := temporalx.Dial(ctx, temporalx.Options{Conn: conn, Logger: log})
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor worker: %v\n", err)
		return 1
	}
	defer c.Close()
	w := temporalx.NewWorker(c, floorTaskQueue)
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: floorWorkflowName})
	w.RegisterActivityWithOptions(floorNoop, activity.RegisterOptions{Name: floorActivityName})
	ch := make(chan any, 1)
	go func() { <-ctx.Done(); ch <- struct{}{} }()
	if err := w.Run(ch); err != nil {
		fmt.Fprintf(os.Stderr, "floor worker: %v\n", err)
		return 1
	}
	return 0
}

// runResult is what a throughput run measured.
type runResult struct {
	lat *latencies
	// took is the time from the first creation to the last completion.
	took   time.Duration
	failed int
	// ids are the workflow IDs of the deals that went through.
	ids []string
}

// floorRun drives n floor deals with c concurrent clients through the SDK
// client.
func floorRun(ctx context.Context, tc client.Client, runID string, n, conc int, thankYou time.Duration, local bool, progress io.Writer) (runResult, error) {
	lat := newLatencies()
	ids := make(chan int)
	go func() {
		defer close(ids)
		for i := range n {
			select {
			case ids <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	in := floorInput{Updates: dealActions, TimerAfter: "close", ThankYou: thankYou, Local: local}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		started []string
		failed  int
	)
	t0 := time.Now()
	tick := newTicker(progress, "floor", n)
	for range conc {
		wg.Go(func() {
			for i := range ids {
				wid := fmt.Sprintf("bench-floor/%s-%d", runID, i)
				err := floorDeal(ctx, tc, wid, in, lat)
				mu.Lock()
				if err != nil {
					failed++
					fmt.Fprintf(progress, "floor deal %s: %v\n", wid, err)
				} else {
					started = append(started, wid)
				}
				mu.Unlock()
				tick.done()
			}
		})
	}
	wg.Wait()
	tick.stop()
	res := runResult{lat: lat, failed: failed, ids: started}
	last, err := lastClose(ctx, tc, started)
	if err != nil {
		return res, err
	}
	res.took = last.Sub(t0)
	return res, nil
}

// floorDeal starts one floor deal and sends its Updates one after another,
// each waited for to completion as the API does.
func floorDeal(ctx context.Context, tc client.Client, wid string, in floorInput, lat *latencies) error {
	t := time.Now()
	_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: floorTaskQueue}, floorWorkflowName, in)
	if err != nil {
		lat.fail("create")
		return fmt.Errorf("start: %w", err)
	}
	lat.add("create", time.Since(t))
	for _, name := range in.Updates {
		t := time.Now()
		h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: wid, UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			lat.fail(name)
			return fmt.Errorf("%s: %w", name, err)
		}
		lat.add(name, time.Since(t))
	}
	return nil
}

// lastClose waits until every workflow in ids has closed and returns the
// latest close time (server clock: the same machine's, with -self).
func lastClose(ctx context.Context, tc client.Client, ids []string) (time.Time, error) {
	var (
		mu   sync.Mutex
		last time.Time
		errs []error
		wg   sync.WaitGroup
	)
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				ct, err := closeTime(ctx, tc, id)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if ct.After(last) {
					last = ct
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
	if len(errs) > 0 {
		return last, fmt.Errorf("%d deals did not complete, e.g. %w", len(errs), errs[0])
	}
	return last, nil
}

// closeTime polls a workflow until it has closed and returns its close time.
func closeTime(ctx context.Context, tc client.Client, id string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		d, err := tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return time.Time{}, fmt.Errorf("describe %s: %w", id, err)
		}
		info := d.GetWorkflowExecutionInfo()
		if info.GetCloseTime() != nil {
			if s := info.GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				return time.Time{}, fmt.Errorf("%s ended %s", id, s)
			}
			return info.GetCloseTime().AsTime(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, errors.New(id + " still running")
		case <-time.After(200 * time.Millisecond):
		}
	}
}
