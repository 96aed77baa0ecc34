// Package authtest makes what the tests of TLS listeners need: a throwaway
// certificate authority, server and client certificates signed by it, and
// their PEM files in a test's temporary directory. Keys are generated at
// run time (ECDSA P-256); none is ever committed.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	t    testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA certificate; CertFile holds it.
	CertPEM  []byte
	CertFile string
	Pool     *x509.CertPool
	serial   int64
}

// NewCA makes a CA whose files go in a temporary directory of t.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tributary tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("authtest: CA certificate: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{t: t, dir: t.TempDir(), cert: cert, key: key, serial: 1}
	ca.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca.CertFile = ca.write("ca.pem", ca.CertPEM)
	ca.Pool = x509.NewCertPool()
	ca.Pool.AddCert(cert)
	return ca
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("authtest: key: %v", err)
	}
	return key
}

func (ca *CA) write(name string, b []byte) string {
	p := filepath.Join(ca.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		ca.t.Fatalf("authtest: %v", err)
	}
	return p
}

// Leaf is a certificate with its key, signed by a CA.
type Leaf struct {
	CertPEM, KeyPEM []byte
	// File holds the key and the certificate chain (as ssl.keystore.location
	// of type PEM wants them).
	File string
	TLS  tls.Certificate
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost;
// name is the file's base name.
func (ca *CA) Server(name string) *Leaf {
	return ca.issue(name, pkix.Name{CommonName: "localhost"}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nil)
}

// Peer issues a certificate for both sides of a connection between
// brokers (or etcd members): a server certificate as Server's, valid on
// extra addresses too (127.0.0.2-4 of a local cluster), that is also a
// client certificate with subject.
func (ca *CA) Peer(name string, subject pkix.Name, extra ...net.IP) *Leaf {
	return ca.issue(name, subject, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, extra)
}

// Client issues a client certificate with subject.
func (ca *CA) Client(name string, subject pkix.Name) *Leaf {
	return ca.issue(name, subject, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
}

func (ca *CA) issue(name string, subject pkix.Name, usage []x509.ExtKeyUsage, extra []net.IP) *Leaf {
	ca.t.Helper()
	key := newKey(ca.t)
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	if usage[0] == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, extra...)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatalf("authtest: certificate: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatalf("authtest: key: %v", err)
	}
	l := &Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
	l.File = ca.write(name+".pem", append(append([]byte{}, l.KeyPEM...), l.CertPEM...))
	l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		ca.t.Fatalf("authtest: key pair: %v", err)
	}
	return l
}

// ClientConfig is a client's TLS configuration trusting ca, presenting
// cert if not nil.
func (ca *CA) ClientConfig(cert *Leaf) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return cfg
}
