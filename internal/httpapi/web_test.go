package httpapi_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"dealflow/internal/store"
	"dealflow/internal/web"
	"dealflow/workflows"
)

// browser drives the web app's handlers as a browser would, keeping its
// cookies; it follows no redirect by itself.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
	tls     bool
}

var lastEnv *env

func newBrowser(t *testing.T, e *env) *browser {
	lastEnv = e
	return &browser{t: t, h: e.h, cookies: map[string]*http.Cookie{}}
}

type page struct {
	code   int
	header http.Header
	body   string
	resp   *http.Response
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	return b.send(req)
}

// send sends req with the browser's cookies and keeps the ones it sets.
func (b *browser) send(req *http.Request) page {
	b.t.Helper()
	if b.tls {
		req.TLS = &tls.ConnectionState{}
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
	return page{code: rec.Code, header: rec.Header(), body: rec.Body.String(), resp: res}
}

func (b *browser) get(path string) page { return b.do("GET", path, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do("POST", path, form) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the forms on p.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field on the page (%d): %.500s", p.code, p.body)
	}
	return m[1]
}

func (p page) want(t *testing.T, code int, parts ...string) {
	t.Helper()
	if p.code != code && p.code == 500 && lastEnv != nil {
		t.Logf("log: %s", lastEnv.logs())
	}
	if p.code != code {
		t.Fatalf("status %d, want %d: %.2000s", p.code, code, p.body)
	}
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("page lacks %q: %.4000s", s, p.body)
		}
	}
}

func (p page) location(t *testing.T, code int, want string) {
	t.Helper()
	if p.code != code || p.header.Get("Location") != want {
		body := p.body
		if i := strings.Index(body, `class="problem"`); i >= 0 {
			body = body[i:]
		}
		t.Fatalf("status %d to %q, want %d to %q: %.500s", p.code, p.header.Get("Location"), code, want, body)
	}
}

// signIn signs the browser in with an API user's email and token.
func (b *browser) signIn(email, token string) page {
	b.t.Helper()
	p := b.get("/signin")
	p.want(b.t, 200)
	r := b.post("/signin", url.Values{"csrf": {p.csrf(b.t)}, "email": {email}, "token": {token}, "next": {"/board"}})
	r.location(b.t, http.StatusSeeOther, "/board")
	return b.get("/board")
}

func TestWebSignInAndOut(t *testing.T) {
	e := newCatalogEnv(t)
	b := newBrowser(t, e)

	b.get("/").location(t, 303, "/signin?next=%2F")
	b.get("/board?q=x").location(t, 303, "/signin?next=%2Fboard%3Fq%3Dx")
	p := b.get("/signin?next=/deals/x")
	p.want(t, 200, `name="email"`, `name="token"`, `id="signin"`, `name="next" value="/deals/x"`)
	if got := p.header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy || !strings.Contains(got, "script-src 'self'") {
		t.Errorf("CSP %q", got)
	}

	// A wrong token, a wrong email for a right token: one answer, 401.
	for _, in := range [][2]string{{"a@example.com", "dft_wrong"}, {"boss@example.com", e.repA}, {"", ""}} {
		r := b.post("/signin", url.Values{"csrf": {p.csrf(t)}, "email": {in[0]}, "token": {in[1]}})
		r.want(t, 401, `class="problem"`, "The email or token is not right.")
		if strings.Contains(r.body, e.repA) {
			t.Error("the token is shown back")
		}
		p = r
	}
	// Without the sign-in form's CSRF token: 403.
	b.post("/signin", url.Values{"email": {"a@example.com"}, "token": {e.repA}}).want(t, 403, `class="problem"`)
	// An off-site next is ignored.
	p = b.get("/signin")
	r := b.post("/signin", url.Values{"csrf": {p.csrf(t)}, "email": {"A@example.com"}, "token": {e.repA}, "next": {"//evil.example/x"}})
	r.location(t, 303, "/board")
	c := b.cookies["dealflow_session"]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Fatalf("session cookie %+v", c)
	}
	board := b.get("/board")
	board.want(t, 200, `id="signout"`, "a@example.com")
	for _, st := range []string{"Qualify", "Develop", "Propose", "Close", "Order", "Invoice", "Paid"} {
		board.want(t, 200, `<section class="column" data-stage="`+st+`"`)
	}
	b.get("/signin").location(t, 303, "/board") // signed in already
	b.get("/").location(t, 303, "/board")

	// Unknown pages: the HTML 404 page; unknown API routes keep problem+json.
	b.get("/nope").want(t, 404, `not-found`)
	if r := e.do("GET", "/v1/nope", e.repA, nil); r.code != 404 || !strings.Contains(r.header.Get("Content-Type"), "problem+json") {
		t.Errorf("/v1/nope: %d %s", r.code, r.header.Get("Content-Type"))
	}

	// Sign-out needs the session's CSRF token too.
	b.post("/signout", url.Values{"csrf": {"forged"}}).want(t, 403, `class="problem"`)
	b.post("/signout", url.Values{}).want(t, 403)
	b.post("/signout", url.Values{"csrf": {board.csrf(t)}}).location(t, 303, "/signin")
	if b.cookies["dealflow_session"] != nil {
		t.Error("the session cookie is kept after sign-out")
	}
	// The old session id is dead on the server too.
	b.cookies["dealflow_session"] = c
	b.get("/board").location(t, 303, "/signin?next=%2Fboard")

	// Over TLS the cookie is Secure; a revoked token ends its sessions.
	tb := newBrowser(t, e)
	tb.tls = true
	tb.signIn("a@example.com", e.repA)
	if c := tb.cookies["dealflow_session"]; c == nil || !c.Secure {
		t.Fatalf("session cookie over TLS %+v", c)
	}
	if _, err := store.RevokeToken(context.Background(), e.pool, e.repA); err != nil {
		t.Fatal(err)
	}
	tb.get("/board").location(t, 303, "/signin?next=%2Fboard")
}

