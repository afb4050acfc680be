package apifuzz

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"dealflow/internal/deals"
	"dealflow/internal/httpapi"
	"dealflow/internal/store"
	"dealflow/internal/temporalx"
	"dealflow/workflows"
)

// harness is this process's API server on the shared stack, its users, and
// the deals the inputs are aimed at.
type harness struct {
	pool *pgxpool.Pool
	tc   client.Client
	h    http.Handler
	logs *logRing
	tag  string
	rep  user
	mgr  user
	// fixtures holds one deal per stage kind; a deal an input changed is
	// dropped and made again when next needed.
	fixtures map[string]string
	n        int
}

type user struct{ id, email, token string }

var (
	once    sync.Once
	current *harness
	initErr error
)

// get returns this process's harness, building it on first use.
func get(t testing.TB) *harness {
	t.Helper()
	once.Do(func() { current, initErr = newHarness() })
	if initErr != nil {
		t.Fatalf("apifuzz harness: %v", initErr)
	}
	return current
}

func newHarness() (*harness, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := store.Open(ctx, shared.DatabaseURL, store.Options{})
	if err != nil {
		return nil, err
	}
	tc, err := temporalx.Dial(ctx, temporalx.Options{Address: shared.TemporalAddress, Namespace: shared.Namespace,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		pool.Close()
		return nil, err
	}
	logs := &logRing{}
	srv, err := httpapi.New(httpapi.Config{Temporal: tc, Pool: pool, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		RequestTimeout: 30 * time.Second, OpenAPI: []byte("openapi: 3.0.3\n")})
	if err != nil {
		tc.Close()
		pool.Close()
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	h := &harness{pool: pool, tc: tc, h: srv.Handler(), logs: logs, tag: fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b[:])),
		fixtures: map[string]string{}}
	unlock, err := h.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if h.rep, err = h.user(ctx, "fuzz-rep-"+h.tag+"@example.com", httpapi.RoleRep); err != nil {
		return nil, err
	}
	if h.mgr, err = h.user(ctx, "fuzz-mgr-"+h.tag+"@example.com", httpapi.RoleManager); err != nil {
		return nil, err
	}
	if _, err := store.CreateUser(ctx, pool, store.NewUser{Email: teammate, Role: httpapi.RoleRep}); err != nil && !errors.Is(err, store.ErrUserExists) {
		return nil, err
	}
	return h, nil
}

func (h *harness) close() {
	h.tc.Close()
	h.pool.Close()
}

func (h *harness) user(ctx context.Context, email, role string) (user, error) {
	u, err := store.CreateUser(ctx, h.pool, store.NewUser{Email: email, Name: email, Role: role})
	if err != nil {
		return user{}, err
	}
	tok, err := store.IssueToken(ctx, h.pool, u.ID, "apifuzz")
	if err != nil {
		return user{}, err
	}
	return user{id: u.ID, email: u.Email, token: tok}, nil
}

// lock serializes the fuzz workers' inputs across processes (a PostgreSQL
// advisory lock), so that the rows counted around one input are written by
// that input alone.
func (h *harness) lock(ctx context.Context) (func(), error) {
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(70070007)`); err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock(70070007)`)
		conn.Release()
	}, nil
}

// reply is an answer of the in-process server.
type reply struct {
	code int
	raw  []byte
	body map[string]any
}

