// Package browser tests the reps' web app in headless Chromium against the
// real stack (internal/tests/e2e): the api and worker binaries built from
// this tree, a Temporal dev server and PostgreSQL. Every page a test visits
// is saved as a PNG under .dev/screenshots/<Test>/ (or $DEALFLOW_SCREENSHOTS),
// so a person can look at what the test saw.
package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"dealflow/internal/tests/browser/chrome"
	"dealflow/internal/tests/e2e"
)

var (
	stack   *e2e.Stack
	browser *chrome.Browser
)

func TestMain(m *testing.M) {
	// The browser first: without one, fail before the stack's long start.
	b, err := chrome.Launch(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: browser tests: %v\n", err)
		os.Exit(1)
	}
	browser = b
	// The dev server runs its Web UI, which the API links managers to
	// (TEMPORAL_UI_URL) and TestTemporalUI drives.
	code := e2e.Main(m, e2e.Options{TemporalUI: true}, &stack)
	b.Close()
	fmt.Fprintf(os.Stderr, "browser tests: screenshots in %s\n", chrome.ScreenshotsDir())
	os.Exit(code)
}

// uniq is a suffix no other test run uses (leads must not look like
// duplicates of one another's customers).
func uniq() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// newPage opens a tab on the web app for the test.
func newPage(t *testing.T, opts ...chrome.PageOption) *chrome.Page {
	t.Helper()
	return browser.NewPage(t, stack.APIURL, opts...)
}

// signIn signs in through the sign-in page and lands on the board.
func signIn(t *testing.T, p *chrome.Page, email, token string) {
	t.Helper()
	p.Visit("/", "home-signed-out")
	if !strings.HasPrefix(p.Path(), "/signin") {
		t.Fatalf("/ signed out went to %s, want /signin", p.Path())
	}
	p.Fill("form:has(#signin)", chrome.F("email", email), chrome.F("token", token))
	p.Submit("#signin", "board-signed-in")
	if !strings.HasPrefix(p.Path(), "/board") {
		t.Fatalf("after signing in as %s: at %s, want /board (problem: %q)", email, p.Path(), strings.Join(p.Texts(".problem"), " "))
	}
}

var dealPath = regexp.MustCompile(`^/deals/([^/?#]+)`)

// createLead fills the new-lead form and returns the new deal's id, from
// the deal page it redirects to.
func createLead(t *testing.T, p *chrome.Page, fields ...chrome.Field) string {
	t.Helper()
	p.Visit("/leads/new", "new-lead")
	p.Fill("form#new-lead", fields...)
	if st := p.Submit("form#new-lead", "deal-created"); st != http.StatusOK {
		t.Fatalf("create lead: status %d at %s: %q", st, p.Path(), strings.Join(p.Texts(".problem"), " "))
	}
	m := dealPath.FindStringSubmatch(p.Path())
	if m == nil {
		t.Fatalf("create lead: at %s, want /deals/ID (problem: %q)", p.Path(), strings.Join(p.Texts(".problem"), " "))
	}
	p.WaitVisible("#stage-bar")
	return m[1]
}

// act fills and submits the deal page's form for the action (the first
// one, or the one whose action path ends in /item when item is not empty)
// and returns the status of the page it leads to.
func act(t *testing.T, p *chrome.Page, action, item string, fields ...chrome.Field) int {
	t.Helper()
	form := fmt.Sprintf(`form[data-action=%q]`, action)
	if item != "" {
		form += fmt.Sprintf(`[action$="/%s"]`, item)
	}
	p.Fill(form, fields...)
	name := action
	if item != "" {
		name += "-" + item
	}
	return p.Submit(form, name)
}

// mustAct is act that must succeed: back on the deal page, no problem shown.
func mustAct(t *testing.T, p *chrome.Page, id, action, item string, fields ...chrome.Field) {
	t.Helper()
	st := act(t, p, action, item, fields...)
	if probs := p.Texts(".problem"); st != http.StatusOK || len(probs) > 0 || !strings.HasPrefix(p.Path(), "/deals/"+id) {
		t.Fatalf("%s: status %d at %s, problems %q", action, st, p.Path(), probs)
	}
}

// stage is the deal page's current stage.
func stage(t *testing.T, p *chrome.Page) string {
	t.Helper()
	return p.Text("#stage-bar .stage.current")
}

func wantStage(t *testing.T, p *chrome.Page, want string) {
	t.Helper()
	if got := stage(t, p); !strings.Contains(got, want) {
		t.Fatalf("current stage %q, want %s", got, want)
	}
}

// leadFields are the new-lead form's fields for a customer of its own,
// without what qualification needs (budget, timeframe, decision maker).
func leadFields(topic, suffix string) []chrome.Field {
	return []chrome.Field{
		chrome.F("topic", topic),
		chrome.F("firstName", "Grace"), chrome.F("lastName", "Hopper"),
		chrome.F("company", "Compilers "+suffix),
		chrome.F("email", "grace-"+suffix+"@example.com"),
		// Digits of its own too: duplicate detection keys phones by their last 9.
		chrome.F("phone", fmt.Sprintf("+44 %09d", time.Now().UnixNano()%1e9)),
		chrome.F("source", "Web"),
	}
}

// onBoard loads the board until the deal's card is in the stage's column
// (the board reads the read model, which follows the workflow).
func onBoard(t *testing.T, p *chrome.Page, stageName, id, shot string) {
	t.Helper()
	p.VisitUntil("/board", shot, fmt.Sprintf(`section.column[data-stage=%q] article.card[data-id=%q]`, stageName, id))
}