func TestWebSessionExpires(t *testing.T) {
	clock := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	e := newCatalogEnv(t)
	e.cfg.Now = func() time.Time { return clock }
	e.setTimeout(0)
	b := newBrowser(t, e)
	b.signIn("a@example.com", e.repA)
	clock = clock.Add(11 * time.Hour)
	b.get("/board").want(t, 200) // pushes the expiry on
	clock = clock.Add(11 * time.Hour)
	b.get("/board").want(t, 200)
	clock = clock.Add(12*time.Hour + time.Minute)
	b.get("/board").location(t, 303, "/signin?next=%2Fboard")
}

// writeBoardDeal writes a deal to the read model as its workflow would.
func writeBoardDeal(t *testing.T, e *env, id, owner, topic string) {
	t.Helper()
	at := time.Now().Add(-49 * time.Hour)
	d := workflows.NewDeal(workflows.NewLead{ID: id, Owner: owner, Currency: "JPY",
		Lead: workflows.LeadFields{Topic: topic, Company: "Contoso " + id, Budget: ptrDec("1250")}}, at)
	if _, err := store.ApplyChange(context.Background(), e.pool, d.Created(owner, at)); err != nil {
		t.Fatal(err)
	}
}

func TestWebBoard(t *testing.T) {
	e := newCatalogEnv(t)
	writeBoardDeal(t, e, "X1", "a@example.com", "<script>alert(1)</script>")
	writeBoardDeal(t, e, "X2", "boss@example.com", "Boss's own")
	b := newBrowser(t, e)
	p := b.signIn("a@example.com", e.repA)
	p.want(t, 200, `<article class="card" data-id="X1">`, `href="/deals/X1"`, "&lt;script&gt;alert(1)&lt;/script&gt;", "2 d in stage")
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "X2") || strings.Contains(p.body, "temporal-ui") {
		t.Fatalf("board: %s", p.body)
	}
	qualify := p.body[strings.Index(p.body, `data-stage="Qualify"`):strings.Index(p.body, `data-stage="Develop"`)]
	if !strings.Contains(qualify, `data-id="X1"`) {
		t.Errorf("X1 not in the Qualify column")
	}
	b.get("/board?q=nothing-like-it").want(t, 200)
	if strings.Contains(b.get("/board?q=nothing-like-it").body, `data-id="X1"`) {
		t.Error("the text filter does not filter")
	}

	// A manager sees every deal, filters by owner, and (with a Web UI
	// configured) links to it.
	e.cfg.TemporalUI = "http://localhost:8233"
	e.setTimeout(0)
	m := newBrowser(t, e)
	p = m.signIn("boss@example.com", e.mgr)
	p.want(t, 200, `data-id="X1"`, `data-id="X2"`, `class="temporal-ui" href="http://localhost:8233/namespaces/default/workflows?query=`)
	p = m.get("/board?owner=boss@example.com")
	p.want(t, 200, `data-id="X2"`)
	if strings.Contains(p.body, `data-id="X1"`) {
		t.Error("the owner filter does not filter")
	}
}

func TestWebStylesheet(t *testing.T) {
	e := newCatalogEnv(t)
	r := e.do("GET", "/assets/app.css", "", nil)
	if r.code != 200 || !strings.Contains(r.raw, ".board") {
		t.Fatalf("stylesheet: %d", r.code)
	}
}

func (e *env) logs() string { return e.logBuf.String() }
