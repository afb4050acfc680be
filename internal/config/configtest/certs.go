// Package configtest makes throwaway certificates for tests of the Temporal
// connection settings: a CA, and certificates it signs, as PEM in memory
// (the tests write them where each case needs them). They come from
// internal/dev/certs, the cluster's own certificate maker.
package configtest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"dealflow/internal/dev/certs"
)

// Pair is a PEM certificate and its private key; a CA's also signs.
type Pair struct {
	Cert, Key []byte
	ca        *certs.Authority
}

// NewCA returns a self-signed certificate authority.
func NewCA(tb testing.TB, name string) Pair {
	tb.Helper()
	ca, err := certs.LoadOrCreateCA(tb.TempDir(), "ca", name)
	if err != nil {
		tb.Fatal(err)
	}
	p := read(tb, ca.Pair)
	p.ca = ca
	return p
}

// Issue returns a certificate for name (its common and DNS name), for
// client and server use, signed by ca.
func Issue(tb testing.TB, ca Pair, name string) Pair {
	tb.Helper()
	pair, err := ca.ca.Issue(tb.TempDir(), "leaf", certs.Leaf{CommonName: name, DNSNames: []string{name}, Server: true, Client: true})
	if err != nil {
		tb.Fatal(err)
	}
	return read(tb, pair)
}

func read(tb testing.TB, p certs.Pair) Pair {
	tb.Helper()
	cert, err := os.ReadFile(p.CertFile)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := os.ReadFile(p.KeyFile)
	if err != nil {
		tb.Fatal(err)
	}
	return Pair{Cert: cert, Key: key}
}

// TLS returns the pair for a tls.Config.
func (p Pair) TLS(tb testing.TB) tls.Certificate {
	tb.Helper()
	c, err := tls.X509KeyPair(p.Cert, p.Key)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Pool returns a pool holding only p's certificate.
func (p Pair) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.Cert)
	return pool
}

// Write stores b in dir/name, readable by the owner only, and returns the
// path.
func Write(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
