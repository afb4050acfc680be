// Package certs makes the certificates a local Temporal cluster runs on: a
// certificate authority and the server and client certificates it signs,
// ECDSA P-256, kept as PEM files in a folder. A second call on the same
// folder reuses the files while they are valid, so a restarted cluster and
// the clients configured for it keep working.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// validity is how long a new certificate is valid; one that expires within
// renewBefore is replaced.
const (
	validity    = 10 * 365 * 24 * time.Hour
	renewBefore = 30 * 24 * time.Hour
)

// Pair names the PEM files of a certificate and its private key.
type Pair struct {
	CertFile string
	KeyFile  string
}

// Authority is a certificate authority kept in two files.
type Authority struct {
	Pair
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Leaf says what a certificate issued by an Authority is for.
type Leaf struct {
	CommonName string
	// DNSNames and IPs are the subject alternative names a server
	// certificate is valid for.
	DNSNames []string
	IPs      []net.IP
	// Server and Client set the extended key usages (both for a Temporal
	// service that serves and dials its peers with one certificate).
	Server, Client bool
}

// LoadOrCreateCA returns the authority in dir/NAME.pem and dir/NAME.key,
// creating both when either is missing, unreadable or about to expire.
func LoadOrCreateCA(dir, name, commonName string) (*Authority, error) {
	p := Pair{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+".key")}
	if cert, key, err := load(p); err == nil && cert.IsCA && fresh(cert) {
		return &Authority{Pair: p, cert: cert, key: key}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"dealflow dev"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CA %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if err := write(p, der, key); err != nil {
		return nil, err
	}
	return &Authority{Pair: p, cert: cert, key: key}, nil
}

// Issue returns the certificate in dir/NAME.pem and dir/NAME.key, issuing a
// new one when either is missing, is not signed by a, does not match leaf's
// names or usages, or is about to expire.
func (a *Authority) Issue(dir, name string, leaf Leaf) (Pair, error) {
	p := Pair{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+".key")}
	if cert, _, err := load(p); err == nil && fresh(cert) && a.signed(cert) && matches(cert, leaf) {
		return p, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: leaf.CommonName, Organization: []string{"dealflow dev"}},
		DNSNames:     leaf.DNSNames,
		IPAddresses:  leaf.IPs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages(leaf),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return Pair{}, fmt.Errorf("certs: issue %s: %w", name, err)
	}
	return p, write(p, der, key)
}

// Pool returns a certificate pool holding only the authority.
func (a *Authority) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.cert)
	return pool
}

// Certificate loads a pair for a tls.Config.
func (p Pair) Certificate() (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %w", err)
	}
	return c, nil
}

func (a *Authority) signed(cert *x509.Certificate) bool {
	_, err := cert.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func usages(leaf Leaf) []x509.ExtKeyUsage {
	var u []x509.ExtKeyUsage
	if leaf.Server {
		u = append(u, x509.ExtKeyUsageServerAuth)
	}
	if leaf.Client {
		u = append(u, x509.ExtKeyUsageClientAuth)
	}
	return u
}

// matches reports whether cert has leaf's name, alternative names and usages.
func matches(cert *x509.Certificate, leaf Leaf) bool {
	if cert.Subject.CommonName != leaf.CommonName || !sameStrings(cert.DNSNames, leaf.DNSNames) {
		return false
	}
	if len(cert.IPAddresses) != len(leaf.IPs) {
		return false
	}
	for i, ip := range leaf.IPs {
		if !cert.IPAddresses[i].Equal(ip) {
			return false
		}
	}
	want := usages(leaf)
	if len(cert.ExtKeyUsage) != len(want) {
		return false
	}
	for i := range want {
		if cert.ExtKeyUsage[i] != want[i] {
			return false
		}
	}
	return true
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fresh(cert *x509.Certificate) bool {
	return time.Now().Add(renewBefore).Before(cert.NotAfter) && time.Now().After(cert.NotBefore)
}

// load reads a pair and checks that the key belongs to the certificate.
func load(p Pair) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// write stores a certificate and its key, the key readable by the owner only.
// Each file is written to a temporary name and renamed, so a reader never
// sees half a file.
func write(p Pair, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p.CertFile), 0o755); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := writeFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
