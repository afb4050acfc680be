package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RejectionErrorType is the ApplicationError type of a refused action; its
// details hold the *Rejection.
const RejectionErrorType = "Rejection"

// DealView is what the state query returns: the deal, what it needs next
// and the follow-ups it is waiting on.
type DealView struct {
	*Deal
	NextStep string     `json:"nextStep"`
	Pending  []Reminder `json:"pendingReminders"`
}

// DealWorkflow carries one lead from creation to the paid invoice (or to the
// end of its retention window). Rep actions arrive as Updates (or Signals),
// follow-ups fire from durable timers, and every step is written to
// PostgreSQL by the ApplyChange activity before the state moves on.
func DealWorkflow(ctx workflow.Context, in NewLead) (*Deal, error) {
	w, err := newDealWorkflow(ctx, in)
	if err != nil {
		return nil, err
	}
	return w.run()
}

type dealWorkflow struct {
	ctx  workflow.Context
	d    *Deal
	log  log.Logger
	lock workflow.Mutex
	// version counts state changes; the run loop wakes when it moves, to
	// re-arm its timer against the new state.
	version int
	// signalsBusy is true while a signal is being handled, so
	// continue-as-new waits for it.
	signalsBusy bool
	// signalsBuffered: signals stay in their channels until taken (version
	// 1 of "signals-stay-buffered"), so a run that moves to a fresh one
	// takes the actions sent as signals meanwhile instead of refusing them.
	signalsBuffered bool
	// visible holds the search attributes last upserted.
	visible visibility
	// closing is set once the run is about to end (see endRun): Updates are
	// refused from then on, with this code.
	closing string
	// validated holds the commands the Update validator decoded, by Update
	// ID, for its handler: an action is decoded once. (Validators do not run
	// on replay; the handler then decodes the payload itself.)
	validated map[string]Command
	meter     dealMeter // business metrics (metrics.go)
	// lean: the run is at version 1 of "lean-history".
	lean bool
	// actionTask is the history length of the workflow task in which an
	// Update handler or a Signal's action last started or returned (see
	// endRun).
	actionTask int
}

