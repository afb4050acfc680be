package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// writeActivityDeal writes a new deal of owner and the steps cmds take it through
// (at now, a minute apart) with the worker's ApplyChange, as its workflow
// would, and returns the deal.
func writeActivityDeal(t *testing.T, e *env, id, owner string, now time.Time, cmds ...workflows.Command) *workflows.Deal {
	t.Helper()
	ctx := context.Background()
	d := workflows.NewDeal(workflows.NewLead{ID: id, Owner: owner, Currency: "EUR",
		Lead: workflows.LeadFields{Topic: "Topic of " + id, Company: "Acme " + id}}, now)
	if _, err := store.ApplyChange(ctx, e.pool, d.Created(owner, now)); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		now = now.Add(time.Minute)
		ch, _, err := d.Apply(cmd, now)
		if err != nil {
			t.Fatalf("%s: %v", cmd.Action(), err)
		}
		if _, err := store.ApplyChange(ctx, e.pool, ch); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// task is an AddActivity of a task due at due, owned by owner.
func task(by, owner, subject string, due time.Time) *workflows.AddActivity {
	return &workflows.AddActivity{Actor: workflows.Actor{Actor: by}, Type: workflows.ActivityTask,
		ActivityFields: workflows.ActivityFields{Subject: &subject, Owner: &owner, DueAt: &due}}
}

// subjects lists the subjects of a list's items, in order.
func subjects(r resp) []string {
	var out []string
	for _, it := range r.list("items") {
		out = append(out, it.(map[string]any)["subject"].(string))
	}
	return out
}

// TestActivityToDoList: GET /v1/activities selects the owner's activities
// by status and by due window, on the server's clock, soonest first, page
// by page; reps ask for themselves only.
func TestActivityToDoList(t *testing.T) {
	e := newCatalogEnv(t)
	e.repB = e.user("b@example.com", "rep")
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	clock := &stepClock{now: now}
	e.cfg.Now = clock.Now
	e.setTimeout(0)

	a, b := "a@example.com", "b@example.com"
	day := 24 * time.Hour
	start, end := now.Add(day-2*time.Hour), now.Add(day-time.Hour) // tomorrow 10:00
	writeActivityDeal(t, e, "deal-a", a, now.Add(-10*day),
		task(a, a, "yesterday", now.Add(-day)),
		task(a, a, "this morning", now.Add(-3*time.Hour)),
		task(a, a, "tonight", now.Add(6*time.Hour)),
		task(a, a, "in 3 days", now.Add(3*day)),
		task(a, a, "in 10 days", now.Add(10*day)),
		&workflows.AddActivity{Actor: workflows.Actor{Actor: a}, Type: workflows.ActivityAppointment,
			ActivityFields: workflows.ActivityFields{Subject: new("demo tomorrow"), StartAt: &start, EndAt: &end}},
		&workflows.AddActivity{Actor: workflows.Actor{Actor: a}, Type: workflows.ActivityPhoneCall,
			ActivityFields: workflows.ActivityFields{Subject: new("call, no due time")}},
		task(a, a, "done", now.Add(time.Hour)),
		&workflows.CompleteActivity{Actor: workflows.Actor{Actor: a}, ID: "activity-8"},
		task(a, b, "b's on a's deal", now.Add(time.Hour)))
	// a owns a task on b's deal, which a may not see: it is a's to do.
	writeActivityDeal(t, e, "deal-b", b, now.Add(-10*day), task(b, a, "on b's deal", now.Add(2*day)),
		&workflows.AddActivity{Actor: workflows.Actor{Actor: b}, Type: workflows.ActivityPhoneCall,
			ActivityFields: workflows.ActivityFields{Subject: new("call on b's deal"), Owner: &a}})

	get := func(token, query string) resp {
		t.Helper()
		return e.do("GET", "/v1/activities"+query, token, nil)
	}
	// Soonest due first; those due at no time last (by deal and id).
	all := []string{"yesterday", "this morning", "tonight", "demo tomorrow", "on b's deal", "in 3 days", "in 10 days",
		"call, no due time", "call on b's deal"}
	cases := []struct {
		query string
		want  []string
	}{
		{"", all},
		{"?owner=me&status=open", all},
		{"?owner=A@Example.com", all},
		{"?due=overdue", []string{"yesterday", "this morning"}},
		{"?due=today", []string{"this morning", "tonight"}},
		{"?due=week", []string{"tonight", "demo tomorrow", "on b's deal", "in 3 days"}},
		{"?status=completed", []string{"done"}},
		{"?status=canceled", nil},
	}
	for _, c := range cases {
		r := get(e.repA, c.query)
		if r.code != http.StatusOK || !slices.Equal(subjects(r), c.want) {
			t.Errorf("GET /v1/activities%s: %d %v, want %v: %s", c.query, r.code, subjects(r), c.want, r.raw)
		}
	}
	r := get(e.repA, "?due=week")
	if it := r.list("items")[2].(map[string]any); it["leadId"] != "deal-b" || it["topic"] != "Topic of deal-b" ||
		it["owner"] != a || it["type"] != "task" || it["status"] != "open" {
		t.Errorf("an item of the list: %v", it)
	}

	// Tomorrow at noon: tonight's task and the demo of 10:00 are overdue,
	// the demo is today's, and 10 days (from yesterday) are still too far.
	clock.step(day)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?due=overdue", []string{"yesterday", "this morning", "tonight", "demo tomorrow"}},
		{"?due=today", []string{"demo tomorrow"}},
		{"?due=week", []string{"on b's deal", "in 3 days"}},
	} {
		if r := get(e.repA, c.query); !slices.Equal(subjects(r), c.want) {
			t.Errorf("tomorrow, GET /v1/activities%s: %v, want %v: %s", c.query, subjects(r), c.want, r.raw)
		}
	}

	// Pages of one, in the same order (a cursor after a time, and after
	// none).
	var paged []string
	query := "?limit=1"
	for range 20 {
		r := get(e.repA, query)
		if r.code != http.StatusOK || len(r.list("items")) > 1 {
			t.Fatalf("page %s: %d %s", query, r.code, r.raw)
		}
		paged = append(paged, subjects(r)...)
		next := r.str("nextCursor")
		if next == "" {
			break
		}
		query = "?limit=1&cursor=" + next
	}
	if !slices.Equal(paged, all) {
		t.Errorf("pages %v, want %v", paged, all)
	}

	// Reps ask for themselves only; managers for anyone.
	wantProblem(t, get(e.repA, "?owner=b@example.com"), 403, "forbidden")
	if r := get(e.mgr, "?owner=b@example.com"); r.code != 200 || !slices.Equal(subjects(r), []string{"b's on a's deal"}) {
		t.Errorf("a manager's view of b's list: %d %s", r.code, r.raw)
	}
	if r := get(e.mgr, ""); r.code != 200 || len(r.list("items")) != 0 {
		t.Errorf("the manager's own list: %d %s", r.code, r.raw)
	}
	r = get(e.repA, "?due=soon&status=done&limit=0&cursor=x&sort=due")
	wantFields(t, r, "sort", "status", "due", "cursor", "limit")
}

