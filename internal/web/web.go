// Package web holds the reps' web app's templates and stylesheet, embedded
// in the api binary: server-rendered HTML (html/template escapes every
// value), no script. The handlers live in internal/httpapi, beside the JSON
// API whose code paths they call.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/internal/money"
	"dealflow/workflows"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every page: nothing but the app's own
// stylesheet loads, no script runs, forms post only to the app, and no
// other site may frame it.
const ContentSecurityPolicy = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Static serves the stylesheet (under /assets/).
func Static() http.FileSystem {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	return http.FS(sub)
}

// Viewer is the signed-in user as the pages show them.
type Viewer struct {
	Email, Name string
	Manager     bool
}

// Page is what every page's template gets: the layout's parts, and the
// page's own data in Data.
type Page struct {
	Title  string
	Viewer *Viewer // nil: signed out
	CSRF   string
	// Nav names the header link to mark current ("board", "new", "import", "report").
	Nav  string
	Data any
	// Refresh, when above 0, reloads the page after that many seconds (a
	// running import's progress: a meta refresh, as the CSP allows no script).
	Refresh int
}

// pages are the templates a handler may render, each the layout with the
// page's own "content".
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"signin", "board", "deal", "newlead", "report", "import", "importjob", "error"} {
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
		out[name] = t
	}
	return out
}()

// Render writes page name with status: the page is rendered first, so a
// template error is a clean 500 rather than half a page.
func Render(w http.ResponseWriter, status int, name string, p Page) error {
	t, ok := pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	SetHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// SetHeaders sets the security headers of a page.
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

var funcs = template.FuncMap{
	// money formats an amount with its currency's decimals (internal/money).
	"money": func(v decimal.Decimal, cur string) string { return money.Format(v, cur) },
	"moneyp": func(v *decimal.Decimal, cur string) string {
		if v == nil {
			return ""
		}
		return money.Format(*v, cur)
	},
	"dec": func(v any) string {
		switch v := v.(type) {
		case decimal.Decimal:
			if v.IsZero() {
				return ""
			}
			return v.String()
		case *decimal.Decimal:
			if v == nil {
				return ""
			}
			return v.String()
		}
		return fmt.Sprint(v)
	},
	"date": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02")
		case *time.Time:
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02")
		}
		return ""
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"label": Label,
	// amount is an amount and its currency, blank when zero (Amount).
	"amount": Amount,
	"join":   strings.Join,
	"eq_any": func(v string, list ...string) bool {
		for _, x := range list {
			if v == x {
				return true
			}
		}
		return false
	},
	// field returns the kept input of a form, or def.
	"field": func(f Form, name, def string) string {
		if f.Values != nil {
			if v, ok := f.Values[name]; ok && len(v) > 0 {
				return v[len(v)-1]
			}
		}
		return def
	},
	"checked": func(f Form, name string, def bool) bool {
		if f.Values != nil && f.Submitted {
			for _, v := range f.Values[name] {
				if v == "on" || v == "true" {
					return true
				}
			}
			return false
		}
		return def
	},
	"errfor": func(f Form, name string) string { return f.FieldErrors[name] },
	"lines": func(lines []workflows.Line, cur string) linesTable {
		return linesTable{Lines: lines, Currency: cur, Total: workflows.Total(lines)}
	},
	// removable gives a lines table the remove_line forms.
	"removable": func(t linesTable, action, csrf, key string, f Form) linesTable {
		t.Remove, t.CSRF, t.Key, t.Form = action, csrf, key, f
		return t
	},
	// problemFor is the refused form f when it was for item sub, else none.
	"problemFor": func(f Form, sub string) Form {
		if f.Sub != sub {
			return Form{}
		}
		return f
	},
	"summary": func(s workflows.QuoteSummary, total decimal.Decimal, cur string) quoteSummary {
		return quoteSummary{S: s, Total: total, Currency: cur}
	},
}

type linesTable struct {
	Lines    []workflows.Line
	Currency string
	Total    decimal.Decimal
	// Remove, when set, is the remove_line form's action (the line's id
	// follows), with the page's CSRF token, key and the refused form.
	Remove, CSRF, Key string
	Form              Form
}

type quoteSummary struct {
	S        workflows.QuoteSummary
	Total    decimal.Decimal
	Currency string
}

// Form is one form's state when it is shown again after a refusal: the
// rep's input, the problem's message and the reason per field.
type Form struct {
	Submitted   bool
	Values      map[string][]string
	Problem     string
	Missing     []string
	FieldErrors map[string]string
	// Matches are the possible duplicates of a 409 (their descriptions).
	Matches []string
	// Sub is the quote revision or item the form was for, "" for none:
	// of a list's forms, only that item's shows the problem.
	Sub string
}
