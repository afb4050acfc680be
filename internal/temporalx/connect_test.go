package temporalx

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"dealflow/internal/config"
	"dealflow/internal/config/configtest"
)

const apiKey = "tmprl-SECRET-0b7d41c9"

// frontend is a gRPC server with the two calls Dial makes, answering
// DescribeNamespace as a Temporal frontend with authorization would: it
// wants "Bearer <apiKey>".
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	describeErr error // answered whatever the credentials
}

func (f *frontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{}, nil // answered without authorization, as the real one
}

func (f *frontend) DescribeNamespace(ctx context.Context, req *workflowservice.DescribeNamespaceRequest) (*workflowservice.DescribeNamespaceResponse, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if auth := md.Get("authorization"); len(auth) != 1 || auth[0] != "Bearer "+apiKey {
		return nil, serviceerror.NewPermissionDenied("Request unauthorized.", "")
	}
	return &workflowservice.DescribeNamespaceResponse{}, nil
}

// serve starts f on loopback, with TLS when cfg is not nil.
func serve(t *testing.T, f *frontend, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// As the real frontend, answer a serviceerror with its gRPC status.
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			return nil, serviceerror.ToStatus(err).Err()
		}
		return resp, nil
	})}
	if cfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	srv := grpc.NewServer(opts...)
	workflowservice.RegisterWorkflowServiceServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// conn reads the connection from env as the binaries do.
