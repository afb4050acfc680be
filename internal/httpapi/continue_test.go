package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"dealflow/activities"
	"dealflow/internal/httpapi"
	"dealflow/internal/temporalx"
	"dealflow/workflows"
)

// The ends of a deal's runs, on the real stack: a run that continues as new
// refuses actions as "moving" for a moment and the API sends them again to
// the new run; a deal that has ended answers 409 deal-ended. The SDK's test
// environment only simulates the first (SetContinueAsNewSuggested) and never
// reaches the API.

// suggestAfter is the history length (in events) from which the dev server
// of TestContinueAsNewMidFlow suggests continuing as new, instead of 4Ki:
// each action adds about eight events, so the deal moves to a new run every
// three to five actions.
const suggestAfter = 30

// patience bounds each wait of these tests for the stack to move on.
const patience = 30 * time.Second

// A deal that continues as new several times between lead and paid invoice:
// every action answers 200; an action that reaches a run on its way out is
// refused as moving and the API sends it again, to the new run; an action
// repeated with its Idempotency-Key after the run changed answers what it
// answered the first time and writes nothing again.
func TestContinueAsNewMidFlow(t *testing.T) {
	srv := ownTemporal(t, "--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", suggestAfter))
	ul := newUpdateLog()
	e := newEnv(t, envOpts{temporal: srv, noWorker: true, wrap: ul.wrap})
	gate := e.startGatedWorker()
	const id = "can"
	e.create(e.repA, id)
	firstRun := e.currentRun(id)
	c := newChain(t, e, gate, ul, srv.Namespace(), id)

	base := "/v1/leads/" + id
	c.toInvoice(base)
	payment := map[string]any{"amount": "100"}
	first := c.act(http.StatusOK, "POST", base+"/invoice/payments", payment, "Idempotency-Key: pay-100")
	// Small payments, each an action of its own, until the run that took
	// the first payment has been followed by another and the API has been
	// seen sending a moving action again. Each run lasts a few actions.
	var last *request
	small := 0
	for ; !c.moved(first) || len(ul.retried(workflows.RejectMoving)) == 0; small++ {
		if small == 40 {
			t.Fatalf("after %d more actions: first payment answered by run %v, current run %s, moving retries %v",
				small, ul.okRuns(first.uid), e.currentRun(id), ul.retried(workflows.RejectMoving))
		}
		last = c.act(http.StatusOK, "POST", base+"/invoice/payments", map[string]any{"amount": "1"})
	}
	c.drain()

	// The same key again, now that another run holds the deal. The gate
	// lets every write through from here: a second payment would show in
	// the counts below.
	gate.on.Store(false)
	again := e.do("POST", base+"/invoice/payments", e.repA, payment, "Idempotency-Key: pay-100")
	if again.code != http.StatusOK || again.raw != first.r.raw {
		t.Fatalf("the repeated payment answered %d %s, want the first answer %s", again.code, again.raw, first.r.raw)
	}
	if runs := ul.okRuns(first.uid); len(runs) != 2 || runs[0] == runs[1] {
		t.Fatalf("the payment and its repeat were answered by runs %v, want two different runs", runs)
	}
	if n := e.count(`SELECT count(*) FROM invoice_payments p JOIN invoices i ON i.id = p.invoice_id
		WHERE i.lead_id = $1 AND p.amount = 100`, id); n != 1 {
		t.Fatalf("%d payment rows of 100, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM invoice_payments p JOIN invoices i ON i.id = p.invoice_id WHERE i.lead_id = $1`, id); n != 1+small {
		t.Fatalf("%d payment rows, want %d", n, 1+small)
	}
	if n := e.count(`SELECT count(*) FROM deal_events WHERE lead_id = $1 AND action = 'record_payment'`, id); n != 1+small {
		t.Fatalf("%d payment events in the timeline, want %d", n, 1+small)
	}

	paid := e.act(e.repA, "POST", base+"/invoice/payments", map[string]any{"amount": last.r.str("balance")})
	if paid.str("stage") != string(workflows.StagePaid) {
		t.Fatalf("the payment of the balance: %s", paid.raw)
	}
	if got := e.closeEvent(id, firstRun); got != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
		t.Fatalf("the deal's first run %s ended with %s, want continued as new", firstRun, got)
	}
	t.Logf("runs that answered an action: %d; actions refused as moving and sent again: %v",
		len(ul.allRuns()), ul.retried(workflows.RejectMoving))
}

