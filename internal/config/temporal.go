package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"dealflow/internal/codec"
)

// Temporal is how to reach the Temporal frontend: the client options the
// SDK's envconfig builds from the temporal CLI's variables and profile file,
// checked eagerly (certificate files read and parsed, key matched to its
// certificate) so that a mistake fails at start naming the variable.
type Temporal struct {
	// Options carry the address, namespace, TLS and credentials; callers add
	// their logger and metrics (temporalx.Dial).
	Options client.Options
	// Address and Namespace as resolved (variable, then profile, then our
	// default).
	Address, Namespace string
	// Credential names where the credentials came from, for the one line
	// that says the server refused them: "TEMPORAL_API_KEY",
	// "TEMPORAL_TLS_CLIENT_CERT_PATH", "profile prod's api_key in FILE", or
	// "" when none is configured.
	Credential string
	// ClientCert names where the client certificate came from
	// ("TEMPORAL_TLS_CLIENT_CERT_PATH", …), "" when there is none: a TLS
	// alert from the server is about it whatever Credential names.
	ClientCert string
	// Profile names the profile file in use ("" when none was read).
	Profile string
	// Encryption holds the payload keys (DEALFLOW_CODEC_*), nil when none is
	// configured; with keys, Options carry their data and failure converters.
	Encryption *codec.Keyring
}

// TLS reports whether the connection uses TLS.
func (t Temporal) TLS() bool { return t.Options.ConnectionOptions.TLS != nil }

// Auth says in a few words how the client authenticates, for the start-up
// log line; it never contains a secret.
func (t Temporal) Auth() string {
	switch {
	case t.Options.Credentials != nil && t.TLS():
		return "API key over TLS"
	case t.Options.Credentials != nil:
		return "API key without TLS"
	case t.TLS() && len(t.Options.ConnectionOptions.TLS.Certificates) > 0:
		return "mTLS client certificate"
	case t.TLS():
		return "TLS, no client credentials"
	}
	return "plaintext, no credentials"
}

// The variables of the temporal CLI that the binaries document; envconfig
// also honours its less common ones (TEMPORAL_TLS_CLIENT_CERT_DATA and the
// other _DATA forms, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION,
// TEMPORAL_GRPC_META_*), which are checked the same way.
var temporalVars = []Var{
	TemporalAddress, TemporalNamespace, TemporalAPIKey, TemporalTLS, TemporalTLSClientCert, TemporalTLSClientKey,
	TemporalTLSServerCA, TemporalTLSServerName, TemporalProfile, TemporalConfigFile, TemporalCompression,
}

// tlsField is one TLS setting, by its variable and its key in the profile
// file.
type tlsField struct {
	env, data, key string // variable of the path, variable of the PEM data, TOML key of the path
}

var (
	certField = tlsField{TemporalTLSClientCert.Name, "TEMPORAL_TLS_CLIENT_CERT_DATA", "client_cert_path"}
	keyField  = tlsField{TemporalTLSClientKey.Name, "TEMPORAL_TLS_CLIENT_KEY_DATA", "client_key_path"}
	caField   = tlsField{TemporalTLSServerCA.Name, "TEMPORAL_TLS_SERVER_CA_CERT_DATA", "server_ca_cert_path"}
)

// envLookup hands envconfig the reader's environment, an empty (or blank)
// variable counting as unset: envconfig would otherwise turn TLS on for an
// empty TEMPORAL_TLS_CLIENT_CERT_PATH, and compose files often pass
// `${VAR:-}`.
type envLookup struct{ r *Reader }

func (e envLookup) LookupEnv(k string) (string, bool) {
	s, ok := e.r.env(k)
	s = strings.TrimSpace(s)
	return s, ok && s != ""
}

func (e envLookup) Environ() []string {
	var out []string
	for _, kv := range e.r.environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(v) != "" {
			out = append(out, k+"="+strings.TrimSpace(v))
		}
	}
	return out
}

// temporalReader resolves one Temporal connection.
type temporalReader struct {
	r        *Reader
	env      envLookup
	file     string // profile file read, "" if none
	profile  string
	fromFile bool // a profile was found in the file
}

