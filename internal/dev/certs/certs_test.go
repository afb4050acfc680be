package certs

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"testing"
)

func TestIssueReusesValidFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf := Leaf{CommonName: "server", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}
	p, err := ca.Issue(dir, "server", leaf)
	if err != nil {
		t.Fatal(err)
	}
	first := read(t, p.CertFile)
	if fi, err := os.Stat(p.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}

	ca2, err := LoadOrCreateCA(dir, "ca", "test CA")
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := ca2.Issue(dir, "server", leaf); err != nil || !bytes.Equal(read(t, p2.CertFile), first) {
		t.Fatalf("second issue did not reuse the certificate (err %v)", err)
	}
	leaf.Client = true
	if p3, err := ca2.Issue(dir, "server", leaf); err != nil || bytes.Equal(read(t, p3.CertFile), first) {
		t.Fatalf("a certificate with other usages was reused (err %v)", err)
	}

	other, err := LoadOrCreateCA(t.TempDir(), "ca", "other CA")
	if err != nil {
		t.Fatal(err)
	}
	if p4, err := other.Issue(dir, "server", leaf); err != nil || bytes.Equal(read(t, p4.CertFile), first) {
		t.Fatalf("a certificate of another CA was reused (err %v)", err)
	}
	cert, err := p.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	x, _ := x509.ParseCertificate(cert.Certificate[0])
	if _, err := x.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err == nil {
		t.Fatal("the other CA's certificate verifies against the first CA")
	}
	if _, err := x.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client usage: %v", err)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
