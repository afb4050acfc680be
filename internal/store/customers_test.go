package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// customers writes deals through the domain (workflows.Deal) and
// store.ApplyChange, each Change twice, as a retry does.
type customers struct {
	t    *testing.T
	pool *pgxpool.Pool
	now  time.Time
}

func newCustomers(t *testing.T) *customers {
	return &customers{t: t, pool: testenv.Pool(t), now: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
}

// apply writes ch twice and fails unless the second write changed nothing.
func (c *customers) apply(ch workflows.Change) workflows.ChangeResult {
	c.t.Helper()
	ctx := context.Background()
	res, err := store.ApplyChange(ctx, c.pool, ch)
	if err != nil {
		c.t.Fatalf("apply %s of %s: %v", ch.Event.Action, ch.Deal.ID, err)
	}
	before := c.snapshot()
	again, err := store.ApplyChange(ctx, c.pool, ch)
	if err != nil || !reflect.DeepEqual(again, res) {
		c.t.Fatalf("apply %s of %s again: %+v %v, first %+v", ch.Event.Action, ch.Deal.ID, again, err, res)
	}
	if after := c.snapshot(); after != before {
		c.t.Fatalf("a retried ApplyChange changed rows:\n%s\n---\n%s", before, after)
	}
	return res
}

func (c *customers) snapshot() string {
	c.t.Helper()
	var s string
	err := c.pool.QueryRow(context.Background(), `SELECT
		coalesce((SELECT string_agg(a::text, E'\n' ORDER BY id) FROM accounts a), '') || E'\n' ||
		coalesce((SELECT string_agg(x::text, E'\n' ORDER BY id) FROM contacts x), '') || E'\n' ||
		coalesce((SELECT string_agg(l::text, E'\n' ORDER BY id) FROM leads l), '')`).Scan(&s)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// lead creates a deal ready to qualify, owned by owner.
func (c *customers) lead(id, owner string, f workflows.LeadFields) *workflows.Deal {
	c.t.Helper()
	if f.Topic == "" {
		f.Topic = "Widgets for " + id
	}
	budget := dec("1000")
	f.Budget, f.PurchaseTimeframe, f.DecisionMakerIdentified = &budget, "This Quarter", true
	d := workflows.NewDeal(workflows.NewLead{ID: id, Owner: owner, Currency: "EUR", Lead: f}, c.now)
	c.apply(d.Created(owner, c.now))
	return d
}

// do applies a command to d and writes its Change.
func (c *customers) do(d *workflows.Deal, cmd workflows.Command) (workflows.ChangeResult, error) {
	c.t.Helper()
	c.now = c.now.Add(time.Minute)
	ch, _, err := d.Apply(cmd, c.now)
	if err != nil {
		c.t.Fatalf("%s of %s: %v", cmd.Action(), d.ID, err)
	}
	res, err := store.ApplyChange(context.Background(), c.pool, ch)
	if err != nil {
		return res, err
	}
	return c.apply(ch), nil
}

func (c *customers) qualify(d *workflows.Deal, q workflows.Qualify) workflows.ChangeResult {
	c.t.Helper()
	res, err := c.do(d, &q)
	if err != nil {
		c.t.Fatalf("qualify %s: %v", d.ID, err)
	}
	return res
}

func (c *customers) leadLinks(id string) (account, contact string) {
	c.t.Helper()
	err := c.pool.QueryRow(context.Background(), `SELECT coalesce(account_id, ''), coalesce(contact_id, '') FROM leads WHERE id = $1`, id).
		Scan(&account, &contact)
	if err != nil {
		c.t.Fatal(err)
	}
	return account, contact
}

// Qualifying with a contact on file links it, and its account when none is
// named; one not on file fails for good (ErrUnknownAccount) and writes
// nothing.
func TestQualifyLinksContactOnFile(t *testing.T) {
	c := newCustomers(t)
	a := c.lead("A", "rep@example.com", workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Contoso Ltd",
		Email: "ada@contoso.example.com", Phone: "+1 555 123 4567"})
	res := c.qualify(a, workflows.Qualify{})
	if res.AccountID != "ACC-A" || res.ContactID != "CON-A" {
		t.Fatalf("qualify A: %+v", res)
	}

	// B is the same person under another company spelling: linked to A's
	// contact, and so to A's account.
	b := c.lead("B", "rep@example.com", workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Contoso Limited",
		Email: "ada.park@contoso.example.com"})
	res = c.qualify(b, workflows.Qualify{ExistingContactID: "CON-A"})
	if res.AccountID != "ACC-A" || res.ContactID != "CON-A" {
		t.Fatalf("qualify B with contact CON-A: %+v", res)
	}
	if acc, con := c.leadLinks("B"); acc != "ACC-A" || con != "CON-A" {
		t.Fatalf("lead B links %s %s", acc, con)
	}
	var n int
	if err := c.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM contacts)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d accounts and contacts, want 2 (%v)", n, err)
	}
	var existing string
	if err := c.pool.QueryRow(context.Background(), `SELECT existing_contact_id FROM leads WHERE id = 'B'`).Scan(&existing); err != nil || existing != "CON-A" {
		t.Fatalf("existing_contact_id %q (%v)", existing, err)
	}

	// A named account wins over the contact's.
	c.qualify(c.lead("X", "rep@example.com", workflows.LeadFields{FirstName: "Xi", Company: "Xanadu", Email: "xi@xanadu.example.com"}), workflows.Qualify{})
	d := c.lead("D", "rep@example.com", workflows.LeadFields{FirstName: "Ada", Company: "Contoso", Email: "ada@other.example.com"})
	res = c.qualify(d, workflows.Qualify{ExistingAccountID: "ACC-X", ExistingContactID: "CON-A"})
	if res.AccountID != "ACC-X" || res.ContactID != "CON-A" {
		t.Fatalf("qualify D: %+v", res)
	}

	e := c.lead("E", "rep@example.com", workflows.LeadFields{FirstName: "Eve", Company: "Evil", Email: "eve@evil.example.com"})
	before := c.snapshot()
	_, err := c.do(e, &workflows.Qualify{ExistingContactID: "CON-missing"})
	if !errors.Is(err, store.ErrUnknownAccount) || errors.Is(err, store.ErrInvalidChange) || !strings.Contains(err.Error(), "contact CON-missing") {
		t.Fatalf("unknown contact: %v", err)
	}
	if c.snapshot() != before {
		t.Fatal("a refused qualification wrote rows")
	}
}

