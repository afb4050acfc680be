// Package cluster runs dealflow on a Temporal cluster (separate frontend,
// matching, two history and worker processes on PostgreSQL) secured as a
// production one is: the frontend requires a client certificate of the
// cluster's CA (mTLS) and a JWT API key checked against a JWKS this test
// serves (the server's default claim mapper and authorizer). The worker and
// the API reach it through the TEMPORAL_* environment alone.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/config"
	"dealflow/internal/dev/certs"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/tests/e2e"
)

var (
	stack *e2e.Stack
	keys  *issuer
	// appKey is the API key of the worker and the API: write access to the
	// default namespace, valid for a day.
	appKey string
)

func TestMain(m *testing.M) {
	var err error
	if keys, err = newIssuer("dealflow-test"); err == nil {
		err = keys.serve()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: JWT issuer: %v\n", err)
		os.Exit(1)
	}
	appKey = keys.token(nil, "dealflow-app", []string{"default:write"}, 24*time.Hour)
	code := e2e.Main(m, e2e.Options{
		Cluster: &devstack.ClusterOptions{JWKSURIs: []string{keys.url}},
		Env:     map[string]string{config.TemporalAPIKey.Name: appKey},
	}, &stack)
	keys.close()
	os.Exit(code)
}

// The README's curl session takes a deal from lead to paid invoice on the
// cluster, as it does on the dev server.
func TestReadmeCurlSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := stack.RunReadmeCurlSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range e2e.ReadmeSessionWants {
		if !strings.Contains(string(out), want) {
			t.Errorf("the session's output lacks %s:\n%s", want, out)
		}
	}
}

// describe dials the frontend with tlsCfg and apiKey (none when empty) and
// asks for the namespace: the first call that needs authorization.
func describe(ctx context.Context, tlsCfg *tls.Config, apiKey string) error {
	o := stack.Cluster.ClientOptions()
	o.ConnectionOptions.TLS = tlsCfg
	if apiKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(apiKey)
	}
	c, err := client.DialContext(ctx, o)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: stack.Namespace()})
	return err
}

