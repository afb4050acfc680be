package deploy

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"dealflow/internal/config"
	"dealflow/workflows"
)

// composeSecrets stand for the .env file an operator writes next to
// docker-compose.yml (its header says how): the file requires them.
var composeSecrets = map[string]string{
	config.CodecKeyID.Name: "2026-12",
	config.CodecKey.Name:   "q80ZKxqEGcdZ3/6B7DVgq2L4TWnWsYBWJ8nWf3XQJ0c=",
	config.CodecToken.Name: "5f0c9d4e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b",
}

// loadProject parses ../docker-compose.yml the way `docker compose` does,
// with no environment of our own but the secrets it requires, so only the
// file's values count.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadProjectWith(composeSecrets)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func loadProjectWith(env map[string]string) (*types.Project, error) {
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join("..", "docker-compose.yml")},
		cli.WithWorkingDirectory(".."), cli.WithEnv(kv))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return s
}

// env returns a service's environment as a plain map.
func env(s types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			m[k] = *v
		}
	}
	return m
}

// script returns everything a one-shot job runs, entrypoint and command.
func script(s types.ServiceConfig) string {
	return strings.Join(append(slices.Clone(s.Entrypoint), s.Command...), " ")
}

func TestServicesExist(t *testing.T) {
	p := loadProject(t)
	images := map[string]string{
		"postgresql":      "postgres:16",
		"temporal-schema": "temporalio/admin-tools:",
		"temporal":        "temporalio/server:",
		"temporal-setup":  "temporalio/admin-tools:",
		"temporal-ui":     "temporalio/ui:",
		"worker":          "dealflow:",
		"api":             "dealflow:",
	}
	for name, image := range images {
		s := service(t, p, name)
		if !strings.HasPrefix(s.Image, image) {
			t.Errorf("service %s: image %q, want %s…", name, s.Image, image)
		}
	}
}

func TestTemporalOnPostgres(t *testing.T) {
	p := loadProject(t)
	schema := script(service(t, p, "temporal-schema"))
	for _, want := range []string{"temporal-sql-tool", "--plugin postgres12", "--db temporal setup-schema", "--db temporal_visibility setup-schema",
		"postgresql/v12/temporal/versioned", "postgresql/v12/visibility/versioned"} {
		if !strings.Contains(schema, want) {
			t.Errorf("temporal-schema does not run %q:\n%s", want, schema)
		}
	}

	srv := service(t, p, "temporal")
	e := env(srv)
	if e["DB"] != "postgres12" {
		t.Errorf("temporal: DB=%q, want postgres12", e["DB"])
	}
	if _, err := p.GetService(e["POSTGRES_SEEDS"]); err != nil {
		t.Errorf("temporal: POSTGRES_SEEDS=%q is not a service", e["POSTGRES_SEEDS"])
	}
	if !publishes(srv, 7233, 7233) {
		t.Errorf("temporal does not publish 7233: %+v", srv.Ports)
	}
	if dep, ok := srv.DependsOn["temporal-schema"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("temporal does not wait for temporal-schema to complete: %+v", srv.DependsOn)
	}
	// The dynamic config file the server is pointed at is a file we ship.
	cfg := e["DYNAMIC_CONFIG_FILE_PATH"]
	found := false
	for _, v := range srv.Volumes {
		if v.Type == types.VolumeTypeBind && strings.HasPrefix("/etc/temporal/"+cfg, v.Target+"/") {
			host := filepath.Join(v.Source, strings.TrimPrefix("/etc/temporal/"+cfg, v.Target+"/"))
			if _, err := os.Stat(host); err != nil {
				t.Errorf("temporal: dynamic config %s: %v", host, err)
			}
			found = true
		}
	}
	if !found {
		t.Errorf("temporal: DYNAMIC_CONFIG_FILE_PATH=%q is not under a bind mount: %+v", cfg, srv.Volumes)
	}

	ui := service(t, p, "temporal-ui")
	if !publishes(ui, 8233, 8080) {
		t.Errorf("temporal-ui does not publish its 8080 on host port 8233: %+v", ui.Ports)
	}
}

