package config

import (
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"dealflow/internal/config/configtest"
)

// The API key of every case: it must never show in an error.
const secretKey = "tmprl-SECRET-4f9c2a7e"

// isolate keeps the tests off the real ~/.config/temporalio/temporal.toml.
func isolate(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
}

func TestTemporalMisconfigurationNamesTheVariable(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	ca := configtest.NewCA(t, "test-ca")
	client := configtest.Issue(t, ca, "worker")
	other := configtest.Issue(t, ca, "other")
	caFile := configtest.Write(t, dir, "ca.pem", ca.Cert)
	certFile := configtest.Write(t, dir, "client.pem", client.Cert)
	keyFile := configtest.Write(t, dir, "client.Key", client.Key)
	otherKey := configtest.Write(t, dir, "other.Key", other.Key)
	garbage := configtest.Write(t, dir, "garbage.pem", []byte("not a certificate "+secretKey+"\n"))
	badKey := configtest.Write(t, dir, "bad.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(secretKey)}))
	profiles := configtest.Write(t, dir, "temporal.toml", []byte("[profile.prod]\naddress = \"prod.example:7233\"\napi_key = \""+secretKey+"\"\n"))
	badTOML := configtest.Write(t, dir, "bad.toml", []byte("[profile.prod]\napi_key = "+secretKey+"\n"))
	typo := configtest.Write(t, dir, "typo.toml", []byte("[profile.prod]\napi_key = \""+secretKey+"\"\n[profile.prod.tls]\nclient_cert = \"x\"\n"))
	profileBadCert := configtest.Write(t, dir, "badcert.toml", []byte("[profile.prod.tls]\nclient_cert_path = \""+filepath.Join(dir, "gone.pem")+"\"\nclient_key_path = \""+keyFile+"\"\n"))

	mtls := func(kv ...string) map[string]string {
		m := map[string]string{
			"TEMPORAL_TLS_CLIENT_CERT_PATH":    certFile,
			"TEMPORAL_TLS_CLIENT_KEY_PATH":     keyFile,
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": caFile,
			"TEMPORAL_API_KEY":                 secretKey,
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want []string // all in the one error line; the first is where it comes from
	}{
		{"missing cert file", mtls("TEMPORAL_TLS_CLIENT_CERT_PATH", filepath.Join(dir, "gone.pem")),
			[]string{"TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read", "gone.pem", "no such file"}},
		{"unknown compression", map[string]string{"TEMPORAL_GRPC_COMPRESSION": "brotli"},
			[]string{"TEMPORAL_GRPC_COMPRESSION: \"brotli\" is not none or gzip"}},
		{"cert path is a folder", mtls("TEMPORAL_TLS_CLIENT_CERT_PATH", dir),
			[]string{"TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read", "is a directory"}},
		{"missing key file", mtls("TEMPORAL_TLS_CLIENT_KEY_PATH", filepath.Join(dir, "gone.key")),
			[]string{"TEMPORAL_TLS_CLIENT_KEY_PATH: cannot read", "no such file"}},
		{"cert without key", mtls("TEMPORAL_TLS_CLIENT_KEY_PATH", ""),
			[]string{"TEMPORAL_TLS_CLIENT_CERT_PATH: a client certificate needs its private key", "TEMPORAL_TLS_CLIENT_KEY_PATH"}},
		{"key without cert", mtls("TEMPORAL_TLS_CLIENT_CERT_PATH", ""),
			[]string{"TEMPORAL_TLS_CLIENT_KEY_PATH: a client key needs its certificate"}},
		{"cert is not PEM", mtls("TEMPORAL_TLS_CLIENT_CERT_PATH", garbage),
			[]string{"TEMPORAL_TLS_CLIENT_CERT_PATH: holds no PEM certificate"}},
		{"key file holds a certificate", mtls("TEMPORAL_TLS_CLIENT_KEY_PATH", certFile),
			[]string{"TEMPORAL_TLS_CLIENT_KEY_PATH: holds no PEM private key"}},
		{"key does not parse", mtls("TEMPORAL_TLS_CLIENT_KEY_PATH", badKey),
			[]string{"TEMPORAL_TLS_CLIENT_KEY_PATH: the private key does not parse"}},
		{"key of another certificate", mtls("TEMPORAL_TLS_CLIENT_KEY_PATH", otherKey),
			[]string{"TEMPORAL_TLS_CLIENT_KEY_PATH: the private key does not match the certificate of TEMPORAL_TLS_CLIENT_CERT_PATH"}},
		{"CA file without a certificate", mtls("TEMPORAL_TLS_SERVER_CA_CERT_PATH", garbage),
			[]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH: holds no PEM certificate"}},
		{"missing CA file", mtls("TEMPORAL_TLS_SERVER_CA_CERT_PATH", filepath.Join(dir, "gone-ca.pem")),
			[]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH: cannot read"}},
		{"TLS not a boolean", map[string]string{"TEMPORAL_TLS": "yes", "TEMPORAL_API_KEY": secretKey},
			[]string{"TEMPORAL_TLS: want true or false", `"yes"`}},
		{"API key with a line break", map[string]string{"TEMPORAL_API_KEY": secretKey + "\nx"},
			[]string{"TEMPORAL_API_KEY: contains spaces"}},
		{"bad address", map[string]string{"TEMPORAL_ADDRESS": "temporal", "TEMPORAL_API_KEY": secretKey},
			[]string{"TEMPORAL_ADDRESS: want host:port"}},
		{"unknown profile", map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "staging"},
			[]string{`TEMPORAL_PROFILE: no profile "staging" in`, "temporal.toml", "it has: prod"}},
		{"profile without a file", map[string]string{"TEMPORAL_PROFILE": "prod"},
			[]string{`TEMPORAL_PROFILE: profile "prod" asked for, but there is no profile file`, "TEMPORAL_CONFIG_FILE"}},
		{"missing config file", map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "gone.toml")},
			[]string{"TEMPORAL_CONFIG_FILE: cannot read the profile file", "gone.toml", "no such file"}},
		{"config file is a folder", map[string]string{"TEMPORAL_CONFIG_FILE": dir},
			[]string{"TEMPORAL_CONFIG_FILE: cannot read the profile file", "is a directory"}},
		{"config file not TOML", map[string]string{"TEMPORAL_CONFIG_FILE": badTOML, "TEMPORAL_PROFILE": "prod"},
			[]string{"TEMPORAL_CONFIG_FILE:", "bad.toml is not a valid profile file: line 2"}},
		{"config file with a misspelt key", map[string]string{"TEMPORAL_CONFIG_FILE": typo, "TEMPORAL_PROFILE": "prod"},
			[]string{"TEMPORAL_CONFIG_FILE:", "profile.prod.tls.client_cert"}},
		{"bad cert path in the profile", map[string]string{"TEMPORAL_CONFIG_FILE": profileBadCert, "TEMPORAL_PROFILE": "prod"},
			[]string{"profile prod's tls.client_cert_path in " + profileBadCert + ": cannot read"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReaderFrom(c.env)
			r.Temporal()
			err := r.Err()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("more than one line:\n%s", msg)
			}
			if !strings.HasPrefix(msg, c.want[0]) {
				t.Errorf("error %q does not start with %q", msg, c.want[0])
			}
			for _, w := range c.want[1:] {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			for _, secret := range secrets(client.Key, other.Key) {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q reveals a secret (%.12s…)", msg, secret)
				}
			}
		})
	}
}