func newDealWorkflow(ctx workflow.Context, in NewLead) (*dealWorkflow, error) {
	w := &dealWorkflow{
		ctx:       ctx,
		lock:      workflow.NewMutex(ctx),
		validated: map[string]Command{},
		log:       log.With(workflow.GetLogger(ctx), "leadID", in.ID, "owner", in.Owner),
	}
	w.visible = currentVisibility(ctx)
	// Version 1 of "lean-history" takes every change versioned before it as
	// made (each such call below reads "w.lean ||"), so a new run records
	// this one marker instead of one per change (each a marker event and an
	// upsert of TemporalChangeVersion: a visibility write); it also keeps one
	// follow-up timer (run) and ends a run at once when it can (endRun).
	w.lean = workflow.GetVersion(ctx, "lean-history", workflow.DefaultVersion, 1) == 1
	// Version 1 of "currency-pricing" brings the money rules of
	// PricingCurrency (rounding to the currency, the quote summary, payments
	// that always settle). Runs started before it keep PricingExact to their
	// end; a deal carried over from such a run moves to the new rules here,
	// its lines and records keeping the amounts they were made with.
	pricing := PricingExact
	if w.lean || workflow.GetVersion(ctx, "currency-pricing", workflow.DefaultVersion, 1) == 1 {
		pricing = PricingCurrency
	}
	var created *Change
	if in.State != nil {
		w.d = in.State // continued as new: the state was written already
		if w.d.Pricing == PricingExact {
			w.d.fillAmounts()
		}
		w.d.Pricing = max(w.d.Pricing, pricing)
	} else {
		if errs := in.validate(pricing); len(errs) > 0 {
			return nil, temporal.NewNonRetryableApplicationError("invalid lead: "+Describe(errs), "InvalidLead", nil)
		}
		now := workflow.Now(ctx)
		w.d = NewDeal(in, now)
		w.d.Pricing = pricing
		ch := w.d.Created(in.CreatedBy, now)
		created = &ch
	}
	// Handlers are registered before anything blocks, so an Update sent with
	// the start is not refused as unknown; the lock makes it wait until the
	// lead is written.
	if err := w.lock.Lock(ctx); err != nil {
		return nil, err
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (DealView, error) {
		return w.view(), nil
	}); err != nil {
		return nil, err
	}
	// Registering a handler records nothing in the history, so this needs
	// no version: an old history never carries the Update.
	if err := workflow.SetUpdateHandler(ctx, UpdateCreated, func(ctx workflow.Context) (DealView, error) {
		defer w.actionTaken()
		w.actionTaken()
		if err := w.lock.Lock(ctx); err != nil { // held until the lead is written
			return DealView{}, err
		}
		defer w.lock.Unlock()
		return w.view(), nil
	}); err != nil {
		return nil, err
	}
	for _, act := range Actions {
		act := act
		err := workflow.SetUpdateHandlerWithOptions(ctx, string(act),
			func(ctx workflow.Context, raw json.RawMessage) (Result, error) {
				defer w.actionTaken()
				w.actionTaken()
				id := workflow.GetCurrentUpdateInfo(ctx).ID
				cmd, err := w.command(id, act, raw)
				return w.act(ctx, act, cmd, err, id)
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, raw json.RawMessage) error {
				id := workflow.GetCurrentUpdateInfo(ctx).ID
				if _, done := w.d.appliedResult(id); done {
					return nil // a retry of an applied action: the handler answers it
				}
				cmd, err := DecodeCommand(act, raw)
				if err != nil {
					return rejectionError(undecodable(act, w.d, err))
				}
				if rej := w.d.Authorize(cmd); rej != nil {
					return rejectionError(rej)
				}
				if w.closing != "" {
					return rejectionError(w.closingRejection(act))
				}
				if rej := w.d.stale(cmd); rej != nil { // If-Match (ifmatch.go)
					return rejectionError(rej)
				}
				// mutate:equivalent "→ if true" rejectionError(nil) is nil: only the hand-over below is skipped, and the handler decodes the payload again
				if err := w.d.Check(cmd, workflow.Now(ctx)); err != nil {
					return rejectionError(err)
				}
				w.validated[id] = cmd
				return nil
			}})
		// mutate:equivalent "→ if false" registering a handler under a fresh, valid name does not fail
		if err != nil {
			return nil, err
		}
	}
	workflow.Go(ctx, w.receiveSignals)
	// The lead row is written by the workflow's first activity, never by the
	// caller before the start: the two cannot get out of step.
	if created != nil {
		if _, err := w.persist(ctx, nil, *created); err != nil {
			return nil, fmt.Errorf("record lead %s: %w", in.ID, err)
		}
	}
	w.lock.Unlock()
	w.meter = newDealMeter(ctx, w.d, created != nil)
	w.refresh()
	return w, nil
}

// view is the deal as the state query and the created Update answer it.
func (w *dealWorkflow) view() DealView {
	return DealView{Deal: w.d, NextStep: w.d.NextStep(), Pending: w.d.Pending()}
}

