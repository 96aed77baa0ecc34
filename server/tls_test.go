package server

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth/authtest"
)

// TestTLSListenerServesFranzGo: produce and consume through an SSL
// listener with franz-go, next to a PLAINTEXT one serving the same data.
func TestTLSListenerServesFranzGo(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	b := startSecureBroker(t, "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "", map[string]string{
		"ssl.keystore.type": "PEM", "ssl.keystore.location": server.File,
	})
	ctx := testContext(t)
	tlsCl := b.clientOn("SSL", kgo.DialTLSConfig(ca.ClientConfig(nil)), kgo.AllowAutoTopicCreation())
	value := strings.Repeat("x", 100<<10) // larger than one TLS record
	for i := range 20 {
		if err := tlsCl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte(value[:(i+1)*5000])}).FirstErr(); err != nil {
			t.Fatalf("produce over TLS: %v", err)
		}
	}
	for _, name := range []string{"SSL", "PLAINTEXT"} {
		var opts []kgo.Opt
		if name == "SSL" {
			opts = append(opts, kgo.DialTLSConfig(ca.ClientConfig(nil)))
		}
		cl := b.clientOn(name, append(opts, kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		got := 0
		for got < 20 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume over %s: %v", name, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if string(r.Value) != value[:(got+1)*5000] {
					t.Fatalf("record %d over %s: %d bytes, want %d", got, name, len(r.Value), (got+1)*5000)
				}
				got++
			})
		}
	}
}

// TestTLSMutualPrincipal: with ssl.client.auth=required a client
// certificate is required, and the connection acts as the principal
// ssl.principal.mapping.rules make of its subject.
func TestTLSMutualPrincipal(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	alice := ca.Client("alice", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"ServiceUsers"}, Organization: []string{"example"}})
	b := startSecureBroker(t, "SSL://127.0.0.1:0", "", map[string]string{
		"ssl.keystore.location": server.File, "ssl.truststore.location": ca.CertFile,
		"ssl.client.auth":             "required",
		"ssl.principal.mapping.rules": "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT",
	})
	rc, err := b.tlsRaw("SSL", ca.ClientConfig(alice))
	if err != nil {
		t.Fatal(err)
	}
	rc.do(kmsg.NewPtrApiVersionsRequest())
	b.srv.mu.Lock()
	var principals []string
	for c := range b.srv.conns {
		principals = append(principals, c.principal.String())
	}
	b.srv.mu.Unlock()
	if len(principals) != 1 || principals[0] != "User:alice" {
		t.Fatalf("principals %v, want [User:alice]", principals)
	}

	// Without a certificate: the handshake fails, counted, and the broker
	// keeps serving the client that has one.
	if rc2, err := b.tlsRaw("SSL", ca.ClientConfig(nil)); err == nil {
		rc2.nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = rc2.nc.Write([]byte{0, 0, 0, 0})
		if err == nil {
			_, err = rc2.nc.Read(make([]byte, 1))
		}
		if err == nil {
			t.Fatal("a client without a certificate was served")
		}
	}
	waitFor(t, "a TLS handshake failure counted", func() bool {
		return labeledCounter(t, b.srv, "tributary_tls_handshake_failures_total", "listener", "SSL") == 1
	})
	rc.do(kmsg.NewPtrApiVersionsRequest())
}

// TestTLSAndPlaintextMixUps: a TLS client on a PLAINTEXT listener and a
// plaintext client on an SSL one each get their connection closed with a
// clear log line, and the broker keeps serving everyone else.
func TestTLSAndPlaintextMixUps(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	b := startSecureBroker(t, "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "", map[string]string{"ssl.keystore.location": server.File})

	// TLS on the plaintext port: the client hello reads as a huge size.
	if _, err := tls.Dial("tcp", b.addrs["PLAINTEXT"], ca.ClientConfig(nil)); err == nil {
		t.Fatal("a TLS handshake succeeded on a PLAINTEXT listener")
	}
	// Plaintext Kafka on the TLS port.
	p := dialProbe(t, b.addrs["SSL"])
	req := kmsg.NewPtrApiVersionsRequest()
	p.send(probeRequest(req, p.nextCorr()))
	p.expectClosed()
	waitFor(t, "a TLS handshake failure counted", func() bool {
		return labeledCounter(t, b.srv, "tributary_tls_handshake_failures_total", "listener", "SSL") == 1
	})
	// Everyone else is served on both.
	dialProbe(t, b.addrs["PLAINTEXT"]).apiVersions()
	rc, err := b.tlsRaw("SSL", ca.ClientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	rc.do(kmsg.NewPtrApiVersionsRequest())
}

// TestTLSHelloOnPlaintextSaysSo: the error that closes a plaintext
// connection opened with a TLS client hello names the mix-up.
func TestTLSHelloOnPlaintextSaysSo(t *testing.T) {
	b := startBroker(t)
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go client.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
	c := newConn(b.srv, server, &listener{name: "PLAINTEXT"})
	err := c.readFrame()
	if err == nil || !strings.Contains(err.Error(), "a TLS handshake on PLAINTEXT listener PLAINTEXT") {
		t.Fatalf("readFrame: %v", err)
	}
}

// TestTLSInlinePEMFromProperties: a server.properties with the keystore
// inline, its PEM continued over lines with backslashes as Kafka's docs
// write it, serves TLS.
func TestTLSInlinePEMFromProperties(t *testing.T) {
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	inline := func(pem []byte) string {
		return strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", " \\\n    ")
	}
	props := "listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\n" +
		"ssl.keystore.certificate.chain=" + inline(server.CertPEM) + "\n" +
		"ssl.keystore.key=" + inline(server.KeyPEM) + "\n" +
		"num.partitions=2\n"
	s := DefaultBrokerSettings()
	if err := s.ReadProperties(strings.NewReader(props), "server.properties"); err != nil {
		t.Fatal(err)
	}
	if s.Server.NumPartitions != 2 {
		t.Fatalf("the line after the continued ones was lost: num.partitions %d", s.Server.NumPartitions)
	}
	ls, err := s.ResolveListeners()
	if err != nil {
		t.Fatal(err)
	}
	b := startBrokerOn(t, ls)
	if _, err := b.tlsRaw("SSL", ca.ClientConfig(nil)); err != nil {
		t.Fatalf("TLS to the inline keystore: %v", err)
	}
}
