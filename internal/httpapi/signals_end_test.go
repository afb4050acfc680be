package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"dealflow/workflows"
)

// Signals that reach a run in the workflow task that ends it, on the real
// stack. A run that ends (finish) or continues as new after a task that
// took a rep action first sleeps on a one-second timer (the workflow's
// endRun; here the settle timer), then waits for every handler and every
// signal still buffered. A signal handed to the workflow in the same task as that
// timer's firing must still be taken: applied and carried into the next run
// when the run moves, refused and recorded once the deal has ended. Before
// version 1 of "signals-stay-buffered" the run ended in that task and the
// signal was lost, unrecorded.
//
// The tests stage that task without relying on timing for the order of
// anything the workflow sees: every write of a test's signal is held
// (writeGate), so the signal's workflow task stays open and the next signal
// waits on the server for the next task. Only the settle timer's firing is
// left to the clock, as nothing outside the server observes it while a task
// is open: the tests hold the last task past the timer's due time, then check
// in the run's history that the timer did fire in the racing signals' task,
// and fail saying so otherwise.

// settleDelay is the timer the workflow's endRun sleeps on before a run
// ends after a task that took an action.
const settleDelay = time.Second

// fireMargin is how long past its due time the settle timer is given to fire
// on the server while the task before it is held open.
const fireMargin = time.Second

// withTheTimer are the numbers of signals sent to arrive in the task in which
// the settle timer fires. One is the signal that was lost: the signal
// coroutine's selector was handed it, and the channels looked empty. Of two,
// the second stayed in its channel and the run waited for it, so that the
// first was taken too; both cases stay, as a fix could lose either.
var withTheTimer = []struct {
	name string
	n    int
}{{"one signal with the timer", 1}, {"two signals with the timer", 2}}

// signalActorPrefix starts the actor of every signal these tests send; the
// gate holds exactly their writes.
const signalActorPrefix = "signal-"

// signalActor is the actor of a test's i-th signal: it names the signal in
// the timeline and in the run's history.
func signalActor(i int) string { return fmt.Sprintf("%s%d@ops.example.com", signalActorPrefix, i) }

// fromTestSignal is true of the write (accepted or refused) of a test signal.
func fromTestSignal(ch workflows.Change) bool {
	return strings.HasPrefix(ch.Event.Actor, signalActorPrefix)
}

// A deal whose run continues as new while actions arrive as Signals: the
// signal that arrives while the run settles, and those that arrive in the
// task in which the settle timer fires, are applied and carried into the new
// run. Each signal's action is accepted exactly once, in the new run's state
// and in PostgreSQL: none refused, none lost.
func TestSignalsAtContinueAsNew(t *testing.T) {
	for _, tc := range withTheTimer {
		t.Run(tc.name, func(t *testing.T) { signalsAtContinueAsNew(t, tc.n) })
	}
}

func signalsAtContinueAsNew(t *testing.T, racers int) {
	// A server of its own: the deal's new run outlives the subtest's worker
	// and database, and no later worker may take its tasks.
	srv := ownTemporal(t, "--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", suggestAfter))
	e := newEnv(t, envOpts{temporal: srv, noWorker: true})
	gate := e.startWorkerGated(fromTestSignal)
	const id = "sigcan"
	e.create(e.repA, id)
	e.act(e.repA, "POST", "/v1/leads/"+id+"/qualify", nil) // competitors belong to the opportunity
	s := newSignals(t, e, gate, id, workflows.ActAddCompetitor, func(i int) map[string]any {
		return map[string]any{"name": competitor(i)}
	})

	// Each signal adds about six events: the run is told to continue as
	// new after a few.
	st, held := s.untilSettling(20)
	raced := s.race(st, racers)
	newRun := e.waitMoved(id, st.runID)
	s.checkRace(st, held, raced)
	if got := e.closeEvent(id, st.runID); got != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
		t.Fatalf("run %s ended with %s, want continued as new", st.runID, got)
	}

	want := map[string]string{}
	var names []string
	for i, a := range s.actors {
		want[a] = "accepted"
		names = append(names, competitor(i))
	}
	view := e.state(id, newRun)
	wantOutcomes(t, "the new run's timeline", signalOutcomes(view.Timeline), want)
	wantOutcomes(t, "deal_events", signalOutcomes(e.timeline(id)), want)
	var inState []string
	if view.Opportunity != nil {
		for _, c := range view.Opportunity.Competitors {
			inState = append(inState, c.Name)
		}
	}
	wantNames(t, "the new run's competitors", inState, names)
	wantNames(t, "opportunity_competitors", e.competitors(id), names)
}

