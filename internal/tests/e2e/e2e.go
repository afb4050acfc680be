// Package e2e starts the whole dealflow stack for end-to-end tests: the
// worker and api binaries built from this tree, a Temporal dev server and a
// PostgreSQL cluster, all real processes on free ports in a temp folder. It
// fails loudly, and never skips, when any part cannot start.
//
// Use it from a test package's TestMain:
//
//	var stack *e2e.Stack
//
//	func TestMain(m *testing.M) { os.Exit(e2e.Main(m, e2e.Options{}, &stack)) }
//
// then talk to stack.APIURL with stack.RepToken or stack.ManagerToken.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"dealflow/internal/config"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/dev/pgcluster"
)

// Options configure Start. The zero value is what most tests want.
type Options struct {
	// Env adds to or overrides the variables given to the worker and the
	// API (and `api users create`); WorkerEnv and APIEnv to one of them.
	Env, WorkerEnv, APIEnv map[string]string
	// DatabaseURL uses an existing, empty database. Without it, a fresh
	// database is made on the server of the DATABASE_URL environment variable
	// when set (as internal/tests/testenv does), else in a throwaway cluster.
	DatabaseURL string
	// TemporalDBFile keeps the Temporal server's state in a file in the
	// stack's folder, so a restart (Temporal.Kill, Temporal.Start) keeps
	// every workflow; by default it lives in memory.
	TemporalDBFile bool
	// TemporalUI runs the dev server with its Web UI (it is headless
	// otherwise), for tests that drive the UI: Stack.TemporalUIURL is its
	// address, and the API is given it as TEMPORAL_UI_URL unless Env or
	// APIEnv sets that. Not with Cluster.
	TemporalUI bool
	// UICodecEndpoint is the codec server that the dev server's Web UI
	// (TemporalUI) decodes payloads through (--ui-codec-endpoint), e.g. the
	// API's when Env gives it DEALFLOW_CODEC_ADDR.
	UICodecEndpoint string
	// Progress receives a line per step; default os.Stderr.
	Progress io.Writer
	// Timeout bounds Start, builds included; default 20 minutes (a cold
	// build of the Temporal CLI takes ~13 minutes on 2 cores; of the
	// server, for Cluster, ~10 more).
	Timeout time.Duration
	// Cluster runs Temporal as a cluster of separate processes on
	// PostgreSQL with mTLS (devstack.StartCluster) instead of the dev
	// server, on the stack's PostgreSQL (DATABASE_URL's server or the
	// throwaway cluster) in databases of its own. The worker and the API
	// reach it through the TEMPORAL_* environment alone (its ClientEnv).
	// Binaries, Dir, PostgresURL and the database names are filled in; set
	// the rest (JWKSURIs, …) as the test needs. Not with DatabaseURL or
	// TemporalDBFile.
	Cluster *devstack.ClusterOptions
}

// Stack is a running stack. Its fields are read-only.
type Stack struct {
	// Root is the repository root; Dir the temp folder with the binaries,
	// the logs and the data.
	Root, Dir string
	// Bin are the built worker and api binaries; TemporalCLI the Temporal CLI.
	Bin         devstack.AppBinaries
	TemporalCLI string
	// Temporal is the dev server (Kill/Start/Restart for crash tests); nil
	// with Options.Cluster, whose cluster is Cluster.
	Temporal *devstack.Temporal
	Cluster  *devstack.Cluster
	// PG is the PostgreSQL cluster, nil with Options.DatabaseURL.
	PG *pgcluster.Cluster
	// DatabaseURL is the app's database.
	DatabaseURL string
	// APIURL is the API's base URL (http://127.0.0.1:PORT, no slash at
	// the end); WorkerMetricsURL the worker's /metrics, APIMetricsURL the
	// API's (on its own listener).
	APIURL, WorkerMetricsURL, APIMetricsURL string
	// RepToken and ManagerToken are bearer tokens of rep@example.com (role
	// rep) and manager@example.com (role manager).
	RepToken, ManagerToken string

	opts      Options
	progress  io.Writer
	dropDB    []func() error // drop the databases made on DATABASE_URL's server
	apiAddr   string
	workerEnv []string
	apiEnv    []string

	mu     sync.Mutex
	worker *devstack.Process
	api    *devstack.Process

	serverBin devstack.ServerBinaries
}