// TestLeadActivities: GET /v1/leads/{id}/activities lists the deal's
// activities newest first, to whoever may see the deal.
func TestLeadActivities(t *testing.T) {
	e := newCatalogEnv(t)
	e.repB = e.user("b@example.com", "rep")
	now := time.Now().UTC()
	a := "a@example.com"
	writeActivityDeal(t, e, "deal-a", a, now,
		task(a, a, "first", now.Add(time.Hour)),
		&workflows.AddActivity{Actor: workflows.Actor{Actor: a}, Type: workflows.ActivityNote,
			ActivityFields: workflows.ActivityFields{Description: new("second")}},
		&workflows.AddActivity{Actor: workflows.Actor{Actor: a}, Type: workflows.ActivityEmail, Send: true,
			ActivityFields: workflows.ActivityFields{Subject: new("third"), To: new("ada@example.com")}})
	for _, token := range []string{e.repA, e.mgr} {
		r := e.do("GET", "/v1/leads/deal-a/activities", token, nil)
		if r.code != 200 || r.str("leadId") != "deal-a" || len(r.list("items")) != 3 ||
			r.str("items.0.subject") != "third" || r.str("items.0.sent") != "true" || r.str("items.0.status") != "completed" ||
			r.str("items.1.description") != "second" || r.str("items.2.subject") != "first" || r.str("items.2.priority") != "normal" {
			t.Errorf("activities of deal-a: %d %s", r.code, r.raw)
		}
	}
	wantProblem(t, e.do("GET", "/v1/leads/deal-a/activities", e.repB, nil), 404, "not-found")
	wantProblem(t, e.do("GET", "/v1/leads/nope/activities", e.mgr, nil), 404, "not-found")
	wantFields(t, e.do("GET", "/v1/leads/deal-a/activities?limit=1", e.repA, nil), "limit")
}

