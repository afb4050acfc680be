package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"dealflow/workflows"
)

var stack *Stack

func TestMain(m *testing.M) { os.Exit(Main(m, Options{}, &stack)) }

func TestLeadRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := newLeadID("e2e")
	if err := leadFlow(ctx, stack, id); err != nil {
		t.Fatal(err)
	}

	// The manager finds the deal the way the README says: with the built CLI
	// and the SalesStage search attribute. Visibility lags a little.
	want := workflows.WorkflowID(id)
	var out []byte
	for {
		var err error
		out, err = stack.CLI(ctx, "workflow", "list", "--query", `SalesStage="Qualify"`)
		if err == nil && strings.Contains(string(out), want) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("temporal workflow list --query 'SalesStage=\"Qualify\"' does not list %s (err %v):\n%s", want, err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestWorkerStoppedFlowFails proves the round trip above really goes through
// the worker: with the worker stopped the lead cannot be read back, and once
// a worker runs again the same lead is there.
func TestWorkerStoppedFlowFails(t *testing.T) {
	if err := stack.StopWorker(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := stack.StartWorker(context.Background()); err != nil {
				t.Errorf("restart the worker: %v", err)
			}
		}
	})

	id := newLeadID("e2e-noworker")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err := leadFlow(ctx, stack, id)
	cancel()
	if err == nil {
		t.Fatal("the lead was created and read back with no worker running: the test does not reach the worker")
	}
	t.Logf("without a worker, as expected: %v", err)

	if err := stack.StartWorker(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := leadFlow(ctx, stack, id); err != nil {
		t.Fatalf("after the worker came back: %v", err)
	}
}
