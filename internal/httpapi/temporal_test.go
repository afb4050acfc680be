package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"

	"dealflow/activities"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/httpapi"
	"dealflow/internal/temporalx"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// The handlers run against the real thing (DESIGN.md §5): a Temporal dev
// server, a worker registered as worker/main.go registers it, and the test's
// own PostgreSQL database. One dev server serves the whole test process; each
// test gets a namespace of its own on it, with a worker of its own that
// writes to that test's database, so tests share no deals and no rows.
//
// testenv.Main runs the tests, stops PostgreSQL and exits. The dev server is
// started by the first test that needs it (not here: `-run TestDecodeObject`
// and fuzz workers, which run TestMain too, never need it) and is not stopped
// by hand: devstack starts it with Pdeathsig, so the kernel kills it when the
// test binary exits, however it exits.
func TestMain(m *testing.M) { testenv.Main(m) }

// shared is the dev server of this test process, once started.
var shared struct {
	once sync.Once
	srv  *devstack.Temporal
	c    client.Client // its default namespace; registers the tests' namespaces
	err  error
}

// quietLogger is the SDK logger of every client and worker: their retries
// and shutdown notes are noise in test output.
var quietLogger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// temporalCLI returns the Temporal CLI, built from tools/ if need be.
func temporalCLI(ctx context.Context) (string, error) {
	root, err := devstack.RepoRoot()
	if err != nil {
		return "", err
	}
	cli := devstack.TemporalCLIPath(root)
	return cli, devstack.EnsureTemporalCLI(ctx, root, cli, os.Stderr)
}

// startShared starts the process's dev server, once; concurrent and later
// callers wait for that start.
func startShared() {
	shared.once.Do(func() {
		shared.err = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold CLI build takes ~13
			defer cancel()
			cli, err := temporalCLI(ctx)
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "dealflow-httpapi-temporal-")
			if err != nil {
				return err
			}
			// In memory: nothing to keep after the tests. Each test registers
			// its own namespace while the server runs.
			srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
				CLI: cli, Headless: true, LogFile: filepath.Join(dir, "temporal.log"), RuntimeNamespaces: true,
			})
			// The server holds its log open; the folder need not outlive
			// the start (whose errors carry the log's tail).
			_ = os.RemoveAll(dir)
			if err != nil {
				return err
			}
			shared.srv = srv
			shared.c, err = client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: quietLogger})
			return err
		}()
	})
}

// sharedTemporal returns the process's dev server and a client on its
// default namespace, starting the server on first use.
func sharedTemporal(t *testing.T) (*devstack.Temporal, client.Client) {
	t.Helper()
	startShared()
	if shared.err != nil {
		t.Fatalf("Temporal dev server: %v", shared.err)
	}
	return shared.srv, shared.c
}

// nsSeq numbers the tests' namespaces.
var nsSeq atomic.Int64

// testNamespace registers a namespace for the test on the shared dev server,
// with the deal's search attributes, and returns a client on it.
func testNamespace(t *testing.T) client.Client {
	t.Helper()
	_, base := sharedTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name()))
	if _, err := base.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatalf("register namespace %s: %v", ns, err)
	}
	c, err := client.NewClientFromExistingWithContext(ctx, base, client.Options{Namespace: ns, Logger: quietLogger})
	if err != nil {
		t.Fatalf("client on namespace %s: %v", ns, err)
	}
	t.Cleanup(c.Close)
	if err := temporalx.EnsureSearchAttributes(ctx, c, ns); err != nil {
		t.Fatal(err)
	}
	return c
}

// ownTemporal starts a dev server for one test, which the test may stop; it
// is killed when the test ends. extraArgs go to its command line (dynamic
// config a test needs that no other test may see).
func ownTemporal(t *testing.T, extraArgs ...string) *devstack.Temporal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cli, err := temporalCLI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "temporal.log")
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{CLI: cli, Headless: true, LogFile: log, ExtraArgs: extraArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Kill() })
	return srv
}

// startWorker starts a worker for the env's namespace, registered as
// worker/main.go registers it, writing to the env's database.
func (e *env) startWorker() {
	e.t.Helper()
	if e.worker != nil {
		return
	}
	acts := activities.New(e.pool, activities.RecordingMailer{}, nil)
	w := temporalx.NewWorker(e.tc, workflows.TaskQueue)
	w.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivity(acts)
	if err := w.Start(); err != nil {
		e.t.Fatalf("start worker: %v", err)
	}
	e.worker = w
}

// stopWorker stops the env's worker: its deals stop answering.
func (e *env) stopWorker() {
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
}

// started waits until Temporal's visibility, which trails the starts a
// little, counts want workflows in the env's namespace, and returns the
// count it settled on.
func (e *env) started(want int64) int64 {
	e.t.Helper()
	var n int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := e.tc.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{})
		if err != nil {
			e.t.Fatalf("count workflows: %v", err)
		}
		if n = resp.GetCount(); n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// panicOnQuery decorates the real client so that QueryWorkflow panics: a
// handler that panics cannot be had otherwise. Every other call goes to the
// real server.
type panicOnQuery struct{ httpapi.Temporal }

func (panicOnQuery) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	panic("query exploded")
}

// racer decorates the real client to make two creations race for one id,
// deterministically: once armed, the next Update-with-Start runs the
// competitor before it is sent, so the competitor starts the workflow after
// this request's checks and before its start, as when two requests arrive
// together. It changes no answer of the server.
type racer struct {
	httpapi.Temporal
	competitor atomic.Pointer[func()]
}

// arm makes the next Update-with-Start run fn first.
func (r *racer) arm(fn func()) { r.competitor.Store(&fn) }

func (r *racer) UpdateWithStartWorkflow(ctx context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	if fn := r.competitor.Swap(nil); fn != nil {
		(*fn)()
	}
	return r.Temporal.UpdateWithStartWorkflow(ctx, o)
}

// taskFailsOnce decorates the real client so that the first Update answers
// what Temporal answers when the workflow task that took it fails (its
// completion refused): the action was not taken. Every call goes to the real
// server; it records the Update IDs sent.
type taskFailsOnce struct {
	httpapi.Temporal
	mu     sync.Mutex
	failed bool
	ids    []string
}

func (f *taskFailsOnce) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.mu.Lock()
	f.ids = append(f.ids, o.UpdateID)
	fail := !f.failed
	f.failed = true
	f.mu.Unlock()
	if fail {
		return nil, serviceerror.NewWorkflowNotReady("Unable to perform workflow execution update due to unexpected workflow task failure.")
	}
	return f.Temporal.UpdateWorkflow(ctx, o)
}

// queryNotReadyOnce decorates the real client so that the first query
// answers what Temporal answers while a deal's workflow task has failed and
// waits to be run again (a worker stopped or died running it).
type queryNotReadyOnce struct {
	httpapi.Temporal
	mu     sync.Mutex
	failed bool
}

func (q *queryNotReadyOnce) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	q.mu.Lock()
	fail := !q.failed
	q.failed = true
	q.mu.Unlock()
	if fail {
		return nil, serviceerror.NewWorkflowNotReady("Cannot query workflow due to Workflow Task in failed state.")
	}
	return q.Temporal.QueryWorkflow(ctx, id, runID, queryType, args...)
}