// serve sends one request to the server.
func (h *harness) serve(method, path, token string, body []byte, headers map[string]string) reply {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if body == nil {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	r := reply{code: rec.Code, raw: rec.Body.Bytes()}
	_ = json.Unmarshal(r.raw, &r.body)
	return r
}

// must sends a request that has to succeed (fixtures).
func (h *harness) must(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	r := h.serve(method, path, token, raw, nil)
	if r.code >= 300 {
		t.Fatalf("fixture %s %s: %d %s", method, path, r.code, r.raw)
	}
	return r
}

// fixtureSteps builds each kind of deal from the one before it.
var fixtureSteps = map[string]struct {
	from  string
	steps []struct {
		method, sub string
		body        any
	}
}{
	"disqualified": {"qualify", steps(http.MethodPost, "/disqualify", map[string]any{"reason": "Cannot Contact"})},
	"develop":      {"qualify", steps(http.MethodPost, "/qualify", nil)},
	"ready": {"develop", steps(
		http.MethodPatch, "", map[string]any{"customerNeed": "need", "proposedSolution": "solution"},
		http.MethodPost, "/stakeholders", map[string]any{"name": "Sam Buyer", "role": "Decision Maker"},
		http.MethodPost, "/lines", map[string]any{"product": "Widget", "quantity": "4", "unitPrice": "250.50", "discount": "2", "tax": "1.25"})},
	"propose": {"ready", steps(http.MethodPost, "/quotes", map[string]any{"paymentTerms": "2% 10, Net 30"})},
	"close":   {"propose", steps(http.MethodPost, "/quotes/1/activate", nil)},
	"lost":    {"close", steps(http.MethodPost, "/close", map[string]any{"outcome": "lost", "reason": "Canceled"})},
	"order":   {"close", steps(http.MethodPost, "/close", map[string]any{"outcome": "won"})},
	"invoice": {"order", steps(http.MethodPost, "/order/fulfill", nil)},
}

func steps(args ...any) []struct {
	method, sub string
	body        any
} {
	var out []struct {
		method, sub string
		body        any
	}
	for i := 0; i < len(args); i += 3 {
		out = append(out, struct {
			method, sub string
			body        any
		}{args[i].(string), args[i+1].(string), args[i+2]})
	}
	return out
}

// fixture returns a deal of the kind, making one when there is none.
func (h *harness) fixture(t testing.TB, kind string) string {
	t.Helper()
	if id, ok := h.fixtures[kind]; ok {
		return id
	}
	var id string
	if kind == "qualify" {
		h.n++
		id = fmt.Sprintf("fz-%s-%d", h.tag, h.n)
		h.must(t, http.MethodPost, "/v1/leads", h.rep.token, map[string]any{
			"id": id, "topic": "Fuzz target " + id, "firstName": "Sam", "lastName": "Buyer", "company": "Fuzz Co " + id,
			"email": id + "@customer.example", "budget": "1000", "purchaseTimeframe": "This Year", "decisionMakerIdentified": true,
		})
		h.waitLead(t, id)
	} else {
		f := fixtureSteps[kind]
		id = h.fixture(t, f.from)
		delete(h.fixtures, f.from) // it moves on to this kind
		for _, s := range f.steps {
			h.must(t, s.method, "/v1/leads/"+id+s.sub, h.rep.token, s.body)
		}
	}
	h.fixtures[kind] = id
	return id
}

// used drops every fixture that is deal id: an input changed it.
func (h *harness) used(id string) {
	for k, v := range h.fixtures {
		if v == id {
			delete(h.fixtures, k)
		}
	}
}

// waitLead waits until the deal's workflow has written its lead row.
func (h *harness) waitLead(t testing.TB, id string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		if err := h.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id = $1)`, id).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		// A deal that failed will never write it: say so at once.
		if p := h.problem(id); strings.HasPrefix(p, "failed:") {
			t.Fatalf("lead %s: accepted, but its deal %s\n%s", id, p, h.describe(id))
		}
		if time.Now().After(deadline) {
			t.Fatalf("lead %s: no row 30s after the API accepted it\n%s", id, h.describe(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snapshot is everything an input could have written: the rows of the deal
// it aimed at (as one digest), and counts of the tables anything else lands in.
type snapshot struct {
	deal                                     string
	leads, accounts, contacts, users, tokens int64
}

// dealDigest hashes every row of one deal, in every table.
const dealDigest = `
WITH o AS (SELECT id FROM opportunities WHERE lead_id = $1),
     q AS (SELECT id FROM quotes WHERE lead_id = $1),
     r AS (SELECT id FROM orders WHERE lead_id = $1),
     i AS (SELECT id FROM invoices WHERE lead_id = $1)
SELECT md5(concat_ws('#',
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM leads x WHERE x.id = $1),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM opportunities x WHERE x.lead_id = $1),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM opportunity_stakeholders x WHERE x.opportunity_id IN (SELECT id FROM o)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM opportunity_competitors x WHERE x.opportunity_id IN (SELECT id FROM o)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM opportunity_team x WHERE x.opportunity_id IN (SELECT id FROM o)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM opportunity_lines x WHERE x.opportunity_id IN (SELECT id FROM o)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM quotes x WHERE x.lead_id = $1),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM quote_lines x WHERE x.quote_id IN (SELECT id FROM q)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM orders x WHERE x.lead_id = $1),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM order_lines x WHERE x.order_id IN (SELECT id FROM r)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM invoices x WHERE x.lead_id = $1),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM invoice_lines x WHERE x.invoice_id IN (SELECT id FROM i)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM invoice_payments x WHERE x.invoice_id IN (SELECT id FROM i)),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM messages x WHERE x.lead_id = $1),
	(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM deal_events x WHERE x.lead_id = $1)))`

func (h *harness) snapshot(t testing.TB, dealID string) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	if err := h.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM accounts),
		(SELECT count(*) FROM contacts), (SELECT count(*) FROM api_users), (SELECT count(*) FROM api_tokens)`).
		Scan(&s.leads, &s.accounts, &s.contacts, &s.users, &s.tokens); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if dealID != "" {
		if err := h.pool.QueryRow(ctx, dealDigest, dealID).Scan(&s.deal); err != nil {
			t.Fatalf("snapshot of %s: %v", dealID, err)
		}
	}
	return s
}

