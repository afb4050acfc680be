package temporalx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"dealflow/internal/config"
)

// Options configure Dial.
type Options struct {
	// Conn is the connection the environment describes
	// (config.Reader.Temporal): address, namespace, TLS, credentials. Its
	// zero value is a plaintext connection without credentials.
	Conn config.Temporal
	// Address and Namespace, when not empty, override Conn's (the
	// starter's -temporal and -namespace flags, tests).
	Address, Namespace string
	Logger             *slog.Logger
	Metrics            *Metrics // optional
	// Lazy does not contact the server until the first call, so a process
	// (the API) can start and report not-ready while Temporal is down.
	Lazy bool
}

// Client is the SDK client with what it was dialled with, so that Explain
// can say which setting a refusal is about.
type Client struct {
	client.Client
	// Address and Namespace the client talks to.
	Address, Namespace string
	credential         string
	clientCert         string // where the client certificate came from; "" when none
	handshakes         *handshakeRecorder
	tls                *tls.Config // nil: plaintext
}

// describeTimeout bounds Dial's credentials check; the SDK bounds its own
// first call (GetSystemInfo) to 5 s.
const describeTimeout = 10 * time.Second

// Dial connects to Temporal. Unless Lazy, it also asks for the namespace:
// the frontend answers the SDK's first call (GetSystemInfo) without
// authorization, so refused credentials or an unknown namespace would
// otherwise surface only at the first deal. Its errors are one line, see
// Explain.
func Dial(ctx context.Context, o Options) (*Client, error) {
	c := &Client{
		Address:    firstOf(o.Address, o.Conn.Address, config.TemporalAddress.Default),
		Namespace:  firstOf(o.Namespace, o.Conn.Namespace, config.TemporalNamespace.Default),
		credential: o.Conn.Credential,
		clientCert: o.Conn.ClientCert,
		handshakes: &handshakeRecorder{},
	}
	opts := o.Conn.Options
	opts.HostPort, opts.Namespace = c.Address, c.Namespace
	opts.Identity = Identity()
	opts.Logger = sdklog.NewStructuredLogger(o.Logger)
	if o.Metrics != nil {
		opts.MetricsHandler = o.Metrics.Handler
	}
	c.tls = opts.ConnectionOptions.TLS
	if cfg := opts.ConnectionOptions.TLS; cfg != nil {
		// Added after the SDK's own transport credentials, so these win:
		// the same TLS, with the handshake's error kept for Explain.
		opts.ConnectionOptions.DialOptions = append(slices.Clone(opts.ConnectionOptions.DialOptions),
			grpc.WithTransportCredentials(c.handshakes.wrap(credentials.NewTLS(cfg))))
	}
	var err error
	if o.Lazy {
		c.Client, err = client.NewLazyClient(opts)
		if err != nil {
			return nil, c.Explain(err)
		}
		return c, nil
	}
	if c.Client, err = client.DialContext(ctx, opts); err != nil {
		return nil, c.Explain(err)
	}
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	if _, err := c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.Namespace}); err != nil {
		c.Close()
		return nil, c.Explain(err)
	}
	return c, nil
}

// Identity is the SDK's default identity, "<pid>@<host>@", set explicitly
// so that the worker can find itself among a task queue's pollers.
func Identity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%d@%s@", os.Getpid(), host)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Explain says in one line what went wrong talking to Temporal when it is
// about the connection: the server refused the credentials, the TLS
// handshake failed, the namespace does not exist, or the server is out of
// reach. Other errors come back unchanged. It never includes a secret:
// only the server's message and the names of the settings.
func (c *Client) Explain(err error) error {
	if err == nil {
		return nil
	}
	at := "temporal at " + c.Address
	if hs := c.handshakes.last(); hs != nil {
		return c.explainHandshake(at, hs)
	}
	var nsNotFound *serviceerror.NamespaceNotFound
	if errors.As(err, &nsNotFound) {
		return fmt.Errorf("%s has no namespace %q (%s): %s", at, c.Namespace, config.TemporalNamespace.Name, nsNotFound.Error())
	}
	st := serviceerror.ToStatus(err)
	switch st.Code() {
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("%s refused the credentials (%s): %s: %s", at, c.credentials(), st.Code(), st.Message())
	case codes.Unavailable, codes.DeadlineExceeded:
		if c.tls != nil {
			if tlsErr := probeTLS(c.Address, c.tls); tlsErr != nil {
				return c.explainHandshake(at, tlsErr)
			}
		}
		return fmt.Errorf("%s is out of reach (%s; is it up, and does it want TLS (%s)?): %s: %s",
			at, config.TemporalAddress.Name, config.TemporalTLS.Name, st.Code(), st.Message())
	}
	return fmt.Errorf("%s: %w", at, err)
}

