package httpapi_test

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"

	"dealflow/internal/httpapi"
)

// A creation is one call to Temporal besides the health check: the
// Update-with-Start, which starts the deal and answers its view once the lead
// is written; no look-up before it, no query after it. The 201 is the deal as
// a GET answers it, with the same ETag. A repeat learns from that one call
// that the deal exists, and reads it with one query.
func TestCreateIsOneTemporalCall(t *testing.T) {
	calls := &callCounter{}
	e := newEnv(t, envOpts{wrap: calls.wrap})
	calls.take()
	r := e.create(e.repA, "one")
	got := calls.take()
	delete(got, "CheckHealth")
	if want := map[string]int{"UpdateWithStartWorkflow": 1}; !maps.Equal(got, want) {
		t.Errorf("a creation called Temporal's %v, want %v", got, want)
	}
	g := e.act(e.repA, "GET", "/v1/leads/one", nil)
	if r.header.Get("ETag") == "" || r.header.Get("ETag") != g.header.Get("ETag") || r.raw != g.raw {
		t.Errorf("the 201 (ETag %q) is not the deal as GET answers it (ETag %q):\n%s\n%s",
			r.header.Get("ETag"), g.header.Get("ETag"), r.raw, g.raw)
	}

	calls.take()
	again := e.do("POST", "/v1/leads", e.repA, lead("one"))
	if again.code != http.StatusOK || again.str("id") != "one" || again.header.Get("ETag") != g.header.Get("ETag") {
		t.Fatalf("repeat: %d %v %s", again.code, again.header, again.raw)
	}
	got = calls.take()
	delete(got, "CheckHealth")
	if want := map[string]int{"UpdateWithStartWorkflow": 1, "QueryWorkflow": 1}; !maps.Equal(got, want) {
		t.Errorf("a repeated creation called Temporal's %v, want %v", got, want)
	}
}

// createdUnknown decorates the real client so that the created Update goes
// out under a name the workflow has no handler for, as to a worker from
// before the Update: the worker's SDK refuses it as unknown, after the start.
type createdUnknown struct{ httpapi.Temporal }

func (c createdUnknown) UpdateWithStartWorkflow(ctx context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	o.UpdateOptions.UpdateName = "created-unknown-to-this-worker"
	return c.Temporal.UpdateWithStartWorkflow(ctx, o)
}

// A worker that does not know the created Update refuses it; the deal was
// started all the same, and the creation asks it as before the Update (its
// state query, then the read model): 201 with the deal, nothing lost.
func TestCreateWithoutCreatedUpdate(t *testing.T) {
	calls := &callCounter{}
	e := newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal { return calls.wrap(createdUnknown{c}) }})
	calls.take()
	r := e.create(e.repA, "old") // 201, its lead row written
	got := calls.take()
	if got["UpdateWithStartWorkflow"] != 1 || got["QueryWorkflow"] < 1 || got["DescribeWorkflowExecution"] != 0 || got["ExecuteWorkflow"] != 0 {
		t.Errorf("called Temporal's %v; want one Update-with-Start, then queries", got)
	}
	g := e.act(e.repA, "GET", "/v1/leads/old", nil)
	if r.str("id") != "old" || r.str("stage") != "Qualify" || r.header.Get("ETag") != g.header.Get("ETag") {
		t.Errorf("201 %v %s; GET's ETag %q", r.header, r.raw, g.header.Get("ETag"))
	}
	if n := e.started(1); n != 1 {
		t.Errorf("%d workflows started, want 1", n)
	}
}

// answerLost decorates the real client: once armed, the next
// Update-with-Start's answer is lost (a timeout arrives in its place), after
// the call did its work on the server (sent), or before it reached it.
type answerLost struct {
	httpapi.Temporal
	mu          sync.Mutex
	armed, sent bool
}

func (a *answerLost) arm(sent bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed, a.sent = true, sent
}

func (a *answerLost) UpdateWithStartWorkflow(ctx context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	a.mu.Lock()
	armed, sent := a.armed, a.sent
	a.armed = false
	a.mu.Unlock()
	if !armed {
		return a.Temporal.UpdateWithStartWorkflow(ctx, o)
	}
	if sent {
		if h, err := a.Temporal.UpdateWithStartWorkflow(ctx, o); err == nil {
			_ = h.Get(ctx, nil) // the Update completes on the server
		}
	}
	return nil, client.NewWorkflowUpdateServiceTimeoutOrCanceledError(context.DeadlineExceeded)
}

// An Update-with-Start whose answer is lost does not say whether it started
// the deal; the workflow's existence and owner do. Started for this user: the
// deal is asked as without the Update (201). Another rep's deal with that
// id: 409, showing nothing of it. Nothing started: the timeout's problem, and
// still no deal.
func TestCreateAnswerLost(t *testing.T) {
	lost := &answerLost{}
	e := newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal { lost.Temporal = c; return lost }})

	lost.arm(true)
	r := e.create(e.repA, "lost") // 201, its lead row written
	if r.str("id") != "lost" || r.header.Get("ETag") == "" || r.header.Get("Location") != "/v1/leads/lost" {
		t.Errorf("create whose answer was lost: %v %s", r.header, r.raw)
	}

	lost.arm(true)
	p := e.do("POST", "/v1/leads", e.repB, lead("lost"))
	wantProblem(t, p, http.StatusConflict, "id-taken")
	if strings.Contains(p.raw, "Lovelace") {
		t.Fatalf("the conflict shows the deal: %s", p.raw)
	}

	lost.arm(false)
	wantProblem(t, e.do("POST", "/v1/leads", e.repA, lead("never")), http.StatusGatewayTimeout, "timeout")
	if n := e.started(1); n != 1 {
		t.Errorf("%d workflows started, want 1", n)
	}
}
