package auth_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
)

// handshake runs a TLS handshake between srv and a client of cfg over a
// loopback connection; it returns the server side's state and error and
// the client's error.
func handshake(t *testing.T, srv *auth.ServerTLS, cfg *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	sc := tls.Server(a, srv.Config())
	cerr := make(chan error, 1)
	go func() {
		cc := tls.Client(b, cfg)
		err := cc.Handshake()
		if err == nil {
			// TLS 1.3: the server's verdict on the client certificate
			// arrives with the first read.
			cc.Write([]byte{1})
			_, err = cc.Read(make([]byte, 1))
		}
		cerr <- err
	}()
	serr := sc.Handshake()
	if serr == nil {
		sc.Read(make([]byte, 1))
		sc.Write([]byte{1})
	} else {
		a.Close()
	}
	return sc.ConnectionState(), serr, <-cerr
}

func TestServerTLSMutualPrincipal(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	alice := ca.Client("alice", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}})
	for _, tt := range []struct {
		name     string
		settings map[string]string
		client   *authtest.Leaf
		want     string // principal, or "fail"
	}{
		{"none", map[string]string{}, nil, "User:ANONYMOUS"},
		{"required", map[string]string{"ssl.client.auth": "required"}, alice, "User:CN=alice,OU=eng"},
		{"required without a certificate", map[string]string{"ssl.client.auth": "required"}, nil, "fail"},
		{"requested without", map[string]string{"ssl.client.auth": "requested"}, nil, "User:ANONYMOUS"},
		{"requested with, mapped", map[string]string{"ssl.client.auth": "requested",
			"ssl.principal.mapping.rules": "RULE:^CN=(.*?),OU=(.*)$/$1/,DEFAULT"}, alice, "User:alice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := map[string]string{"ssl.keystore.type": "PEM", "ssl.keystore.location": server.File,
				"ssl.truststore.type": "PEM", "ssl.truststore.location": ca.CertFile}
			for k, v := range tt.settings {
				s[k] = v
			}
			srv, err := auth.NewServerTLS(s)
			if err != nil {
				t.Fatal(err)
			}
			state, serr, cerr := handshake(t, srv, ca.ClientConfig(tt.client))
			if tt.want == "fail" {
				if serr == nil || cerr == nil {
					t.Fatalf("handshake without the required certificate: server %v, client %v", serr, cerr)
				}
				return
			}
			if serr != nil || cerr != nil {
				t.Fatalf("handshake: server %v, client %v", serr, cerr)
			}
			p, err := srv.Principal(state)
			if err != nil || p.String() != tt.want {
				t.Fatalf("principal %v, %v; want %s", p, err, tt.want)
			}
		})
	}
}

func TestServerTLSInlinePEMWithoutLineBreaks(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	oneLine := func(b []byte) string { return strings.Join(strings.Fields(string(b)), " ") }
	srv, err := auth.NewServerTLS(map[string]string{
		"ssl.keystore.certificate.chain": oneLine(server.CertPEM),
		"ssl.keystore.key":               oneLine(server.KeyPEM),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, serr, cerr := handshake(t, srv, ca.ClientConfig(nil)); serr != nil || cerr != nil {
		t.Fatalf("handshake: %v, %v", serr, cerr)
	}
}

// TestServerTLSReloadsChangedFiles: a keystore file replaced while the
// listener runs serves the new certificate at a later handshake; one that
// does not load keeps the old one and is reported.
func TestServerTLSReloadsChangedFiles(t *testing.T) {
	oldCA, newCA := authtest.NewCA(t, "old CA"), authtest.NewCA(t, "new CA")
	ks := oldCA.Server("server")
	srv, err := auth.NewServerTLS(map[string]string{"ssl.keystore.location": ks.File})
	if err != nil {
		t.Fatal(err)
	}
	var reloadErrs []error
	srv.OnReloadError = func(err error) { reloadErrs = append(reloadErrs, err) }
	if _, serr, cerr := handshake(t, srv, oldCA.ClientConfig(nil)); serr != nil || cerr != nil {
		t.Fatalf("first handshake: %v, %v", serr, cerr)
	}
	rotated := newCA.Server("rotated")
	b, _ := os.ReadFile(rotated.File)
	if err := os.WriteFile(ks.File, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * auth.TLSReloadCheckInterval)
	os.Chtimes(ks.File, later, later)
	time.Sleep(auth.TLSReloadCheckInterval + 100*time.Millisecond)
	if _, _, cerr := handshake(t, srv, newCA.ClientConfig(nil)); cerr != nil {
		t.Fatalf("after rotation a client trusting the new CA fails: %v", cerr)
	}
	if err := os.WriteFile(ks.File, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(time.Minute)
	os.Chtimes(ks.File, later, later)
	time.Sleep(auth.TLSReloadCheckInterval + 100*time.Millisecond)
	if _, _, cerr := handshake(t, srv, newCA.ClientConfig(nil)); cerr != nil {
		t.Fatalf("a broken file replaced the working certificate: %v", cerr)
	}
	if len(reloadErrs) != 1 || !errors.Is(reloadErrs[0], auth.ErrTLSConfig) {
		t.Fatalf("reload errors %v, want one", reloadErrs)
	}
}

func TestServerTLSSettingsRefused(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	for _, tt := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{}, "no certificate"},
		{map[string]string{"ssl.keystore.type": "JKS"}, "only PEM is served"},
		{map[string]string{"ssl.enabled.protocols": "TLSv1.1,TLSv1.2"}, "insecure"},
		{map[string]string{"ssl.enabled.protocols": "TLSv9"}, "unknown protocol"},
		{map[string]string{"ssl.cipher.suites": "TLS_RSA_WITH_RC4_128_SHA"}, "insecure"},
		{map[string]string{"ssl.cipher.suites": "TLS_NOPE"}, "unknown cipher suite"},
		{map[string]string{"ssl.client.auth": "always"}, "want none, requested or required"},
		{map[string]string{"ssl.client.auth": "required"}, "set ssl.truststore.location"},
		{map[string]string{"ssl.keystore.location": "/nonexistent/ks.pem"}, "no such file"},
		{map[string]string{"ssl.truststore.location": server.File + ".missing"}, "no such file"},
		{map[string]string{"ssl.principal.mapping.rules": "RULE:x"}, "ssl.principal.mapping.rules"},
	} {
		s := map[string]string{"ssl.keystore.location": server.File}
		for k, v := range tt.settings {
			s[k] = v
		}
		if len(tt.settings) == 0 {
			s = map[string]string{}
		}
		_, err := auth.NewServerTLS(s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.settings, err, tt.want)
		}
	}
}

