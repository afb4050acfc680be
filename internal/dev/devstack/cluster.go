package devstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"dealflow/internal/dev/certs"
	"dealflow/workflows"
)

// ClusterOptions configure a Temporal cluster started by StartCluster.
type ClusterOptions struct {
	// Binaries are the server's programs (EnsureTemporalServer). Required.
	Binaries ServerBinaries
	// Dir is the cluster's data folder: certificates in certs/, the
	// generated server and UI configuration in config/ and ui/, logs in
	// logs/. A second start on the same Dir reuses the certificates.
	// Required.
	Dir string
	// PostgresURL is an admin connection URL of the PostgreSQL server that
	// keeps the cluster's state, postgres://USER[:PASSWORD]@HOST:PORT[/DB]
	// (DB, default postgres, is where the databases are created from).
	// Required.
	PostgresURL string
	// PersistenceDB and VisibilityDB are created when missing and reused
	// otherwise; default "temporal" and "temporal_visibility". Clusters on
	// one PostgreSQL at once (parallel test packages) need names of their own.
	PersistenceDB, VisibilityDB string
	// FrontendPort is the frontend's gRPC port on 127.0.0.1, below 32768
	// (the server keeps it in a smallint column); 0 picks a free one. Every
	// other service gets free ports below 32768.
	FrontendPort int
	// HistoryProcesses is how many history processes share the shards;
	// default 2.
	HistoryProcesses int
	// UIPort is the Web UI's port; 0 picks a free one. Headless runs no UI.
	UIPort   int
	Headless bool
	// UICodecEndpoint is the codec server the Web UI decodes payloads
	// with (its codec.endpoint); empty for none.
	UICodecEndpoint string
	// Namespace is created at start; default "default".
	Namespace string
	// SearchAttributes are registered at start; nil means
	// workflows.SearchAttributes.
	SearchAttributes []SearchAttribute
	// JWKSURIs turn on authorization (global.authorization: the default
	// JWT claim mapper and authorizer): a client of the frontend must send
	// `Authorization: Bearer <JWT>` (the SDK's API-key credentials) signed
	// with a key of these JWK sets (ES256 or RS256, with a kid), with a
	// "sub" claim and a "permissions" claim such as ["default:write"] or
	// ["temporal-system:admin"]. The server fetches the sets at start and
	// every JWKSRefreshInterval (default 1 minute): serve them before
	// StartCluster. The cluster's own calls go through the internal
	// frontend with the internode certificate and need no token.
	JWKSURIs            []string
	JWKSRefreshInterval time.Duration
	// ClientCertOptional lets clients connect over TLS without a
	// certificate, as API-key clients do. Meant for JWKSURIs: without them
	// it makes the frontend open to every local process.
	ClientCertOptional bool
	// LogLevel of the servers; default warn.
	LogLevel string
	// StartTimeout bounds the wait for every service; default 3 minutes.
	StartTimeout time.Duration
}

// Cluster is a Temporal cluster on this machine started by StartCluster:
// frontend, matching, HistoryProcesses history processes sharing the shards
// and the internal worker service, each an OS process of its own joined by
// the server's membership on loopback ports, on PostgreSQL, with the Web UI.
//
// Clients reach the frontend over TLS with a client certificate signed by the
// cluster's CA (mTLS). The services talk mTLS among themselves with an
// internode certificate from a second CA, and the internal worker reaches
// the frontend API through an internal frontend (in the worker's process)
// that only internode certificates can reach: it needs no authorization
// token when JWKSURIs are set.
type Cluster struct {
	opts  ClusterOptions
	pg    *url.URL
	tls   clusterTLS
	ports clusterPorts
	procs []*ClusterProcess // frontend, matching, history…, worker
	ui    *ClusterProcess
}

// ClusterProcess is one process of a Cluster, which can be killed, stopped
// and started again on the same ports and configuration.
type ClusterProcess struct {
	name   string
	spec   ProcessSpec
	health []healthCheck
	c      *Cluster

	mu   sync.Mutex
	proc *Process
}

// healthCheck is a gRPC health check of one service of a process.
type healthCheck struct {
	port    int
	service string
	tls     *tls.Config
}

