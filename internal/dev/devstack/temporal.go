package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"dealflow/workflows"
)

// SearchAttribute is a custom search attribute and its Temporal type name
// (Keyword, Text, Int, Double, Bool, Datetime, KeywordList), as
// workflows.SearchAttributes lists them.
type SearchAttribute = struct{ Name, Type string }

// TemporalOptions configure a Temporal dev server (`temporal server start-dev`).
// A zero port is replaced by a free one.
type TemporalOptions struct {
	// CLI is the temporal binary (see EnsureTemporalCLI). Required.
	CLI string
	// IP the frontend (and Web UI) bind to; default 127.0.0.1.
	IP string
	// Port is the frontend gRPC port.
	Port int
	// UIPort is the Web UI port; ignored when Headless.
	UIPort   int
	Headless bool
	// UICodecEndpoint is the codec server the Web UI decodes payloads
	// through (the API's, DEALFLOW_CODEC_ADDR); empty: none.
	UICodecEndpoint string
	// HTTPPort and MetricsPort are the server's HTTP API and /metrics ports.
	HTTPPort    int
	MetricsPort int
	// DBFile is the SQLite file that keeps the server's state across
	// restarts; empty keeps everything in memory.
	DBFile string
	// Namespace is created at launch; default "default".
	Namespace string
	// SearchAttributes registered at launch; nil means workflows.SearchAttributes.
	SearchAttributes []SearchAttribute
	// LogLevel of the server; default warn.
	LogLevel string
	// LogFile receives the server's output. Required.
	LogFile string
	// StartTimeout bounds the wait for the frontend; default 2 minutes.
	StartTimeout time.Duration
	// RuntimeNamespaces is for servers that get namespaces or search
	// attributes registered while they run (tests giving each test its own
	// namespace): the server then re-reads those from its store on every
	// use, start-dev's default, instead of caching them (DevDynamicConfig).
	RuntimeNamespaces bool
	// ExtraArgs are appended to the start-dev command line.
	ExtraArgs []string
}

// Temporal is a running dev server started by StartTemporal.
type Temporal struct {
	opts  TemporalOptions // ports resolved
	fixed TemporalOptions // as given: which ports may be re-picked
	proc  *Process
}

// StartTemporal starts a dev server and returns once its frontend answers,
// the namespace exists and every search attribute is registered. When the
// server does not come up, the error carries the tail of its log. Ports that
// were left zero are picked again if another process took one first.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	if opts.CLI == "" || opts.LogFile == "" {
		return nil, errors.New("start temporal: CLI and LogFile are required")
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.SearchAttributes == nil {
		opts.SearchAttributes = workflows.SearchAttributes
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	t := &Temporal{fixed: opts}
	var err error
	// The server also picks the ports of its inner services itself; on a
	// busy machine another process can take one first, and then the server
	// dies during start-up (its log's tail is a stack, not the port). Both
	// cases are worth another try with fresh ports.
	for attempt := 0; attempt < 3; attempt++ {
		err = t.start(ctx)
		if err == nil || !(strings.Contains(err.Error(), "address already in use") || errors.Is(err, errExitedDuringStartup)) {
			return t, err
		}
	}
	return nil, err
}

// start picks ports for the zero ones, launches the server and waits for it.
func (t *Temporal) start(ctx context.Context) error {
	o := t.fixed
	for _, p := range []*int{&o.Port, &o.HTTPPort, &o.MetricsPort, &o.UIPort} {
		if p == &o.UIPort && o.Headless {
			continue
		}
		if *p == 0 {
			n, err := FreePort()
			if err != nil {
				return fmt.Errorf("start temporal: %w", err)
			}
			*p = n
		}
	}
	t.opts = o
	return t.launch(ctx)
}

// launch runs the server on t.opts and waits until it is ready. A database
// file is slimmed first (slimVisibility); a new one is created by a first
// run of the server, which is then stopped so that it can be slimmed before
// the server takes any work.
func (t *Temporal) launch(ctx context.Context) error {
	if t.opts.DBFile == "" {
		return t.run(ctx)
	}
	if !fileExists(t.opts.DBFile) {
		if err := t.run(ctx); err != nil {
			return err
		}
		// Only the file matters here: start-dev wrote its schema and
		// namespace before serving, and a server killed at the end of the
		// grace period (Stop's error) leaves a file SQLite recovers.
		_ = t.proc.Stop(0)
	}
	if err := t.slimVisibility(ctx); err != nil {
		return err
	}
	return t.run(ctx)
}

