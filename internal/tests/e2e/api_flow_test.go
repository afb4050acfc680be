package e2e

// End-to-end tests of the HTTP API's deal flows: every request goes through
// the real API binary, Temporal dev server, worker and PostgreSQL, and every
// request and response is checked against api/openapi.yaml.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

var (
	apiSpecOnce   sync.Once
	apiSpecRouter routers.Router
	apiSpecErr    error
)

// apiSpec loads api/openapi.yaml once.
func apiSpec(t *testing.T) routers.Router {
	t.Helper()
	apiSpecOnce.Do(func() {
		var doc *openapi3.T
		doc, apiSpecErr = openapi3.NewLoader().LoadFromFile(filepath.Join(stack.Root, "api", "openapi.yaml"))
		if apiSpecErr != nil {
			return
		}
		doc.Servers = nil // match any host: the stack listens on a free port
		apiSpecRouter, apiSpecErr = legacy.NewRouter(doc)
	})
	if apiSpecErr != nil {
		t.Fatalf("load api/openapi.yaml: %v", apiSpecErr)
	}
	return apiSpecRouter
}

// apiClient talks to the stack's API as one user.
type apiClient struct {
	t     *testing.T
	token string
}

// apiResp is an answer, its body decoded as JSON into Body.
type apiResp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request (body: nil, []byte as is, or a value to encode) with
// extra headers as "Name: value" pairs, checks request and response against
// the spec, and returns the answer.
func (c apiClient) do(method, path string, body any, headers ...string) apiResp {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	newReq := func() *http.Request {
		req, err := http.NewRequestWithContext(ctx, method, stack.APIURL+path, bytes.NewReader(raw))
		if err != nil {
			c.t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	out := apiResp{Status: resp.StatusCode, Header: resp.Header, Raw: b}
	if len(b) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(b, &out.Body); err != nil {
			c.t.Fatalf("%s %s: %d answered invalid JSON: %v\n%s", method, path, resp.StatusCode, err, b)
		}
	}
	c.checkSpec(ctx, newReq(), resp, b)
	return out
}

// checkSpec validates a request (when its body is JSON the API accepted)
// and its response against the spec.
func (c apiClient) checkSpec(ctx context.Context, req *http.Request, resp *http.Response, body []byte) {
	c.t.Helper()
	route, params, err := apiSpec(c.t).FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s is not in api/openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if resp.StatusCode < 300 {
		// The API accepted it, so the spec must too.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.t.Errorf("%s %s: the API accepted a request the spec rejects: %v", req.Method, req.URL.Path, err)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		c.t.Errorf("%s %s: %d response does not match the spec: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

// must fails the test unless the answer has the status.
func (r apiResp) must(t *testing.T, status int, what string) apiResp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Raw)
	}
	return r
}

// str reads a string at a dotted path of the body ("invoice.status").
func (r apiResp) str(path string) string {
	v := r.get(path)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func (r apiResp) get(path string) any {
	var cur any = r.Body
	for _, k := range strings.Split(path, ".") {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(m) {
				return nil
			}
			cur = m[i]
		default:
			return nil
		}
	}
	return cur
}

func (r apiResp) len(path string) int {
	a, _ := r.get(path).([]any)
	return len(a)
}

// apiNewID is a lead id unique to this run.
func apiNewID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// qualifiedLead is a lead body that meets the Qualify gate.
func qualifiedLead(id, topic string) map[string]any {
	return map[string]any{
		"id": id, "topic": topic,
		"firstName": "Grace", "lastName": "Hopper", "company": "Compilers " + id, "jobTitle": "CTO",
		"email": id + "@example.com", "source": "Web", "rating": "Hot",
		"budget": "50000", "estimatedValue": "42000.00",
		"purchaseTimeframe": "This Quarter", "purchaseProcess": "Committee",
		"decisionMakerIdentified": true,
	}
}

