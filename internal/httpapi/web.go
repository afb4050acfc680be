package httpapi

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/internal/web"
)

// The web app for reps (internal/web's templates): server-rendered pages on
// the API's engine, behind the same rate limit, body limit and deadline,
// acting through the same code paths as the JSON API. A browser signs in
// with an API user's email and token and then holds a session cookie; the
// sessions live in PostgreSQL (store.CreateSession) rather than in a signed
// cookie, so that signing out, an idle timeout and a revoked token end them
// at once on every api replica, with no signing key to manage.

// Session cookie and lifetime.
const (
	sessionCookie = "dealflow_session"
	// signinCookie carries the CSRF token of the sign-in form (there is no
	// session yet to tie it to).
	signinCookie = "dealflow_signin"
	// sessionIdle is how long a session lives without a request.
	sessionIdle = 12 * time.Hour
)

// Context keys of the web's middleware.
const (
	ctxSession = "dealflow.session"
	ctxForm    = "dealflow.form"
)

// webRoutes mounts the pages on r.
func (s *Server) webRoutes(r *gin.Engine) {
	r.StaticFS("/assets", web.Static())
	open := r.Group("/", s.deadline, s.webSchemaReady)
	open.GET("/signin", s.page(s.signinPage))
	open.POST("/signin", s.page(s.signin))

	in := r.Group("/", s.deadline, s.webSchemaReady, s.session, s.throttlePage, s.checkCSRF)
	in.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/board") })
	in.POST("/signout", s.page(s.signout))
	in.GET("/board", s.page(s.board))
	in.GET("/leads/new", s.page(s.newLeadPage))
	in.GET("/report", s.page(s.reportPage))
	in.GET("/import", s.page(s.importPage))
	in.POST("/import", s.page(s.importUpload))
	in.GET("/import/:id", s.page(s.importJob))
	in.POST("/leads", s.page(s.createLeadPage))
	in.GET("/deals/:id", s.page(s.dealPage))
	in.POST("/deals/:id/actions/:action", s.page(s.dealAction))
	in.POST("/deals/:id/actions/:action/:sub", s.page(s.dealAction))
}

// isPage reports whether path is the web app's (unknown ones get the HTML
// 404 page); the API's paths keep problem+json.
func isPage(path string) bool {
	for _, p := range []string{"/v1", "/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return false
		}
	}
	return true
}

// page adapts a page handler: an error becomes the error page.
func (s *Server) page(fn func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			s.failPage(c, err)
		}
	}
}

// failPage answers with the error page for err (a 404 shows the same page
// for a missing deal and another rep's).
func (s *Server) failPage(c *gin.Context, err error) {
	p := classify(c.Request.Context(), "", err)
	if p.cause != nil {
		_ = c.Error(p.cause)
	}
	if p.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	title, detail := p.Title, p.Detail
	switch p.Status {
	case http.StatusNotFound:
		title, detail = "Not found", "There is no such page or deal, or it is not yours to see."
	case http.StatusForbidden:
		title = "Refused"
	}
	s.render(c, p.Status, "error", title, "", errorPage{Status: p.Status, Title: title, Detail: detail})
	c.Abort()
}

type errorPage struct {
	Status        int
	Title, Detail string
}

// render writes a page for the signed-in user (if any).
func (s *Server) render(c *gin.Context, status int, name, title, nav string, data any) {
	s.renderRefreshing(c, status, name, title, nav, data, 0)
}

// renderRefreshing is render for a page that reloads itself every refresh
// seconds (none when 0).
func (s *Server) renderRefreshing(c *gin.Context, status int, name, title, nav string, data any, refresh int) {
	p := web.Page{Title: title, Nav: nav, Data: data, Refresh: refresh}
	if sess, ok := c.Get(ctxSession); ok {
		ss := sess.(store.Session)
		p.Viewer = &web.Viewer{Email: ss.User.Email, Name: ss.User.Name, Manager: ss.User.Manager()}
		p.CSRF = ss.CSRF
	} else if tok, ok := c.Get(signinCookie); ok {
		p.CSRF = tok.(string)
	}
	if err := web.Render(c.Writer, status, name, p); err != nil {
		_ = c.Error(err)
		if !c.Writer.Written() {
			c.String(http.StatusInternalServerError, "internal error")
		}
	}
}