// run waits for the next follow-up or a state change, fires follow-ups as
// they come due, and ends when the deal is done or its retention ran out.
func (w *dealWorkflow) run() (*Deal, error) {
	ctx := w.ctx
	var t followUpTimer
	for {
		if w.d.Done() {
			if err := w.endActivities(); err != nil {
				return nil, err
			}
			return w.finish()
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return w.continueAsNew()
		}
		seen := w.version
		wake := func() bool { return w.version != seen || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
		pending := w.d.Pending()
		if len(pending) == 0 {
			t.stop()
			if err := workflow.Await(ctx, wake); err != nil {
				return nil, err
			}
			continue
		}
		next := pending[0]
		if wait := next.Due.Sub(workflow.Now(ctx)); wait > 0 {
			var (
				woke bool
				err  error
			)
			if w.lean {
				woke, err = t.await(ctx, next, wait, wake)
			} else {
				// Before "lean-history": a timer per wait, left running when
				// the state changes first (the SDK cancels it only behind
				// its flag SDKFlagCancelAwaitTimerOnCondition, off by default).
				woke, err = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
					Timeout:      wait,
					TimerOptions: workflow.TimerOptions{Summary: timerSummary(next)},
				}, wake)
			}
			if err != nil {
				return nil, err
			}
			if woke {
				continue // the state changed: look again at what is due
			}
		}
		if end, err := w.fireDue(); err != nil || end {
			if err != nil {
				return nil, err
			}
			if err := w.endActivities(); err != nil {
				return nil, err
			}
			return w.finish()
		}
	}
}

// followUpTimer is the one timer a lean run keeps for its follow-ups. Every
// rep action moves the idle-time follow-ups (a lead reminder, a stage nudge)
// later, and a timer per wait put a TimerStarted event in the history for
// each action and left the earlier timers to fire for nothing. This one is
// replaced only when the soonest follow-up comes due before it would fire;
// when the follow-up moved later, it fires, finds nothing due, and is set
// again for the new time: one wake-up per idle spell instead of one timer
// per action.
type followUpTimer struct {
	due    time.Time
	fired  workflow.Future
	cancel workflow.CancelFunc
}

// await waits until next is due (woke false) or wake() holds (woke true),
// keeping the timer set by an earlier wait when it fires no later than next.
func (t *followUpTimer) await(ctx workflow.Context, next Reminder, wait time.Duration, wake func() bool) (woke bool, err error) {
	if t.fired == nil || next.Due.Before(t.due) {
		t.stop()
		tctx, cancel := workflow.WithCancel(ctx)
		t.due, t.cancel = next.Due, cancel
		t.fired = workflow.NewTimerWithOptions(tctx, wait, workflow.TimerOptions{Summary: timerSummary(next)})
	}
	if err := workflow.Await(ctx, func() bool { return t.fired.IsReady() || wake() }); err != nil {
		return false, err
	}
	if !t.fired.IsReady() {
		return true, nil
	}
	t.fired, t.cancel = nil, nil
	if next.Due.After(t.due) {
		return true, nil // set for a follow-up that has since moved later: look again
	}
	return false, nil
}

// stop cancels the timer, if one is set and has not fired.
func (t *followUpTimer) stop() {
	if t.cancel != nil {
		t.cancel()
	}
	t.fired, t.cancel = nil, nil
}

func timerSummary(r Reminder) string {
	return r.Kind + " due " + r.Due.UTC().Format(time.RFC3339)
}

// endActivities writes the cancellation of the activities still open as the
// run ends for good (Deal.EndActivities).
func (w *dealWorkflow) endActivities() error {
	if err := w.lock.Lock(w.ctx); err != nil {
		return err
	}
	defer w.lock.Unlock()
	next := w.d.Clone()
	ch, ok := next.EndActivities(workflow.Now(w.ctx))
	if !ok {
		return nil
	}
	cr, err := w.persist(w.ctx, w.d, ch)
	if err != nil {
		return fmt.Errorf("end activities: %w", err)
	}
	w.commit(w.ctx, next, cr)
	return nil
}

// fireDue fires the soonest follow-up if it is still due under the lock (an
// action may have re-armed it meanwhile). end is true when the retention
// window has run out.
func (w *dealWorkflow) fireDue() (end bool, err error) {
	ctx := w.ctx
	if err := w.lock.Lock(ctx); err != nil {
		return false, err
	}
	defer w.lock.Unlock()
	pending := w.d.Pending()
	now := workflow.Now(ctx)
	if len(pending) == 0 || pending[0].Due.After(now) {
		return false, nil
	}
	r := pending[0]
	next := w.d.Clone()
	ch, ok := next.Fire(r, now)
	if !ok {
		return true, nil
	}
	w.log.Info("follow-up due", "kind", r.Kind, "key", r.Key)
	cr, err := w.persist(ctx, w.d, ch)
	if err != nil {
		return false, fmt.Errorf("follow-up %s: %w", r.Key, err)
	}
	w.commit(ctx, next, cr)
	return false, nil
}

