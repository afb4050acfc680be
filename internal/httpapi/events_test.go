package httpapi_test

// What lets a test wait on an event rather than on time: a clock that moves
// only when the test steps it, and decorators of the real Temporal client
// that report what the API asked of it and when a request reached it. None
// changes an answer of the server.

import (
	"context"
	"maps"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"dealflow/internal/httpapi"
)

// stepClock is the server's clock (Config.Now) in a test: it stands still
// until the test steps it, so a rate limit's buckets refill, and the health
// check's cache ages, exactly when the test says, however slowly the
// machine serves the requests in between.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStepClock() *stepClock { return &stepClock{now: time.Now()} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// step moves the clock on by d.
func (c *stepClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// callCounter decorates the real client to count the API's calls to
// Temporal by method (NewWithStartWorkflowOperation only builds what an
// Update-with-Start sends: it calls nothing and is not counted).
type callCounter struct {
	httpapi.Temporal
	mu    sync.Mutex
	calls map[string]int
}

// wrap is an envOpts.wrap.
func (cc *callCounter) wrap(c httpapi.Temporal) httpapi.Temporal { cc.Temporal = c; return cc }

func (cc *callCounter) count(method string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.calls == nil {
		cc.calls = map[string]int{}
	}
	cc.calls[method]++
}

// take returns the calls counted so far and starts counting afresh.
func (cc *callCounter) take() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	got := maps.Clone(cc.calls)
	cc.calls = nil
	if got == nil {
		got = map[string]int{}
	}
	return got
}

func (cc *callCounter) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	cc.count("ExecuteWorkflow")
	return cc.Temporal.ExecuteWorkflow(ctx, o, wf, args...)
}

func (cc *callCounter) DescribeWorkflowExecution(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	cc.count("DescribeWorkflowExecution")
	return cc.Temporal.DescribeWorkflowExecution(ctx, id, runID)
}

func (cc *callCounter) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	cc.count("QueryWorkflow")
	return cc.Temporal.QueryWorkflow(ctx, id, runID, queryType, args...)
}

func (cc *callCounter) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	cc.count("UpdateWorkflow")
	return cc.Temporal.UpdateWorkflow(ctx, o)
}

func (cc *callCounter) UpdateWithStartWorkflow(ctx context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	cc.count("UpdateWithStartWorkflow")
	return cc.Temporal.UpdateWithStartWorkflow(ctx, o)
}

func (cc *callCounter) CheckHealth(ctx context.Context, r *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	cc.count("CheckHealth")
	return cc.Temporal.CheckHealth(ctx, r)
}

// queryDeadline decorates the real client to record when the last state
// query was sent and the deadline of its context: the request's, as the API
// set it.
type queryDeadline struct {
	httpapi.Temporal
	mu       sync.Mutex
	sent     time.Time
	deadline time.Time
	has      bool
}

// wrap is an envOpts.wrap.
func (q *queryDeadline) wrap(c httpapi.Temporal) httpapi.Temporal { q.Temporal = c; return q }

func (q *queryDeadline) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	q.mu.Lock()
	q.sent = time.Now()
	q.deadline, q.has = ctx.Deadline()
	q.mu.Unlock()
	return q.Temporal.QueryWorkflow(ctx, id, runID, queryType, args...)
}

// last is when the last query was sent, its deadline, and whether it had one.
func (q *queryDeadline) last() (sent, deadline time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sent, q.deadline, q.has
}

// queryGate decorates the real client to tell the test when a request's
// state query has reached Temporal, and to hold the query's outcome until
// the test releases it: what the test does in between (kill Temporal)
// happens while the request is in flight, before the API looks at the
// outcome, however the machine schedules the two.
type queryGate struct {
	httpapi.Temporal
	armed   chan struct{} // holds one token while the next query is to be gated
	reached chan struct{} // closed when the gated query has reached Temporal
	release chan struct{} // closed by the test to let its outcome through
}

func newQueryGate() *queryGate {
	return &queryGate{armed: make(chan struct{}, 1), reached: make(chan struct{}), release: make(chan struct{})}
}

// wrap is an envOpts.wrap.
func (g *queryGate) wrap(c httpapi.Temporal) httpapi.Temporal { g.Temporal = c; return g }

// arm gates the next query (earlier ones pass).
func (g *queryGate) arm() { g.armed <- struct{}{} }

func (g *queryGate) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	select {
	case <-g.armed:
	default:
		return g.Temporal.QueryWorkflow(ctx, id, runID, queryType, args...)
	}
	close(g.reached)
	v, err := g.Temporal.QueryWorkflow(ctx, id, runID, queryType, args...)
	<-g.release
	return v, err
}
