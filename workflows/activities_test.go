package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func clock(h, m int, dayOfMonth int) time.Time {
	return time.Date(2026, 3, dayOfMonth, h, m, 0, 0, time.UTC)
}

// TestActivityRules: what each activity type needs, the fields that belong
// to another type, an email sent through the outbox, and the lead's status
// reason moving to Contacted.
func TestActivityRules(t *testing.T) {
	d := NewDeal(readyLead("act1"), t0)
	if d.Lead.StatusReason != LeadNew {
		t.Fatalf("a new lead is %q", d.Lead.StatusReason)
	}
	due := clock(17, 0, 3)
	refusedWith(t, d, &AddActivity{Type: ActivityTask}, at, RejectInvalid, "subject is required for task")
	refusedWith(t, d, &AddActivity{Type: ActivityNote}, at, RejectInvalid, "description is required for note")
	refusedWith(t, d, &AddActivity{Type: ActivityEmail, ActivityFields: ActivityFields{Subject: sptr("Hi")}}, at, RejectInvalid, "to is required for email")
	refusedWith(t, d, &AddActivity{Type: ActivityAppointment, ActivityFields: ActivityFields{Subject: sptr("Demo"), StartAt: &due}}, at, RejectInvalid, "endAt is required for appointment")
	start, end := clock(10, 0, 4), clock(9, 0, 4)
	refusedWith(t, d, &AddActivity{Type: ActivityAppointment, ActivityFields: ActivityFields{Subject: sptr("Demo"), StartAt: &start, EndAt: &end}}, at, RejectInvalid, "endAt must not be before startAt")
	refusedWith(t, d, &AddActivity{Type: ActivityNote, ActivityFields: ActivityFields{Description: sptr("n"), DueAt: &due}}, at, RejectInvalid, "dueAt applies only to task")
	refusedWith(t, d, &AddActivity{Type: ActivityTask, ActivityFields: ActivityFields{Subject: sptr("t"), Direction: sptr("incoming")}}, at, RejectInvalid, "direction applies only to phone_call")
	if errs := (AddActivity{Type: "fax"}).Validate(); len(errs) != 1 || errs[0].Field != "type" {
		t.Fatalf("type fax: %+v", errs)
	}
	if errs := (AddActivity{Type: ActivityTask, Send: true}).Validate(); len(errs) != 1 || errs[0].Field != "send" {
		t.Fatalf("send a task: %+v", errs)
	}

	// A note and an open task do not contact the customer; a call logged
	// as done does.
	mustApply(t, d, &AddActivity{Type: ActivityNote, ActivityFields: ActivityFields{Description: sptr("met at the fair")}}, at)
	ch := mustApply(t, d, &AddActivity{Type: ActivityTask, ActivityFields: ActivityFields{Subject: sptr("Send the proposal"), DueAt: &due}}, at)
	task := ch.Activities[0]
	if task.ID != "activity-2" || task.Status != ActivityOpen || task.Priority != "normal" || task.Owner != "unknown" || d.Lead.StatusReason != LeadNew {
		t.Fatalf("task %+v, lead %s", task, d.Lead.StatusReason)
	}
	ch = mustApply(t, d, &AddActivity{Type: ActivityPhoneCall, Completed: true, Outcome: "interested",
		ActivityFields: ActivityFields{Subject: sptr("Intro call"), Direction: sptr("outgoing"), PhoneNumber: sptr("+1 555 0100")}}, at)
	if a := ch.Activities[0]; a.Status != ActivityCompleted || a.Outcome != "interested" || d.Lead.StatusReason != LeadContacted || ch.Lead.StatusReason != LeadContacted {
		t.Fatalf("call %+v, lead %s", a, d.Lead.StatusReason)
	}
	if !strings.HasSuffix(ch.Event.Detail, "; lead contacted") {
		t.Errorf("event %q", ch.Event.Detail)
	}

	// An email sent goes to the outbox once, under a key of its own.
	ch = mustApply(t, d, &AddActivity{Type: ActivityEmail, Send: true,
		ActivityFields: ActivityFields{Subject: sptr("Your proposal"), Description: sptr("Attached."), To: sptr("pat@contoso.example")}}, at)
	if len(ch.Messages) != 1 || ch.Messages[0].Key != "act1/activity/activity-4/email" || ch.Messages[0].Recipient != "pat@contoso.example" ||
		ch.Messages[0].Kind != KindActivityEmail || ch.Activities[0].Status != ActivityCompleted || !ch.Activities[0].Sent {
		t.Fatalf("email: %+v %+v", ch.Messages, ch.Activities)
	}

	// Complete, cancel and edit take open activities only.
	mustApply(t, d, &CompleteActivity{ID: "activity-2", Outcome: "sent"}, at)
	refusedWith(t, d, &CompleteActivity{ID: "activity-2"}, at, RejectGate, "activity activity-2 is completed")
	refusedWith(t, d, &EditActivity{ID: "activity-2", ActivityFields: ActivityFields{Subject: sptr("x")}}, at, RejectGate, "is completed")
	refusedWith(t, d, &CancelActivity{ID: "activity-9"}, at, RejectNotFound, "no activity activity-9")
}

