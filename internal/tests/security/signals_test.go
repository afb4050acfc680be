package security

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"dealflow/workflows"
)

// timelineOf reads the deal's timeline through the API (its state query).
func timelineOf(t *testing.T, id string) []workflows.Event {
	t.Helper()
	resp, b := get(t, "/v1/leads/"+id, bearer(stack.RepToken))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/leads/%s: %d %s", id, resp.StatusCode, b)
	}
	var v struct {
		Timeline []workflows.Event `json:"timeline"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Timeline == nil {
		t.Fatalf("GET /v1/leads/%s: %v %s", id, err, b)
	}
	return v.Timeline
}

// waitEvent waits until the deal's timeline has more than n events, the
// last of which matches; it returns the timeline.
func waitEvent(t *testing.T, id string, n int, match func(workflows.Event) bool) ([]workflows.Event, bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tl := timelineOf(t, id)
		for _, e := range tl[min(n, len(tl)):] {
			if match(e) {
				return tl, true
			}
		}
		if time.Now().After(deadline) {
			return tl, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Signals sent straight to a deal with the Temporal CLI, past the API and
// its validation, with payloads that are wrong in every way: each is
// recorded in the timeline (and deal_events) as refused, and the deal goes
// on — it takes the next valid signal and the next API action.
func TestMalformedSignals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := newDeal(t, "sec-signal") // in Develop
	wid := workflows.WorkflowID(id)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []malformed{
		{"a field of the wrong type", "add_line", []string{"--input", `{"product": 5, "quantity": "1", "unitPrice": "1"}`}},
		{"invalid values", "add_line", []string{"--input", `{"product": "x", "quantity": "-1", "unitPrice": "1e99"}`}},
		{"an unknown field", "add_competitor", []string{"--input", `{"name": "Rival", "bogus": true}`}},
		{"a string, not an object", "close", []string{"--input", `"won"`}},
		{"null", "disqualify", []string{"--input", `null`}},
		{"an array", "add_stakeholder", []string{"--input", `[{"name": "x", "role": "Champion"}]`}},
		{"the wrong stage", "qualify", []string{"--input", `{}`}},
		{"no payload at all", "reopen", nil},
		{"two payloads", "add_stakeholder", []string{"--input", `{"name": "x"}`, "--input", `{"role": "Champion"}`}},
		{"a binary payload", "add_competitor", []string{"--input-meta", "encoding=binary/plain", "--input-base64", "--input", b64("\x00\xff\x10binary")}},
	}
	sendMalformed(t, ctx, id, cases)

	// The deal goes on: a valid signal, then an API action.
	validSignal(t, ctx, id)
	resp, b := do(t, http.MethodPost, "/v1/leads/"+id+"/lines", bearer(stack.RepToken),
		jsonBody(map[string]any{"product": "p", "quantity": "1", "unitPrice": "10"}))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("an API action after the malformed signals: %d %s", resp.StatusCode, b)
	}

	// deal_events is the timeline, refusals included.
	tl := timelineOf(t, id)
	conn, err := pgx.Connect(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT seq, action, accepted, actor, detail FROM deal_events WHERE lead_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (workflows.Event, error) {
		var e workflows.Event
		return e, r.Scan(&e.Seq, &e.Action, &e.Accepted, &e.Actor, &e.Detail)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(tl) {
		t.Fatalf("deal_events has %d rows, the timeline %d: %s", len(evs), len(tl), actions(tl))
	}
	refused := 0
	for i, e := range evs {
		w := tl[i]
		if e.Seq != w.Seq || e.Action != w.Action || e.Accepted != w.Accepted || e.Actor != w.Actor || e.Detail != w.Detail {
			t.Errorf("deal_events row %d %+v, timeline %+v", i, e, w)
		}
		if !e.Accepted {
			refused++
		}
	}
	if refused != len(cases) {
		t.Errorf("%d refused events in deal_events, want %d (one per malformed signal)", refused, len(cases))
	}
	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus().String(); st != "Running" {
		t.Errorf("the deal's workflow is %s", st)
	}
	if wt := desc.GetPendingWorkflowTask(); wt != nil && wt.GetAttempt() > 1 {
		t.Errorf("the deal's workflow task is failing (attempt %d)", wt.GetAttempt())
	}
}

// malformed is a signal the CLI sends with a bad payload.
type malformed struct {
	name, signal string
	args         []string
}

// sendMalformed sends each signal and checks it is recorded as refused.
func sendMalformed(t *testing.T, ctx context.Context, id string, cases []malformed) {
	t.Helper()
	wid := workflows.WorkflowID(id)
	for _, c := range cases {
		n := len(timelineOf(t, id))
		args := append([]string{"workflow", "signal", "--workflow-id", wid, "--name", c.signal}, c.args...)
		if out, err := stack.CLI(ctx, args...); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		tl, ok := waitEvent(t, id, n, func(e workflows.Event) bool { return e.Action == c.signal })
		if !ok {
			t.Errorf("signal %s with %s: not in the timeline 20s later (timeline: %s)", c.signal, c.name, actions(tl))
			continue
		}
		e := tl[len(tl)-1]
		if e.Accepted || e.Actor != "unknown" || e.Detail == "" {
			t.Errorf("signal %s with %s: recorded as %+v, want refused, by unknown, with a reason", c.signal, c.name, e)
		} else {
			t.Logf("%-26s %-16s refused: %s", c.name, c.signal, e.Detail)
		}
	}
}

// validSignal sends a valid add_competitor signal and checks it is taken.
func validSignal(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	n := len(timelineOf(t, id))
	if out, err := stack.CLI(ctx, "workflow", "signal", "--workflow-id", workflows.WorkflowID(id), "--name", "add_competitor",
		"--input", `{"name": "Valid Rival `+strconv.Itoa(n)+`", "actor": "rep@example.com"}`); err != nil {
		t.Fatalf("valid signal: %v\n%s", err, out)
	}
	if tl, ok := waitEvent(t, id, n, func(e workflows.Event) bool { return e.Action == "add_competitor" && e.Accepted }); !ok {
		t.Errorf("a valid signal after the malformed ones is not taken: %s", actions(tl))
	}
}

// A signal whose payload the SDK's data converter cannot decode (an
// encoding it does not know) must be recorded as refused like any other,
// and must not hold up the signals after it.
func TestSignalWithUndecodableEncoding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := newDeal(t, "sec-encoding")
	sendMalformed(t, ctx, id, []malformed{
		{"an unknown encoding", "edit_opportunity", []string{"--input-meta", "encoding=application/x-nonsense", "--input", `{"customerNeed": "n"}`}},
	})
	validSignal(t, ctx, id)
}

func actions(tl []workflows.Event) string {
	var parts []string
	for _, e := range tl {
		s := e.Action
		if !e.Accepted {
			s += "(refused)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}
