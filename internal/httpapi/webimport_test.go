package httpapi_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dealflow/internal/store"
)

// upload posts fields and a file as multipart/form-data, as a browser does.
func (b *browser) upload(path string, fields map[string]string, name, content string) page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = fw.Write([]byte(content))
	_ = mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.send(req)
}

// importJob follows an upload's redirect to its job page and polls the page
// until the import has finished (no more meta refresh), which it returns.
func (b *browser) importJob(r page) (string, page) {
	b.t.Helper()
	loc := r.header.Get("Location")
	if r.code != http.StatusSeeOther || !strings.HasPrefix(loc, "/import/") {
		b.t.Fatalf("upload: status %d, Location %q, want 303 to /import/{id}: %.1000s", r.code, loc, r.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := b.get(loc)
		p.want(b.t, 200, `<progress id="im-progress"`)
		if !strings.Contains(p.body, `http-equiv="refresh"`) {
			return loc, p
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the import at %s has not finished: %.1500s", loc, p.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebImport: the import page checks an uploaded CSV, runs starter
// import's importer on it in the background and sends the browser to the
// job's page, which shows the progress and, once done, the counts and each
// rejected row's reason; a rep's rows are theirs (another owner is
// rejected, as POST /v1/leads refuses it); the job page is only its user's;
// an upload without the CSRF token is refused and starts nothing; the row
// cap refuses a larger file whole.
func TestWebImport(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := newBrowser(t, e)
	a.signIn("a@example.com", e.repA)
	p := a.get("/import")
	p.want(t, 200, `<a href="/import" aria-current="page">Import</a>`, `enctype="multipart/form-data"`, `name="allowDuplicates"`,
		"1024 KiB per file", "1000 rows")
	csrf := p.csrf(t)

	file := "Topic,First Name,Last Name,Company,Email,Owner\n" +
		"Imported widgets,Ida,Import,Importco,ida@importco.example,\n" +
		"Bad email,Bo,Bad,Badco <b>,not-an-email,\n" +
		"Not mine,Cy,Other,Otherco,cy@otherco.example,b@example.com\n"
	// Without the CSRF token: 403, nothing started (the same file then starts its row).
	a.upload("/import", nil, "leads.csv", file).want(t, 403, `class="problem"`)
	var jobs int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM import_jobs`).Scan(&jobs); err != nil || jobs != 0 {
		t.Fatalf("import jobs after a refused upload: %d, %v", jobs, err)
	}

	loc, r := a.importJob(a.upload("/import", map[string]string{"csrf": csrf}, "leads.csv", file))
	r.want(t, 200, `id="import-result"`, "leads.csv: done", `<progress id="im-progress" value="3" max="3">`,
		`<dd id="im-started">1</dd>`, `<dd id="im-existing">0</dd>`, `<dd id="im-rejected">2</dd>`,
		`<td class="num">3</td>`, "not a valid email address", `<td class="num">4</td>`, "only a manager may create a lead for another owner",
		"Badco &lt;b&gt;")
	if strings.Contains(r.body, "Badco <b>") {
		t.Error("a row is not escaped")
	}
	if strings.Index(r.body, "not a valid email") > strings.Index(r.body, "only a manager") {
		t.Error("the rejects are not in the file's order")
	}
	// The operators' counters, on the API's metrics.
	importCounts := func(started, existing, rejected float64) {
		t.Helper()
		m := e.scrape()
		if metric(m, "dealflow_import_rows_accepted_total", `result="started"`) != started ||
			metric(m, "dealflow_import_rows_accepted_total", `result="existing"`) != existing ||
			metric(m, "dealflow_import_rows_rejected_total") != rejected {
			t.Errorf("import counters, want started %v existing %v rejected %v:\n%s", started, existing, rejected, m)
		}
	}
	importCounts(1, 0, 2)
	// Another rep's, and no job at all: the 404 page.
	b := newBrowser(t, e)
	b.signIn("b@example.com", e.repB)
	b.get(loc).want(t, 404, "Not found")
	a.get("/import/not-a-job").want(t, 404, "Not found")
	a.get("/import/00000000-0000-0000-0000-000000000000").want(t, 404, "Not found")

	// The same file again: the good row is there already.
	_, r = a.importJob(a.upload("/import", map[string]string{"csrf": csrf}, "leads.csv", file))
	r.want(t, 200, `<dd id="im-started">0</dd>`, `<dd id="im-existing">1</dd>`)
	importCounts(1, 1, 4)

	// A file that cannot be imported, and one over the row cap: refused whole, by the form.
	a.upload("/import", map[string]string{"csrf": csrf}, "x.csv", "Colour\nred\n").want(t, 422, `class="problem"`, "cannot be imported")
	big := "Topic\n" + strings.Repeat("Row\n", 1001)
	a.upload("/import", map[string]string{"csrf": csrf, "allowDuplicates": "on"}, "big.csv", big).want(t, 422,
		"more than 1000 rows, so nothing was imported", `id="im-dups" name="allowDuplicates" type="checkbox" checked`)
	// Over the body limit: the API's 413.
	a.upload("/import", map[string]string{"csrf": csrf}, "huge.csv", "Topic\n"+strings.Repeat("x", 1<<20)).want(t, 413)
}

// TestWebImportRunning: a running import's page shows the rows done so far
// and refreshes itself; a finished one does not.
func TestWebImportRunning(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	a := newBrowser(t, e)
	a.signIn("a@example.com", e.repA)
	id, err := store.CreateImportJob(ctx, e.pool, "a@example.com", "running <x>.csv", 100, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateImportJob(ctx, e.pool, id, store.ImportCounts{Done: 40, Started: 30, Existing: 5, Rejected: 5}); err != nil {
		t.Fatal(err)
	}
	p := a.get("/import/" + id)
	p.want(t, 200, `<meta http-equiv="refresh" content="1">`, `<progress id="im-progress" value="40" max="100">`,
		"running &lt;x&gt;.csv: importing", `<dd id="im-started">30</dd>`, `<dd id="im-rejected">5</dd>`, `id="im-running"`)
	if strings.Contains(p.body, "<x>") {
		t.Error("the file name is not escaped")
	}
	rejects := []store.ImportReject{{Line: 2, Reason: "bad <i>", Row: "a, b"}}
	if err := store.FinishImportJob(ctx, e.pool, id, store.ImportCounts{Done: 100, Started: 90, Existing: 5, Rejected: 5}, rejects, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	p = a.get("/import/" + id)
	p.want(t, 200, `<progress id="im-progress" value="100" max="100">`, "running &lt;x&gt;.csv: done", "bad &lt;i&gt;")
	if strings.Contains(p.body, `http-equiv="refresh"`) || strings.Contains(p.body, `id="im-running"`) {
		t.Error("a finished import's page still refreshes")
	}
}
