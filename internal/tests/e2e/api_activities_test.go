package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestAPIActivities: a rep's activities through the API only. A completed
// call makes the new lead Contacted; a task due tomorrow is in the week's
// to-do list and waits on its reminder (08:00 UTC of its due day, or an
// hour before when that is earlier) until it is completed; an email sent
// from the deal is one message in the outbox however often the request is
// repeated; the deal closes as won on the day the rep says, not one in the
// future nor before the deal was created.
func TestAPIActivities(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	id := apiNewID("activities")
	base := "/v1/leads/" + id
	created := rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "E2E activities")).must(t, 201, "create lead")
	if created.str("lead.statusReason") != "New" {
		t.Errorf("new lead's status reason %q", created.str("lead.statusReason"))
	}

	// A call that took place: the lead is Contacted.
	rep.do(http.MethodPost, base+"/activities", map[string]any{"type": "phone_call", "subject": "Intro call",
		"direction": "outgoing", "phoneNumber": "+1 555 0100", "completed": true, "outcome": "wants a demo"}).must(t, 200, "log a call")
	d := rep.do(http.MethodGet, base, nil).must(t, 200, "deal after the call")
	if d.str("lead.statusReason") != "Contacted" || d.str("activities.0.status") != "completed" {
		t.Fatalf("after a completed call: %s", d.Raw)
	}

	// A task due tomorrow afternoon, and one due tomorrow before 08:00.
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	due, early := tomorrow.Add(15*time.Hour), tomorrow.Add(7*time.Hour+30*time.Minute)
	taskID := rep.do(http.MethodPost, base+"/activities", map[string]any{"type": "task", "subject": "Send the proposal",
		"dueAt": due.Format(time.RFC3339), "priority": "high"}).must(t, 200, "add a task").str("id")
	earlyID := rep.do(http.MethodPost, base+"/activities", map[string]any{"type": "task", "subject": "Call before the stand-up",
		"dueAt": early.Format(time.RFC3339)}).must(t, 200, "add an early task").str("id")

	week := rep.do(http.MethodGet, "/v1/activities?due=week", nil).must(t, 200, "the week's to-do list")
	found := false
	for i := range week.len("items") {
		p := "items." + itoa(i)
		if week.str(p+".leadId") == id && week.str(p+".id") == taskID {
			found = week.str(p+".subject") == "Send the proposal" && week.str(p+".status") == "open"
		}
	}
	if !found {
		t.Errorf("the task is not in the week's to-do list: %s", week.Raw)
	}
	rep.do(http.MethodGet, "/v1/activities?owner=manager@example.com", nil).must(t, 403, "a rep reads the manager's list")

	reminders := func(what string) map[string]time.Time { // activity/kind: due
		t.Helper()
		d := rep.do(http.MethodGet, base, nil).must(t, 200, what)
		out := map[string]time.Time{}
		for i := range d.len("pendingReminders") {
			p := "pendingReminders." + itoa(i)
			if a := d.str(p + ".activity"); a != "" {
				at, err := time.Parse(time.RFC3339Nano, d.str(p+".due"))
				if err != nil {
					t.Fatalf("%s: reminder due %q: %v", what, d.str(p+".due"), err)
				}
				out[a+"/"+d.str(p+".kind")] = at
			}
		}
		return out
	}
	pending := reminders("deal with two tasks")
	for key, want := range map[string]time.Time{
		taskID + "/activity_reminder":  tomorrow.Add(8 * time.Hour), // the morning of its day
		taskID + "/activity_overdue":   due,
		earlyID + "/activity_reminder": early.Add(-time.Hour), // before 08:00: an hour before
		earlyID + "/activity_overdue":  early,
	} {
		if got, ok := pending[key]; !ok || !got.Equal(want) {
			t.Errorf("pending %s at %v, want %v (pending: %v)", key, got, want, pending)
		}
	}

	// Completing one and canceling the other takes their reminders away.
	rep.do(http.MethodPost, base+"/activities/"+taskID+"/complete", map[string]any{"outcome": "sent"}).must(t, 200, "complete the task")
	rep.do(http.MethodPost, base+"/activities/"+earlyID+"/cancel", nil).must(t, 200, "cancel the early task")
	if pending := reminders("deal with the tasks done"); len(pending) != 0 {
		t.Errorf("reminders left after completing and canceling: %v", pending)
	}
	rep.do(http.MethodPost, base+"/activities/"+taskID+"/complete", nil).must(t, 409, "complete it again")

	// An email sent from the deal: one message, also when the request is repeated.
	email := map[string]any{"type": "email", "subject": "Our proposal", "to": id + "@example.com",
		"description": "Dear Grace, please find our proposal.", "send": true}
	first := rep.do(http.MethodPost, base+"/activities", email, "Idempotency-Key: email-1").must(t, 200, "send an email")
	again := rep.do(http.MethodPost, base+"/activities", email, "Idempotency-Key: email-1").must(t, 200, "send it again")
	if first.str("id") != again.str("id") {
		t.Errorf("a repeated send made another activity: %s, %s", first.Raw, again.Raw)
	}
	pool, err := pgxpool.New(context.Background(), stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	var recipient, subject string
	if err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(max(recipient), ''), coalesce(max(subject), '') FROM messages
		WHERE lead_id = $1 AND kind = 'activity_email'`, id).Scan(&n, &recipient, &subject); err != nil {
		t.Fatal(err)
	}
	if n != 1 || recipient != id+"@example.com" || subject != "Our proposal" {
		t.Errorf("activity_email messages: %d to %q about %q, want one", n, recipient, subject)
	}
	acts := rep.do(http.MethodGet, base+"/activities", nil).must(t, 200, "the deal's activities")
	if acts.len("items") != 4 || acts.str("items.0.id") != first.str("id") || acts.str("items.0.sent") != "true" ||
		acts.str("items.0.status") != "completed" {
		t.Errorf("the deal's activities, newest first: %s", acts.Raw)
	}
	var openRows int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM activities WHERE lead_id = $1 AND status = 'open'`, id).Scan(&openRows); err != nil || openRows != 0 {
		t.Errorf("%d open activity rows (%v), want none", openRows, err)
	}

	// Close as won on the day it happened: not in the future, not before
	// the deal was created.
	rep.do(http.MethodPost, base+"/qualify", nil).must(t, 200, "qualify")
	developToClose(t, rep, id)
	createdAt, err := time.Parse(time.RFC3339Nano, created.str("createdAt"))
	if err != nil {
		t.Fatal(err)
	}
	createdDay := createdAt.UTC().Truncate(24 * time.Hour)
	rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "won",
		"closeDate": time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)}).must(t, 422, "close in the future")
	rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "won",
		"closeDate": createdDay.Add(-time.Hour).Format(time.RFC3339)}).must(t, 422, "close before the deal was created")
	closeDate := createdDay // the deal's first day, at 00:00 UTC
	rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "won", "closeDate": closeDate.Format(time.RFC3339),
		"description": "signed at the trade show"}).must(t, 200, "close won")
	d = rep.do(http.MethodGet, base, nil).must(t, 200, "won deal")
	acd, err := time.Parse(time.RFC3339Nano, d.str("opportunity.actualCloseDate"))
	if err != nil || !acd.Equal(closeDate) || d.str("opportunity.closeNote") != "signed at the trade show" || d.str("status") != "won" {
		t.Errorf("won deal: actualCloseDate %q (%v): %s", d.str("opportunity.actualCloseDate"), err, d.Raw)
	}
	var pgDate time.Time
	if err := pool.QueryRow(context.Background(), `SELECT actual_close_date FROM opportunities WHERE lead_id = $1`, id).Scan(&pgDate); err != nil || !pgDate.Equal(closeDate) {
		t.Errorf("actual_close_date %v (%v), want %v", pgDate, err, closeDate)
	}
}
