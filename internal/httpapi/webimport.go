package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dealflow/internal/leadimport"
	"dealflow/internal/store"
	"dealflow/internal/web"
	"dealflow/workflows"
)

// importMaxRows caps an upload: its rows are checked while the browser
// waits, before the import starts; a larger file is for starter import.
const importMaxRows = 1000

// importConcurrency is how many starts the page has in flight at once.
const importConcurrency = 16

// importTimeout bounds an import running in the background: the Server has
// no shutdown of its own to stop it, so it outlives its request but not this.
const importTimeout = 10 * time.Minute

// importProgressRows and importProgressEvery: a running import's job row is
// updated once this many more rows are done, or this long after the last
// update when fewer are, and at the end.
const (
	importProgressRows  = 25
	importProgressEvery = 500 * time.Millisecond
)

type importPage struct {
	Form     web.Form
	Columns  string
	MaxRows  int
	MaxBytes string
}

// importJobPage is GET /import/{id}: the job, and whether it runs still.
type importJobPage struct {
	Job     store.ImportJob
	Running bool
	Stopped string
}

func (s *Server) importData(f web.Form) importPage {
	return importPage{Form: f, Columns: strings.Join(leadimport.ColumnNames(), ", "), MaxRows: importMaxRows,
		MaxBytes: fmt.Sprintf("%d KiB", MaxBodyBytes>>10)}
}

// importPage: GET /import, the upload form.
func (s *Server) importPage(c *gin.Context) error {
	s.render(c, http.StatusOK, "import", "Import leads", "import", s.importData(web.Form{}))
	return nil
}

// importUpload: POST /import, a CSV file (multipart, within the API's body
// limit) checked while the browser waits, then imported in the background
// by the importer of starter import (leadimport.Run, with the store's
// duplicate finder unless duplicates are allowed); the browser is sent to
// the job's page, which shows the progress, then the counts and the
// rejected rows with their reasons. Each row is the signed-in user's lead
// unless its owner column names another, which only a manager may (as POST
// /v1/leads); its owner and manager are resolved as the API resolves them.
func (s *Server) importUpload(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	v, err := form(c)
	if err != nil {
		return err
	}
	refuse := func(status int, msg string) error {
		s.render(c, status, "import", "Import leads", "import",
			s.importData(web.Form{Submitted: true, Values: v, Problem: msg}))
		return nil
	}
	var fh []byte
	name := ""
	if mf := c.Request.MultipartForm; mf != nil && len(mf.File["file"]) == 1 {
		hdr := mf.File["file"][0]
		name = hdr.Filename
		f, err := hdr.Open()
		if err != nil {
			return malformed("the file could not be read")
		}
		fh, err = io.ReadAll(f)
		_ = f.Close()
		if err != nil {
			return malformed("the file could not be read")
		}
	}
	if len(bytes.TrimSpace(fh)) == 0 {
		return refuse(http.StatusUnprocessableEntity, "Choose a CSV file with a header row and at least one lead.")
	}
	allowDups := v.Get("allowDuplicates") == "on"
	src, err := leadimport.NewSource(bytes.NewReader(fh), leadimport.CSV, leadimport.Options{
		Defaults:             leadimport.Defaults{Owner: u.Email, CreatedBy: "import:" + name},
		IgnoreUnknownColumns: v.Get("ignoreUnknownColumns") == "on",
	})
	if err != nil {
		return refuse(http.StatusUnprocessableEntity, "The file cannot be imported: "+err.Error())
	}
	rows, why, err := s.importRows(ctx, u, src)
	if err != nil {
		return err
	}
	if why != "" {
		return refuse(http.StatusUnprocessableEntity, why)
	}
	id, err := store.CreateImportJob(ctx, s.cfg.Pool, u.Email, name, len(rows.rows), s.cfg.Now())
	if err != nil {
		return err
	}
	// Not the request's context: the import goes on after the redirect.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), importTimeout)
	go func() {
		defer cancel()
		s.runImport(bg, id, u, name, rows, allowDups)
	}()
	c.Redirect(http.StatusSeeOther, "/import/"+id)
	return nil
}

// runImport imports rows as job id, recording its progress as rows are done
// and, at the end, its counts and rejected rows, or the error that stopped it.
func (s *Server) runImport(ctx context.Context, id string, u User, name string, rows *rowList, allowDups bool) {
	log := s.log.With("job", id, "by", u.Email, "file", name)
	var rejects bytes.Buffer
	rw := leadimport.NewRejectWriter(&rejects, rows.Header())
	var dups leadimport.DuplicateFinder
	if !allowDups {
		dups = store.LeadDuplicates{Pool: s.cfg.Pool, Viewer: &u}
	}
	var st leadimport.Stats
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		s.reportImport(ctx, id, &st, stop)
	}()
	_, runErr := leadimport.Run(ctx, rows, leadimport.Config{Temporal: s.cfg.Temporal, Concurrency: importConcurrency,
		Rejects: rw, Stats: &st, Duplicates: dups, AllowDuplicates: allowDups, Metrics: s.cfg.Metrics})
	close(stop)
	<-reported
	stopped := ""
	if runErr != nil {
		log.Warn("web import stopped", "err", runErr)
		stopped = runErr.Error()
	}
	n := importCounts(&st)
	// The job's end is recorded even when ctx ran out (the timeout).
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ProbeTimeout)
	defer cancel()
	if err := store.FinishImportJob(fctx, s.cfg.Pool, id, n, readRejects(rejects.Bytes()), stopped, s.cfg.Now()); err != nil {
		log.Error("web import: record the end", "err", err)
		return
	}
	log.Info("web import", "started", n.Started, "existing", n.Existing, "rejected", n.Rejected)
}

