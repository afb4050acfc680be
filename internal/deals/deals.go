// Package deals starts deal workflows. It is the one place that does: the
// API's POST /v1/leads and the bulk importer (starter import) both call Start,
// so a deal gets the same workflow ID, policies, search attributes and summary
// whichever way it arrives.
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

// InvalidLeadError is returned by Start for input that fails
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