// A paid deal whose run ends while actions arrive as Signals: the signal
// that arrives while the run settles, and those that arrive in the task in
// which the settle timer fires, are each refused as ended and recorded in
// the timeline once; the workflow completes.
func TestSignalsAtEnd(t *testing.T) {
	for _, tc := range withTheTimer {
		t.Run(tc.name, func(t *testing.T) { signalsAtEnd(t, tc.n) })
	}
}

func signalsAtEnd(t *testing.T, racers int) {
	e := newEnv(t, envOpts{noWorker: true}) // a namespace of the subtest's own
	gate := e.startWorkerGated(fromTestSignal)
	const id = "sigend"
	body := lead(id)
	// The thank-you for the win goes out at once: the paid deal then has
	// nothing left to wait for, and ends in the task of its payment.
	body["policy"] = map[string]any{"thankYouAfter": "0s"}
	if r := e.do("POST", "/v1/leads", e.repA, body); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	e.toInvoice(id)
	s := newSignals(t, e, gate, id, workflows.ActRecordPayment, func(i int) map[string]any {
		if i == 0 {
			return map[string]any{"amount": "1000"} // the invoice in full
		}
		return map[string]any{"amount": "1"}
	})

	st, held := s.untilSettling(3)
	raced := s.race(st, racers)
	e.waitCompleted(id)
	s.checkRace(st, held, raced)

	want := map[string]string{s.actors[0]: "accepted"}
	for _, a := range s.actors[1:] {
		want[a] = "refused (ended)"
	}
	var d workflows.Deal
	if err := e.tc.GetWorkflow(context.Background(), s.wid, st.runID).Get(context.Background(), &d); err != nil {
		t.Fatalf("the deal's result: %v", err)
	}
	wantOutcomes(t, "the completed run's timeline", signalOutcomes(d.Timeline), want)
	wantOutcomes(t, "deal_events", signalOutcomes(e.timeline(id)), want)
	if rows := e.dealRows(id); rows.payments != 1 {
		t.Fatalf("rows %+v, want the one full payment", rows)
	}
}

// competitor is the name the i-th signal adds.
func competitor(i int) string { return fmt.Sprintf("Rival %d", i) }

// toInvoice takes a new lead to an unpaid invoice of 1000, an action at a
// time.
func (e *env) toInvoice(id string) {
	e.t.Helper()
	for _, s := range toInvoiceSteps("/v1/leads/" + id) {
		e.act(e.repA, s.method, s.path, s.body)
	}
}

// signals sends one deal's actions as Signals, numbered, with the gate on:
// the write of each is held until released, so that its workflow task stays
// open and the next signal reaches the workflow in the task after it.
type signals struct {
	t      *testing.T
	e      *env
	gate   *writeGate
	lead   string
	wid    string
	act    workflows.Action
	input  func(i int) map[string]any // the i-th signal's input, but its actor
	actors []string                   // of the signals sent, in order
}

func newSignals(t *testing.T, e *env, g *writeGate, leadID string, act workflows.Action, input func(int) map[string]any) *signals {
	g.on.Store(true)
	return &signals{t: t, e: e, gate: g, lead: leadID, wid: workflows.WorkflowID(leadID), act: act, input: input}
}

// send sends the next signal and returns its actor. Temporal has stored it
// when SignalWorkflow returns.
func (s *signals) send() string {
	s.t.Helper()
	in := s.input(len(s.actors))
	actor := signalActor(len(s.actors))
	in["actor"] = actor
	if err := s.e.tc.SignalWorkflow(context.Background(), s.wid, "", string(s.act), in); err != nil {
		s.t.Fatalf("signal %s: %v", actor, err)
	}
	s.actors = append(s.actors, actor)
	return actor
}

// held waits until the write of actor's signal is held.
func (s *signals) held(actor string) {
	s.t.Helper()
	select {
	case ch := <-s.gate.started:
		if ch.Event.Actor != actor {
			s.t.Fatalf("the write of %s's %s was held, want %s's", ch.Event.Actor, ch.Event.Action, actor)
		}
	case <-time.After(patience):
		s.t.Fatalf("no write of %s's signal within %s: the run ended without taking it", actor, patience)
	}
}

// release lets the held write go on.
func (s *signals) release() {
	s.t.Helper()
	select {
	case s.gate.release <- struct{}{}:
	case <-time.After(patience):
		s.t.Fatalf("the held write did not take the release within %s", patience)
	}
}

