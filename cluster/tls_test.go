package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestPKI writes a CA and one certificate signed by it, valid for
// server and client use on 127.0.0.2-4, and returns their files. It names
// 127.0.0.1 too: etcd checks a peer's client certificate against the
// address the peer connects from, and loopback dials leave from 127.0.0.1.
func writeTestPKI(t *testing.T) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.3"), net.ParseIP("127.0.0.4")},
	}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), TrustedCAFile: filepath.Join(dir, "ca.pem"), ClientCertAuth: true}
	for path, block := range map[string]*pem.Block{
		f.TrustedCAFile: {Type: "CERTIFICATE", Bytes: caDER},
		f.CertFile:      {Type: "CERTIFICATE", Bytes: der},
		f.KeyFile:       {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestEmbeddedMemberServesOnlyTLS(t *testing.T) {
	pki := writeTestPKI(t)
	q := newTestQuorum(t, 1)
	c := q.config(0)
	c.PeerTLS, c.ClientTLS = &pki, &pki
	m, err := StartEmbedded(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	q.members[0] = m
	if u := m.ClientURLs()[0]; !strings.HasPrefix(u, "https://") {
		t.Fatalf("client URL %s is not https", u)
	}
	tlsCfg, err := m.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenEtcdStore(ctx, EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), TLS: tlsCfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	topic, parts := testTopic("secured", 1, 1)
	if err := s.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}

	// Without a client certificate, the member refuses.
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	noCert := tlsCfg.Clone()
	noCert.Certificates, noCert.GetClientCertificate = nil, nil
	if s2, err := OpenEtcdStore(short, EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), TLS: noCert}); err == nil {
		s2.Close()
		t.Fatal("a client without a certificate read the metadata")
	}
}

func TestQuorumOverTLS(t *testing.T) {
	pki := writeTestPKI(t)
	q := newTestQuorum(t, 3)
	q.tls = &pki
	q.startAll()
	tlsCfg, err := q.members[0].ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stores []*EtcdStore
	for _, m := range q.members {
		s, err := OpenEtcdStore(ctx, EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), TLS: tlsCfg, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	topic, parts := testTopic("secured", 3, 1, 2, 3)
	if err := stores[2].CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		waitSnapshot(t, s, 5*time.Second, "the topic on every member", func(s *Snapshot) bool { return s.Partitions.Len() == 3 })
	}
}
