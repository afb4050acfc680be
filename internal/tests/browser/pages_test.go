package browser

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"dealflow/internal/tests/browser/chrome"
)

// A rep takes a lead to Paid through the pages alone: create it, see what
// qualification still needs and be refused for it, fill it in, qualify,
// develop, quote, revise, close as won, fulfil, collect two payments, and
// find the deal in the board's Paid column.
func TestLeadToPaid(t *testing.T) {
	p := newPage(t)
	signIn(t, p, "rep@example.com", stack.RepToken)
	u := uniq()
	id := createLead(t, p, leadFields("Browser: compiler licences "+u, u)...)
	wantStage(t, p, "Qualify")

	// What the gate still needs shows before the rep tries; trying anyway
	// is refused with the same list next to the form.
	missing := p.Text("#missing")
	for _, want := range []string{"budget", "purchase timeframe", "decision maker identified"} {
		if !strings.Contains(missing, want) {
			t.Errorf("#missing %q does not name %q", missing, want)
		}
	}
	if st := act(t, p, "qualify", ""); st == http.StatusOK && !p.Has(".problem") {
		t.Fatalf("qualify with the lead incomplete: status %d and no problem shown", st)
	}
	problem := p.Text(`form[data-action="qualify"] .problem`)
	if !strings.Contains(problem, "decision maker identified") {
		t.Fatalf("the refusal %q does not say what is missing", problem)
	}
	wantStage(t, p, "Qualify")

	mustAct(t, p, id, "edit_lead", "",
		chrome.F("budget", "50000"), chrome.F("purchaseTimeframe", "This Quarter"), chrome.F("decisionMakerIdentified", "true"))
	if p.Has("#missing li") {
		t.Fatalf("#missing still lists %q after the lead was completed", p.Texts("#missing li"))
	}
	mustAct(t, p, id, "qualify", "")
	wantStage(t, p, "Develop")

	mustAct(t, p, id, "edit_opportunity", "",
		chrome.F("customerNeed", "compile faster"), chrome.F("proposedSolution", "our compiler suite"))
	mustAct(t, p, id, "add_stakeholder", "", chrome.F("name", "Grace Hopper"), chrome.F("role", "Decision Maker"))
	mustAct(t, p, id, "add_line", "", chrome.F("product", "Compiler licence"), chrome.F("quantity", "10"), chrome.F("unitPrice", "1200.00"))
	mustAct(t, p, id, "add_line", "", chrome.F("product", "Support plan"), chrome.F("quantity", "1"), chrome.F("unitPrice", "2000.00"))
	if lines := p.Text("#lines"); !strings.Contains(lines, "Compiler licence") || !strings.Contains(lines, "Support plan") {
		t.Fatalf("#lines %q lacks a line", lines)
	}
	if total := p.Text("#lines .total"); total != "14000.00" {
		t.Errorf("the lines' total is %q, want 14000.00", total)
	}

	// Draft the quote and present it; revise it and present revision 2.
	mustAct(t, p, id, "propose", "")
	wantStage(t, p, "Propose")
	mustAct(t, p, id, "activate_quote", "1")
	wantStage(t, p, "Close")
	mustAct(t, p, id, "revise_quote", "1")
	wantStage(t, p, "Propose")
	mustAct(t, p, id, "activate_quote", "2")
	wantStage(t, p, "Close")
	if q := p.Text("#quotes"); !strings.Contains(q, "Revised") {
		t.Errorf("#quotes %q does not show revision 1 as Revised", q)
	}

	mustAct(t, p, id, "close", "", chrome.F("outcome", "won"))
	wantStage(t, p, "Order")
	mustAct(t, p, id, "fulfill_order", "")
	wantStage(t, p, "Invoice")
	mustAct(t, p, id, "record_payment", "", chrome.F("amount", "4000.00"))
	wantStage(t, p, "Invoice")
	if bal := p.Text("#balance"); !strings.HasPrefix(bal, "10000.00") {
		t.Errorf("the balance is %q, want 10000.00", bal)
	}
	mustAct(t, p, id, "record_payment", "", chrome.F("amount", "10000.00"))
	wantStage(t, p, "Paid")
	if tl := p.Texts("#timeline li"); len(tl) < 12 {
		t.Errorf("the timeline has %d entries, want at least 12: %q", len(tl), tl)
	}

	onBoard(t, p, "Paid", id, "board-paid")
	if d := p.Dialogs(); len(d) > 0 {
		t.Errorf("dialogs opened: %q", d)
	}
}

