package temporalx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Health is a worker's /healthz. The SDK's worker has no public "polling"
// flag, so Health asks the server: it is healthy only between Started and
// Stopping, while the server answers DescribeTaskQueue (so it is up, and
// takes our credentials) and lists this process's identity among the task
// queue's workflow pollers with a poll in the last MaxPollAge.
type Health struct {
	taskQueue, identity string
	// CacheFor is how long an answer from the server is reused, so that
	// frequent probes cost the server one call per period.
	CacheFor time.Duration
	// MaxPollAge is how old this worker's last poll may be. An idle poller
	// waits up to a minute in one long poll before it polls again, and the
	// server records the time a poll starts.
	MaxPollAge time.Duration

	mu       sync.Mutex
	c        client.Client
	stopping bool
	checked  time.Time
	last     error
}

// NewHealth reports on the worker polling taskQueue under identity
// (Identity(), which Dial sets).
func NewHealth(taskQueue, identity string) *Health {
	return &Health{taskQueue: taskQueue, identity: identity, CacheFor: 3 * time.Second, MaxPollAge: 2 * time.Minute}
}

// Started says the worker has started polling through c.
func (h *Health) Started(c client.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.c, h.checked = c, time.Time{}
}

// Stopping says the worker has been told to stop: from now on it is
// unhealthy, whatever the server says.
func (h *Health) Stopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

// Check returns nil while the worker polls, else why not.
func (h *Health) Check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopping:
		return errors.New("worker is stopping")
	case h.c == nil:
		return errors.New("worker has not started polling yet")
	case !h.checked.IsZero() && time.Since(h.checked) < h.CacheFor:
		return h.last
	}
	h.last, h.checked = h.ask(ctx), time.Now()
	return h.last
}

func (h *Health) ask(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := h.c.DescribeTaskQueue(ctx, h.taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return fmt.Errorf("temporal does not answer: %w", err)
	}
	for _, p := range resp.GetPollers() {
		if p.GetIdentity() != h.identity {
			continue
		}
		if age := time.Since(p.GetLastAccessTime().AsTime()); age > h.MaxPollAge {
			return fmt.Errorf("last polled task queue %s %s ago", h.taskQueue, age.Round(time.Second))
		}
		return nil
	}
	return fmt.Errorf("not among the pollers of task queue %s", h.taskQueue)
}

// ServeHTTP answers 200 "polling" or 503 with the reason.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "polling")
}
