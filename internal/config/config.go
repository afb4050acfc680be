// Package config reads the binaries' settings from environment variables.
// Each variable is declared once in a table with its default and meaning, so
// `-h` on every binary lists the same text the code reads, and tests (the
// docker-compose check) can compare against it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable a binary reads.
type Var struct {
	Name    string
	Default string
	Usage   string
}

// Environment variables, shared by the binaries that read them.
var (
	TemporalAddress       = Var{"TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port (Temporal Cloud: <namespace>.<account>.tmprl.cloud:7233)"}
	TemporalNamespace     = Var{"TEMPORAL_NAMESPACE", "default", "Temporal namespace of the deals"}
	TemporalAPIKey        = Var{"TEMPORAL_API_KEY", "", "API key sent as Authorization: Bearer (Temporal Cloud, or a JWT); turns TLS on unless TEMPORAL_TLS=false"}
	TemporalTLS           = Var{"TEMPORAL_TLS", "", "true or false; TLS is on by default when an API key or any TEMPORAL_TLS_* setting is given"}
	TemporalTLSClientCert = Var{"TEMPORAL_TLS_CLIENT_CERT_PATH", "", "PEM client certificate for mTLS, with TEMPORAL_TLS_CLIENT_KEY_PATH"}
	TemporalTLSClientKey  = Var{"TEMPORAL_TLS_CLIENT_KEY_PATH", "", "PEM private key of the client certificate"}
	TemporalTLSServerCA   = Var{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "", "PEM CA certificate(s) the frontend's certificate must chain to; empty: the system's roots"}
	TemporalTLSServerName = Var{"TEMPORAL_TLS_SERVER_NAME", "", "name the frontend's certificate must carry; empty: the host of the address"}
	TemporalProfile       = Var{"TEMPORAL_PROFILE", "default", "profile of the profile file to use (the temporal CLI's TOML file)"}
	TemporalCompression   = Var{"TEMPORAL_GRPC_COMPRESSION", "none", "compression of the gRPC requests to Temporal: none, or gzip (the SDK's own default) for a slow or metered link, such as Temporal Cloud over the internet"}
	TemporalConfigFile    = Var{"TEMPORAL_CONFIG_FILE", "", "profile file; empty: $XDG_CONFIG_HOME/temporalio/temporal.toml (~/.config/…) when it exists; TEMPORAL_* variables override its values"}
	DatabaseURL           = Var{"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dealflow?sslmode=disable", "PostgreSQL connection URL"}
	LogLevel              = Var{"LOG_LEVEL", "info", "log level: debug, info, warn, error"}
	APIAddr               = Var{"API_ADDR", ":8080", "HTTP listen address of the API"}
	APIRateLimit          = Var{"API_RATE_LIMIT", "20", "requests per second allowed per token, and requests failing authentication per client address (burst is twice that); 0 disables"}
	APIRequestTimeout     = Var{"API_REQUEST_TIMEOUT", "15s", "how long one API request may wait for Temporal or PostgreSQL"}
	WorkerMetricsAddr     = Var{"WORKER_METRICS_ADDR", ":9090", "listen address of the worker's /metrics; empty disables"}
	APIMetricsAddr        = Var{"API_METRICS_ADDR", "127.0.0.1:9091", "listen address of the API's /metrics, a listener of its own (never on API_ADDR); empty disables"}
	SMTPAddr              = Var{"SMTP_ADDR", "", "SMTP server host:port for follow-up mail; empty records messages without sending"}
	SMTPFrom              = Var{"SMTP_FROM", "dealflow@localhost", "sender address of follow-up mail"}
	SMTPUsername          = Var{"SMTP_USERNAME", "", "user name for SMTP AUTH, with SMTP_PASSWORD; empty: no authentication"}
	SMTPPassword          = Var{"SMTP_PASSWORD", "", "password (or API key) for SMTP AUTH; never logged"}
	SMTPAuth              = Var{"SMTP_AUTH", "auto", "SMTP AUTH mechanism: auto (the first of PLAIN, LOGIN, SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5 the server offers), plain, login, scram-sha-256, scram-sha-1, cram-md5, xoauth2"}
	SMTPTLS               = Var{"SMTP_TLS", "", "implicit (TLS from the first byte, port 465), starttls (the server must offer it) or none (plain SMTP: only for a local mail sink); empty: implicit on port 465, else starttls"}
	SMTPCAFile            = Var{"SMTP_CA_FILE", "", "PEM CA certificate(s) the SMTP server's certificate must chain to; empty: the system's roots"}
	SMTPTimeout           = Var{"SMTP_TIMEOUT", "20s", "how long the delivery of one message may take, from connecting to QUIT"}
	WorkerStopTimeout     = Var{"WORKER_STOP_TIMEOUT", "30s", "on SIGTERM, how long the worker lets in-flight workflow tasks and activities finish before it cancels them"}
	TemporalUIURL         = Var{"TEMPORAL_UI_URL", "", "address of the Temporal Web UI (http://host:port) the web app links managers to; empty: no links"}
	CodecKeyID            = Var{"DEALFLOW_CODEC_KEY_ID", "", "id of DEALFLOW_CODEC_KEY, stored with every payload it encrypts (letters, digits, . _ -; e.g. 2026-12)"}
	CodecKey              = Var{"DEALFLOW_CODEC_KEY", "", "AES-256 key, base64 of 32 bytes (openssl rand -base64 32), that encrypts every payload stored in Temporal; empty: payloads are stored in plain text"}
	CodecOldKeys          = Var{"DEALFLOW_CODEC_OLD_KEYS", "", "retired keys that only decrypt, id:base64 pairs separated by commas (key rotation)"}
	CodecAddr             = Var{"DEALFLOW_CODEC_ADDR", "", "listen address of the API's codec server for the Temporal Web UI and CLI (POST /encode, /decode); empty disables"}
	CodecToken            = Var{"DEALFLOW_CODEC_TOKEN", "", "bearer token the codec server requires (16+ characters of A-Z a-z 0-9 - . _ ~; openssl rand -hex 24)"}
	CodecOrigins          = Var{"DEALFLOW_CODEC_CORS_ORIGINS", "", "browser origins (scheme://host:port, comma-separated) allowed to call the codec server; empty: the origin of TEMPORAL_UI_URL"}
)

