// Command stack runs the whole dealflow stack on this machine (`make up`): it
// builds the Temporal CLI and the worker and api binaries into .dev/bin,
// starts the Temporal dev server (state in .dev/temporal.db, so deals survive
// a restart), PostgreSQL (DATABASE_URL, or a cluster in .dev/pg), the worker
// and the API, creates a demo rep and manager, and prints where everything
// is. Ctrl-C (or SIGTERM) stops every process it started; when one of them
// dies, it prints that process's log and stops the rest.
//
// With -temporal=cluster it runs a Temporal cluster instead of the dev server
// (devstack.StartCluster: frontend, matching, two history processes and the
// internal worker as separate processes, on the same PostgreSQL, the
// frontend on mTLS, certificates and logs in .dev/cluster), and the worker
// and API reach it through the TEMPORAL_* variables alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"dealflow/internal/codec"
	"dealflow/internal/config"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/dev/pgcluster"
)

type flags struct {
	temporal                     string // dev or cluster
	temporalPort, uiPort, pgPort int
	apiAddr, metricsAddr         string
	apiMetricsAddr               string
	codecAddr                    string
	dataDir                      string
	timeout                      time.Duration
	buildCLI, buildServer        bool
}

// The -temporal modes.
const (
	modeDev     = "dev"
	modeCluster = "cluster"
)

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("stack", flag.ContinueOnError)
	fs.StringVar(&f.temporal, "temporal", modeDev, "which Temporal to run: dev (the CLI's dev server, SQLite file) or cluster (a multi-process cluster on PostgreSQL with mTLS, built from tools/server)")
	fs.IntVar(&f.temporalPort, "temporal-port", 7233, "Temporal frontend (gRPC) port on 127.0.0.1")
	fs.IntVar(&f.uiPort, "ui-port", 8233, "Temporal Web UI port")
	fs.IntVar(&f.pgPort, "pg-port", 5433, "port of the PostgreSQL cluster in the data folder (another free port when taken); unused when DATABASE_URL is set")
	fs.StringVar(&f.apiAddr, "api-addr", config.APIAddr.Default, "API listen address (API_ADDR)")
	fs.StringVar(&f.metricsAddr, "worker-metrics-addr", "127.0.0.1:9090", "worker /metrics listen address (WORKER_METRICS_ADDR); empty disables")
	fs.StringVar(&f.apiMetricsAddr, "api-metrics-addr", config.APIMetricsAddr.Default, "API /metrics listen address (API_METRICS_ADDR); empty disables")
	fs.StringVar(&f.codecAddr, "codec-addr", "127.0.0.1:8089", "listen address of the API's codec server (DEALFLOW_CODEC_ADDR), which the Temporal Web UI decodes the deals' encrypted payloads through; empty disables")
	fs.StringVar(&f.dataDir, "data", "", "data folder for binaries, logs, the Temporal DB and the PostgreSQL cluster (default .dev in the repo root)")
	fs.DurationVar(&f.timeout, "start-timeout", 30*time.Minute, "how long building and starting may take (a cold build of the Temporal CLI takes ~13 min on 2 cores)")
	fs.BoolVar(&f.buildCLI, "build-cli", false, "only build the Temporal CLI into the data folder's bin/ (when missing or stale), then exit")
	fs.BoolVar(&f.buildServer, "build-server", false, "only build the Temporal server, its schema tool and the Web UI server into the data folder's bin/ (when missing or stale), then exit; with -build-cli, the CLI first")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: go run ./cmd/stack [flags]   (make up ARGS='flags')\n\n")
		fmt.Fprintf(out, "Builds and runs the whole dealflow stack until Ctrl-C: Temporal dev server with Web UI\n")
		fmt.Fprintf(out, "(or with -temporal=cluster a Temporal cluster on PostgreSQL with mTLS and the Web UI),\n")
		fmt.Fprintf(out, "PostgreSQL (DATABASE_URL when set, else a cluster in the data folder), worker and API.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(out, "\nEnvironment: DATABASE_URL (use this database instead of the local cluster), LOG_LEVEL,\n")
		fmt.Fprintf(out, "the SMTP_* variables, API_RATE_LIMIT, API_REQUEST_TIMEOUT are passed to the worker and API.\n")
		fmt.Fprintf(out, "Payloads in Temporal are encrypted with DEALFLOW_CODEC_KEY (and _KEY_ID, _OLD_KEYS, _TOKEN) when set, else\n")
		fmt.Fprintf(out, "with a dev key made on the first run and kept in the data folder's %s.\n", codecFileName)
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.temporal != modeDev && f.temporal != modeCluster {
		fmt.Fprintf(fs.Output(), "-temporal: want dev or cluster, not %q\n", f.temporal)
		return f, errors.New("bad -temporal")
	}
	return f, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	// `make up` runs us under `go run`: should it be killed, stop too
	// rather than leave the stack running unowned.
	dieWithParent()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if f.buildCLI || f.buildServer {
		os.Exit(buildTools(ctx, f, os.Stdout))
	}
	os.Exit(run(ctx, f, os.Stdout))
}