// reportImport records st in job id as rows are done (see
// importProgressRows), until stop closes.
func (s *Server) reportImport(ctx context.Context, id string, st *leadimport.Stats, stop <-chan struct{}) {
	t := time.NewTicker(importProgressEvery / 5)
	defer t.Stop()
	last, lastAt := int64(0), time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		done := st.Done()
		if done == last || (done-last < importProgressRows && time.Since(lastAt) < importProgressEvery) {
			continue
		}
		if err := store.UpdateImportJob(ctx, s.cfg.Pool, id, importCounts(st)); err != nil {
			s.log.Warn("web import: record progress", "job", id, "err", err)
		}
		last, lastAt = done, time.Now()
	}
}

func importCounts(st *leadimport.Stats) store.ImportCounts {
	n := store.ImportCounts{Started: int(st.New.Load()), Existing: int(st.Present.Load()),
		Repeated: int(st.Duplicates.Load()), Rejected: int(st.Rejected.Load())}
	n.Done = n.Started + n.Existing + n.Rejected
	return n
}

// importJob: GET /import/{id}, an import's progress (refreshing itself
// while it runs), then its counts and rejected rows; only for the user who
// started it, the 404 page for anyone else.
func (s *Server) importJob(c *gin.Context) error {
	u := userOf(c)
	j, ok, err := store.ImportJobOf(c.Request.Context(), s.cfg.Pool, c.Param("id"), u.Email)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("no such import")
	}
	page := importJobPage{Job: j, Running: j.FinishedAt == nil}
	switch {
	case j.Error != "":
		page.Stopped = "The import stopped before the end (Temporal or the database did not answer in time). " +
			"The rows done so far are kept: upload the same file again to import the rest."
	case page.Running && s.cfg.Now().Sub(j.StartedAt) > importTimeout+time.Minute:
		// Its server stopped while it ran: it will not finish.
		page.Running = false
		page.Stopped = "The import stopped before the end (the server restarted). " +
			"The rows done so far are kept: upload the same file again to import the rest."
	}
	title := "Import of " + j.FileName
	if page.Running {
		s.renderRefreshing(c, http.StatusOK, "importjob", title, "import", page, 1)
		return nil
	}
	s.render(c, http.StatusOK, "importjob", title, "import", page)
	return nil
}

// importRows reads every row of src (at most importMaxRows: a larger file is
// refused whole, before anything starts), each checked as POST /v1/leads
// checks a new lead's people: another owner only for a manager, the owner
// and manager users that exist (resolveUsers). A row failing it is
// rejected with the reason. A file refused whole returns why.
func (s *Server) importRows(ctx context.Context, u User, src leadimport.Source) (*rowList, string, error) {
	out := &rowList{header: src.Header()}
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "The file cannot be read: " + err.Error(), nil
		}
		if len(out.rows) == importMaxRows {
			return nil, fmt.Sprintf("The file has more than %d rows, so nothing was imported: split it, or import it with starter import.", importMaxRows), nil
		}
		if r.Reject == "" {
			r.Reject, err = s.importPeople(ctx, u, &r)
			if err != nil {
				return nil, "", err
			}
		}
		out.rows = append(out.rows, r)
	}
	return out, "", nil
}

// importPeople checks a row as the API checks a new lead: its owner and
// manager (resolved as the users table names them), the records on file it
// links (u must see them) and its price list (the currency's default when
// it names none); it returns the row's reject reason, if any.
func (s *Server) importPeople(ctx context.Context, u User, r *leadimport.Row) (string, error) {
	in := &r.Lead
	if !strings.EqualFold(in.Owner, u.Email) && !u.Manager() {
		return "only a manager may create a lead for another owner", nil
	}
	for _, check := range []func() error{
		func() error { return s.resolveUsers(ctx, u, in) },
		func() error {
			_, err := s.linkedRecords(ctx, u, in.Lead.ExistingAccountID, in.Lead.ExistingContactID)
			return err
		},
		func() error { return s.dealPriceList(ctx, in) },
	} {
		if err := check(); err != nil {
			var p *Problem
			if errors.As(err, &p) && p.Status == http.StatusUnprocessableEntity {
				return problemReason(p), nil
			}
			return "", err
		}
	}
	return "", nil
}

// problemReason is a 422's reason in a line: its fields, else its detail.
func problemReason(p *Problem) string {
	if len(p.Errors) > 0 {
		return workflows.Describe(p.Errors)
	}
	return p.Detail
}

// rowList is a read file's rows, as a leadimport.Source.
type rowList struct {
	header []string
	rows   []leadimport.Row
	next   int
}

func (l *rowList) Header() []string { return l.header }

func (l *rowList) Next() (leadimport.Row, error) {
	if l.next == len(l.rows) {
		return leadimport.Row{}, io.EOF
	}
	l.next++
	return l.rows[l.next-1], nil
}

// readRejects reads back the rejects CSV (line, reason, then the row), in
// the file's order (the rows finish out of order).
func readRejects(b []byte) []store.ImportReject {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil || len(recs) < 2 {
		return nil
	}
	var out []store.ImportReject
	for _, r := range recs[1:] {
		if len(r) < 2 {
			continue
		}
		line, _ := strconv.Atoi(r[0])
		out = append(out, store.ImportReject{Line: line, Reason: r[1], Row: strings.Join(r[2:], ", ")})
	}
	slices.SortFunc(out, func(a, b store.ImportReject) int { return a.Line - b.Line })
	return out
}