func matches(t *testing.T, pool *pgxpool.Pool, q store.DuplicateQuery) []string {
	t.Helper()
	ms, err := store.FindDuplicates(context.Background(), pool, q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		id := m.ID
		if m.Hidden {
			id = "?"
		}
		out = append(out, m.Kind+" "+id+" "+strings.Join(m.Matched, "+"))
	}
	return out
}

// FindDuplicates finds open leads by email, phone and company, contacts by
// email and phone, accounts by name and phone, each folded; leaves the lead
// itself out; and hides from a rep what the rep may not see.
func TestFindDuplicates(t *testing.T) {
	c := newCustomers(t)
	ctx := context.Background()
	c.lead("L1", "rep@example.com", workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Contoso Ltd",
		Email: "Ada@Contoso.example.com", Phone: "+1 (555) 123-4567"})
	q := c.lead("Q", "other@example.com", workflows.LeadFields{FirstName: "Bo", LastName: "Berg", Company: "Fabrikam, Inc.",
		Email: "bo@fabrikam.example.com", Phone: "030 1234567"})
	c.qualify(q, workflows.Qualify{})
	if _, err := store.UpdateAccount(ctx, c.pool, store.User{Role: workflows.RoleManager}, "ACC-Q",
		store.AccountPatch{Phone: ptr("+49 30 7654321")}); err != nil {
		t.Fatal(err)
	}
	dis := c.lead("DQ", "rep@example.com", workflows.LeadFields{FirstName: "Di", Company: "Gone GmbH", Email: "di@gone.example.com"})
	if _, err := c.do(dis, &workflows.Disqualify{Reason: "Lost"}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		q    store.DuplicateQuery
		want []string
	}{
		{"email, any case", store.DuplicateQuery{Email: " ADA@contoso.EXAMPLE.com"}, []string{"lead L1 email"}},
		{"phone, other punctuation", store.DuplicateQuery{Phone: "1-555-123-4567 x9"}, []string{"lead L1 phone"}},
		{"company, other legal form", store.DuplicateQuery{Company: "CONTOSO, Inc."}, []string{"lead L1 company"}},
		{"all three on one lead", store.DuplicateQuery{Email: "ada@contoso.example.com", Phone: "5551234567", Company: "contoso"},
			[]string{"lead L1 email+phone+company"}},
		{"contact by email", store.DuplicateQuery{Email: "BO@fabrikam.example.com"}, []string{"contact CON-Q email"}},
		{"contact by phone, international", store.DuplicateQuery{Phone: "+49 30 1234567"}, []string{"contact CON-Q phone"}},
		{"account by name", store.DuplicateQuery{Company: "Fabrikam"}, []string{"account ACC-Q company"}},
		{"account by phone", store.DuplicateQuery{Phone: "0049 (30) 765-4321"}, []string{"account ACC-Q phone"}},
		{"every kind", store.DuplicateQuery{Email: "bo@fabrikam.example.com", Company: "Contoso"},
			[]string{"lead L1 company", "contact CON-Q email"}},
		{"the lead itself is left out", store.DuplicateQuery{Email: "ada@contoso.example.com", ExcludeLeadID: "L1"}, nil},
		{"its own contact and account too", store.DuplicateQuery{Email: "bo@fabrikam.example.com", Company: "Fabrikam", ExcludeLeadID: "Q"}, nil},
		{"only the kinds asked", store.DuplicateQuery{Company: "Contoso", Kinds: []string{store.KindContact, store.KindAccount}}, nil},
		{"a disqualified lead is no duplicate", store.DuplicateQuery{Company: "Gone"}, nil},
		{"a qualified lead neither (its contact is)", store.DuplicateQuery{Email: "bo@fabrikam.example.com", Kinds: []string{store.KindLead}}, nil},
		{"nothing to compare", store.DuplicateQuery{Phone: "12345", Company: " - "}, nil},
		{"other values", store.DuplicateQuery{Email: "ada@fabrikam.example.com", Phone: "+1 555 123 4568", Company: "Contoso Pharma"}, nil},
		{"hidden from another rep", store.DuplicateQuery{Company: "Contoso", Viewer: &store.User{Email: "nobody@example.com", Role: workflows.RoleRep}},
			[]string{"lead ? company"}},
		{"shown to its owner", store.DuplicateQuery{Company: "Fabrikam", Viewer: &store.User{Email: "other@example.com", Role: workflows.RoleRep}},
			[]string{"account ACC-Q company"}},
		{"shown to a manager", store.DuplicateQuery{Company: "Contoso", Viewer: &store.User{Email: "boss@example.com", Role: workflows.RoleManager}},
			[]string{"lead L1 company"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := matches(t, c.pool, tc.q); !slices.Equal(got, tc.want) {
				t.Fatalf("matches %q, want %q", got, tc.want)
			}
		})
	}

	ms, err := store.FindDuplicates(ctx, c.pool, store.DuplicateQuery{Email: "bo@fabrikam.example.com", Company: "Fabrikam"})
	if err != nil || len(ms) != 2 || ms[0].Name != "Bo Berg" || ms[1].Name != "Fabrikam, Inc." {
		t.Fatalf("names: %+v %v", ms, err)
	}

	// The query of a lead's qualification: contacts and accounts, not
	// leads, and none for a lead a rep may not see or that is not open.
	lq, ok, err := store.LeadDuplicateQuery(ctx, c.pool, store.User{Email: "rep@example.com", Role: workflows.RoleRep}, "L1")
	if err != nil || !ok || lq.Email != "Ada@Contoso.example.com" || lq.ExcludeLeadID != "L1" || slices.Contains(lq.Kinds, store.KindLead) {
		t.Fatalf("lead query: %+v %v %v", lq, ok, err)
	}
	for _, who := range []struct {
		u  store.User
		id string
	}{{store.User{Email: "other@example.com", Role: workflows.RoleRep}, "L1"}, {store.User{Role: workflows.RoleManager}, "Q"},
		{store.User{Role: workflows.RoleManager}, "DQ"}, {store.User{Role: workflows.RoleManager}, "nope"}} {
		if _, ok, err := store.LeadDuplicateQuery(ctx, c.pool, who.u, who.id); ok || err != nil {
			t.Errorf("lead query of %s for %s: %v %v", who.id, who.u.Email, ok, err)
		}
	}
}

