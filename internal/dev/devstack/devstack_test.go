package devstack

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"dealflow/workflows"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tools", "go.mod")); err != nil {
		t.Fatalf("root %s has no tools/go.mod: %v", root, err)
	}
	if _, err := RepoRootFrom(t.TempDir()); err == nil {
		t.Fatal("RepoRootFrom(temp dir) found a root")
	}
}

// alive reports whether pid still exists (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	t.Fatalf("process %d is still alive", pid)
}

// startShell runs a shell script that records the pid of a grandchild.
func startShell(t *testing.T, script string) (*Process, int) {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild")
	p, err := StartProcess(ProcessSpec{
		Name:    "sh",
		Path:    "/bin/sh",
		Args:    []string{"-c", script, "sh", pidFile},
		LogFile: filepath.Join(dir, "log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(pidFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return p, pid
		}
	}
	t.Fatalf("the script did not start its child; log:\n%s", p.LogTail(20))
	return nil, 0
}

func TestStopTakesTheWholeGroup(t *testing.T) {
	p, child := startShell(t, `sleep 300 & echo $! > "$1"; wait`)
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitGone(t, p.PID())
	waitGone(t, child)
	if p.Unexpected() {
		t.Error("a stopped process counts as an unexpected exit")
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	p, child := startShell(t, `trap "" TERM; sleep 300 & echo $! > "$1"; while :; do sleep 1; done`)
	start := time.Now()
	err := p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop of a process that ignores SIGTERM: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s", d)
	}
	waitGone(t, child)
}

func TestLeaderExitTakesTheGroup(t *testing.T) {
	p, child := startShell(t, `sleep 300 & echo $! > "$1"; exit 3`)
	<-p.Done()
	var ee interface{ ExitCode() int }
	if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Err = %v, want exit status 3", err)
	}
	if !p.Unexpected() {
		t.Error("an exit nobody asked for is not reported as unexpected")
	}
	waitGone(t, child)
	if !strings.Contains(p.Describe(5), "exit status 3") {
		t.Errorf("Describe: %s", p.Describe(5))
	}
}

func TestKillIsImmediate(t *testing.T) {
	p, child := startShell(t, `trap "" TERM; sleep 300 & echo $! > "$1"; wait`)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !killedBy(p.Err(), syscall.SIGKILL) {
		t.Errorf("Err = %v, want killed by SIGKILL", p.Err())
	}
	waitGone(t, child)
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := LogTail(path, 2); got != "c\nd" {
		t.Errorf("LogTail = %q", got)
	}
	if got := LogTail(filepath.Join(t.TempDir(), "none"), 2); !strings.Contains(got, "no log") {
		t.Errorf("LogTail of a missing file = %q", got)
	}
}

// temporalCLI builds (or finds) the Temporal CLI; a failure fails the test.
func temporalCLI(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cli := TemporalCLIPath(root)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := EnsureTemporalCLI(ctx, root, cli, testWriter{t}); err != nil {
		t.Fatal(err)
	}
	return cli
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestTemporalSurvivesACrash starts a file-backed dev server, starts a deal
// workflow (no worker is needed for that), kills the server as a crash would,
// starts it again on the same file and finds the workflow and its search
// attribute still there.
func TestTemporalSurvivesACrash(t *testing.T) {
	cli := temporalCLI(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := StartTemporal(ctx, TemporalOptions{
		CLI:      cli,
		Headless: true,
		DBFile:   filepath.Join(dir, "temporal.db"),
		LogFile:  filepath.Join(dir, "temporal.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	if srv.UIURL() != "" {
		t.Errorf("headless server has a UI URL %s", srv.UIURL())
	}
	const cached = "system.forceSearchAttributesCacheRefreshOnRead=false"
	for _, a := range []string{"--headless", "--db-filename", "journal_mode=wal", "SalesStage=Keyword", "ExpectedCloseDate=Datetime", cached} {
		if !strings.Contains(strings.Join(srv.Args(), " "), a) {
			t.Errorf("start-dev args %v lack %s", srv.Args(), a)
		}
	}
	if slices.Contains(DevDynamicConfig(true), cached) {
		t.Errorf("a server with runtime namespaces caches search attributes: %v", DevDynamicConfig(true))
	}

	c, err := srv.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := workflows.WorkflowID("crash-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             workflows.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SASalesStage.ValueSet("Qualify")),
	}, workflows.WorkflowName)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err = srv.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.DescribeWorkflowExecution(ctx, id, ""); err != nil {
		t.Fatalf("workflow %s lost in the crash: %v", id, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: srv.Namespace(), Query: `SalesStage="Qualify"`})
		if err == nil && n.GetCount() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility after restart: count=%v err=%v", n.GetCount(), err)
		}
	}
}

func TestBinaryFresh(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "temporal")
	now := time.Now()
	if binaryFresh(bin, "k1", now) {
		t.Fatal("a missing binary is fresh")
	}
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bin, now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if binaryFresh(bin, "k1", now) {
		t.Error("a binary older than the pins, without a stamp, is fresh")
	}
	if !binaryFresh(bin, "k1", now.Add(-2*time.Hour)) {
		t.Error("a binary newer than the pins is stale")
	}
	if err := os.WriteFile(bin+".stamp", []byte("k1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !binaryFresh(bin, "k1", now) {
		t.Error("a binary stamped with the pins' key is stale")
	}
	if binaryFresh(bin, "k2", now) {
		t.Error("a binary stamped with other pins and older than them is fresh")
	}
	if binaryFresh(bin, "k2", now.Add(-2*time.Hour)) {
		t.Error("a binary stamped with other pins is fresh because it is newer than them")
	}
}

// TestStoreInCacheKeepsOtherBinaries: storing the CLI built from new pins
// drops its copies from older pins, not the server's (temporal-* matches
// temporal-server-KEY too).
func TestStoreInCacheKeepsOtherBinaries(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "temporal")
	for _, p := range []string{src, filepath.Join(dir, "temporal-0123456789abcdef"), filepath.Join(dir, "temporal-server-0123456789abcdef")} {
		if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	storeInCache(src, filepath.Join(dir, "temporal-fedcba9876543210"), "temporal")
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"temporal-fedcba9876543210", "temporal-server-0123456789abcdef"}; !slices.Equal(names, want) {
		t.Errorf("cache holds %v, want %v", names, want)
	}
}