// Start builds and starts everything and returns when the worker polls and
// the API answers /readyz, with a rep and a manager token created. On error
// everything started so far is stopped again and the error says what failed,
// with the tail of that process's log; the Stack returned with it (when not
// nil) is only good for Logs.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Minute
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	if opts.Cluster != nil && (opts.DatabaseURL != "" || opts.TemporalDBFile) {
		return nil, errors.New("e2e: Options.Cluster keeps its state in PostgreSQL; it takes neither DatabaseURL nor TemporalDBFile")
	}
	if opts.Cluster != nil && opts.TemporalUI {
		return nil, errors.New("e2e: Options.TemporalUI is the dev server's UI; a cluster's is not run by the tests")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	root, err := devstack.RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	dir, err := os.MkdirTemp("", "dealflow-e2e-")
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	s = &Stack{Root: root, Dir: dir, opts: opts, progress: opts.Progress, TemporalCLI: devstack.TemporalCLIPath(root)}
	defer func() {
		if err != nil {
			err = fmt.Errorf("e2e: start the stack (files in %s): %w", dir, err)
			_ = s.close(false)
		}
	}()
	start := time.Now()

	// Build the app, bring up Temporal and PostgreSQL side by side.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() {
		s.Bin, errs[0] = devstack.BuildApp(ctx, root, filepath.Join(dir, "bin"))
	})
	wg.Go(func() {
		if errs[1] = devstack.EnsureTemporalCLI(ctx, root, s.TemporalCLI, s.progress); errs[1] != nil {
			return
		}
		if opts.Cluster != nil {
			// Started below, once PostgreSQL is up.
			s.serverBin, errs[1] = devstack.EnsureTemporalServer(ctx, root, filepath.Join(devstack.DevDir(root), "bin"), s.progress)
			return
		}
		o := devstack.TemporalOptions{CLI: s.TemporalCLI, Headless: !opts.TemporalUI, LogFile: filepath.Join(dir, "temporal.log"),
			UICodecEndpoint: opts.UICodecEndpoint}
		if opts.TemporalDBFile {
			o.DBFile = filepath.Join(dir, "temporal.db")
		}
		s.Temporal, errs[1] = devstack.StartTemporal(ctx, o)
	})
	wg.Go(func() {
		if opts.DatabaseURL != "" {
			s.DatabaseURL = opts.DatabaseURL
			return
		}
		if admin := os.Getenv(config.DatabaseURL.Name); admin != "" {
			// Like internal/tests/testenv: a fresh database on that server.
			s.DatabaseURL, errs[2] = s.freshDatabase(ctx, admin)
			return
		}
		s.PG, errs[2] = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Ephemeral: true})
		if errs[2] != nil {
			return
		}
		// Should this process die without Close, the cluster stops anyway
		// and the folder goes with it.
		keep := ""
		if os.Getenv("DEALFLOW_E2E_KEEP") == "" {
			keep = dir
		}
		if errs[2] = s.PG.StopOnExit(keep); errs[2] != nil {
			return
		}
		if errs[2] = s.PG.CreateDatabase(ctx, "dealflow"); errs[2] == nil {
			s.DatabaseURL = s.PG.URL("dealflow")
		}
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	if opts.Cluster != nil {
		if err := s.startCluster(ctx, *opts.Cluster); err != nil {
			return s, err
		}
	}
	s.logf("built the app and started Temporal (%s) and PostgreSQL in %s", s.TemporalAddress(), time.Since(start).Round(100*time.Millisecond))

	apiPort, err := devstack.FreePort()
	if err != nil {
		return s, err
	}
	metricsPort, err := devstack.FreePort()
	if err != nil {
		return s, err
	}
	apiMetricsPort, err := devstack.FreePort()
	if err != nil {
		return s, err
	}
	s.APIMetricsURL = "http://127.0.0.1:" + strconv.Itoa(apiMetricsPort) + "/metrics"
	s.apiAddr = "127.0.0.1:" + strconv.Itoa(apiPort)
	s.APIURL = "http://" + s.apiAddr
	s.WorkerMetricsURL = "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	common := map[string]string{
		config.TemporalAddress.Name:   s.TemporalAddress(),
		config.TemporalNamespace.Name: s.Namespace(),
		config.DatabaseURL.Name:       s.DatabaseURL,
		config.LogLevel.Name:          "debug",
		config.APIAddr.Name:           s.apiAddr,
		config.WorkerMetricsAddr.Name: "127.0.0.1:" + strconv.Itoa(metricsPort),
		config.APIMetricsAddr.Name:    "127.0.0.1:" + strconv.Itoa(apiMetricsPort),
		// Tests poll; throttling would make them flaky. A test of 429 sets it.
		config.APIRateLimit.Name: "0",
		// A query to a deal whose worker is gone must fail well inside a
		// test's patience.
		config.APIRequestTimeout.Name: "5s",
	}
	if s.Cluster != nil {
		common = merge(common, s.Cluster.ClientEnv())
	}
	if ui := s.TemporalUIURL(); ui != "" {
		common[config.TemporalUIURL.Name] = ui
	}
	s.workerEnv = devstack.AppEnv(merge(common, opts.Env, opts.WorkerEnv))
	s.apiEnv = devstack.AppEnv(merge(common, opts.Env, opts.APIEnv))

	// Worker and API migrate the same database at start-up; an advisory lock
	// orders them, so they may start together.
	wg = sync.WaitGroup{}
	errs = make([]error, 2)
	wg.Go(func() { errs[0] = s.StartWorker(ctx) })
	wg.Go(func() { errs[1] = s.StartAPI(ctx) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	if s.RepToken, err = devstack.CreateUser(ctx, s.Bin.API, s.apiEnv, "rep@example.com", "E2E Rep", "rep"); err != nil {
		return s, err
	}
	if s.ManagerToken, err = devstack.CreateUser(ctx, s.Bin.API, s.apiEnv, "manager@example.com", "E2E Manager", "manager"); err != nil {
		return s, err
	}
	s.logf("stack ready in %s: api %s, temporal %s, files in %s", time.Since(start).Round(100*time.Millisecond), s.APIURL, s.TemporalAddress(), dir)
	return s, nil
}

// freshDatabase creates a database with a new name on the server admin points
// at and returns its URL; Close drops it.
func (s *Stack) freshDatabase(ctx context.Context, admin string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", errors.New("DATABASE_URL is not a URL")
	}
	name := uniqueName("dealflow_e2e_")
	if err := pgcluster.CreateDatabase(ctx, admin, name); err != nil {
		return "", err
	}
	s.dropOnClose(admin, name)
	u.Path = "/" + name
	return u.String(), nil
}

