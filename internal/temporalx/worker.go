package temporalx

import (
	"sync"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// StickyCacheSize is how many workflows a worker process keeps in memory
// between their tasks (the SDK's sticky cache; its default is 10,000).
const StickyCacheSize = 10000

var stickyOnce sync.Once

// WorkerOptions are the options the deal worker runs with. The benchmark's
// floor worker (bench/) uses the same, so that the floor and the product are
// measured with one worker configuration.
func WorkerOptions() worker.Options {
	return worker.Options{}
}

// NewWorker creates a worker on taskQueue with WorkerOptions, after setting
// the process-wide sticky cache size (the SDK reads it when the first worker
// starts).
func NewWorker(c client.Client, taskQueue string) worker.Worker {
	stickyOnce.Do(func() { worker.SetStickyWorkflowCacheSize(StickyCacheSize) })
	return worker.New(c, taskQueue, WorkerOptions())
}
