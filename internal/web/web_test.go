package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"dealflow/internal/web"
	"dealflow/workflows"
)

func TestRenderEscapesAndSetsHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	err := web.Render(rec, 404, "error", web.Page{Title: "<b>x</b>", Viewer: &web.Viewer{Email: "a@example.com"}, CSRF: "tok",
		Data: struct {
			Status        int
			Title, Detail string
		}{404, "Not found", "<script>alert(1)</script>"}})
	if err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	if rec.Code != 404 || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(body, "<script>") ||
		!strings.Contains(body, `class="narrow not-found"`) || !strings.Contains(body, `name="csrf" value="tok"`) {
		t.Fatalf("%d %s", rec.Code, body)
	}
	if rec.Header().Get("Content-Security-Policy") != web.ContentSecurityPolicy || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", rec.Header())
	}
	if err := web.Render(httptest.NewRecorder(), 200, "nope", web.Page{}); err == nil {
		t.Error("an unknown page renders")
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{
		"lead_reminder":            "Lead reminder",
		"thank_you":                "Thank-you",
		"phone_call":               "Phone call",
		"followup:thank_you":       "Follow-up: Thank-you",
		"followup:invoice_overdue": "Follow-up: Invoice overdue",
		"create":                   "Create",
		"Open":                     "Open",
		"":                         "",
	} {
		if got := web.Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
	if got := web.NextStep(workflows.StagePaid, "none"); got != "Paid — nothing left to do" {
		t.Errorf("Paid: %q", got)
	}
	if got := web.NextStep(workflows.StageOrder, "fulfill the order"); got != "fulfill the order" {
		t.Errorf("Order: %q", got)
	}
	if got := web.Amount(decimal.Zero, "USD"); got != "" {
		t.Errorf("zero: %q", got)
	}
	if got := web.Amount(decimal.RequireFromString("12.5"), "USD"); got != "12.50 USD" {
		t.Errorf("12.5: %q", got)
	}
}

func TestReportEscapes(t *testing.T) {
	xss := "<script>alert(1)</script>"
	charts := web.Charts([]string{"Qualify", xss}, []web.StageValue{
		{Stage: "Qualify", Currency: "EUR", Amount: decimal.NewFromInt(10)},
		{Stage: xss, Currency: "EUR", Amount: decimal.NewFromInt(5)},
		{Stage: "Qualify", Currency: "USD", Amount: decimal.NewFromInt(7)},
	})
	if len(charts) != 2 || charts[0].Currency != "EUR" || charts[0].Bars[0].W != 400 || charts[0].Bars[1].W != 200 ||
		charts[1].Bars[0].W != 400 || charts[1].Bars[1].W != 0 || charts[1].Bars[1].Amount != "" {
		t.Fatalf("charts %+v", charts)
	}
	rec := httptest.NewRecorder()
	err := web.Render(rec, 200, "report", web.Page{Title: "r", Viewer: &web.Viewer{Email: "m@example.com", Manager: true},
		Data: web.Report{Charts: charts, Stages: []web.ReportStage{{Stage: xss, Values: []string{xss}}},
			Owners: []web.ReportOwner{{Owner: xss}}, WinRate: web.Percent(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	if strings.Contains(body, xss) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") ||
		!strings.Contains(body, `<rect class="bar" x="90" y="32" width="200" height="18"`) {
		t.Fatalf("%s", body)
	}
}
