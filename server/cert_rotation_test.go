package server

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/replica"
)

// rotateFile replaces dst with the concatenation of srcs through a temp
// file renamed over it, as a rotation should, so no reader sees half.
func rotateFile(t *testing.T, dst string, srcs ...string) {
	t.Helper()
	var b []byte
	for _, s := range srcs {
		sb, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, sb...)
	}
	if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

// rotationDeadline is how long a rotation may take to be seen: each side
// looks at its files at most once per auth.TLSReloadCheckInterval.
func rotationDeadline() time.Time {
	return time.Now().Add(3*auth.TLSReloadCheckInterval + 5*time.Second)
}

// TestInterBrokerTLSFollowsRotatedFiles: a broker's SSL inter-broker
// listener and the inter-broker client built from the same settings
// (mutual TLS) read their keystore and truststore from files, which are
// replaced by a new CA's. New connections of the follower fetchers'
// replica.Conn and of the kgo clients then handshake with the new
// certificates, without a restart, and a client holding only the old CA
// and certificate is refused.
func TestInterBrokerTLSFollowsRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	ks, ts := filepath.Join(dir, "keystore.pem"), filepath.Join(dir, "truststore.pem")
	caA, caB := authtest.NewCA(t, "CA A"), authtest.NewCA(t, "CA B")
	leafA := caA.Peer("broker-a", pkix.Name{CommonName: "broker"})
	leafB := caB.Peer("broker-b", pkix.Name{CommonName: "broker"})
	rotateFile(t, ks, leafA.File)
	rotateFile(t, ts, caA.CertFile)
	s, err := clusterSettings(t, "node.id=1",
		"controller.quorum.voters=9@127.0.0.1:9093", // a voter elsewhere: node 1 is a broker only
		"listeners=SSL://127.0.0.1:0",
		"listener.security.protocol.map=SSL:SSL,CONTROLLER:SSL",
		"inter.broker.listener.name=SSL",
		"ssl.keystore.location="+ks, "ssl.truststore.location="+ts, "ssl.client.auth=required",
		"listener.name.controller.ssl.keystore.location="+ks, "listener.name.controller.ssl.truststore.location="+ts)
	if err != nil {
		t.Fatal(err)
	}
	ls := mustListeners(t, s)
	b := startBrokerOn(t, ls)
	sec, err := s.ClusterSecurity(ls)
	if err != nil {
		t.Fatal(err)
	}
	if sec.InterBrokerConn.TLS == nil {
		t.Fatal("no inter-broker TLS for an SSL inter-broker listener")
	}
	connMetadata := func(tc func() *tls.Config) error {
		c := replica.NewConn(1, replica.ConnConfig{Addr: b.addrs["SSL"], TLS: tc, DialTimeout: 5 * time.Second})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Request(ctx, kmsg.NewPtrMetadataRequest())
		return err
	}
	kgoMetadata := func(opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addrs["SSL"]), kgo.RequestRetries(0)}, opts...)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		return err
	}
	if err := connMetadata(sec.InterBrokerConn.TLS); err != nil {
		t.Fatalf("replica.Conn before rotation: %v", err)
	}
	if err := kgoMetadata(sec.InterBroker...); err != nil {
		t.Fatalf("kgo before rotation: %v", err)
	}

	rotateFile(t, ks, leafB.File)
	rotateFile(t, ts, caB.CertFile)
	// Done once the client trusts only CA B and is served: the listener
	// then serves B's certificate and accepts the client's.
	deadline := rotationDeadline()
	for {
		err := connMetadata(sec.InterBrokerConn.TLS)
		if err == nil && sec.InterBrokerConn.TLS().RootCAs.Equal(caB.Pool) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica.Conn: no new connection with the rotated certificates: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := kgoMetadata(sec.InterBroker...); err != nil {
		t.Fatalf("kgo after rotation: %v", err)
	}
	if err := connMetadata(func() *tls.Config { return caA.ClientConfig(leafA) }); err == nil {
		t.Fatal("a client with only the old CA and certificate was served after rotation")
	}
}

// TestMetadataTLSFollowsRotatedFiles: an embedded etcd member and an
// etcd client with the CONTROLLER listener's TLS read its keystore and
// truststore files. The member starts trusting CAs A and B (etcd loads
// its CAs once); the keystore is then replaced by a certificate of CA B
// and the truststore by CA B alone. A new connection gets the member's
// new certificate, the client presents its new one and trusts B only,
// the store works over ClientReload's connections, and a client that
// trusts only CA A is refused the member.
func TestMetadataTLSFollowsRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	ks, ts := filepath.Join(dir, "keystore.pem"), filepath.Join(dir, "truststore.pem")
	caA, caB := authtest.NewCA(t, "CA A"), authtest.NewCA(t, "CA B")
	leafA := caA.Peer("member-a", pkix.Name{CommonName: "member"})
	leafB := caB.Peer("member-b", pkix.Name{CommonName: "member"})
	rotateFile(t, ks, leafA.File)
	rotateFile(t, ts, caA.CertFile, caB.CertFile)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, mt, peer, client := startTLSVoter(t, ctx, ks, ts)
	write := func() error {
		st, err := cluster.OpenEtcdStore(ctx, cluster.EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), ReloadTLS: mt.ClientReload})
		if err != nil {
			return err
		}
		defer st.Close()
		_, _, err = st.AllocateProducerIDBlock(ctx, 10)
		return err
	}
	presented := func() []byte {
		c, err := mt.Client.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil || len(c.Certificate) == 0 {
			t.Fatalf("the etcd client's certificate: %v", err)
		}
		return c.Certificate[0]
	}
	if err := write(); err != nil {
		t.Fatalf("a write before rotation: %v", err)
	}
	if string(presented()) != string(leafA.TLS.Certificate[0]) {
		t.Fatal("the etcd client does not present the keystore's certificate")
	}

	rotateFile(t, ks, leafB.File)
	rotateFile(t, ts, caB.CertFile)
	served := func(port int) ([]byte, error) {
		cfg := caB.ClientConfig(leafB)
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(port), cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw, nil
	}
	for _, p := range []int{client, peer} {
		got, err := served(p)
		if err != nil || string(got) != string(leafB.TLS.Certificate[0]) {
			t.Fatalf("port %d after rotation: a client of CA B only: %v (or served another certificate)", p, err)
		}
	}
	deadline := rotationDeadline()
	for string(presented()) != string(leafB.TLS.Certificate[0]) {
		if time.Now().After(deadline) {
			t.Fatal("the etcd client still presents the old certificate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for !mt.ClientReload().RootCAs.Equal(caB.Pool) {
		if time.Now().After(deadline) {
			t.Fatal("the etcd client still trusts the old truststore")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := write(); err != nil {
		t.Fatalf("a write over a new connection after rotation: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if st, err := cluster.OpenEtcdStore(short, cluster.EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), TLS: caA.ClientConfig(leafA)}); err == nil {
		st.Close()
		t.Fatal("a client trusting only the old CA reached the member after rotation")
	}
}
