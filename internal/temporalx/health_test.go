package temporalx

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"dealflow/internal/dev/devstack"
)

func noopWorkflow(workflow.Context) error { return nil }

// healthz returns Health's HTTP status and body.
func healthz(h *Health) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// TestHealthFollowsPolling runs a worker on a real dev server: /healthz is
// 503 before the worker starts, 200 once the server lists it as a poller,
// 503 when the server goes away and when the worker stops.
func TestHealthFollowsPolling(t *testing.T) {
	srv := devstack.TestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Dial(ctx, Options{Address: srv.Address(), Namespace: srv.Namespace(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const tq = "health-test"
	h := NewHealth(tq, Identity())
	h.CacheFor = 0
	if code, body := healthz(h); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started") {
		t.Errorf("before start: %d %q", code, body)
	}

	w := NewWorker(c, tq, func(o *worker.Options) { o.WorkerStopTimeout = time.Second })
	w.RegisterWorkflow(noopWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	h.Started(c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := healthz(h)
		if code == http.StatusOK && body == "polling" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker polling, /healthz still %d %q", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Another process's identity is not among the pollers.
	other := NewHealth(tq, "1@elsewhere@")
	other.Started(c)
	if err := other.Check(ctx); err == nil || !strings.Contains(err.Error(), "not among the pollers of task queue "+tq) {
		t.Errorf("another identity: %v", err)
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, body := healthz(h); code != http.StatusServiceUnavailable || !strings.Contains(body, "temporal does not answer") {
		t.Errorf("Temporal gone: %d %q", code, body)
	}
	t.Logf("with Temporal gone, /healthz answered 503 in %s", time.Since(start).Round(time.Millisecond))

	h.Stopping()
	if code, body := healthz(h); code != http.StatusServiceUnavailable || body != "worker is stopping" {
		t.Errorf("stopping: %d %q", code, body)
	}
}