// StartCluster starts a cluster and returns once every service reports
// serving, the namespace exists and every search attribute is registered.
// It prepares the databases first. On failure it stops what it started and
// the error carries the tail of the failing process's log.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	if err := c.start(ctx); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	return c, nil
}

func newCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Binaries.Server == "" || opts.Binaries.SQLTool == "" || opts.Dir == "" || opts.PostgresURL == "" {
		return nil, errors.New("Binaries, Dir and PostgresURL are required")
	}
	if !opts.Headless && opts.Binaries.UIServer == "" {
		return nil, errors.New("Binaries.UIServer is required unless Headless")
	}
	if opts.FrontendPort >= 1<<15 {
		// The server keeps each service's gRPC port in a smallint column.
		return nil, fmt.Errorf("FrontendPort %d: the server accepts ports below 32768 only (FreePort's are above)", opts.FrontendPort)
	}
	pg, err := url.Parse(opts.PostgresURL)
	if err != nil || pg.Host == "" || pg.User == nil {
		return nil, errors.New("PostgresURL: want postgres://USER[:PASSWORD]@HOST:PORT[/DB]")
	}
	if pg.Port() == "" {
		pg.Host = net.JoinHostPort(pg.Hostname(), "5432")
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	setDefault(&opts.PersistenceDB, "temporal")
	setDefault(&opts.VisibilityDB, "temporal_visibility")
	setDefault(&opts.Namespace, "default")
	setDefault(&opts.LogLevel, "warn")
	if opts.HistoryProcesses <= 0 {
		opts.HistoryProcesses = 2
	}
	if opts.SearchAttributes == nil {
		opts.SearchAttributes = workflows.SearchAttributes
	}
	if opts.JWKSRefreshInterval <= 0 {
		opts.JWKSRefreshInterval = time.Minute
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	c := &Cluster{opts: opts, pg: pg}
	if c.tls, err = makeClusterTLS(filepath.Join(opts.Dir, "certs")); err != nil {
		return nil, err
	}
	if c.ports, err = pickPorts(opts); err != nil {
		return nil, err
	}
	return c, nil
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// start prepares the databases, writes the configuration, starts every
// process, waits for them, then registers the namespace and the search
// attributes and starts the UI.
func (c *Cluster) start(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(c.opts.Dir, "logs"), 0o755); err != nil {
		return err
	}
	if err := c.prepareDatabases(ctx); err != nil {
		return err
	}
	if err := c.writeConfigs(); err != nil {
		return err
	}
	// Every service writes the cluster metadata at start when the
	// database has none or the configuration changed it (the frontend's
	// address is part of it), and all but one then fail on the concurrent
	// write: matching, the quickest to serve, writes it alone first.
	if err := c.Matching().launch(); err != nil {
		return err
	}
	if err := c.Matching().waitReady(ctx); err != nil {
		return err
	}
	rest := slices.DeleteFunc(slices.Clone(c.procs), func(p *ClusterProcess) bool { return p == c.Matching() })
	for _, p := range rest {
		if err := p.launch(); err != nil {
			return err
		}
	}
	if err := c.waitAll(ctx, rest); err != nil {
		return err
	}
	if err := c.register(ctx); err != nil {
		return err
	}
	if err := c.waitPublic(ctx); err != nil {
		return err
	}
	if c.ui == nil {
		return nil
	}
	if err := c.ui.launch(); err != nil {
		return err
	}
	return c.ui.waitReady(ctx)
}

// writeConfigs writes the dynamic configuration, one server configuration
// per process (the history processes differ in their ports) and the UI's,
// and sets up the processes.
func (c *Cluster) writeConfigs() error {
	dir := filepath.Join(c.opts.Dir, "config")
	if err := writeYAML(c.dynamicConfigPath(), clusterDynamicConfig()); err != nil {
		return err
	}
	internode := c.internodeTLS()
	add := func(name string, history, maxConns int, services []string, health ...healthCheck) error {
		cfg := filepath.Join(dir, name+".yaml")
		if err := writeYAML(cfg, c.serverConfig(history, maxConns)); err != nil {
			return err
		}
		args := []string{"--config-file", cfg}
		if len(c.opts.JWKSURIs) == 0 {
			args = append(args, "--allow-no-auth")
		}
		args = append(args, "start")
		for _, s := range services {
			args = append(args, "--service="+s)
		}
		c.procs = append(c.procs, &ClusterProcess{name: name, c: c, health: health, spec: ProcessSpec{
			Name:    name,
			Path:    c.opts.Binaries.Server,
			Args:    args,
			Env:     withoutEnv(os.Environ(), "TEMPORAL_"),
			LogFile: filepath.Join(c.opts.Dir, "logs", name+".log"),
		}})
		return nil
	}
	const (
		frontendHealth = "temporal.api.workflowservice.v1.WorkflowService"
		matchingHealth = "temporal.api.workflowservice.v1.MatchingService"
		historyHealth  = "temporal.api.workflowservice.v1.HistoryService"
		workerHealth   = "temporal.api.workflowservice.v1.WorkerService"
	)
	err := errors.Join(
		add("frontend", -1, 4, []string{"frontend"}, healthCheck{c.ports.frontend.GRPC, frontendHealth, c.clientTLS()}),
		add("matching", -1, 4, []string{"matching"}, healthCheck{c.ports.matching.GRPC, matchingHealth, internode}),
	)
	for i, h := range c.ports.history {
		err = errors.Join(err, add("history-"+strconv.Itoa(i+1), i, 8, []string{"history"}, healthCheck{h.GRPC, historyHealth, internode}))
	}
	err = errors.Join(err, add("worker", -1, 4, []string{"worker", "internal-frontend"},
		healthCheck{c.ports.worker.GRPC, workerHealth, internode},
		healthCheck{c.ports.internalFrontend.GRPC, frontendHealth, internode}))
	if err != nil || c.opts.Headless {
		return err
	}
	uiDir := filepath.Join(c.opts.Dir, "ui")
	if err := writeYAML(filepath.Join(uiDir, "development.yaml"), c.uiConfig()); err != nil {
		return err
	}
	c.ui = &ClusterProcess{name: "ui", c: c, spec: ProcessSpec{
		Name:    "ui",
		Path:    c.opts.Binaries.UIServer,
		Args:    []string{"--root", uiDir, "--config", ".", "--env", "development", "start"},
		Env:     withoutEnv(os.Environ(), "TEMPORAL_"),
		LogFile: filepath.Join(c.opts.Dir, "logs", "ui.log"),
	}}
	return nil
}

// waitAll waits until every process of ps is ready, all at once.
func (c *Cluster) waitAll(ctx context.Context, ps []*ClusterProcess) error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = p.waitReady(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// register creates the namespace and adds the missing search attributes
// through the internal frontend (as the system: this works with
// authorization on), then waits until the services' namespace caches (2 s
// refresh) have them.
func (c *Cluster) register(ctx context.Context) error {
	admin, err := c.AdminDial(ctx)
	if err != nil {
		return err
	}
	defer admin.Close()
	ns := c.opts.Namespace
	_, err = admin.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        ns,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	added := err == nil
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", ns, err)
	}
	resp, err := admin.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, sa := range c.opts.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[sa.Name]; ok {
			continue
		}
		t, err := indexedValueType(sa.Type)
		if err != nil {
			return err
		}
		missing[sa.Name] = t
	}
	if len(missing) > 0 {
		if _, err := admin.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace:        ns,
			SearchAttributes: missing,
		}); err != nil {
			return fmt.Errorf("add search attributes %s: %w", strings.Join(slices.Sorted(maps.Keys(missing)), ", "), err)
		}
		added = true
	}
	if added {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
	return nil
}

