package apifuzz

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"dealflow/internal/leadimport"
)

// parseCSV reads every row of data as the importer does. ok is false when
// the file is refused as a whole (no usable header row).
func parseCSV(t *testing.T, data []byte, d leadimport.Defaults) (rows []leadimport.Row, ok bool) {
	t.Helper()
	src, err := leadimport.NewSource(bytes.NewReader(data), leadimport.CSV, leadimport.Options{Defaults: d})
	if err != nil {
		return nil, false
	}
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return rows, true
		}
		if err != nil {
			t.Fatalf("a CSV from memory cannot be unreadable: %v", err)
		}
		rows = append(rows, r)
		if len(rows) > len(data)+1 {
			t.Fatalf("%d rows from %d bytes: the reader does not advance", len(rows), len(data))
		}
	}
}

// FuzzImportCSV: the CSV import's row parser (leadimport, as `starter
// import` uses it) on any file, then the import itself against the real
// stack. Every row is either refused with a reason or a lead that passes the
// API's validation, the same file always parses the same way, and the
// import starts exactly the accepted rows' deals — a refused row starts
// nothing and writes nothing — each of which gets its lead row and stays
// healthy.
func FuzzImportCSV(f *testing.F) {
	f.Add([]byte("topic,company,email\nWidgets,Acme,buyer@acme.example\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := get(t)
		d := leadimport.Defaults{Owner: h.rep.email, CreatedBy: "import:apifuzz"}
		rows, ok := parseCSV(t, data, d)
		again, _ := parseCSV(t, data, d)
		accepted := map[string]bool{}
		for i, r := range rows {
			if r.Line < 1 || r.Offset < 0 || r.Offset > int64(len(data)) {
				t.Fatalf("row %d: line %d, offset %d of %d bytes", i, r.Line, r.Offset, len(data))
			}
			if r.Reject != again[i].Reject || r.Lead.ID != again[i].Lead.ID {
				t.Fatalf("row %d parses differently twice: %q %s / %q %s", i, r.Reject, r.Lead.ID, again[i].Reject, again[i].Lead.ID)
			}
			if r.Reject != "" {
				continue
			}
			if errs := r.Lead.Validate(); len(errs) > 0 {
				t.Fatalf("row %d (line %d) accepted, but the API would refuse it: %v", i, r.Line, errs)
			}
			accepted[r.Lead.ID] = true
		}
		if !ok {
			return // refused as a whole: nothing to run
		}

		unlock, err := h.lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		before := h.snapshot(t, "")
		existed := map[string]bool{}
		for _, r := range rows {
			if r.Lead.ID != "" {
				existed[r.Lead.ID] = h.workflowExists(t, r.Lead.ID)
			}
		}
		src, err := leadimport.NewSource(bytes.NewReader(data), leadimport.CSV, leadimport.Options{Defaults: d})
		if err != nil {
			t.Fatal(err)
		}
		var rejects bytes.Buffer
		rw := leadimport.NewRejectWriter(&rejects, src.Header())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := leadimport.Run(ctx, src, leadimport.Config{Temporal: h.tc, Concurrency: 4, Rejects: rw})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		if done := st.Done(); done != int64(len(rows)) {
			t.Fatalf("import finished %d rows of %d (new %d, present %d, rejected %d)", done, len(rows), st.New.Load(), st.Present.Load(), st.Rejected.Load())
		}
		var fresh int64
		for id := range accepted {
			if !existed[id] {
				fresh++
				h.waitLead(t, id)
				h.healthy(t, "imported row", id)
			}
		}
		if st.New.Load() != fresh {
			t.Fatalf("import started %d deals; %d accepted rows had none", st.New.Load(), fresh)
		}
		after := h.snapshot(t, "")
		if after.leads != before.leads+fresh || after.users != before.users || after.tokens != before.tokens {
			t.Fatalf("import of %d new deals: leads %d → %d, users %d → %d", fresh, before.leads, after.leads, before.users, after.users)
		}
		for _, r := range rows {
			if r.Reject != "" && r.Lead.ID != "" && !accepted[r.Lead.ID] && !existed[r.Lead.ID] && h.workflowExists(t, r.Lead.ID) {
				t.Fatalf("line %d was refused (%s) but its deal %s was started", r.Line, r.Reject, r.Lead.ID)
			}
		}
		if n := strings.Count(rejects.String(), "\n"); st.Rejected.Load() > 0 && n == 0 {
			t.Fatalf("%d rows rejected, the rejects file is empty", st.Rejected.Load())
		}
	})
}