// developToClose takes a qualified deal (in Develop) to an active quote
// (in Close) and returns the quote total.
func developToClose(t *testing.T, rep apiClient, id string) string {
	t.Helper()
	base := "/v1/leads/" + id
	rep.do(http.MethodPatch, base, map[string]any{"customerNeed": "compile faster", "proposedSolution": "our compiler suite"}).
		must(t, 200, "edit opportunity")
	rep.do(http.MethodPost, base+"/stakeholders", map[string]any{"name": "Grace Hopper", "role": "Decision Maker"}).
		must(t, 200, "add stakeholder")
	rep.do(http.MethodPost, base+"/lines", map[string]any{"product": "Compiler licence", "quantity": "10", "unitPrice": "1200.00", "discount": "500", "tax": "95.50"}).
		must(t, 200, "add line")
	q := rep.do(http.MethodPost, base+"/quotes", map[string]any{"paymentTerms": "Net 30"}).must(t, 200, "propose")
	rev := q.str("revision")
	if q.str("stage") != "Propose" || rev != "1" {
		t.Fatalf("propose: %s", q.Raw)
	}
	a := rep.do(http.MethodPost, base+"/quotes/1/activate", nil).must(t, 200, "activate quote")
	if a.str("stage") != "Close" {
		t.Fatalf("activate: %s", a.Raw)
	}
	return a.str("total")
}

// A deal from lead to paid invoice, through the HTTP API only.
func TestAPIWonDeal(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	mgr := apiClient{t, stack.ManagerToken}
	id := apiNewID("won")
	base := "/v1/leads/" + id

	// Create, and create again: the same deal, never a second one.
	created := rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "E2E won: compiler licences")).must(t, 201, "create lead")
	if created.str("id") != id || created.str("stage") != "Qualify" || created.str("owner") != "rep@example.com" {
		t.Fatalf("create lead: %s", created.Raw)
	}
	if loc := created.Header.Get("Location"); loc != base {
		t.Fatalf("Location %q, want %q", loc, base)
	}
	again := rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "E2E won: compiler licences")).must(t, 200, "repeat create")
	if again.str("id") != id || again.len("timeline") != created.len("timeline") {
		t.Fatalf("repeat create is not the same deal: %s", again.Raw)
	}

	// Qualify, refused first by the gate when something is missing.
	rep.do(http.MethodPatch, base, map[string]any{"decisionMakerIdentified": false}).must(t, 200, "edit lead")
	refused := rep.do(http.MethodPost, base+"/qualify", nil).must(t, 409, "qualify without decision maker")
	if !strings.Contains(string(refused.Raw), "decision maker identified") {
		t.Fatalf("409 does not name what is missing: %s", refused.Raw)
	}
	rep.do(http.MethodPatch, base, map[string]any{"decisionMakerIdentified": true}).must(t, 200, "edit lead")
	q := rep.do(http.MethodPost, base+"/qualify", map[string]any{"estimatedCloseDate": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)}).
		must(t, 200, "qualify")
	if q.str("stage") != "Develop" {
		t.Fatalf("qualify: %s", q.Raw)
	}

	total := developToClose(t, rep, id)
	if total != "11595.5" && total != "11595.50" {
		t.Fatalf("quote total %q, want 10 × 1200.00 − 500 + 95.50 = 11595.50", total)
	}

	won := rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "won"}).must(t, 200, "close won")
	if won.str("stage") != "Order" || won.str("status") != "won" {
		t.Fatalf("close won: %s", won.Raw)
	}
	inv := rep.do(http.MethodPost, base+"/order/fulfill", nil).must(t, 200, "fulfill order")
	if inv.str("stage") != "Invoice" {
		t.Fatalf("fulfill: %s", inv.Raw)
	}

	// A partial payment, then the rest sent twice with one Idempotency-Key:
	// recorded once.
	rep.do(http.MethodPost, base+"/invoice/payments", map[string]any{"amount": "1595.50"}, "Idempotency-Key: pay-1").must(t, 200, "partial payment")
	paid := rep.do(http.MethodPost, base+"/invoice/payments", map[string]any{"amount": "10000"}, "Idempotency-Key: pay-2").must(t, 200, "final payment")
	if paid.str("stage") != "Paid" || paid.str("balance") != "0" {
		t.Fatalf("final payment: %s", paid.Raw)
	}
	retry := rep.do(http.MethodPost, base+"/invoice/payments", map[string]any{"amount": "10000"}, "Idempotency-Key: pay-2").must(t, 200, "retried payment")
	if string(retry.Raw) != string(paid.Raw) {
		t.Fatalf("retried payment answered differently:\n%s\n%s", retry.Raw, paid.Raw)
	}
	rep.do(http.MethodPost, base+"/invoice/payments", map[string]any{"amount": "1"}).must(t, 409, "payment after paid")

	deal := rep.do(http.MethodGet, base, nil).must(t, 200, "get deal")
	if deal.str("stage") != "Paid" || deal.str("invoice.status") != "Paid" || deal.len("invoice.payments") != 2 {
		t.Fatalf("paid deal: %s", deal.Raw)
	}
	if deal.str("invoice.paidAmount") != "11595.5" && deal.str("invoice.paidAmount") != "11595.50" {
		t.Fatalf("paid amount %q", deal.str("invoice.paidAmount"))
	}

	// The read model: timeline, list and pipeline.
	tl := rep.do(http.MethodGet, base+"/timeline", nil).must(t, 200, "timeline")
	if tl.len("items") < 12 {
		t.Fatalf("timeline has %d events: %s", tl.len("items"), tl.Raw)
	}
	list := rep.do(http.MethodGet, "/v1/leads?stage=Paid&q="+id, nil).must(t, 200, "list")
	if list.len("items") != 1 || list.str("items.0.id") != id || list.str("items.0.status") != "won" {
		t.Fatalf("list: %s", list.Raw)
	}
	pipe := mgr.do(http.MethodGet, "/v1/pipeline", nil).must(t, 200, "pipeline")
	if n, _ := pipe.get("won").(float64); n < 1 {
		t.Fatalf("pipeline won %v: %s", pipe.get("won"), pipe.Raw)
	}
	if pipe.len("owners") < 1 {
		t.Fatalf("manager's pipeline has no owners: %s", pipe.Raw)
	}

	// Another rep neither sees nor touches the deal; the manager does.
	other, err := stack.CreateUser(context.Background(), "other-"+id+"@example.com", "Other Rep", "rep")
	if err != nil {
		t.Fatal(err)
	}
	stranger := apiClient{t, other}
	stranger.do(http.MethodGet, base, nil).must(t, 404, "other rep reads")
	stranger.do(http.MethodGet, base+"/timeline", nil).must(t, 404, "other rep reads the timeline")
	stranger.do(http.MethodPost, base+"/reopen", nil).must(t, 404, "other rep acts")
	if l := stranger.do(http.MethodGet, "/v1/leads?q="+id, nil).must(t, 200, "other rep lists"); l.len("items") != 0 {
		t.Fatalf("other rep lists the deal: %s", l.Raw)
	}
	mgr.do(http.MethodGet, base, nil).must(t, 200, "manager reads")
}