var createdSA = regexp.MustCompile(`--name\s+(\S+)\s+--type\s+(\S+)`)

func TestSetupRegistersEverySearchAttribute(t *testing.T) {
	p := loadProject(t)
	setup := service(t, p, "temporal-setup")
	sh := script(setup)
	if !strings.Contains(sh, "temporal operator namespace create --namespace default") {
		t.Errorf("temporal-setup does not create the default namespace:\n%s", sh)
	}
	if !strings.Contains(sh, "temporal operator search-attribute create --namespace default") {
		t.Fatalf("temporal-setup does not run `temporal operator search-attribute create --namespace default`:\n%s", sh)
	}
	got := map[string]string{}
	for _, m := range createdSA.FindAllStringSubmatch(sh, -1) {
		got[m[1]] = m[2]
	}
	want := map[string]string{}
	for _, sa := range workflows.SearchAttributes {
		want[sa.Name] = sa.Type
		if got[sa.Name] != sa.Type {
			t.Errorf("temporal-setup registers %s as %q, the deal needs %s", sa.Name, got[sa.Name], sa.Type)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("temporal-setup registers %s, which workflows.SearchAttributes does not list", name)
		}
	}
	if dep, ok := setup.DependsOn["temporal"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("temporal-setup does not wait for a healthy temporal: %+v", setup.DependsOn)
	}
	if env(setup)["TEMPORAL_ADDRESS"] != "temporal:7233" {
		t.Errorf("temporal-setup: TEMPORAL_ADDRESS=%q", env(setup)["TEMPORAL_ADDRESS"])
	}
}

// publishes reports whether s maps container port target to host port host.
func publishes(s types.ServiceConfig, host, target int) bool {
	for _, p := range s.Ports {
		if int(p.Target) == target && p.Published == strconv.Itoa(host) {
			return true
		}
	}
	return false
}

// What each binary must be told in compose: where Temporal and PostgreSQL
// are (their defaults name 127.0.0.1, wrong in a container), and for the API
// where to listen.
var required = map[string][]config.Var{
	"worker": {config.TemporalAddress, config.TemporalNamespace, config.DatabaseURL},
	"api":    {config.TemporalAddress, config.TemporalNamespace, config.DatabaseURL, config.APIAddr},
}

func TestAppEnvironment(t *testing.T) {
	p := loadProject(t)
	declared := map[string]bool{}
	for _, v := range config.All {
		declared[v.Name] = true
	}
	for name, req := range required {
		s := service(t, p, name)
		e := env(s)
		for k := range e {
			if !declared[k] {
				t.Errorf("%s: environment variable %s is not one internal/config declares", name, k)
			}
		}
		for _, v := range req {
			if e[v.Name] == "" {
				t.Errorf("%s: required variable %s is not set", name, v.Name)
			}
		}
		for _, v := range config.All {
			if strings.Contains(v.Default, "127.0.0.1") || strings.Contains(v.Default, "localhost:") {
				if _, ok := e[v.Name]; !ok && v != config.APIAddr && v != config.WorkerMetricsAddr && v != config.APIMetricsAddr {
					t.Errorf("%s: %s defaults to %q, which points into the container itself; set it", name, v.Name, v.Default)
				}
			}
		}

		// The values pass the same validation the binaries apply.
		r := config.NewReaderFrom(e)
		tc := r.Temporal()
		r.PostgresURL(config.DatabaseURL)
		r.LogLevel(config.LogLevel)
		r.Addr(config.APIAddr, true)
		r.Addr(config.WorkerMetricsAddr, false)
		r.Addr(config.APIMetricsAddr, false)
		r.Duration(config.APIRequestTimeout)
		r.Float(config.APIRateLimit)
		r.Addr(config.SMTPAddr, false)
		r.Duration(config.WorkerStopTimeout)
		r.CodecServer(tc.Encryption, "")
		if err := r.Err(); err != nil {
			t.Errorf("%s: %v", name, err)
		}

		// They point at the services of this file.
		host, port, _ := net.SplitHostPort(e[config.TemporalAddress.Name])
		if host != "temporal" || port != "7233" {
			t.Errorf("%s: TEMPORAL_ADDRESS=%q, want temporal:7233", name, e[config.TemporalAddress.Name])
		}
		if u, err := url.Parse(e[config.DatabaseURL.Name]); err != nil || u.Hostname() != "postgresql" || u.Path != "/dealflow" {
			t.Errorf("%s: DATABASE_URL=%q, want the dealflow database on the postgresql service", name, e[config.DatabaseURL.Name])
		}
		for _, dep := range []string{"postgresql", "temporal-setup"} {
			if _, ok := s.DependsOn[dep]; !ok {
				t.Errorf("%s does not depend on %s", name, dep)
			}
		}
		if got := strings.Join(s.Command, " "); got != "/app/"+name {
			t.Errorf("%s: command %q, want /app/%s", name, got, name)
		}
	}
}