// A manager reassigns a rep's deal to another rep, who then sees it; a third
// rep gets the same 404 page for it as for a deal that does not exist.
func TestManagerAssigns(t *testing.T) {
	u := uniq()
	ctx := context.Background()
	otherEmail, strangerEmail := "assignee-"+u+"@example.com", "stranger-"+u+"@example.com"
	otherToken, err := stack.CreateUser(ctx, otherEmail, "Assignee Rep", "rep")
	if err != nil {
		t.Fatal(err)
	}
	strangerToken, err := stack.CreateUser(ctx, strangerEmail, "Stranger Rep", "rep")
	if err != nil {
		t.Fatal(err)
	}

	rep := newPage(t, chrome.Named("rep"))
	signIn(t, rep, "rep@example.com", stack.RepToken)
	id := createLead(t, rep, leadFields("Browser: reassigned "+u, u)...)

	mgr := newPage(t, chrome.Named("manager"))
	signIn(t, mgr, "manager@example.com", stack.ManagerToken)
	// Managers get links to the deals' workflows in the Temporal Web UI:
	// the running deals from the board, the deal's own from its page.
	if href := mgr.Attr("a.temporal-ui", "href"); !strings.HasPrefix(href, stack.TemporalUIURL()+"/namespaces/") || !strings.Contains(href, "/workflows?query=") {
		t.Errorf("the manager's board links to the Temporal Web UI at %q", href)
	}
	if rep.Has("a.temporal-ui") || rep.Has("form[data-action=assign]") {
		t.Errorf("the rep's deal page offers the Temporal Web UI or assign")
	}
	mgr.Visit("/deals/"+id, "deal")
	if href := mgr.Attr("a.temporal-ui", "href"); !strings.HasPrefix(href, stack.TemporalUIURL()+"/namespaces/") || !strings.Contains(href, id) {
		t.Errorf("the manager's deal page links to the Temporal Web UI at %q", href)
	}
	mustAct(t, mgr, id, "assign", "", chrome.F("owner", otherEmail))
	if !strings.Contains(mgr.Text("main"), otherEmail) {
		t.Errorf("the deal page does not name the new owner %s", otherEmail)
	}

	other := newPage(t, chrome.Named("assignee"))
	signIn(t, other, otherEmail, otherToken)
	onBoard(t, other, "Qualify", id, "board-with-the-deal")
	if st := other.Click(fmt.Sprintf(`article.card[data-id=%q] a.card-link`, id), "deal"); st != http.StatusOK {
		t.Fatalf("the new owner opens the deal: status %d", st)
	}

	stranger := newPage(t, chrome.Named("stranger"))
	signIn(t, stranger, strangerEmail, strangerToken)
	if stranger.Has(fmt.Sprintf(`article.card[data-id=%q]`, id)) {
		t.Errorf("another rep's board shows the deal")
	}
	st := stranger.Visit("/deals/"+id, "deal-hidden")
	hidden := stranger.Text(".not-found")
	st2 := stranger.Visit("/deals/no-such-deal-"+u, "deal-missing")
	missing := stranger.Text(".not-found")
	if st != http.StatusNotFound || st2 != http.StatusNotFound {
		t.Fatalf("another rep's deal: %d, a missing deal: %d; want 404 both", st, st2)
	}
	if hidden != missing {
		t.Fatalf("another rep's deal page %q differs from a missing deal's %q", hidden, missing)
	}
}