// An activity's owner, when given, must be a user, named as the users
// table does: refused (422) before the deal's workflow is asked.
func TestActivityOwnerIsAUser(t *testing.T) {
	e := newCatalogEnv(t)
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/leads/deal-a/activities"},
		{"PATCH", "/v1/leads/deal-a/activities/activity-1"},
	} {
		body := map[string]any{"owner": "nobody@example.com"}
		if c.method == "POST" {
			body["type"], body["subject"] = "task", "call back"
		}
		r := e.do(c.method, c.path, e.repA, body)
		wantFields(t, r, "owner")
		if !strings.Contains(r.raw, "is not a user") {
			t.Errorf("%s %s: %s", c.method, c.path, r.raw)
		}
	}
}

// TestActivityActions: the four activity routes of workflows.Specs run
// their Updates; the deal and PostgreSQL show the outcome.
func TestActivityActions(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "acts")
	base := "/v1/leads/acts"
	call := e.act(e.repA, "POST", base+"/activities", map[string]any{"type": "phone_call", "subject": "First call",
		"direction": "outgoing", "completed": true, "outcome": "interested"})
	if !strings.Contains(call.str("message"), "lead contacted") {
		t.Errorf("completed call: %s", call.raw)
	}
	due := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Second)
	tk := e.act(e.repA, "POST", base+"/activities", map[string]any{"type": "task", "subject": "Send the offer",
		"dueAt": due, "owner": "B@Example.com"})
	id := tk.str("id")
	later := due.Add(time.Hour)
	e.act(e.repA, "PATCH", base+"/activities/"+id, map[string]any{"dueAt": later, "priority": "high"})
	e.act(e.repA, "POST", base+"/activities/"+id+"/complete", map[string]any{"outcome": "sent"})
	wantProblem(t, e.do("POST", base+"/activities/"+id+"/cancel", e.repA, nil), 409, "gate-not-met")
	note := e.act(e.repA, "POST", base+"/activities", map[string]any{"type": "note", "description": "likes tea"})
	if note.str("message") == "" || !strings.Contains(note.raw, note.str("id")) {
		t.Errorf("note: %s", note.raw)
	}
	callBack := e.act(e.repA, "POST", base+"/activities", map[string]any{"type": "phone_call", "subject": "Call back"}).str("id")
	e.act(e.repA, "POST", base+"/activities/"+callBack+"/cancel", nil)
	wantProblem(t, e.do("POST", base+"/activities/activity-99/complete", e.repA, nil), 404, "not-found")
	wantFields(t, e.do("POST", base+"/activities", e.repA, map[string]any{"type": "task"}), "subject")

	d := e.do("GET", base, e.repA, nil)
	if d.str("lead.statusReason") != "Contacted" || d.str("activities.1.owner") != "b@example.com" ||
		d.str("activities.1.status") != "completed" || d.str("activities.1.priority") != "high" ||
		d.str("activities.2.status") != "completed" || d.str("activities.3.status") != "canceled" {
		t.Errorf("the deal: %s", d.raw)
	}
	r := e.do("GET", base+"/activities", e.repA, nil)
	if r.code != 200 || len(r.list("items")) != 4 || r.str("items.2.id") != id || r.str("items.2.outcome") != "sent" ||
		r.str("items.2.dueAt") != later.Format(time.RFC3339) || r.str("items.2.completedAt") == "" {
		t.Errorf("activities of the deal: %d %s", r.code, r.raw)
	}
	var reason string
	if err := e.pool.QueryRow(context.Background(), `SELECT status_reason FROM leads WHERE id = 'acts'`).Scan(&reason); err != nil || reason != "Contacted" {
		t.Errorf("status_reason %q (%v)", reason, err)
	}
}