// TestActivityRemindersFollowTheDueTime: reminders come from the open tasks
// and appointments, keyed by their due time; editing the due time moves
// them, completing or canceling removes them.
func TestActivityRemindersFollowTheDueTime(t *testing.T) {
	d := NewDeal(readyLead("act2"), t0)
	kinds := func() []Reminder {
		var out []Reminder
		for _, r := range d.Pending() {
			if r.Activity != "" {
				out = append(out, r)
			}
		}
		return out
	}
	dueEarly, due := clock(7, 30, 3), clock(17, 0, 3)
	mustApply(t, d, &AddActivity{Type: ActivityTask, ActivityFields: ActivityFields{Subject: sptr("Call back"), DueAt: &due}}, at)
	mustApply(t, d, &AddActivity{Type: ActivityTask, ActivityFields: ActivityFields{Subject: sptr("Early call"), DueAt: &dueEarly}}, at)
	start, end := clock(10, 0, 4), clock(11, 0, 4)
	mustApply(t, d, &AddActivity{Type: ActivityAppointment, ActivityFields: ActivityFields{Subject: sptr("Demo"), StartAt: &start, EndAt: &end}}, at)
	got := kinds()
	want := []struct {
		kind, activity string
		due            time.Time
	}{
		{KindActivityReminder, "activity-2", clock(6, 30, 3)}, // due before the morning: an hour before
		{KindActivityOverdue, "activity-2", dueEarly},
		{KindActivityReminder, "activity-1", clock(8, 0, 3)}, // the morning of its day
		{KindActivityOverdue, "activity-1", due},
		{KindActivityReminder, "activity-3", clock(9, 0, 4)}, // an hour before it starts
		{KindActivityOverdue, "activity-3", end},             // open after it ended
	}
	if len(got) != len(want) {
		t.Fatalf("reminders %+v", got)
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Activity != w.activity || !got[i].Due.Equal(w.due) {
			t.Errorf("reminder %d: %+v, want %+v", i, got[i], w)
		}
	}
	// The reminder fires once: its message, the flag, the activity written.
	r := got[0]
	ch, ok := d.Fire(r, r.Due)
	if !ok || len(ch.Messages) != 1 || ch.Messages[0].Recipient != "unknown" || !strings.Contains(ch.Messages[0].Subject, `Reminder: task "Early call"`) ||
		len(ch.Activities) != 1 || !ch.Activities[0].Reminded {
		t.Fatalf("fired: %+v", ch)
	}
	if slices.ContainsFunc(kinds(), func(x Reminder) bool { return x.Key == r.Key }) {
		t.Fatal("a reminder sent is still pending")
	}
	// Moving the due time makes new reminders, under new keys.
	later := clock(8, 0, 5)
	mustApply(t, d, &EditActivity{ID: "activity-2", ActivityFields: ActivityFields{DueAt: &later}}, at)
	moved := slices.IndexFunc(kinds(), func(x Reminder) bool { return x.Activity == "activity-2" && x.Kind == KindActivityReminder })
	if moved < 0 || kinds()[moved].Key == r.Key || !kinds()[moved].Due.Equal(clock(7, 0, 5)) {
		t.Fatalf("after the move: %+v", kinds())
	}
	// Completed and canceled activities remind no one.
	mustApply(t, d, &CompleteActivity{ID: "activity-1"}, at)
	mustApply(t, d, &CancelActivity{ID: "activity-3"}, at)
	for _, x := range kinds() {
		if x.Activity != "activity-2" {
			t.Errorf("still pending: %+v", x)
		}
	}
}