// webSchemaReady is schemaReady for pages.
func (s *Server) webSchemaReady(c *gin.Context) {
	if s.cfg.SchemaReady == nil {
		return
	}
	if err := s.cfg.SchemaReady(); err != nil {
		s.failPage(c, unavailable(depPostgres+" (schema not migrated yet)", err))
	}
}

// session finds the signed-in user from the session cookie, pushing its
// expiry on; without a live session the browser is sent to sign in, and
// back here after.
func (s *Server) session(c *gin.Context) {
	ctx := c.Request.Context()
	if id, err := c.Cookie(sessionCookie); err == nil && id != "" {
		now := s.cfg.Now()
		sess, ok, err := store.TouchSession(ctx, s.cfg.Pool, id, now, now.Add(sessionIdle))
		if err != nil {
			s.failPage(c, pgErr(ctx, err))
			return
		}
		if ok {
			c.Set(ctxSession, sess)
			c.Set(ctxUser, sess.User)
			c.Set(ctxTokenKey, hex.EncodeToString(sess.TokenHash))
			return
		}
	}
	next := "/board"
	if c.Request.Method == http.MethodGet {
		next = c.Request.URL.RequestURI()
	}
	c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(next))
	c.Abort()
}

// throttlePage is the token's rate limit (throttle) for pages.
func (s *Server) throttlePage(c *gin.Context) {
	if wait, ok := s.limiter.allow(c.GetString(ctxTokenKey)); !ok {
		s.failPage(c, rateLimited("too many requests", wait))
	}
}

// form reads a POST's form body within MaxBodyBytes (once per request).
func form(c *gin.Context) (url.Values, error) {
	if v, ok := c.Get(ctxForm); ok {
		return v.(url.Values), nil
	}
	ct := c.GetHeader("Content-Type")
	if strings.HasPrefix(ct, "multipart/form-data") {
		return multipartForm(c)
	}
	if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported form",
			"forms are posted as application/x-www-form-urlencoded or multipart/form-data")
	}
	body, err := readBody(c.Request)
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, malformed("the form could not be read")
	}
	c.Set(ctxForm, v)
	return v, nil
}

// multipartForm reads a multipart form (the import's upload) within
// MaxBodyBytes, the same limit as every body; its files stay in memory.
func multipartForm(c *gin.Context) (url.Values, error) {
	if c.Request.ContentLength > MaxBodyBytes {
		return nil, tooLarge()
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	if err := c.Request.ParseMultipartForm(MaxBodyBytes); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		return nil, malformed("the form could not be read")
	}
	v := url.Values(c.Request.MultipartForm.Value)
	c.Set(ctxForm, v)
	return v, nil
}

// checkCSRF refuses a POST whose csrf field is not the session's token (403).
func (s *Server) checkCSRF(c *gin.Context) {
	if c.Request.Method != http.MethodPost {
		return
	}
	v, err := form(c)
	if err != nil {
		s.failPage(c, err)
		return
	}
	sess := c.MustGet(ctxSession).(store.Session)
	if !sameSecret(v.Get("csrf"), sess.CSRF) {
		s.failPage(c, forbidden("The form has expired or did not come from this app. Go back, reload the page and try again."))
	}
}

func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// localPath returns next when it is a path on this site, else /board: the
// sign-in never redirects elsewhere.
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return "/board"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/board"
	}
	return next
}

type signinPage struct {
	Next string
	Form web.Form
}

// signinPage: GET /signin. A signed-in browser goes on to next.
func (s *Server) signinPage(c *gin.Context) error {
	next := localPath(c.Query("next"))
	if id, err := c.Cookie(sessionCookie); err == nil && id != "" {
		now := s.cfg.Now()
		if _, ok, err := store.TouchSession(c.Request.Context(), s.cfg.Pool, id, now, now.Add(sessionIdle)); err == nil && ok {
			c.Redirect(http.StatusSeeOther, next)
			return nil
		}
	}
	s.showSignin(c, http.StatusOK, next, web.Form{})
	return nil
}

