package browser

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/api/workflowservice/v1"

	"dealflow/internal/tests/browser/chrome"
	"dealflow/workflows"
)

// uiColumns are the deals' search attributes a manager adds to the Temporal
// Web UI's workflow list (README, "Managers in the Temporal Web UI").
var uiColumns = []string{"SalesStage", "SalesOwner", "Customer", "EstimatedRevenue", "ExpectedCloseDate"}

// A manager opens the Temporal Web UI (the dev server's, v2.42.1) on the
// deals in Develop by URL, adds the search attributes as columns through the
// table's configuration drawer, sees each deal's values in them, and saves
// the filtered list as a view named Develop, which opens the list again.
// The UI's pages never settle (it polls), so every step waits for what it
// needs to see.
func TestTemporalUIColumnsAndSavedView(t *testing.T) {
	ui := stack.TemporalUIURL()
	if ui == "" {
		t.Fatal("the stack runs no Temporal Web UI (e2e.Options.TemporalUI)")
	}
	u := uniq()
	token := stack.RepToken
	deals := []apiDeal{
		{Topic: "CRM rollout, phase 2", First: "Lena", Last: "Fischer", Company: "Fabrikam Cloud", Value: "32000.00", Stage: "Develop"},
		{Topic: "Fleet tracking for 40 vans", First: "Maria", Last: "Campbell", Company: "Northwind Logistics", Value: "18000.00", Stage: "Develop"},
	}
	ids := make([]string, len(deals))
	for i, d := range deals {
		ids[i] = makeDeal(t, token, d, u)
	}
	query := `SalesStage="Develop"`
	waitListed(t, query, ids)

	// Wide enough for the added columns beside the saved views.
	p := browser.NewPage(t, ui, chrome.Viewport(1920, 640, false))
	ns := url.PathEscape(stack.Namespace())
	list := "/namespaces/" + ns + "/workflows"
	row := func(id string) string {
		return fmt.Sprintf(`table a[href*="/workflows/%s/"]`, url.PathEscape(workflows.WorkflowID(id)))
	}
	p.Do(chromedp.Navigate(ui + list + "?query=" + url.QueryEscape(query)))
	for _, id := range ids {
		p.WaitVisible(row(id))
	}
	if n := chrome.Eval[int](p, `document.querySelectorAll("table tbody tr").length`); n < len(ids) {
		t.Fatalf("the list shows %d rows, want at least %d", n, len(ids))
	}
	p.Screenshot("workflows-develop")

	// Columns: the drawer's buttons are clicked as elements (it slides in,
	// so a click at coordinates could land before it stops).
	click := func(sel string) {
		t.Helper()
		p.Do(chromedp.WaitReady(chromedp.CSS(sel)))
		if !chrome.Eval[bool](p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel)) {
			t.Fatalf("no %s to click", sel)
		}
	}
	click(`[data-testid="workflows-summary-table-configuration-button"]`)
	// Run ID, Type and End make room for the deal's columns.
	for _, c := range []string{"Run ID", "Type", "End"} {
		click(fmt.Sprintf(`[data-testid="orderable-list-item-%s-remove-button"]`, c))
	}
	for _, c := range uiColumns {
		click(fmt.Sprintf(`[data-testid="orderable-list-item-%s-add-button"]`, c))
	}
	click(`[data-testid="drawer-close-button"]`)
	// The drawer fades out, then leaves the page.
	p.Do(chromedp.Poll[chromedp.Void](`!document.getElementById("workflows-table-configuration-drawer")`, chromedp.WithPollingTimeout(30*time.Second)))
	p.Do(chromedp.Poll[chromedp.Void](fmt.Sprintf(
		`Array.from(document.querySelectorAll("table th"), th => th.innerText.trim()).filter(h => %s.includes(h)).length === %d`,
		jsList(uiColumns), len(uiColumns)), chromedp.WithPollingTimeout(30*time.Second)))
	for i, id := range ids {
		text := chrome.Eval[string](p, fmt.Sprintf(`document.querySelector(%q).closest("tr").innerText`, row(id)))
		for _, want := range []string{"Develop", "rep@example.com", deals[i].Company, strings.TrimSuffix(deals[i].Value, ".00")} {
			if !strings.Contains(text, want) {
				t.Errorf("the row of %s %q lacks %q", id, text, want)
			}
		}
	}
	p.Screenshot("workflows-columns")

	// A saved view of the query, kept by the browser (local storage).
	click(`[data-testid="create-view-button"]`)
	p.Do(chromedp.WaitVisible(chromedp.CSS("#view-name")), chromedp.SendKeys(chromedp.CSS("#view-name"), "Develop"))
	click(`#save-view-modal [data-testid="confirm-modal-button"]`)
	p.Do(chromedp.Poll[chromedp.Void](
		`(JSON.parse(localStorage.getItem("saved-workflow-queries") || "{}")[`+fmt.Sprintf("%q", stack.Namespace())+`] || []).some(v => v.name === "Develop" && v.query.replace(/ /g, "") === 'SalesStage="Develop"')`,
		chromedp.WithPollingTimeout(30*time.Second)))
	p.Screenshot("saved-view")

	// The view opens the list again from the unfiltered one.
	p.Do(chromedp.Navigate(ui + list))
	p.WaitVisible("table")
	p.Do(chromedp.Poll[chromedp.Void](
		`Array.from(document.querySelectorAll("button")).some(b => b.innerText.trim() === "Develop")`,
		chromedp.WithPollingTimeout(30*time.Second)))
	chrome.Eval[bool](p, `(() => { const b = Array.from(document.querySelectorAll("button")).find(b => b.innerText.trim() === "Develop"); b.click(); return true })()`)
	for _, id := range ids {
		p.WaitVisible(row(id))
	}
	if q := p.URL(); !strings.Contains(q, "query=") || !strings.Contains(q, "SalesStage") {
		t.Errorf("the saved view opened %s, want its query in the address", q)
	}
	p.Screenshot("saved-view-opened")
}

// waitListed waits until Temporal's visibility lists every deal for the
// query (it follows the workflows' search attribute updates).
func waitListed(t *testing.T, query string, ids []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var q strings.Builder
	q.WriteString(query + " AND WorkflowId IN (")
	for i, id := range ids {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "%q", workflows.WorkflowID(id))
	}
	q.WriteString(")")
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: stack.Namespace(), Query: q.String()})
		if err == nil && len(resp.Executions) == len(ids) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Temporal never listed %d deals for %s (last: %v, %v)", len(ids), q.String(), resp, err)
		case <-tick.C:
		}
	}
}

func jsList(s []string) string {
	return `["` + strings.Join(s, `", "`) + `"]`
}