// indexedValueType maps a search attribute type name (workflows.SearchAttributes) to the API's enum.
func indexedValueType(name string) (enumspb.IndexedValueType, error) {
	upper := strings.ToUpper(name)
	if name == "KeywordList" {
		upper = "KEYWORD_LIST"
	}
	v, ok := enumspb.IndexedValueType_value["INDEXED_VALUE_TYPE_"+upper]
	if !ok {
		return 0, fmt.Errorf("unknown search attribute type %q", name)
	}
	return enumspb.IndexedValueType(v), nil
}

// waitPublic waits until the public frontend answers: with mTLS only, until
// a client with the generated certificate sees the namespace and the search
// attributes (Check); with authorization on, until its health check passes
// (every other call needs a token).
func (c *Cluster) waitPublic(ctx context.Context) error {
	var last error
	for {
		if len(c.opts.JWKSURIs) > 0 {
			last = c.procs[0].healthy(ctx)
		} else {
			last = c.Check(ctx)
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("frontend %s not ready: %v", c.Address(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Check asks the frontend, as a client with the generated certificate,
// whether the namespace exists and every search attribute is registered.
// With JWKSURIs it needs credentials: use ClientOptions.
func (c *Cluster) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := c.Dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return checkNamespace(ctx, cl, c.opts.Namespace, c.opts.SearchAttributes)
}

// clientTLS is the TLS configuration of a client of the frontend: the
// cluster's CA and the generated client certificate.
func (c *Cluster) clientTLS() *tls.Config {
	return c.tlsConfig(c.tls.ca, c.tls.client)
}

// internodeTLS is what the services present to each other.
func (c *Cluster) internodeTLS() *tls.Config {
	return c.tlsConfig(c.tls.internodeCA, c.tls.internode)
}

func (c *Cluster) tlsConfig(ca *certs.Authority, pair certs.Pair) *tls.Config {
	return &tls.Config{
		RootCAs:    ca.Pool(),
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
		// Read at each handshake, so a test can swap the files.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := pair.Certificate()
			return &cert, err
		},
	}
}

// ClientOptions are the SDK options of a client of the cluster's namespace
// with the generated client certificate, logging nothing. With JWKSURIs,
// add Credentials (client.NewAPIKeyStaticCredentials(jwt)).
func (c *Cluster) ClientOptions() client.Options {
	return client.Options{
		HostPort:          c.Address(),
		Namespace:         c.opts.Namespace,
		ConnectionOptions: client.ConnectionOptions{TLS: c.clientTLS()},
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
}

// Dial returns a client of ClientOptions.
func (c *Cluster) Dial(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, c.ClientOptions())
}

// AdminDial returns a client of the internal frontend with the internode
// certificate: the system's admin role, whatever the authorization.
func (c *Cluster) AdminDial(ctx context.Context) (client.Client, error) {
	o := c.ClientOptions()
	o.HostPort = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports.internalFrontend.GRPC))
	o.ConnectionOptions.TLS = c.internodeTLS()
	return client.DialContext(ctx, o)
}

// Address returns the frontend's host:port.
func (c *Cluster) Address() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports.frontend.GRPC))
}