// An action on a deal that has ended answers 409 deal-ended and writes
// nothing: both while its last run refuses actions before it ends, and once
// it has completed.
func TestActionOnEndedDeal(t *testing.T) {
	srv := ownTemporal(t)
	ul := newUpdateLog()
	e := newEnv(t, envOpts{temporal: srv, noWorker: true, wrap: ul.wrap})
	gate := e.startGatedWorker()
	const id = "ends"
	body := lead(id)
	// The thank-you for the win goes out at once: the paid deal then has
	// nothing left to wait for, and ends.
	body["policy"] = map[string]any{"thankYouAfter": "0s"}
	if r := e.do("POST", "/v1/leads", e.repA, body); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	c := newChain(t, e, gate, ul, srv.Namespace(), id)

	base := "/v1/leads/" + id
	c.toInvoice(base)
	pay := c.act(http.StatusOK, "POST", base+"/invoice/payments", map[string]any{"amount": "1000"})
	// Sent while the full payment is being written: the run sees it after
	// it has decided to end.
	late := c.act(http.StatusConflict, "POST", base+"/invoice/payments", map[string]any{"amount": "1"})
	if pay.r.str("stage") != string(workflows.StagePaid) {
		t.Fatalf("the full payment: %s", pay.r.raw)
	}
	wantProblem(t, *late.r, http.StatusConflict, "deal-ended")
	if got := ul.outcomes(late.uid); !slices.Equal(got, []string{workflows.RejectEnded}) {
		t.Fatalf("the late payment's Update got %v, want the run's ended refusal only", got)
	}

	e.waitCompleted(id)
	before := e.dealRows(id)
	after := e.do("POST", base+"/invoice/payments", e.repA, map[string]any{"amount": "1"})
	wantProblem(t, after, http.StatusConflict, "deal-ended")
	select {
	case uid := <-ul.sent: // Temporal's own answer: no run left to refuse it
		if got := ul.outcomes(uid); len(got) != 1 || got[0] == workflows.RejectEnded {
			t.Fatalf("the Update on the completed deal got %v, want one not-found", got)
		}
	default:
		t.Fatal("the action on the completed deal sent no Update")
	}
	if got := e.dealRows(id); got != before {
		t.Fatalf("rows after the action on the completed deal %+v, before %+v", got, before)
	}
	if before.payments != 1 || before.refused != 0 {
		t.Fatalf("rows %+v, want the one full payment and no refusal recorded", before)
	}
}

// apiStep is one request of a walk through the API.
type apiStep struct {
	method, path string
	body         any
}

// toInvoiceSteps take a new lead to an unpaid invoice of 1000.
func toInvoiceSteps(base string) []apiStep {
	return []apiStep{
		{"POST", base + "/qualify", nil},
		{"PATCH", base, map[string]any{"customerNeed": "need", "proposedSolution": "solution"}},
		{"POST", base + "/stakeholders", map[string]any{"name": "Ada", "role": "Champion"}},
		{"POST", base + "/lines", map[string]any{"product": "Widget", "quantity": "4", "unitPrice": "250"}},
		{"POST", base + "/quotes", nil},
		{"POST", base + "/quotes/1/activate", nil},
		{"POST", base + "/close", map[string]any{"outcome": "won"}},
		{"POST", base + "/order/fulfill", nil},
	}
}

// toInvoice takes a new lead to an unpaid invoice of 1000.
func (c *chain) toInvoice(base string) {
	c.t.Helper()
	for _, s := range toInvoiceSteps(base) {
		if s.method == "PATCH" {
			c.drain() // PATCH reads the deal first, which waits for a held write
		}
		c.act(http.StatusOK, s.method, s.path, s.body)
	}
}