// dieWithParent asks the kernel for SIGTERM when our parent exits.
func dieWithParent() {
	ppid := os.Getppid()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	if os.Getppid() != ppid { // the parent died before the request took
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}

// stack is what run started, stopped in reverse order.
type stack struct {
	out      io.Writer
	temporal *devstack.Temporal // -temporal=dev
	cluster  *devstack.Cluster  // -temporal=cluster
	pg       *pgcluster.Cluster
	worker   *devstack.Process
	api      *devstack.Process
	codec    codecSetup
}

// paths are the stack's folders, under the data folder.
type paths struct{ root, data, bin, logs string }

func run(ctx context.Context, f flags, out io.Writer) (code int) {
	say := func(format string, args ...any) { fmt.Fprintf(out, "stack: "+format+"\n", args...) }
	fail := func(err error) int {
		fmt.Fprintf(out, "stack: %v\n", err)
		return 1
	}
	began := time.Now()
	p, err := preparePaths(f)
	if err != nil {
		return fail(err)
	}
	apiPort, err := checkPorts(f)
	if err != nil {
		return fail(err)
	}
	ctx0 := ctx
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	st := &stack{out: out}
	if st.codec, err = prepareCodec(p.data, f.codecAddr, f.uiPort); err != nil {
		return fail(err)
	}
	defer func() {
		if err := st.stop(); err != nil {
			say("%v", err)
			if code == 0 {
				code = 1
			}
			return
		}
		say("stopped; the data stays in %s for the next run", rel(p.root, p.data))
	}()

	say("building the Temporal CLI (if needed) and the worker and api into %s", rel(p.root, p.bin))
	bins, databaseURL, pgDescribed, err := st.startInfra(ctx, f, p)
	if err != nil {
		return fail(err)
	}
	say("Temporal %s on %s, PostgreSQL: %s", f.temporal, st.temporalAddress(), pgDescribed)

	var uiURL string
	if st.cluster != nil {
		uiURL = st.cluster.UIURL()
	} else {
		uiURL = st.temporal.UIURL()
	}
	env := appEnv(f, st.temporalEnv(), st.codec.env, databaseURL, uiURL)
	apiURL := "http://" + net.JoinHostPort("localhost", strconv.Itoa(apiPort))
	rep, manager, err := st.startApp(ctx, bins, env, p.logs, apiURL)
	if err != nil {
		return fail(err)
	}
	cancel()

	s := summary{
		took:     time.Since(began),
		apiURL:   apiURL,
		temporal: st.temporalAddress(),
		pg:       pgDescribed,
		logs:     rel(p.root, p.logs) + "/{temporal,worker,api}.log",
		cli:      rel(p.root, filepath.Join(p.bin, "temporal")),
		rep:      rep,
		manager:  manager,
		codec:    st.codec,
	}
	s.codecSource = strings.ReplaceAll(st.codec.source, st.codec.file, rel(p.root, st.codec.file))
	s.uiURL = uiURL
	if st.cluster != nil {
		s.logs = rel(p.root, p.logs) + "/{worker,api}.log, " + rel(p.root, st.cluster.LogDir()) + "/{frontend,matching,history-1,history-2,worker,ui}.log"
		s.cluster = clusterLines(p.root, st.cluster, s.cli)
	}
	printSummary(out, s)
	return st.wait(ctx0)
}

// preparePaths finds the repository and makes the data folder's bin/ and logs/.
func preparePaths(f flags) (paths, error) {
	root, err := devstack.RepoRoot()
	if err != nil {
		return paths{}, err
	}
	data := f.dataDir
	if data == "" {
		data = devstack.DevDir(root)
	}
	if data, err = filepath.Abs(data); err != nil {
		return paths{}, err
	}
	p := paths{root: root, data: data, bin: filepath.Join(data, "bin"), logs: filepath.Join(data, "logs")}
	for _, d := range []string{p.bin, p.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return paths{}, err
		}
	}
	return p, nil
}

