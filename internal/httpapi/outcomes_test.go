package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"dealflow/internal/httpapi"
	"dealflow/workflows"
)

// reworded decorates the real client: once armed, the next QueryWorkflow or
// UpdateWorkflow calls are answered with an error of the type Temporal
// answers, worded as no Temporal server words it, so that only the error's
// type can lead the API to its answer. Every other call goes to the real
// server.
type reworded struct {
	httpapi.Temporal
	mu      sync.Mutex
	queries []error // the answers to the next queries, in turn
	updates []error // the answers to the next Updates, in turn
}

func (r *reworded) wrap(c httpapi.Temporal) httpapi.Temporal { r.Temporal = c; return r }

// arm sets the answers to the next queries and Updates.
func (r *reworded) arm(queries, updates []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries, r.updates = queries, updates
}

func (r *reworded) next(answers *[]error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(*answers) == 0 {
		return nil
	}
	err := (*answers)[0]
	*answers = (*answers)[1:]
	return err
}

func (r *reworded) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	if err := r.next(&r.queries); err != nil {
		return nil, err
	}
	return r.Temporal.QueryWorkflow(ctx, id, runID, queryType, args...)
}

// UpdateWorkflow answers an armed ApplicationError from the handle's Get,
// where a workflow's or the SDK's refusal arrives, and any other armed
// error from the call itself, as Temporal's own do.
func (r *reworded) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	err := r.next(&r.updates)
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr):
		return failedUpdate{o: o, err: err}, nil
	case err != nil:
		return nil, err
	}
	return r.Temporal.UpdateWorkflow(ctx, o)
}

// failedUpdate is the handle of an Update whose outcome is err.
type failedUpdate struct {
	o   client.UpdateWorkflowOptions
	err error
}

func (f failedUpdate) WorkflowID() string             { return f.o.WorkflowID }
func (f failedUpdate) RunID() string                  { return "" }
func (f failedUpdate) UpdateID() string               { return f.o.UpdateID }
func (f failedUpdate) Get(context.Context, any) error { return f.err }

