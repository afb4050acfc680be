package e2e

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"dealflow/internal/dev/devstack"
)

// TestAPITwoRepsEditAtOnce: two reps of the same deal read it (the same
// ETag) and edit it at the same moment, each with If-Match: one edit is
// taken (200, the next ETag), the other answered 412 with that ETag, and the
// deal holds the first rep's change, never a mix or the second's over it.
// The second rep reads the deal again and makes their change on top: both
// are there. Round after round, for PATCH and for an action (which the API
// sends to the workflow without reading the deal first).
func TestAPITwoRepsEditAtOnce(t *testing.T) {
	ctx := context.Background()
	bob, err := devstack.CreateUser(ctx, stack.Bin.API, stack.APIEnv(), "bob-etag@example.com", "Bob Etag", "rep")
	if err != nil {
		t.Fatal(err)
	}
	alice := apiClient{t, stack.RepToken}
	reps := []apiClient{alice, {t, bob}}
	id := apiNewID("etag")
	base := "/v1/leads/" + id
	alice.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "two reps")).must(t, 201, "create")
	alice.do(http.MethodPost, base+"/qualify", nil).must(t, 200, "qualify")
	alice.do(http.MethodPost, base+"/team", map[string]any{"userId": "bob-etag@example.com", "role": "Sales Rep"}).must(t, 200, "add bob to the team")

	// at sends each rep's request at once, each with If-Match etag.
	at := func(etag string, send func(rep apiClient, i int) apiResp) []apiResp {
		out := make([]apiResp, len(reps))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, rep := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				out[i] = send(rep, i)
			}()
		}
		close(start)
		wg.Wait()
		return out
	}
	names := []string{"Alice", "Bob"}
	stakeholders := 0
	for round := range 4 {
		// Both read the deal: the same version.
		etags := []string{alice.do(http.MethodGet, base, nil).must(t, 200, "alice reads").Header.Get("ETag"),
			reps[1].do(http.MethodGet, base, nil).must(t, 200, "bob reads").Header.Get("ETag")}
		if etags[0] == "" || etags[0] != etags[1] {
			t.Fatalf("round %d: ETags %q", round, etags)
		}
		etag := etags[0]

		// Both edit the same field at once.
		need := func(i int) string { return names[i] + "'s need, round " + string(rune('A'+round)) }
		res := at(etag, func(rep apiClient, i int) apiResp {
			return rep.do(http.MethodPatch, base, map[string]any{"customerNeed": need(i)}, "If-Match: "+etag)
		})
		winner, loser := oneWon(t, res, "PATCH round "+string(rune('A'+round)))
		next := res[winner].Header.Get("ETag")
		if res[loser].Header.Get("ETag") != next || res[loser].str("etag") != next || next == etag {
			t.Fatalf("the 412 names ETag %q (%s), the winner got %q, both read %q", res[loser].Header.Get("ETag"), res[loser].str("etag"), next, etag)
		}
		d := alice.do(http.MethodGet, base, nil).must(t, 200, "read")
		if got := d.str("opportunity.customerNeed"); got != need(winner) || d.Header.Get("ETag") != next {
			t.Fatalf("customer need %q at %s, want the winner's %q at %s", got, d.Header.Get("ETag"), need(winner), next)
		}
		// The other rep reads again and changes what they meant to, on top.
		again := reps[loser].do(http.MethodGet, base, nil).must(t, 200, "read again").Header.Get("ETag")
		sol := names[loser] + "'s solution"
		reps[loser].do(http.MethodPatch, base, map[string]any{"proposedSolution": sol}, "If-Match: "+again).must(t, 200, "edit on top")
		d = alice.do(http.MethodGet, base, nil).must(t, 200, "read")
		if d.str("opportunity.customerNeed") != need(winner) || d.str("opportunity.proposedSolution") != sol {
			t.Fatalf("after both: need %q, solution %q", d.str("opportunity.customerNeed"), d.str("opportunity.proposedSolution"))
		}

		// An action: both add a stakeholder at once, at the same version.
		etag = d.Header.Get("ETag")
		res = at(etag, func(rep apiClient, i int) apiResp {
			return rep.do(http.MethodPost, base+"/stakeholders", map[string]any{"name": names[i] + " contact " + string(rune('A'+round)), "role": "Influencer"}, "If-Match: "+etag)
		})
		winner, _ = oneWon(t, res, "add_stakeholder round "+string(rune('A'+round)))
		stakeholders++
		d = alice.do(http.MethodGet, base, nil).must(t, 200, "read")
		if n := d.len("opportunity.stakeholders"); n != stakeholders {
			t.Fatalf("%d stakeholders, want %d: %s", n, stakeholders, d.Raw)
		}
		last := d.str("opportunity.stakeholders." + itoa(stakeholders-1) + ".name")
		if last != names[winner]+" contact "+string(rune('A'+round)) {
			t.Fatalf("the stakeholder added is %q, not the winner's", last)
		}
	}
	// Every accepted step is on the timeline; each refusal by the handler
	// too (a refusal by the validator writes nothing).
	tl := alice.do(http.MethodGet, base+"/timeline?limit=200", nil).must(t, 200, "timeline")
	var accepted []string
	for i := range tl.len("items") {
		if tl.str("items."+itoa(i)+".accepted") == "true" {
			accepted = append(accepted, tl.str("items."+itoa(i)+".action"))
		}
	}
	if n := countOf(accepted, "edit_opportunity"); n != 8 {
		t.Errorf("%d accepted edits on the timeline, want 8: %v", n, accepted)
	}
	if n := countOf(accepted, "add_stakeholder"); n != 4 {
		t.Errorf("%d accepted stakeholders on the timeline, want 4: %v", n, accepted)
	}
}

// oneWon wants exactly one 200 and one 412 deal-changed among res, and
// returns their indexes.
func oneWon(t *testing.T, res []apiResp, what string) (winner, loser int) {
	t.Helper()
	codes := []int{res[0].Status, res[1].Status}
	switch {
	case slices.Equal(codes, []int{200, 412}):
		winner, loser = 0, 1
	case slices.Equal(codes, []int{412, 200}):
		winner, loser = 1, 0
	default:
		t.Fatalf("%s: answers %v, want one 200 and one 412:\n%s\n%s", what, codes, res[0].Raw, res[1].Raw)
	}
	if res[loser].str("type") != "urn:dealflow:problem:deal-changed" {
		t.Fatalf("%s: the 412 is %s", what, res[loser].Raw)
	}
	return winner, loser
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}