// command is the Update's command: the one its validator decoded, or, on
// replay (where validators do not run), the payload decoded now.
func (w *dealWorkflow) command(updateID string, act Action, raw json.RawMessage) (Command, error) {
	if cmd, ok := w.validated[updateID]; ok {
		delete(w.validated, updateID)
		return cmd, nil
	}
	return DecodeCommand(act, raw)
}

// act runs one rep action, from an Update (updateID set) or a Signal: it
// re-checks the action under the lock (the state may have moved since the
// validator ran), writes its records, and only then changes the state.
// decodeErr is why the payload could not be read into cmd.
func (w *dealWorkflow) act(ctx workflow.Context, act Action, cmd Command, decodeErr error, updateID string) (Result, error) {
	if err := w.lock.Lock(ctx); err != nil {
		return Result{}, err
	}
	defer w.lock.Unlock()
	if res, done := w.d.appliedResult(updateID); done {
		return res, nil
	}
	now := workflow.Now(ctx)
	var rej *Rejection
	switch {
	case decodeErr != nil:
		rej = undecodable(act, w.d, decodeErr)
	case w.closing != "" && !w.carriesSignal(updateID):
		// A signal, or an Update admitted before the run began to end.
		rej = w.closingRejection(act)
	case isActivityAction(act) && !w.lean && workflow.GetVersion(ctx, "activities", workflow.DefaultVersion, 1) == workflow.DefaultVersion:
		// Activities (and their reminders) came with version 1; the marker
		// is recorded where a run first takes one. A history from before
		// holds none, so this refusal is only for the record.
		rej = &Rejection{Code: RejectWrongStage, Action: act, Stage: w.d.Stage, Status: w.d.Status,
			Message: "this deal's workflow predates activities"}
	case w.d.stale(cmd) != nil: // If-Match, under the lock (ifmatch.go)
		rej = w.d.stale(cmd)
		if updateID != "" {
			// As its validator would have: nothing written, so the version
			// the refusal names stays the current one (a refusal in the
			// timeline would move it on, for both reps).
			return Result{}, rejectionError(rej)
		}
	default:
		// The one copy: the state changes only once its records are written.
		next := w.d.Clone()
		ch, res, err := next.Apply(cmd, now)
		if err == nil {
			res.Version = next.Version()
			cr, err := w.persist(ctx, w.d, ch)
			if err != nil {
				return Result{}, fmt.Errorf("%s: %w", act, err)
			}
			if ch.Qualify != nil {
				next.AccountID, next.ContactID = cr.AccountID, cr.ContactID
			}
			next.remember(updateID, res)
			w.commit(ctx, next, cr)
			w.log.Info("action accepted", "action", act, "by", cmd.By(), "stage", w.d.Stage)
			return res, nil
		}
		if !errors.As(err, &rej) {
			return Result{}, err
		}
	}
	by := "unknown"
	if cmd != nil && decodeErr == nil {
		by = cmd.By()
	}
	return w.refuseLocked(ctx, act, by, rej)
}

// carriesSignal reports whether an action sent as a Signal is taken while the
// run moves to a fresh one (and its state carried over): its sender cannot
// retry it, as the API retries an Update. The task that ends the run then
// holds no Update (see endRun), only such writes, which a retry of the task
// repeats harmlessly.
func (w *dealWorkflow) carriesSignal(updateID string) bool {
	return updateID == "" && w.closing == RejectMoving && w.signalsBuffered
}

