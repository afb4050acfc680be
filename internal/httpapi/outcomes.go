package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"dealflow/workflows"
)

// What the API makes of Temporal's answers. Each outcome is told by the
// error's type (the API's serviceerror types, the SDK's temporal.* errors,
// gRPC codes), never by its text, which servers word differently from one
// version to the next. Where a type alone is ambiguous, the deal's workflow
// is asked: whether it exists and has closed (DescribeWorkflowExecution),
// or whether it answers its state query.

// temporalErr classifies an error of a Temporal call: a deadline is a 503
// when Temporal turns out to be down, else a 504.
func (s *Server) temporalErr(ctx context.Context, err error) error {
	p := classify(ctx, depTemporal, err)
	if p.Status == http.StatusGatewayTimeout {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ProbeTimeout)
		defer cancel()
		if perr := s.health.probe(pctx); perr != nil {
			return unavailable(depTemporal, err)
		}
	}
	return p
}

// queryErr classifies an error of deal id's state query.
func (s *Server) queryErr(ctx context.Context, id string, err error) error {
	var (
		nf  *serviceerror.NotFound
		qf  *serviceerror.QueryFailed
		wnr *serviceerror.WorkflowNotReady
	)
	switch {
	case errors.As(err, &nf):
		return noDeal(id)
	case errors.As(err, &qf):
		// The workflow failed the query. Its state handler returns no error
		// of its own, so the workflow has not registered it yet (the SDK's
		// "unknown queryType"): the deal is still being set up.
		return errNotReady
	case errors.As(err, &wnr):
		// Temporal cannot query the deal until its failed workflow task is
		// run again (a worker stopped or died while running it): a moment.
		return errNotReady
	case noPoller(err):
		return unavailable("the worker that runs the deals", err)
	}
	return s.temporalErr(ctx, err)
}

// noPoller reports Temporal's answer to a query that no worker has polled
// for lately (FailedPrecondition): the worker is down, or Temporal has just
// restarted and the worker has not polled it again yet. Either passes; it is
// no server error. Only a query is answered so (an Update waits for a
// worker), which is why only queryErr asks.
func noPoller(err error) bool {
	var fp *serviceerror.FailedPrecondition
	if errors.As(err, &fp) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.FailedPrecondition
}

// updateErr classifies the error of an Update call or outcome.
func (s *Server) updateErr(ctx context.Context, u User, id string, err error) error {
	var (
		appErr *temporal.ApplicationError
		nf     *serviceerror.NotFound
		wnr    *serviceerror.WorkflowNotReady
	)
	switch {
	case errors.As(err, &appErr) && appErr.Type() == workflows.RejectionErrorType:
		return refused(id, appErr)
	case errors.As(err, &appErr):
		return s.updateFailed(ctx, id, err)
	case errors.As(err, &nf):
		return s.updateNotFound(ctx, u, id)
	case errors.As(err, &wnr):
		// The workflow task that had taken the action failed (Temporal
		// refused its completion): the action was not taken. Send it
		// again, with the same Update ID.
		return errNotReady
	}
	return s.temporalErr(ctx, err)
}

// refused turns the workflow's refusal of an action into its problem.
func refused(id string, appErr *temporal.ApplicationError) error {
	var rej *workflows.Rejection
	if derr := appErr.Details(&rej); derr != nil || rej == nil {
		return internal(fmt.Errorf("lead %s: undecodable rejection %q: %v", id, appErr.Error(), derr))
	}
	switch rej.Code {
	case workflows.RejectNoAccess:
		return noDeal(id) // as for a deal that does not exist
	case workflows.RejectEnded:
		return dealEnded(id)
	case workflows.RejectMoving:
		return errNotReady // the new run takes it
	case workflows.RejectStale:
		p := dealChanged(id, rej.Version)
		p.Stage, p.DealStatus = rej.Stage, rej.Status
		return p
	}
	return rejection(rej)
}

// updateFailed classifies an Update that failed other than by the
// workflow's refusal: the SDK refuses an Update the workflow has no handler
// for yet (its "unknown update"), or the workflow failed it. The workflow
// registers its Update handlers with its state query's, so whether the deal
// answers that query tells which.
func (s *Server) updateFailed(ctx context.Context, id string, err error) error {
	if _, qerr := s.queryState(ctx, id); errors.Is(qerr, errNotReady) {
		return errNotReady
	}
	return internal(fmt.Errorf("lead %s: %w", id, err))
}

// updateNotFound classifies an Update answered NotFound: the deal's
// workflow does not exist, or it has closed — before the Update came, or
// while it came (server 1.29's "workflow update was aborted by closing
// workflow", in the final workflow task). Whether the workflow exists and
// has closed tells which.
func (s *Server) updateNotFound(ctx context.Context, u User, id string) error {
	desc, derr := s.cfg.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(derr, &nf):
		return noDeal(id)
	case derr != nil:
		return s.temporalErr(ctx, derr)
	case desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		// The run the Update reached closed under it, and the deal runs on
		// in a new one: the action was not taken. Send it again, with the
		// same Update ID.
		return errNotReady
	}
	// An ended deal runs no validator: say it ended only to those who may
	// see it.
	if _, err := s.dealView(ctx, u, id); err != nil {
		return err
	}
	return dealEnded(id)
}

func dealEnded(id string) *Problem {
	return conflict("deal-ended", "Deal ended",
		"lead "+id+" has ended (paid, or closed past its retention window); it takes no more actions")
}

// rejection turns a refused action into its problem.
func rejection(r *workflows.Rejection) *Problem {
	var p *Problem
	switch r.Code {
	case workflows.RejectInvalid:
		fields := r.Fields
		if len(fields) == 0 {
			fields = []workflows.FieldError{{Field: "", Reason: r.Message}}
		}
		p = invalid(fields...)
		p.Detail = r.Message
	case workflows.RejectNotFound:
		p = notFound(r.Message)
	case workflows.RejectGate:
		p = conflict("gate-not-met", "Stage requirements not met", r.Message)
		p.Missing = r.Missing
	default: // wrong_stage, and any code added later
		p = conflict("wrong-stage", "Not allowed in this stage", r.Message)
		p.Missing = r.Missing
	}
	p.Stage, p.DealStatus = r.Stage, r.Status
	return p
}