// writeGate holds the write of each accepted rep action (ApplyChange, a
// local activity that runs inside the workflow task taking the action) until
// the test releases it. While one is held its workflow task is still
// running, so an Update that reaches Temporal meanwhile is handed to the
// workflow in the next task: the test, not timing, orders what the workflow
// sees. holds says which writes are held: startGatedWorker's gate holds
// those of accepted rep actions, never follow-ups, refusals or the lead's
// creation.
type writeGate struct {
	apply   func(context.Context, workflows.Change) (workflows.ChangeResult, error)
	holds   func(workflows.Change) bool
	on      atomic.Bool
	started chan workflows.Change // a held write, announced
	release chan struct{}
	stop    chan struct{} // closed when the test ends: nothing stays held
}

func (g *writeGate) ApplyChange(ctx context.Context, ch workflows.Change) (workflows.ChangeResult, error) {
	if g.on.Load() && g.holds(ch) {
		select {
		case g.started <- ch:
		case <-g.stop:
		}
		select {
		case <-g.release:
		case <-g.stop:
		case <-ctx.Done():
			return workflows.ChangeResult{}, ctx.Err()
		}
	}
	return g.apply(ctx, ch)
}

// startGatedWorker starts the env's worker as startWorker does, with the
// real ApplyChange behind a writeGate (off until the test turns it on) that
// holds the writes of accepted rep actions.
func (e *env) startGatedWorker() *writeGate {
	e.t.Helper()
	return e.startWorkerGated(acceptedAction)
}

// acceptedAction is true of the write of an accepted rep action.
func acceptedAction(ch workflows.Change) bool {
	return ch.Event.Accepted && slices.Contains(workflows.Actions, workflows.Action(ch.Event.Action))
}

// startWorkerGated starts the env's worker with the real ApplyChange behind
// a writeGate, off until the test turns it on, that holds the writes holds
// is true of.
func (e *env) startWorkerGated(holds func(workflows.Change) bool) *writeGate {
	e.t.Helper()
	acts := activities.New(e.pool, activities.RecordingMailer{}, nil)
	g := &writeGate{apply: acts.ApplyChange, holds: holds, started: make(chan workflows.Change),
		release: make(chan struct{}), stop: make(chan struct{})}
	w := temporalx.NewWorker(e.tc, workflows.TaskQueue)
	w.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivityWithOptions(g.ApplyChange, activity.RegisterOptions{Name: workflows.ActivityApplyChange})
	if err := w.Start(); err != nil {
		e.t.Fatalf("start worker: %v", err)
	}
	e.worker = w
	// Runs before newEnv's stopWorker (cleanups run last first): the
	// worker's stop never waits on a held write.
	e.t.Cleanup(func() { close(g.stop) })
	return g
}

// updateLog decorates the API's Temporal client to record what Temporal
// answered to each attempt of each Update the API sent, so that the API's
// own retries can be seen without changing them. Every call goes to the real
// server and every answer reaches the API unchanged.
type updateLog struct {
	httpapi.Temporal
	sent chan string // each Update ID, the first time the API sends it

	mu       sync.Mutex
	seen     map[string]bool
	attempts map[string][]attempt
}

// attempt is Temporal's answer to one UpdateWorkflow of the API: "ok", the
// workflow's rejection code, or the error; and the run that answered.
type attempt struct{ outcome, runID string }

func newUpdateLog() *updateLog {
	return &updateLog{sent: make(chan string, 256), seen: map[string]bool{}, attempts: map[string][]attempt{}}
}

func (l *updateLog) wrap(c httpapi.Temporal) httpapi.Temporal {
	l.Temporal = c
	return l
}

func (l *updateLog) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	l.mu.Lock()
	first := !l.seen[o.UpdateID]
	l.seen[o.UpdateID] = true
	l.mu.Unlock()
	if first {
		l.sent <- o.UpdateID
	}
	h, err := l.Temporal.UpdateWorkflow(ctx, o)
	if err != nil {
		l.record(o.UpdateID, "", err)
		return nil, err
	}
	return loggedHandle{h, l}, nil
}

// loggedHandle records the outcome its Get returns.
type loggedHandle struct {
	client.WorkflowUpdateHandle
	l *updateLog
}

func (h loggedHandle) Get(ctx context.Context, v any) error {
	err := h.WorkflowUpdateHandle.Get(ctx, v)
	h.l.record(h.UpdateID(), h.RunID(), err)
	return err
}

