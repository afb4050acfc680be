package httpapi_test

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"dealflow/internal/httpapi"
	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
)

// Every error class the API answers, each a problem+json with its fields.
func TestErrorClasses(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "deal-1")
	revoked := e.user("gone@example.com", httpapi.RoleRep)
	if ok, err := store.RevokeToken(context.Background(), e.pool, revoked); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	big := `{"topic":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`

	cases := []struct {
		name           string
		method, path   string
		token          string
		body           any
		code           int
		typ            string
		fields         []string // 422: the fields listed
		missing        string   // 409: one of the missing things
		detailContains string
	}{
		{name: "no token", method: "GET", path: "/v1/leads/deal-1", code: 401, typ: "unauthorized"},
		{name: "not bearer", method: "GET", path: "/v1/leads/deal-1", token: "-", code: 401, typ: "unauthorized"},
		{name: "unknown token", method: "GET", path: "/v1/leads/deal-1", token: "dft_nope", code: 401, typ: "unauthorized"},
		{name: "revoked token", method: "GET", path: "/v1/leads/deal-1", token: revoked, code: 401, typ: "unauthorized"},

		{name: "malformed JSON", method: "POST", path: "/v1/leads", token: e.repA, body: `{"topic":`, code: 400, typ: "malformed-request"},
		{name: "not an object", method: "POST", path: "/v1/leads", token: e.repA, body: `["topic"]`, code: 400, typ: "malformed-request"},
		{name: "no body", method: "POST", path: "/v1/leads", token: e.repA, code: 400, typ: "malformed-request"},
		{name: "trailing data", method: "POST", path: "/v1/leads", token: e.repA, body: `{"topic":"a"} {}`, code: 400, typ: "malformed-request"},

		{name: "unknown fields", method: "POST", path: "/v1/leads", token: e.repA,
			body: map[string]any{"topic": "t", "colour": "red", "actor": "x"}, code: 422, typ: "invalid-fields", fields: []string{"actor", "colour"}},
		{name: "missing topic, bad email, currency, negative budget", method: "POST", path: "/v1/leads", token: e.repA,
			body: map[string]any{"email": "nope", "currency": "XXX", "budget": "-5"}, code: 422, typ: "invalid-fields",
			fields: []string{"topic", "email", "currency", "budget"}},
		{name: "wrong types", method: "POST", path: "/v1/leads", token: e.repA,
			body: map[string]any{"topic": 5, "budget": true, "decisionMakerIdentified": "yes"}, code: 422, typ: "invalid-fields",
			fields: []string{"budget", "decisionMakerIdentified", "topic"}},
		{name: "bad lead id", method: "POST", path: "/v1/leads", token: e.repA,
			body: map[string]any{"id": "no/slashes", "topic": "t"}, code: 422, typ: "invalid-fields", fields: []string{"id"}},
		{name: "bad policy", method: "POST", path: "/v1/leads", token: e.repA,
			body: map[string]any{"topic": "t", "policy": map[string]any{"retention": "soon"}}, code: 422, typ: "invalid-fields", fields: []string{"policy.retention"}},
		{name: "owner not a user", method: "POST", path: "/v1/leads", token: e.mgr,
			body: map[string]any{"topic": "t", "owner": "nobody@example.com"}, code: 422, typ: "invalid-fields", fields: []string{"owner"}},
		{name: "negative quantity", method: "POST", path: "/v1/leads/deal-1/lines", token: e.repA,
			body: map[string]any{"product": "p", "quantity": "-1", "unitPrice": "1"}, code: 422, typ: "invalid-fields", fields: []string{"quantity"}},
		{name: "discount above line total", method: "POST", path: "/v1/leads/deal-1/lines", token: e.repA,
			body: map[string]any{"product": "p", "quantity": "1", "unitPrice": "10", "discount": "11"}, code: 422, typ: "invalid-fields", fields: []string{"discount"}},
		{name: "not a decimal", method: "POST", path: "/v1/leads/deal-1/lines", token: e.repA,
			body: map[string]any{"product": "p", "quantity": "lots", "unitPrice": "1"}, code: 422, typ: "invalid-fields", fields: []string{"quantity"}},
		{name: "unknown stakeholder role", method: "POST", path: "/v1/leads/deal-1/stakeholders", token: e.repA,
			body: map[string]any{"name": "n", "role": "Boss"}, code: 422, typ: "invalid-fields", fields: []string{"role"}},
		{name: "bad disqualify reason", method: "POST", path: "/v1/leads/deal-1/disqualify", token: e.repA,
			body: map[string]any{"reason": "Bored"}, code: 422, typ: "invalid-fields", fields: []string{"reason"}},
		{name: "close lost out-sold without competitor", method: "POST", path: "/v1/leads/deal-1/close", token: e.repA,
			body: map[string]any{"outcome": "lost", "reason": "Out-Sold"}, code: 422, typ: "invalid-fields", fields: []string{"competitor"}},
		{name: "revision in body", method: "POST", path: "/v1/leads/deal-1/quotes/1/activate", token: e.repA,
			body: map[string]any{"revision": 2}, code: 422, typ: "invalid-fields", fields: []string{"revision"}},
		{name: "edit lead with opportunity fields", method: "PATCH", path: "/v1/leads/deal-1", token: e.repA,
			body: map[string]any{"customerNeed": "x"}, code: 422, typ: "invalid-fields", fields: []string{"customerNeed"}, detailContains: "edit_lead"},
		{name: "list filters", method: "GET", path: "/v1/leads?stage=Nowhere&sort=colour&limit=0&min_value=abc&cursor=zz&page=2", token: e.repA,
			code: 422, typ: "invalid-fields", fields: []string{"page", "stage", "min_value", "sort", "cursor", "limit"}},
		{name: "new user", method: "POST", path: "/v1/users", token: e.mgr,
			body: map[string]any{"email": "x", "role": "boss"}, code: 422, typ: "invalid-fields", fields: []string{"email", "role"}},

		{name: "too large", method: "POST", path: "/v1/leads", token: e.repA, body: big, code: 413, typ: "too-large"},

		{name: "unknown deal", method: "GET", path: "/v1/leads/nope", token: e.repA, code: 404, typ: "not-found"},
		{name: "invalid deal id", method: "GET", path: "/v1/leads/..x", token: e.repA, code: 404, typ: "not-found"},
		{name: "another rep's deal", method: "GET", path: "/v1/leads/deal-1", token: e.repB, code: 404, typ: "not-found", detailContains: "no lead deal-1"},
		{name: "another rep acts", method: "POST", path: "/v1/leads/deal-1/qualify", token: e.repB, code: 404, typ: "not-found"},
		{name: "another rep's timeline", method: "GET", path: "/v1/leads/deal-1/timeline", token: e.repB, code: 404, typ: "not-found"},
		{name: "unknown item", method: "DELETE", path: "/v1/leads/deal-1/lines/line-99", token: e.repA, code: 409, typ: "wrong-stage"},
		{name: "bad revision", method: "POST", path: "/v1/leads/deal-1/quotes/first/activate", token: e.repA, code: 404, typ: "not-found"},
		{name: "unknown route", method: "GET", path: "/v1/nothing", token: e.repA, code: 404, typ: "not-found"},
		{name: "method not allowed", method: "PUT", path: "/v1/leads/deal-1", token: e.repA, code: 405, typ: "method-not-allowed"},

		{name: "rep assigns", method: "POST", path: "/v1/leads/deal-1/assign", token: e.repA, body: map[string]any{"owner": "b@example.com"}, code: 403, typ: "forbidden"},
		{name: "rep creates for another", method: "POST", path: "/v1/leads", token: e.repA, body: map[string]any{"topic": "t", "owner": "b@example.com"}, code: 403, typ: "forbidden"},
		{name: "rep creates a user", method: "POST", path: "/v1/users", token: e.repA, body: map[string]any{"email": "c@example.com", "role": "rep"}, code: 403, typ: "forbidden"},

		{name: "wrong stage", method: "POST", path: "/v1/leads/deal-1/order/fulfill", token: e.repA, code: 409, typ: "wrong-stage"},
		{name: "gate not met", method: "POST", path: "/v1/leads/deal-1/assign", token: e.mgr, body: map[string]any{"owner": "a@example.com"}, code: 409, typ: "gate-not-met"},
		{name: "user exists", method: "POST", path: "/v1/users", token: e.mgr, body: map[string]any{"email": "A@example.com", "role": "rep"}, code: 409, typ: "user-exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.token, c.body)
			wantProblem(t, r, c.code, c.typ)
			if c.fields != nil {
				got := fields(r)
				for _, f := range c.fields {
					if !slices.Contains(got, f) {
						t.Errorf("errors %v do not name %s: %s", got, f, r.raw)
					}
				}
			}
			if c.code == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if c.detailContains != "" && !strings.Contains(r.str("detail"), c.detailContains) {
				t.Errorf("detail %q does not say %q", r.str("detail"), c.detailContains)
			}
		})
	}
	if n := e.started(1); n != 1 {
		t.Errorf("%d workflows started; only deal-1 should have been", n)
	}
}

