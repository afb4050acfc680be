package apifuzz

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
)

// input is one request and what it aims at.
type input struct {
	what                string
	method, path, token string
	body                []byte
	headers             map[string]string
	// deal is the deal the request acts on ("" for none): a rejection must
	// leave every row of it as it was.
	deal string
	// starts are lead ids a creation could start: a rejection must not.
	starts []string
}

// run sends the input prepare returns and checks the answer: never a 5xx;
// a rejection (4xx) is a problem document and changed nothing; an accepted
// input is handed to accepted and leaves its deal healthy. Inputs of all
// fuzz workers are serialized (see lock).
func (h *harness) run(t *testing.T, prepare func() input, accepted func(in input, r reply)) {
	t.Helper()
	unlock, err := h.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	in := prepare()
	before := h.snapshot(t, in.deal)
	existed := map[string]bool{}
	for _, id := range in.starts {
		existed[id] = h.workflowExists(t, id)
	}
	r := h.serve(in.method, in.path, in.token, in.body, in.headers)
	if r.code >= 500 {
		t.Fatalf("%s %s answered %d: %s\nbody: %q\nheaders: %q\nserver log:\n%s", in.method, in.path, r.code, r.raw, in.body, in.headers, h.logs.tail())
	}
	if r.code < 300 {
		if accepted != nil {
			accepted(in, r)
		}
		if in.deal != "" {
			h.used(in.deal)
			h.healthy(t, in.what, in.deal)
		}
		return
	}
	if st, _ := r.body["status"].(float64); int(st) != r.code {
		t.Fatalf("%s %s: %d without a problem document: %s", in.method, in.path, r.code, r.raw)
	}
	after := h.snapshot(t, in.deal)
	if after != before {
		t.Fatalf("%s %s refused with %d (%s) but wrote:\nbefore %+v\nafter  %+v\nbody: %q", in.method, in.path, r.code, r.raw, before, after, in.body)
	}
	for _, id := range in.starts {
		if !existed[id] && h.workflowExists(t, id) {
			t.Fatalf("%s %s refused with %d (%s) but started deal %s\nbody: %q", in.method, in.path, r.code, r.raw, id, in.body)
		}
	}
}

// FuzzCreateLead: POST /v1/leads with any body and Idempotency-Key.
func FuzzCreateLead(f *testing.F) {
	f.Add([]byte(`{"topic":"t"}`), "")
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		h := get(t)
		h.run(t, func() input {
			in := input{what: "create lead", method: http.MethodPost, path: "/v1/leads", token: h.rep.token, body: body}
			if key != "" {
				in.headers = map[string]string{"Idempotency-Key": key}
				in.starts = append(in.starts, h.derivedID(key))
			}
			var probe struct {
				ID any `json:"id"`
			}
			if json.Unmarshal(body, &probe) == nil {
				if s, ok := probe.ID.(string); ok {
					in.starts = append(in.starts, s)
				}
			}
			return in
		}, func(in input, r reply) {
			id, _ := r.body["id"].(string)
			if id == "" {
				t.Fatalf("create lead answered %d without an id: %s", r.code, r.raw)
			}
			if r.code == http.StatusCreated || r.code == http.StatusAccepted {
				h.waitLead(t, id)
				h.healthy(t, "create lead", id)
			}
		})
	})
}

// actionRoute is a route under /v1/leads/{id} whose body the API decodes,
// and the kind of deal (fixture) on which it can be accepted.
type actionRoute struct {
	method, sub, fixture string
	manager              bool
}

// actionRoutes are every route that decodes a body for an existing deal: the
// action routes and PATCH /v1/leads/{id} in both of its stages.
var actionRoutes = []actionRoute{
	{http.MethodPatch, "", "qualify", false}, // edit_lead
	{http.MethodPost, "/qualify", "qualify", false},
	{http.MethodPost, "/disqualify", "qualify", false},
	{http.MethodPost, "/assign", "qualify", true},
	{http.MethodPost, "/reactivate", "disqualified", false},
	{http.MethodPatch, "", "ready", false}, // edit_opportunity
	{http.MethodPost, "/stakeholders", "develop", false},
	{http.MethodDelete, "/stakeholders/stakeholder-1", "ready", false},
	{http.MethodPost, "/competitors", "develop", false},
	{http.MethodDelete, "/competitors/competitor-1", "develop", false},
	{http.MethodPost, "/team", "develop", false},
	{http.MethodDelete, "/team/team-1", "develop", false},
	{http.MethodPost, "/lines", "develop", false},
	{http.MethodDelete, "/lines/line-2", "ready", false},
	{http.MethodPost, "/quotes", "ready", false},
	{http.MethodPatch, "/quotes/1", "propose", false},
	{http.MethodPost, "/quotes/1/activate", "propose", false},
	{http.MethodPost, "/quotes/1/revise", "close", false},
	{http.MethodPost, "/close", "close", false},
	{http.MethodPost, "/reopen", "lost", false},
	{http.MethodPost, "/order/fulfill", "order", false},
	{http.MethodPost, "/order/cancel", "order", false},
	{http.MethodPost, "/invoice/payments", "invoice", false},
	{http.MethodPost, "/invoice/cancel", "invoice", false},
}

// FuzzAction: every action route (route picks one of actionRoutes) with any
// body, aimed at a deal in a stage where the route can be accepted.
func FuzzAction(f *testing.F) {
	f.Add(uint8(1), []byte(`{}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		h := get(t)
		rt := actionRoutes[int(route)%len(actionRoutes)]
		h.run(t, func() input {
			id := h.fixture(t, rt.fixture)
			tok := h.rep.token
			if rt.manager {
				tok = h.mgr.token
			}
			return input{what: rt.method + " " + rt.sub + " on a " + rt.fixture + " deal", method: rt.method,
				path: "/v1/leads/" + id + rt.sub, token: tok, body: body, deal: id}
		}, nil)
	})
}

// FuzzCreateUser: POST /v1/users, as a manager, with any body.
func FuzzCreateUser(f *testing.F) {
	f.Add([]byte(`{"email":"new@example.com","role":"rep"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := get(t)
		h.run(t, func() input {
			return input{what: "create user", method: http.MethodPost, path: "/v1/users", token: h.mgr.token, body: body}
		}, func(in input, r reply) {
			if r.code != http.StatusCreated || r.body["token"] == nil {
				t.Fatalf("create user answered %d: %s", r.code, r.raw)
			}
		})
	})
}

// teammate is a user every process may name as an owner or team member
// (seeds use it).
const teammate = "teammate@apifuzz.test"
