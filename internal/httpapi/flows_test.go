package httpapi_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"dealflow/internal/httpapi"
	"dealflow/internal/store"
	"dealflow/workflows"
)

// The same id, or the same Idempotency-Key from the same user, is the same
// deal: one workflow start, never two.
func TestCreateIsIdempotent(t *testing.T) {
	rc := &racer{}
	e := newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal { rc.Temporal = c; return rc }})
	body := lead("")
	delete(body, "id")
	body["email"] = "ada@example.com"

	first := e.do("POST", "/v1/leads", e.repA, body, "Idempotency-Key: k-1")
	if first.code != http.StatusCreated {
		t.Fatalf("create: %d %s", first.code, first.raw)
	}
	id := first.str("id")
	if first.header.Get("Location") != "/v1/leads/"+id || !strings.HasPrefix(id, "ld-") {
		t.Fatalf("id %q, Location %q", id, first.header.Get("Location"))
	}
	again := e.do("POST", "/v1/leads", e.repA, body, "Idempotency-Key: k-1")
	if again.code != http.StatusOK || again.str("id") != id {
		t.Fatalf("repeat: %d %s", again.code, again.raw)
	}
	// Another user's lead, of the same customer: a possible duplicate of
	// the first, allowed.
	body["allowDuplicate"] = true
	other := e.do("POST", "/v1/leads", e.repB, body, "Idempotency-Key: k-1")
	if other.code != http.StatusCreated || other.str("id") == id {
		t.Fatalf("another user's key made %d %s", other.code, other.raw)
	}
	random := e.do("POST", "/v1/leads", e.repA, body)
	if random.code != http.StatusCreated || random.str("id") == id {
		t.Fatalf("no key: %d %s", random.code, random.raw)
	}

	e.create(e.repA, "mine")
	if r := e.do("POST", "/v1/leads", e.repA, lead("mine")); r.code != http.StatusOK || r.str("id") != "mine" {
		t.Fatalf("same id: %d %s", r.code, r.raw)
	}
	// Another rep's id is taken, without showing that deal.
	r := e.do("POST", "/v1/leads", e.repB, lead("mine"))
	wantProblem(t, r, http.StatusConflict, "id-taken")
	if strings.Contains(r.raw, "Lovelace") {
		t.Fatalf("the conflict shows the deal: %s", r.raw)
	}
	// Two requests racing to start one id: the loser answers like a
	// repeat. The competitor starts the deal after the loser's checks and
	// before its Update-with-Start, which finds the deal there: no look-up
	// before the start is needed to tell.
	race := func(token, id string) resp {
		rc.arm(func() { e.create(e.repA, id) })
		return e.do("POST", "/v1/leads", token, lead(id))
	}
	if r := race(e.repA, "raced"); r.code != http.StatusOK || r.str("id") != "raced" {
		t.Fatalf("race, same user: %d %s", r.code, r.raw)
	}
	wantProblem(t, race(e.repB, "raced-b"), http.StatusConflict, "id-taken")
	if n := e.started(6); n != 6 {
		t.Fatalf("%d workflows started, want 6", n)
	}
	var rows int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM leads`).Scan(&rows); err != nil || rows != 6 {
		t.Fatalf("%d lead rows (%v), want 6", rows, err)
	}
}

// A repeated action with the same Idempotency-Key is done once.
func TestActionIsIdempotent(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "d")
	e.act(e.repA, "POST", "/v1/leads/d/qualify", nil)
	line := map[string]any{"product": "Widget", "quantity": "1", "unitPrice": "10"}
	a := e.do("POST", "/v1/leads/d/lines", e.repA, line, "Idempotency-Key: line-1")
	b := e.do("POST", "/v1/leads/d/lines", e.repA, line, "Idempotency-Key: line-1")
	if a.code != 200 || a.raw != b.raw {
		t.Fatalf("retry answered differently:\n%s\n%s", a.raw, b.raw)
	}
	e.do("POST", "/v1/leads/d/lines", e.repA, line, "Idempotency-Key: line-2")
	d := e.act(e.repA, "GET", "/v1/leads/d", nil)
	if n := len(d.body["opportunity"].(map[string]any)["lines"].([]any)); n != 2 {
		t.Fatalf("%d lines, want 2 (two keys, three requests)", n)
	}
	if r := e.do("POST", "/v1/leads/d/lines", e.repA, line, "Idempotency-Key: "+strings.Repeat("k", 300)); r.code != 400 {
		t.Fatalf("a 300-character key: %d", r.code)
	}
}

// Rep A owns the deal, rep B is a stranger until put on the team, the
// manager sees and acts on everything: every route under /v1/leads/{id}.
func TestAuthorization(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "a1")
	bodies := map[string]any{
		"assign": map[string]any{"owner": "b@example.com"}, "disqualify": map[string]any{"reason": "Lost"},
		"add_stakeholder": map[string]any{"name": "n", "role": "Champion"}, "add_competitor": map[string]any{"name": "n"},
		"add_team_member": map[string]any{"userId": "b@example.com"},
		"add_line":        map[string]any{"product": "p", "quantity": "1", "unitPrice": "1"},
		"edit_quote":      map[string]any{"name": "n"}, "close": map[string]any{"outcome": "won"},
		"cancel_order": map[string]any{"reason": "r"}, "record_payment": map[string]any{"amount": "1"},
		"cancel_invoice": map[string]any{"reason": "r"},
		"add_activity":   map[string]any{"type": "note", "description": "n"},
	}
	for _, ra := range httpapi.RouteActions() {
		path := strings.NewReplacer(":id", "a1", ":itemId", "x", ":revision", "1").Replace(ra.Path)
		t.Run("rep B "+ra.Method+" "+ra.Path, func(t *testing.T) {
			r := e.do(ra.Method, path, e.repB, bodies[string(ra.Action)])
			if ra.Action == "assign" {
				wantProblem(t, r, http.StatusForbidden, "forbidden")
				return
			}
			wantProblem(t, r, http.StatusNotFound, "not-found")
		})
	}
	for _, p := range []struct{ method, path string }{{"GET", "/v1/leads/a1"}, {"PATCH", "/v1/leads/a1"}, {"GET", "/v1/leads/a1/timeline"}} {
		wantProblem(t, e.do(p.method, p.path, e.repB, `{"topic":"x"}`), http.StatusNotFound, "not-found")
	}
	if r := e.do("GET", "/v1/leads", e.repB, nil); len(r.list("items")) != 0 {
		t.Fatalf("rep B lists rep A's deal: %s", r.raw)
	}

	// The manager reads and acts; the rep on the team reads and acts.
	e.act(e.mgr, "GET", "/v1/leads/a1", nil)
	e.act(e.mgr, "POST", "/v1/leads/a1/qualify", nil)
	e.act(e.repA, "POST", "/v1/leads/a1/team", map[string]any{"userId": "B@example.com", "role": "engineer"})
	e.act(e.repB, "GET", "/v1/leads/a1", nil)
	e.act(e.repB, "POST", "/v1/leads/a1/competitors", map[string]any{"name": "Acme"})
	e.act(e.repB, "GET", "/v1/leads/a1/timeline", nil)
	if r := e.do("GET", "/v1/leads", e.repB, nil); len(r.list("items")) != 1 {
		t.Fatalf("rep B on the team does not list the deal: %s", r.raw)
	}
	if r := e.do("POST", "/v1/leads/a1/team", e.repA, map[string]any{"userId": "nobody@example.com"}); r.code != 422 {
		t.Fatalf("team member who is not a user: %d %s", r.code, r.raw)
	}

	// The manager hands the deal to rep B; rep A then no longer sees it.
	e.act(e.mgr, "POST", "/v1/leads/a1/assign", map[string]any{"owner": "b@example.com"})
	d := e.act(e.repB, "GET", "/v1/leads/a1", nil)
	if d.str("owner") != "b@example.com" {
		t.Fatalf("owner %q", d.str("owner"))
	}
	wantProblem(t, e.do("GET", "/v1/leads/a1", e.repA, nil), http.StatusNotFound, "not-found")

	// A manager may create a lead for a rep.
	body := lead("for-b")
	body["owner"] = "b@example.com"
	if r := e.do("POST", "/v1/leads", e.mgr, body); r.code != 201 || r.str("owner") != "b@example.com" || r.str("manager") != "boss@example.com" {
		t.Fatalf("manager creates for rep B: %d %s", r.code, r.raw)
	}
	// A rep's new lead escalates to the longest-standing manager.
	if r := e.create(e.repA, "own"); r.str("manager") != "boss@example.com" || r.str("owner") != "a@example.com" {
		t.Fatalf("rep's lead: %s", r.raw)
	}
}

// Every stage through the API, with the lost, reopen, disqualify and
// revision paths; each action answers its Update's result.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "w")
	e.toPropose(e.repA, "w")
	base := "/v1/leads/w"
	e.act(e.repA, "PATCH", base+"/quotes/1", map[string]any{"paymentTerms": "Net 45",
		"lines": []map[string]any{{"product": "Widget", "quantity": "4", "unitPrice": "250", "tax": "10.5"}}})
	a := e.act(e.repA, "POST", base+"/quotes/1/activate", nil)
	if a.str("stage") != "Close" || a.str("total") != "1010.5" {
		t.Fatalf("activate: %s", a.raw)
	}
	rv := e.act(e.repA, "POST", base+"/quotes/1/revise", nil)
	if rv.str("revision") != "2" || rv.str("stage") != "Propose" {
		t.Fatalf("revise: %s", rv.raw)
	}
	e.act(e.repA, "POST", base+"/quotes/2/activate", nil)
	lost := e.act(e.repA, "POST", base+"/close", map[string]any{"outcome": "lost", "reason": "Out-Sold", "competitor": "Acme"})
	if lost.str("status") != "lost" {
		t.Fatalf("lost: %s", lost.raw)
	}
	if r := e.act(e.repA, "POST", base+"/reopen", nil); r.str("stage") != "Develop" || r.str("status") != "open" {
		t.Fatalf("reopen: %s", r.raw)
	}
	e.act(e.repA, "POST", base+"/quotes", map[string]any{"paymentTerms": "2% 10, Net 30"})
	e.act(e.repA, "POST", base+"/quotes/3/activate", nil)
	e.act(e.repA, "POST", base+"/close", map[string]any{"outcome": "won", "actualRevenue": "990"})
	e.act(e.repA, "POST", base+"/order/fulfill", nil)
	p := e.act(e.repA, "POST", base+"/invoice/payments", map[string]any{"amount": "980.98"}) // 1001 less 2%
	if p.str("stage") != "Paid" {
		t.Fatalf("early payment with the 2%% discount: %s", p.raw)
	}

	e.create(e.repA, "dq")
	e.act(e.repA, "POST", "/v1/leads/dq/disqualify", map[string]any{"reason": "Cannot Contact"})
	wantProblem(t, e.do("PATCH", "/v1/leads/dq", e.repA, map[string]any{"topic": "x"}), 409, "wrong-stage")
	if r := e.act(e.repA, "POST", "/v1/leads/dq/reactivate", nil); r.str("status") != "open" {
		t.Fatalf("reactivate: %s", r.raw)
	}

	e.create(e.repA, "rm")
	e.act(e.repA, "POST", "/v1/leads/rm/qualify", nil)
	for _, kind := range []struct{ path, idPrefix string }{
		{"stakeholders", "stakeholder-"}, {"competitors", "competitor-"}, {"lines", "line-"},
	} {
		body := map[string]any{"name": "X", "role": "Influencer"}
		if kind.path == "competitors" {
			body = map[string]any{"name": "X"}
		}
		if kind.path == "lines" {
			body = map[string]any{"product": "X", "quantity": "1", "unitPrice": "1"}
		}
		added := e.act(e.repA, "POST", "/v1/leads/rm/"+kind.path, body)
		id := added.str("id")
		if !strings.HasPrefix(id, kind.idPrefix) {
			t.Fatalf("%s id %q", kind.path, id)
		}
		e.act(e.repA, "DELETE", "/v1/leads/rm/"+kind.path+"/"+id, nil)
		wantProblem(t, e.do("DELETE", "/v1/leads/rm/"+kind.path+"/"+id, e.repA, nil), 404, "not-found")
	}
	e.act(e.repA, "POST", "/v1/leads/rm/close", map[string]any{"outcome": "lost", "reason": "Canceled"})

	e.create(e.repA, "oc")
	e.toPropose(e.repA, "oc")
	e.act(e.repA, "POST", "/v1/leads/oc/quotes/1/activate", nil)
	e.act(e.repA, "POST", "/v1/leads/oc/close", map[string]any{"outcome": "won"})
	if r := e.act(e.repA, "POST", "/v1/leads/oc/order/cancel", map[string]any{"reason": "customer went bust"}); r.str("status") != "canceled" {
		t.Fatalf("cancel order: %s", r.raw)
	}

	e.create(e.repA, "ic")
	e.toPropose(e.repA, "ic")
	e.act(e.repA, "POST", "/v1/leads/ic/quotes/1/activate", nil)
	e.act(e.repA, "POST", "/v1/leads/ic/close", map[string]any{"outcome": "won"})
	e.act(e.repA, "POST", "/v1/leads/ic/order/fulfill", nil)
	r := e.do("POST", "/v1/leads/ic/invoice/payments", e.repA, map[string]any{"amount": "5000"})
	wantProblem(t, r, 422, "invalid-fields")
	if !slices.Contains(fields(r), "amount") {
		t.Fatalf("overpayment: %s", r.raw)
	}
	e.act(e.repA, "POST", "/v1/leads/ic/invoice/cancel", map[string]any{"reason": "billed twice"})

	// The timeline and the list reflect all of it.
	tl := e.act(e.repA, "GET", base+"/timeline?limit=5", nil)
	if len(tl.list("items")) != 5 || tl.str("nextAfter") != "5" {
		t.Fatalf("timeline page: %s", tl.raw)
	}
	tl = e.act(e.repA, "GET", base+"/timeline?after=5&limit=200", nil)
	if len(tl.list("items")) != 12 || tl.str("items.0.seq") != "6" || tl.str("items.11.action") != "record_payment" {
		t.Fatalf("timeline rest: %s", tl.raw)
	}
}

// Lists filter, search, sort and page through PostgreSQL.
func TestListLeads(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := range 7 {
		id := fmt.Sprintf("l%d", i)
		body := lead(id)
		body["estimatedValue"] = fmt.Sprintf("%d00.25", i+1)
		if i%2 == 1 {
			body["source"] = "Partner"
		}
		if r := e.do("POST", "/v1/leads", e.repA, body); r.code != 201 {
			t.Fatalf("create %s: %d %s", id, r.code, r.raw)
		}
	}
	e.create(e.repB, "b0")
	e.act(e.repA, "POST", "/v1/leads/l6/qualify", nil)

	ids := func(r resp) []string {
		var out []string
		for _, it := range r.list("items") {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		return out
	}
	cases := []struct {
		token, query string
		want         []string
	}{
		{e.repA, "", []string{"l6", "l5", "l4", "l3", "l2", "l1", "l0"}},
		{e.mgr, "sort=created", []string{"l0", "l1", "l2", "l3", "l4", "l5", "l6", "b0"}},
		{e.mgr, "owner=B@example.com", []string{"b0"}},
		{e.repA, "stage=Develop", []string{"l6"}},
		{e.repA, "stage=Qualify&source=Partner&sort=created", []string{"l1", "l3", "l5"}},
		{e.repA, "status=open&min_value=500&sort=-value", []string{"l6", "l5", "l4"}},
		{e.repA, "q=engines+l3", []string{"l3"}},
		{e.repA, "q=L2%40EXAMPLE", []string{"l2"}},
		{e.repA, "q=100%25", nil},
		{e.repB, "", []string{"b0"}},
	}
	for _, c := range cases {
		r := e.act(c.token, "GET", "/v1/leads?"+c.query, nil)
		if got := ids(r); !slices.Equal(got, c.want) {
			t.Errorf("?%s: %v, want %v", c.query, got, c.want)
		}
	}
	r := e.act(e.repA, "GET", "/v1/leads?stage=Develop", nil)
	it := r.list("items")[0].(map[string]any)
	if it["value"] != "700.25" || it["contact"] != "Ada Lovelace" || it["owner"] != "a@example.com" {
		t.Errorf("row: %v", it)
	}

	// Pages of 3 by value, ascending, then descending by creation.
	for _, sort := range []string{"value", "-created", "updated"} {
		var all []string
		cur := ""
		for page := 0; ; page++ {
			q := url.Values{"limit": {"3"}, "sort": {sort}}
			if cur != "" {
				q.Set("cursor", cur)
			}
			r := e.act(e.repA, "GET", "/v1/leads?"+q.Encode(), nil)
			all = append(all, ids(r)...)
			cur = r.str("nextCursor")
			if cur == "" {
				break
			}
			if page > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if len(all) != 7 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 7 {
			t.Errorf("sort %s pages: %v", sort, all)
		}
		if sort == "value" && !slices.Equal(all, []string{"l0", "l1", "l2", "l3", "l4", "l5", "l6"}) {
			t.Errorf("by value: %v", all)
		}
	}
	first := e.act(e.repA, "GET", "/v1/leads?limit=2", nil)
	wantProblem(t, e.do("GET", "/v1/leads?sort=value&cursor="+first.str("nextCursor"), e.repA, nil), 422, "invalid-fields")
}

// pipelineDeals makes the deals the pipeline tests count: rep A's won and
// lost ones, rep B's open ones in EUR and USD.
func pipelineDeals(t *testing.T, e *env) {
	t.Helper()
	e.create(e.repA, "won")
	e.toPropose(e.repA, "won")
	e.act(e.repA, "POST", "/v1/leads/won/quotes/1/activate", nil)
	e.act(e.repA, "POST", "/v1/leads/won/close", map[string]any{"outcome": "won"})
	e.create(e.repA, "lost")
	e.act(e.repA, "POST", "/v1/leads/lost/qualify", nil)
	e.act(e.repA, "POST", "/v1/leads/lost/close", map[string]any{"outcome": "lost", "reason": "Canceled"})
	body := lead("eur")
	body["currency"] = "EUR"
	if r := e.do("POST", "/v1/leads", e.repB, body); r.code != 201 {
		t.Fatalf("eur: %d %s", r.code, r.raw)
	}
	e.create(e.repB, "usd")
}

// The pipeline counts stages, values per currency, win rate, stage times
// and lead-to-win; reps get theirs, managers everyone's and per owner.
func TestPipeline(t *testing.T) {
	e := newEnv(t, envOpts{})
	pipelineDeals(t, e)

	r := e.act(e.repA, "GET", "/v1/pipeline", nil)
	if r.str("won") != "1" || r.str("lost") != "1" || r.str("winRate") != "0.5" {
		t.Fatalf("rep A: %s", r.raw)
	}
	if r.body["owners"] != nil {
		t.Fatalf("a rep sees the per-owner breakdown: %s", r.raw)
	}
	if r.str("stages.4.stage") != "Order" || r.str("stages.4.count") != "1" || r.str("stages.4.value.0.amount") != "1001" {
		t.Fatalf("rep A's Order stage: %s", r.raw)
	}
	if r.str("statuses.lost") != "1" || r.str("leadToWinDays") == "" {
		t.Fatalf("rep A: %s", r.raw)
	}
	if _, ok := r.body["avgDaysInStage"].(map[string]any)["Qualify"]; !ok {
		t.Fatalf("no time in Qualify: %s", r.raw)
	}

	m := e.act(e.mgr, "GET", "/v1/pipeline", nil)
	if m.str("stages.0.count") != "2" || m.str("stages.0.value.0.currency") != "EUR" || m.str("stages.0.value.1.currency") != "USD" {
		t.Fatalf("manager's Qualify stage: %s", m.raw)
	}
	if m.str("owners.0.owner") != "a@example.com" || m.str("owners.1.owner") != "b@example.com" || m.str("owners.1.winRate") != "" {
		t.Fatalf("manager's owners: %s", m.raw)
	}
	wantProblem(t, e.do("GET", "/v1/pipeline?x=1", e.mgr, nil), 422, "invalid-fields")
}

// Managers create users over the API; the token is returned once and works.
func TestCreateUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.do("POST", "/v1/users", e.mgr, map[string]any{"email": "New@Example.com", "name": "New", "role": "rep"})
	if r.code != 201 || r.str("email") != "new@example.com" || !strings.HasPrefix(r.str("token"), "dft_") {
		t.Fatalf("create user: %d %s", r.code, r.raw)
	}
	tok := r.str("token")
	if got := e.do("GET", "/v1/leads", tok, nil); got.code != 200 {
		t.Fatalf("new token: %d %s", got.code, got.raw)
	}
	var stored int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM api_tokens WHERE token_hash = $1`, store.HashToken(tok)).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("hash stored %d times (%v)", stored, err)
	}
	var plain int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM api_tokens WHERE encode(token_hash, 'escape') LIKE '%dft_%'`).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("a token is stored in the clear (%v)", err)
	}
	if n, err := store.RevokeUserTokens(t.Context(), e.pool, "NEW@example.com"); err != nil || n != 1 {
		t.Fatalf("revoke by email: %d %v", n, err)
	}
	wantProblem(t, e.do("GET", "/v1/leads", tok, nil), 401, "unauthorized")
}

// A deal whose workflow does not answer in time (no worker) is still
// created, durably: 202 with its Location, and a repeat finds it once the
// worker runs.
func TestCreateAcceptedWhenWorkerSlow(t *testing.T) {
	// The deal, with no worker, never answers, so the creation's wait for it
	// (its created Update's) always ends (a second before the deadline),
	// the start having been recorded; one look-up finds the deal, and the
	// answer is 202. The timeout only has to leave room for the request's
	// work before the wait (token, duplicate and health checks), which a
	// busy machine stretches past a second.
	calls := &callCounter{}
	e := newEnv(t, envOpts{timeout: 5 * time.Second, noWorker: true, wrap: calls.wrap})
	calls.take()
	r := e.do("POST", "/v1/leads", e.repA, lead("later"))
	if r.code != http.StatusAccepted || r.header.Get("Location") != "/v1/leads/later" || r.str("id") != "later" {
		t.Fatalf("create with a slow worker: %d %v %s", r.code, r.header, r.raw)
	}
	got := calls.take()
	delete(got, "CheckHealth")
	if want := map[string]int{"UpdateWithStartWorkflow": 1, "DescribeWorkflowExecution": 1}; !maps.Equal(got, want) {
		t.Errorf("called Temporal's %v, want %v", got, want)
	}
	e.startWorker()
	e.setTimeout(0) // the default: time for the new worker to take the deal up
	if r := e.do("POST", "/v1/leads", e.repA, lead("later")); r.code != http.StatusOK || r.str("stage") != "Qualify" {
		t.Fatalf("repeat: %d %s", r.code, r.raw)
	}
	if n := e.started(1); n != 1 {
		t.Fatalf("%d starts", n)
	}
}

// A deal shows its policy as the API takes it: Go duration strings, the ones
// given and the defaults, not the nanoseconds the workflow keeps.
func TestPolicyShownAsGiven(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := lead("pol")
	body["policy"] = map[string]any{"leadReminderAfter": "2h", "thankYouAfter": "90s", "leadReminders": 3}
	r := e.do("POST", "/v1/leads", e.repA, body)
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	for _, got := range []resp{r, e.do("GET", "/v1/leads/pol", e.repA, nil)} {
		p, _ := got.body["policy"].(map[string]any)
		want := map[string]any{
			"leadReminderAfter": "2h0m0s", "thankYouAfter": "1m30s", "leadReminders": float64(3),
			"retention": workflows.DefaultPolicy().Retention.String(), "day": workflows.DefaultPolicy().Day.String(),
		}
		for k, v := range want {
			if p[k] != v {
				t.Errorf("policy.%s = %#v, want %#v (%s)", k, p[k], v, got.raw)
			}
		}
		if len(p) != 15 {
			t.Errorf("policy has %d fields, want all 15: %v", len(p), p)
		}
	}
}