// Accounts and contacts: a rep sees those of the deals the rep may see
// (owner or sales team), and only those deals; a manager all; an account a
// rep may not see is not found, like a missing one.
func TestAccountsAndContacts(t *testing.T) {
	c := newCustomers(t)
	ctx := context.Background()
	rep := store.User{Email: "rep@example.com", Role: workflows.RoleRep}
	other := store.User{Email: "other@example.com", Role: workflows.RoleRep}
	team := store.User{Email: "team@example.com", Role: workflows.RoleRep}
	mgr := store.User{Email: "boss@example.com", Role: workflows.RoleManager}

	a1 := c.lead("A1", rep.Email, workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Contoso", Email: "ada@contoso.example.com"})
	c.qualify(a1, workflows.Qualify{})
	a2 := c.lead("A2", other.Email, workflows.LeadFields{FirstName: "Bo", Company: "contoso", Email: "bo@contoso.example.com"})
	c.qualify(a2, workflows.Qualify{})
	if _, err := c.do(a2, &workflows.AddTeamMember{UserID: team.Email}); err != nil {
		t.Fatal(err)
	}
	b := c.lead("B1", other.Email, workflows.LeadFields{FirstName: "Cy", Company: "Fabrikam", Email: "cy@fabrikam.example.com"})
	c.qualify(b, workflows.Qualify{})
	for i, name := range []string{"Alpine Ski House", "Northwind", "Litware"} {
		id := []string{"N1", "N2", "N3"}[i]
		c.qualify(c.lead(id, rep.Email, workflows.LeadFields{FirstName: "N", Company: name, Email: id + "@example.com"}), workflows.Qualify{})
	}

	names := func(u store.User, f store.AccountFilter) ([]string, string) {
		t.Helper()
		l, err := store.ListAccounts(ctx, c.pool, u, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range l.Items {
			out = append(out, a.Name)
		}
		return out, l.NextCursor
	}
	if got, _ := names(mgr, store.AccountFilter{}); !slices.Equal(got, []string{"Alpine Ski House", "Contoso", "Fabrikam", "Litware", "Northwind"}) {
		t.Fatalf("manager's accounts %q", got)
	}
	if got, _ := names(rep, store.AccountFilter{}); !slices.Equal(got, []string{"Alpine Ski House", "Contoso", "Litware", "Northwind"}) {
		t.Fatalf("rep's accounts %q", got)
	}
	if got, _ := names(team, store.AccountFilter{}); !slices.Equal(got, []string{"Contoso"}) {
		t.Fatalf("team member's accounts %q", got)
	}
	if got, _ := names(rep, store.AccountFilter{Name: "WARE"}); !slices.Equal(got, []string{"Litware"}) {
		t.Fatalf("filtered %q", got)
	}
	page1, next := names(rep, store.AccountFilter{Limit: 3})
	page2, last := names(rep, store.AccountFilter{Limit: 3, Cursor: next})
	if !slices.Equal(page1, []string{"Alpine Ski House", "Contoso", "Litware"}) || next == "" || !slices.Equal(page2, []string{"Northwind"}) || last != "" {
		t.Fatalf("pages %q %q (%q)", page1, page2, last)
	}
	if _, err := store.ListAccounts(ctx, c.pool, rep, store.AccountFilter{Cursor: "zz", Name: strings.Repeat("x", 201)}); !slices.Equal(invalidFields(t, err), []string{"name", "cursor"}) {
		t.Fatalf("bad filter: %v", err)
	}

	// Both deals of Contoso for the manager, the rep's own for the rep.
	acc, err := store.GetAccount(ctx, c.pool, mgr, "ACC-A1")
	if err != nil || len(acc.Deals) != 2 || len(acc.Contacts) != 2 || acc.Deals[0].ID != "A1" || acc.Deals[1].ID != "A2" {
		t.Fatalf("manager's account: %+v %v", acc, err)
	}
	if d := acc.Deals[0]; d.Stage != workflows.StageDevelop || d.Status != workflows.StatusOpen || d.Owner != rep.Email || d.Currency != "EUR" || d.Topic != "Widgets for A1" {
		t.Fatalf("deal %+v", d)
	}
	acc, err = store.GetAccount(ctx, c.pool, rep, "ACC-A1")
	if err != nil || len(acc.Deals) != 1 || acc.Deals[0].ID != "A1" || len(acc.Contacts) != 2 {
		t.Fatalf("rep's account: %+v %v", acc, err)
	}
	for _, id := range []string{"ACC-B1", "ACC-none"} {
		if _, err := store.GetAccount(ctx, c.pool, rep, id); !errors.Is(err, store.ErrAccountNotFound) {
			t.Errorf("rep reads %s: %v", id, err)
		}
	}

	// Contacts: a rep sees those of the accounts it sees.
	ct, err := store.GetContact(ctx, c.pool, rep, "CON-A2")
	if err != nil || ct.Email != "bo@contoso.example.com" || ct.AccountID != "ACC-A1" || ct.AccountName != "Contoso" {
		t.Fatalf("contact: %+v %v", ct, err)
	}
	for _, id := range []string{"CON-B1", "CON-none"} {
		if _, err := store.GetContact(ctx, c.pool, rep, id); !errors.Is(err, store.ErrContactNotFound) {
			t.Errorf("rep reads %s: %v", id, err)
		}
	}

	// Edits.
	up, err := store.UpdateAccount(ctx, c.pool, rep, "ACC-A1", store.AccountPatch{Website: ptr(" https://contoso.example.com "),
		Phone: ptr("+1 555 000 1111"), Address: ptr("1 Main St")})
	if err != nil || up.Website != "https://contoso.example.com" || up.Phone != "+1 555 000 1111" || up.Name != "Contoso" || !up.UpdatedAt.After(up.CreatedAt) {
		t.Fatalf("patch: %+v %v", up, err)
	}
	same, err := store.UpdateAccount(ctx, c.pool, rep, "ACC-A1", store.AccountPatch{Address: ptr("1 Main St")})
	if err != nil || !same.UpdatedAt.Equal(up.UpdatedAt) {
		t.Fatalf("no-op patch moved updated_at: %v → %v (%v)", up.UpdatedAt, same.UpdatedAt, err)
	}
	if got := matches(t, c.pool, store.DuplicateQuery{Phone: "555-000-1111"}); !slices.Equal(got, []string{"account ACC-A1 phone"}) {
		t.Fatalf("the edited phone is not matched: %q", got)
	}
	if _, err := store.UpdateAccount(ctx, c.pool, rep, "ACC-A1", store.AccountPatch{Name: ptr("NORTHWIND")}); !errors.Is(err, store.ErrAccountExists) {
		t.Fatalf("taken name: %v", err)
	}
	if _, err := store.UpdateAccount(ctx, c.pool, rep, "ACC-A1", store.AccountPatch{Name: ptr("CONTOSO")}); err != nil {
		t.Fatalf("the same name in another case: %v", err)
	}
	if _, err := store.UpdateAccount(ctx, c.pool, rep, "ACC-B1", store.AccountPatch{Name: ptr("Mine")}); !errors.Is(err, store.ErrAccountNotFound) {
		t.Fatalf("another rep's account: %v", err)
	}
	if _, err := store.UpdateAccount(ctx, c.pool, rep, "ACC-A1", store.AccountPatch{Name: ptr(" "), Phone: ptr("call me"), Website: ptr("a b")}); !slices.Equal(invalidFields(t, err), []string{"name", "website", "phone"}) {
		t.Fatalf("invalid account: %v", err)
	}

	cu, err := store.UpdateContact(ctx, c.pool, rep, "CON-A1", store.ContactPatch{JobTitle: ptr("CTO"), Phone: ptr("+44 20 7946 0958"), Email: ptr("Ada.Park@contoso.example.com")})
	if err != nil || cu.JobTitle != "CTO" || cu.FirstName != "Ada" || cu.Email != "Ada.Park@contoso.example.com" {
		t.Fatalf("contact patch: %+v %v", cu, err)
	}
	if got := matches(t, c.pool, store.DuplicateQuery{Email: "ada.park@contoso.example.com", Phone: "020 7946 0958"}); !slices.Equal(got, []string{"contact CON-A1 email+phone"}) {
		t.Fatalf("the edited contact is not matched: %q", got)
	}
	if _, err := store.UpdateContact(ctx, c.pool, rep, "CON-A1", store.ContactPatch{Email: ptr("BO@contoso.example.com")}); !errors.Is(err, store.ErrContactExists) {
		t.Fatalf("taken email: %v", err)
	}
	if _, err := store.UpdateContact(ctx, c.pool, rep, "CON-A1", store.ContactPatch{Email: ptr("nope"), Phone: ptr("12"), FirstName: ptr(strings.Repeat("x", 201))}); !slices.Equal(invalidFields(t, err), []string{"firstName", "email", "phone"}) {
		t.Fatalf("invalid contact: %v", err)
	}
	if _, err := store.UpdateContact(ctx, c.pool, rep, "CON-B1", store.ContactPatch{JobTitle: ptr("x")}); !errors.Is(err, store.ErrContactNotFound) {
		t.Fatalf("another rep's contact: %v", err)
	}
}

// Rows written before 00004 get their keys when Migrate runs; its Down
// section drops what it added.
func TestMigrationCustomers(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testenv.Database(t))
	if err := store.MigrateTo(ctx, pool, 3); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, sql := range []string{
		`INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'Contoso, Ltd.', $1)`,
		`INSERT INTO contacts (id, account_id, email, phone, created_at) VALUES ('c1', 'a1', 'Ada@Example.com', '555 123 4567', $1)`,
		`INSERT INTO leads (id, owner, stage, status, currency, company, email, phone, created_at, stage_entered_at, updated_at)
			VALUES ('l1', 'rep', 'Qualify', 'open', 'EUR', 'Fabrikam Inc', 'bo@example.com', '', $1, $1, $1)`,
	} {
		if _, err := pool.Exec(ctx, sql, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var updated time.Time
	if err := pool.QueryRow(ctx, `SELECT updated_at FROM accounts WHERE id = 'a1'`).Scan(&updated); err != nil || !updated.Equal(at) {
		t.Fatalf("updated_at %v (%v)", updated, err)
	}
	got := matches(t, pool, store.DuplicateQuery{Email: "ada@example.com", Phone: "+1 555 123 4567", Company: "contoso"})
	if !slices.Equal(got, []string{"contact c1 email+phone", "account a1 company"}) {
		t.Fatalf("old rows: %q", got)
	}
	if got := matches(t, pool, store.DuplicateQuery{Company: "FABRIKAM"}); !slices.Equal(got, []string{"lead l1 company"}) {
		t.Fatalf("old lead: %q", got)
	}
	if err := store.MigrateTo(ctx, pool, 3); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name IN ('accounts', 'contacts', 'leads') AND column_name IN ('website', 'email_key', 'name_key', 'existing_contact_id')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d columns of 00004 left after Down (%v)", n, err)
	}
}

// A qualification written again later (its workflow task failed after the
// write and ran again, at a later workflow time) leaves the account and
// contact the deal created with the rerun's time, the time its state holds;
// an account of another deal it links keeps its own.
func TestQualifyRerunTakesTheRerunsTime(t *testing.T) {
	c := newCustomers(t)
	ctx := context.Background()
	a := c.lead("R1", "rep@example.com", workflows.LeadFields{FirstName: "Ada", LastName: "Park", Company: "Rerun Ltd", Email: "ada@rerun.example"})
	first := a.Clone()
	ch, _, err := first.Apply(&workflows.Qualify{}, c.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyChange(ctx, c.pool, ch); err != nil {
		t.Fatal(err)
	}
	rerun := c.now.Add(3 * time.Minute)
	ch, _, err = a.Apply(&workflows.Qualify{}, rerun)
	if err != nil {
		t.Fatal(err)
	}
	c.apply(ch)
	for _, table := range []string{"accounts", "contacts"} {
		var created, updated time.Time
		if err := c.pool.QueryRow(ctx, `SELECT created_at, updated_at FROM `+table+` WHERE id = $1`,
			map[string]string{"accounts": "ACC-R1", "contacts": "CON-R1"}[table]).Scan(&created, &updated); err != nil {
			t.Fatal(err)
		}
		if !created.Equal(rerun) || !updated.Equal(rerun) {
			t.Errorf("%s: created %s updated %s, want the rerun's %s", table, created, updated, rerun)
		}
	}
	// Another deal of the same company links ACC-R1 and leaves its times.
	b := c.lead("R2", "rep@example.com", workflows.LeadFields{FirstName: "Bo", Company: "Rerun Ltd", Email: "bo@rerun.example"})
	c.qualify(b, workflows.Qualify{})
	var created time.Time
	if err := c.pool.QueryRow(ctx, `SELECT created_at FROM accounts WHERE id = 'ACC-R1'`).Scan(&created); err != nil || !created.Equal(rerun) {
		t.Fatalf("ACC-R1 created %s after another deal linked it (%v)", created, err)
	}
}