// showSignin renders the sign-in form with a fresh CSRF token in its cookie.
func (s *Server) showSignin(c *gin.Context, status int, next string, f web.Form) {
	tok := randomID("")
	s.setCookie(c, signinCookie, tok, "/signin", int((30 * time.Minute).Seconds()))
	c.Set(signinCookie, tok)
	s.render(c, status, "signin", "Sign in", "", signinPage{Next: next, Form: f})
}

// setCookie sets an HttpOnly, SameSite=Strict cookie, Secure when the
// request came over TLS; maxAge < 0 deletes it.
func (s *Server) setCookie(c *gin.Context, name, value, path string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: c.Request.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// signin: POST /signin with an API user's email and token. A wrong pair is
// one answer whatever was wrong, and takes from the address's bucket of
// failed authentications, like a wrong bearer token.
func (s *Server) signin(c *gin.Context) error {
	ctx := c.Request.Context()
	peer := peerAddress(c.Request)
	if wait, blocked := s.authFailures.empty(peer); blocked {
		return rateLimited("too many failed sign-ins from this address", wait)
	}
	v, err := form(c)
	if err != nil {
		return err
	}
	want, cerr := c.Cookie(signinCookie)
	if cerr != nil || !sameSecret(v.Get("csrf"), want) {
		return forbidden("The sign-in form has expired. Reload the page and try again.")
	}
	next := localPath(v.Get("next"))
	email, token := strings.TrimSpace(v.Get("email")), strings.TrimSpace(v.Get("token"))
	u, ok := User{}, false
	if email != "" && token != "" {
		if u, ok, err = store.UserByToken(ctx, s.cfg.Pool, token); err != nil {
			return pgErr(ctx, err)
		}
		ok = ok && strings.EqualFold(u.Email, email)
	}
	if !ok {
		s.authFailures.allow(peer)
		s.showSignin(c, http.StatusUnauthorized, next, web.Form{Submitted: true,
			Values: url.Values{"email": {email}}, Problem: "The email or token is not right."})
		return nil
	}
	now := s.cfg.Now()
	id, _, err := store.CreateSession(ctx, s.cfg.Pool, u, token, now, now.Add(sessionIdle))
	if err != nil {
		return pgErr(ctx, err)
	}
	s.setCookie(c, signinCookie, "", "/signin", -1)
	s.setCookie(c, sessionCookie, id, "/", int(sessionIdle.Seconds()))
	s.log.Info("web sign-in", "user", u.Email)
	c.Redirect(http.StatusSeeOther, next)
	return nil
}

// signout: POST /signout ends the session.
func (s *Server) signout(c *gin.Context) error {
	ctx := c.Request.Context()
	if id, err := c.Cookie(sessionCookie); err == nil {
		if err := store.EndSession(ctx, s.cfg.Pool, id); err != nil {
			return pgErr(ctx, err)
		}
	}
	s.setCookie(c, sessionCookie, "", "/", -1)
	c.Redirect(http.StatusSeeOther, "/signin")
	return nil
}

// problemOf is the problem an error stands for.
func problemOf(c *gin.Context, err error) *Problem {
	return classify(c.Request.Context(), "", err)
}

// refusal reports whether err is a refusal a form shows next to itself
// (its fields, a conflict, a gate) rather than the error page.
func refusal(p *Problem) bool {
	switch p.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusConflict, http.StatusPreconditionFailed:
		return true
	}
	return false
}

// formState is a refused form shown again: the rep's input, the problem's
// message, the missing steps, the reason per field and the matches.
func formState(v url.Values, p *Problem) web.Form {
	f := web.Form{Submitted: true, Values: v, Problem: p.Detail, Missing: p.Missing, FieldErrors: map[string]string{}}
	for _, e := range p.Errors {
		f.FieldErrors[e.Field] = e.Reason
	}
	for _, m := range p.Matches {
		f.Matches = append(f.Matches, m.String())
	}
	return f
}
