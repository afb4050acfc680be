package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
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

// TestWebImport: the import page runs starter import's importer on an
// uploaded CSV and shows the counts and each rejected row's reason; a rep's
// rows are theirs (another owner is rejected, as POST /v1/leads refuses
// it); an upload without the CSRF token is refused and starts nothing; the
// row cap refuses a larger file whole.
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

	r := a.upload("/import", map[string]string{"csrf": csrf}, "leads.csv", file)
	r.want(t, 200, `id="import-result"`, `<dd id="im-started">1</dd>`, `<dd id="im-existing">0</dd>`, `<dd id="im-rejected">2</dd>`,
		`<td class="num">3</td>`, "not a valid email address", `<td class="num">4</td>`, "only a manager may create a lead for another owner",
		"Badco &lt;b&gt;")
	if strings.Contains(r.body, "Badco <b>") {
		t.Error("a row is not escaped")
	}
	if strings.Index(r.body, "not a valid email") > strings.Index(r.body, "only a manager") {
		t.Error("the rejects are not in the file's order")
	}
	// The same file again: the good row is there already.
	a.upload("/import", map[string]string{"csrf": csrf}, "leads.csv", file).want(t, 200,
		`<dd id="im-started">0</dd>`, `<dd id="im-existing">1</dd>`)

	// A file that cannot be imported, and one over the row cap: refused whole, by the form.
	a.upload("/import", map[string]string{"csrf": csrf}, "x.csv", "Colour\nred\n").want(t, 422, `class="problem"`, "cannot be imported")
	big := "Topic\n" + strings.Repeat("Row\n", 1001)
	a.upload("/import", map[string]string{"csrf": csrf, "allowDuplicates": "on"}, "big.csv", big).want(t, 422,
		"more than 1000 rows, so nothing was imported", `id="im-dups" name="allowDuplicates" type="checkbox" checked`)
	// Over the body limit: the API's 413.
	a.upload("/import", map[string]string{"csrf": csrf}, "huge.csv", "Topic\n"+strings.Repeat("x", 1<<20)).want(t, 413)
}