func (l *updateLog) record(uid, runID string, err error) {
	out := "ok"
	if err != nil {
		out = err.Error()
		var appErr *temporal.ApplicationError
		var rej *workflows.Rejection
		if errors.As(err, &appErr) && appErr.Type() == workflows.RejectionErrorType && appErr.Details(&rej) == nil && rej != nil {
			out = rej.Code
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts[uid] = append(l.attempts[uid], attempt{out, runID})
}

// outcomes lists the outcome of each attempt of an Update, in order.
func (l *updateLog) outcomes(uid string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, a := range l.attempts[uid] {
		out = append(out, a.outcome)
	}
	return out
}

// okRuns lists the runs that accepted an Update, once per attempt.
func (l *updateLog) okRuns(uid string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var runs []string
	for _, a := range l.attempts[uid] {
		if a.outcome == "ok" {
			runs = append(runs, a.runID)
		}
	}
	return runs
}

// retried lists the Updates refused with code and then accepted: the API
// sent them again and they were taken.
func (l *updateLog) retried(code string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for uid, as := range l.attempts {
		refused := slices.IndexFunc(as, func(a attempt) bool { return a.outcome == code })
		if refused >= 0 && slices.ContainsFunc(as[refused:], func(a attempt) bool { return a.outcome == "ok" }) {
			ids = append(ids, uid)
		}
	}
	slices.Sort(ids)
	return ids
}

// allRuns lists the runs that accepted any Update.
func (l *updateLog) allRuns() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var runs []string
	for _, as := range l.attempts {
		for _, a := range as {
			if a.outcome == "ok" && !slices.Contains(runs, a.runID) {
				runs = append(runs, a.runID)
			}
		}
	}
	return runs
}

// chain drives one deal's actions through the API one workflow task at a
// time: each action reaches Temporal while the write of the action before it
// is held (writeGate), and is handed to the workflow in the task after that
// one. A run that decides in the task of one action to end therefore always
// sees the next action before it ends, whatever the machine's speed.
type chain struct {
	t    *testing.T
	e    *env
	gate *writeGate
	log  *updateLog
	ns   string
	lead string
	wid  string
	held *request // the request whose write is held
}

// newChain starts a chain on a deal already created, and turns the gate on.
func newChain(t *testing.T, e *env, g *writeGate, l *updateLog, ns, leadID string) *chain {
	g.on.Store(true)
	return &chain{t: t, e: e, gate: g, log: l, ns: ns, lead: leadID, wid: workflows.WorkflowID(leadID)}
}

// request is one API request of a chain, answered in the background.
type request struct {
	name string // method and path, for messages
	want int    // the status it must answer
	uid  string // the Update ID the API sent for it
	done chan resp
	r    *resp // its answer, once received
}

// act sends a request as the rep and returns once it has been taken: its
// write is held, or it has been answered (a request that writes nothing).
// The request held before it is released, and must answer, once Temporal
// holds this one's Update.
func (c *chain) act(want int, method, path string, body any, headers ...string) *request {
	c.t.Helper()
	q := c.send(want, method, path, body, headers...)
	q.uid = c.sentUpdate(q)
	c.admitted(q)
	c.drain()
	if q.r == nil {
		select {
		case ch := <-c.gate.started:
			if !strings.HasPrefix(q.uid, ch.Event.Action+"-") {
				c.t.Fatalf("%s: the write of %s was held, not of Update %s", q.name, ch.Event.Action, q.uid)
			}
			c.held = q
			return q
		case r := <-q.done:
			q.r = &r
		case <-time.After(patience):
			c.t.Fatalf("%s: neither written nor answered within %s", q.name, patience)
		}
	}
	c.check(q)
	return q
}

// drain releases the held write, if any, and checks its request's answer.
func (c *chain) drain() {
	c.t.Helper()
	q := c.held
	if q == nil {
		return
	}
	c.held = nil
	select {
	case c.gate.release <- struct{}{}:
	case <-time.After(patience):
		c.t.Fatalf("%s: its held write did not take the release", q.name)
	}
	select {
	case r := <-q.done:
		q.r = &r
	case <-time.After(patience):
		c.t.Fatalf("%s: no answer within %s of its write", q.name, patience)
	}
	c.check(q)
}

func (c *chain) check(q *request) {
	c.t.Helper()
	if q.r.code != q.want {
		c.t.Fatalf("%s: %d, want %d: %s (Update %s: %v)", q.name, q.r.code, q.want, q.r.raw, q.uid, c.log.outcomes(q.uid))
	}
}

// send starts a request; its answer arrives on done.
func (c *chain) send(want int, method, path string, body any, headers ...string) *request {
	c.t.Helper()
	var b any // e.do sends a string as is: nothing here can fail the test off its goroutine
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		b = string(j)
	}
	q := &request{name: method + " " + path, want: want, done: make(chan resp, 1)}
	go func() { q.done <- c.e.do(method, path, c.e.repA, b, headers...) }()
	return q
}