// A lost deal reopened, then won after its quote was revised twice.
func TestAPILostReopenedAndRevisedTwice(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	id := apiNewID("lost")
	base := "/v1/leads/" + id
	rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "E2E lost and reopened")).must(t, 201, "create lead")
	rep.do(http.MethodPost, base+"/qualify", nil).must(t, 200, "qualify")
	developToClose(t, rep, id)

	lost := rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "lost", "reason": "Out-Sold", "competitor": "Acme"}).must(t, 200, "close lost")
	if lost.str("status") != "lost" {
		t.Fatalf("close lost: %s", lost.Raw)
	}
	rep.do(http.MethodPost, base+"/order/fulfill", nil).must(t, 409, "fulfill a lost deal")
	re := rep.do(http.MethodPost, base+"/reopen", nil).must(t, 200, "reopen")
	if re.str("stage") != "Develop" || re.str("status") != "open" {
		t.Fatalf("reopen: %s", re.Raw)
	}

	// Quote 2, revised to 3, revised to 4 (each revision closes the active
	// one as Revised and drafts the next), then won.
	rep.do(http.MethodPost, base+"/quotes", nil).must(t, 200, "propose again")
	for rev := 2; rev <= 3; rev++ {
		rep.do(http.MethodPost, fmt.Sprintf("%s/quotes/%d/activate", base, rev), nil).must(t, 200, "activate")
		r := rep.do(http.MethodPost, fmt.Sprintf("%s/quotes/%d/revise", base, rev), nil).must(t, 200, "revise")
		if r.str("revision") != fmt.Sprint(rev+1) || r.str("stage") != "Propose" {
			t.Fatalf("revise %d: %s", rev, r.Raw)
		}
	}
	rep.do(http.MethodPatch, base+"/quotes/4", map[string]any{"lines": []map[string]any{
		{"product": "Compiler licence", "quantity": "8", "unitPrice": "1200.00"}}}).must(t, 200, "edit draft 4")
	rep.do(http.MethodPatch, base+"/quotes/3", map[string]any{"name": "old"}).must(t, 409, "edit a revised quote")
	rep.do(http.MethodPost, base+"/quotes/4/activate", nil).must(t, 200, "activate 4")
	won := rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "won"}).must(t, 200, "close won")
	if won.str("total") != "9600" && won.str("total") != "9600.00" {
		t.Fatalf("won order total: %s", won.Raw)
	}
	deal := rep.do(http.MethodGet, base, nil).must(t, 200, "get deal")
	if deal.len("quotes") != 4 || deal.str("quotes.0.statusReason") != "Lost" || deal.str("quotes.1.statusReason") != "Revised" ||
		deal.str("quotes.2.statusReason") != "Revised" || deal.str("quotes.3.status") != "Won" {
		t.Fatalf("quotes: %s", deal.Raw)
	}
}