// Each outcome of a Temporal call is classified by its type, never by its
// text: a server that rewords a message cannot turn a 404 or a 409 into a
// 500, or a deal still being set up into an error.
func TestTemporalOutcomesByType(t *testing.T) {
	rw := &reworded{}
	e := newEnv(t, envOpts{wrap: rw.wrap})
	ctx := context.Background()
	e.create(e.repA, "ended")
	if err := e.tc.TerminateWorkflow(ctx, workflows.WorkflowID("ended"), "", "the test ends it"); err != nil {
		t.Fatal(err)
	}
	notFound := serviceerror.NewNotFound("that one has gone fishing")
	// What server 1.29 answers an Update that arrives while the deal's final
	// workflow task runs (update/errors_failures.go): no "completed" in it.
	closing := serviceerror.NewNotFound("workflow update was aborted by closing workflow")
	failed := temporal.NewApplicationError("the handler is not there yet", "")

	cases := []struct {
		name             string
		method, path     string
		token            string
		queries, updates []error
		code             int
		typ              string // problem type; "" for a 200
		detail           string // a word the problem's detail must say
	}{
		{name: "query: no such deal", method: "GET", path: "/v1/leads/%s", token: e.repA,
			queries: []error{notFound}, code: 404, typ: "not-found"},
		{name: "query: handler not registered yet, then the deal answers", method: "GET", path: "/v1/leads/%s", token: e.repA,
			queries: []error{serviceerror.NewQueryFailed("no such handler, sorry")}, code: 200},
		{name: "query: no worker polling", method: "GET", path: "/v1/leads/%s", token: e.repA,
			queries: []error{serviceerror.NewFailedPrecondition("nobody home")}, code: 503, typ: "unavailable", detail: "worker"},
		{name: "query: no worker polling, bare gRPC status", method: "GET", path: "/v1/leads/%s", token: e.repA,
			queries: []error{status.Error(codes.FailedPrecondition, "nobody home")}, code: 503, typ: "unavailable", detail: "worker"},
		// A make test run's crash test got a 500 "Temporal: context canceled"
		// for a query as a worker died: Temporal's Canceled service error.
		{name: "query: canceled by Temporal", method: "GET", path: "/v1/leads/%s", token: e.repA,
			queries: []error{serviceerror.NewCanceled("context canceled")}, code: 504, typ: "timeout"},

		{name: "update: no such deal", method: "POST", path: "/v1/leads/nowhere/qualify", token: e.repA,
			updates: []error{notFound}, code: 404, typ: "not-found"},
		{name: "update: deal closed", method: "POST", path: "/v1/leads/ended/qualify", token: e.repA,
			updates: []error{notFound}, code: 409, typ: "deal-ended"},
		{name: "update: deal closing under it", method: "POST", path: "/v1/leads/ended/qualify", token: e.repA,
			updates: []error{closing}, code: 409, typ: "deal-ended"},
		{name: "update: closed deal of another rep", method: "POST", path: "/v1/leads/ended/qualify", token: e.repB,
			updates: []error{closing}, code: 404, typ: "not-found"},
		{name: "update: a run closed under it, the deal runs on", method: "POST", path: "/v1/leads/%s/qualify", token: e.repA,
			updates: []error{closing}, code: 200},
		{name: "update: no handler yet, then taken", method: "POST", path: "/v1/leads/%s/qualify", token: e.repA,
			updates: []error{failed}, queries: []error{serviceerror.NewQueryFailed("no such handler, sorry")}, code: 200},
		{name: "update: failed by a ready deal", method: "POST", path: "/v1/leads/%s/qualify", token: e.repA,
			updates: []error{failed}, code: 500, typ: "internal"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if strings.Contains(path, "%s") {
				id := "o" + string(rune('a'+i))
				e.create(e.repA, id)
				path = strings.Replace(path, "%s", id, 1)
			}
			rw.arm(c.queries, c.updates)
			r := e.do(c.method, path, c.token, nil)
			rw.arm(nil, nil)
			if c.typ == "" {
				if r.code != http.StatusOK {
					t.Fatalf("%s %s: %d %s, want 200", c.method, path, r.code, r.raw)
				}
				return
			}
			wantProblem(t, r, c.code, c.typ)
			if !strings.Contains(r.str("detail"), c.detail) {
				t.Errorf("detail %q does not say %q", r.str("detail"), c.detail)
			}
		})
	}
}

// The types the API classifies by are those the SDK and this Temporal
// server answer (the API's tests above only reword their messages).
func TestTemporalAnswerTypes(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	e.create(e.repA, "typed")
	e.create(e.repA, "closed")
	if err := e.tc.TerminateWorkflow(ctx, workflows.WorkflowID("closed"), "", "the test ends it"); err != nil {
		t.Fatal(err)
	}

	_, err := e.tc.QueryWorkflow(ctx, workflows.WorkflowID("typed"), "", "no_such_query")
	var qf *serviceerror.QueryFailed
	if !errors.As(err, &qf) {
		t.Errorf("unknown query type: %v (%T), want *serviceerror.QueryFailed", err, err)
	}

	update := func(id, name string) error {
		h, err := e.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.WorkflowID(id),
			UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		return h.Get(ctx, nil)
	}
	var appErr *temporal.ApplicationError
	if err := update("typed", "no_such_update"); !errors.As(err, &appErr) || appErr.Type() == workflows.RejectionErrorType {
		t.Errorf("unknown update: %v (%T), want an ApplicationError that is no Rejection", err, err)
	}
	var nf *serviceerror.NotFound
	if err := update("never-created", string(workflows.ActQualify)); !errors.As(err, &nf) {
		t.Errorf("update of no workflow: %v (%T), want *serviceerror.NotFound", err, err)
	}
	if err := update("closed", string(workflows.ActQualify)); !errors.As(err, &nf) {
		t.Errorf("update of a closed workflow: %v (%T), want *serviceerror.NotFound", err, err)
	}
	d, err := e.tc.DescribeWorkflowExecution(ctx, workflows.WorkflowID("closed"), "")
	if err != nil || d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("describe of a closed workflow: %v, %v", d.GetWorkflowExecutionInfo().GetStatus(), err)
	}
}
