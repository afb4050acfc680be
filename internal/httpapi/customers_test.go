package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/internal/httpapi"
	"dealflow/internal/store"
	"dealflow/workflows"
)

// writeDeal writes a deal to the read model as its workflow would (through
// the domain and store.ApplyChange), qualified when qualify is set: the
// accounts and contact routes need no Temporal.
func writeCustomerDeal(t *testing.T, e *env, id, owner string, f workflows.LeadFields, qualify bool) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Topic = "Widgets for " + id
	f.PurchaseTimeframe, f.DecisionMakerIdentified = "This Quarter", true
	d := workflows.NewDeal(workflows.NewLead{ID: id, Owner: owner, Currency: "EUR", Lead: f}, at)
	if _, err := store.ApplyChange(ctx, e.pool, d.Created(owner, at)); err != nil {
		t.Fatal(err)
	}
	if !qualify {
		return
	}
	ch, _, err := d.Apply(&workflows.Qualify{}, at.Add(time.Minute))
	if err != nil {
		t.Fatalf("qualify %s: %v", id, err)
	}
	if _, err := store.ApplyChange(ctx, e.pool, ch); err != nil {
		t.Fatal(err)
	}
}

func ptrDec(s string) *decimal.Decimal { d := decimal.RequireFromString(s); return &d }

// matchIDs lists the "kind id" of a possible-duplicate problem's matches.
func matchIDs(r resp) []string {
	var out []string
	for _, m := range r.list("matches") {
		mm := m.(map[string]any)
		id, _ := mm["id"].(string)
		if mm["hidden"] == true {
			id = "?"
		}
		out = append(out, mm["kind"].(string)+" "+id)
	}
	return out
}

