package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestAPICustomersDuplicate: a rep enters the same contact twice and is
// stopped by a possible-duplicate 409 listing the first deal's contact and
// account; creates the lead anyway (allowDuplicate), is stopped again at
// qualify, and resolves it by linking the first deal's account; the account
// then shows both deals, to its rep, and is a 404 to another rep.
func TestAPICustomersDuplicate(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	mgr := apiClient{t, stack.ManagerToken}
	run := apiNewID("cust")
	u := mgr.do(http.MethodPost, "/v1/users", map[string]any{"email": "other-" + run + "@example.com", "role": "rep"}).
		must(t, 201, "create another rep")
	other := apiClient{t, u.str("token")}

	firstID, secondID := "cust-a-"+run, "cust-b-"+run
	first := qualifiedLead(firstID, "E2E customers: the first deal")
	first["company"], first["email"], first["phone"] = "Duplicate Test "+run+" Ltd", "ada-"+run+"@dup.example.com", "+1 (555) 010-2030"
	rep.do(http.MethodPost, "/v1/leads", first).must(t, 201, "create the first lead")
	rep.do(http.MethodPost, "/v1/leads/"+firstID+"/qualify", nil).must(t, 200, "qualify the first lead")
	accountID := rep.do(http.MethodGet, "/v1/leads/"+firstID, nil).must(t, 200, "read the first deal").str("accountId")
	contactID := rep.do(http.MethodGet, "/v1/leads/"+firstID, nil).str("contactId")
	if accountID == "" || contactID == "" {
		t.Fatalf("the first deal has no account or contact: %q %q", accountID, contactID)
	}

	// The same contact again, the company spelled another way.
	second := qualifiedLead(secondID, "E2E customers: the second deal")
	second["company"], second["email"], second["phone"] = "DUPLICATE TEST "+run+", Limited", "ADA-"+run+"@dup.example.com", "555.010.2030"
	r := rep.do(http.MethodPost, "/v1/leads", second).must(t, 409, "create the same contact again")
	if r.str("type") != "urn:dealflow:problem:possible-duplicate" || !strings.Contains(r.str("detail"), "allowDuplicate") {
		t.Fatalf("409: %s", r.Raw)
	}
	if got := matchList(r); !slices.Equal(got, []string{"contact " + contactID + " email,phone", "account " + accountID + " company"}) {
		t.Fatalf("matches %q: %s", got, r.Raw)
	}
	rep.do(http.MethodGet, "/v1/leads/"+secondID, nil).must(t, 404, "the refused lead was not created")

	second["allowDuplicate"] = true
	rep.do(http.MethodPost, "/v1/leads", second).must(t, 201, "create it allowing duplicates")
	r = rep.do(http.MethodPost, "/v1/leads/"+secondID+"/qualify", nil).must(t, 409, "qualify the second lead")
	if got := matchList(r); !slices.Equal(got, []string{"contact " + contactID + " email,phone", "account " + accountID + " company"}) {
		t.Fatalf("qualify matches %q: %s", got, r.Raw)
	}
	rep.do(http.MethodPost, "/v1/leads/"+secondID+"/qualify", map[string]any{"existingAccountId": "ACC-none-" + run}).
		must(t, 422, "qualify with an account not on file")
	rep.do(http.MethodPost, "/v1/leads/"+secondID+"/qualify", map[string]any{"existingAccountId": accountID}).
		must(t, 200, "qualify linking the first deal's account")

	acc := rep.do(http.MethodGet, "/v1/accounts/"+accountID, nil).must(t, 200, "read the account")
	if acc.len("deals") != 2 || acc.str("deals.0.id") != firstID || acc.str("deals.1.id") != secondID || acc.str("deals.1.stage") != "Develop" {
		t.Fatalf("the account's deals: %s", acc.Raw)
	}
	if acc.len("contacts") != 1 || acc.str("contacts.0.id") != contactID {
		t.Fatalf("the account's contacts: %s", acc.Raw)
	}
	if got := rep.do(http.MethodGet, "/v1/leads/"+secondID, nil).str("contactId"); got != contactID {
		t.Fatalf("the second deal's contact %q, want %q", got, contactID)
	}
	tl := rep.do(http.MethodGet, "/v1/leads/"+secondID+"/timeline", nil).must(t, 200, "the second deal's timeline")
	if !strings.Contains(string(tl.Raw), "possible duplicates allowed") {
		t.Errorf("the timeline does not record the allowed duplicate: %s", tl.Raw)
	}
	list := rep.do(http.MethodGet, "/v1/accounts?name="+strings.ToUpper(run), nil).must(t, 200, "find the account by name")
	if list.len("items") != 1 || list.str("items.0.id") != accountID {
		t.Fatalf("accounts named %s: %s", run, list.Raw)
	}

	// Edits, by the rep who sees the account.
	rep.do(http.MethodPatch, "/v1/accounts/"+accountID, map[string]any{"website": "https://dup.example.com", "phone": "+1 555 010 2000"}).
		must(t, 200, "edit the account")
	rep.do(http.MethodPatch, "/v1/accounts/"+accountID, map[string]any{"phone": "call me"}).must(t, 422, "an implausible phone")
	c := rep.do(http.MethodPatch, "/v1/contacts/"+contactID, map[string]any{"jobTitle": "Chief Buyer"}).must(t, 200, "edit the contact")
	if c.str("jobTitle") != "Chief Buyer" || c.str("accountId") != accountID {
		t.Fatalf("the contact: %s", c.Raw)
	}

	// Another rep: the account and its contact are not found, as missing
	// ones; its possible duplicates are listed without naming them.
	missing := other.do(http.MethodGet, "/v1/accounts/ACC-none-"+run, nil).must(t, 404, "another rep reads a missing account")
	hidden := other.do(http.MethodGet, "/v1/accounts/"+accountID, nil).must(t, 404, "another rep reads the account")
	if strings.ReplaceAll(string(hidden.Raw), accountID, "X") != strings.ReplaceAll(string(missing.Raw), "ACC-none-"+run, "X") {
		t.Errorf("a hidden and a missing account differ: %s / %s", hidden.Raw, missing.Raw)
	}
	other.do(http.MethodGet, "/v1/contacts/"+contactID, nil).must(t, 404, "another rep reads the contact")
	other.do(http.MethodPatch, "/v1/accounts/"+accountID, map[string]any{"name": "Mine"}).must(t, 404, "another rep edits the account")
	if l := other.do(http.MethodGet, "/v1/accounts?name="+run, nil).must(t, 200, "another rep's accounts"); l.len("items") != 0 {
		t.Errorf("another rep lists %s", l.Raw)
	}
	third := qualifiedLead("cust-c-"+run, "E2E customers: another rep's lead")
	third["company"] = "Duplicate Test " + run
	r = other.do(http.MethodPost, "/v1/leads", third).must(t, 409, "another rep enters the same company")
	if got := matchList(r); !slices.Equal(got, []string{"account ? company"}) || strings.Contains(string(r.Raw), accountID) {
		t.Errorf("another rep's matches %q: %s", got, r.Raw)
	}
}

// matchList lists a possible-duplicate problem's matches as "kind id what"
// ("?" for a hidden record's id).
func matchList(r apiResp) []string {
	ms, _ := r.get("matches").([]any)
	var out []string
	for _, m := range ms {
		mm := m.(map[string]any)
		id, _ := mm["id"].(string)
		if mm["hidden"] == true {
			id = "?"
		}
		var what []string
		for _, w := range mm["matched"].([]any) {
			what = append(what, w.(string))
		}
		out = append(out, mm["kind"].(string)+" "+id+" "+strings.Join(what, ","))
	}
	return out
}
