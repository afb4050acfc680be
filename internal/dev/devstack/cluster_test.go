package devstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/dev/certs"
	"dealflow/internal/tests/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestClusterRequiresClientCertificates starts a cluster, checks that the
// frontend refuses a client without a certificate, with one from another CA
// or without TLS, and serves one with the generated certificate (and the Web
// UI, which uses it), that a killed history process starts again, stops it
// and finds no process left, then starts it
// again on the same folder and databases with authorization on: same
// certificates, same namespace, served to a client with a token (checkJWT).
func TestClusterRequiresClientCertificates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal cluster")
	}
	bins := serverBinaries(t)
	persistence, visibility := testenv.Database(t), testenv.Database(t)
	dir := t.TempDir()
	opts := ClusterOptions{
		Binaries:      bins,
		Dir:           dir,
		PostgresURL:   persistence,
		PersistenceDB: dbName(t, persistence),
		VisibilityDB:  dbName(t, visibility),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	began := time.Now()
	c := startCluster(t, ctx, opts)
	t.Logf("cold start (schemas created): %s", time.Since(began).Round(100*time.Millisecond))

	if err := c.Check(ctx); err != nil {
		t.Fatalf("client with the generated certificate: %v", err)
	}
	refused := func(what string, tlsConfig *tls.Config) {
		t.Helper()
		o := c.ClientOptions()
		o.ConnectionOptions.TLS = tlsConfig
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		cl, err := client.DialContext(dctx, o)
		if err == nil {
			_, err = cl.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.Namespace()})
			cl.Close()
		}
		if err == nil {
			t.Errorf("a client %s was served", what)
			return
		}
		t.Logf("a client %s: %v", what, err)
	}
	ca := c.clientTLS().RootCAs
	refused("without a certificate", &tls.Config{RootCAs: ca, ServerName: serverName})
	refused("without TLS", nil)
	other, err := certs.LoadOrCreateCA(t.TempDir(), "other", "another CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue(t.TempDir(), "client", certs.Leaf{CommonName: "stranger", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := stranger.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	refused("with a certificate from another CA", &tls.Config{RootCAs: ca, ServerName: serverName,
		// Sent whatever CAs the server names (Certificates alone would not be).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	checkUI(t, ctx, c)

	// A history process killed as in a crash starts again on its ports.
	h := c.History(0)
	killed := h.Process().PID()
	if err := h.Kill(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, killed)
	began = time.Now()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s killed and serving again after %s", h.Name(), time.Since(began).Round(100*time.Millisecond))
	if err := c.Check(ctx); err != nil {
		t.Fatalf("after %s restarted: %v", h.Name(), err)
	}

	caBefore := readFile(t, c.Certs().CA)
	stopCluster(t, c)

	// Again on the same folder and databases, with authorization on and
	// API-key clients (a token, no certificate).
	issuer, err := certs.NewJWTIssuer("test-key")
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(issuer.JWKS()) }))
	defer jwks.Close()
	opts.JWKSURIs = []string{jwks.URL}
	opts.ClientCertOptional = true
	began = time.Now()
	c = startCluster(t, ctx, opts)
	t.Logf("warm start (databases and certificates reused), authorization on: %s", time.Since(began).Round(100*time.Millisecond))
	if !bytes.Equal(readFile(t, c.Certs().CA), caBefore) {
		t.Error("the second start made a new CA")
	}
	checkJWT(t, ctx, c, issuer)
	stopCluster(t, c)
}

// checkJWT checks that a client with a token of issuer and no certificate
// is served, and is refused with PermissionDenied without a token, with an
// expired one or with one signed by another key; and that the internal
// worker, which has no token, polls its task queue.
func checkJWT(t *testing.T, ctx context.Context, c *Cluster, issuer *certs.JWTIssuer) {
	dial := func(token string) (client.Client, error) {
		o := c.ClientOptions()
		o.ConnectionOptions.TLS = &tls.Config{RootCAs: c.clientTLS().RootCAs, ServerName: serverName}
		if token != "" {
			o.Credentials = client.NewAPIKeyStaticCredentials(token)
		}
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		return client.DialContext(dctx, o)
	}
	token := func(iss *certs.JWTIssuer, ttl time.Duration) string {
		tok, err := iss.Token("rep@example.com", []string{c.Namespace() + ":write"}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cl, err := dial(token(issuer, time.Hour))
	if err != nil {
		t.Fatalf("client with a token: %v", err)
	}
	defer cl.Close()
	if err := checkNamespace(ctx, cl, c.Namespace(), c.opts.SearchAttributes); err != nil {
		t.Fatalf("client with a token: %v", err)
	}
	stranger, err := certs.NewJWTIssuer("test-key")
	if err != nil {
		t.Fatal(err)
	}
	for what, tok := range map[string]string{
		"without a token":                "",
		"with an expired token":          token(issuer, -time.Minute),
		"with a token signed by another": token(stranger, time.Hour),
	} {
		cl, err := dial(tok)
		if err == nil {
			_, err = cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.Namespace()})
			cl.Close()
		}
		var denied *serviceerror.PermissionDenied
		if !errors.As(err, &denied) {
			t.Errorf("a client %s: %v, want PermissionDenied", what, err)
			continue
		}
		t.Logf("a client %s: %v", what, err)
	}
	// The internal worker reaches the frontend API through the internal
	// frontend, without a token: its per-namespace workers poll.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		resp, err := cl.DescribeTaskQueue(ctx, "temporal-sys-per-ns-tq", enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(resp.GetPollers()) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no internal worker polls temporal-sys-per-ns-tq: %v (log %s)", err, filepath.Join(c.LogDir(), "worker.log"))
		}
	}
}

// stopCluster stops c and checks that none of its processes is left.
func stopCluster(t *testing.T, c *Cluster) {
	t.Helper()
	pids := clusterPIDs(c)
	began := time.Now()
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	t.Logf("stopped in %s", time.Since(began).Round(100*time.Millisecond))
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

func startCluster(t *testing.T, ctx context.Context, opts ClusterOptions) *Cluster {
	t.Helper()
	c, err := StartCluster(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

// checkUI asks the Web UI server for the cluster's namespaces, which it
// fetches from the frontend with the client certificate.
func checkUI(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	u, err := url.Parse(c.UIURL())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+u.Host+"/api/v1/namespaces", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("web UI: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Namespaces []struct {
			NamespaceInfo struct{ Name string } `json:"namespaceInfo"`
		} `json:"namespaces"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("web UI namespaces: %s: %.300s", resp.Status, body)
	}
	for _, ns := range list.Namespaces {
		if ns.NamespaceInfo.Name == c.Namespace() {
			return
		}
	}
	t.Errorf("web UI namespaces: no %s in %.300s", c.Namespace(), body)
}

// clusterPIDs returns the pids of the cluster's processes, UI included.
func clusterPIDs(c *Cluster) []int {
	var pids []int
	for _, p := range append(c.Processes(), c.UI()) {
		if p != nil && p.Process() != nil {
			pids = append(pids, p.Process().PID())
		}
	}
	return pids
}

// serverBinaries builds (or finds) the server's binaries; a failure fails the test.
func serverBinaries(t *testing.T) ServerBinaries {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bins, err := EnsureTemporalServer(ctx, root, filepath.Join(DevDir(root), "bin"), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

// dbName is the database of a PostgreSQL URL.
func dbName(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
