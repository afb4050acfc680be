package deals_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"dealflow/internal/deals"
	"dealflow/workflows"
)

// fakeTemporal records the starts and answers like the server: the first
// start of an ID succeeds, a later one is "already started".
type fakeTemporal struct {
	started map[string]client.StartWorkflowOptions
	err     error
}

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if f.err != nil {
		return nil, f.err
	}
	if _, ok := f.started[o.ID]; ok {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run-1")
	}
	f.started[o.ID] = o
	return nil, nil
}

func lead(id string) workflows.NewLead {
	return workflows.NewLead{ID: id, Owner: "rep@example.com", Lead: workflows.LeadFields{Topic: "50 chairs", Company: "Contoso"}}
}

func TestStart(t *testing.T) {
	ctx := context.Background()
	f := &fakeTemporal{started: map[string]client.StartWorkflowOptions{}}

	created, err := deals.Start(ctx, f, lead("a-1"))
	if err != nil || !created {
		t.Fatalf("first start: created %v, err %v; want created", created, err)
	}
	o := f.started["lead/a-1"]
	if o.TaskQueue != workflows.TaskQueue || o.StaticSummary != "Lead: 50 chairs — Contoso" ||
		o.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE ||
		!o.WorkflowExecutionErrorWhenAlreadyStarted || o.TypedSearchAttributes.Size() == 0 {
		t.Errorf("start options: %+v", o)
	}

	created, err = deals.Start(ctx, f, lead("a-1"))
	if err != nil || created {
		t.Fatalf("second start: created %v, err %v; want an existing deal and no error", created, err)
	}

	var inv *deals.InvalidLeadError
	bad := lead("a-2")
	bad.Lead.Email = "not-an-email"
	if _, err := deals.Start(ctx, f, bad); !errors.As(err, &inv) || !strings.Contains(err.Error(), "email") {
		t.Fatalf("invalid lead: err %v, want an *InvalidLeadError naming email", err)
	}
	if _, ok := f.started["lead/a-2"]; ok {
		t.Error("an invalid lead was started")
	}

	f.err = serviceerror.NewUnavailable("connection refused")
	if _, err := deals.Start(ctx, f, lead("a-3")); err == nil || !strings.Contains(err.Error(), "lead/a-3") {
		t.Fatalf("unreachable server: err %v, want one naming the workflow", err)
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