// A gate names what is missing; an unknown item in Develop is a 404.
func TestRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.do("POST", "/v1/leads", e.repA, map[string]any{"id": "thin", "topic": "thin lead"})
	r := e.do("POST", "/v1/leads/thin/qualify", e.repA, nil)
	wantProblem(t, r, 409, "gate-not-met")
	var missing []string
	for _, m := range r.list("missing") {
		missing = append(missing, m.(string))
	}
	for _, want := range []string{"contact name", "budget", "decision maker identified"} {
		if !slices.Contains(missing, want) {
			t.Errorf("missing %v lacks %q", missing, want)
		}
	}
	if r.str("stage") != "Qualify" || r.str("dealStatus") != "open" {
		t.Errorf("refusal does not say where the deal stands: %s", r.raw)
	}

	e.create(e.repA, "dev")
	e.act(e.repA, "POST", "/v1/leads/dev/qualify", nil)
	wantProblem(t, e.do("DELETE", "/v1/leads/dev/lines/line-99", e.repA, nil), 404, "not-found")
	wantProblem(t, e.do("POST", "/v1/leads/dev/quotes/3/activate", e.repA, nil), 409, "wrong-stage")
	r = e.do("POST", "/v1/leads/dev/quotes", e.repA, nil)
	wantProblem(t, r, 409, "gate-not-met")
	if !strings.Contains(r.raw, "at least one stakeholder") {
		t.Errorf("propose gate does not name the stakeholder: %s", r.raw)
	}
}