// slimVisibility drops the visibility indexes of the database file that no
// query of ours needs (the CLI's dealflow-slim-visibility command, in
// tools/cmd/temporal/slim.go, says which and why): every start and every
// search-attribute upsert writes all of them, through the server's single
// SQLite connection. Its report goes to the server's log.
func (t *Temporal) slimVisibility(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, t.opts.CLI, "dealflow-slim-visibility", "--db-filename", t.opts.DBFile).CombinedOutput()
	if log, lerr := os.OpenFile(t.opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); lerr == nil {
		_, _ = log.Write(out)
		_ = log.Close()
	}
	if err != nil {
		return fmt.Errorf("start temporal: slim %s: %w: %s", t.opts.DBFile, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run starts the server process on t.opts and waits until it is ready.
func (t *Temporal) run(ctx context.Context) error {
	proc, err := StartProcess(ProcessSpec{
		Name:    "temporal",
		Path:    t.opts.CLI,
		Args:    t.Args(),
		Env:     withoutEnv(os.Environ(), "TEMPORAL_"),
		LogFile: t.opts.LogFile,
	})
	if err != nil {
		return fmt.Errorf("start temporal: %w", err)
	}
	t.proc = proc
	if err := t.waitReady(ctx); err != nil {
		_ = proc.Kill()
		return err
	}
	return nil
}

// Args returns the start-dev command line (without the binary).
func (t *Temporal) Args() []string {
	o := t.opts
	args := []string{"server", "start-dev",
		"--ip", o.IP,
		"--port", strconv.Itoa(o.Port),
		"--http-port", strconv.Itoa(o.HTTPPort),
		"--metrics-port", strconv.Itoa(o.MetricsPort),
		"--log-level", o.LogLevel,
		"--namespace", o.Namespace,
	}
	if o.Headless {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(o.UIPort))
		if o.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", o.UICodecEndpoint)
		}
	}
	if o.DBFile != "" {
		// WAL with synchronous=normal doubles the file DB's throughput on
		// 2 cores and still survives a crash of the server (DESIGN.md §6).
		args = append(args, "--db-filename", o.DBFile,
			"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
	}
	for _, sa := range o.SearchAttributes {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type)
	}
	args = append(args, DevDynamicConfig(o.RuntimeNamespaces)...)
	return append(args, o.ExtraArgs...)
}

// errExitedDuringStartup: the server process ended before it was ready.
var errExitedDuringStartup = errors.New("the dev server exited during start-up")