// refuse records a refused action; the caller does not hold the lock.
func (w *dealWorkflow) refuse(ctx workflow.Context, act Action, by string, rej *Rejection) (Result, error) {
	if err := w.lock.Lock(ctx); err != nil {
		return Result{}, err
	}
	defer w.lock.Unlock()
	return w.refuseLocked(ctx, act, by, rej)
}

// refuseLocked writes the refusal to the timeline, and the deal goes on.
func (w *dealWorkflow) refuseLocked(ctx workflow.Context, act Action, by string, rej *Rejection) (Result, error) {
	next := w.d.Clone()
	cr, err := w.persist(ctx, w.d, next.Reject(act, by, rej.Message, workflow.Now(ctx)))
	if err != nil {
		return Result{}, fmt.Errorf("record refused %s: %w", act, err)
	}
	w.commit(ctx, next, cr)
	w.log.Info("action refused", "action", act, "by", by, "reason", rej.Message)
	return Result{}, rejectionError(rej)
}

// receiveSignals takes the actions sent as Signals, one at a time. A signal
// whose payload cannot be read is still received, and recorded as refused
// rather than dropped.
func (w *dealWorkflow) receiveSignals(ctx workflow.Context) {
	// Version 1 receives the raw payload and decodes it here. Before it, a
	// payload in an encoding the data converter cannot read was dropped by
	// the SDK, unrecorded, and held up the signals after it.
	rawPayloads := w.lean || workflow.GetVersion(ctx, "signal-raw-payloads", workflow.DefaultVersion, 1) == 1
	// Version 1 leaves a signal in its channel until it is taken. Before it,
	// a selector waiting on the channels was handed each signal as it came:
	// the channels looked empty, and a run that ended (or continued as new)
	// in the same workflow task as a signal's arrival lost it, unrecorded.
	if w.lean || workflow.GetVersion(ctx, "signals-stay-buffered", workflow.DefaultVersion, 1) == 1 {
		w.signalsBuffered = true
		for {
			if err := workflow.Await(ctx, w.signalBuffered); err != nil {
				return
			}
			for _, act := range Actions {
				c := workflow.GetSignalChannel(ctx, string(act))
				if c.Len() > 0 {
					w.takeSignal(ctx, act, c, rawPayloads)
					break // the first action in Actions' order, as the selector took them
				}
			}
		}
	}
	sel := workflow.NewSelector(ctx)
	for _, act := range Actions {
		act := act
		sel.AddReceive(workflow.GetSignalChannel(ctx, string(act)), func(c workflow.ReceiveChannel, more bool) {
			w.takeSignal(ctx, act, c, rawPayloads)
		})
	}
	for {
		sel.Select(ctx)
	}
}

// takeSignal receives one signal of the action and acts on it; signalsBusy
// is set before the signal leaves its channel, so that it is never out of
// both.
func (w *dealWorkflow) takeSignal(ctx workflow.Context, act Action, c workflow.ReceiveChannel, rawPayloads bool) {
	w.signalsBusy = true
	w.actionTaken()
	defer func() {
		w.signalsBusy = false
		w.actionTaken()
	}()
	var (
		raw     json.RawMessage
		readErr error
	)
	if rawPayloads {
		var rv converter.RawValue
		c.Receive(ctx, &rv)
		readErr = converter.GetDefaultDataConverter().FromPayload(rv.Payload(), &raw)
	} else {
		c.Receive(ctx, &raw)
	}
	if readErr != nil {
		_, _ = w.refuse(ctx, act, "unknown", undecodable(act, w.d, readErr))
		return
	}
	cmd, err := DecodeCommand(act, raw)
	_, _ = w.act(ctx, act, cmd, err, "") // a refusal is in the timeline; nothing to return to
}

// signalBuffered reports whether a signal waits in its channel.
func (w *dealWorkflow) signalBuffered() bool {
	for _, act := range Actions {
		if workflow.GetSignalChannel(w.ctx, string(act)).Len() > 0 {
			return true
		}
	}
	return false
}

