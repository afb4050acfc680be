package deals_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

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
