package chaos

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"dealflow/activities"
	"dealflow/internal/store"
	"dealflow/internal/temporalx"
	"dealflow/internal/tests/chaos/dealrows"
	"dealflow/workflows"
)

// TestFailedTaskRerunConverges makes a workflow task fail right after its
// local ApplyChange wrote, on the real server and a real worker, and has
// the re-run take a different action. A rep's action (an Update) is written
// and its task fails before it completes; meanwhile another rep adds a
// competitor (a Signal). Temporal runs the task again from the state before
// it, and hands it the Update again, which the hook's validator now refuses:
// the re-run takes the competitor, under the same timeline seq. Every row
// the deal owns must then equal the state the workflow answers.
//
//   - the failed action activates the quote: quote Active and stage Close
//     were written, and the state never had them;
//   - the failed action logs an email with send: true, which ApplyChange
//     delivered right after its write: the activity goes, the message stays
//     (it went out) and the deal adopts it (ChangeResult.Sent). With
//     DEALFLOW_RECORD_ADOPTED=FILE the deal's history is written to FILE, a
//     replay fixture of version 1 of "adopt-sent-messages"
//     (workflows/testdata/histories/v7-adopt-sent-messages.json).
func TestFailedTaskRerunConverges(t *testing.T) {
	rep := workflows.Actor{Actor: "rep@example.com"}
	t.Run("quote activated", func(t *testing.T) {
		failTaskThenRerun(t, &workflows.ActivateQuote{Actor: rep, Revision: 1},
			func(t *testing.T, failed dealrows.Rows, view workflows.DealView) {
				if got := quoteStatus(failed); got != workflows.QuoteActive {
					t.Fatalf("the failed task's write left quote 1 %q, want %s", got, workflows.QuoteActive)
				}
				if view.Stage != workflows.StagePropose || view.CurrentQuote().Status != workflows.QuoteDraft {
					t.Fatalf("after the re-run: stage %s, quote %s; want Propose, Draft", view.Stage, view.CurrentQuote().Status)
				}
			})
	})
	t.Run("email sent", func(t *testing.T) {
		email := &workflows.AddActivity{Actor: rep, Type: workflows.ActivityEmail, Send: true, ActivityFields: workflows.ActivityFields{
			Subject: ptr("Our offer"), To: ptr("ada@customer.example"), Description: ptr("Dear Ada, the offer is attached.")}}
		wfID := failTaskThenRerun(t, email, func(t *testing.T, failed dealrows.Rows, view workflows.DealView) {
			if len(failed.Messages) != 1 || failed.Messages[0].SentAt == nil {
				t.Fatalf("the failed task's write: messages %+v, want the email, sent", failed.Messages)
			}
			if len(view.Activities) != 0 || len(view.Messages) != 1 || view.Messages[0].Key != failed.Messages[0].Key {
				t.Fatalf("after the re-run: activities %+v, messages %+v; want none, and the email adopted", view.Activities, view.Messages)
			}
		})
		if out := os.Getenv("DEALFLOW_RECORD_ADOPTED"); out != "" {
			recordHistory(t, wfID, out)
		}
	})
}