// checkPorts refuses to start when a port the stack listens on is taken, and
// returns the API's port.
func checkPorts(f flags) (apiPort int, err error) {
	apiPort, err = portOf(f.apiAddr)
	if err != nil {
		return 0, fmt.Errorf("-api-addr: %w", err)
	}
	busy := map[string]int{"-temporal-port": f.temporalPort, "-ui-port": f.uiPort, "-api-addr": apiPort}
	if f.codecAddr != "" {
		p, err := portOf(f.codecAddr)
		if err != nil {
			return 0, fmt.Errorf("-codec-addr: %w", err)
		}
		busy["-codec-addr"] = p
	}
	if f.metricsAddr != "" {
		p, err := portOf(f.metricsAddr)
		if err != nil {
			return 0, fmt.Errorf("-worker-metrics-addr: %w", err)
		}
		busy["-worker-metrics-addr"] = p
	}
	if f.apiMetricsAddr != "" {
		p, err := portOf(f.apiMetricsAddr)
		if err != nil {
			return 0, fmt.Errorf("-api-metrics-addr: %w", err)
		}
		busy["-api-metrics-addr"] = p
	}
	for flagName, port := range busy {
		if !devstack.PortFree(port) {
			return 0, fmt.Errorf("port %d is in use (is the stack already running?); pick another with %s", port, flagName)
		}
	}
	return apiPort, nil
}

// startInfra builds the app and the Temporal CLI (and with -temporal=cluster
// the server) and starts Temporal and PostgreSQL, all at once: the cluster,
// whose state is in PostgreSQL, once PostgreSQL is up.
func (st *stack) startInfra(ctx context.Context, f flags, p paths) (bins devstack.AppBinaries, databaseURL, pgDescribed string, err error) {
	cli := filepath.Join(p.bin, "temporal")
	progress := prefixed{st.out, "stack: "}
	var (
		wg                    sync.WaitGroup
		buildErr, tErr, pgErr error
		pgDone                = make(chan struct{})
	)
	wg.Go(func() {
		bins, buildErr = devstack.BuildApp(ctx, p.root, p.bin)
	})
	wg.Go(func() {
		if tErr = devstack.EnsureTemporalCLI(ctx, p.root, cli, progress); tErr != nil {
			return
		}
		if f.temporal == modeCluster {
			tErr = st.startCluster(ctx, f, p, pgDone, &databaseURL, &pgErr)
			return
		}
		rotate(filepath.Join(p.logs, "temporal.log"))
		st.temporal, tErr = devstack.StartTemporal(ctx, devstack.TemporalOptions{
			CLI:     cli,
			Port:    f.temporalPort,
			UIPort:  f.uiPort,
			DBFile:  filepath.Join(p.data, "temporal.db"),
			LogFile: filepath.Join(p.logs, "temporal.log"),
			// The UI asks the API's codec server to decrypt what it shows.
			UICodecEndpoint: st.codec.uiEndpoint,
		})
	})
	wg.Go(func() {
		defer close(pgDone)
		databaseURL, pgDescribed, pgErr = st.startPostgres(ctx, p.data, f.pgPort)
	})
	wg.Wait()
	return bins, databaseURL, pgDescribed, errors.Join(buildErr, tErr, pgErr)
}