// workflowExists reports whether a deal's workflow exists (in any state).
func (h *harness) workflowExists(t testing.TB, id string) bool {
	t.Helper()
	if !workflows.ValidID(id) {
		return false
	}
	_, err := h.tc.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return true
	case errors.As(err, &nf):
		return false
	}
	t.Fatalf("describe %s: %v", id, err)
	return false
}

// healthy fails unless the deal's workflow is running (or completed) with
// no failing workflow task and no activity retrying: an accepted input must
// not leave a deal stuck or failed.
func (h *harness) healthy(t testing.TB, what, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		problem := h.problem(id)
		if problem == "" {
			return
		}
		if strings.HasPrefix(problem, "failed:") || time.Now().After(deadline) {
			t.Fatalf("%s: accepted, but deal %s is unhealthy: %s\n%s", what, id, problem, h.describe(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) problem(id string) string {
	resp, err := h.tc.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
	if err != nil {
		return "describe: " + err.Error()
	}
	switch st := resp.GetWorkflowExecutionInfo().GetStatus(); st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
	default:
		return "failed: workflow " + st.String()
	}
	if wt := resp.GetPendingWorkflowTask(); wt != nil && wt.GetAttempt() > 1 {
		return fmt.Sprintf("workflow task attempt %d", wt.GetAttempt())
	}
	for _, a := range resp.GetPendingActivities() {
		if a.GetAttempt() > 1 {
			return fmt.Sprintf("activity %s attempt %d: %s", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage())
		}
	}
	return ""
}

// describe is a deal's workflow history in short, for failure messages.
func (h *harness) describe(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	it := h.tc.GetWorkflowHistory(ctx, workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			fmt.Fprintf(&b, "history: %v\n", err)
			break
		}
		line := fmt.Sprintf("%d %s", ev.GetEventId(), ev.GetEventType())
		if f := ev.GetWorkflowExecutionFailedEventAttributes().GetFailure(); f != nil {
			line += ": " + f.GetMessage()
		}
		if f := ev.GetActivityTaskFailedEventAttributes().GetFailure(); f != nil {
			line += ": " + f.GetMessage()
		}
		if f := ev.GetWorkflowTaskFailedEventAttributes().GetFailure(); f != nil {
			line += ": " + f.GetMessage()
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// derivedID is the lead id the API gives a creation with this key.
func (h *harness) derivedID(key string) string { return deals.DerivedID(h.rep.id, key) }

// logRing keeps the server's last log lines, for failure messages.
type logRing struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	if len(l.lines) > 50 {
		l.lines = l.lines[len(l.lines)-50:]
	}
	return len(p), nil
}

func (l *logRing) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}

var _ io.Writer = (*logRing)(nil)