func TestServerTLSVersionsAndSuites(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	srv, err := auth.NewServerTLS(map[string]string{"ssl.keystore.location": server.File,
		"ssl.enabled.protocols": "TLSv1.2", "ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"})
	if err != nil {
		t.Fatal(err)
	}
	state, serr, cerr := handshake(t, srv, ca.ClientConfig(nil))
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: %v, %v", serr, cerr)
	}
	if state.Version != tls.VersionTLS12 || state.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("version %x suite %x", state.Version, state.CipherSuite)
	}
	only13 := ca.ClientConfig(nil)
	only13.MinVersion = tls.VersionTLS13
	if _, _, cerr := handshake(t, srv, only13); cerr == nil {
		t.Errorf("a TLS 1.3-only client connected to a TLSv1.2 listener")
	}
}

// TestClientTLSOfListenerSettings: the client side of a listener's
// settings (a broker dialing another broker's listener) trusts the
// truststore, checks the host name, and presents the keystore's
// certificate when asked to, so a listener that requires client
// certificates lets it in.
func TestClientTLSOfListenerSettings(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	other := authtest.NewCA(t, "other CA")
	peer := ca.Peer("broker", pkix.Name{CommonName: "broker"})
	listener := map[string]string{"ssl.keystore.location": peer.File, "ssl.truststore.location": ca.CertFile, "ssl.client.auth": "required"}
	srv, err := auth.NewServerTLS(listener)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		settings map[string]string
		withCert bool
		server   string
		ok       bool
	}{
		{"trusted, with the certificate", listener, true, "127.0.0.1", true},
		{"without the certificate the listener requires", listener, false, "127.0.0.1", false},
		{"a host name the certificate does not name", listener, true, "broker.example", false},
		{"another CA", map[string]string{"ssl.keystore.location": peer.File, "ssl.truststore.location": other.CertFile}, true, "127.0.0.1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := auth.NewClientTLS(tt.settings, tt.withCert)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ServerName = tt.server
			_, serr, cerr := handshake(t, srv, cfg)
			if ok := serr == nil && cerr == nil; ok != tt.ok {
				t.Fatalf("handshake: server %v, client %v; want ok=%v", serr, cerr, tt.ok)
			}
		})
	}
	if _, err := auth.NewClientTLS(map[string]string{"ssl.truststore.location": ca.CertFile}, true); !errors.Is(err, auth.ErrTLSConfig) {
		t.Fatalf("a certificate asked for without a keystore: %v", err)
	}
	if _, err := auth.NewClientTLS(map[string]string{"ssl.enabled.protocols": "TLSv1"}, false); !errors.Is(err, auth.ErrTLSConfig) {
		t.Fatalf("TLSv1: %v", err)
	}
}