// signalsPending reports whether any signal is buffered or being handled.
func (w *dealWorkflow) signalsPending() bool {
	return w.signalsBusy || w.signalBuffered()
}

// retryForever bounds ApplyChange's retries at a time no outage lasts.
const retryForever = 10 * 365 * 24 * time.Hour

// persist runs ApplyChange on the calling coroutine's context (the run loop,
// an update handler or the signal receiver). Its options sit here, where every
// write goes through: a short attempt, retried with backoff for as long as it
// takes (PostgreSQL may be down for a while; nothing is lost meanwhile).
//
// From version 1 of "apply-change-local" it runs as a local activity: in the
// workflow task that takes the action, instead of a task of its own on the
// activity queue followed by a second workflow task for its result. A rep
// action then costs the engine one workflow task instead of two, which halved
// the Temporal server's CPU per deal and its latency (docs/benchmarks.md).
// ApplyChange is idempotent, so a local activity re-run after a worker dies
// before its task completes changes nothing. Deals started before the version
// keep their remote activity to the end of their run.
//
// prev is the deal as its previous step left it (nil for the step that
// creates it): the child rows the step did not change are named in the
// Change, and the store leaves them alone (Deal.keptBy). The comparison
// records nothing in the history.
func (w *dealWorkflow) persist(ctx workflow.Context, prev *Deal, ch Change) (ChangeResult, error) {
	if prev != nil {
		ch.Kept = prev.keptBy(ch)
	}
	retry := &temporal.RetryPolicy{
		InitialInterval:        500 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{ErrorTypeUnknownAccount},
	}
	var f workflow.Future
	if w.lean || workflow.GetVersion(ctx, "apply-change-local", workflow.DefaultVersion, 1) == 1 {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			// A local activity's retries stop at its schedule-to-close
			// timeout, which defaults to one attempt's 30 s: a PostgreSQL
			// restart would then fail the action. The remote activity
			// retried for as long as it took; so does this.
			ScheduleToCloseTimeout: retryForever,
			StartToCloseTimeout:    30 * time.Second,
			RetryPolicy:            retry,
			Summary:                ch.Event.Action,
		})
		f = workflow.ExecuteLocalActivity(ctx, ActivityApplyChange, ch)
	} else {
		// A remote activity's input is recorded in the history: the Records
		// stay out of it (the local activity's input is not encoded).
		ch.Records = nil
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         retry,
			Summary:             ch.Event.Action,
		})
		f = workflow.ExecuteActivity(ctx, ActivityApplyChange, ch)
	}
	var res ChangeResult
	err := f.Get(ctx, &res)
	return res, err
}

// commit makes next, whose records ApplyChange wrote, the deal's state. The
// messages ApplyChange found sent by a workflow task that failed after its
// write (ChangeResult.Sent) are adopted as they went out; version 1 of
// "adopt-sent-messages" brought that, and its marker is recorded only where
// a run first adopts one.
func (w *dealWorkflow) commit(ctx workflow.Context, next *Deal, cr ChangeResult) {
	if len(cr.Sent) > 0 && (w.lean || workflow.GetVersion(ctx, "adopt-sent-messages", workflow.DefaultVersion, 1) == 1) {
		next.AdoptSent(cr.Sent)
	}
	w.d = next
	w.changed()
}

// changed wakes the run loop and refreshes what the Web UI shows.
func (w *dealWorkflow) changed() {
	w.version++
	w.meter.observe(w.ctx, w.d)
	w.refresh()
}

// finish ends the workflow once every handler has returned.
func (w *dealWorkflow) finish() (*Deal, error) {
	if err := w.endRun(RejectEnded); err != nil {
		return nil, err
	}
	w.log.Info("deal complete", "stage", w.d.Stage, "status", w.d.Status)
	return w.d, nil
}

