package auth_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
)

// rotateFile replaces dst with src's content the way an operator's tool
// should: a temp file renamed over it, so a reader never sees half.
func rotateFile(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// echoServer serves cfg on loopback, echoing what each connection sends,
// until the test ends.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo sends a byte over c and reads it back: under TLS 1.3 a server's
// refusal of the client's certificate shows only at the first read.
func echo(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	return nil
}

// dialEcho dials addr with cfg (ServerName 127.0.0.1, as the dialers of
// the cluster set it from the address) and echoes once; the connection
// is returned open.
func dialEcho(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	cfg = cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	if err := echo(c); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// TestClientTLSFollowsRotatedFiles: a client and a listener (mutual TLS)
// read their keystore and truststore from files; both files are replaced
// by ones of a new CA. A new connection of the client then handshakes
// with the new certificates, the connection made before keeps working,
// a client holding only the old certificate and CA is refused, and the
// client refuses a server that still serves the old CA's certificate.
func TestClientTLSFollowsRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	ks, ts := filepath.Join(dir, "keystore.pem"), filepath.Join(dir, "truststore.pem")
	caA, caB := authtest.NewCA(t, "CA A"), authtest.NewCA(t, "CA B")
	leafA := caA.Peer("a", pkix.Name{CommonName: "broker"})
	leafB := caB.Peer("b", pkix.Name{CommonName: "broker"})
	rotateFile(t, ks, leafA.File)
	rotateFile(t, ts, caA.CertFile)
	settings := map[string]string{
		auth.SSLKeystoreLocation:   ks,
		auth.SSLTruststoreLocation: ts,
		auth.SSLClientAuth:         "required",
	}
	srv, err := auth.NewServerTLS(settings)
	if err != nil {
		t.Fatal(err)
	}
	var reloadErrs []error
	var mu sync.Mutex
	cli, err := auth.LoadClientTLS(settings, true)
	if err != nil {
		t.Fatal(err)
	}
	cli.OnReloadError = func(err error) { mu.Lock(); reloadErrs = append(reloadErrs, err); mu.Unlock() }
	addr := echoServer(t, srv.Config())
	before, err := dialEcho(t, addr, cli.Config())
	if err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	rotateFile(t, ks, leafB.File)
	rotateFile(t, ts, caB.CertFile)
	// Each side looks at its files at most once per TLSReloadCheckInterval:
	// until both have, a new connection may still be of the old CA (or
	// fail, one side having rotated and not the other).
	deadline := time.Now().Add(3*auth.TLSReloadCheckInterval + 2*time.Second)
	for {
		c, err := dialEcho(t, addr, cli.Config())
		if err == nil && string(c.ConnectionState().PeerCertificates[0].Raw) == string(leafB.TLS.Certificate[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new connection with the rotated certificates: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := cli.Config().RootCAs; !got.Equal(caB.Pool) {
		t.Fatal("the client's truststore is not the rotated one")
	}
	if err := echo(before); err != nil {
		t.Fatalf("the connection made before rotation was dropped: %v", err)
	}
	if _, err := dialEcho(t, addr, caA.ClientConfig(leafA)); err == nil {
		t.Fatal("a client with only the old CA and certificate was served after rotation")
	}
	oldServer, err := auth.NewServerTLS(map[string]string{auth.SSLKeystoreLocation: leafA.File})
	if err != nil {
		t.Fatal(err)
	}
	var verr *tls.CertificateVerificationError
	if _, err := dialEcho(t, echoServer(t, oldServer.Config()), cli.Config()); !errors.As(err, &verr) {
		t.Fatalf("dialing a server of the old CA after rotation: %v; want a certificate verification error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reloadErrs) != 0 {
		t.Fatalf("reload errors: %v", reloadErrs)
	}
}

// TestClientTLSKeepsCertificatesOnABadReload: a keystore replaced by
// garbage is reported through OnReloadError and the certificates loaded
// before stay in use; ClientCertificate presents them.
func TestClientTLSKeepsCertificatesOnABadReload(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "keystore.pem")
	ca := authtest.NewCA(t, "CA")
	leaf := ca.Peer("a", pkix.Name{CommonName: "broker"})
	rotateFile(t, ks, leaf.File)
	cli, err := auth.LoadClientTLS(map[string]string{auth.SSLKeystoreLocation: ks, auth.SSLTruststoreLocation: ca.CertFile}, true)
	if err != nil {
		t.Fatal(err)
	}
	reported := make(chan error, 16)
	cli.OnReloadError = func(err error) { reported <- err }
	if err := os.WriteFile(ks, []byte("not PEM at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cli.Reload(); !errors.Is(err, auth.ErrTLSConfig) {
		t.Fatalf("Reload of a garbage keystore: %v; want ErrTLSConfig", err)
	}
	deadline := time.Now().Add(3*auth.TLSReloadCheckInterval + 2*time.Second)
	for len(reported) == 0 && time.Now().Before(deadline) {
		cli.Config()
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-reported; !errors.Is(err, auth.ErrTLSConfig) {
		t.Fatalf("reported %v; want ErrTLSConfig", err)
	}
	cert, err := cli.ClientCertificate(nil)
	if err != nil || len(cert.Certificate) == 0 || string(cert.Certificate[0]) != string(leaf.TLS.Certificate[0]) {
		t.Fatalf("after a bad reload the client presents %d certificates (%v), not the one loaded before", len(cert.Certificate), err)
	}
}