// A topic that is markup shows as text on the board and the deal page, and
// runs nothing.
func TestXSSTopicIsText(t *testing.T) {
	const topic = `<script>alert(1)</script>`
	p := newPage(t)
	signIn(t, p, "rep@example.com", stack.RepToken)
	u := uniq()
	fields := leadFields(topic, u)
	id := createLead(t, p, fields...)
	if got := p.Text("h1"); !strings.Contains(got, topic) {
		t.Errorf("the deal page's heading %q does not show the topic as text", got)
	}
	onBoard(t, p, "Qualify", id, "board")
	card := fmt.Sprintf(`article.card[data-id=%q]`, id)
	if got := p.Text(card + " a.card-link"); got != topic {
		t.Errorf("the card shows %q, want the topic %q as text", got, topic)
	}
	if n := p.Count(card + " script"); n != 0 {
		t.Errorf("the card has %d script elements", n)
	}
	if d := p.Dialogs(); len(d) > 0 {
		t.Fatalf("dialogs opened: %q", d)
	}
}

// A form posted without its CSRF token is refused, and nothing is created.
func TestFormWithoutCSRFRefused(t *testing.T) {
	p := newPage(t)
	signIn(t, p, "rep@example.com", stack.RepToken)
	u := uniq()
	topic := "Browser: no CSRF " + u
	p.Visit("/leads/new", "new-lead")
	p.Fill("form#new-lead", leadFields(topic, u)...)
	if n := chrome.Eval[int](p, `(() => { const i = document.querySelectorAll('form#new-lead input[name="csrf"]'); i.forEach(e => e.remove()); return i.length })()`); n != 1 {
		t.Fatalf("form#new-lead has %d csrf inputs, want 1", n)
	}
	if st := p.Submit("form#new-lead", "refused"); st != http.StatusForbidden {
		t.Fatalf("status %d, want 403", st)
	}
	if !p.Has(".problem") {
		t.Errorf("the 403 page shows no .problem")
	}
	p.Visit("/board?q="+u, "board")
	if slices.ContainsFunc(p.Texts("article.card"), func(s string) bool { return strings.Contains(s, topic) }) {
		t.Fatalf("the refused post created a lead")
	}
}

// The board fits a 375 px phone: no horizontal scroll.
func TestBoardOnPhone(t *testing.T) {
	p := newPage(t, chrome.Viewport(375, 812, true))
	signIn(t, p, "rep@example.com", stack.RepToken)
	u := uniq()
	createLead(t, p, leadFields("Browser: a rather long topic to wrap on a phone "+u, u)...)
	p.Visit("/board", "board-375")
	p.WaitVisible(`section.column[data-stage="Qualify"]`)
	sw, cw := chrome.Eval[int](p, `document.documentElement.scrollWidth`), chrome.Eval[int](p, `document.documentElement.clientWidth`)
	if cw != 375 {
		t.Fatalf("clientWidth %d, want 375", cw)
	}
	if sw > cw {
		wide := chrome.Eval[[]string](p, `Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).replace(/ /g, ".") : "") + " right=" + Math.round(e.getBoundingClientRect().right))`)
		t.Fatalf("the board scrolls sideways at 375 px: scrollWidth %d > clientWidth %d; too wide: %q", sw, cw, wide)
	}
}

// A wrong token is refused on the sign-in page; signing out ends the
// session, and the board then asks to sign in again.
func TestSignInAndOut(t *testing.T) {
	p := newPage(t)
	p.Visit("/board", "board-signed-out")
	if !strings.HasPrefix(p.Path(), "/signin") {
		t.Fatalf("/board signed out went to %s, want /signin", p.Path())
	}
	p.Fill("form:has(#signin)", chrome.F("email", "rep@example.com"), chrome.F("token", "not-the-token"))
	p.Submit("#signin", "wrong-token")
	if !strings.HasPrefix(p.Path(), "/signin") || p.Text(".problem") == "" {
		t.Fatalf("a wrong token: at %s, problem %q; want /signin with a problem", p.Path(), p.Texts(".problem"))
	}
	signIn(t, p, "rep@example.com", stack.RepToken)
	p.Submit("#signout", "signed-out")
	if !strings.HasPrefix(p.Path(), "/signin") {
		t.Fatalf("after signing out: at %s, want /signin", p.Path())
	}
	p.Visit("/board", "board-after-signout")
	if !strings.HasPrefix(p.Path(), "/signin") {
		t.Fatalf("/board after signing out went to %s, want /signin", p.Path())
	}
}
