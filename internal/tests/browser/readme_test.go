package browser

import (
	"context"
	"fmt"
	"testing"
)

// The README's pictures of the web app (make screenshots copies them to
// docs/images): a rep's board with deals in several stages, and the page of
// a deal with its lines and an active quote. The deals are made through the
// JSON API for a rep of their own, so the board shows those alone.
func TestREADMEScreenshots(t *testing.T) {
	u := uniq()
	email := "ada-" + u + "@example.com"
	token, err := stack.CreateUser(context.Background(), email, "Ada Lovelace", "rep")
	if err != nil {
		t.Fatal(err)
	}
	deals := []apiDeal{
		{Topic: "Fleet tracking for 40 vans", First: "Maria", Last: "Campbell", Company: "Northwind Traders", Value: "18000.00", Stage: "Qualify"},
		{Topic: "Warehouse scanners", First: "Yusuf", Last: "Demir", Company: "Tailspin Toys", Value: "7200.00", Stage: "Qualify"},
		{Topic: "CRM rollout, phase 2", First: "Lena", Last: "Fischer", Company: "Fabrikam", Value: "32000.00", Stage: "Develop"},
		{Topic: "Licences for the Lisbon office", First: "Kenji", Last: "Sato", Company: "Contoso", Value: "13400.00", Stage: "Close"},
		{Topic: "Support renewal 2027", First: "Amara", Last: "Okafor", Company: "Adventure Works", Value: "13400.00", Stage: "Invoice"},
		{Topic: "Onboarding workshop", First: "Pierre", Last: "Martin", Company: "Litware", Value: "13400.00", Stage: "Paid"},
	}
	ids := make([]string, len(deals))
	for i, d := range deals {
		ids[i] = makeDeal(t, token, d, u)
	}

	p := newPage(t)
	signIn(t, p, email, token)
	// The board follows the workflows: load it until every card is in its
	// column.
	all := "body"
	for i, d := range deals {
		all += fmt.Sprintf(`:has(section.column[data-stage=%q] article.card[data-id=%q])`, d.Stage, ids[i])
	}
	p.VisitUntil("/board", "board", all)
	p.Visit("/deals/"+ids[3], "deal")
	wantStage(t, p, "Close")
	if lines := p.Text("#lines"); lines == "" {
		t.Fatalf("the deal page shows no lines")
	}
}