// waitReady polls the frontend until the namespace and the search attributes
// are there, the process exits, or the start timeout passes.
func (t *Temporal) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.opts.StartTimeout)
	defer cancel()
	var last error
	for {
		if last = t.Check(ctx); last == nil {
			return nil
		}
		select {
		case <-t.proc.Done():
			return fmt.Errorf("start temporal: %w: %s", errExitedDuringStartup, t.proc.Describe(40))
		case <-ctx.Done():
			return fmt.Errorf("start temporal: frontend %s not ready after %s: %v\n%s", t.Address(), t.opts.StartTimeout, last, t.proc.Describe(40))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Check asks the frontend whether it is healthy, the namespace exists and all
// search attributes are registered.
func (t *Temporal) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := t.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return checkNamespace(ctx, c, t.opts.Namespace, t.opts.SearchAttributes)
}

// checkNamespace reports whether namespace ns exists and has every search
// attribute of sas.
func checkNamespace(ctx context.Context, c client.Client, ns string, sas []SearchAttribute) error {
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
		return fmt.Errorf("describe namespace %s: %w", ns, err)
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	for _, sa := range sas {
		if _, ok := resp.GetCustomAttributes()[sa.Name]; !ok {
			return fmt.Errorf("search attribute %s not registered yet", sa.Name)
		}
	}
	return nil
}

// Dial returns an SDK client for the server's namespace that logs nothing.
func (t *Temporal) Dial(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{
		HostPort:  t.Address(),
		Namespace: t.opts.Namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
}

// Address returns the frontend's host:port.
func (t *Temporal) Address() string {
	return net.JoinHostPort(t.opts.IP, strconv.Itoa(t.opts.Port))
}

// Namespace returns the namespace created at launch.
func (t *Temporal) Namespace() string { return t.opts.Namespace }

// UIURL returns the Web UI's list of the namespace's workflows, or "" when
// the server is headless.
func (t *Temporal) UIURL() string {
	if t.opts.Headless {
		return ""
	}
	host := t.opts.IP
	if host == "127.0.0.1" || host == "0.0.0.0" {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s/namespaces/%s/workflows", net.JoinHostPort(host, strconv.Itoa(t.opts.UIPort)), t.opts.Namespace)
}

// Process returns the server process (for crash tests: Kill, Done).
func (t *Temporal) Process() *Process { return t.proc }

// Stop stops the server gracefully (SIGTERM, SIGKILL after DefaultGrace).
func (t *Temporal) Stop() error { return t.proc.Stop(0) }

// Kill kills the server at once, as a crash would.
func (t *Temporal) Kill() error { return t.proc.Kill() }

// Start starts the server again after Stop or Kill, on the same ports and
// database file, and waits until it is ready. With a DBFile, workflows
// survive; in memory, they do not.
func (t *Temporal) Start(ctx context.Context) error {
	if t.proc != nil && !t.proc.Exited() {
		return errors.New("start temporal: already running")
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// The old server's ports can take a moment to be released, and an
		// inner port it picks itself may be taken (see StartTemporal).
		err = t.launch(ctx)
		if err == nil || !(strings.Contains(err.Error(), "address already in use") || errors.Is(err, errExitedDuringStartup)) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

// Restart stops the server gracefully and starts it again (see Start).
func (t *Temporal) Restart(ctx context.Context) error {
	if err := t.Stop(); err != nil {
		return fmt.Errorf("restart temporal: %w", err)
	}
	return t.Start(ctx)
}

// withoutEnv drops the variables whose names start with prefix.
func withoutEnv(env []string, prefix string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// DevDynamicConfig returns the --dynamic-config-value flags every dev server
// starts with. Measured with `go run ./bench` (docs/benchmarks.md):
//
//   - One partition per task queue instead of four. With four, a task
//     written to a partition that no poll is waiting on sits there until one
//     arrives or it is forwarded; a worker with a few pollers on one machine
//     gains nothing from partitions and its tasks wait longer.
//   - Eager activity execution: the activity a workflow task schedules comes
//     back to the worker in the answer to that task's completion, instead of
//     going through the activity task queue and a poll. Every deal action
//     schedules one (ApplyChange), so each saves a queue round trip.
//   - The worker's autoscaled pollers (temporalx.WorkerOptions) are told to
//     scale up once a task queue's backlog is 20 ms old instead of 200 ms: a
//     rep action is two or three workflow tasks of a few tens of ms, and
//     each waited about 100 ms on the sticky queue at the 200 ms default.
//   - Namespaces and search attributes are cached, as on a production
//     server, unless runtimeNamespaces: start-dev otherwise re-reads the
//     namespace and the cluster metadata from SQLite, under a process-wide
//     lock, every time a start or an upsert checks its search attributes.
//     Measured with `starter import` of 10,000 leads (README, Throughput):
//     starts 163–187 → 205–221 leads/s, end to end 91–98 → 105–109
//     leads/s, server CPU for the 10,000 121 → 111 s. Ours are registered when
//     start-dev creates the namespace, before any cache is filled, so they
//     are usable at once; one registered later (the worker adds a missing
//     one) is seen within the namespace cache's 2 s refresh.
func DevDynamicConfig(runtimeNamespaces bool) []string {
	kvs := []string{
		"matching.numTaskqueueReadPartitions=1",
		"matching.numTaskqueueWritePartitions=1",
		"system.enableActivityEagerExecution=true",
		`matching.pollerScalingMinimumBacklog="20ms"`,
	}
	if !runtimeNamespaces {
		kvs = append(kvs, "system.forceSearchAttributesCacheRefreshOnRead=false")
	}
	var args []string
	for _, kv := range kvs {
		args = append(args, "--dynamic-config-value", kv)
	}
	return args
}