// failTaskThenRerun runs a deal to Propose, fails the task that takes act
// right after its write, has the re-run take a competitor instead, checks
// what check checks (the failed task's rows, the state after the re-run),
// and then every row against the state. It returns the workflow's id.
func failTaskThenRerun(t *testing.T, act workflows.Command, check func(*testing.T, dealrows.Rows, workflows.DealView)) string {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tr := newTraffic()
	d := &deal{id: "failedtask-" + time.Now().Format("150405.000"), sc: scenarios[0], rep: newRep(stack.APIURL, stack.RepToken, tr)}
	if err := d.run(ctx, d.create, d.qualify, d.develop, d.propose("Net 45")); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pool, err := store.Open(ctx, stack.DatabaseURL, store.Options{Name: "failedtask-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// The stack's worker makes way for one with the hook.
	if err := stack.StopWorker(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stack.StartWorker(context.Background()); err != nil {
			t.Errorf("start the stack's worker again: %v", err)
		}
	}()
	wfID := workflows.WorkflowID(d.id)
	var failedWrite dealrows.Rows
	hook := &failAfterWrite{deal: d.id, action: act.Action(), onWrite: func() {
		// The failed task's write is in PostgreSQL now.
		var err error
		if failedWrite, err = dealrows.Load(ctx, pool, d.id); err != nil {
			t.Errorf("rows after the write: %v", err)
		}
		// Another rep's action arrives while the task is still running.
		if err := c.SignalWorkflow(ctx, wfID, "", string(workflows.ActAddCompetitor),
			&workflows.AddCompetitor{Actor: workflows.Actor{Actor: "rep@example.com"}, Name: "Analytical Engines"}); err != nil {
			t.Errorf("signal add_competitor: %v", err)
		}
	}}
	w := temporalx.NewWorker(c, workflows.TaskQueue, func(o *worker.Options) {
		o.Interceptors = append(o.Interceptors, hook)
		o.DeadlockDetectionTimeout = time.Minute // the hook sends a signal from workflow code
	})
	w.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivity(activities.New(pool, activities.RecordingMailer{}, slog.New(slog.DiscardHandler)))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	answered := make(chan error, 1)
	go func() {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: wfID, UpdateName: string(act.Action()), Args: []any{act},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		answered <- err
	}()

	// The re-run has taken the competitor (develop added the first).
	var view workflows.DealView
	for {
		v, err := c.QueryWorkflow(ctx, wfID, "", workflows.QueryState)
		if err == nil {
			err = v.Get(&view)
		}
		if err == nil && view.Opportunity != nil && len(view.Opportunity.Competitors) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the re-run did not take the competitor: %v (hook fired %v)", err, hook.fired())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !hook.fired() {
		t.Fatal("the hook never failed a task")
	}
	if err := <-answered; err == nil {
		t.Errorf("%s was answered as applied; the re-run was to refuse it", act.Action())
	}
	if !taskFailed(ctx, t, c, wfID) {
		t.Fatal("the deal's history shows no failed workflow task")
	}
	last := view.Timeline[len(view.Timeline)-1]
	if last.Action != string(workflows.ActAddCompetitor) {
		t.Fatalf("the re-run's step is %s at seq %d, want add_competitor", last.Action, last.Seq)
	}
	check(t, failedWrite, view)
	rows, err := dealrows.Load(ctx, pool, d.id)
	if err != nil {
		t.Fatal(err)
	}
	want := dealrows.Want(view.Deal)
	for _, diff := range dealrows.Diff(want, rows) {
		t.Errorf("PostgreSQL differs from the state after the re-run: %s", diff)
	}
	t.Logf("the failed task wrote seq %d (%s); the re-run wrote it as add_competitor; %d rows compared",
		last.Seq, act.Action(), want.Len())
	return wfID
}

func ptr[T any](v T) *T { return &v }

// recordHistory writes the history of wfID to file, as the replay test reads it.
func recordHistory(t *testing.T, wfID, file string) {
	ctx := context.Background()
	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("history of %s (%d events) written to %s", wfID, len(h.Events), file)
}

func quoteStatus(r dealrows.Rows) string {
	for _, q := range r.Quotes {
		if q.Revision == 1 {
			return q.Status
		}
	}
	return ""
}

// taskFailed reports whether the history of wfID holds a failed workflow task.
func taskFailed(ctx context.Context, t *testing.T, c client.Client, wfID string) bool {
	it := c.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
			return true
		}
	}
	return false
}

// failAfterWrite is a worker interceptor that fails the workflow task of
// deal's action once, right after its ApplyChange (a local activity)
// returned: it calls onWrite, then panics, which fails the task (the SDK's
// default panic policy) and makes Temporal run it again.
type failAfterWrite struct {
	interceptor.WorkerInterceptorBase
	deal    string
	action  workflows.Action
	onWrite func()

	mu   sync.Mutex
	done bool
}

func (h *failAfterWrite) fired() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done
}

// fire reports whether this is the one write to fail, and marks it done.
func (h *failAfterWrite) fire(ch workflows.Change) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done || ch.Deal.ID != h.deal || ch.Event.Action != string(h.action) {
		return false
	}
	h.done = true
	return true
}

func (h *failAfterWrite) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &failInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, h: h}
}

type failInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	h *failAfterWrite
}

// ValidateUpdate refuses the failed task's action once the hook fired: the
// re-run takes another (Temporal hands the task's Updates to the re-run
// again, and re-validates them; a refusal leaves no trace in the history).
func (i *failInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	if in.Name == string(i.h.action) && i.h.fired() {
		return errors.New("test: the re-run refuses the action the failed task took")
	}
	return i.Next.ValidateUpdate(ctx, in)
}

func (i *failInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&failOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, h: i.h})
}

type failOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	h *failAfterWrite
}

func (o *failOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	f := o.Next.ExecuteLocalActivity(ctx, activityType, args...)
	if ch, ok := args[0].(workflows.Change); ok && activityType == workflows.ActivityApplyChange {
		return &failingFuture{Future: f, h: o.h, ch: ch}
	}
	return f
}

type failingFuture struct {
	workflow.Future
	h  *failAfterWrite
	ch workflows.Change
}

func (f *failingFuture) Get(ctx workflow.Context, valuePtr any) error {
	err := f.Future.Get(ctx, valuePtr)
	if err == nil && !workflow.IsReplaying(ctx) && f.h.fire(f.ch) {
		f.h.onWrite()
		panic(errors.New("test: the workflow task fails after ApplyChange wrote"))
	}
	return err
}