// Temporal reads the connection to Temporal: TEMPORAL_CONFIG_FILE and
// TEMPORAL_PROFILE select a profile of the temporal CLI's TOML file (when
// one exists), the TEMPORAL_* variables override it, and our defaults fill
// in the address and namespace. The payload keys (DEALFLOW_CODEC_*) are part
// of it: every client built from it encrypts what it stores in Temporal.
// Every problem is one error naming the variable (or the profile key); none
// contains a secret.
func (r *Reader) Temporal() Temporal {
	r.vars = append(r.vars, temporalVars...)
	keys := r.payloadKeys()
	tr := &temporalReader{r: r, env: envLookup{r}}
	prof, ok := tr.profileFromFile()
	if !ok {
		return Temporal{Address: TemporalAddress.Default, Namespace: TemporalNamespace.Default}
	}
	if err := prof.ApplyEnvVars(tr.env); err != nil {
		r.fail(TemporalConfigFile, "apply the TEMPORAL_* variables: %v", err)
	}
	tr.checkBool(TemporalTLS.Name)
	tr.checkBool("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION")

	t := Temporal{Address: prof.Address, Namespace: prof.Namespace, Profile: tr.describeFile()}
	if t.Address == "" {
		t.Address = TemporalAddress.Default
	}
	if t.Namespace == "" {
		t.Namespace = TemporalNamespace.Default
	}
	prof.Address, prof.Namespace = t.Address, t.Namespace
	if err := checkHostPort(t.Address); err != nil {
		tr.fail(TemporalAddress.Name, "address", "%v", err)
	}
	if prof.APIKey != "" {
		t.Credential = tr.source(TemporalAPIKey.Name, "api_key")
		if strings.ContainsFunc(prof.APIKey, func(c rune) bool { return c <= ' ' || c > '~' }) {
			// Never echo it: it is a secret.
			tr.fail(TemporalAPIKey.Name, "api_key", "contains spaces or characters outside printable ASCII (a pasted line break?)")
		}
	}
	if prof.TLS != nil && !prof.TLS.Disabled {
		if tr.checkTLS(prof.TLS) {
			t.ClientCert = tr.source(certField.env, "tls."+certField.key)
			if t.Credential == "" {
				t.Credential = t.ClientCert
			}
		}
	}
	if len(r.errs) > 0 {
		return t
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		// The checks above cover what envconfig refuses; this is a backstop.
		r.fail(TemporalTLS, "%v", err)
		return t
	}
	t.Options = opts
	t.Options.ConnectionOptions.GrpcCompression = r.grpcCompression()
	t.setEncryption(keys)
	return t
}

// grpcCompression reads TEMPORAL_GRPC_COMPRESSION. The SDK gzips every
// request by default, and the server then answers in gzip too: on a link
// that is not slow (loopback, a data centre, a compose network) that is CPU
// spent on both sides for nothing: 9% of the worker's and of the API's CPU
// in a product run (docs/benchmarks.md, issue 18). Hence none by default,
// gzip when asked for.
func (r *Reader) grpcCompression() client.GrpcCompression {
	switch v := strings.ToLower(r.raw(TemporalCompression)); v {
	case "none", "":
		return &client.GrpcCompressionNone{}
	case "gzip":
		return &client.GrpcCompressionGzip{}
	default:
		r.fail(TemporalCompression, "%q is not none or gzip", v)
		return nil
	}
}

// profileFromFile loads the selected profile of the profile file, or an
// empty one when there is no file and no profile was asked for.
func (tr *temporalReader) profileFromFile() (envconfig.ClientConfigProfile, bool) {
	path, explicit := tr.env.LookupEnv(TemporalConfigFile.Name)
	if !explicit {
		path = envconfig.DefaultConfigFilePath()
	}
	name, named := tr.env.LookupEnv(TemporalProfile.Name)
	if !named {
		name = envconfig.DefaultConfigFileProfile
	}
	tr.profile = name

	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			data, tr.file = b, path
		case explicit || !errors.Is(err, os.ErrNotExist):
			tr.r.fail(TemporalConfigFile, "cannot read the profile file: %v", pathError(err, path))
			return envconfig.ClientConfigProfile{}, false
		}
	}
	var conf envconfig.ClientConfig
	// Strict: a misspelt key (client_cert instead of client_cert_path)
	// would otherwise be ignored without a word.
	if err := conf.FromTOML(data, envconfig.ClientConfigFromTOMLOptions{Strict: true}); err != nil {
		tr.r.fail(TemporalConfigFile, "%s is not a valid profile file: %s", path, tomlError(err))
		return envconfig.ClientConfigProfile{}, false
	}
	prof, found := conf.Profiles[name]
	switch {
	case found:
		tr.fromFile = true
		return *prof, true
	case !named:
		return envconfig.ClientConfigProfile{}, true
	case tr.file == "":
		tr.r.fail(TemporalProfile, "profile %q asked for, but there is no profile file (%s does not exist; set %s)",
			name, path, TemporalConfigFile.Name)
	default:
		names := make([]string, 0, len(conf.Profiles))
		for n := range conf.Profiles {
			names = append(names, n)
		}
		slices.Sort(names)
		tr.r.fail(TemporalProfile, "no profile %q in %s (it has: %s)", name, tr.file, strings.Join(names, ", "))
	}
	return envconfig.ClientConfigProfile{}, false
}

// tomlError says where a profile file is wrong without quoting it: the
// parser's messages may carry part of a value, and the file holds secrets.
func tomlError(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey != "" {
			return fmt.Sprintf("line %d (key %s)", pe.Position.Line, pe.LastKey)
		}
		return fmt.Sprintf("line %d", pe.Position.Line)
	}
	// envconfig's own refusals (unknown keys) name keys, not values.
	return strings.TrimPrefix(err.Error(), "failed parsing config: ")
}

