// Package deals starts deal workflows. It is the one place that does: the
// API's POST /v1/leads calls StartAndView, the bulk importer (starter
// import) and the web form call Start, so a deal gets the same workflow ID,
// policies, search attributes and summary whichever way it arrives.
package deals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"dealflow/workflows"
)

// Starter is what Start needs of a Temporal client.
type Starter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// ViewStarter is what StartAndView needs of a Temporal client
// (client.Client has both).
type ViewStarter interface {
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
}

// InvalidLeadError is returned by Start and StartAndView for input that fails
// workflows.NewLead.Validate; nothing was started.
type InvalidLeadError struct {
	ID     string
	Fields []workflows.FieldError
}

func (e *InvalidLeadError) Error() string {
	return fmt.Sprintf("invalid lead %q: %s", e.ID, workflows.Describe(e.Fields))
}

// StartOptions are the options every deal's workflow starts with. A deal's
// workflow ID is taken once and for good: a second start with the same lead id
// fails while the deal runs (conflict policy Fail) and after it ended (reuse
// policy RejectDuplicate), so no lead id is ever two deals.
func StartOptions(in workflows.NewLead) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(in.ID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// Report an existing deal as an error rather than hand back its run,
		// so Start can tell "created" from "already there".
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    workflows.StartSearchAttributes(in),
		StaticSummary:                            workflows.Summary(in),
	}
}

// Start validates the new lead and starts its deal's workflow. created is
// false, with a nil error, when a deal with that lead id exists already
// (running or ended): calling Start again with the same id is safe, and that
// is what makes creation idempotent. An *InvalidLeadError means the input was
// refused before anything was sent.
//
// Start returns once Temporal has durably recorded the start; the deal's
// first activity (writing the lead row) runs on the worker afterwards.
func Start(ctx context.Context, c Starter, in workflows.NewLead) (created bool, err error) {
	if errs := in.Validate(); len(errs) > 0 {
		return false, &InvalidLeadError{ID: in.ID, Fields: errs}
	}
	_, err = c.ExecuteWorkflow(ctx, StartOptions(in), workflows.WorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &started):
		return false, nil
	default:
		return false, fmt.Errorf("start deal workflow %s: %w", workflows.WorkflowID(in.ID), err)
	}
}

// NoViewError is returned by StartAndView when it started the deal but the
// created Update did not answer the deal's view: a worker from before the
// Update refuses it as unknown, the workflow task that took it failed, or
// the wait for it ended. The deal was created; ask it for its state by other
// means (its state query).
type NoViewError struct {
	ID  string
	Err error
}

func (e *NoViewError) Error() string {
	return fmt.Sprintf("deal workflow %s started; its created update: %v", workflows.WorkflowID(e.ID), e.Err)
}

func (e *NoViewError) Unwrap() error { return e.Err }

// StartAndView validates the new lead and starts its deal's workflow as
// Start does (the same StartOptions), together with the workflow's created
// Update (Update-with-Start), whose result is the new deal's view once its
// lead is written: one call to Temporal instead of a start followed by
// queries. It returns:
//
//   - the view and created true: the deal was started and its lead written;
//   - created false, with no view and a nil error: a deal with that id
//     exists already (running or ended), exactly as Start reports it;
//   - created true and a *NoViewError: the deal was started, but the Update
//     did not answer;
//   - an *InvalidLeadError: the input was refused before anything was sent;
//   - any other error: whether the deal was started is not known. The call
//     may have failed after Temporal recorded the start, as when ctx ends
//     while the Update waits for a worker: look the workflow up.
func StartAndView(ctx context.Context, c ViewStarter, in workflows.NewLead) (view *workflows.DealView, created bool, err error) {
	if errs := in.Validate(); len(errs) > 0 {
		return nil, false, &InvalidLeadError{ID: in.ID, Fields: errs}
	}
	start := c.NewWithStartWorkflowOperation(StartOptions(in), workflows.WorkflowName, in)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		// No UpdateID: each call sends a fresh one (the SDK's retries of
		// the call keep it). Temporal answers an Update-with-Start whose
		// Update ID it has completed with that Update's result, whatever the
		// conflict policy: a fixed ID would hand a repeated creation, or
		// another user's creation of the same id, the first one's view as
		// if it had created the deal.
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateCreated,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	// With conflict policy Fail (or reuse policy RejectDuplicate) an
	// existing workflow fails the start operation of the MultiOperation
	// request; the SDK returns that operation's error wrapped ("failed
	// workflow start: %w"), so it is found by its type as Start finds it.
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("start deal workflow %s with its created update: %w", workflows.WorkflowID(in.ID), err)
	}
	// A handle means the start went through: this call's (the start's
	// request ID and the Update ID are this call's own).
	var v workflows.DealView
	if err := h.Get(ctx, &v); err != nil {
		return nil, true, &NoViewError{ID: in.ID, Err: err}
	}
	if v.Deal == nil {
		return nil, true, &NoViewError{ID: in.ID, Err: errors.New("the created update answered no deal")}
	}
	return &v, true, nil
}

// DerivedID is the lead id derived from parts (a user and an idempotency key,
// or an import row's normalized content): the same parts always give the
// same id, so a repeated creation finds the deal of the first. The first part
// names the id's namespace and must not be a value another caller's first
// part can take (API user ids start with "usr_"; the importer uses "import").
func DerivedID(parts ...string) string {
	h := sha256.New()
	h.Write([]byte("lead"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return "ld-" + hex.EncodeToString(h.Sum(nil)[:10])
}