// startCluster builds the server and, once PostgreSQL is up (pgDone; its
// outcome in databaseURL and pgErr), starts the cluster on the same server
// with its data in data/cluster. Its databases are temporal and
// temporal_visibility, created on the first run and reused after.
func (st *stack) startCluster(ctx context.Context, f flags, p paths, pgDone <-chan struct{}, databaseURL *string, pgErr *error) error {
	bins, err := devstack.EnsureTemporalServer(ctx, p.root, p.bin, prefixed{st.out, "stack: "})
	if err != nil {
		return err
	}
	select {
	case <-pgDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	if *pgErr != nil {
		return nil // reported by the caller
	}
	dir := filepath.Join(p.data, "cluster")
	for _, name := range []string{"frontend", "matching", "history-1", "history-2", "worker", "ui", "schema"} {
		rotate(filepath.Join(dir, "logs", name+".log"))
	}
	fmt.Fprintf(st.out, "stack: starting the Temporal cluster (databases temporal and temporal_visibility, logs in %s)\n", rel(p.root, filepath.Join(dir, "logs")))
	st.cluster, err = devstack.StartCluster(ctx, devstack.ClusterOptions{
		Binaries:        bins,
		Dir:             dir,
		PostgresURL:     *databaseURL,
		FrontendPort:    f.temporalPort,
		UIPort:          f.uiPort,
		UICodecEndpoint: st.codec.uiEndpoint,
	})
	return err
}

// temporalAddress is the frontend's address.
func (st *stack) temporalAddress() string {
	if st.cluster != nil {
		return st.cluster.Address()
	}
	return st.temporal.Address()
}

// temporalEnv is what a client needs to reach Temporal: the TEMPORAL_*
// variables of the temporal CLI and of our binaries.
func (st *stack) temporalEnv() map[string]string {
	if st.cluster != nil {
		return st.cluster.ClientEnv()
	}
	return map[string]string{
		config.TemporalAddress.Name:   st.temporal.Address(),
		config.TemporalNamespace.Name: st.temporal.Namespace(),
	}
}

// dialTemporal returns a client of the namespace.
func (st *stack) dialTemporal(ctx context.Context) (client.Client, error) {
	if st.cluster != nil {
		return st.cluster.Dial(ctx)
	}
	return st.temporal.Dial(ctx)
}

// appEnv is the environment of the worker and the API: temporal (the
// TEMPORAL_* variables), codec (the payload keys and the codec server) and
// ours, with the Temporal Web UI at uiURL.
func appEnv(f flags, temporal, codec map[string]string, databaseURL, uiURL string) []string {
	// The web app links managers to the Web UI's own address.
	uiBase, _, _ := strings.Cut(uiURL, "/namespaces/")
	vars := map[string]string{
		config.DatabaseURL.Name:       databaseURL,
		config.APIAddr.Name:           f.apiAddr,
		config.WorkerMetricsAddr.Name: f.metricsAddr,
		config.APIMetricsAddr.Name:    f.apiMetricsAddr,
		config.TemporalUIURL.Name:     uiBase,
	}
	maps.Copy(vars, temporal)
	maps.Copy(vars, codec)
	// The knobs a developer may set in the shell reach the app as they are.
	for _, v := range []config.Var{config.LogLevel, config.APIRateLimit, config.APIRequestTimeout, config.SMTPAddr, config.SMTPFrom,
		config.SMTPUsername, config.SMTPPassword, config.SMTPAuth, config.SMTPTLS, config.SMTPCAFile, config.SMTPTimeout} {
		if s, ok := os.LookupEnv(v.Name); ok {
			vars[v.Name] = s
		}
	}
	return devstack.AppEnv(vars)
}

// startApp starts the worker and the API and creates the demo users.
func (st *stack) startApp(ctx context.Context, bins devstack.AppBinaries, env []string, logDir, apiURL string) (rep, manager string, err error) {
	var werr, aerr error
	var wg sync.WaitGroup
	wg.Go(func() { st.worker, werr = st.startWorker(ctx, bins.Worker, env, logDir) })
	wg.Go(func() { st.api, aerr = st.startAPI(ctx, bins.API, env, logDir, apiURL) })
	wg.Wait()
	if err := errors.Join(werr, aerr); err != nil {
		return "", "", err
	}
	if rep, err = devstack.CreateUser(ctx, bins.API, env, "rep@example.com", "Demo Rep", "rep"); err != nil {
		return "", "", err
	}
	manager, err = devstack.CreateUser(ctx, bins.API, env, "manager@example.com", "Demo Manager", "manager")
	return rep, manager, err
}

// buildTools builds the Temporal CLI (-build-cli) and the server's binaries
// (-build-server) when missing or stale (make test).
func buildTools(ctx context.Context, f flags, out io.Writer) int {
	root, err := devstack.RepoRoot()
	if err == nil {
		bin := filepath.Dir(devstack.TemporalCLIPath(root))
		if f.dataDir != "" {
			bin = filepath.Join(f.dataDir, "bin")
		}
		ctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		if f.buildCLI {
			err = devstack.EnsureTemporalCLI(ctx, root, filepath.Join(bin, "temporal"), prefixed{out, "stack: "})
		}
		if err == nil && f.buildServer {
			_, err = devstack.EnsureTemporalServer(ctx, root, bin, prefixed{out, "stack: "})
		}
	}
	if err != nil {
		fmt.Fprintf(out, "stack: %v\n", err)
		return 1
	}
	return 0
}

// startPostgres returns the app's database URL: DATABASE_URL when set, else
// the `dealflow` database of the cluster in data/pg (created on the first
// run, reused after).
func (st *stack) startPostgres(ctx context.Context, data string, port int) (dbURL, described string, err error) {
	if u, ok := os.LookupEnv(config.DatabaseURL.Name); ok && u != "" {
		return u, redact(u) + " (DATABASE_URL)", nil
	}
	if port != 0 && !devstack.PortFree(port) {
		port = 0 // the cluster may already run there (adopted), or another server does
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(data, "pg"), Port: port})
	if err != nil {
		return "", "", err
	}
	st.pg = c
	// If this process is killed outright, the cluster still stops.
	if err := c.StopOnExit(""); err != nil {
		return "", "", err
	}
	if err := c.CreateDatabase(ctx, "dealflow"); err != nil {
		return "", "", err
	}
	return c.URL("dealflow"), c.URL("dealflow") + " (cluster in " + c.Dir + ", log " + filepath.Join(c.Dir, "log") + ")", nil
}

