package httpapi_test

import (
	"strings"
	"testing"
)

// TestWebReport: the report page draws each currency's value per stage as
// inline SVG, never sums currencies, and shows the win rate; a rep's is
// their own deals, a manager's every deal with each owner's share.
func TestWebReport(t *testing.T) {
	e := newEnv(t, envOpts{})
	pipelineDeals(t, e)

	a := newBrowser(t, e)
	p := a.signIn("a@example.com", e.repA)
	p.want(t, 200, `<a href="/report">Report</a>`)
	p = a.get("/report")
	p.want(t, 200, `<a href="/report" aria-current="page">Report</a>`, `<svg class="bars" role="img"`,
		`<figure class="chart" data-currency="USD">`, `<td class="num">1001.00 USD</td>`, `<dd id="win-rate">50.0 %</dd>`)
	if strings.Contains(p.body, "EUR") || strings.Contains(p.body, `id="report-owners"`) {
		t.Fatalf("rep A sees rep B's deals or the owners: %s", p.body)
	}
	if strings.Contains(p.body, "style=") {
		t.Error("an inline style (the CSP forbids them)")
	}

	b := newBrowser(t, e)
	b.signIn("b@example.com", e.repB)
	p = b.get("/report")
	p.want(t, 200, `data-currency="EUR"`, `data-currency="USD"`, "900.50 EUR", "900.50 USD", `<dd id="win-rate">—</dd>`)
	if strings.Contains(p.body, "1801") {
		t.Fatalf("currencies summed: %s", p.body)
	}
	// Each currency's chart is on its own scale: both 900.50 bars are full length.
	if n := strings.Count(p.body, `width="400" height="18"`); n != 2 {
		t.Errorf("%d full-length bars, want 2: %s", n, p.body)
	}

	m := newBrowser(t, e)
	m.signIn("boss@example.com", e.mgr)
	p = m.get("/report")
	p.want(t, 200, `id="report-owners"`, "<th scope=\"row\">a@example.com</th>", "<th scope=\"row\">b@example.com</th>",
		"900.50 EUR<br>900.50 USD", `data-currency="EUR"`)
}
