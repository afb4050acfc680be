package main

// End-to-end tests of the starter commands against the real stack (Temporal
// dev server, worker, PostgreSQL) that internal/tests/e2e starts for this package.
// The commands run in-process through run, exactly as main calls it.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"dealflow/internal/tests/e2e"
	"dealflow/workflows"
)

var stack *e2e.Stack

func TestMain(m *testing.M) { os.Exit(e2e.Main(m, e2e.Options{}, &stack)) }

// starter runs the command with the stack's Temporal (and PostgreSQL, which
// import reads for possible duplicates) and returns its exit code and output.
func starter(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("DATABASE_URL", stack.DatabaseURL)
	args = append(args[:1:1], append([]string{"-temporal", stack.TemporalAddress(), "-namespace", stack.Namespace()}, args[1:]...)...)
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("starter %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

func pool(t *testing.T, ctx context.Context) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// leadTopics returns the topics of the lead rows whose topic starts with
// prefix, with how many rows each has.
func leadTopics(ctx context.Context, p *pgxpool.Pool, prefix string) (map[string]int, error) {
	rows, err := p.Query(ctx, `SELECT topic, count(*) FROM leads WHERE starts_with(topic, $1) GROUP BY topic`, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var topic string
		var n int
		if err := rows.Scan(&topic, &n); err != nil {
			return nil, err
		}
		out[topic] = n
	}
	return out, rows.Err()
}

// waitTopics waits until the worker has written exactly want (each once).
func waitTopics(t *testing.T, ctx context.Context, p *pgxpool.Pool, prefix string, want []string) {
	t.Helper()
	for {
		got, err := leadTopics(ctx, p, prefix)
		if err == nil && len(got) == len(want) {
			for _, w := range want {
				if got[w] != 1 {
					t.Fatalf("lead %q: %d rows, want 1 (all: %v)", w, got[w], got)
				}
			}
			return
		}
		if len(got) > len(want) {
			t.Fatalf("leads %v, want only %q", got, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("leads %v (err %v), want %q", got, err, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var summaryRE = regexp.MustCompile(`(\d+) rows in .*: (\d+) new, (\d+) already present(?: \((\d+) repeated in the file\))?, (\d+) rejected`)

// counts parses the summary line: rows, new, present, repeated, rejected.
func counts(t *testing.T, stdout string) [5]int {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in %q", stdout)
	}
	var c [5]int
	for i := range c {
		c[i], _ = strconv.Atoi(m[i+1])
	}
	return c
}

// TestImportCSV imports a file of good, repeated and bad rows, twice: the
// counts, the rejects file (physical line numbers, reasons), one deal per
// good row and none for a bad one, and nothing new the second time.
func TestImportCSV(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic := func(n int) string { return fmt.Sprintf("E2E import %s #%d", tag, n) }
	// Lines 3-5 hold one record: a quoted topic suffix with line breaks.
	// Companies and emails are the run's own (tag): the same as another
	// run's, or another test's, would be a possible duplicate.
	file := "ID,Topic,First Name,last_name,Company,Email,Lead Source,Rating,Budget,Estimated Value,Purchase Timeframe,Decision Maker Identified\n" +
		fmt.Sprintf("%s-1,%s,Ada,Park,Northwind Traders "+tag+",ada.park@northwind-"+tag+".example.com,Web,Hot,25000.00,24000,This Quarter,yes\n", tag, topic(1)) + // 2
		fmt.Sprintf(",\"%s\nsecond line\nthird line\",Bo,Berg,Contoso "+tag+",bo.berg@contoso-"+tag+".example.com,trade show,warm,,,,\n", topic(2)) + // 3-5
		fmt.Sprintf(",%s,Cy,Chen,Fabrikam "+tag+",cy.chen@fabrikam-"+tag+".example.com,Partner,Cold,,1999.99,,no\n", topic(3)) + // 6
		fmt.Sprintf(",%s,Cy,Chen,Fabrikam "+tag+",cy.chen@fabrikam-"+tag+".example.com,Partner,Cold,,1999.99,,no\n", topic(3)) + // 7: repeat of 6
		fmt.Sprintf("%s-bad-1,,Di,Diaz,Litware "+tag+",di@litware-"+tag+".example.com,Web,,,,,\n", tag) + // 8: no topic
		fmt.Sprintf("%s-bad-2,%s,Ed,Eze,Proseware "+tag+",ed-at-proseware.example.com,Web,,,,,\n", tag, topic(92)) + // 9: bad email
		fmt.Sprintf("%s-bad-3,%s,Fa,Fox,Woodgrove "+tag+",fa@woodgrove-"+tag+".example.com,Billboard,,,,,\n", tag, topic(93)) + // 10: unknown source
		fmt.Sprintf("%s-bad-4,%s,Gu,Gray,Relecloud "+tag+",gu@relecloud-"+tag+".example.com,Web,,12k,,,\n", tag, topic(94)) + // 11: not a number
		fmt.Sprintf("%s-4,%s,Hana,Ito,Tailspin "+tag+",hana.ito@tailspin-"+tag+".example.com,Seminar,Warm,5000,,Next Quarter,y\n", tag, topic(4)) // 12
	dir := t.TempDir()
	path := filepath.Join(dir, "leads.csv")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	rejectsPath := filepath.Join(dir, "leads.rejects.csv")

	code, stdout, _ := starter(t, ctx, "import", path, "-concurrency", "4", "-progress", "lines")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if c := counts(t, stdout); c != [5]int{9, 4, 1, 1, 4} {
		t.Errorf("rows, new, present, repeated, rejected = %v, want [9 4 1 1 4]", c)
	}

	// The rejects file: physical line, reason, and the row as it was.
	f, err := os.Open(rejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0][:4], ",") != "line,reason,ID,Topic" || len(recs) != 5 {
		t.Fatalf("rejects file: %q", recs)
	}
	wantReasons := map[string]string{
		"8": "topic is required", "9": `email is not a valid email address ("ed-at-proseware.example.com")`,
		"10": "source must be one of", "11": `budget "12k" is not a number`,
	}
	for _, r := range recs[1:] {
		if !strings.Contains(r[1], wantReasons[r[0]]) || wantReasons[r[0]] == "" {
			t.Errorf("rejects file line %s: reason %q, want %q", r[0], r[1], wantReasons[r[0]])
		}
		if r[2] != tag+"-bad-"+map[string]string{"8": "1", "9": "2", "10": "3", "11": "4"}[r[0]] {
			t.Errorf("rejects file line %s: row %q", r[0], r[2:])
		}
	}

	// One deal per good row, written by the worker; none for a bad row.
	p := pool(t, ctx)
	good := []string{topic(1), topic(2) + "\nsecond line\nthird line", topic(3), topic(4)}
	waitTopics(t, ctx, p, "E2E import "+tag, good)
	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 1; i <= 4; i++ {
		_, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(fmt.Sprintf("%s-bad-%d", tag, i)), "")
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			t.Errorf("bad row %d: describe its workflow: %v, want not found", i, err)
		}
	}
	var owner, source, rating, createdBy string
	var budget string
	err = p.QueryRow(ctx, `SELECT l.owner, l.source, l.rating, l.budget::text, e.actor
		FROM leads l JOIN deal_events e ON e.lead_id = l.id AND e.action = 'create' WHERE l.topic = $1`, topic(2)+"\nsecond line\nthird line").
		Scan(&owner, &source, &rating, &budget, &createdBy)
	if err != nil {
		t.Fatal(err)
	}
	if owner != "rep@example.com" || source != "Trade Show" || rating != "Warm" || createdBy != "import:leads.csv" {
		t.Errorf("row 3: owner %s source %s rating %s budget %s created by %s", owner, source, rating, budget, createdBy)
	}
	resp, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(tag+"-1"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetExecutionConfig().GetUserMetadata().GetSummary(); got == nil {
		t.Error("the deal has no static summary")
	}
	if st := resp.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("deal %s-1: %s", tag, st)
	}

	// Again: nothing new, the same rejects, still one row per lead. That the
	// run started nothing is read from Temporal, which has recorded every
	// start by the time the import returns, rather than from the rows a
	// second start's worker would write some time later: each lead's deal
	// is still the run the first import started.
	runs := dealRuns(t, ctx, c, p, "E2E import "+tag)
	code, stdout, _ = starter(t, ctx, "import", "-progress", "none", path)
	if code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	if c := counts(t, stdout); c != [5]int{9, 0, 5, 1, 4} {
		t.Errorf("second run: rows, new, present, repeated, rejected = %v, want [9 0 5 1 4]", c)
	}
	if again := dealRuns(t, ctx, c, p, "E2E import "+tag); !maps.Equal(again, runs) {
		t.Errorf("the second run started deals again: runs %v, were %v", again, runs)
	}
	waitTopics(t, ctx, p, "E2E import "+tag, good)
}

// dealRuns maps the lead id of each lead row whose topic starts with prefix
// to the run ID of its deal's workflow, as Temporal has it now.
func dealRuns(t *testing.T, ctx context.Context, c client.Client, p *pgxpool.Pool, prefix string) map[string]string {
	t.Helper()
	rows, err := p.Query(ctx, `SELECT id FROM leads WHERE starts_with(topic, $1)`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]string{}
	for _, id := range ids {
		resp, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
		if err != nil {
			t.Fatalf("describe the deal of lead %s: %v", id, err)
		}
		runs[id] = resp.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}
	return runs
}

// TestImportResume: an import stopped half-way (here: the first half of the
// file) and run again on the whole file starts only the rest; JSON Lines in
// both shapes; -wait returns once the worker has caught up.
func TestImportResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	var lines []string
	var topics []string
	for i := range 6 {
		tp := fmt.Sprintf("E2E resume %s #%d", tag, i)
		topics = append(topics, tp)
		if i%2 == 0 {
			lines = append(lines, fmt.Sprintf(`{"topic":%q,"company":"Coho Winery %s-%d","email":"buyer%d@coho-%s.example.com","budget":"1200.50"}`, tp, tag, i, i, tag))
		} else {
			lines = append(lines, fmt.Sprintf(`{"lead":{"topic":%q,"estimatedValue":99.95},"owner":"manager@example.com"}`, tp))
		}
	}
	lines = append(lines, `{"topic":"E2E resume `+tag+` bad","colour":"red"}`)
	dir := t.TempDir()
	half := filepath.Join(dir, "half.jsonl")
	all := filepath.Join(dir, "all.jsonl")
	if err := os.WriteFile(half, []byte(strings.Join(lines[:3], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(all, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := starter(t, ctx, "import", half); code != 0 || counts(t, stdout) != [5]int{3, 3, 0, 0, 0} {
		t.Fatalf("first half: exit %d, %q", code, stdout)
	}
	code, stdout, _ := starter(t, ctx, "import", all, "-wait")
	if code != 0 || counts(t, stdout) != [5]int{7, 3, 3, 0, 1} || !strings.Contains(stdout, "the worker caught up") {
		t.Fatalf("whole file: exit %d, %q", code, stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, "all.rejects.csv"))
	if err != nil || !strings.Contains(string(b), `7,"not a valid lead object: json: unknown field ""colour"""`) {
		t.Errorf("rejects file: %q (%v)", b, err)
	}
	waitTopics(t, ctx, pool(t, ctx), "E2E resume "+tag, topics)
}

// TestImportDuplicates: a row that may duplicate an earlier row of the file,
// or a lead on file, goes to the rejects file with the matches; with
// -allow-duplicates it is imported, allowing duplicates on its timeline.
func TestImportDuplicates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	dir := t.TempDir()
	first := filepath.Join(dir, "first.csv")
	second := filepath.Join(dir, "second.csv")
	if err := os.WriteFile(first, []byte("id,topic,email,company\n"+
		tag+"-a,E2E dup "+tag+" a,ada@dup-"+tag+".example.com,Dup Co "+tag+"\n"+
		tag+"-b,E2E dup "+tag+" b,ADA@dup-"+tag+".example.com,Other "+tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, []byte("id,topic,email,company\n"+
		tag+"-c,E2E dup "+tag+" c,cy@dup-"+tag+".example.com,\"DUP CO "+tag+", LTD.\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rejects := func(path string) string {
		b, err := os.ReadFile(strings.TrimSuffix(path, ".csv") + ".rejects.csv")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	code, stdout, _ := starter(t, ctx, "import", "-progress", "none", first, "-wait")
	if code != 0 || counts(t, stdout) != [5]int{2, 1, 0, 0, 1} {
		t.Fatalf("first file: exit %d, %q", code, stdout)
	}
	if r := rejects(first); !strings.Contains(r, "possible duplicate of line 2 (email) of this file") {
		t.Errorf("rejects of the first file: %q", r)
	}
	code, stdout, _ = starter(t, ctx, "import", "-progress", "none", second)
	if code != 0 || counts(t, stdout) != [5]int{1, 0, 0, 0, 1} {
		t.Fatalf("second file: exit %d, %q", code, stdout)
	}
	if r := rejects(second); !strings.Contains(r, "possible duplicate of lead "+tag+"-a") || !strings.Contains(r, "company") {
		t.Errorf("rejects of the second file: %q", r)
	}

	code, stdout, _ = starter(t, ctx, "import", "-progress", "none", "-allow-duplicates", first, "-wait")
	if code != 0 || counts(t, stdout) != [5]int{2, 1, 1, 0, 0} {
		t.Fatalf("first file, duplicates allowed: exit %d, %q", code, stdout)
	}
	var detail string
	if err := pool(t, ctx).QueryRow(ctx, `SELECT detail FROM deal_events WHERE lead_id = $1 AND action = 'create'`, tag+"-b").Scan(&detail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "possible duplicates allowed") {
		t.Errorf("timeline of %s-b: %q", tag, detail)
	}
}

// TestImportUsage: what cannot run says so and exits 2 (usage) or 1.
func TestImportUsage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.csv")
	if err := os.WriteFile(bad, []byte("Topic,Emial\nx,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import"}, 2, "want exactly one FILE"},
		{[]string{"import", filepath.Join(dir, "x.txt")}, 1, "cannot tell the format"},
		{[]string{"import", filepath.Join(dir, "missing.csv")}, 1, "no such file"},
		{[]string{"import", bad}, 1, `unknown column "Emial"`},
		{[]string{"import", "-progress", "fancy", bad}, 2, "-progress must be"},
		{[]string{"demo", "-tick", "1ms"}, 2, "-tick must be"},
	} {
		code, _, stderr := starter(t, ctx, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("starter %v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.rejects.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused file left a rejects file: %v", err)
	}
}

// TestDemo runs the demo as the README says and checks what it leaves: the
// walk-through deal paid with its reminders sent, one deal in each stage,
// a lost and a disqualified one, each as the worker wrote it.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	id := func(s string) string { return "demo-" + tag + "-" + s }
	p := pool(t, ctx)
	// An earlier demo on this database (go test -count=2 and more) left the
	// walk-through's company and contact on file: qualifying links those,
	// and the demo says so.
	onFile := func(query, key, made string) string {
		var existing string
		switch err := p.QueryRow(ctx, query, key).Scan(&existing); {
		case errors.Is(err, pgx.ErrNoRows):
			return made
		case err != nil:
			t.Fatal(err)
		}
		return existing + " (on file already)"
	}
	qualified := fmt.Sprintf("Qualified → Develop: account %s, contact %s",
		onFile(`SELECT id FROM accounts WHERE lower(name) = lower($1)`, "Northwind Traders", "ACC-"+id("paid")),
		onFile(`SELECT id FROM contacts WHERE lower(email) = lower($1) AND account_id IS NOT NULL`, "ada.park@northwind.example.com", "CON-"+id("paid")))
	code, stdout, _ := starter(t, ctx, "demo", "-tick", "1s", "-tag", tag, "-ui", "http://ui.example:8233")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"http://ui.example:8233/namespaces/default/workflows/lead%2F" + id("paid"),
		"reminder fired after", qualified,
		"draft quote QUO-" + id("paid") + "-1", "order ORD-" + id("paid"), "invoice INV-" + id("paid"),
		"→ Paid", "thank-you fired", "workflow completed",
		"http://ui.example:8233/namespaces/default/workflows/lead%2F" + id("disqualified"),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	for name, want := range map[string]string{
		"qualify": "Qualify/open", "develop": "Develop/open", "propose": "Propose/open", "close": "Close/open",
		"order": "Order/won", "invoice": "Invoice/won", "paid": "Paid/won", "lost": "Develop/lost",
		"disqualified": "Qualify/disqualified",
	} {
		var stage, status string
		if err := p.QueryRow(ctx, `SELECT stage, status FROM leads WHERE id = $1`, id(name)).Scan(&stage, &status); err != nil {
			t.Errorf("lead %s: %v", id(name), err)
			continue
		}
		if stage+"/"+status != want {
			t.Errorf("lead %s: %s/%s, want %s", id(name), stage, status, want)
		}
	}
	var kinds []string
	rows, err := p.Query(ctx, `SELECT kind FROM messages WHERE lead_id = $1 ORDER BY created_at`, id("paid"))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
	}
	if rows.Err() != nil || !strings.Contains(strings.Join(kinds, ","), workflows.KindLeadReminder) ||
		!strings.Contains(strings.Join(kinds, ","), workflows.KindThankYou) {
		t.Errorf("messages of the walk-through deal: %v (%v)", kinds, rows.Err())
	}
	var paidAmount, total string
	if err := p.QueryRow(ctx, `SELECT paid_amount::text, total::text FROM invoices WHERE lead_id = $1`, id("paid")).Scan(&paidAmount, &total); err != nil {
		t.Fatal(err)
	}
	if paidAmount != total {
		t.Errorf("invoice of the walk-through deal: paid %s of %s", paidAmount, total)
	}

	// The same tag again: refused, nothing touched.
	if code, _, stderr := starter(t, ctx, "demo", "-tag", tag); code != 1 || !strings.Contains(stderr, "exists already") {
		t.Errorf("demo with a used tag: exit %d, %q", code, stderr)
	}
}

func TestProgressText(t *testing.T) {
	s := snapshot{done: 4512, new: 4500, present: 10, rejected: 2, rate: 231.4, frac: 0.45, eta: 24 * time.Second}
	if got, want := line(s), "import: 4512 rows (45%), 231 rows/s, ETA 0:24: 4500 new, 10 already present, 2 rejected"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	b := bar(s, 100)
	if len(b) != 100-1 || !strings.HasPrefix(b, "[===") || !strings.Contains(b, "45%  4512 rows  231/s  ETA 0:24  new 4500  present 10  rejected 2") {
		t.Errorf("bar = %q (%d)", b, len(b))
	}
	s.frac = -1
	if got := bar(s, 100); strings.Contains(got, "ETA") || strings.HasPrefix(got, "[") {
		t.Errorf("bar without a size = %q", got)
	}
	if got := clock(3723 * time.Second); got != "1:02:03" {
		t.Errorf("clock = %q", got)
	}
}
