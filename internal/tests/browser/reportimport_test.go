package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestReportAndImport: a rep's pipeline report draws their deals' value per
// stage as a bar chart; a CSV uploaded on the import page is imported in the
// background, its page showing the counts and the rejected row's reason; the
// imported lead is on the board.
func TestReportAndImport(t *testing.T) {
	u := uniq()
	email := "reporter-" + u + "@example.com"
	token, err := stack.CreateUser(context.Background(), email, "Reporter "+u, "rep")
	if err != nil {
		t.Fatal(err)
	}
	makeDeal(t, token, apiDeal{Topic: "Fleet tablets", First: "Ada", Last: "Park", Company: "Northwind " + u, Value: "14000", Stage: "Paid"}, u)
	makeDeal(t, token, apiDeal{Topic: "Pilot", First: "Bo", Last: "Lee", Company: "Tailspin " + u, Value: "9000", Stage: "Develop"}, u)

	p := newPage(t)
	signIn(t, p, email, token)
	p.VisitUntil("/report", "report", `figure.chart[data-currency="USD"] svg.bars`)
	if text := p.Text("#report-outcomes"); !strings.Contains(text, "1") {
		t.Errorf("outcomes: %q", text)
	}

	csv := filepath.Join(t.TempDir(), "leads.csv")
	body := fmt.Sprintf("topic,firstName,lastName,company,email\nImported widgets,Cy,Moss,Fabrikam %s,cy@fabrikam-%s.example\n,No,Topic,Nowhere %s,no@nowhere-%s.example\n", u, u, u, u)
	if err := os.WriteFile(csv, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Visit("/import", "import")
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#im-file"), []string{csv}))
	p.Submit("form#import", "import-started")
	if !strings.HasPrefix(p.Path(), "/import/") {
		t.Fatalf("after the upload: at %s (problem: %q)", p.Path(), strings.Join(p.Texts(".problem"), " "))
	}
	p.VisitUntil(p.Path(), "import-done", "#import-result:not(:has(#im-running)) #im-started")
	if got := p.Text("#im-started") + "/" + p.Text("#im-rejected"); got != "1/1" {
		t.Errorf("started/rejected %s", got)
	}
	if reasons := strings.Join(p.Texts("#rejects td.reason"), " "); !strings.Contains(reasons, "topic") {
		t.Errorf("the rejected row's reason does not name the topic: %q", reasons)
	}
	p.VisitUntil("/board", "board-imported", `article.card a.card-link`)
	if cards := strings.Join(p.Texts("article.card"), " "); !strings.Contains(cards, "Fabrikam "+u) {
		t.Errorf("the imported lead is not on the board: %q", cards)
	}
}