// Past the per-token rate, 429 with Retry-After; other tokens are unaffected.
// The server's clock stands still: no bucket refills between the requests,
// however long they take.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{rateLimit: 1, now: newStepClock().Now}) // burst 2
	for i := range 2 {
		if r := e.do("GET", "/v1/leads", e.repA, nil); r.code != 200 {
			t.Fatalf("request %d: %d %s", i, r.code, r.raw)
		}
	}
	r := e.do("GET", "/v1/leads", e.repA, nil)
	wantProblem(t, r, 429, "rate-limited")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	if r := e.do("GET", "/v1/leads", e.repB, nil); r.code != 200 {
		t.Fatalf("another token is throttled too: %d", r.code)
	}
}

// Requests failing authentication are limited per client address: past the
// rate, that address gets 429 before its token is even looked up (a valid
// one included, until its bucket refills); other addresses are unaffected.
// The buckets refill only when the test steps the server's clock.
func TestFailedAuthenticationIsRateLimitedPerAddress(t *testing.T) {
	clock := newStepClock()
	e := newEnv(t, envOpts{rateLimit: 1, now: clock.Now}) // burst 2
	from := func(addr, token string) resp {
		t.Helper()
		return e.do("GET", "/v1/leads", token, nil, "X-Test-Remote-Addr: "+addr+":40000")
	}
	for range 2 {
		wantProblem(t, from("198.51.100.7", "dft_guessed"), 401, "unauthorized")
	}
	r := from("198.51.100.7", "dft_guessed")
	wantProblem(t, r, 429, "rate-limited")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" || !strings.Contains(r.str("detail"), "without a valid token") {
		t.Fatalf("Retry-After %q, detail %q", ra, r.str("detail"))
	}
	wantProblem(t, from("198.51.100.7", ""), 429, "rate-limited")           // no header: not even parsed
	wantProblem(t, from("198.51.100.7", e.repA), 429, "rate-limited")       // the address waits out its bucket
	wantProblem(t, from("203.0.113.9", "dft_guessed"), 401, "unauthorized") // another address
	if r := from("203.0.113.9", e.repA); r.code != 200 {
		t.Fatalf("a valid token from another address: %d %s", r.code, r.raw)
	}
	clock.step(time.Second) // one request's worth refills
	if r := from("198.51.100.7", e.repA); r.code != 200 {
		t.Fatalf("a valid token once the bucket refilled: %d %s", r.code, r.raw)
	}
	// The success took nothing from the address's bucket: one more failure
	// is answered.
	wantProblem(t, from("198.51.100.7", "dft_guessed"), 401, "unauthorized")
}