// A disqualified lead reactivated and qualified after all.
func TestAPIDisqualifiedReactivated(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	id := apiNewID("dq")
	base := "/v1/leads/" + id
	rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "E2E disqualified")).must(t, 201, "create lead")
	dq := rep.do(http.MethodPost, base+"/disqualify", map[string]any{"reason": "Cannot Contact", "note": "no answer"}).must(t, 200, "disqualify")
	if dq.str("status") != "disqualified" {
		t.Fatalf("disqualify: %s", dq.Raw)
	}
	rep.do(http.MethodPost, base+"/qualify", nil).must(t, 409, "qualify a disqualified lead")
	if l := rep.do(http.MethodGet, "/v1/leads?status=disqualified&q="+id, nil).must(t, 200, "list"); l.len("items") != 1 {
		t.Fatalf("list disqualified: %s", l.Raw)
	}
	rep.do(http.MethodPost, base+"/reactivate", nil).must(t, 200, "reactivate")
	q := rep.do(http.MethodPost, base+"/qualify", nil).must(t, 200, "qualify")
	if q.str("stage") != "Develop" {
		t.Fatalf("qualify: %s", q.Raw)
	}
	tl := rep.do(http.MethodGet, base+"/timeline", nil).must(t, 200, "timeline")
	var actions []string
	for _, it := range tl.get("items").([]any) {
		actions = append(actions, it.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "create,disqualify,reactivate,qualify" {
		t.Fatalf("timeline: %v", actions)
	}
}

// SIGTERM lets an in-flight request finish: a request waiting on a deal
// whose worker is gone still gets its whole answer, and the API exits
// cleanly; started again, it serves as before.
func TestAPIGracefulShutdown(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	id := apiNewID("term")
	rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "E2E shutdown")).must(t, 201, "create lead")

	if err := stack.StopWorker(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if stack.Worker() == nil {
			if err := stack.StartWorker(context.Background()); err != nil {
				t.Errorf("restart the worker: %v", err)
			}
		}
		if stack.API() == nil {
			if err := stack.StartAPI(context.Background()); err != nil {
				t.Errorf("restart the API: %v", err)
			}
		}
	})

	type answer struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		// With no worker the state query waits for the request timeout (5s
		// in the stack), then answers 504.
		resp, b, err := stack.Do(context.Background(), http.MethodGet, "/v1/leads/"+id, stack.RepToken, nil)
		if err != nil {
			done <- answer{err: err}
			return
		}
		done <- answer{status: resp.StatusCode, body: b}
	}()
	// SIGTERM once the API is serving the request (its /metrics say so),
	// however long the request takes to get there on a busy machine.
	for inFlight(t, http.MethodGet, "/v1/leads/:id") < 1 {
		select {
		case a := <-done:
			t.Fatalf("the request was answered (%d %s %v) before it was seen in flight", a.status, a.body, a.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	stopped := time.Now()
	if err := stack.StopAPI(); err != nil {
		t.Fatalf("the API did not stop cleanly on SIGTERM: %v", err)
	}
	a := <-done
	if a.err != nil {
		t.Fatalf("the in-flight request was cut off by the shutdown: %v", a.err)
	}
	if a.status != http.StatusGatewayTimeout {
		t.Fatalf("in-flight request: %d %s", a.status, a.body)
	}
	t.Logf("in-flight request answered %d; the API stopped %s after SIGTERM", a.status, time.Since(stopped).Round(time.Millisecond))

	if err := stack.StartAPI(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := stack.StartWorker(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep.do(http.MethodGet, "/v1/leads/"+id, nil).must(t, 200, "after restart")
}

// inFlight is how many requests of method on route the API is serving now,
// from its dealflow_http_requests_in_flight gauge (on its metrics listener).
func inFlight(t *testing.T, method, route string) float64 {
	t.Helper()
	b, err := get(stack.APIMetricsURL)
	if err != nil {
		t.Fatalf("GET %s: %v", stack.APIMetricsURL, err)
	}
	series := fmt.Sprintf("dealflow_http_requests_in_flight{method=%q,route=%q} ", method, route)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	return 0 // no such request yet
}
