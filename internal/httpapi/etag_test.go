package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// wantETag checks an answer's ETag header.
func wantETag(t *testing.T, r resp, want string) {
	t.Helper()
	if got := r.header.Get("ETag"); got != want {
		t.Fatalf("ETag %q, want %q: %d %s", got, want, r.code, r.raw)
	}
}

// TestETagAndIfMatch: GET, create and every action answer the deal's
// version as a strong ETag; PATCH and actions with If-Match act only on that
// version and answer 412 deal-changed (with the current ETag) otherwise,
// doing nothing; without If-Match they act as before. The check is the
// workflow's, so an action (which the API sends without reading the deal
// first) is refused as surely as a PATCH.
func TestETagAndIfMatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	base := "/v1/leads/et-1"
	wantETag(t, e.create(e.repA, "et-1"), `"1"`)
	r := e.do("GET", base, e.repA, nil)
	wantETag(t, r, `"1"`)
	if r.str("nextSeq") != "1" {
		t.Fatalf("nextSeq %q", r.str("nextSeq"))
	}

	// The edit at the version read: taken; the answer names the next one.
	r = e.do("PATCH", base, e.repA, map[string]any{"topic": "First edit"}, `If-Match: "1"`)
	if r.code != http.StatusOK || r.str("version") != "2" {
		t.Fatalf("PATCH at the current version: %d %s", r.code, r.raw)
	}
	wantETag(t, r, `"2"`)

	// Another edit at the version that is gone: 412 with the current ETag,
	// nothing changed (the topic, the version).
	stale := e.do("PATCH", base, e.repA, map[string]any{"topic": "Second edit"}, `If-Match: "1"`)
	wantProblem(t, stale, http.StatusPreconditionFailed, "deal-changed")
	wantETag(t, stale, `"2"`)
	if stale.str("etag") != `"2"` || !strings.Contains(stale.str("detail"), `"2"`) || stale.str("stage") != "Qualify" {
		t.Fatalf("412 body: %s", stale.raw)
	}
	// An action is checked by the workflow (no read before it): the same.
	q := e.do("POST", base+"/qualify", e.repA, nil, `If-Match: "1"`)
	wantProblem(t, q, http.StatusPreconditionFailed, "deal-changed")
	wantETag(t, q, `"2"`)
	r = e.do("GET", base, e.repA, nil)
	wantETag(t, r, `"2"`)
	if r.str("lead.topic") != "First edit" || r.str("stage") != "Qualify" {
		t.Fatalf("after the refused edit and action: %s, %s", r.str("lead.topic"), r.str("stage"))
	}

	// Tags that never match (weak, not a version), and ones that are no tag.
	for _, h := range []string{`W/"2"`, `"abc"`, `"0"`} {
		wantProblem(t, e.do("POST", base+"/qualify", e.repA, nil, "If-Match: "+h), http.StatusPreconditionFailed, "deal-changed")
	}
	for _, h := range []string{`2`, `"1", "2"`, `"2`} {
		wantProblem(t, e.do("POST", base+"/qualify", e.repA, nil, "If-Match: "+h), http.StatusBadRequest, "malformed-request")
	}
	// The version travels only in the header.
	r = e.do("POST", base+"/stakeholders", e.repA, map[string]any{"name": "Ada", "role": "Champion", "ifMatch": 2})
	wantProblem(t, r, http.StatusUnprocessableEntity, "invalid-fields")
	// Another rep learns nothing of the deal, not even its version.
	wantProblem(t, e.do("POST", base+"/qualify", e.repB, nil, `If-Match: "2"`), http.StatusNotFound, "not-found")
	wantProblem(t, e.do("PATCH", base, e.repB, map[string]any{"topic": "x"}, `If-Match: "2"`), http.StatusNotFound, "not-found")

	// "*" is any version; a retried action (same Idempotency-Key) is answered
	// as the first time, even once its version is gone.
	r = e.do("POST", base+"/qualify", e.repA, nil, `If-Match: *`, "Idempotency-Key: q-1")
	if r.code != http.StatusOK {
		t.Fatalf("qualify with If-Match *: %d %s", r.code, r.raw)
	}
	wantETag(t, r, `"3"`)
	e.act(e.repA, "PATCH", base, map[string]any{"customerNeed": "need"}) // no If-Match: as before
	r = e.do("POST", base+"/qualify", e.repA, nil, `If-Match: "2"`, "Idempotency-Key: q-1")
	if r.code != http.StatusOK || r.str("stage") != "Develop" {
		t.Fatalf("retried qualify: %d %s", r.code, r.raw)
	}
	wantETag(t, r, `"3"`)
	r = e.do("GET", base, e.repA, nil)
	wantETag(t, r, `"4"`)
	if r.str("opportunity.customerNeed") != "need" {
		t.Fatalf("the edit without If-Match: %s", r.raw)
	}
}

// TestWebEditOfAStalePage: the deal page's edit forms carry the version
// they showed; saving one after someone else changed the deal is refused
// with a message by the form, and overwrites nothing.
func TestWebEditOfAStalePage(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create(e.repA, "et-web")
	a := newBrowser(t, e)
	a.signIn("a@example.com", e.repA)
	deal := "/deals/et-web"
	p := a.get(deal)
	p.want(t, 200, `data-action="edit_lead"`, `<input type="hidden" name="version" value="1">`)

	// Meanwhile, through the API.
	e.act(e.repA, "PATCH", "/v1/leads/et-web", map[string]any{"topic": "Changed elsewhere"})

	r := a.post(deal+"/actions/edit_lead", formOf(t, p, "version", "1", "topic", "Stale topic"))
	// The form shows the deal as it is now beside the new version, not the
	// stale values: saved again as it stands, it would overwrite the change.
	r.want(t, http.StatusPreconditionFailed, `class="problem"`, "Someone else changed this deal", `value="Changed elsewhere"`,
		`<input type="hidden" name="version" value="2">`)
	if strings.Contains(r.body, `value="Stale topic"`) {
		t.Fatal("the stale form's values are shown again beside the new version")
	}
	if got := e.do("GET", "/v1/leads/et-web", e.repA, nil).str("lead.topic"); got != "Changed elsewhere" {
		t.Fatalf("topic %q after the stale form", got)
	}
	// The page shown again carries the new version: saved.
	a.post(deal+"/actions/edit_lead", formOf(t, r, "version", "2", "topic", "Saved topic")).location(t, http.StatusSeeOther, deal)
	if got := e.do("GET", "/v1/leads/et-web", e.repA, nil).str("lead.topic"); got != "Saved topic" {
		t.Fatalf("topic %q", got)
	}
}