func TestAPIPublishesItsPort(t *testing.T) {
	p := loadProject(t)
	api := service(t, p, "api")
	_, port, err := net.SplitHostPort(env(api)[config.APIAddr.Name])
	if err != nil {
		t.Fatalf("api: API_ADDR: %v", err)
	}
	n, _ := strconv.Atoi(port)
	if !publishes(api, n, n) {
		t.Errorf("api listens on %s (API_ADDR) but publishes %+v", port, api.Ports)
	}
}

func TestOneImageFromTheDockerfile(t *testing.T) {
	p := loadProject(t)
	worker, api := service(t, p, "worker"), service(t, p, "api")
	if worker.Image != api.Image {
		t.Errorf("worker image %q and api image %q differ", worker.Image, api.Image)
	}
	if worker.Build == nil && api.Build == nil {
		t.Fatal("neither worker nor api is built")
	}
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"FROM golang:1.26 AS build", "./worker ./api", "/app/"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestConfigAllIsComplete guards config.All, which this test and the dev
// stack trust: every Var declared in internal/config must be listed in it.
func TestConfigAllIsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "internal", "config", "config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, v := range config.All {
		listed[v.Name] = true
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		lit, ok := node.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "Var" || len(lit.Elts) == 0 {
			return true
		}
		if s, ok := lit.Elts[0].(*ast.BasicLit); ok && s.Kind == token.STRING {
			n++
			name, _ := strconv.Unquote(s.Value)
			if !listed[name] {
				t.Errorf("internal/config declares %s but config.All does not list it", name)
			}
		}
		return true
	})
	if n != len(config.All) {
		t.Errorf("internal/config declares %d variables, config.All lists %d", n, len(config.All))
	}
}

// TestHealthchecks: the images are distroless (no shell, no curl), so each
// app service checks itself with its own healthcheck subcommand.
func TestHealthchecks(t *testing.T) {
	p := loadProject(t)
	for _, name := range []string{"worker", "api"} {
		s := service(t, p, name)
		hc := s.HealthCheck
		if hc == nil || hc.Disable {
			t.Errorf("%s has no healthcheck", name)
			continue
		}
		want := []string{"CMD", "/app/" + name, "healthcheck"}
		if !slices.Equal(hc.Test, want) {
			t.Errorf("%s: healthcheck runs %q, want %q", name, hc.Test, want)
		}
		if hc.Timeout == nil || time.Duration(*hc.Timeout) <= 5*time.Second {
			t.Errorf("%s: healthcheck timeout %v does not leave the probe its 5 s", name, hc.Timeout)
		}
	}
}

// TestWorkerStopGrace: Docker's SIGKILL comes after stop_grace_period; the
// worker must have finished its in-flight tasks (WORKER_STOP_TIMEOUT) and
// exited by then.
func TestWorkerStopGrace(t *testing.T) {
	p := loadProject(t)
	w := service(t, p, "worker")
	r := config.NewReaderFrom(env(w))
	stop := r.Duration(config.WorkerStopTimeout)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if w.StopGracePeriod == nil {
		t.Fatalf("worker has no stop_grace_period (Docker's default 10 s is less than WORKER_STOP_TIMEOUT %s)", stop)
	}
	if grace := time.Duration(*w.StopGracePeriod); grace < stop+5*time.Second {
		t.Errorf("worker: stop_grace_period %s leaves less than 5 s beyond WORKER_STOP_TIMEOUT %s", grace, stop)
	}
}