// Temporal unreachable: 503 with Retry-After at once, and /readyz names it.
// The test's own dev server is killed under the API, then started again.
//
// "At once" is checked by its mechanism rather than by the clock: the first
// request past the health cache checks Temporal's health, finds it down and
// answers 503; the next ones, within the cache's life (the server's clock
// stands still), answer from it without calling Temporal at all, so they
// never wait for the SDK's retries of an unreachable server.
func TestTemporalDown(t *testing.T) {
	srv := ownTemporal(t)
	clock := newStepClock()
	calls := &callCounter{}
	e := newEnv(t, envOpts{temporal: srv, now: clock.Now, wrap: calls.wrap})
	e.create(e.repA, "d1")
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	clock.step(time.Hour) // past the health cache, whose "up" came from the creation
	calls.take()
	for i, c := range []struct{ method, path string }{
		{"GET", "/v1/leads/d1"}, {"POST", "/v1/leads/d1/qualify"}, {"POST", "/v1/leads"},
	} {
		var body any
		if c.path == "/v1/leads" {
			body = lead("d2")
		}
		r := e.do(c.method, c.path, e.repA, body)
		wantProblem(t, r, 503, "unavailable")
		if r.header.Get("Retry-After") == "" || !strings.Contains(r.str("detail"), "Temporal") {
			t.Errorf("%s %s: %v %s", c.method, c.path, r.header, r.raw)
		}
		want := map[string]int{} // the cached "down"
		if i == 0 {
			want["CheckHealth"] = 1 // the cache was stale
		}
		if got := calls.take(); !maps.Equal(got, want) {
			t.Errorf("%s %s called Temporal %v, want %v", c.method, c.path, got, want)
		}
	}
	r := e.do("GET", "/readyz", "", nil)
	wantProblem(t, r, 503, "unavailable")
	if !strings.HasPrefix(r.str("checks.temporal"), "down") || r.str("checks.postgres") != "ok" {
		t.Errorf("readyz: %s", r.raw)
	}
	// Lists come from PostgreSQL and keep working.
	if r := e.do("GET", "/v1/leads", e.repA, nil); r.code != 200 {
		t.Errorf("list with Temporal down: %d %s", r.code, r.raw)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The client reconnects with gRPC's backoff, which the SDK caps at 10 s
	// between attempts (12 s with jitter), after which readyz must say ready
	// again; a minute is for a busy machine.
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.do("GET", "/readyz", "", nil)
		if r.code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz a minute after Temporal is back: %d %s", r.code, r.raw)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// PostgreSQL unreachable: 503 (authentication needs it), /readyz names it.
func TestPostgresDown(t *testing.T) {
	dead, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dead.Close)
	e := newEnv(t, envOpts{pool: dead})
	r := e.do("GET", "/v1/leads", e.repA, nil)
	wantProblem(t, r, 503, "unavailable")
	if !strings.Contains(r.str("detail"), "PostgreSQL") || r.header.Get("Retry-After") == "" {
		t.Errorf("%v %s", r.header, r.raw)
	}
	r = e.do("GET", "/readyz", "", nil)
	wantProblem(t, r, 503, "unavailable")
	if !strings.HasPrefix(r.str("checks.postgres"), "down") || r.str("checks.temporal") != "ok" {
		t.Errorf("readyz: %s", r.raw)
	}
	if r := e.do("GET", "/healthz", "", nil); r.code != 200 {
		t.Errorf("healthz: %d", r.code)
	}
	if strings.Contains(e.logBuf.String(), e.repA) {
		t.Errorf("a token was logged")
	}
}

// A request that outlives API_REQUEST_TIMEOUT answers 504 while Temporal is
// up: the deal's worker is stopped, so its state query waits in vain.
func TestTimeout(t *testing.T) {
	q := &queryDeadline{}
	e := newEnv(t, envOpts{wrap: q.wrap})
	e.create(e.repA, "slow")
	e.stopWorker() // the deal can no longer answer
	// Room for the request's own work before its query (the token, the
	// health check) on a busy machine: the query waits in vain anyway.
	const timeout = 2 * time.Second
	e.setTimeout(timeout)
	start := time.Now()
	r := e.do("GET", "/v1/leads/slow", e.repA, nil)
	wantProblem(t, r, 504, "timeout")
	// The timeout applied is the configured one, not the default or none:
	// the query carried a deadline set when the request arrived, between
	// the test sending it and the query going out. (Not a limit on the
	// wall time, which a busy machine stretches.)
	sent, dl, ok := q.last()
	if arrived := dl.Add(-timeout); !ok || arrived.Before(start) || arrived.After(sent) {
		t.Errorf("the query's deadline %v (set: %t) is not %s after the request arrived (between %v and %v)",
			dl, ok, timeout, start, sent)
	}
}

// An action whose workflow task failed (Temporal refused its completion, as
// when an event arrived while the run was ending) was not taken: the API sends
// it again, as the same Update, and answers its outcome, not a 500.
func TestActionRetriedAfterWorkflowTaskFailure(t *testing.T) {
	f := &taskFailsOnce{}
	e := newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal { f.Temporal = c; return f }})
	e.create(e.repA, "wtf1")
	r := e.do("POST", "/v1/leads/wtf1/qualify", e.repA, nil)
	if r.code != 200 || r.str("stage") != "Develop" {
		t.Fatalf("qualify after a failed task: %d %s", r.code, r.raw)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ids) != 2 || f.ids[0] != f.ids[1] || f.ids[0] == "" {
		t.Errorf("Update IDs sent: %q; want the same one twice", f.ids)
	}
}