func conn(t *testing.T, env map[string]string) config.Temporal {
	t.Helper()
	r := config.NewReaderFrom(env)
	c := r.Temporal()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDialSaysWhatWentWrong(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no profile file of the machine's
	dir := t.TempDir()
	ca := configtest.NewCA(t, "test-ca")
	otherCA := configtest.NewCA(t, "other-ca")
	server := configtest.Issue(t, ca, "localhost")
	client := configtest.Issue(t, ca, "worker")
	stranger := configtest.Issue(t, otherCA, "worker")
	caFile := configtest.Write(t, dir, "ca.pem", ca.Cert)
	certFile := configtest.Write(t, dir, "client.pem", client.Cert)
	keyFile := configtest.Write(t, dir, "client.key", client.Key)
	strangerCert := configtest.Write(t, dir, "stranger.pem", stranger.Cert)
	strangerKey := configtest.Write(t, dir, "stranger.key", stranger.Key)

	plain := serve(t, &frontend{}, nil)
	notFound := serve(t, &frontend{describeErr: serviceerror.NewNamespaceNotFound("sales")}, nil)
	unauthenticated := serve(t, &frontend{describeErr: status.Error(codes.Unauthenticated, "token expired")}, nil)
	// The frontend of a cluster with mTLS required.
	mtls := serve(t, &frontend{}, &tls.Config{
		Certificates: []tls.Certificate{server.TLS(t)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
	})
	_, mtlsPort, _ := net.SplitHostPort(mtls)
	local := "localhost:" + mtlsPort // the name on the server's certificate

	tlsEnv := func(addr string, kv ...string) map[string]string {
		m := map[string]string{"TEMPORAL_ADDRESS": addr, "TEMPORAL_TLS_SERVER_CA_CERT_PATH": caFile,
			"TEMPORAL_TLS_CLIENT_CERT_PATH": certFile, "TEMPORAL_TLS_CLIENT_KEY_PATH": keyFile, "TEMPORAL_API_KEY": apiKey}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string // "" means Dial succeeds
	}{
		{"API key accepted", map[string]string{"TEMPORAL_ADDRESS": plain, "TEMPORAL_API_KEY": apiKey, "TEMPORAL_TLS": "false"}, ""},
		{"wrong API key", map[string]string{"TEMPORAL_ADDRESS": plain, "TEMPORAL_API_KEY": "wrong-" + apiKey, "TEMPORAL_TLS": "false"},
			"temporal at " + plain + " refused the credentials (TEMPORAL_API_KEY): PermissionDenied: Request unauthorized."},
		{"no credentials at all", map[string]string{"TEMPORAL_ADDRESS": plain},
			"temporal at " + plain + " refused the credentials (none configured: set TEMPORAL_API_KEY, or TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH): PermissionDenied"},
		{"expired token", map[string]string{"TEMPORAL_ADDRESS": unauthenticated, "TEMPORAL_API_KEY": apiKey, "TEMPORAL_TLS": "false"},
			"refused the credentials (TEMPORAL_API_KEY): Unauthenticated: token expired"},
		{"unknown namespace", map[string]string{"TEMPORAL_ADDRESS": notFound, "TEMPORAL_NAMESPACE": "sales"},
			`temporal at ` + notFound + ` has no namespace "sales" (TEMPORAL_NAMESPACE)`},
		{"mTLS and API key accepted", tlsEnv(local), ""},
		{"no client certificate", tlsEnv(local, "TEMPORAL_TLS_CLIENT_CERT_PATH", "", "TEMPORAL_TLS_CLIENT_KEY_PATH", ""),
			"temporal at " + local + " refused the credentials (no client certificate: it may want one, set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH): TLS handshake failed: remote error: tls: certificate required"},
		// The alert is about the certificate, even with an API key set.
		{"client certificate of another CA", tlsEnv(local, "TEMPORAL_TLS_CLIENT_CERT_PATH", strangerCert, "TEMPORAL_TLS_CLIENT_KEY_PATH", strangerKey),
			"temporal at " + local + " refused the credentials (TEMPORAL_TLS_CLIENT_CERT_PATH): TLS handshake failed: remote error: tls:"},
		{"server CA not trusted", tlsEnv(local, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", ""),
			"temporal at " + local + ": TLS handshake failed: its certificate is not signed by a CA we trust (TEMPORAL_TLS_SERVER_CA_CERT_PATH)"},
		{"server name not on its certificate", tlsEnv(mtls),
			"temporal at " + mtls + ": TLS handshake failed: its certificate is not for that name (TEMPORAL_TLS_SERVER_NAME)"},
		{"TLS to a plaintext server", tlsEnv(plain),
			"temporal at " + plain + " does not speak TLS (set TEMPORAL_TLS=false to connect without)"},
		{"plaintext to a TLS server", map[string]string{"TEMPORAL_ADDRESS": mtls, "TEMPORAL_API_KEY": apiKey, "TEMPORAL_TLS": "false"},
			"temporal at " + mtls + " is out of reach (TEMPORAL_ADDRESS; is it up, and does it want TLS (TEMPORAL_TLS)?)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				if v == "" {
					delete(c.env, k)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			cl, err := Dial(ctx, Options{Conn: conn(t, c.env), Logger: slog.New(slog.DiscardHandler)})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				cl.Close()
				return
			}
			if err == nil {
				cl.Close()
				t.Fatalf("Dial succeeded, want %q", c.want)
			}
			msg := err.Error()
			t.Logf("%s (%s)", msg, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q\nlacks %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, apiKey) {
				t.Errorf("error is not one line without the key: %q", msg)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("Dial took %s to fail", d)
			}
		})
	}
}

// TestExplainStatusErrors covers the codes a server may answer any call
// with (the worker's EnsureSearchAttributes goes through it too).
func TestExplainStatusErrors(t *testing.T) {
	c := &Client{Address: "temporal:7233", Namespace: "default", credential: "TEMPORAL_API_KEY", handshakes: &handshakeRecorder{}}
	cases := []struct {
		err  error
		want string
	}{
		{serviceerror.NewPermissionDenied("Request unauthorized.", ""),
			"temporal at temporal:7233 refused the credentials (TEMPORAL_API_KEY): PermissionDenied: Request unauthorized."},
		{status.Error(codes.Unauthenticated, "bad token"), "refused the credentials (TEMPORAL_API_KEY): Unauthenticated: bad token"},
		{errors.Join(errors.New("list search attributes"), serviceerror.NewUnavailable("connection refused")),
			"temporal at temporal:7233 is out of reach (TEMPORAL_ADDRESS;"},
		{serviceerror.NewInvalidArgument("bad"), "temporal at temporal:7233: bad"},
	}
	for _, tc := range cases {
		if got := c.Explain(tc.err).Error(); !strings.HasPrefix(got, tc.want) && !strings.Contains(got, tc.want) {
			t.Errorf("Explain(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if c.Explain(nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
	var perm *serviceerror.PermissionDenied
	if !errors.As(c.Explain(serviceerror.NewInvalidArgument("x")), new(*serviceerror.InvalidArgument)) || errors.As(c.Explain(serviceerror.NewInvalidArgument("x")), &perm) {
		t.Error("Explain does not keep an unrelated error's type")
	}
}