func (c *Client) credentials() string {
	if c.credential == "" {
		return fmt.Sprintf("none configured: set %s, or %s and %s", config.TemporalAPIKey.Name,
			config.TemporalTLSClientCert.Name, config.TemporalTLSClientKey.Name)
	}
	return c.credential
}

// explainHandshake names the setting a failed TLS handshake is about, from
// the error's type.
func (c *Client) explainHandshake(at string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%s: TLS handshake failed: its certificate is not signed by a CA we trust (%s): %v", at, config.TemporalTLSServerCA.Name, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%s: TLS handshake failed: its certificate is not for that name (%s): %v", at, config.TemporalTLSServerName.Name, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%s: TLS handshake failed: its certificate is not valid: %v", at, err)
	case remoteAlert(err) && c.clientCert != "":
		return fmt.Errorf("%s refused the credentials (%s): TLS handshake failed: %v", at, c.clientCert, err)
	case remoteAlert(err):
		return fmt.Errorf("%s refused the credentials (no client certificate: it may want one, set %s and %s): TLS handshake failed: %v",
			at, config.TemporalTLSClientCert.Name, config.TemporalTLSClientKey.Name, err)
	case errors.As(err, &record):
		return fmt.Errorf("%s does not speak TLS (set %s=false to connect without): %v", at, config.TemporalTLS.Name, err)
	}
	return fmt.Errorf("%s: TLS handshake failed: %v", at, err)
}

// handshakeRecorder wraps the TLS transport credentials and keeps the last
// handshake error, typed (gRPC turns it into a string in an Unavailable
// status). With TLS 1.3 the server refuses a client certificate only after
// the client's handshake is done, as an alert on the first read, so reads
// are watched too.
type handshakeRecorder struct {
	mu  sync.Mutex
	err error
}

func (h *handshakeRecorder) record(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
}

func (h *handshakeRecorder) last() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *handshakeRecorder) wrap(tc credentials.TransportCredentials) credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: tc, rec: h}
}

type recordingCreds struct {
	credentials.TransportCredentials
	rec *handshakeRecorder
}

func (r *recordingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := r.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		r.rec.record(err)
		return nil, nil, err
	}
	r.rec.record(nil)
	return &alertConn{Conn: conn, rec: r.rec}, info, nil
}

func (r *recordingCreds) Clone() credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: r.TransportCredentials.Clone(), rec: r.rec}
}

// remoteAlert reports whether err is a TLS alert the server sent (crypto/tls
// returns it as a *net.OpError with Op "remote error" around an unexported
// type): with a client certificate required, "certificate required" or
// "bad certificate".
func remoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// alertConn records a TLS alert the server sends after the handshake.
type alertConn struct {
	net.Conn
	rec *handshakeRecorder
}

func (a *alertConn) Read(b []byte) (int, error) {
	n, err := a.Conn.Read(b)
	if err != nil && remoteAlert(err) {
		a.rec.record(err)
	}
	return n, err
}

// probeTLS opens one TLS connection to addr with cfg and waits a moment for
// the server's first word. A server that refuses the client certificate
// says so with an alert just after the handshake (TLS 1.3), which gRPC
// misses when its first write already finds the connection closed ("broken
// pipe"). It returns the handshake's error or the alert, or nil when there
// was neither (or the server is out of reach: no TLS question then).
func probeTLS(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg.Clone())
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil
		}
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); remoteAlert(err) {
		return err
	}
	return nil
}