// continueAsNew starts a fresh run with the state, after every in-flight
// update and signal has finished, so none is lost across the boundary.
func (w *dealWorkflow) continueAsNew() (*Deal, error) {
	if err := w.endRun(RejectMoving); err != nil {
		return nil, err
	}
	w.log.Info("continuing as new", "events", workflow.GetInfo(w.ctx).GetCurrentHistoryLength())
	return nil, workflow.NewContinueAsNewError(w.ctx, WorkflowName, NewLead{ID: w.d.ID, Owner: w.d.Owner, State: w.d})
}

// endRun refuses Updates from now on (code) and returns once every handler
// has returned and no signal waits, in a workflow task that has taken no
// rep action: the run may end in it. Temporal refuses the completion of a
// task that ends the run when an event (a timer, a signal) arrived while it
// ran, and fails the Updates the task handled, though their ApplyChange, a
// local activity, has already written: the rep would be told the action
// failed after it was recorded (and a signal arriving then fails the task,
// to be taken in the next). So a task that took an action, as an Update or a
// Signal, is followed by a second's timer before the end, and what arrives
// meanwhile is taken in a task of its own. Version 1 of
// "end-run-in-own-task" did that always; a lean run only after an action: a
// deal that ends on its thank-you's timer ends in that timer's task. Runs
// that reached their end before version 1 end at once.
func (w *dealWorkflow) endRun(code string) error {
	quiet := func() bool { return workflow.AllHandlersFinished(w.ctx) && !w.signalsPending() }
	if !w.lean {
		if workflow.GetVersion(w.ctx, "end-run-in-own-task", workflow.DefaultVersion, 1) == 1 {
			w.closing = code
			if err := workflow.Sleep(w.ctx, time.Second); err != nil {
				return err
			}
		}
		return workflow.Await(w.ctx, quiet)
	}
	w.closing = code
	if err := workflow.Await(w.ctx, quiet); err != nil {
		return err
	}
	if w.actionTask != workflow.GetInfo(w.ctx).GetCurrentHistoryLength() {
		return nil
	}
	// No Update handler runs in the task after the timer's: new Updates
	// are refused by their validator, and none was left running.
	if err := workflow.Sleep(w.ctx, time.Second); err != nil {
		return err
	}
	return workflow.Await(w.ctx, quiet)
}

// actionTaken notes that a rep's action (an Update, a Signal) is taken in
// this workflow task.
func (w *dealWorkflow) actionTaken() {
	w.actionTask = workflow.GetInfo(w.ctx).GetCurrentHistoryLength()
}

// closingRejection refuses an action while the run ends (see endRun).
func (w *dealWorkflow) closingRejection(act Action) *Rejection {
	msg := "the deal has ended (paid, or closed past its retention window); it takes no more actions"
	if w.closing == RejectMoving {
		msg = "the deal is moving to a fresh run; retry in a moment"
	}
	return &Rejection{Code: w.closing, Action: act, Stage: w.d.Stage, Status: w.d.Status, Message: msg}
}

// rejectionError wraps a *Rejection so its details reach the caller.
func rejectionError(err error) error {
	var rej *Rejection
	if errors.As(err, &rej) {
		return temporal.NewApplicationErrorWithOptions(rej.Message, RejectionErrorType, temporal.ApplicationErrorOptions{
			NonRetryable: true, Details: []any{rej},
		})
	}
	return err
}

func undecodable(act Action, d *Deal, err error) *Rejection {
	return &Rejection{Code: RejectInvalid, Action: act, Stage: d.Stage, Status: d.Status,
		Message: fmt.Sprintf("cannot read %s input: %v", act, err)}
}

// visibility is what managers filter deals by in the Web UI.
type visibility struct {
	Stage, Owner, Status, Customer, Source string
	Revenue                                float64
	CloseDate                              *time.Time
}

func (d *Deal) visibility() visibility {
	v := visibility{Stage: string(d.Stage), Owner: d.Owner, Status: string(d.Status),
		Customer: d.Customer(), Source: d.Lead.Source}
	// Float only here, for filtering; money stays decimal everywhere else.
	v.Revenue = d.Value().InexactFloat64()
	if d.Opportunity != nil && d.Opportunity.EstimatedCloseDate != nil {
		t := d.Opportunity.EstimatedCloseDate.UTC()
		v.CloseDate = &t
	}
	return v
}

