package chaos

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A deal read while no worker polls — the worker is down and Temporal has
// just restarted, so it has seen no poller yet — is a 503 with Retry-After
// (Temporal answers the query "no poller seen for task queue recently"),
// not a 500; once the worker polls again the deal answers.
func TestReadWithoutWorkerIs503(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tr := newTraffic()
	d := &deal{id: "noworker-" + time.Now().Format("150405.000"), sc: scenarios[0], rep: newRep(stack.APIURL, stack.RepToken, tr)}
	if err := d.create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.StopWorker(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if stack.Worker() == nil {
			if err := stack.StartWorker(context.Background()); err != nil {
				t.Errorf("start the worker again: %v", err)
			}
		}
	}()
	if err := stack.Temporal.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := stack.Temporal.Start(ctx); err != nil {
		t.Fatal(err)
	}

	rep := d.rep
	rep.hc.Timeout = time.Minute
	a, retry, cause, err := rep.attempt(ctx, http.MethodGet, d.path(""), nil, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if !retry || cause != "503" || a.headerRetryAfter == "" {
		t.Fatalf("GET %s without a worker: %d %s (Retry-After %q), want 503 with Retry-After", d.path(""), a.Status, a.Raw, a.headerRetryAfter)
	}

	if err := stack.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := rep.call(ctx, http.MethodGet, d.path(""), nil, "")
	if err != nil || got.Status != http.StatusOK {
		t.Fatalf("GET %s with the worker back: %d %s %v", d.path(""), got.Status, got.Raw, err)
	}
}
