// Package chrome drives headless Chromium with chromedp for the browser
// tests: one browser per test package, a tab of its own for each test (in a
// browser context of its own, so cookies never leak between tests), and a
// PNG screenshot of every page a test visits, so a person can look at what
// the test saw.
//
//	b, err := chrome.Launch(ctx)      // once, in TestMain
//	p := b.NewPage(t, stack.APIURL)   // per test
//	p.Visit("/signin", "signin")
//	p.Fill("form#signin", chrome.F("email", "rep@example.com"))
//	p.Submit("#signin", "board")
//
// Nothing sleeps for a fixed time: every step waits on an element or on the
// navigation it causes, bounded by Page.Timeout.
package chrome

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// ChromePathEnv names a Chromium (or Chrome) binary to use instead of the
// one found on PATH.
const ChromePathEnv = "CHROME_PATH"

// ScreenshotsEnv names the folder the screenshots go to, one folder per test
// under it; by default .dev/screenshots in the repository.
const ScreenshotsEnv = "DEALFLOW_SCREENSHOTS"

// FindChromium returns the browser binary: $CHROME_PATH, else chromium or
// chromium-browser on PATH.
func FindChromium() (string, error) {
	if p := os.Getenv(ChromePathEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", ChromePathEnv, p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium or chromium-browser on PATH and CHROME_PATH unset; install the Debian package chromium (apt-get install chromium; .ci/run does it)")
}

// Browser is a running headless Chromium.
type Browser struct {
	ctx    context.Context // the browser's first tab; its children share the process
	cancel func()
	// Path is the binary that runs.
	Path string
}

// Window is the size of the browser window, and of every page's viewport
// unless a PageOption changes it.
const windowWidth, windowHeight = 1280, 900

// Launch starts one headless Chromium and returns once it answers. Close
// stops it. ctx must outlive the browser.
func Launch(ctx context.Context) (*Browser, error) {
	path, err := FindChromium()
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("hide-scrollbars", true), // screenshots the same in every run
		chromedp.WindowSize(windowWidth, windowHeight),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// The first Run starts the process; its context is the browser's life,
	// so it carries no timeout. A watchdog stops a browser that hangs.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err = <-started:
	case <-time.After(60 * time.Second):
		err = errors.New("no answer within 60s")
	}
	if err != nil {
		bcancel()
		acancel()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return &Browser{ctx: bctx, cancel: func() { bcancel(); acancel() }, Path: path}, nil
}

// Close stops the browser.
func (b *Browser) Close() { b.cancel() }

// Page is one test's tab, in a browser context of its own (its own cookies
// and storage). Its methods fail the test on error, after saving a
// screenshot of the page as it was.
type Page struct {
	t    testing.TB
	ctx  context.Context
	base string
	// Dir is the folder of this page's screenshots.
	Dir string
	// Timeout bounds each step (a navigation, a wait); default 30s.
	Timeout time.Duration

	shots int

	mu      sync.Mutex
	dialogs []string
}

// PageOption configures NewPage.
type PageOption func(*pageConfig)

type pageConfig struct {
	width, height int64
	mobile        bool
	name          string
}

// Viewport sets the page's viewport (as a phone when mobile: the page is laid
// out by its meta viewport, touch on).
func Viewport(width, height int64, mobile bool) PageOption {
	return func(c *pageConfig) { c.width, c.height, c.mobile = width, height, mobile }
}

// Named gives the page's screenshot folder a suffix, for a test with
// several pages (users) at once.
func Named(name string) PageOption {
	return func(c *pageConfig) { c.name = name }
}