func (st *stack) startWorker(ctx context.Context, bin string, env []string, logDir string) (*devstack.Process, error) {
	log := filepath.Join(logDir, "worker.log")
	rotate(log)
	p, err := devstack.StartProcess(devstack.ProcessSpec{Name: "worker", Path: bin, Env: env, LogFile: log})
	if err != nil {
		return nil, err
	}
	c, err := st.dialTemporal(ctx)
	if err != nil {
		return p, err
	}
	defer c.Close()
	return p, devstack.WaitWorkerPolling(ctx, c, p)
}

func (st *stack) startAPI(ctx context.Context, bin string, env []string, logDir, apiURL string) (*devstack.Process, error) {
	log := filepath.Join(logDir, "api.log")
	rotate(log)
	p, err := devstack.StartProcess(devstack.ProcessSpec{Name: "api", Path: bin, Env: env, LogFile: log})
	if err != nil {
		return nil, err
	}
	return p, devstack.WaitAPIReady(ctx, apiURL, p)
}

// wait runs until a signal arrives (exit 0) or a process dies (exit 1).
func (st *stack) wait(ctx context.Context) int {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(st.out, "\nstack: stopping (API, worker, Temporal, PostgreSQL)…")
			return 0
		case <-st.api.Done():
			return st.died(st.api)
		case <-st.worker.Done():
			return st.died(st.worker)
		case <-st.temporalDone():
			return st.died(st.temporal.Process())
		case <-tick.C:
			if p := st.clusterDied(); p != nil {
				return st.died(p)
			}
			if st.pg != nil && !st.pg.Running() {
				fmt.Fprintf(st.out, "stack: PostgreSQL stopped unexpectedly; last lines of %s:\n%s\nstack: stopping everything\n",
					filepath.Join(st.pg.Dir, "log"), devstack.LogTail(filepath.Join(st.pg.Dir, "log"), 30))
				return 1
			}
		}
	}
}

// temporalDone is closed when the dev server exits; never with the cluster.
func (st *stack) temporalDone() <-chan struct{} {
	if st.temporal == nil {
		return nil
	}
	return st.temporal.Process().Done()
}

// clusterDied returns a process of the cluster that exited on its own, or nil.
func (st *stack) clusterDied() *devstack.Process {
	if st.cluster == nil {
		return nil
	}
	for _, p := range append(st.cluster.Processes(), st.cluster.UI()) {
		if p != nil && p.Process() != nil && p.Process().Unexpected() {
			return p.Process()
		}
	}
	return nil
}