// settling is a run that has decided to end: its settle timer is pending.
type settling struct {
	runID   string
	timerID int64 // the TimerStarted event's ID
	due     time.Time
}

// untilSettling sends signals, a workflow task each, until the run has
// decided to end: it returns that run's settle timer, and the actor of the
// signal whose write is held in the task after the one that started the
// timer. Each signal is sent while the one before it is held, so it reaches
// the workflow as soon as that task ends, well within the timer's second.
func (s *signals) untilSettling(max int) (settling, string) {
	s.t.Helper()
	held := s.send()
	s.held(held)
	for {
		if st, ok := s.settling(); ok {
			return st, held
		}
		if len(s.actors) == max {
			s.t.Fatalf("after %d signals the run has not begun to end", max)
		}
		next := s.send()
		s.release()
		s.held(next)
		held = next
	}
}

// settling finds the pending settle timer of the deal's current run; the
// task held open is after the one that started it.
func (s *signals) settling() (settling, bool) {
	s.t.Helper()
	run := s.e.currentRun(s.lead)
	evs := s.e.history(s.wid, run)
	ended := map[int64]bool{}
	for _, ev := range evs {
		if a := ev.GetTimerFiredEventAttributes(); a != nil {
			ended[a.GetStartedEventId()] = true
		}
		if a := ev.GetTimerCanceledEventAttributes(); a != nil {
			ended[a.GetStartedEventId()] = true
		}
	}
	for _, ev := range slices.Backward(evs) {
		a := ev.GetTimerStartedEventAttributes()
		if a != nil && a.GetStartToFireTimeout().AsDuration() == settleDelay && !ended[ev.GetEventId()] {
			return settling{runID: run, timerID: ev.GetEventId(), due: ev.GetEventTime().AsTime().Add(settleDelay)}, true
		}
	}
	return settling{}, false
}

// race sends the racing signals once the settle timer is due, while the
// held task is still open, then lets that task end: the server, which
// buffers the timer's firing and the signals meanwhile, hands them to the
// workflow in one task. It returns the actors of the n racers.
func (s *signals) race(st settling, n int) []string {
	s.t.Helper()
	// The one wait on the clock (see the top of the file); checkRace
	// verifies in the history that the timer fired before the task ended.
	time.Sleep(time.Until(st.due.Add(fireMargin)))
	var raced []string
	for range n {
		raced = append(raced, s.send())
	}
	s.gate.on.Store(false) // the racers' writes go through
	s.release()
	return raced
}

// checkRace fails the test unless the run's history shows the race staged:
// the held signal in one task, then the settle timer's firing and every
// racer in one later task. Anything else means the timer did not fire while
// the held task was open, and the test proved nothing.
func (s *signals) checkRace(st settling, held string, raced []string) {
	s.t.Helper()
	evs := s.e.history(s.wid, st.runID)
	var fired int64
	for _, ev := range evs {
		if a := ev.GetTimerFiredEventAttributes(); a != nil && a.GetStartedEventId() == st.timerID {
			fired = ev.GetEventId()
		}
	}
	if fired == 0 {
		s.t.Fatalf("the settle timer (event %d) never fired in run %s", st.timerID, st.runID)
	}
	signaled := signaledEvents(s.t, evs)
	raceTask := taskOf(evs, fired)
	if heldTask := taskOf(evs, signaled[held]); heldTask == 0 || heldTask >= raceTask {
		s.t.Fatalf("setup did not stage the race: held signal %s in task %d, the settle timer's firing in task %d",
			held, heldTask, raceTask)
	}
	for _, a := range raced {
		if got := taskOf(evs, signaled[a]); got != raceTask {
			s.t.Fatalf("setup did not stage the race: signal %s (event %d) in the task started at event %d, "+
				"the settle timer's firing (event %d) in the task started at event %d; "+
				"the timer fired more than %s late", a, signaled[a], got, fired, raceTask, fireMargin)
		}
	}
	s.t.Logf("run %s: the settle timer fired (event %d) in the task started at event %d, with signals %v",
		st.runID, fired, raceTask, raced)
}

// signaledEvents maps the actor of each signal in the history to the ID of
// its WorkflowExecutionSignaled event.
func signaledEvents(t *testing.T, evs []*historypb.HistoryEvent) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	for _, ev := range evs {
		a := ev.GetWorkflowExecutionSignaledEventAttributes()
		if a == nil {
			continue
		}
		var in struct {
			Actor string `json:"actor"`
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in); err != nil {
			t.Fatalf("signal event %d: %v", ev.GetEventId(), err)
		}
		ids[in.Actor] = ev.GetEventId()
	}
	return ids
}

