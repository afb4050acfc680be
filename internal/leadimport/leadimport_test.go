package leadimport

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"dealflow/internal/metricstest"
	"dealflow/workflows"
)

var defaults = Defaults{Owner: "rep@example.com", Manager: "manager@example.com", CreatedBy: "import:test"}

func readAll(t *testing.T, f Format, in string, o Options) []Row {
	t.Helper()
	if o.Defaults == (Defaults{}) {
		o.Defaults = defaults
	}
	src, err := NewSource(strings.NewReader(in), f, o)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
}

func TestHeaderSpellings(t *testing.T) {
	for _, h := range []string{"First Name", "first_name", "firstName", " FIRSTNAME ", "first-name"} {
		rows := readAll(t, CSV, "Topic,"+h+"\nDesks,Ada\n", Options{})
		if len(rows) != 1 || rows[0].Reject != "" || rows[0].Lead.Lead.FirstName != "Ada" {
			t.Errorf("header %q: %+v", h, rows)
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"topic,Emial\n", `unknown column "Emial"`},
		{"topic,email,E-Mail\n", "both email"},
		{"company,email\n", "no topic column"},
	} {
		_, err := NewSource(strings.NewReader(c.in), CSV, Options{Defaults: defaults})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("header %q: err %v, want %q", c.in, err, c.want)
		}
	}
	src, err := NewSource(strings.NewReader("\ufefftopic,Created On\nx,2024-01-01\n"), CSV, Options{Defaults: defaults, IgnoreUnknownColumns: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := src.Next(); err != nil || r.Reject != "" || r.Lead.Lead.Topic != "x" {
		t.Errorf("ignored column, BOM: %+v %v", r, err)
	}
}

// TestCSVRows checks values, reasons and physical line numbers: a quoted
// field with line breaks makes its record span lines, and the next record's
// line is where it starts in the file.
func TestCSVRows(t *testing.T) {
	in := "topic,first name,company,email,source,rating,budget,estimated value,timeframe,decision maker,owner\n" +
		"25 desks,Ada,Contoso,ada@contoso.example.com,web,hot,25000.00,30000,this quarter,yes,\n" +
		"\"Chairs,\nsecond line\nthird line\",Bo,Fabrikam,bo@example.com,Trade Show,Warm,,,,no,boss@example.com\n" +
		",Cy,Tailspin,cy@example.com,Web,,,,,,\n" + // line 6: no topic
		"Lamps,Di,Litware,not-an-email,Web,,,,,,\n" + // line 7
		"Rugs,Ed,Adatum,ed@example.com,Billboard,,,,,,\n" + // line 8
		"Bins,Fa,Northwind,fa@example.com,Web,,12k,,,,\n" + // line 9
		"Cups,Gu,Proseware,gu@example.com,Web,,,,,maybe,\n" + // line 10
		"\n" +
		",,,,,,,,,,\n" +
		"Pens,Ha\n" + // line 13
		"Mugs,\"Ivo \"the\" Ivanov\",Woodgrove,ivo@example.com,Web,,,,,,\n" // line 14
	rows := readAll(t, CSV, in, Options{})
	want := []struct {
		line   int
		reject string
	}{
		{2, ""}, {3, ""}, {6, "topic is required"}, {7, `email is not a valid email address ("not-an-email")`},
		{8, `source must be one of`}, {9, `budget "12k" is not a number`}, {10, `decisionMakerIdentified "maybe" is not yes/no`},
		{13, "has 2 fields, the header row has 11"}, {14, "not valid CSV"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Line != w.line || (w.reject == "") != (r.Reject == "") || !strings.Contains(r.Reject, w.reject) {
			t.Errorf("row %d: line %d reject %q; want line %d reject %q", i, r.Line, r.Reject, w.line, w.reject)
		}
	}
	a := rows[0].Lead
	if a.Lead.Source != "Web" || a.Lead.Rating != "Hot" || a.Lead.PurchaseTimeframe != "This Quarter" ||
		!a.Lead.DecisionMakerIdentified || a.Lead.Budget.String() != "25000" || a.Lead.EstimatedValue.String() != "30000" ||
		a.Owner != "rep@example.com" || a.Manager != "manager@example.com" || a.CreatedBy != "import:test" ||
		!strings.HasPrefix(a.ID, "ld-") {
		t.Errorf("row 2: %+v", a)
	}
	if b := rows[1].Lead; b.Lead.Topic != "Chairs,\nsecond line\nthird line" || b.Owner != "boss@example.com" {
		t.Errorf("row 3: %+v", b)
	}
}

// TestDerivedIDs: the id follows the lead's content, not its spelling, owner
// or currency; an id column wins.
func TestDerivedIDs(t *testing.T) {
	rows := readAll(t, CSV, "topic,company,email,budget,owner,currency\n"+
		"25 desks,Contoso,ada@example.com,25000,,\n"+
		"  25  Desks ,CONTOSO,Ada@Example.com,25000.00,other@example.com,eur\n"+
		"26 desks,Contoso,ada@example.com,25000,,\n", Options{})
	if rows[0].Lead.ID != rows[1].Lead.ID || rows[0].key != rows[1].key {
		t.Errorf("same lead, other spelling: ids %s and %s", rows[0].Lead.ID, rows[1].Lead.ID)
	}
	if rows[1].Lead.Currency != "EUR" || rows[1].Lead.Owner != "other@example.com" {
		t.Errorf("row 2: %+v", rows[1].Lead)
	}
	if rows[0].Lead.ID == rows[2].Lead.ID {
		t.Error("another topic, same id")
	}
	rows = readAll(t, CSV, "id,topic\nacme-1,desks\nbad id!,desks\n", Options{})
	if rows[0].Lead.ID != "acme-1" || !strings.Contains(rows[1].Reject, "id must be") {
		t.Errorf("id column: %+v", rows)
	}
}

func TestJSONLRows(t *testing.T) {
	in := `{"id":"j-1","topic":"Desks","email":"a@example.com","budget":"1200.50","source":"web"}` + "\n" +
		"\n" +
		`{"topic":"Chairs","lead":{"topic":"x"}}` + "\n" +
		`{"lead":{"topic":"Chairs","estimatedValue":99.95},"owner":"boss@example.com"}` + "\n" +
		`{"topic":"Lamps","colour":"red"}` + "\n" +
		`{"topic":"Rugs","budget":"12k"}` + "\n" +
		`{"topic":"Bins","rating":"Lukewarm"}`
	rows := readAll(t, JSONL, in, Options{})
	want := []struct {
		line   int
		reject string
	}{{1, ""}, {3, "both at the top level"}, {4, ""}, {5, `unknown field "colour"`}, {6, "not a valid lead object"}, {7, "rating must be one of"}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Line != w.line || (w.reject == "") != (r.Reject == "") || !strings.Contains(r.Reject, w.reject) {
			t.Errorf("row %d: line %d reject %q; want line %d reject %q", i, r.Line, r.Reject, w.line, w.reject)
		}
	}
	if l := rows[0].Lead; l.ID != "j-1" || l.Lead.Budget.String() != "1200.5" || l.Lead.Source != "Web" {
		t.Errorf("line 1: %+v", l)
	}
	if l := rows[2].Lead; l.Lead.Topic != "Chairs" || l.Lead.EstimatedValue.String() != "99.95" || l.Owner != "boss@example.com" {
		t.Errorf("line 4: %+v", l)
	}
}

func TestFormatOf(t *testing.T) {
	for _, c := range []struct {
		path, flag string
		want       Format
	}{{"a.csv", "", CSV}, {"a.JSONL", "", JSONL}, {"a.ndjson", "", JSONL}, {"a.txt", "csv", CSV}, {"-", "jsonl", JSONL}} {
		if got, err := FormatOf(c.path, c.flag); err != nil || got != c.want {
			t.Errorf("FormatOf(%q, %q) = %q, %v", c.path, c.flag, got, err)
		}
	}
	if _, err := FormatOf("a.txt", ""); err == nil {
		t.Error("a.txt without -format: no error")
	}
}

// fakeTemporal answers starts like the server: each workflow ID starts once.
type fakeTemporal struct {
	mu      sync.Mutex
	started map[string]workflows.NewLead
	fail    map[string]error
}

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[o.ID]; err != nil {
		return nil, err
	}
	if _, ok := f.started[o.ID]; ok {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", "")
	}
	f.started[o.ID] = args[0].(workflows.NewLead)
	return nil, nil
}

func TestRun(t *testing.T) {
	in := "id,topic,email\n" +
		"a-1,Desks,a@example.com\n" +
		",Chairs,b@example.com\n" +
		",Chairs,b@example.com\n" + // line 4: same row again
		"a-1,Lamps,c@example.com\n" + // line 5: id taken by other content
		"a-2,,d@example.com\n" + // line 6: no topic
		"a-3,Rugs,e@example.com\n" // line 7: Temporal refuses
	f := &fakeTemporal{started: map[string]workflows.NewLead{}, fail: map[string]error{
		"lead/a-3": serviceerror.NewInvalidArgument("search attribute too long"),
	}}
	m := metricstest.New()
	run := func() (*Stats, string) {
		src, err := NewSource(strings.NewReader(in), CSV, Options{Defaults: defaults})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		st, err := Run(context.Background(), src, Config{Temporal: f, Concurrency: 3, Rejects: NewRejectWriter(&buf, src.Header()), Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		return st, buf.String()
	}
	st, rejects := run()
	if st.New.Load() != 2 || st.Present.Load() != 1 || st.Duplicates.Load() != 1 || st.Rejected.Load() != 3 {
		t.Errorf("first run: new %d present %d (dup %d) rejected %d; want 2, 1 (1), 3",
			st.New.Load(), st.Present.Load(), st.Duplicates.Load(), st.Rejected.Load())
	}
	recs, err := csv.NewReader(strings.NewReader(rejects)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[0]] = r[1]
	}
	if strings.Join(recs[0], ",") != "line,reason,id,topic,email" || len(got) != 3 ||
		!strings.Contains(got["5"], "id a-1 is also on line 2") || !strings.Contains(got["6"], "topic is required") ||
		!strings.Contains(got["7"], "search attribute too long") {
		t.Errorf("rejects file:\n%s", rejects)
	}
	if f.started["lead/a-1"].Lead.Topic != "Desks" || len(f.started) != 2 {
		t.Errorf("started: %+v", f.started)
	}
	// The operators' counters say the same as the stats.
	countsAre := func(started, existing, rejected int64) {
		t.Helper()
		if m.Count(MetricRowsAccepted, "result="+ResultStarted) != started || m.Count(MetricRowsAccepted, "result="+ResultExisting) != existing ||
			m.Count(MetricRowsRejected) != rejected {
			t.Errorf("counters, want started %d existing %d rejected %d:\n%s", started, existing, rejected, m)
		}
	}
	countsAre(2, 1, 3)

	st, _ = run()
	if st.New.Load() != 0 || st.Present.Load() != 3 || st.Rejected.Load() != 3 {
		t.Errorf("second run: new %d present %d rejected %d; want 0, 3, 3", st.New.Load(), st.Present.Load(), st.Rejected.Load())
	}
	countsAre(2, 1+3, 3+3)
}

// TestRunStops: an error that is not about one row stops the import with
// the line it happened on; the rows started before stay started.
func TestRunStops(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,topic\n")
	for i := range 50 {
		b.WriteString("s-" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ",Desks\n")
	}
	f := &fakeTemporal{started: map[string]workflows.NewLead{}, fail: map[string]error{
		"lead/s-ka": serviceerror.NewUnavailable("connection refused"),
	}}
	src, err := NewSource(strings.NewReader(b.String()), CSV, Options{Defaults: defaults})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Run(context.Background(), src, Config{Temporal: f, Concurrency: 2})
	if err == nil || !strings.Contains(err.Error(), "line 12 (lead s-ka)") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v", err)
	}
	if st.Done() >= 50 || st.New.Load() != int64(len(f.started)) {
		t.Errorf("done %d, new %d, started %d", st.Done(), st.New.Load(), len(f.started))
	}
}

// TestSample: the sample file of the README imports without a reject.
func TestSample(t *testing.T) {
	b, err := os.ReadFile("../../samples/leads.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, CSV, string(b), Options{})
	ids := map[string]bool{}
	for _, r := range rows {
		if r.Reject != "" {
			t.Errorf("line %d: %s", r.Line, r.Reject)
		}
		ids[r.Lead.ID] = true
	}
	if len(rows) != 50 || len(ids) != 50 {
		t.Errorf("%d rows, %d ids; want 50 of each", len(rows), len(ids))
	}
}

// fakeDuplicates finds a duplicate on file for one email address.
type fakeDuplicates struct {
	mu    sync.Mutex
	asked []string
}

func (f *fakeDuplicates) FindDuplicates(_ context.Context, in workflows.NewLead) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, in.ID)
	if strings.EqualFold(in.Lead.Email, "onfile@example.com") {
		return []string{"contact CON-1 (On File): email"}, nil
	}
	return nil, nil
}

