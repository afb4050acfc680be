package encryption

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"dealflow/internal/tests/browser/chrome"
	"dealflow/workflows"
)

// TestWebUIShowsTheDealDecrypted opens an encrypted deal's page in the
// Temporal Web UI (the dev server's, v2.42.1, with the codec endpoint `make
// up` gives it) in headless Chromium: the UI fetches the deal's input from
// the codec server — preflight, then /decode, from its own origin, the
// token in the endpoint's path — and shows the contact's name and email,
// which the server itself holds only encrypted.
func TestWebUIShowsTheDealDecrypted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := chrome.Launch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	s := newSecrets()
	createLead(t, s, "Encrypted: seen in the Web UI")

	p := b.NewPage(t, stack.TemporalUIURL())
	p.Visit("/namespaces/"+url.PathEscape(stack.Namespace())+"/workflows/"+url.PathEscape(workflows.WorkflowID(s.id)), "deal")
	// The page polls and never settles: wait for the decoded input.
	deadline := time.Now().Add(60 * time.Second)
	for {
		text := chrome.Eval[string](p, `document.body.innerText`)
		if strings.Contains(text, s.email) && strings.Contains(text, s.lastName) {
			break
		}
		if time.Now().After(deadline) {
			p.Screenshot("not-decoded")
			t.Fatalf("the Web UI never showed the deal's email and name decrypted; the page says:\n%.3000s", text)
		}
		p.Do(chromedp.Sleep(500 * time.Millisecond))
	}
	p.Screenshot("decoded")
}
