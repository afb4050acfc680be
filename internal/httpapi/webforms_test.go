package httpapi_test

import (
	"regexp"
	"strings"
	"testing"
)

// itemAction finds the action URL of a page's form for action on an item.
func itemAction(t *testing.T, p page, action string) string {
	t.Helper()
	m := regexp.MustCompile(`action="(/deals/[^"]+/actions/` + action + `/[^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no %s form on the page: %.3000s", action, p.body)
	}
	return m[1]
}

// TestWebDealForms: the deal page's further forms, each offered only where
// the stage allows it and run through the API's path: edit_quote (a
// refusal shown by the form with the input kept), the team, the removals
// (a DELETE in the API), completing an activity, and reopening a lost deal.
func TestWebDealForms(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "wf1")
	e.toPropose(e.repA, "wf1")
	deal := "/deals/wf1"
	a := newBrowser(t, e)
	a.signIn("a@example.com", e.repA)

	p := a.get(deal)
	p.want(t, 200, `data-action="edit_quote"`, `data-action="remove_stakeholder"`, `data-action="remove_line"`,
		`data-action="add_team_member"`, `aria-label="Remove Ada"`)
	for _, no := range []string{"reopen", "reactivate", "cancel_order", "cancel_invoice", "complete_activity"} {
		if strings.Contains(p.body, `data-action="`+no+`"`) {
			t.Errorf("%s is offered in Propose", no)
		}
	}
	// edit_quote: a refusal keeps the input; then saved.
	r := a.post(deal+"/actions/edit_quote/1", formOf(t, p, "name", "First offer", "freight", "-5", "paymentTerms", "Net 30"))
	r.want(t, 422, `class="problem"`, `value="-5"`, `value="First offer"`)
	a.post(deal+"/actions/edit_quote/1", formOf(t, p, "name", "First offer", "freight", "12.50", "paymentTerms", "Net 30")).location(t, 303, deal)
	p = a.get(deal)
	p.want(t, 200, `id="eq-name" name="name" value="First offer"`, `<dt>Freight</dt><dd class="amount">12.50 USD</dd>`)

	// The team: add, then remove (without the CSRF token first: refused).
	a.post(deal+"/actions/add_team_member", formOf(t, p, "userId", "b@example.com", "role", "Technical sales")).location(t, 303, deal)
	p = a.get(deal)
	p.want(t, 200, `Technical sales`)
	rm := itemAction(t, p, "remove_team_member")
	a.post(rm, nil).want(t, 403, `class="problem"`)
	a.post(rm, formOf(t, p)).location(t, 303, deal)
	p = a.get(deal)
	if strings.Contains(p.body, "Technical sales") {
		t.Error("the team member is still listed")
	}
	// A line removed; removing it again from the same (stale) page: the 404 page.
	rmLine := itemAction(t, p, "remove_line")
	a.post(rmLine, formOf(t, p)).location(t, 303, deal)
	a.post(rmLine, formOf(t, p)).want(t, 404)
	a.get(deal).want(t, 200, "No lines yet")

	// An activity completed from its list.
	p = a.get(deal)
	a.post(deal+"/actions/add_activity", formOf(t, p, "type", "task", "subject", "Send the deck", "dueAt", "2099-01-02T10:00")).location(t, 303, deal)
	p = a.get(deal)
	p.want(t, 200, `data-action="complete_activity"`, `data-action="cancel_activity"`)
	a.post(itemAction(t, p, "complete_activity"), formOf(t, p, "outcome", "Sent")).location(t, 303, deal)
	p = a.get(deal)
	p.want(t, 200, "Send the deck · Completed")
	if strings.Contains(p.body, `data-action="complete_activity"`) {
		t.Error("a completed activity is offered complete")
	}

	// Lost, then reopened from the page.
	a.post(deal+"/actions/close", formOf(t, p, "outcome", "lost", "reason", "Canceled")).location(t, 303, deal)
	p = a.get(deal)
	p.want(t, 200, `data-action="reopen"`)
	if strings.Contains(p.body, `data-action="edit_quote"`) || strings.Contains(p.body, `data-action="remove_stakeholder"`) {
		t.Error("a lost deal offers the open deal's forms")
	}
	a.post(deal+"/actions/reopen", formOf(t, p)).location(t, 303, deal)
	a.get(deal).want(t, 200, `data-action="close"`)
}