// Namespace returns the namespace created at start.
func (c *Cluster) Namespace() string { return c.opts.Namespace }

// Certs are the files a client of the cluster needs.
type Certs struct {
	// CA is the certificate of the authority that signs the frontend's
	// certificate and the client's.
	CA string
	// ClientCert and ClientKey are the generated client certificate.
	ClientCert, ClientKey string
	// ServerName is the name to verify the frontend's certificate against.
	ServerName string
}

// Certs returns the client's certificate files.
func (c *Cluster) Certs() Certs {
	return Certs{CA: c.tls.ca.CertFile, ClientCert: c.tls.client.CertFile, ClientKey: c.tls.client.KeyFile, ServerName: serverName}
}

// ClientEnv returns the environment that points the temporal CLI and our
// binaries at the cluster with the generated client certificate.
func (c *Cluster) ClientEnv() map[string]string {
	return map[string]string{
		"TEMPORAL_ADDRESS":                 c.Address(),
		"TEMPORAL_NAMESPACE":               c.opts.Namespace,
		"TEMPORAL_TLS":                     "true",
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    c.tls.client.CertFile,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     c.tls.client.KeyFile,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": c.tls.ca.CertFile,
		"TEMPORAL_TLS_SERVER_NAME":         serverName,
	}
}

// UIURL returns the Web UI's list of the namespace's workflows, or "" when
// headless. With JWKSURIs the UI shows nothing: it sends no token.
func (c *Cluster) UIURL() string {
	if c.ui == nil {
		return ""
	}
	return fmt.Sprintf("http://localhost:%d/namespaces/%s/workflows", c.ports.ui, c.opts.Namespace)
}

// LogDir returns the folder of the processes' logs (NAME.log).
func (c *Cluster) LogDir() string { return filepath.Join(c.opts.Dir, "logs") }

// Processes returns the server processes: frontend, matching, history-1…,
// worker (the internal worker and the internal frontend); not the UI.
func (c *Cluster) Processes() []*ClusterProcess { return c.procs }