// A query answered WorkflowNotReady (the deal's workflow task failed and
// waits to be run again, as when the worker is stopped in the middle of it:
// a 500 in a make test run) is asked again: the lead is created, not a 500.
// A creation queries the deal when its created Update did not answer, here
// because the worker does not know it (createdUnknown).
func TestCreateRetriesQueryAfterWorkflowTaskFailure(t *testing.T) {
	q := &queryNotReadyOnce{}
	e := newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal { q.Temporal = createdUnknown{c}; return q }})
	r := e.do("POST", "/v1/leads", e.repA, map[string]any{"id": "wnr1", "topic": "t", "lastName": "L", "company": "C"})
	if r.code != 201 || r.str("id") != "wnr1" {
		t.Fatalf("create with a not-ready query: %d %s", r.code, r.raw)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.failed {
		t.Fatal("the query was never answered WorkflowNotReady: the test tested nothing")
	}
}

// A panic answers a problem, not a bare 500 or a dropped connection.
func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal { return panicOnQuery{c} }})
	r := e.do("GET", "/v1/leads/any", e.repA, nil)
	wantProblem(t, r, 500, "internal")
	if strings.Contains(r.raw, "exploded") {
		t.Errorf("the panic's text leaked: %s", r.raw)
	}
	if !strings.Contains(e.logBuf.String(), "query exploded") {
		t.Errorf("the panic was not logged: %s", e.logBuf.String())
	}
	if r := e.do("GET", "/healthz", "", nil); r.code != 200 {
		t.Fatalf("server broken after a panic: %d", r.code)
	}
}