// pathError keeps an os error's cause (no such file, permission denied)
// and the path, and nothing else.
func pathError(err error, path string) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return path + ": " + pe.Err.Error()
	}
	return path + ": unreadable"
}

func (tr *temporalReader) describeFile() string {
	if tr.file == "" {
		return ""
	}
	return fmt.Sprintf("%s (profile %s)", tr.file, tr.profile)
}

// source names where a setting came from: its variable when set, else the
// key of the profile.
func (tr *temporalReader) source(env, key string) string {
	if _, ok := tr.env.LookupEnv(env); ok || !tr.fromFile {
		return env
	}
	return fmt.Sprintf("profile %s's %s in %s", tr.profile, key, tr.file)
}

func (tr *temporalReader) fail(env, key, format string, args ...any) {
	tr.r.errs = append(tr.r.errs, fmt.Errorf("%s: %s", tr.source(env, key), fmt.Sprintf(format, args...)))
}

// checkBool refuses a value envconfig would silently ignore.
func (tr *temporalReader) checkBool(name string) {
	s, ok := tr.env.LookupEnv(name)
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "1", "0", "true", "false":
	default:
		tr.r.errs = append(tr.r.errs, fmt.Errorf("%s: want true or false, got %q", name, s))
	}
}

// checkTLS reads and parses the certificate files now, replacing the paths
// by their contents, so that envconfig does not read them again. It
// reports whether a client certificate is configured (and valid).
func (tr *temporalReader) checkTLS(c *envconfig.ClientConfigTLS) bool {
	cert, certOK := tr.pemFile(certField, c.ClientCertPath, c.ClientCertData)
	key, keyOK := tr.pemFile(keyField, c.ClientKeyPath, c.ClientKeyData)
	ca, caOK := tr.pemFile(caField, c.ServerCACertPath, c.ServerCACertData)
	c.ClientCertPath, c.ClientKeyPath, c.ServerCACertPath = "", "", ""
	c.ClientCertData, c.ClientKeyData, c.ServerCACertData = cert, key, ca
	haveClientCert := false
	switch {
	case !certOK || !keyOK:
	case cert == nil && key == nil:
	case cert == nil:
		tr.fail(keyField.env, "tls."+keyField.key, "a client key needs its certificate: set %s too", certField.env)
	case key == nil:
		tr.fail(certField.env, "tls."+certField.key, "a client certificate needs its private key: set %s too", keyField.env)
	default:
		haveClientCert = tr.checkKeyPair(cert, key)
	}
	if caOK && ca != nil && !x509.NewCertPool().AppendCertsFromPEM(ca) {
		tr.fail(caField.env, "tls."+caField.key, "holds no PEM certificate")
	}
	return haveClientCert
}

// pemFile returns the PEM bytes of a setting given as a path or as data,
// nil when it is not set, and false when it cannot be read.
func (tr *temporalReader) pemFile(f tlsField, path string, data []byte) ([]byte, bool) {
	if path != "" && len(data) > 0 {
		tr.fail(f.env, "tls."+f.key, "set either %s or %s, not both", f.env, f.data)
		return nil, false
	}
	if path == "" {
		return data, true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tr.fail(f.env, "tls."+f.key, "cannot read %s", pathError(err, path))
		return nil, false
	}
	return b, true
}

// checkKeyPair parses the client certificate and its key and checks that
// they belong together. Messages are our own: a parser's error could quote
// the key.
func (tr *temporalReader) checkKeyPair(certPEM, keyPEM []byte) bool {
	certs := pemBlocks(certPEM, func(t string) bool { return t == "CERTIFICATE" })
	if len(certs) == 0 {
		tr.fail(certField.env, "tls."+certField.key, "holds no PEM certificate")
		return false
	}
	if _, err := x509.ParseCertificate(certs[0]); err != nil {
		tr.fail(certField.env, "tls."+certField.key, "the certificate does not parse: %v", err)
		return false
	}
	keys := pemBlocks(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") })
	if len(keys) == 0 {
		tr.fail(keyField.env, "tls."+keyField.key, "holds no PEM private key")
		return false
	}
	if !parsesAsKey(keys[0]) {
		tr.fail(keyField.env, "tls."+keyField.key, "the private key does not parse (want PKCS#8, PKCS#1 or EC, unencrypted)")
		return false
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		tr.fail(keyField.env, "tls."+keyField.key, "the private key does not match the certificate of %s",
			tr.source(certField.env, "tls."+certField.key))
		return false
	}
	return true
}

func pemBlocks(b []byte, want func(string) bool) [][]byte {
	var out [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if want(blk.Type) {
			out = append(out, blk.Bytes)
		}
	}
}

func parsesAsKey(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}
