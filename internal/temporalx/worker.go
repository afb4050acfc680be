package temporalx

import (
	"runtime"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// StickyCacheSize is how many workflows a worker process keeps in memory
// between their tasks (the SDK's sticky cache). A cached deal costs about
// 80 KB of resident memory (its handlers, channels and coroutines), so the
// SDK's default of 10,000 let a worker with 10,000 open deals grow to about
// 900 MB; 2,000 keeps it near 200 MB. A deal evicted from the cache is
// replayed from its history at its next task (docs/benchmarks.md).
const StickyCacheSize = 2000

// StopTimeout is how long a worker, once told to stop, lets its in-flight
// workflow tasks and activities finish before it cancels them: the
// activities' StartToCloseTimeout (30 s, workflows), so an activity that
// started just before SIGTERM can finish as it would have anyway; one that
// takes longer would be timed out by the server and retried elsewhere.
// WORKER_STOP_TIMEOUT sets it for the worker binary.
const StopTimeout = 30 * time.Second

var stickyOnce sync.Once

// WorkerOptions are the options the deal worker runs with. The benchmark's
// floor worker (bench/) uses the same, so that the floor and the product are
// measured with one worker configuration. Each is measured in
// docs/benchmarks.md.
func WorkerOptions() worker.Options {
	// Autoscaled pollers poll the task queue and the worker's sticky queue
	// separately. The SDK's default, two pollers shared by both queues, sends
	// every poll to the sticky queue while it has a backlog, so under load
	// the first workflow task of each new deal waited seconds on the task
	// queue (creating a lead took up to 10 s). More than a few concurrent
	// tasks per core only share the same CPUs.
	pollers := worker.PollerBehaviorAutoscalingOptions{MaximumNumberOfPollers: 4 * runtime.GOMAXPROCS(0)}
	return worker.Options{
		WorkflowTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(pollers),
		ActivityTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(pollers),
		// How long a task (or a query) for a cached deal waits for this
		// worker before the server gives it to any worker. It also bounds a
		// query the server loses: server 1.29 registers a query's result
		// channel only after handing the query to the poller, so a worker
		// that answers first is told "query task not found" and the query
		// waits out this timeout (5 s by default, about once in 1,500 rep
		// actions here). Sticky tasks waited at most 0.7 s at load 9.
		StickyScheduleToStartTimeout: 2 * time.Second,
		// The SDK's default is 0: on Stop it cancels in-flight activities
		// at once.
		WorkerStopTimeout: StopTimeout,
	}
}

// NewWorker creates a worker on taskQueue with WorkerOptions, changed by
// each of change in turn, after setting the process-wide sticky cache size
// (the SDK reads it when the first worker starts).
func NewWorker(c client.Client, taskQueue string, change ...func(*worker.Options)) worker.Worker {
	stickyOnce.Do(func() { worker.SetStickyWorkflowCacheSize(StickyCacheSize) })
	if dialled, ok := c.(*Client); ok {
		c = dialled.Client // the SDK wants the client it made
	}
	opts := WorkerOptions()
	for _, f := range change {
		f(&opts)
	}
	return worker.New(c, taskQueue, opts)
}