func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// dropOnClose has Close drop database name on admin's server.
func (s *Stack) dropOnClose(admin, name string) {
	s.dropDB = append(s.dropDB, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	})
}

// startCluster starts the Temporal cluster of Options.Cluster on the stack's
// PostgreSQL server, in databases named for this stack (so that parallel
// test packages on DATABASE_URL's server do not meet), which Close drops.
func (s *Stack) startCluster(ctx context.Context, o devstack.ClusterOptions) error {
	o.Binaries = s.serverBin
	o.Dir = filepath.Join(s.Dir, "temporal")
	o.Headless = true
	if admin := os.Getenv(config.DatabaseURL.Name); admin != "" {
		o.PostgresURL = admin
		o.PersistenceDB, o.VisibilityDB = uniqueName("temporal_e2e_"), uniqueName("temporal_visibility_e2e_")
		s.dropOnClose(admin, o.PersistenceDB)
		s.dropOnClose(admin, o.VisibilityDB)
	} else {
		o.PostgresURL = s.PG.URL("postgres")
	}
	c, err := devstack.StartCluster(ctx, o)
	if err != nil {
		return err
	}
	s.Cluster = c
	return nil
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.progress, "e2e: "+format+"\n", args...)
}

// TemporalAddress is the frontend's host:port.
func (s *Stack) TemporalAddress() string {
	if s.Cluster != nil {
		return s.Cluster.Address()
	}
	return s.Temporal.Address()
}