// NewPage opens a tab for the test on base (a URL with no slash at the end).
// The tab closes when the test ends; the test's screenshots go to a fresh
// folder (ScreenshotsDir), which the test's log names.
func (b *Browser) NewPage(t testing.TB, base string, opts ...PageOption) *Page {
	t.Helper()
	cfg := pageConfig{width: windowWidth, height: windowHeight}
	for _, o := range opts {
		o(&cfg)
	}
	dir := filepath.Join(ScreenshotsDir(), fileName(t.Name()))
	if cfg.name != "" {
		dir = filepath.Join(dir, fileName(cfg.name))
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	p := &Page{t: t, ctx: ctx, base: strings.TrimSuffix(base, "/"), Dir: dir, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		cancel()
		if p.shots > 0 {
			t.Logf("%d screenshots in %s", p.shots, dir)
		}
	})
	// The tab opens here; the dialog listener is on before any page loads.
	if err := chromedp.Listen(ctx, p.onEvent); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	vp := []chromedp.EmulateViewportOption{}
	if cfg.mobile {
		vp = append(vp, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := p.run(chromedp.EmulateViewport(cfg.width, cfg.height, vp...)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	return p
}

// onEvent runs on chromedp's reading goroutine: it must not block or call
// the browser, so a dialog is dismissed from another goroutine.
func (p *Page) onEvent(ev any) {
	if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
		p.mu.Lock()
		p.dialogs = append(p.dialogs, string(d.Type)+": "+d.Message)
		p.mu.Unlock()
		go func() {
			_, _ = chromedp.Call(p.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}()
	}
}

// Dialogs returns the JavaScript dialogs (alert, confirm, …) the pages
// opened, as "type: message"; each was dismissed.
func (p *Page) Dialogs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dialogs...)
}

// ScreenshotsDir is where screenshots go: $DEALFLOW_SCREENSHOTS, else
// .dev/screenshots at the repository root (found from the working folder),
// else under the temp folder.
func ScreenshotsDir() string {
	if d := os.Getenv(ScreenshotsEnv); d != "" {
		return d
	}
	dir, err := os.Getwd()
	for err == nil {
		if _, e := os.Stat(filepath.Join(dir, "go.mod")); e == nil {
			if _, e := os.Stat(filepath.Join(dir, "workflows")); e == nil {
				return filepath.Join(dir, ".dev", "screenshots")
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return filepath.Join(os.TempDir(), "dealflow-screenshots")
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileName(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_") }

// run runs an action with the page's timeout.
func (p *Page) run(a chromedp.Action[chromedp.Void]) error {
	_, err := runT(p, a)
	return err
}

func runT[T any](p *Page, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.Timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// fail saves a screenshot of the page as it is and fails the test with
// what went wrong, the page's address and the start of its text.
func (p *Page) fail(format string, args ...any) {
	p.t.Helper()
	msg := fmt.Sprintf(format, args...)
	url, _ := runT(p, chromedp.Location())
	text, _ := runT(p, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 1500) : ""`))
	shot := p.screenshot("FAILED")
	p.t.Fatalf("%s\n  at %s (screenshot %s)\n  page text:\n%s", msg, url, shot, indent(text))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// Screenshot saves a PNG of the whole page as NN-name.png in Dir.
func (p *Page) Screenshot(name string) {
	p.t.Helper()
	if p.screenshot(name) == "" {
		p.t.Fatalf("screenshot %s failed", name)
	}
}

func (p *Page) screenshot(name string) string {
	buf, err := runT(p, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p.shots++
	path := filepath.Join(p.Dir, fmt.Sprintf("%02d-%s.png", p.shots, fileName(name)))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return path
}

// URL is the page's address.
func (p *Page) URL() string {
	p.t.Helper()
	u, err := runT(p, chromedp.Location())
	if err != nil {
		p.fail("read the location: %v", err)
	}
	return u
}

// Path is the page's address without the base.
func (p *Page) Path() string {
	p.t.Helper()
	return strings.TrimPrefix(p.URL(), p.base)
}

// Visit loads path (relative to the base URL), waits for it to load, saves a
// screenshot named name and returns the document's HTTP status (the last
// one, after redirects).
func (p *Page) Visit(path, name string) int {
	p.t.Helper()
	resp, err := runT(p, chromedp.NavigateResponse(p.base+path))
	if err != nil {
		p.fail("visit %s: %v", path, err)
	}
	p.screenshot(name)
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// VisitUntil loads path again and again until an element matches the CSS
// selector (for a page that shows what the system does in the background),
// bounded by the page's timeout; it saves a screenshot of the last load only.
func (p *Page) VisitUntil(path, name, sel string) {
	p.t.Helper()
	deadline := time.Now().Add(p.Timeout)
	for {
		if _, err := runT(p, chromedp.NavigateResponse(p.base+path)); err != nil {
			p.fail("visit %s: %v", path, err)
		}
		if p.Has(sel) {
			p.screenshot(name)
			return
		}
		if time.Now().After(deadline) {
			p.fail("%s never showed %s in %s", path, sel, p.Timeout)
		}
	}
}

// Field is a form input's name and the value to give it: for a checkbox
// "true" or "false", for a select one of its option values.
type Field struct{ Name, Value string }

// F makes a Field.
func F(name, value string) Field { return Field{name, value} }

// fillJS sets the named inputs of a form as a user would leave them, and
// fires input and change events so that scripts see the edit. It returns
// the names it could not find.
const fillJS = `(function(formSel, fields) {
	const form = document.querySelector(formSel);
	if (!form) return ["form " + formSel];
	// A form in a closed disclosure is opened, as a user clicks its summary.
	for (let d = form.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) d.open = true;
	const missing = [];
	for (const [name, value] of fields) {
		// The input a user sees: not a hidden default beside a checkbox.
		const els = Array.from(form.querySelectorAll('[name="' + CSS.escape(name) + '"]'));
		const el = els.find(e => e.type !== "hidden") || els[0];
		if (!el) { missing.push(name); continue; }
		if (el.type === "checkbox" || el.type === "radio") {
			el.checked = value === "true" || value === "on" || value === el.value;
		} else {
			el.value = value;
		}
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
	}
	return missing;
})(%s, %s)`

// Fill waits for the form and fills its fields in order (opening the
// <details> it may sit in). A field the form does not have fails the test.
func (p *Page) Fill(form string, fields ...Field) {
	p.t.Helper()
	if err := p.run(chromedp.WaitReady(chromedp.CSS(form))); err != nil {
		p.fail("wait for %s: %v", form, err)
	}
	pairs := make([][2]string, len(fields))
	for i, f := range fields {
		pairs[i] = [2]string{f.Name, f.Value}
	}
	missing, err := runT(p, chromedp.Evaluate[[]string](fmt.Sprintf(fillJS, jsString(form), jsValue(pairs))))
	if err != nil {
		p.fail("fill %s: %v", form, err)
	}
	if len(missing) > 0 {
		p.fail("fill %s: no input named %s", form, strings.Join(missing, ", "))
	}
}

// Submit clicks the button (a CSS selector: a submit button, or a form to
// submit through its submit button), waits for the page that the post leads
// to, saves its screenshot as name and returns its HTTP status (after
// redirects). Form data is posted by the browser itself, as a user's click
// would.
func (p *Page) Submit(button, name string) int {
	p.t.Helper()
	p.WaitVisible(button)
	sel := button
	if isForm, _ := runT(p, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%s).tagName === "FORM"`, jsString(button)))); isForm {
		sel = button + ` [type=submit], ` + button + ` button:not([type]), ` + button + ` button[type=submit]`
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.Timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.fail("submit %s (no page loaded after the click: an input the browser finds invalid?): %v", button, err)
	}
	p.screenshot(name)
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// Click clicks a link or button that loads a page, waits for it, saves its
// screenshot and returns its status, like Submit.
func (p *Page) Click(sel, name string) int {
	p.t.Helper()
	return p.Submit(sel, name)
}

// WaitVisible waits until an element matching the CSS selector is visible.
func (p *Page) WaitVisible(sel string) {
	p.t.Helper()
	if err := p.run(chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		p.fail("wait for %s: %v", sel, err)
	}
}

// Has reports whether an element matches the CSS selector now (no wait).
func (p *Page) Has(sel string) bool {
	p.t.Helper()
	return p.Count(sel) > 0
}

// Count returns how many elements match the CSS selector now.
func (p *Page) Count(sel string) int {
	p.t.Helper()
	return Eval[int](p, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
}

// Text waits for the element and returns its visible text, trimmed.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	p.WaitVisible(sel)
	s, err := runT(p, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s).innerText`, jsString(sel))))
	if err != nil {
		p.fail("read the text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// Texts returns the visible text of every element matching the selector
// now, trimmed (no wait).
func (p *Page) Texts(sel string) []string {
	p.t.Helper()
	out := Eval[[]string](p, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.innerText.trim())`, jsString(sel)))
	if out == nil {
		out = []string{}
	}
	return out
}

// Attr returns an attribute of the first element matching the selector
// ("" when it has none), after waiting for the element.
func (p *Page) Attr(sel, name string) string {
	p.t.Helper()
	p.WaitVisible(sel)
	return Eval[string](p, fmt.Sprintf(`document.querySelector(%s).getAttribute(%s) || ""`, jsString(sel), jsString(name)))
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := runT(p, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// Do runs chromedp actions on the page with its timeout, for what the
// helpers do not cover.
func (p *Page) Do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := p.run(chromedp.Steps(actions...)); err != nil {
		p.fail("%v", err)
	}
}

func jsString(s string) string { return jsValue(s) }

func jsValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