func TestAccountsAndContactsRoutes(t *testing.T) {
	e := newCatalogEnv(t)
	e.repB = e.user("b@example.com", httpapi.RoleRep)
	writeCustomerDeal(t, e, "A1", "a@example.com", workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Contoso",
		Email: "ada@contoso.example.com", Budget: ptrDec("1000")}, true)
	writeCustomerDeal(t, e, "B1", "b@example.com", workflows.LeadFields{FirstName: "Bo", Company: "Fabrikam",
		Email: "bo@fabrikam.example.com", Budget: ptrDec("1000")}, true)

	r := e.do("GET", "/v1/accounts", e.repA, nil)
	if r.code != 200 || len(r.list("items")) != 1 || r.str("items.0.id") != "ACC-A1" {
		t.Fatalf("rep's list: %d %s", r.code, r.raw)
	}
	if r := e.do("GET", "/v1/accounts?name=FAB", e.mgr, nil); r.code != 200 || len(r.list("items")) != 1 || r.str("items.0.name") != "Fabrikam" {
		t.Fatalf("manager's filtered list: %d %s", r.code, r.raw)
	}
	wantFields(t, e.do("GET", "/v1/accounts?limit=0&cursor=x&sort=name", e.repA, nil), "sort", "cursor", "limit")

	r = e.do("GET", "/v1/accounts/ACC-A1", e.repA, nil)
	if r.code != 200 || r.str("name") != "Contoso" || r.str("contacts.0.id") != "CON-A1" || r.str("deals.0.id") != "A1" ||
		r.str("deals.0.stage") != "Develop" || r.str("deals.0.value") == "" || r.str("deals.0.owner") != "a@example.com" {
		t.Fatalf("account: %d %s", r.code, r.raw)
	}
	// Another rep's account is the same 404 as a missing one.
	other := e.do("GET", "/v1/accounts/ACC-B1", e.repA, nil)
	missing := e.do("GET", "/v1/accounts/ACC-none", e.repA, nil)
	wantProblem(t, other, 404, "not-found")
	wantProblem(t, missing, 404, "not-found")
	if strings.Replace(other.raw, "ACC-B1", "X", 1) != strings.Replace(missing.raw, "ACC-none", "X", 1) {
		t.Fatalf("hidden and missing differ: %s / %s", other.raw, missing.raw)
	}

	r = e.do("PATCH", "/v1/accounts/ACC-A1", e.repA, map[string]any{"website": "https://contoso.example.com", "phone": "+1 555 000 1111", "address": "1 Main St"})
	if r.code != 200 || r.str("website") != "https://contoso.example.com" || r.str("phone") != "+1 555 000 1111" || r.str("deals.0.id") != "A1" {
		t.Fatalf("patch account: %d %s", r.code, r.raw)
	}
	wantProblem(t, e.do("PATCH", "/v1/accounts/ACC-A1", e.repA, map[string]any{"name": "FABRIKAM"}), 409, "account-exists")
	wantFields(t, e.do("PATCH", "/v1/accounts/ACC-A1", e.repA, map[string]any{"name": "", "phone": "call me", "colour": "red"}), "colour")
	wantFields(t, e.do("PATCH", "/v1/accounts/ACC-A1", e.repA, map[string]any{"name": "", "phone": "call me"}), "name", "phone")
	wantProblem(t, e.do("PATCH", "/v1/accounts/ACC-B1", e.repA, map[string]any{"name": "Mine"}), 404, "not-found")
	wantProblem(t, e.do("PATCH", "/v1/accounts/ACC-A1", e.repA, `{"name":`), 400, "malformed-request")

	r = e.do("GET", "/v1/contacts/CON-A1", e.repA, nil)
	if r.code != 200 || r.str("email") != "ada@contoso.example.com" || r.str("accountId") != "ACC-A1" || r.str("accountName") != "Contoso" {
		t.Fatalf("contact: %d %s", r.code, r.raw)
	}
	wantProblem(t, e.do("GET", "/v1/contacts/CON-B1", e.repA, nil), 404, "not-found")
	r = e.do("PATCH", "/v1/contacts/CON-A1", e.repA, map[string]any{"jobTitle": "CTO", "phone": "+44 20 7946 0958"})
	if r.code != 200 || r.str("jobTitle") != "CTO" || r.str("firstName") != "Ada" {
		t.Fatalf("patch contact: %d %s", r.code, r.raw)
	}
	wantFields(t, e.do("PATCH", "/v1/contacts/CON-A1", e.repA, map[string]any{"email": "nope", "phone": "12"}), "email", "phone")
	wantProblem(t, e.do("PATCH", "/v1/contacts/CON-A1", e.mgr, map[string]any{"email": "BO@fabrikam.example.com"}), 409, "contact-exists")
	wantProblem(t, e.do("PATCH", "/v1/contacts/CON-B1", e.repA, map[string]any{"jobTitle": "x"}), 404, "not-found")
}