// Namespace is the Temporal namespace of the deals.
func (s *Stack) Namespace() string {
	if s.Cluster != nil {
		return s.Cluster.Namespace()
	}
	return s.Temporal.Namespace()
}

// TemporalUIURL is the dev server's Web UI (http://localhost:PORT, no
// slash at the end) with Options.TemporalUI, else "".
func (s *Stack) TemporalUIURL() string {
	if s.Temporal == nil {
		return ""
	}
	base, _, _ := strings.Cut(s.Temporal.UIURL(), "/namespaces/")
	return base
}

// Worker returns the current worker process (nil while stopped).
func (s *Stack) Worker() *devstack.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.worker
}

// API returns the current API process (nil while stopped).
func (s *Stack) API() *devstack.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.api
}

// WorkerEnv and APIEnv return the environment the processes run with.
func (s *Stack) WorkerEnv() []string { return slicesClone(s.workerEnv) }
func (s *Stack) APIEnv() []string    { return slicesClone(s.apiEnv) }

func slicesClone(in []string) []string { return append([]string(nil), in...) }

// StartWorker starts a worker (after StopWorker, or a crash) and waits until
// it polls the deal task queue.
func (s *Stack) StartWorker(ctx context.Context) error {
	s.mu.Lock()
	if s.worker != nil && !s.worker.Exited() {
		s.mu.Unlock()
		return errors.New("e2e: the worker is already running")
	}
	s.mu.Unlock()
	p, err := devstack.StartProcess(devstack.ProcessSpec{
		Name: "worker", Path: s.Bin.Worker, Env: s.workerEnv, LogFile: filepath.Join(s.Dir, "worker.log"),
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.worker = p
	s.mu.Unlock()
	c, err := s.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return devstack.WaitWorkerPolling(ctx, c, p)
}

// StopWorker stops the worker gracefully (SIGTERM) and waits for it to exit.
func (s *Stack) StopWorker() error {
	s.mu.Lock()
	p := s.worker
	s.worker = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Stop(0)
}

// StartAPI starts the API (after StopAPI, or a crash) on the same address and
// waits for /readyz.
func (s *Stack) StartAPI(ctx context.Context) error {
	s.mu.Lock()
	if s.api != nil && !s.api.Exited() {
		s.mu.Unlock()
		return errors.New("e2e: the API is already running")
	}
	s.mu.Unlock()
	p, err := devstack.StartProcess(devstack.ProcessSpec{
		Name: "api", Path: s.Bin.API, Env: s.apiEnv, LogFile: filepath.Join(s.Dir, "api.log"),
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.api = p
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return devstack.WaitAPIReady(ctx, s.APIURL, p)
}

// StopAPI stops the API gracefully (SIGTERM) and waits for it to exit.
func (s *Stack) StopAPI() error {
	s.mu.Lock()
	p := s.api
	s.api = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Stop(0)
}

// Client dials the stack's Temporal namespace; the caller closes it.
// On a cluster, it sends the API key the worker and the API are given
// (Options.Env's TEMPORAL_API_KEY), if any.
func (s *Stack) Client(ctx context.Context) (client.Client, error) {
	if s.Cluster != nil {
		o := s.Cluster.ClientOptions()
		if key := s.opts.Env[config.TemporalAPIKey.Name]; key != "" {
			o.Credentials = client.NewAPIKeyStaticCredentials(key)
		}
		return client.DialContext(ctx, o)
	}
	return s.Temporal.Dial(ctx)
}

// CreateUser runs `api users create` and returns the new user's token.
func (s *Stack) CreateUser(ctx context.Context, email, name, role string) (string, error) {
	return devstack.CreateUser(ctx, s.Bin.API, s.apiEnv, email, name, role)
}

// CLI runs the built Temporal CLI against the stack's server and namespace,
// e.g. s.CLI(ctx, "workflow", "list", "--query", `SalesStage="Qualify"`),
// and returns its standard output.
func (s *Stack) CLI(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--address", s.TemporalAddress(), "--namespace", s.Namespace())
	cmd := exec.CommandContext(ctx, s.TemporalCLI, args...)
	var env map[string]string
	if s.Cluster != nil {
		env = s.Cluster.ClientEnv() // the CLI reads the same TEMPORAL_TLS_* variables
	}
	cmd.Env = devstack.AppEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("temporal %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// Do sends a request to the API with a bearer token (none when empty) and a
// JSON body (none when nil; a []byte is sent as it is), and returns the
// response with its body read.
func (s *Stack) Do(ctx context.Context, method, path, token string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// Logs returns the last n lines of every process's log, for failure messages.
func (s *Stack) Logs(n int) string {
	var b strings.Builder
	for _, name := range []string{"api", "worker", "temporal"} {
		log := filepath.Join(s.Dir, name+".log")
		if errs := errorLines(log, n); errs != "" {
			fmt.Fprintf(&b, "---- %s.log: its ERROR lines (first %d)\n%s\n", name, n, errs)
		}
		fmt.Fprintf(&b, "---- %s.log (last %d lines)\n%s\n", name, n, devstack.LogTail(log, n))
	}
	if s.Cluster != nil {
		for _, p := range s.Cluster.Processes() {
			log := filepath.Join(s.Cluster.LogDir(), p.Name()+".log")
			fmt.Fprintf(&b, "---- temporal %s (last %d lines)\n%s\n", p.Name(), n, devstack.LogTail(log, n))
		}
	}
	if s.PG != nil {
		fmt.Fprintf(&b, "---- postgres log (last %d lines)\n%s\n", n, devstack.LogTail(filepath.Join(s.PG.Dir, "log"), n))
	}
	return b.String()
}

// errorLines returns the first n lines of a JSON log at level ERROR: a
// failure's cause is often long before the tail (the log goes with the
// stack's folder).
func errorLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, `"level":"ERROR"`) {
			if out = append(out, strings.TrimRight(line, "\n")); len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// Close stops every process and removes the stack's folder (kept when
// DEALFLOW_E2E_KEEP is set, to read the logs).
func (s *Stack) Close() error { return s.close(os.Getenv("DEALFLOW_E2E_KEEP") == "") }

func (s *Stack) close(remove bool) error {
	var errs []error
	if err := s.StopAPI(); err != nil {
		errs = append(errs, err)
	}
	if err := s.StopWorker(); err != nil {
		errs = append(errs, err)
	}
	if s.Temporal != nil && s.Temporal.Process() != nil {
		if err := s.Temporal.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Cluster != nil {
		if err := s.Cluster.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.PG != nil {
		if err := s.PG.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, drop := range s.dropDB {
		if err := drop(); err != nil {
			errs = append(errs, err)
		}
	}
	if remove {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Main is a TestMain body: it starts the stack into *stack, runs the tests,
// prints the logs' tails when a test failed, stops everything and returns the
// exit code. When the stack cannot start, it prints why and returns 1, so the
// package fails rather than skips.
func Main(m *testing.M, opts Options, stack **Stack) int {
	s, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		if s != nil {
			fmt.Fprint(os.Stderr, s.Logs(40))
		}
		return 1
	}
	*stack = s
	code := m.Run()
	if code != 0 {
		fmt.Fprint(os.Stderr, s.Logs(40))
	}
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stop the stack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