// secrets are the strings no error may contain: the API key and every
// line of the private keys.
func secrets(keys ...[]byte) []string {
	out := []string{secretKey}
	for _, k := range keys {
		for _, line := range strings.Split(string(k), "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}

func TestTemporalSettings(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	ca := configtest.NewCA(t, "test-ca")
	client := configtest.Issue(t, ca, "worker")
	caFile := configtest.Write(t, dir, "ca.pem", ca.Cert)
	certFile := configtest.Write(t, dir, "client.pem", client.Cert)
	keyFile := configtest.Write(t, dir, "client.Key", client.Key)
	profiles := configtest.Write(t, dir, "temporal.toml", []byte(`
[profile.default]
address = "local.example:7233"

[profile.prod]
address = "prod.acct.tmprl.cloud:7233"
namespace = "prod.acct"
api_key = "`+secretKey+`"
`))

	cases := []struct {
		name                     string
		env                      map[string]string
		addr, ns, auth, cred     string
		tls, clientCert, rootCAs bool
		serverName               string
	}{
		{name: "nothing set: today's defaults", env: map[string]string{},
			addr: "127.0.0.1:7233", ns: "default", auth: "plaintext, no credentials"},
		{name: "empty variables count as unset", env: map[string]string{"TEMPORAL_ADDRESS": "", "TEMPORAL_TLS_CLIENT_CERT_PATH": " ", "TEMPORAL_API_KEY": ""},
			addr: "127.0.0.1:7233", ns: "default", auth: "plaintext, no credentials"},
		{name: "mTLS", env: map[string]string{
			"TEMPORAL_ADDRESS": "temporal.internal:7233", "TEMPORAL_NAMESPACE": "sales",
			"TEMPORAL_TLS_CLIENT_CERT_PATH": certFile, "TEMPORAL_TLS_CLIENT_KEY_PATH": keyFile,
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": caFile, "TEMPORAL_TLS_SERVER_NAME": "frontend"},
			addr: "temporal.internal:7233", ns: "sales", auth: "mTLS client certificate", cred: "TEMPORAL_TLS_CLIENT_CERT_PATH",
			tls: true, clientCert: true, rootCAs: true, serverName: "frontend"},
		{name: "an API key turns TLS on", env: map[string]string{"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233", "TEMPORAL_API_KEY": secretKey},
			addr: "ns.acct.tmprl.cloud:7233", ns: "default", auth: "API key over TLS", cred: "TEMPORAL_API_KEY", tls: true},
		{name: "API key with TLS off", env: map[string]string{"TEMPORAL_API_KEY": secretKey, "TEMPORAL_TLS": "false"},
			addr: "127.0.0.1:7233", ns: "default", auth: "API key without TLS", cred: "TEMPORAL_API_KEY"},
		{name: "TLS without client credentials", env: map[string]string{"TEMPORAL_TLS": "TRUE"},
			addr: "127.0.0.1:7233", ns: "default", auth: "TLS, no client credentials", tls: true},
		{name: "the file's default profile", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles},
			addr: "local.example:7233", ns: "default", auth: "plaintext, no credentials"},
		{name: "a named profile, a variable overriding it", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "prod", "TEMPORAL_NAMESPACE": "other.acct"},
			addr: "prod.acct.tmprl.cloud:7233", ns: "other.acct", auth: "API key over TLS",
			cred: "profile prod's api_key in " + profiles, tls: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReaderFrom(c.env)
			got := r.Temporal()
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if got.Address != c.addr || got.Namespace != c.ns || got.Options.HostPort != c.addr || got.Options.Namespace != c.ns {
				t.Errorf("address %s namespace %s (options %s %s), want %s %s", got.Address, got.Namespace,
					got.Options.HostPort, got.Options.Namespace, c.addr, c.ns)
			}
			if got.Auth() != c.auth || got.Credential != c.cred || got.TLS() != c.tls {
				t.Errorf("auth %q credential %q TLS %v, want %q %q %v", got.Auth(), got.Credential, got.TLS(), c.auth, c.cred, c.tls)
			}
			if tc := got.Options.ConnectionOptions.TLS; tc != nil {
				if (len(tc.Certificates) == 1) != c.clientCert || (tc.RootCAs != nil) != c.rootCAs || tc.ServerName != c.serverName {
					t.Errorf("TLS config: %d certificates, root CAs %v, server name %q", len(tc.Certificates), tc.RootCAs != nil, tc.ServerName)
				}
			}
			if (got.Options.Credentials != nil) != strings.Contains(c.auth, "API key") {
				t.Errorf("credentials %v for %s", got.Options.Credentials, c.auth)
			}
		})
	}
}

// TestTemporalCompression: requests go uncompressed unless gzip is asked for.
func TestTemporalCompression(t *testing.T) {
	isolate(t)
	for env, want := range map[string]client.GrpcCompression{
		"": &client.GrpcCompressionNone{}, "none": &client.GrpcCompressionNone{}, "GZIP": &client.GrpcCompressionGzip{},
	} {
		r := NewReaderFrom(map[string]string{"TEMPORAL_GRPC_COMPRESSION": env})
		got := r.Temporal().Options.ConnectionOptions.GrpcCompression
		if err := r.Err(); err != nil || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			t.Errorf("TEMPORAL_GRPC_COMPRESSION=%q: %T (%v), want %T", env, got, err, want)
		}
	}
}

// TestTemporalVarsListed keeps -h complete: Temporal() records every
// variable it documents.
func TestTemporalVarsListed(t *testing.T) {
	isolate(t)
	r := NewReaderFrom(map[string]string{})
	r.Temporal()
	var b strings.Builder
	Usage(&b, "worker", "", r.Vars())
	for _, v := range []Var{TemporalAddress, TemporalNamespace, TemporalAPIKey, TemporalTLS, TemporalTLSClientCert,
		TemporalTLSClientKey, TemporalTLSServerCA, TemporalTLSServerName, TemporalProfile, TemporalConfigFile, TemporalCompression} {
		if !strings.Contains(b.String(), v.Name+" ") {
			t.Errorf("-h lacks %s:\n%s", v.Name, b.String())
		}
	}
}
