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

	"github.com/gin-gonic/gin"

	"dealflow/internal/leadimport"
	"dealflow/internal/store"
	"dealflow/internal/web"
)

// importMaxRows caps an upload: the page imports while the browser waits,
// within the request's deadline; a larger file is for starter import.
const importMaxRows = 1000

// importConcurrency is how many starts the page has in flight at once.
const importConcurrency = 16

type importPage struct {
	Form     web.Form
	Columns  string
	MaxRows  int
	MaxBytes string
	Result   *importResult
}

type importResult struct {
	File                        string
	Started, Existing, Rejected int64
	Repeated                    int64
	Rejects                     []importReject
	Stopped                     string
}

type importReject struct {
	Line        int
	Reason, Row string
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
// limit) imported by the importer of starter import (leadimport.Run, with
// the store's duplicate finder unless duplicates are allowed) while the
// browser waits, then the counts and the rejected rows with their reasons.
// Each row is the signed-in user's lead unless its owner column names
// another, which only a manager may (as POST /v1/leads); its owner and
// manager are resolved as the API resolves them.
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
	var rejects bytes.Buffer
	rw := leadimport.NewRejectWriter(&rejects, src.Header())
	var dups leadimport.DuplicateFinder
	if !allowDups {
		dups = store.LeadDuplicates{Pool: s.cfg.Pool, Viewer: &u}
	}
	var st leadimport.Stats
	_, runErr := leadimport.Run(ctx, rows, leadimport.Config{Temporal: s.cfg.Temporal, Concurrency: importConcurrency,
		Rejects: rw, Stats: &st, Duplicates: dups, AllowDuplicates: allowDups})
	res := &importResult{File: name, Started: st.New.Load(), Existing: st.Present.Load(), Rejected: st.Rejected.Load(),
		Repeated: st.Duplicates.Load(), Rejects: readRejects(rejects.Bytes())}
	status := http.StatusOK
	if runErr != nil {
		_ = c.Error(runErr)
		s.log.Warn("web import stopped", "by", u.Email, "file", name, "err", runErr)
		res.Stopped = "The import stopped before the end (Temporal or the database did not answer in time). " +
			"The rows done so far are kept: upload the same file again to import the rest."
		status = http.StatusServiceUnavailable
	}
	s.log.Info("web import", "by", u.Email, "file", name, "started", res.Started, "existing", res.Existing, "rejected", res.Rejected)
	page := s.importData(web.Form{})
	page.Result = res
	s.render(c, status, "import", "Import leads", "import", page)
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

// importPeople checks and resolves a row's owner and manager as the API
// does for a new lead; it returns the row's reject reason, if any.
func (s *Server) importPeople(ctx context.Context, u User, r *leadimport.Row) (string, error) {
	in := &r.Lead
	if !strings.EqualFold(in.Owner, u.Email) && !u.Manager() {
		return "only a manager may create a lead for another owner", nil
	}
	if err := s.resolveUsers(ctx, u, in); err != nil {
		var p *Problem
		if errors.As(err, &p) && p.Status == http.StatusUnprocessableEntity {
			return p.Detail, nil
		}
		return "", err
	}
	return "", nil
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
func readRejects(b []byte) []importReject {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil || len(recs) < 2 {
		return nil
	}
	var out []importReject
	for _, r := range recs[1:] {
		if len(r) < 2 {
			continue
		}
		line, _ := strconv.Atoi(r[0])
		out = append(out, importReject{Line: line, Reason: r[1], Row: strings.Join(r[2:], ", ")})
	}
	slices.SortFunc(out, func(a, b importReject) int { return a.Line - b.Line })
	return out
}
