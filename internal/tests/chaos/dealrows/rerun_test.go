package dealrows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"dealflow/activities"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// TestRerunConverges is a workflow task that fails after its local
// ApplyChange wrote, at every step of paidDeal: the failed task's step is
// written, the state goes back to before it (as Temporal runs the task
// again from the last completed one), and the re-run takes another step —
// a refusal, an activity, or the same step an hour later. Every row the deal
// owns must then be the re-run's state, column by column: nothing the
// failed task wrote may outlive it (a quote, an order, an account it
// created, a message not sent, …).
func TestRerunConverges(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	acts := activities.New(pool, nil, nil)
	apply := func(ch workflows.Change) workflows.ChangeResult {
		res, err := acts.ApplyChange(ctx, ch)
		if err != nil {
			t.Fatalf("apply %s of %s: %v", ch.Event.Action, ch.Deal.ID, err)
		}
		return res
	}
	reruns := []struct {
		name string
		take func(s *stepper, failed func())
	}{
		{"refused", func(s *stepper, _ func()) { s.refuse(workflows.ActReopen, "reopen is not allowed here") }},
		{"activity", func(s *stepper, _ func()) {
			s.do(&workflows.AddActivity{Actor: workflows.Actor{Actor: "rep@example.com"}, Type: workflows.ActivityNote,
				ActivityFields: workflows.ActivityFields{Description: strp("re-run")}})
		}},
		{"later", func(s *stepper, failed func()) { s.now = s.now.Add(time.Hour); failed() }},
	}
	n := len(paidSteps(newDeal(t, "rerun-count", apply, lead)))
	compared := 0
	for k := range n {
		for _, rr := range reruns {
			id := fmt.Sprintf("rerun-%02d-%s", k, rr.name)
			s := newDeal(t, id, apply, lead)
			steps := paidSteps(s)
			for _, step := range steps[:k] {
				step()
			}
			before, at := s.d.Clone(), s.now
			steps[k]() // the failed task's write
			s.d, s.now = before, at
			rr.take(s, steps[k])
			got, err := Load(ctx, pool, id)
			if err != nil {
				t.Fatal(err)
			}
			want := Want(s.d)
			if diffs := Diff(want, got); len(diffs) > 0 {
				t.Errorf("step %d failed after its write, re-run %s: PostgreSQL differs from the state:\n  %s",
					k, rr.name, joinDiffs(diffs))
			}
			compared += want.Len()
		}
	}
	t.Logf("%d steps × %d re-runs, %d rows compared", n, len(reruns), compared)
}
