package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"dealflow/internal/web"
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