// All lists every variable above, in declaration order: the README's table,
// the dev stack and the docker-compose check are compared against it.
var All = []Var{
	TemporalAddress, TemporalNamespace, TemporalAPIKey, TemporalTLS, TemporalTLSClientCert, TemporalTLSClientKey,
	TemporalTLSServerCA, TemporalTLSServerName, TemporalProfile, TemporalConfigFile, TemporalCompression,
	DatabaseURL, LogLevel, APIAddr, APIRateLimit, APIRequestTimeout, WorkerMetricsAddr, APIMetricsAddr,
	SMTPAddr, SMTPFrom, SMTPUsername, SMTPPassword, SMTPAuth, SMTPTLS, SMTPCAFile, SMTPTimeout,
	WorkerStopTimeout, TemporalUIURL,
	CodecKeyID, CodecKey, CodecOldKeys, CodecAddr, CodecToken, CodecOrigins,
}

// Reader collects values and validation errors for one binary. Call the
// typed getters, then Err.
type Reader struct {
	vars    []Var
	errs    []error
	env     func(string) (string, bool)
	environ func() []string
}

// NewReader reads from the process environment.
func NewReader() *Reader { return &Reader{env: os.LookupEnv, environ: os.Environ} }

// NewReaderFrom reads from a map; for tests.
func NewReaderFrom(m map[string]string) *Reader {
	return &Reader{
		env: func(k string) (string, bool) { v, ok := m[k]; return v, ok },
		environ: func() []string {
			out := make([]string, 0, len(m))
			for k, v := range m {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
}

func (r *Reader) raw(v Var) string {
	r.vars = append(r.vars, v)
	if s, ok := r.env(v.Name); ok {
		return strings.TrimSpace(s)
	}
	return v.Default
}

func (r *Reader) fail(v Var, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", v.Name, fmt.Sprintf(format, args...)))
}

// String returns the value, which must not be empty when required.
func (r *Reader) String(v Var, required bool) string {
	s := r.raw(v)
	if required && s == "" {
		r.fail(v, "must be set")
	}
	return s
}

// Addr returns a host:port (host may be empty); empty is allowed when optional.
func (r *Reader) Addr(v Var, required bool) string {
	s := r.raw(v)
	if s == "" {
		if required {
			r.fail(v, "must be set")
		}
		return s
	}
	if err := checkHostPort(s); err != nil {
		r.fail(v, "%v", err)
	}
	return s
}

// checkHostPort checks a host:port (host may be empty).
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port in %q", s)
	}
	return nil
}

// PostgresURL returns a postgres:// URL.
func (r *Reader) PostgresURL(v Var) string {
	s := r.raw(v)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the value: it may hold a password.
		r.fail(v, "want a postgres:// URL")
	}
	return s
}

// HTTPURL returns an http(s):// URL, or "" when empty.
func (r *Reader) HTTPURL(v Var) string {
	s := r.raw(v)
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(v, "want an http:// or https:// URL, got %q", s)
	}
	return s
}

// Duration returns a positive Go duration such as 15s.
func (r *Reader) Duration(v Var) time.Duration {
	s := r.raw(v)
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.fail(v, "want a positive duration such as 15s, got %q", s)
	}
	return d
}

// Float returns a non-negative number.
func (r *Reader) Float(v Var) float64 {
	s := r.raw(v)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		r.fail(v, "want a non-negative number, got %q", s)
	}
	return f
}

// LogLevel returns a slog level.
func (r *Reader) LogLevel(v Var) slog.Level {
	s := r.raw(v)
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		r.fail(v, "want debug, info, warn or error, got %q", s)
	}
	return l
}

// Err joins every validation failure.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Vars lists the variables read so far, for usage text.
func (r *Reader) Vars() []Var { return r.vars }

// Usage writes the -h text: what the binary does and the variables it reads.
func Usage(w io.Writer, name, about string, vars []Var) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nEnvironment:\n", name, about)
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %-33s %s (default %s)\n", v.Name, v.Usage, def)
	}
}

// ParseFlags handles -h/-help for a binary that is configured only by its
// environment: it prints the usage and exits 0, and rejects other flags.
func ParseFlags(name, about string, vars []Var) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() { Usage(fs.Output(), name, about, vars) }
	_ = fs.Parse(os.Args[1:])
}

// NewLogger returns the JSON logger every binary uses.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