// TestActivityRemindersOnTheWorkflow: a task due tomorrow reminds its owner
// once, the morning of its day, through the workflow's own timer; an
// appointment moved by the rep reminds at its new time only; completing a
// task cancels its overdue notice.
func TestActivityRemindersOnTheWorkflow(t *testing.T) {
	s := newScenario(t)
	task, appt, apptEnd := clock(17, 0, 3), clock(10, 0, 4), clock(11, 0, 4)
	moved, movedEnd := clock(10, 0, 5), clock(11, 0, 5)
	elapsed := time.Duration(0)
	until := func(at time.Time) time.Duration { // the step's delay to reach at
		d := at.Sub(t0) - elapsed
		elapsed += d
		return d
	}
	s.do(until(clock(9, 1, 2)), ActAddActivity, AddActivity{Actor: Actor{Actor: "alice@example.com"}, Type: ActivityTask,
		ActivityFields: ActivityFields{Subject: sptr("Send the proposal"), DueAt: &task}}).
		do(until(clock(9, 2, 2)), ActAddActivity, AddActivity{Type: ActivityAppointment,
			ActivityFields: ActivityFields{Subject: sptr("Demo"), Owner: sptr("bob@example.com"), StartAt: &appt, EndAt: &apptEnd}}).
		check(until(clock(12, 0, 3)), func(t *testing.T, v DealView) {
			if a := v.Activities[0]; !a.Reminded || a.OverdueSent {
				t.Errorf("at noon the task's reminder is sent, its overdue notice not: %+v", a)
			}
		}).
		do(until(clock(13, 0, 3)), ActEditActivity, EditActivity{ID: "activity-2", ActivityFields: ActivityFields{StartAt: &moved, EndAt: &movedEnd}}).
		do(until(clock(16, 0, 3)), ActCompleteActivity, CompleteActivity{ID: "activity-1", Outcome: "sent"}).
		check(until(clock(12, 0, 5)), func(t *testing.T, v DealView) {
			if a := v.Activities[1]; !a.Reminded || !a.OverdueSent {
				t.Errorf("the moved appointment reminded and is overdue: %+v", a)
			}
		}).
		do(until(clock(13, 0, 5)), ActDisqualify, Disqualify{Reason: "Lost"})
	s.run(fastLead("act3"))
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got []string
	keys := map[string]bool{}
	for _, c := range s.rec.changes {
		for _, m := range c.Messages {
			if keys[m.Key] {
				t.Errorf("message %s sent twice", m.Key)
			}
			keys[m.Key] = true
			if strings.HasPrefix(m.Kind, "activity_") {
				got = append(got, m.Kind+" "+m.Recipient+" "+c.Event.At.UTC().Format("02 15:04"))
			}
		}
	}
	want := []string{
		"activity_reminder alice@example.com 03 08:00", // the task, the morning of its day
		"activity_reminder bob@example.com 05 09:00",   // the appointment, at its new time only
		"activity_overdue bob@example.com 05 11:00",    // still open when it ended
	}
	if !slices.Equal(got, want) {
		t.Errorf("activity messages\n%v\nwant\n%v", got, want)
	}
}