// TestFileDBKeepsTheIndexesQueriesUse starts a file-backed dev server and
// checks that its visibility table was slimmed before it took work (the
// indexes of the default order, the system columns a list filters on and
// every custom column the namespace uses stay; the rest go), that a deal
// started with every search attribute is found by each of them, that a search
// attribute registered later gets its column's index back at the next start,
// and that slimming again changes nothing.
func TestFileDBKeepsTheIndexesQueriesUse(t *testing.T) {
	cli := temporalCLI(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	logFile := filepath.Join(dir, "temporal.log")
	dbFile := filepath.Join(dir, "temporal.db")
	srv, err := StartTemporal(ctx, TemporalOptions{CLI: cli, Headless: true, DBFile: dbFile, LogFile: logFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Kill() })
	report := regexp.MustCompile(`visibility indexes kept (\d+) \(([^)]*)\), dropped (\d+)(?: \(([^)]*)\))?, recreated (\d+)(?: \(([^)]*)\))?`)
	reports := func() [][]string {
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		return report.FindAllStringSubmatch(string(b), -1)
	}
	// A start that is retried (a port taken meanwhile) slims again: the
	// first report dropped the indexes, the last says what the file has.
	first := reports()
	if len(first) == 0 {
		t.Fatalf("no slimming report in the log:\n%s", srv.Process().LogTail(40))
	}
	kept := strings.Split(first[len(first)-1][2], ", ")
	for _, want := range []string{"default_idx", "by_workflow_id", "by_workflow_type", "by_status", "by_temporal_namespace_division"} {
		if !slices.Contains(kept, want) {
			t.Errorf("index %s was dropped; kept: %v", want, kept)
		}
	}
	// The system indexes above and two more (execution time, task queue),
	// plus one per search attribute of the deal.
	if want := 7 + len(workflows.SearchAttributes); len(kept) != want {
		t.Errorf("kept %d indexes, want %d: %v", len(kept), want, kept)
	}
	if first[0][3] == "0" {
		t.Errorf("a new file had nothing to drop: %s", first[0][0])
	}

	c, err := srv.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closeDate := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	id := workflows.WorkflowID("slim-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SASalesStage.ValueSet("Develop"), workflows.SASalesOwner.ValueSet("rep@example.com"),
			workflows.SADealStatus.ValueSet("Open"), workflows.SACustomer.ValueSet("Acme"),
			workflows.SALeadSource.ValueSet("Web"), workflows.SAEstimatedRevenue.ValueSet(1200.5),
			workflows.SAExpectedCloseDate.ValueSet(closeDate)),
	}, workflows.WorkflowName); err != nil {
		t.Fatal(err)
	}
	queries := []string{`SalesStage = "Develop"`, `SalesOwner = "rep@example.com"`, `DealStatus = "Open"`,
		`Customer = "Acme"`, `LeadSource = "Web"`, `EstimatedRevenue > 1000`,
		`ExpectedCloseDate BETWEEN "2027-01-30T00:00:00Z" AND "2027-02-01T00:00:00Z"`, `WorkflowType = "` + workflows.WorkflowName + `"`,
		`ExecutionStatus = "Running"`, `WorkflowId = "` + id + `"`}
	if len(queries) < len(workflows.SearchAttributes)+3 {
		t.Fatal("a search attribute of the deal has no query here")
	}
	findsTheDeal := func(when string) {
		t.Helper()
		for _, q := range queries {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: srv.Namespace(), Query: q})
				if err == nil && n.GetCount() == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s counts %v (err %v), want 1", when, q, n.GetCount(), err)
				}
			}
		}
	}
	findsTheDeal("after the first start")

	// A search attribute registered while the server runs takes a custom
	// column whose index was dropped; the next start recreates that index.
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: srv.Namespace(), SearchAttributes: map[string]enums.IndexedValueType{"SlimProbe": enums.INDEXED_VALUE_TYPE_KEYWORD},
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	recreated := 0
	for _, r := range reports()[len(first):] {
		if r[3] != "0" {
			t.Errorf("restart after a new keyword attribute dropped an index: %s", r[0])
		}
		if r[5] == "1" && strings.HasPrefix(r[6], "by_keyword_") {
			recreated++
		}
	}
	if recreated != 1 {
		t.Fatalf("restart after a new keyword attribute: want one keyword index recreated once, got %d:\n%s", recreated, srv.Process().LogTail(40))
	}
	c.Close()
	if c, err = srv.Dial(ctx); err != nil {
		t.Fatal(err)
	}
	findsTheDeal("after the restart")
	if n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: srv.Namespace(), Query: `SlimProbe = "x"`}); err != nil || n.GetCount() != 0 {
		t.Fatalf("SlimProbe: count %v, err %v; want 0 and no error", n.GetCount(), err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cli, "dealflow-slim-visibility", "--db-filename", dbFile).CombinedOutput()
	if err != nil {
		t.Fatalf("slim again: %v: %s", err, out)
	}
	if m := report.FindStringSubmatch(string(out)); m == nil || m[1] != strconv.Itoa(len(kept)+1) || m[3] != "0" || m[5] != "0" {
		t.Errorf("slimming a slim file changed something: %s", out)
	}
}
