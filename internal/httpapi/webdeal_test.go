package httpapi_test

import (
	"net/url"
	"strings"
	"testing"
)

// form is a page's form input with its CSRF token and idempotency key.
func formOf(t *testing.T, p page, kv ...string) url.Values {
	t.Helper()
	v := url.Values{"csrf": {p.csrf(t)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestWebDealFlow takes a lead from the new-lead form to Paid through the
// deal page's forms, against a real Temporal: the refusals show the
// problem next to their form with the input kept, another rep gets the 404
// page, and the XSS topic stays text.
func TestWebDealFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := newBrowser(t, e)
	a.signIn("a@example.com", e.repA)

	// The new-lead form: a refusal keeps the input, with the reason by the field.
	p := a.get("/leads/new")
	p.want(t, 200, `<form id="new-lead"`, `name="topic"`, `name="decisionMakerIdentified"`, `name="currency"`)
	r := a.post("/leads", formOf(t, p, "topic", "", "company", "Kept & Co", "email", "not-an-email", "key", "k1"))
	r.want(t, 422, `class="problem"`, `value="Kept &amp; Co"`, "is required", "is not a valid email address")

	xss := "<script>alert(1)</script>"
	r = a.post("/leads", formOf(t, p, "topic", xss, "firstName", "Ada", "lastName", "Park", "company", "Webco",
		"email", "ada@webco.example", "source", "Web", "currency", "EUR", "key", "k2"))
	if r.code != 303 || !strings.HasPrefix(r.header.Get("Location"), "/deals/") {
		t.Fatalf("create: %d %s %.500s", r.code, r.header.Get("Location"), r.body)
	}
	deal := r.header.Get("Location")
	// The same form sent again is the same lead.
	a.post("/leads", formOf(t, p, "topic", xss, "firstName", "Ada", "lastName", "Park", "company", "Webco",
		"email", "ada@webco.example", "source", "Web", "currency", "EUR", "key", "k2")).location(t, 303, deal)

	p = a.get(deal)
	p.want(t, 200, `id="stage-bar"`, `<li class="stage current" aria-current="step">Qualify</li>`,
		`<ul id="missing">`, "<li>budget</li>", "<li>purchase timeframe</li>", `id="next-step"`,
		"&lt;script&gt;alert(1)&lt;/script&gt;", `data-action="qualify"`, `data-action="edit_lead"`, `data-action="add_activity"`,
		`id="timeline"`, `id="reminders"`, `<span class="kind">Lead reminder</span>`, `<dt>Budget</dt><dd class="amount"></dd>`)
	if strings.Contains(p.body, "lead_reminder") || strings.Contains(p.body, "0.00 EUR") {
		t.Error("a raw kind, or an unset budget as 0.00")
	}
	if strings.Contains(p.body, xss) || strings.Contains(p.body, `data-action="close"`) || strings.Contains(p.body, `data-action="assign"`) {
		t.Fatal("the topic is not escaped, or actions the stage does not allow are offered")
	}
	// Qualifying too early: 409, the message next to the form, the input kept.
	r = a.post(deal+"/actions/qualify", formOf(t, p, "estimatedCloseDate", "2027-01-31"))
	r.want(t, 409, `class="problem"`, "cannot qualify: missing", `value="2027-01-31"`)
	// Without the CSRF token: 403, nothing done.
	a.post(deal+"/actions/qualify", url.Values{"estimatedCloseDate": {"2027-01-31"}}).want(t, 403, `class="problem"`)

	// Another rep: the same 404 page as a missing deal.
	b := newBrowser(t, e)
	b.signIn("b@example.com", e.repB)
	other := b.get(deal)
	other.want(t, 404, "not-found")
	missing := b.get("/deals/no-such-deal")
	missing.want(t, 404, "not-found")
	if strings.Contains(other.body, "Webco") {
		t.Fatal("the 404 page shows the deal")
	}
	b.post(deal+"/actions/disqualify", formOf(t, other, "reason", "Lost")).want(t, 404, "not-found")

	steps := []struct {
		action string
		kv     []string
	}{
		{"edit_lead", []string{"topic", xss, "budget", "5000", "purchaseTimeframe", "This Quarter", "decisionMakerIdentified", "false", "decisionMakerIdentified", "on"}},
		{"qualify", []string{"estimatedCloseDate", "2027-01-31"}},
		{"edit_opportunity", []string{"customerNeed", "Faster widgets", "proposedSolution", "Widget Pro"}},
		{"add_stakeholder", []string{"name", "Ada Park", "role", "Champion"}},
		{"add_line", []string{"product", "Widget", "quantity", "4", "unitPrice", "250.25"}},
	}
	for _, s := range steps {
		p = a.get(deal)
		a.post(deal+"/actions/"+s.action, formOf(t, p, s.kv...)).location(t, 303, deal)
	}
	p = a.get(deal)
	// A refused line: 422 by the field, the input kept.
	r = a.post(deal+"/actions/add_line", formOf(t, p, "product", "Gadget", "quantity", "lots"))
	r.want(t, 422, `class="problem"`, `value="lots"`, `value="Gadget"`)
	p.want(t, 200, `<li class="stage current" aria-current="step">Develop</li>`, `id="lines"`, "Widget", "1001.00")
	for _, s := range []struct {
		path string
		kv   []string
	}{
		{"propose", []string{"paymentTerms", "Net 30"}},
		{"activate_quote/1", nil},
		{"revise_quote/1", nil},
		{"activate_quote/2", nil},
		{"close", []string{"outcome", "won"}},
		{"fulfill_order", nil},
		{"record_payment", []string{"amount", "500"}},
	} {
		p = a.get(deal)
		a.post(deal+"/actions/"+s.path, formOf(t, p, s.kv...)).location(t, 303, deal)
	}
	p = a.get(deal)
	p.want(t, 200, `id="quotes"`, `id="order"`, `id="invoice"`, `id="balance">501.00 EUR`, `data-action="record_payment"`)
	// Overpaying: refused by the workflow, shown by the form.
	r = a.post(deal+"/actions/record_payment", formOf(t, p, "amount", "9999"))
	r.want(t, 422, `class="problem"`, "exceeds the open balance", `value="9999"`)
	// A manager reassigns the deal to rep B from its page; B collects the rest.
	m := newBrowser(t, e)
	m.signIn("boss@example.com", e.mgr)
	mp := m.get(deal)
	mp.want(t, 200, `data-action="assign"`)
	m.post(deal+"/actions/assign", formOf(t, mp, "owner", "nobody@example.com")).want(t, 422, "is not a user", `value="nobody@example.com"`)
	m.post(deal+"/actions/assign", formOf(t, mp, "owner", "b@example.com")).location(t, 303, deal)
	a.get(deal).want(t, 404, "not-found")
	p = b.get(deal)
	p.want(t, 200, "owner b@example.com")
	if strings.Contains(p.body, `data-action="assign"`) {
		t.Error("a rep is offered assign")
	}
	b.post(deal+"/actions/record_payment", formOf(t, p, "amount", "501")).location(t, 303, deal)
	b.get(deal).want(t, 200, `<li class="stage current" aria-current="step">Paid</li>`, `<p id="next-step">Paid — nothing left to do</p>`,
		"<strong>Record payment</strong>")

	board := b.get("/board")
	paid := board.body[strings.Index(board.body, `data-stage="Paid"`):]
	if !strings.Contains(paid, `data-id="`+strings.TrimPrefix(deal, "/deals/")+`"`) || strings.Contains(board.body, xss) {
		t.Fatalf("board: %s", board.body)
	}
	if !strings.Contains(paid, `<p class="next">Paid — nothing left to do</p>`) {
		t.Errorf("the Paid card's next step: %s", paid)
	}
}
