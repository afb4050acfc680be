package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"dealflow/workflows"
)

// api is the HTTP API as the benchmark's reps use it.
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string, conns int) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// One kept-alive connection per rep: the default (2 idle per host)
	// would open and close a connection for most requests at 25 reps.
	tr.MaxIdleConns = conns * 2
	tr.MaxIdleConnsPerHost = conns * 2
	return &api{base: base, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// step is one request of a deal's way through the API.
type step struct {
	action string
	method string
	path   string // after /v1/leads/{id}; "" is the lead itself
	body   any
	key    bool // send an Idempotency-Key
}

// dealSteps are the rep actions of a won deal, as the README's curl session.
var dealSteps = []step{
	{action: "qualify", method: http.MethodPost, path: "/qualify"},
	{action: "edit_opportunity", method: http.MethodPatch, body: map[string]any{
		"customerNeed": "widgets for the new plant", "proposedSolution": "50 widgets, installed"}},
	{action: "add_stakeholder", method: http.MethodPost, path: "/stakeholders", body: map[string]any{
		"name": "Ada Lovelace", "role": "Decision Maker"}},
	{action: "add_line", method: http.MethodPost, path: "/lines", body: map[string]any{
		"product": "Widget", "quantity": "50", "unitPrice": "1000.00", "discount": "2500"}},
	{action: "propose", method: http.MethodPost, path: "/quotes", body: map[string]any{"paymentTerms": "Net 30"}},
	{action: "activate_quote", method: http.MethodPost, path: "/quotes/1/activate"},
	{action: "close", method: http.MethodPost, path: "/close", body: map[string]any{"outcome": "won"}},
	{action: "fulfill_order", method: http.MethodPost, path: "/order/fulfill"},
	{action: "record_payment", method: http.MethodPost, path: "/invoice/payments", body: map[string]any{"amount": "47500.00"}, key: true},
}

// benchPolicy keeps every reminder timer armed but far off, except the
// won deal's thank-you, which fires thankYou after the close so the deal's
// workflow completes.
func benchPolicy(thankYou time.Duration) map[string]any {
	return map[string]any{
		"leadReminderAfter": "1h", "stageNudgeAfter": "1h", "quoteValidity": "24h",
		"quoteReminderBefore": "1h", "invoiceReminderBefore": "1h", "overdueEvery": "1h",
		"thankYouAfter": thankYou.String(),
	}
}

func newLeadBody(id string, thankYou time.Duration) map[string]any {
	return map[string]any{
		"id": id, "topic": "50 widgets", "firstName": "Ada", "lastName": "Lovelace",
		// A company and email of its own: the same ones twice would be a
		// possible duplicate (409), as for a rep.
		"company": "Acme Corp " + id, "email": id + "@acme.example", "source": "Web", "budget": "60000",
		"purchaseTimeframe": "This Quarter", "decisionMakerIdentified": true,
		"policy": benchPolicy(thankYou),
	}
}

// errStatus is an answer with an unexpected status.
type errStatus struct {
	status int
	body   string
}

func (e *errStatus) Error() string { return fmt.Sprintf("status %d: %.300s", e.status, e.body) }

// do sends one request and returns the answer's body. 429 and 503 answers
// are retried after their Retry-After (capped at 1s), as a client should;
// the time spent counts in the action's latency and the retry is counted.
func (a *api) do(ctx context.Context, lat *latencies, action, method, path, token string, body any, idemKey string) ([]byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if idemKey != "" {
			req.Header.Set("Idempotency-Key", idemKey)
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return b, nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			lat.retried(action)
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = min(wait, time.Duration(s)*time.Second)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		default:
			return nil, &errStatus{resp.StatusCode, string(b)}
		}
	}
}

// people are the owner and manager of a deal created through the API.
type people struct{ Owner, Manager string }

// productRun takes n deals from lead to paid invoice through the API with
// conc reps (rep i uses tokens[i % len(tokens)]).
func productRun(ctx context.Context, a *api, tc client.Client, tokens []string, runID string, n, conc int, thankYou time.Duration, progress io.Writer) (runResult, error) {
	lat := newLatencies()
	ids := make(chan int)
	go func() {
		defer close(ids)
		for i := range n {
			select {
			case ids <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wids   []string
		failed int
	)
	t0 := time.Now()
	tick := newTicker(progress, "product", n)
	for r := range conc {
		token := tokens[r%len(tokens)]
		wg.Go(func() {
			for i := range ids {
				id := fmt.Sprintf("bench-%s-%d", runID, i)
				err := productDeal(ctx, a, token, id, thankYou, lat)
				mu.Lock()
				if err != nil {
					failed++
					fmt.Fprintf(progress, "product deal %s: %v\n", id, err)
				} else {
					wids = append(wids, workflows.WorkflowID(id))
				}
				mu.Unlock()
				tick.done()
			}
		})
	}
	wg.Wait()
	tick.stop()
	res := runResult{lat: lat, failed: failed, ids: wids}
	last, err := lastClose(ctx, tc, wids)
	if err != nil {
		return res, err
	}
	res.took = last.Sub(t0)
	return res, nil
}

// productDeal creates one lead and takes it to the paid invoice.
func productDeal(ctx context.Context, a *api, token, id string, thankYou time.Duration, lat *latencies) error {
	t := time.Now()
	_, err := a.do(ctx, lat, "create", http.MethodPost, "/v1/leads", token, newLeadBody(id, thankYou), "")
	if err != nil {
		lat.fail("create")
		return fmt.Errorf("create: %w", err)
	}
	lat.add("create", time.Since(t))
	for _, s := range dealSteps {
		key := ""
		if s.key {
			key = s.action + "-" + id
		}
		t := time.Now()
		if _, err := a.do(ctx, lat, s.action, s.method, "/v1/leads/"+id+s.path, token, s.body, key); err != nil {
			lat.fail(s.action)
			return fmt.Errorf("%s: %w", s.action, err)
		}
		lat.add(s.action, time.Since(t))
	}
	return nil
}
