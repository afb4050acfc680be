package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"dealflow/activities"
	"dealflow/workflows"
)

// engine stands in for the Temporal server and worker in handler tests: it
// runs the real stage machine (workflows.Deal) and writes every step with
// the real ApplyChange activity to the test's PostgreSQL, so the read model
// is what the worker would write. Refusals travel through the SDK's failure
// converter, as they do from a real Update. The end-to-end tests
// (internal/e2e) cover the real server and worker.
type engine struct {
	acts *activities.Activities

	mu      sync.Mutex
	deals   map[string]*workflows.Deal // by workflow ID
	updates map[string]updateOutcome   // by update ID
	starts  int

	// healthErr is what CheckHealth answers; down makes every call fail
	// as gRPC does when the server is unreachable.
	healthErr error
	down      bool
	// block makes Updates and Queries wait for their context (a timeout);
	// blockQuery only Queries (a deal whose worker is away).
	block, blockQuery bool
	// describeMisses makes Describe miss every deal, as it does for a
	// request racing another that starts the same workflow.
	describeMisses bool
	// panicOnQuery makes Query panic (the recovery test).
	panicOnQuery bool
	now          func() time.Time
}

type updateOutcome struct {
	res workflows.Result
	err error
}

func newEngine(acts *activities.Activities) *engine {
	return &engine{acts: acts, deals: map[string]*workflows.Deal{}, updates: map[string]updateOutcome{}, now: time.Now}
}

var errUnreachable = serviceerror.NewUnavailable("connection refused")

func (e *engine) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return nil, errUnreachable
	}
	if wf != workflows.WorkflowName || o.TaskQueue != workflows.TaskQueue {
		return nil, fmt.Errorf("unexpected start of %v on %s", wf, o.TaskQueue)
	}
	if _, ok := e.deals[o.ID]; ok {
		if o.WorkflowExecutionErrorWhenAlreadyStarted {
			return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already started", "", "run-1")
		}
		return nil, nil // the SDK hands back the existing run
	}
	in := args[0].(workflows.NewLead)
	now := e.now()
	d := workflows.NewDeal(in, now)
	if _, err := e.acts.ApplyChange(ctx, d.Created(in.CreatedBy, now)); err != nil {
		return nil, err
	}
	e.deals[o.ID] = d
	e.starts++
	return nil, nil
}

func (e *engine) DescribeWorkflowExecution(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return nil, errUnreachable
	}
	if _, ok := e.deals[id]; !ok || e.describeMisses {
		return nil, serviceerror.NewNotFound("workflow not found for ID: " + id)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{}, nil
}

func (e *engine) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	e.mu.Lock()
	if e.panicOnQuery {
		e.mu.Unlock()
		panic("query exploded")
	}
	if e.down {
		e.mu.Unlock()
		return nil, errUnreachable
	}
	if e.block || e.blockQuery {
		e.mu.Unlock()
		<-ctx.Done()
		return nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")
	}
	defer e.mu.Unlock()
	d, ok := e.deals[id]
	if !ok {
		return nil, serviceerror.NewNotFound("workflow not found for ID: " + id)
	}
	if queryType != workflows.QueryState {
		return nil, serviceerror.NewQueryFailed("unknown queryType " + queryType)
	}
	return jsonValue{workflows.DealView{Deal: d.Clone(), NextStep: d.NextStep(), Pending: d.Pending()}}, nil
}

func (e *engine) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	e.mu.Lock()
	if e.down {
		e.mu.Unlock()
		return nil, errUnreachable
	}
	if e.block {
		e.mu.Unlock()
		<-ctx.Done()
		return nil, client.NewWorkflowUpdateServiceTimeoutOrCanceledError(ctx.Err())
	}
	defer e.mu.Unlock()
	if o.WaitForStage != client.WorkflowUpdateStageCompleted {
		return nil, errors.New("the API must wait for the update to complete")
	}
	if out, ok := e.updates[o.UpdateID]; ok && o.UpdateID != "" {
		return handle{out}, nil
	}
	d, ok := e.deals[o.WorkflowID]
	if !ok {
		return nil, serviceerror.NewNotFound("workflow not found for ID: " + o.WorkflowID)
	}
	raw, err := json.Marshal(o.Args[0])
	if err != nil {
		return nil, err
	}
	out := e.apply(ctx, d, workflows.Action(o.UpdateName), raw)
	if o.UpdateID != "" {
		e.updates[o.UpdateID] = out
	}
	return handle{out}, nil
}

// apply is the workflow's validator and handler in one: a refusal records
// nothing (the validator rejects before the update is admitted).
func (e *engine) apply(ctx context.Context, d *workflows.Deal, act workflows.Action, raw []byte) updateOutcome {
	cmd, err := workflows.DecodeCommand(act, raw)
	if err != nil {
		return updateOutcome{err: rejectionErr(&workflows.Rejection{Code: workflows.RejectInvalid, Action: act, Message: err.Error()})}
	}
	next := d.Clone()
	ch, res, err := next.Apply(cmd, e.now())
	var rej *workflows.Rejection
	if errors.As(err, &rej) {
		return updateOutcome{err: rejectionErr(rej)}
	}
	if err != nil {
		return updateOutcome{err: err}
	}
	cr, err := e.acts.ApplyChange(ctx, ch)
	if err != nil {
		return updateOutcome{err: err}
	}
	if ch.Qualify != nil {
		next.AccountID, next.ContactID = cr.AccountID, cr.ContactID
	}
	*d = *next
	return updateOutcome{res: res}
}

// rejectionErr is a refusal as the client sees it: the workflow's
// ApplicationError, through the failure converter and back.
func rejectionErr(rej *workflows.Rejection) error {
	err := temporal.NewApplicationErrorWithOptions(rej.Message, workflows.RejectionErrorType,
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{rej}})
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

func (e *engine) CheckHealth(ctx context.Context, _ *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return nil, errUnreachable
	}
	return &client.CheckHealthResponse{}, e.healthErr
}

func (e *engine) set(fn func(e *engine)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn(e)
}

func (e *engine) startCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts
}

type handle struct{ out updateOutcome }

func (h handle) WorkflowID() string { return "" }
func (h handle) RunID() string      { return "" }
func (h handle) UpdateID() string   { return "" }
func (h handle) Get(ctx context.Context, ptr any) error {
	if h.out.err != nil {
		return h.out.err
	}
	b, err := json.Marshal(h.out.res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

// jsonValue is a query result as the data converter hands it over.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return true }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}