func (st *stack) died(p *devstack.Process) int {
	fmt.Fprintf(st.out, "stack: %s\nstack: stopping everything\n", p.Describe(40))
	return 1
}

// stop stops what was started, the API first so that no request reaches a
// stopped worker or database.
func (st *stack) stop() error {
	var errs []error
	for _, p := range []*devstack.Process{st.api, st.worker} {
		if p != nil {
			if err := p.Stop(0); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.temporal != nil && st.temporal.Process() != nil {
		if err := st.temporal.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if st.cluster != nil {
		if err := st.cluster.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if st.pg != nil {
		if err := st.pg.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type summary struct {
	took                                   time.Duration
	apiURL, uiURL, temporal, pg, logs, cli string
	rep, manager                           string
	cluster                                string // clusterLines, or ""
	codec                                  codecSetup
	codecSource                            string // where the keys came from, paths relative
}

// clusterLines tell where the cluster's certificates are and how to point
// the temporal CLI at it: the variables our binaries read too.
func clusterLines(root string, c *devstack.Cluster, cli string) string {
	env := c.ClientEnv()
	var b strings.Builder
	fmt.Fprintf(&b, "  Cluster      frontend, matching, history-1, history-2, worker (+ internal frontend): one process each;\n")
	fmt.Fprintf(&b, "               clients need TLS and a certificate: CA %s, client %s and %s\n\n",
		rel(root, c.Certs().CA), rel(root, c.Certs().ClientCert), rel(root, c.Certs().ClientKey))
	fmt.Fprintf(&b, "The temporal CLI (and our worker, api, starter) against the cluster:\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "  export %s=%s\n", k, env[k])
	}
	fmt.Fprintf(&b, "  %s operator search-attribute list\n", cli)
	return b.String()
}

func printSummary(out io.Writer, s summary) {
	var codecInfo, codecExport, codecTry string
	if s.codec.keyID != "" {
		codecInfo = fmt.Sprintf("  Encryption   payloads in Temporal: %s, key %s (keys: %s)\n", codec.Cipher, s.codec.keyID, s.codecSource)
	}
	if s.codec.url != "" {
		codecInfo += fmt.Sprintf("  Codec server %s   (the Temporal UI decrypts through it; CLI: bearer token below)\n", s.codec.url)
		codecExport = fmt.Sprintf("  export DEALFLOW_CODEC_TOKEN=%s   # the codec server's token\n", s.codec.env[config.CodecToken.Name])
		codecTry = fmt.Sprintf("  %s workflow show -w lead/acme-1 --codec-endpoint %s --codec-auth \"Bearer $DEALFLOW_CODEC_TOKEN\"\n", s.cli, s.codec.url)
	}
	fmt.Fprintf(out, `
dealflow is up (%s). Ctrl-C stops everything.

  Web app      %s/   (sign in with the tokens below)
  API          %s   (OpenAPI: %s/openapi.yaml)
  Temporal UI  %s
  Temporal     %s, namespace default
  PostgreSQL   %s
  Logs         %s
%s%s
  export REP_TOKEN=%s       # rep@example.com, role rep
  export MANAGER_TOKEN=%s   # manager@example.com, role manager
%s
Try:
  curl -s -X POST %s/v1/leads -H "Authorization: Bearer $REP_TOKEN" -H 'Content-Type: application/json' \
    -d '{"id":"acme-1","topic":"40 widgets","firstName":"Ada","lastName":"Lovelace","company":"Acme","email":"ada@example.com"}'
  curl -s %s/v1/leads/acme-1 -H "Authorization: Bearer $REP_TOKEN"
  %s workflow list --query 'SalesStage="Qualify"'
%s
`, s.took.Round(100*time.Millisecond), s.apiURL, s.apiURL, s.apiURL, s.uiURL, s.temporal, s.pg, s.logs, codecInfo, s.cluster,
		s.rep, s.manager, codecExport, s.apiURL, s.apiURL, s.cli, codecTry)
}

// portOf returns the port of a host:port.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// redact hides a password in a database URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// rel shortens path to be relative to root when it is inside it.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// rotate keeps the previous run's log as NAME.prev.log.
func rotate(log string) {
	_ = os.Rename(log, strings.TrimSuffix(log, ".log")+".prev.log")
}

// prefixed writes each line with a prefix.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}
