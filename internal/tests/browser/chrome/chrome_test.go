package chrome

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var browser *Browser

func TestMain(m *testing.M) {
	// The harness's own screenshots are of no interest: keep them out of
	// .dev/screenshots, beside the web app's.
	dir, err := os.MkdirTemp("", "chrome-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(ScreenshotsEnv, dir)
	b, err := Launch(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		os.Exit(1)
	}
	browser = b
	code := m.Run()
	b.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// site is a tiny form-and-redirect site like the web app's: a form posts,
// the answer redirects (303) to a page showing what was posted.
func site(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><meta name="viewport" content="width=device-width">
<details><summary>Edit</summary><form id="f" method="post" action="/post">
<label>Name <input name="name"></label>
<input type="hidden" name="ok" value="no"><label><input type="checkbox" name="ok" value="yes"> OK</label>
<select name="pick"><option value="a">A</option><option value="b">B</option></select>
<button id="go">Go</button></form></details>`)
	})
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("name") == "refuse" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<p class="problem">refused</p>`)
			return
		}
		http.Redirect(w, r, "/done?name="+r.FormValue("name")+"&ok="+strings.Join(r.Form["ok"], "+")+"&pick="+r.FormValue("pick"), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fmt.Fprintf(w, `<p id="out" data-pick="%s">%s %s</p>`, html.EscapeString(q.Get("pick")), html.EscapeString(q.Get("name")), html.EscapeString(q.Get("ok")))
	})
	mux.HandleFunc("GET /alert", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<p id="x">x</p><script>alert("hi")</script>`)
	})
	mux.HandleFunc("GET /wide", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><meta name="viewport" content="width=device-width"><div style="width:600px">wide</div>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFormRedirectAndScreenshots(t *testing.T) {
	p := browser.NewPage(t, site(t))
	if st := p.Visit("/form", "form"); st != 200 {
		t.Fatalf("status %d", st)
	}
	p.Fill("form#f", F("name", "Ada <b>"), F("ok", "true"), F("pick", "b"))
	if st := p.Submit("#go", "done"); st != 200 {
		t.Fatalf("status after the post %d", st)
	}
	// The form sat in a closed <details>; the hidden default went too.
	if got := p.Text("#out"); got != "Ada <b> no yes" {
		t.Fatalf("text %q", got)
	}
	if got := p.Attr("#out", "data-pick"); got != "b" {
		t.Fatalf("data-pick %q", got)
	}
	if got := p.Path(); !strings.HasPrefix(got, "/done?") {
		t.Fatalf("path %q", got)
	}

	// A refusal: the form submitted through its button, the status read.
	p.Visit("/form", "form-again")
	p.Fill("form#f", F("name", "refuse"))
	if st := p.Submit("form#f", "refused"); st != http.StatusForbidden {
		t.Fatalf("status %d, want 403", st)
	}
	if !p.Has(".problem") || p.Count("p") != 1 || !slices.Equal(p.Texts(".problem"), []string{"refused"}) {
		t.Fatal("no .problem")
	}

	shots, _ := filepath.Glob(filepath.Join(p.Dir, "*.png"))
	want := []string{"01-form.png", "02-done.png", "03-form-again.png", "04-refused.png"}
	var got []string
	for _, s := range shots {
		got = append(got, filepath.Base(s))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("screenshots %v, want %v", got, want)
	}
	b, err := os.ReadFile(shots[0])
	if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("not a PNG: %v", err)
	}
}

func TestDialogsAreRecorded(t *testing.T) {
	p := browser.NewPage(t, site(t))
	p.Visit("/alert", "alert")
	p.WaitVisible("#x")
	if d := p.Dialogs(); !slices.Equal(d, []string{"alert: hi"}) {
		t.Fatalf("dialogs %v", d)
	}
}

func TestPhoneViewport(t *testing.T) {
	base := site(t)
	p := browser.NewPage(t, base, Viewport(375, 800, true))
	p.Visit("/wide", "wide")
	if w := Eval[int](p, `document.documentElement.clientWidth`); w != 375 {
		t.Fatalf("clientWidth %d, want 375", w)
	}
	if sw := Eval[int](p, `document.documentElement.scrollWidth`); sw < 600 {
		t.Fatalf("scrollWidth %d, want 600 or more (the page overflows)", sw)
	}
	// Separate browser contexts: a second page is a different user.
	q := browser.NewPage(t, base, Named("second"))
	q.Visit("/form", "form")
}