// TestRunDuplicates: a row that may duplicate an earlier row of the file
// or a record on file is rejected with the matches, unless AllowDuplicates,
// which creates every lead allowing duplicates; a row that links an account
// on file is not checked.
func TestRunDuplicates(t *testing.T) {
	in := "id,topic,email,phone,company,existingAccountId\n" +
		"d-1,Desks,ada@contoso.example.com,+1 555 123 4567,Contoso Ltd,\n" +
		"d-2,Chairs,ADA@contoso.example.com,,Fabrikam,\n" + // line 3: email of line 2
		"d-3,Lamps,bo@example.com,555.123.4567,CONTOSO INC,\n" + // line 4: phone and company of line 2
		"d-4,Rugs,onfile@example.com,,Tailspin,\n" + // line 5: on file
		"d-5,Desks,cy@example.com,,Contoso,ACC-1\n" + // line 6: links an account
		"d-6,Pens,di@example.com,,Litware,\n"
	run := func(allow bool) (*fakeTemporal, *fakeDuplicates, *Stats, map[string]string) {
		f := &fakeTemporal{started: map[string]workflows.NewLead{}, fail: map[string]error{}}
		dups := &fakeDuplicates{}
		src, err := NewSource(strings.NewReader(in), CSV, Options{Defaults: defaults})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		st, err := Run(context.Background(), src, Config{Temporal: f, Concurrency: 2, Rejects: NewRejectWriter(&buf, src.Header()),
			Duplicates: dups, AllowDuplicates: allow})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range recs[min(1, len(recs)):] {
			got[r[0]] = r[1]
		}
		return f, dups, st, got
	}
	f, dups, st, rejects := run(false)
	if st.New.Load() != 3 || st.Rejected.Load() != 3 || len(rejects) != 3 {
		t.Fatalf("new %d rejected %d: %v", st.New.Load(), st.Rejected.Load(), rejects)
	}
	if !strings.Contains(rejects["3"], "possible duplicate of line 2 (email) of this file") ||
		!strings.Contains(rejects["4"], "possible duplicate of line 2 (phone, company) of this file") ||
		!strings.Contains(rejects["5"], "possible duplicate of contact CON-1 (On File): email") {
		t.Errorf("rejects: %v", rejects)
	}
	for _, id := range []string{"lead/d-1", "lead/d-5", "lead/d-6"} {
		if _, ok := f.started[id]; !ok || f.started[id].AllowDuplicate {
			t.Errorf("%s: started %v, %+v", id, ok, f.started[id])
		}
	}
	if slices.Contains(dups.asked, "d-5") || slices.Contains(dups.asked, "d-2") {
		t.Errorf("asked the store about %v", dups.asked)
	}

	f, dups, st, rejects = run(true)
	if st.New.Load() != 6 || st.Rejected.Load() != 0 || len(dups.asked) != 0 {
		t.Fatalf("allowed: new %d rejected %d %v, asked %v", st.New.Load(), st.Rejected.Load(), rejects, dups.asked)
	}
	if !f.started["lead/d-2"].AllowDuplicate || !f.started["lead/d-6"].AllowDuplicate {
		t.Errorf("started without AllowDuplicate: %+v", f.started["lead/d-2"])
	}
}