// sentUpdate returns the Update ID the API sent for q. Requests go one at a
// time, and a held request sends nothing more, so the next new ID is q's.
func (c *chain) sentUpdate(q *request) string {
	c.t.Helper()
	select {
	case uid := <-c.log.sent:
		return uid
	case r := <-q.done:
		c.t.Fatalf("%s answered %d before it sent an Update: %s", q.name, r.code, r.raw)
	case <-time.After(patience):
		c.t.Fatalf("%s sent no Update within %s", q.name, patience)
	}
	return ""
}

// admitted waits until Temporal holds q's Update, or q has been answered. A
// poll without a wait policy answers at once: NotFound until the Update is
// admitted.
func (c *chain) admitted(q *request) {
	c.t.Helper()
	req := &workflowservice.PollWorkflowExecutionUpdateRequest{
		Namespace: c.ns,
		UpdateRef: &updatepb.UpdateRef{WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: c.wid}, UpdateId: q.uid},
	}
	deadline := time.Now().Add(patience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.e.tc.WorkflowService().PollWorkflowExecutionUpdate(ctx, req)
		cancel()
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			return
		case !errors.As(err, &nf):
			c.t.Fatalf("%s: poll Update %s: %v", q.name, q.uid, err)
		case time.Now().After(deadline):
			c.t.Fatalf("%s: Temporal has not admitted Update %s within %s", q.name, q.uid, patience)
		}
		select {
		case r := <-q.done:
			q.r = &r // answered already: there is nothing left to order
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// moved reports whether the request has been answered by a run that is no
// longer the deal's current one.
func (c *chain) moved(q *request) bool {
	if q.r == nil {
		return false
	}
	runs := c.log.okRuns(q.uid)
	return len(runs) > 0 && runs[len(runs)-1] != c.e.currentRun(c.lead)
}

// currentRun returns the run ID of the deal's current run.
func (e *env) currentRun(leadID string) string {
	e.t.Helper()
	d, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(leadID), "")
	if err != nil {
		e.t.Fatalf("describe lead %s: %v", leadID, err)
	}
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// closeEvent returns the type of the event that ended a run.
func (e *env) closeEvent(leadID, runID string) enumspb.EventType {
	e.t.Helper()
	it := e.tc.GetWorkflowHistory(context.Background(), workflows.WorkflowID(leadID), runID, false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	var last enumspb.EventType
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.t.Fatalf("history of run %s: %v", runID, err)
		}
		last = ev.GetEventType()
	}
	return last
}

// waitCompleted waits until the deal's workflow has completed.
func (e *env) waitCompleted(leadID string) {
	e.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		d, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(leadID), "")
		if err != nil {
			e.t.Fatalf("describe lead %s: %v", leadID, err)
		}
		st := d.GetWorkflowExecutionInfo().GetStatus()
		switch {
		case st == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			return
		case st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			e.t.Fatalf("lead %s ended %s, want completed", leadID, st)
		case time.Now().After(deadline):
			e.t.Fatalf("lead %s still running after %s", leadID, patience)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dealRows counts what actions on a paid deal could write.
type dealRows struct{ payments, events, refused int }

func (e *env) dealRows(leadID string) dealRows {
	e.t.Helper()
	return dealRows{
		payments: e.count(`SELECT count(*) FROM invoice_payments p JOIN invoices i ON i.id = p.invoice_id WHERE i.lead_id = $1`, leadID),
		events:   e.count(`SELECT count(*) FROM deal_events WHERE lead_id = $1`, leadID),
		refused:  e.count(`SELECT count(*) FROM deal_events WHERE lead_id = $1 AND NOT accepted`, leadID),
	}
}

// count runs a count(*) query.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}