// Frontend returns the frontend's process.
func (c *Cluster) Frontend() *ClusterProcess { return c.procs[0] }

// Matching returns the matching service's process.
func (c *Cluster) Matching() *ClusterProcess { return c.procs[1] }

// History returns history process i (0-based).
func (c *Cluster) History(i int) *ClusterProcess { return c.procs[2+i] }

// Worker returns the process of the internal worker and internal frontend.
func (c *Cluster) Worker() *ClusterProcess { return c.procs[len(c.procs)-1] }

// UI returns the Web UI server's process, or nil when headless.
func (c *Cluster) UI() *ClusterProcess { return c.ui }

// Stop stops every process (SIGTERM, then SIGKILL after DefaultGrace) and
// returns once they are all gone: the UI, the frontend and the worker
// first, then matching and history, whom the worker's shutdown still calls
// (stopped at once, it retried them for seconds).
func (c *Cluster) Stop() error {
	var errs []error
	stop := func(ps ...*ClusterProcess) {
		e := make([]error, len(ps))
		var wg sync.WaitGroup
		for i, p := range ps {
			if p != nil {
				wg.Go(func() { e[i] = p.Stop() })
			}
		}
		wg.Wait()
		errs = append(errs, e...)
	}
	n := len(c.procs)
	if n == 0 {
		stop(c.ui)
		return errors.Join(errs...)
	}
	stop(c.ui, c.Frontend(), c.Worker())
	stop(c.procs[1 : n-1]...)
	return errors.Join(errs...)
}

// Name returns the process's name: frontend, matching, history-N, worker, ui.
func (p *ClusterProcess) Name() string { return p.name }

// Process returns the running (or last) OS process, or nil before the first start.
func (p *ClusterProcess) Process() *Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc
}

// Kill kills the process at once, as a crash would.
func (p *ClusterProcess) Kill() error {
	if proc := p.Process(); proc != nil {
		return proc.Kill()
	}
	return nil
}

// Stop stops the process gracefully (see Process.Stop).
func (p *ClusterProcess) Stop() error {
	if proc := p.Process(); proc != nil {
		return proc.Stop(0)
	}
	return nil
}

// Start starts the process again after Kill or Stop, on the same ports and
// configuration, and waits until it reports serving (a history process:
// once it holds its shards, and 5 s more, as the server waits).
func (p *ClusterProcess) Start(ctx context.Context) error {
	if proc := p.Process(); proc != nil && !proc.Exited() {
		return fmt.Errorf("start %s: already running", p.name)
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// The killed process's ports can take a moment to be released.
		if err = p.launch(); err != nil {
			return err
		}
		if err = p.waitReady(ctx); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

// Restart stops the process gracefully and starts it again.
func (p *ClusterProcess) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return fmt.Errorf("restart %s: %w", p.name, err)
	}
	return p.Start(ctx)
}

func (p *ClusterProcess) launch() error {
	proc, err := StartProcess(p.spec)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	return nil
}

// waitReady polls the process's health until it passes, the process exits
// or ctx ends.
func (p *ClusterProcess) waitReady(ctx context.Context) error {
	proc := p.Process()
	if p == p.c.ui {
		if err := WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.c.ports.ui), proc.Done()); err != nil {
			return fmt.Errorf("%w\n%s", err, describe(proc))
		}
		return nil
	}
	var last error
	for {
		if last = p.healthy(ctx); last == nil {
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("%s exited during start-up: %s", p.name, describe(proc))
		case <-ctx.Done():
			return fmt.Errorf("%s not serving: %v\n%s", p.name, last, describe(proc))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// healthy runs the process's gRPC health checks.
func (p *ClusterProcess) healthy(ctx context.Context) error {
	for _, h := range p.health {
		if err := h.check(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (h healthCheck) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(h.tls)))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: h.service})
	if err != nil {
		return fmt.Errorf("health of %s on %s: %w", h.service, addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s on %s: %s", h.service, addr, resp.GetStatus())
	}
	return nil
}

// describe is proc.Describe with each log line cut short: the server logs
// JSON lines whose stack traces run to thousands of characters.
func describe(proc *Process) string {
	lines := strings.Split(proc.Describe(15), "\n")
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