// clientTLS is a client's TLS configuration trusting the cluster's CA, with
// the given certificate (none when pair is nil).
func clientTLS(t *testing.T, pair *certs.Pair) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(stack.Cluster.Certs().CA)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{ServerName: stack.Cluster.Certs().ServerName, MinVersion: tls.VersionTLS12}
	cfg.RootCAs = x509Pool(t, ca)
	if pair != nil {
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// A client needs a certificate of the cluster's CA: without one, or with one
// of another CA, it is refused even with a valid API key; our worker says
// so in one line and exits.
func TestClientCertificateRequired(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	own := certs.Pair{CertFile: stack.Cluster.Certs().ClientCert, KeyFile: stack.Cluster.Certs().ClientKey}
	if err := describe(ctx, clientTLS(t, &own), appKey); err != nil {
		t.Fatalf("the cluster's own client certificate with a valid key is refused: %v", err)
	}

	dir := t.TempDir()
	other, err := certs.LoadOrCreateCA(dir, "other-ca", "Another CA")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue(dir, "client", certs.Leaf{CommonName: "dealflow client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":         clientTLS(t, nil),
		"a certificate from another CA": clientTLS(t, &foreign),
	} {
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		err := describe(cctx, cfg, appKey)
		ccancel()
		if err == nil {
			t.Errorf("%s: the cluster let the client in", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
	// Plaintext (no TLS, so no key either: the SDK sends a key only over TLS).
	o := stack.Cluster.ClientOptions()
	o.ConnectionOptions.TLS = nil
	if c, err := client.DialContext(ctx, o); err == nil {
		c.Close()
		t.Error("a plaintext client was let in")
	}

	out, code := runWorker(t, map[string]string{
		config.TemporalTLSClientCert.Name: foreign.CertFile,
		config.TemporalTLSClientKey.Name:  foreign.KeyFile,
	})
	if code == 0 {
		t.Fatalf("the worker with another CA's certificate exited 0:\n%s", out)
	}
	key, err := os.ReadFile(foreign.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	checkOneClearLine(t, out, []string{"refused the credentials", config.TemporalTLSClientCert.Name}, string(key), appKey)
}

// The cluster authorizes the JWT sent as the API key: the app's key works,
// a key signed by another key, an expired one, one without permissions on
// the namespace and none at all are refused with PermissionDenied; our
// worker given a refused key says so in one line and exits.
func TestAPIKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	own := certs.Pair{CertFile: stack.Cluster.Certs().ClientCert, KeyFile: stack.Cluster.Certs().ClientKey}
	tlsCfg := clientTLS(t, &own)
	if err := describe(ctx, tlsCfg, keys.token(t, "reader", []string{"default:read"}, time.Hour)); err != nil {
		t.Fatalf("a valid reader key is refused: %v", err)
	}
	impostor, err := newIssuer(keys.kid) // same key id, another key
	if err != nil {
		t.Fatal(err)
	}
	expired := keys.token(t, "dealflow-app", []string{"default:write"}, -time.Minute)
	refused := map[string]string{
		"signed by another key":      impostor.token(t, "dealflow-app", []string{"default:write"}, time.Hour),
		"expired":                    expired,
		"no permission on namespace": keys.token(t, "other-team", []string{"other:write"}, time.Hour),
		"no key":                     "",
		"not a JWT":                  "not-a-jwt",
	}
	for name, key := range refused {
		err := describe(ctx, tlsCfg, key)
		var denied *serviceerror.PermissionDenied
		if !errors.As(err, &denied) {
			t.Errorf("%s: want PermissionDenied, got %v", name, err)
		}
	}

	out, code := runWorker(t, map[string]string{config.TemporalAPIKey.Name: expired})
	if code == 0 {
		t.Fatalf("the worker with an expired key exited 0:\n%s", out)
	}
	checkOneClearLine(t, out, []string{"refused the credentials", config.TemporalAPIKey.Name}, expired, appKey)
}

// runWorker runs the worker binary with the stack's worker environment
// changed by over (no metrics port), and returns what it printed and its
// exit code once it has exited (it must, within a minute).
func runWorker(t *testing.T, over map[string]string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := append(stack.WorkerEnv(), config.WorkerMetricsAddr.Name+"=")
	for k, v := range over {
		env = append(env, k+"="+v) // the last of a name wins
	}
	cmd := exec.CommandContext(ctx, stack.Bin.Worker)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the worker did not exit within a minute:\n%s", out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// checkOneClearLine checks a failed start's output: one error line (the
// worker logs JSON lines; the error is the last), naming every want, with no
// stack trace and none of the secrets.
func checkOneClearLine(t *testing.T, out string, want []string, secrets ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("the worker's last line does not name %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
		t.Errorf("the worker printed a stack trace:\n%s", out)
	}
	for _, s := range secrets {
		for _, part := range strings.Split(strings.TrimSpace(s), "\n") {
			if len(part) > 8 && strings.Contains(out, part) {
				t.Errorf("the worker's output holds a secret (%.12s…):\n%s", part, out)
			}
		}
	}
	t.Logf("worker output:\n%s", out)
}

func x509Pool(t *testing.T, pem []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the cluster's CA file holds no certificate")
	}
	return pool
}

// SIGTERM to the worker in the middle of a run of deals lets its in-flight
// tasks finish; on this server (1.32, polls completed on shutdown) not even a
// task handed over at the moment of the stop may be left to time out.
func TestWorkerSIGTERM(t *testing.T) {
	c, err := stack.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ns, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: stack.Namespace()})
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !ns.GetNamespaceInfo().GetCapabilities().GetWorkerPollCompleteOnShutdown() {
		t.Fatal("the cluster does not complete a stopping worker's polls (frontend.enableCancelWorkerPollsOnShutdown)")
	}
	e2e.WorkerSIGTERM(t, stack)
}
