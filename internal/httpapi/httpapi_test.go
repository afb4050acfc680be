package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"dealflow/internal/dev/devstack"
	"dealflow/internal/httpapi"
	"dealflow/internal/store"
	"dealflow/internal/temporalx"
	"dealflow/internal/tests/testenv"
)

// env is one API server on a fresh database, with three users, in front of
// a real Temporal: by default a namespace of the test's own on the shared dev
// server, with a worker of its own writing to the database.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	tc     client.Client // the real client, on the env's namespace
	worker worker.Worker // nil while stopped
	cfg    httpapi.Config
	h      http.Handler
	// metrics serves the server's Prometheus registry, as the api's own
	// metrics listener does.
	metrics http.Handler
	repA    string // token of a@example.com (rep)
	repB    string // token of b@example.com (rep)
	mgr     string // token of boss@example.com (manager)
	logBuf  *bytes.Buffer
}

type envOpts struct {
	rateLimit float64
	// timeout is the request timeout; 0 is the API's default, which leaves
	// room for a query to fall back from a sticky queue that does not take
	// it up (after 5s, on a busy machine).
	timeout time.Duration
	pool    *pgxpool.Pool // another pool for the server (PostgreSQL down)
	// temporal is a dev server of the test's own, to stop under the API;
	// its default namespace is used.
	temporal *devstack.Temporal
	// noWorker starts the env without a worker (see startWorker).
	noWorker bool
	// wrap decorates the real client the server is given.
	wrap func(httpapi.Temporal) httpapi.Temporal
	// now is the server's clock (nil: the real one); see stepClock.
	now func() time.Time
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.temporal == nil {
		go startShared() // starts the dev server (once) while PostgreSQL starts
	}
	pool := testenv.Pool(t)
	e := &env{t: t, pool: pool, logBuf: &bytes.Buffer{}}
	if o.temporal != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.DialContext(ctx, client.Options{HostPort: o.temporal.Address(), Namespace: o.temporal.Namespace(), Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		e.tc = c
	} else {
		e.tc = testNamespace(t)
	}
	// Runs before the pool and the client close (cleanups run last first).
	t.Cleanup(e.stopWorker)
	if !o.noWorker {
		e.startWorker()
	}
	var tc httpapi.Temporal = e.tc
	if o.wrap != nil {
		tc = o.wrap(tc)
	}
	srvPool := pool
	if o.pool != nil {
		srvPool = o.pool
	}
	e.cfg = httpapi.Config{
		Temporal: tc, Pool: srvPool, Logger: slog.New(slog.NewJSONHandler(e.logBuf, nil)),
		RateLimit: o.rateLimit, OpenAPI: []byte("openapi: 3.0.3\n"), Now: o.now,
	}
	e.setTimeout(o.timeout)
	e.repA = e.user("a@example.com", httpapi.RoleRep)
	e.repB = e.user("b@example.com", httpapi.RoleRep)
	e.mgr = e.user("boss@example.com", httpapi.RoleManager)
	return e
}

// setTimeout serves the API again with another request timeout: a test
// sets its deals up with time to spare, then shortens it.
func (e *env) setTimeout(d time.Duration) {
	e.t.Helper()
	e.cfg.RequestTimeout = d
	m, err := temporalx.NewMetrics()
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg.Registry, e.cfg.Metrics = m.Registry, m.Handler
	srv, err := httpapi.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.h, e.metrics = srv.Handler(), srv.MetricsHandler()
}

// scrape is what the server's metrics listener answers now.
func (e *env) scrape() string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// metric is the value of the series of name whose labels include every one
// of labels (`key="value"`), summed; 0 when there is none.
func metric(scraped, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(scraped, "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || !(series == name || strings.HasPrefix(series, name+"{")) {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(series, l)
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil && all {
			sum += v
		}
	}
	return sum
}

func (e *env) user(email, role string) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := store.CreateUser(ctx, e.pool, store.NewUser{Email: email, Name: email, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := store.IssueToken(ctx, e.pool, u.ID, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// resp is an answer with its body decoded.
type resp struct {
	code   int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a request; body is a string sent as is, or a value to encode.
// headers are "Name: value".
func (e *env) do(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if strings.TrimSpace(k) == "X-Test-Remote-Addr" { // the connection's peer, not a header
			req.RemoteAddr = strings.TrimSpace(v)
			continue
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := resp{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &r.body)
	return r
}

func (r resp) str(path string) string {
	var cur any = r.body
	for _, k := range strings.Split(path, ".") {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			if i >= len(m) {
				return ""
			}
			cur = m[i]
		default:
			return ""
		}
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}

func (r resp) list(path string) []any {
	v, _ := r.body[path].([]any)
	return v
}

// lead is a body that creates a lead ready to qualify.
func lead(id string) map[string]any {
	return map[string]any{
		"id": id, "topic": "Widgets for " + id, "firstName": "Ada", "lastName": "Lovelace",
		"company": "Engines " + id, "email": id + "@example.com", "source": "Web",
		"budget": "1000", "estimatedValue": "900.50", "purchaseTimeframe": "This Quarter",
		"decisionMakerIdentified": true,
	}
}

// create makes a lead as the rep with token and fails the test otherwise.
func (e *env) create(token, id string) resp {
	e.t.Helper()
	r := e.do("POST", "/v1/leads", token, lead(id))
	if r.code != http.StatusCreated {
		e.t.Fatalf("create %s: %d %s", id, r.code, r.raw)
	}
	// A 201 says the lead is in lists already.
	var rows int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM leads WHERE id = $1`, id).Scan(&rows); err != nil || rows != 1 {
		e.t.Fatalf("create %s answered 201 with %d lead rows (%v)", id, rows, err)
	}
	return r
}

// act posts an action and fails the test unless it answers 200.
func (e *env) act(token, method, path string, body any) resp {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.code != http.StatusOK {
		e.t.Fatalf("%s %s: %d %s", method, path, r.code, r.raw)
	}
	return r
}

// toPropose takes a new lead to a draft quote (stage Propose).
func (e *env) toPropose(token, id string) {
	e.t.Helper()
	base := "/v1/leads/" + id
	e.act(token, "POST", base+"/qualify", nil)
	e.act(token, "PATCH", base, map[string]any{"customerNeed": "need", "proposedSolution": "solution"})
	e.act(token, "POST", base+"/stakeholders", map[string]any{"name": "Ada", "role": "Champion"})
	e.act(token, "POST", base+"/lines", map[string]any{"product": "Widget", "quantity": "4", "unitPrice": "250.25"})
	e.act(token, "POST", base+"/quotes", nil)
}

// wantProblem checks a problem+json answer.
func wantProblem(t *testing.T, r resp, code int, typ string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.raw)
	}
	if got := r.str("type"); got != httpapi.ProblemType+typ {
		t.Fatalf("type %q, want %q: %s", got, httpapi.ProblemType+typ, r.raw)
	}
	if r.str("status") != fmt.Sprint(code) || r.str("title") == "" {
		t.Fatalf("problem without status or title: %s", r.raw)
	}
}

// fields lists the "field" of each entry of a 422's errors.
func fields(r resp) []string {
	var out []string
	for _, e := range r.list("errors") {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}