// taskOf returns the ID of the WorkflowTaskStarted event of the task that
// handed event id to the workflow: the first one after it; 0 if none.
func taskOf(evs []*historypb.HistoryEvent, id int64) int64 {
	if id == 0 {
		return 0
	}
	for _, ev := range evs {
		if ev.GetEventId() > id && ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED {
			return ev.GetEventId()
		}
	}
	return 0
}

// signalOutcomes lists, for each test signal's actor, the outcome of each
// of its timeline events: "accepted", "refused (ended)" or the refusal.
func signalOutcomes(timeline []workflows.Event) map[string][]string {
	out := map[string][]string{}
	for _, ev := range timeline {
		if !strings.HasPrefix(ev.Actor, signalActorPrefix) {
			continue
		}
		o := "accepted"
		switch {
		case ev.Accepted:
		case strings.HasPrefix(ev.Detail, "the deal has ended"): // the timeline keeps the message, not the code
			o = "refused (ended)"
		default:
			o = "refused: " + ev.Detail
		}
		out[ev.Actor] = append(out[ev.Actor], o)
	}
	return out
}

// wantOutcomes fails the test unless each signal has exactly one timeline
// event, with the outcome want gives it; it names every signal that has not.
func wantOutcomes(t *testing.T, where string, got map[string][]string, want map[string]string) {
	t.Helper()
	var bad []string
	for a := range got {
		if _, ok := want[a]; !ok {
			bad = append(bad, fmt.Sprintf("%s: %v, a signal never sent", a, got[a]))
		}
	}
	for a, w := range want {
		switch g := got[a]; {
		case len(g) == 0:
			bad = append(bad, fmt.Sprintf("%s: lost (no event), want %s", a, w))
		case len(g) != 1 || g[0] != w:
			bad = append(bad, fmt.Sprintf("%s: %v, want %s once", a, g, w))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Fatalf("%s:\n\t%s", where, strings.Join(bad, "\n\t"))
	}
}

// wantNames fails the test unless got holds each of want once, and no more.
func wantNames(t *testing.T, where string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %q, want %q", where, got, want)
	}
}

// state queries a run of the deal for its state.
func (e *env) state(leadID, runID string) workflows.DealView {
	e.t.Helper()
	v, err := e.tc.QueryWorkflow(context.Background(), workflows.WorkflowID(leadID), runID, workflows.QueryState)
	if err != nil {
		e.t.Fatalf("query run %s of lead %s: %v", runID, leadID, err)
	}
	var view workflows.DealView
	if err := v.Get(&view); err != nil {
		e.t.Fatalf("state of lead %s: %v", leadID, err)
	}
	return view
}

// timeline reads the deal's timeline from PostgreSQL.
func (e *env) timeline(leadID string) []workflows.Event {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(),
		`SELECT seq, actor, action, accepted, detail FROM deal_events WHERE lead_id = $1 ORDER BY seq`, leadID)
	if err != nil {
		e.t.Fatalf("timeline of %s: %v", leadID, err)
	}
	defer rows.Close()
	var evs []workflows.Event
	for rows.Next() {
		var ev workflows.Event
		if err := rows.Scan(&ev.Seq, &ev.Actor, &ev.Action, &ev.Accepted, &ev.Detail); err != nil {
			e.t.Fatalf("timeline of %s: %v", leadID, err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("timeline of %s: %v", leadID, err)
	}
	return evs
}

// competitors reads the names of the deal's competitors from PostgreSQL.
func (e *env) competitors(leadID string) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT c.name FROM opportunity_competitors c
		JOIN opportunities o ON o.id = c.opportunity_id WHERE o.lead_id = $1`, leadID)
	if err != nil {
		e.t.Fatalf("competitors of %s: %v", leadID, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			e.t.Fatalf("competitors of %s: %v", leadID, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("competitors of %s: %v", leadID, err)
	}
	return names
}

// waitMoved waits until the deal's current run is another than run, and
// returns it.
func (e *env) waitMoved(leadID, run string) string {
	e.t.Helper()
	for deadline := time.Now().Add(patience); ; {
		if cur := e.currentRun(leadID); cur != run {
			return cur
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("lead %s still on run %s after %s", leadID, run, patience)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// history returns every event of a run.
func (e *env) history(wid, runID string) []*historypb.HistoryEvent {
	e.t.Helper()
	it := e.tc.GetWorkflowHistory(context.Background(), wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var evs []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.t.Fatalf("history of %s run %s: %v", wid, runID, err)
		}
		evs = append(evs, ev)
	}
	return evs
}