// A new lead or a qualification that may duplicate records on file is a
// 409 listing them, before Temporal is asked (this env has none: a lead
// that passes the check answers 503).
func TestPossibleDuplicates(t *testing.T) {
	e := newCatalogEnv(t)
	e.repB = e.user("b@example.com", httpapi.RoleRep)
	writeCustomerDeal(t, e, "A1", "a@example.com", workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Contoso Ltd",
		Email: "ada@contoso.example.com", Phone: "+1 555 123 4567", Budget: ptrDec("1000")}, true)
	writeCustomerDeal(t, e, "L2", "a@example.com", workflows.LeadFields{FirstName: "Cy", Company: "Tailspin",
		Email: "cy@tailspin.example.com", Budget: ptrDec("1000")}, false)
	writeCustomerDeal(t, e, "L3", "a@example.com", workflows.LeadFields{FirstName: "Ada", Company: "Contoso, Inc.",
		Email: "ada.park@contoso.example.com", Phone: "555.123.4567", Budget: ptrDec("1000")}, false)

	body := map[string]any{"id": "N1", "topic": "More widgets", "firstName": "Ada", "company": "CONTOSO LIMITED", "email": "Ada@Contoso.example.com"}
	r := e.do("POST", "/v1/leads", e.repA, body)
	wantProblem(t, r, 409, "possible-duplicate")
	if got := strings.Join(matchIDs(r), ","); got != "lead L3,contact CON-A1,account ACC-A1" {
		t.Fatalf("matches %s: %s", got, r.raw)
	}
	if !strings.Contains(r.str("detail"), "existingAccountId") || r.str("matches.1.name") != "Ada Park" || r.str("matches.1.matched.0") != "email" {
		t.Fatalf("problem: %s", r.raw)
	}
	// Another rep learns that records exist, not which.
	r = e.do("POST", "/v1/leads", e.repB, body)
	wantProblem(t, r, 409, "possible-duplicate")
	if got := strings.Join(matchIDs(r), ","); got != "lead ?,contact ?,account ?" || strings.Contains(r.raw, "Ada Park") {
		t.Fatalf("another rep's matches %s: %s", got, r.raw)
	}
	// Resolved: past the check (to Temporal, down here).
	for _, extra := range []map[string]any{{"allowDuplicate": true}, {"existingAccountId": "ACC-A1"}, {"existingContactId": "CON-A1"}} {
		b := map[string]any{}
		for k, v := range body {
			b[k] = v
		}
		for k, v := range extra {
			b[k] = v
		}
		if r := e.do("POST", "/v1/leads", e.repA, b); r.code != 503 {
			t.Fatalf("with %v: %d %s", extra, r.code, r.raw)
		}
	}
	wantFields(t, e.do("POST", "/v1/leads", e.repA, map[string]any{"topic": "x", "existingAccountId": "ACC-none", "existingContactId": "CON-none"}),
		"existingAccountId", "existingContactId")
	wantFields(t, e.do("POST", "/v1/leads", e.repA, map[string]any{"topic": "x", "allowDuplicate": "yes"}), "allowDuplicate")
	// The lead's own id is no duplicate of itself (a repeated create).
	if r := e.do("POST", "/v1/leads", e.repA, map[string]any{"id": "L2", "topic": "x", "company": "Tailspin", "email": "cy@tailspin.example.com"}); r.code != 503 {
		t.Fatalf("repeat of L2: %d %s", r.code, r.raw)
	}

	// Qualifying L3 checks its contact against contacts and its company
	// against accounts, not against leads.
	r = e.do("POST", "/v1/leads/L3/qualify", e.repA, nil)
	wantProblem(t, r, 409, "possible-duplicate")
	if got := strings.Join(matchIDs(r), ","); got != "contact CON-A1,account ACC-A1" {
		t.Fatalf("qualify matches %s: %s", got, r.raw)
	}
	if got := r.str("matches.0.matched"); got != "[phone]" {
		t.Fatalf("contact matched on %s", got)
	}
	for _, b := range []map[string]any{{"allowDuplicate": true}, {"existingAccountId": "ACC-A1"}, {"existingContactId": "CON-A1"}} {
		if r := e.do("POST", "/v1/leads/L3/qualify", e.repA, b); r.code != 503 {
			t.Fatalf("qualify with %v: %d %s", b, r.code, r.raw)
		}
	}
	wantFields(t, e.do("POST", "/v1/leads/L3/qualify", e.repA, map[string]any{"existingContactId": "CON-none"}), "existingContactId")
	// Another rep may not link rep A's account or contact (it would show
	// them to them): not on file, for them, at create and at qualify.
	wantFields(t, e.do("POST", "/v1/leads", e.repB, map[string]any{"topic": "x", "existingAccountId": "ACC-A1", "existingContactId": "CON-A1"}),
		"existingAccountId", "existingContactId")
	wantFields(t, e.do("POST", "/v1/leads/L3/qualify", e.repB, map[string]any{"existingAccountId": "ACC-A1"}), "existingAccountId")
	// L2 has no duplicate; a lead another rep may not see is not checked
	// (the workflow answers 404 for it).
	if r := e.do("POST", "/v1/leads/L2/qualify", e.repA, nil); r.code != 503 {
		t.Fatalf("qualify L2: %d %s", r.code, r.raw)
	}
	if r := e.do("POST", "/v1/leads/L3/qualify", e.repB, nil); r.code != 503 {
		t.Fatalf("another rep qualifies L3: %d %s", r.code, r.raw)
	}
}