// TestOneTemporalVersion: the server, and the admin tools that create its
// schema, are the version the cluster mode builds (tools/server).
func TestOneTemporalVersion(t *testing.T) {
	p := loadProject(t)
	const version = "1.32.0"
	for name, image := range map[string]string{
		"temporal": "temporalio/server:" + version, "temporal-schema": "temporalio/admin-tools:" + version,
		"temporal-setup": "temporalio/admin-tools:" + version,
	} {
		if got := service(t, p, name).Image; got != image {
			t.Errorf("%s: image %s, want %s", name, got, image)
		}
	}
}

// TestPayloadKeysRequired: compose does not start without the keys (no
// silent fallback to plain payloads), and says which variable is missing.
func TestPayloadKeysRequired(t *testing.T) {
	_, err := loadProjectWith(nil)
	if err == nil {
		t.Fatal("docker-compose.yml loads without payload keys")
	}
	for _, v := range []config.Var{config.CodecKeyID, config.CodecKey, config.CodecToken} {
		if !strings.Contains(err.Error(), "required variable "+v.Name+" is missing") {
			t.Errorf("the error does not name %s: %v", v.Name, err)
		}
	}
}

// TestPayloadEncryption: the worker and the api encrypt with the same keys
// (old ones included), the api serves the codec server on a published port,
// and the Web UI decrypts through it, from the origin the api allows.
func TestPayloadEncryption(t *testing.T) {
	secrets := map[string]string{config.CodecOldKeys.Name: "2026-06:" + composeSecrets[config.CodecKey.Name]}
	for k, v := range composeSecrets {
		secrets[k] = v
	}
	secrets[config.CodecKey.Name] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // 32 bytes, not the old one
	p, err := loadProjectWith(secrets)
	if err != nil {
		t.Fatal(err)
	}
	worker, api := env(service(t, p, "worker")), env(service(t, p, "api"))
	for _, v := range []config.Var{config.CodecKeyID, config.CodecKey, config.CodecOldKeys} {
		if worker[v.Name] == "" || worker[v.Name] != api[v.Name] || worker[v.Name] != secrets[v.Name] {
			t.Errorf("%s: worker %q, api %q, want both %q from the environment", v.Name, worker[v.Name], api[v.Name], secrets[v.Name])
		}
	}
	for name, e := range map[string]map[string]string{"worker": worker, "api": api} {
		r := config.NewReaderFrom(e)
		keys := r.Temporal().Encryption
		if err := r.Err(); err != nil || keys == nil || keys.CurrentKeyID() != "2026-12" || len(keys.KeyIDs()) != 2 {
			t.Errorf("%s: keys %v, %v", name, keys, err)
		}
	}

	r := config.NewReaderFrom(api)
	cs := r.CodecServer(r.Temporal().Encryption, "")
	if err := r.Err(); err != nil || cs.Addr == "" || cs.Token != secrets[config.CodecToken.Name] {
		t.Fatalf("api codec server %+v, %v", cs, err)
	}
	port, err := portOf(cs.Addr)
	if err != nil || !publishes(service(t, p, "api"), port, port) {
		t.Errorf("api: the codec server listens on %s but the api publishes %+v", cs.Addr, service(t, p, "api").Ports)
	}
	ui := service(t, p, "temporal-ui")
	want := "http://localhost:" + strconv.Itoa(port) + "/t/" + secrets[config.CodecToken.Name]
	if got := env(ui)["TEMPORAL_CODEC_ENDPOINT"]; got != want {
		t.Errorf("temporal-ui: TEMPORAL_CODEC_ENDPOINT=%q, want %q", got, want)
	}
	origin := "http://localhost:8233" // the UI's published port (TestTemporalOnPostgres)
	if !slices.Contains(cs.Origins, origin) {
		t.Errorf("api: the codec server allows origins %q, not the UI's %s", cs.Origins, origin)
	}
}

func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