// TestCloseDate: a deal closes on the day the rep says, not in the future
// and not before it was created; the description is its note.
func TestCloseDate(t *testing.T) {
	d := presented(t)
	future, before := at.Add(48*time.Hour), d.CreatedAt.Add(-48*time.Hour)
	refusedWith(t, d, &Close{Outcome: "won", CloseDate: &future}, at, RejectInvalid, "closeDate must not be in the future")
	refusedWith(t, d, &Close{Outcome: "won", CloseDate: &before}, at, RejectInvalid, "closeDate must not be before the deal was created")
	if errs := (Close{Outcome: "won", Note: "a", Description: "b"}).Validate(); len(errs) != 1 || errs[0].Field != "description" {
		t.Fatalf("note and description: %+v", errs)
	}
	day := d.CreatedAt.Truncate(24 * time.Hour) // the creation day, at midnight
	mustApply(t, d, &Close{Outcome: "won", CloseDate: &day, Description: "signed at the fair"}, at)
	o := d.Opportunity
	if !o.ActualCloseDate.Equal(day) || !o.ClosedAt.Equal(at) || o.CloseNote != "signed at the fair" {
		t.Fatalf("closed: actual %v at %v note %q", o.ActualCloseDate, o.ClosedAt, o.CloseNote)
	}
}

// TestQualifyLinksRecordsOnFile: qualify can name the account and the
// contact already on file (how a possible duplicate is resolved), and
// records a duplicate allowed on the timeline.
func TestQualifyLinksRecordsOnFile(t *testing.T) {
	in := readyLead("q-link")
	in.Lead.Company = ""
	d := NewDeal(in, t0)
	refusedWith(t, d, &Qualify{}, at, RejectGate, "company or existing account")
	ch := mustApply(t, d, &Qualify{ExistingAccountID: "ACC-9", ExistingContactID: "CON-9", AllowDuplicate: true}, at)
	if ch.Qualify.AccountID != "ACC-9" || ch.Qualify.ContactID != "CON-9" || d.Lead.ExistingContactID != "CON-9" ||
		!strings.HasSuffix(ch.Event.Detail, "(possible duplicates allowed)") {
		t.Fatalf("qualify: %+v, event %q", ch.Qualify, ch.Event.Detail)
	}
	dup := readyLead("q-dup")
	dup.AllowDuplicate = true
	if ev := NewDeal(dup, t0).Created("", t0).Event; !strings.HasSuffix(ev.Detail, "(possible duplicates allowed)") {
		t.Fatalf("created: %q", ev.Detail)
	}
}

// TestActivitiesEndWithTheDeal: activities still open when the deal's
// workflow ends are canceled on its timeline (no to-do list keeps them);
// a note is complete as written; an outcome needs a completed activity;
// a disqualified lead has no open-lead reason, and gets it back when
// reactivated.
func TestActivitiesEndWithTheDeal(t *testing.T) {
	d := NewDeal(readyLead("act-end"), t0)
	if errs := (AddActivity{Type: ActivityTask, Outcome: "done"}).Validate(); len(errs) != 1 || errs[0].Field != "outcome" {
		t.Fatalf("outcome of an open task: %+v", errs)
	}
	ch := mustApply(t, d, &AddActivity{Type: ActivityNote, ActivityFields: ActivityFields{Description: sptr("called twice, no answer " + strings.Repeat("x", 80))}}, at)
	if ch.Activities[0].Status != ActivityCompleted || !strings.HasSuffix(ch.Event.Detail, "…") {
		t.Fatalf("note %+v event %q", ch.Activities[0], ch.Event.Detail)
	}
	mustApply(t, d, &AddActivity{Type: ActivityPhoneCall, Completed: true, ActivityFields: ActivityFields{Subject: sptr("Intro")}}, at)
	mustApply(t, d, &AddActivity{Type: ActivityPhoneCall, ActivityFields: ActivityFields{Subject: sptr("Follow up")}}, at)
	mustApply(t, d, &Disqualify{Reason: "Lost"}, at)
	if d.Lead.StatusReason != "" {
		t.Fatalf("disqualified lead reason %q", d.Lead.StatusReason)
	}
	mustApply(t, d, &Reactivate{}, at)
	if d.Lead.StatusReason != LeadContacted {
		t.Fatalf("reactivated lead reason %q", d.Lead.StatusReason)
	}
	ch, ok := d.EndActivities(at)
	if !ok || len(ch.Activities) != 1 || ch.Activities[0].ID != "activity-3" || ch.Activities[0].Status != ActivityCanceled || ch.Event.Actor != "system" {
		t.Fatalf("end: %v %+v", ok, ch)
	}
	if _, ok := d.EndActivities(at); ok {
		t.Fatal("nothing left to end, yet a change")
	}
}