// Metrics count requests by route pattern and status, and those in flight;
// they are served by the server's metrics handler (the api's own listener,
// API_METRICS_ADDR), never on the API's port, where /metrics is a 404.
func TestMetrics(t *testing.T) {
	var (
		e      *env
		during string // the metrics while the request asks Temporal
	)
	e = newEnv(t, envOpts{wrap: func(c httpapi.Temporal) httpapi.Temporal {
		return scrapeOnQuery{c, func() { during = e.scrape() }}
	}})
	e.do("GET", "/v1/leads/x", e.repA, nil)
	if !strings.Contains(during, `dealflow_http_requests_in_flight{method="GET",route="/v1/leads/:id"} 1`) {
		t.Errorf("metrics during the request lack it in flight:\n%s", during)
	}
	scraped := e.scrape()
	for _, want := range []string{
		`dealflow_http_requests_total{method="GET",route="/v1/leads/:id",status="404"} 1`,
		`dealflow_http_request_duration_seconds_bucket{method="GET",route="/v1/leads/:id",status="404"`,
		// Answered, so no longer in flight.
		`dealflow_http_requests_in_flight{method="GET",route="/v1/leads/:id"} 0`,
		// The import counters exist before any import, at 0.
		`dealflow_import_rows_rejected_total{`,
	} {
		if !strings.Contains(scraped, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	r := e.do("GET", "/metrics", "", nil)
	wantProblem(t, r, http.StatusNotFound, "not-found")
	if strings.Contains(r.raw, "dealflow_") {
		t.Errorf("the API's port shows metrics: %s", r.raw)
	}
	if !strings.Contains(e.logBuf.String(), `"leadID":"x"`) {
		t.Errorf("request log lacks the lead id: %s", e.logBuf.String())
	}
}

// scrapeOnQuery calls scrape as a state query starts.
type scrapeOnQuery struct {
	httpapi.Temporal
	scrape func()
}

func (s scrapeOnQuery) QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	s.scrape()
	return s.Temporal.QueryWorkflow(ctx, workflowID, runID, queryType, args...)
}

// A Temporal that stops answering mid-request: the deal's worker is gone,
// so the state query waits; the test's own dev server is killed once the
// query has reached it; the deadline passes, a fresh health check fails,
// and the answer is 503, not 504.
func TestTemporalLostMidRequest(t *testing.T) {
	srv := ownTemporal(t)
	gate := newQueryGate()
	e := newEnv(t, envOpts{temporal: srv, wrap: gate.wrap})
	e.create(e.repA, "mid")
	e.stopWorker()
	e.setTimeout(2 * time.Second) // room for the token and health check on a busy machine
	gate.arm()
	answer := make(chan resp, 1)
	go func() { answer <- e.do("GET", "/v1/leads/mid", e.repA, nil) }()
	select {
	case <-gate.reached:
	case r := <-answer:
		t.Fatalf("answered %d before its query reached Temporal: %s", r.code, r.raw)
	}
	err := srv.Kill()
	close(gate.release) // the API sees the query's outcome only now
	if err != nil {
		t.Fatal(err)
	}
	r := <-answer
	wantProblem(t, r, 503, "unavailable")
	if !strings.Contains(r.str("detail"), "Temporal") {
		t.Errorf("503 for something else than Temporal: %s", r.raw)
	}
}

// The real SDK client against a port nobody listens on: 503 at once, from
// the health check, rather than after the SDK has retried the call until
// the request's deadline.
func TestRealClientUnreachable(t *testing.T) {
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	pool := testenv.Pool(t)
	calls := &callCounter{Temporal: tc}
	const requestTimeout = time.Minute
	srv, err := httpapi.New(httpapi.Config{Temporal: calls, Pool: pool, Logger: slog.New(slog.DiscardHandler), RequestTimeout: requestTimeout})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, pool: pool, h: srv.Handler()}
	tok := e.user("a@example.com", httpapi.RoleRep)
	for _, c := range []struct {
		method, path string
		body         any
	}{{"GET", "/v1/leads/x", nil}, {"POST", "/v1/leads", lead("x")}, {"POST", "/v1/leads/x/qualify", nil}, {"GET", "/readyz", nil}} {
		start := time.Now()
		r := e.do(c.method, c.path, tok, c.body)
		wantProblem(t, r, 503, "unavailable")
		// The health check answered: no other call was made. It takes
		// ProbeTimeout at most; only a request that waited out its deadline
		// (a minute) or hung would take as long as requestTimeout.
		got := calls.take()
		delete(got, "CheckHealth")
		if len(got) != 0 {
			t.Errorf("%s %s called Temporal's %v; want the health check only", c.method, c.path, got)
		}
		if d := time.Since(start); d >= requestTimeout {
			t.Errorf("%s %s: 503 after %s, the request's whole deadline", c.method, c.path, d)
		}
	}
}