// searchAttributeUpdates returns the typed updates that bring the attributes
// from old to d's values; starters use it with an empty old.
func (d *Deal) searchAttributeUpdates(old visibility) []temporal.SearchAttributeUpdate {
	v := d.visibility()
	var u []temporal.SearchAttributeUpdate
	kw := func(key temporal.SearchAttributeKeyKeyword, nv, ov string) {
		if nv != ov {
			if nv == "" {
				u = append(u, key.ValueUnset())
			} else {
				u = append(u, key.ValueSet(nv))
			}
		}
	}
	kw(SASalesStage, v.Stage, old.Stage)
	kw(SASalesOwner, v.Owner, old.Owner)
	kw(SADealStatus, v.Status, old.Status)
	kw(SACustomer, v.Customer, old.Customer)
	kw(SALeadSource, v.Source, old.Source)
	if v.Revenue != old.Revenue {
		u = append(u, SAEstimatedRevenue.ValueSet(v.Revenue))
	}
	switch {
	case v.CloseDate == nil && old.CloseDate != nil:
		u = append(u, SAExpectedCloseDate.ValueUnset())
	case v.CloseDate != nil && (old.CloseDate == nil || !v.CloseDate.Equal(*old.CloseDate)):
		u = append(u, SAExpectedCloseDate.ValueSet(*v.CloseDate))
	}
	return u
}

// StartSearchAttributes are the attributes to start a new deal's workflow with.
func StartSearchAttributes(in NewLead) temporal.SearchAttributes {
	d := NewDeal(in, time.Time{})
	return temporal.NewSearchAttributes(d.searchAttributeUpdates(visibility{})...)
}

// currentVisibility reads the attributes the run started with (set by the
// starter, or carried over by continue-as-new), so only changes are upserted.
func currentVisibility(ctx workflow.Context) visibility {
	sa := workflow.GetTypedSearchAttributes(ctx)
	var v visibility
	v.Stage, _ = sa.GetKeyword(SASalesStage)
	v.Owner, _ = sa.GetKeyword(SASalesOwner)
	v.Status, _ = sa.GetKeyword(SADealStatus)
	v.Customer, _ = sa.GetKeyword(SACustomer)
	v.Source, _ = sa.GetKeyword(SALeadSource)
	v.Revenue, _ = sa.GetFloat64(SAEstimatedRevenue)
	if t, ok := sa.GetTime(SAExpectedCloseDate); ok {
		v.CloseDate = &t
	}
	return v
}

// refresh upserts the search attributes that changed and rewrites the current
// details the Web UI shows on the deal's page.
func (w *dealWorkflow) refresh() {
	if u := w.d.searchAttributeUpdates(w.visible); len(u) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(w.ctx, u...); err != nil {
			w.log.Error("upsert search attributes", "error", err)
		} else {
			w.visible = w.d.visibility()
		}
	}
	workflow.SetCurrentDetails(w.ctx, w.d.details())
}

// details is the deal's current state in Temporal markdown.
func (d *Deal) details() string {
	s := fmt.Sprintf("**Stage:** %s (%s)  \n**Value:** %s  \n**Owner:** %s  \n**Next step:** %s",
		d.Stage, d.Status, d.describeAmount(d.Value()), d.Owner, d.NextStep())
	if p := d.Pending(); len(p) > 0 {
		s += fmt.Sprintf("  \n**Next reminder:** %s at %s", p[0].Kind, p[0].Due.UTC().Format(time.RFC3339))
	}
	return s
}

// Summary is the static one-line summary a deal's workflow starts with.
func Summary(in NewLead) string {
	s := "Lead: " + in.Lead.Topic
	if in.Lead.Company != "" {
		s += " — " + in.Lead.Company
	}
	return s
}
