package deals_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"dealflow/internal/deals"
	"dealflow/internal/dev/devstack"
	"dealflow/workflows"
)

// devServer starts a real Temporal dev server (in memory, no worker: the
// started deals just wait) and returns a client on it.
func devServer(t *testing.T) client.Client {
	t.Helper()
	srv := devstack.TestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := srv.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func lead(id string) workflows.NewLead {
	return workflows.NewLead{ID: id, Owner: "rep@example.com", Lead: workflows.LeadFields{Topic: "50 chairs", Company: "Contoso"}}
}

func TestStart(t *testing.T) {
	ctx := context.Background()
	c := devServer(t)

	created, err := deals.Start(ctx, c, lead("a-1"))
	if err != nil || !created {
		t.Fatalf("first start: created %v, err %v; want created", created, err)
	}
	d, err := c.DescribeWorkflowExecution(ctx, "lead/a-1", "")
	if err != nil {
		t.Fatal(err)
	}
	info := d.GetWorkflowExecutionInfo()
	var summary string
	if err := converter.GetDefaultDataConverter().FromPayload(d.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil {
		t.Fatal(err)
	}
	var stage string
	if err := converter.GetDefaultDataConverter().FromPayload(info.GetSearchAttributes().GetIndexedFields()["SalesStage"], &stage); err != nil {
		t.Fatal(err)
	}
	if info.GetTaskQueue() != workflows.TaskQueue || info.GetType().GetName() != workflows.WorkflowName ||
		summary != "Lead: 50 chairs — Contoso" || stage != "Qualify" {
		t.Errorf("started %s on %s, summary %q, stage %q", info.GetType().GetName(), info.GetTaskQueue(), summary, stage)
	}

	created, err = deals.Start(ctx, c, lead("a-1"))
	if err != nil || created {
		t.Fatalf("second start: created %v, err %v; want an existing deal and no error", created, err)
	}
	// Even once the deal has ended, its id is never a second deal.
	if err := c.TerminateWorkflow(ctx, "lead/a-1", "", "test"); err != nil {
		t.Fatal(err)
	}
	created, err = deals.Start(ctx, c, lead("a-1"))
	if err != nil || created {
		t.Fatalf("start after the end: created %v, err %v; want the existing deal and no error", created, err)
	}

	var inv *deals.InvalidLeadError
	bad := lead("a-2")
	bad.Lead.Email = "not-an-email"
	if _, err := deals.Start(ctx, c, bad); !errors.As(err, &inv) || !strings.Contains(err.Error(), "email") {
		t.Fatalf("invalid lead: err %v, want an *InvalidLeadError naming email", err)
	}
	var notFound *serviceerror.NotFound
	if _, err := c.DescribeWorkflowExecution(ctx, "lead/a-2", ""); !errors.As(err, &notFound) {
		t.Errorf("an invalid lead was started: %v", err)
	}

	// A server nobody listens on: the error names the workflow.
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := deals.Start(dctx, down, lead("a-3")); err == nil || !strings.Contains(err.Error(), "lead/a-3") {
		t.Fatalf("unreachable server: err %v, want one naming the workflow", err)
	}
}

// TestStartAndView starts deals with their created Update on a real dev
// server, against a worker running the deal's workflow with its write
// stubbed (the test has no PostgreSQL), and pins what the SDK and this
// server answer in each case: the view once the lead is written; an existing
// deal, running or ended, as Start reports it; a worker that does not know
// the Update; a wait that ends before any worker takes it.
func TestStartAndView(t *testing.T) {
	ctx := context.Background()
	c := devServer(t)
	var writes atomic.Int32
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivityWithOptions(func(context.Context, workflows.Change) (workflows.ChangeResult, error) {
		writes.Add(1)
		return workflows.ChangeResult{}, nil
	}, activity.RegisterOptions{Name: workflows.ActivityApplyChange})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}

	view, created, err := deals.StartAndView(ctx, c, lead("v-1"))
	if err != nil || !created || view == nil {
		t.Fatalf("first start: view %v, created %v, err %v; want the view of a created deal", view, created, err)
	}
	if view.ID != "v-1" || view.Stage != workflows.StageQualify || view.Version() == 0 || writes.Load() != 1 {
		t.Errorf("view of %q in %s at version %d after %d writes; want v-1 in Qualify, written once",
			view.ID, view.Stage, view.Version(), writes.Load())
	}
	d, err := c.DescribeWorkflowExecution(ctx, "lead/v-1", "")
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := converter.GetDefaultDataConverter().FromPayload(d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["SalesOwner"], &owner); err != nil || owner != "rep@example.com" {
		t.Errorf("started with owner %q (%v), want StartOptions' search attributes", owner, err)
	}

	// An existing deal fails the start (wrapped in the SDK's "failed
	// workflow start"): not created, no error, as Start says it.
	for _, when := range []string{"running", "ended"} {
		if when == "ended" {
			if err := c.TerminateWorkflow(ctx, "lead/v-1", "", "test"); err != nil {
				t.Fatal(err)
			}
		}
		view, created, err := deals.StartAndView(ctx, c, lead("v-1"))
		if err != nil || created || view != nil {
			t.Errorf("start of a deal %s: view %v, created %v, err %v; want an existing deal and no error", when, view, created, err)
		}
		if created, err := deals.Start(ctx, c, lead("v-1")); err != nil || created {
			t.Errorf("Start of a deal %s: created %v, err %v; the two must agree", when, created, err)
		}
	}

	var inv *deals.InvalidLeadError
	bad := lead("v-2")
	bad.Lead.Email = "not-an-email"
	if _, _, err := deals.StartAndView(ctx, c, bad); !errors.As(err, &inv) {
		t.Fatalf("invalid lead: err %v, want an *InvalidLeadError", err)
	}

	// A worker from before the created Update: the deal starts, the
	// worker's SDK refuses the Update as unknown.
	w.Stop()
	old := worker.New(c, workflows.TaskQueue, worker.Options{})
	old.RegisterWorkflowWithOptions(func(ctx workflow.Context, _ workflows.NewLead) error {
		return workflow.Await(ctx, func() bool { return false })
	}, workflow.RegisterOptions{Name: workflows.WorkflowName})
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	view, created, err = deals.StartAndView(ctx, c, lead("v-3"))
	var noView *deals.NoViewError
	var appErr *temporal.ApplicationError
	if !created || view != nil || !errors.As(err, &noView) || !errors.As(err, &appErr) {
		t.Fatalf("worker without the Update: view %v, created %v, err %v (%T); want created, a *NoViewError of an ApplicationError", view, created, err, err)
	}

	// No worker at all: the wait ends with the start recorded, and the
	// error says nothing of it; the workflow is there to look up.
	old.Stop()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	view, created, err = deals.StartAndView(wctx, c, lead("v-4"))
	var timedOut *client.WorkflowUpdateServiceTimeoutOrCanceledError
	if created || view != nil || !errors.As(err, &timedOut) || !strings.Contains(err.Error(), "lead/v-4") {
		t.Fatalf("no worker: view %v, created %v, err %v (%T); want a WorkflowUpdateServiceTimeoutOrCanceledError naming the workflow", view, created, err, err)
	}
	if _, err := c.DescribeWorkflowExecution(ctx, "lead/v-4", ""); err != nil {
		t.Errorf("the start the Update waited on: %v", err)
	}
}

// TestDerivedID pins the derivation (the value is sha256 of
// "lead\x00usr_1\x00key-1", as the API derived it before this package): ids
// already handed out (API Idempotency-Keys, imported rows) must keep mapping
// to the same deals.
func TestDerivedID(t *testing.T) {
	if got, want := deals.DerivedID("usr_1", "key-1"), "ld-4206a3c4a268620cd7e7"; got != want {
		t.Errorf("DerivedID(usr_1, key-1) = %s, want %s", got, want)
	}
	if deals.DerivedID("a", "bc") == deals.DerivedID("ab", "c") {
		t.Error("parts are not separated")
	}
	if !workflows.ValidID(deals.DerivedID("import", strings.Repeat("x", 5000))) {
		t.Error("a derived id is not a valid lead id")
	}
}
