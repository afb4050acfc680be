package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// activityDeal steps a new deal through activities of every type, writing
// each step with ApplyChange twice (as a retry does); apply is called with
// every Change.
type activityDeal struct {
	t     *testing.T
	d     *workflows.Deal
	now   time.Time
	apply func(workflows.Change)
}

func newActivityDeal(t *testing.T, id, owner string, at time.Time, apply func(workflows.Change)) *activityDeal {
	t.Helper()
	a := &activityDeal{t: t, now: at, apply: apply}
	a.d = workflows.NewDeal(workflows.NewLead{ID: id, Owner: owner, Currency: "EUR",
		Lead: workflows.LeadFields{Topic: "Activities of " + id, Company: "Acme " + id, Email: id + "@example.com"}}, at)
	apply(a.d.Created(owner, at))
	return a
}

func (a *activityDeal) do(cmd workflows.Command) workflows.Result {
	a.t.Helper()
	a.now = a.now.Add(time.Minute + 789*time.Nanosecond) // workflow time has nanoseconds
	ch, res, err := a.d.Apply(cmd, a.now)
	if err != nil {
		a.t.Fatalf("%s: %v", cmd.Action(), err)
	}
	a.apply(ch)
	return res
}

// ApplyChange writes every field of every activity, the lead's status
// reason and the opportunity's actual close date; writing a Change again
// changes no row.
func TestApplyChangeActivities(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	snapshot := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(a::text, E'\n' ORDER BY lead_id, id), '') ||
			coalesce((SELECT string_agg(l.status_reason || ' ' || l.updated_at::text, ',') FROM leads l), '')
			FROM activities a`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	apply := func(ch workflows.Change) {
		t.Helper()
		for i := range 2 {
			before := snapshot()
			if _, err := store.ApplyChange(ctx, pool, ch); err != nil {
				t.Fatalf("apply %s (write %d): %v", ch.Event.Action, i+1, err)
			}
			if after := snapshot(); i == 1 && after != before {
				t.Fatalf("writing %s again changed the rows:\n%s\nto\n%s", ch.Event.Action, before, after)
			}
		}
	}
	t0 := time.Date(2026, 5, 4, 9, 30, 0, 123456789, time.UTC)
	a := newActivityDeal(t, "act-1", "rep@example.com", t0, apply)
	leadStatus := func() (reason string) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT status_reason FROM leads WHERE id = 'act-1'`).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		return reason
	}
	if got := leadStatus(); got != workflows.LeadNew {
		t.Fatalf("new lead's status reason %q", got)
	}

	rep := workflows.Actor{Actor: "rep@example.com"}
	due := t0.Add(26 * time.Hour)
	start, end := t0.Add(50*time.Hour), t0.Add(51*time.Hour)
	a.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityPhoneCall, Completed: true, Outcome: "call back in May",
		ActivityFields: workflows.ActivityFields{Subject: ptr("First call"), Direction: ptr("outgoing"), PhoneNumber: ptr("+44 20 7946 0000")}})
	if got := leadStatus(); got != workflows.LeadContacted {
		t.Errorf("status reason after a completed call %q, want Contacted", got)
	}
	task := a.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityTask,
		ActivityFields: workflows.ActivityFields{Subject: ptr("Send the brochure"), DueAt: &due, Priority: ptr("high"),
			Owner: ptr("other@example.com"), Description: ptr("the blue one")}})
	a.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityAppointment,
		ActivityFields: workflows.ActivityFields{Subject: ptr("Demo"), StartAt: &start, EndAt: &end, Location: ptr("Room 1"),
			Attendees: &[]string{"ada@example.com", "Charles Babbage"}}})
	a.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityEmail, Send: true,
		ActivityFields: workflows.ActivityFields{Subject: ptr("Hello"), To: ptr("ada@example.com"), Description: ptr("Dear Ada")}})
	a.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityNote, ActivityFields: workflows.ActivityFields{Description: ptr("likes tea")}})
	a.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityPhoneCall, ActivityFields: workflows.ActivityFields{Subject: ptr("Call back")}})
	call := a.d.Activities[len(a.d.Activities)-1].ID
	later := due.Add(24 * time.Hour)
	a.do(&workflows.EditActivity{Actor: rep, ID: task.ID, ActivityFields: workflows.ActivityFields{DueAt: &later}})
	a.do(&workflows.CompleteActivity{Actor: rep, ID: task.ID, Outcome: "sent"})
	a.do(&workflows.CancelActivity{Actor: rep, ID: call})

	got, err := store.LeadActivities(ctx, pool, "act-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(a.d.Activities) {
		t.Fatalf("%d activities read, the deal has %d", len(got), len(a.d.Activities))
	}
	for i, g := range got {
		// Newest first.
		w := a.d.Activities[len(a.d.Activities)-1-i]
		w.Reminded, w.OverdueSent = false, false // not columns
		if g.LeadID != "act-1" || g.Topic != "Activities of act-1" || g.Customer != a.d.Customer() {
			t.Errorf("activity %s: deal %q %q %q", g.ID, g.LeadID, g.Topic, g.Customer)
		}
		if !reflect.DeepEqual(normalize(g.Activity), normalize(w)) {
			t.Errorf("activity %s read back as\n  %+v\nwant\n  %+v", w.ID, normalize(g.Activity), normalize(w))
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE lead_id = 'act-1' AND kind = $1`, workflows.KindActivityEmail).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d activity_email messages (%v), want 1", n, err)
	}

	// The opportunity's actual close date, as written by a close.
	closed := t0.Add(-48 * time.Hour)
	ch := a.d.Created("rep@example.com", a.now) // a header and a lead to carry it
	ch.Event = workflows.Event{}
	ch.Opportunity = &workflows.Opportunity{ID: "OPP-act-1", Name: "x", Status: "Won", ClosedAt: &a.now, ActualCloseDate: &closed}
	apply(ch)
	var acd *time.Time
	if err := pool.QueryRow(ctx, `SELECT actual_close_date FROM opportunities WHERE lead_id = 'act-1'`).Scan(&acd); err != nil {
		t.Fatal(err)
	}
	if acd == nil || !acd.Equal(closed.Truncate(time.Microsecond)) {
		t.Errorf("actual_close_date %v, want %v", acd, closed)
	}
}

// normalize is an activity as PostgreSQL gives it back: times in UTC to the
// microsecond.
func normalize(a workflows.Activity) workflows.Activity {
	tm := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC().Truncate(time.Microsecond)
		return &u
	}
	a.CreatedAt = *tm(&a.CreatedAt)
	a.DueAt, a.StartAt, a.EndAt, a.CompletedAt, a.CanceledAt = tm(a.DueAt), tm(a.StartAt), tm(a.EndAt), tm(a.CompletedAt), tm(a.CanceledAt)
	return a
}

// Migration 00005's Down removes its table and columns; up again works.
func TestMigrationActivities(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testenv.Database(t))
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateTo(ctx, pool, 4); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM information_schema.tables WHERE table_name = 'activities') +
		(SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND
			(table_name, column_name) IN (('leads', 'status_reason'), ('opportunities', 'actual_close_date')))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tables and columns of 00005 left after its Down", n)
	}
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
