package server

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// interBrokerLines are the settings of a broker of a secured cluster: one
// SASL_SSL listener requiring client certificates, SCRAM-SHA-512 between
// brokers as the user broker, and TLS for etcd's traffic; node is the
// broker's node.id (not a voter).
func interBrokerLines(ca *authtest.CA, cert *authtest.Leaf, node int, password string) []string {
	return []string{
		"node.id=" + strconv.Itoa(node),
		"controller.quorum.voters=9@127.0.0.1:9093", // a voter elsewhere: node is a broker only
		"listeners=SASL_SSL://127.0.0.1:0",
		"listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
		"inter.broker.listener.name=SASL_SSL",
		"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
		"listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=" + auth.JAASScramModule + ` required username="broker" password="` + password + `";`,
		"ssl.keystore.location=" + cert.File,
		"ssl.truststore.location=" + ca.CertFile,
		"ssl.client.auth=required",
		"listener.name.controller.ssl.keystore.location=" + cert.File,
		"listener.name.controller.ssl.truststore.location=" + ca.CertFile,
	}
}

// startReplicaBroker starts a broker over a temp dir serving ls, with an
// authorizer (no super user) and a replica.Manager attached before it
// serves, so that replica fetches are told from a consumer's.
func startReplicaBroker(t *testing.T, ls []Listener) *secureBroker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	withAuthorizer()(&cfg)
	srv, err := New(mgr, cfg, logger)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	rcfg := replicaTestConfig()
	rcfg.Self, rcfg.Logger = 1, logger
	rm := replica.NewManager(rcfg)
	srv.attachReplicas(rm, clusterHooks{})
	b := &secureBroker{testBroker: &testBroker{t: t, dir: dir, mgr: mgr, srv: srv}, addrs: map[string]string{}}
	t.Cleanup(b.stop)
	t.Cleanup(rm.Close)
	for _, l := range ls {
		addr, err := srv.ListenOn(l)
		if err != nil {
			t.Fatalf("listen %s: %v", l.Name, err)
		}
		b.addrs[l.Name] = addr.String()
		b.addr = addr.String()
	}
	return b
}

func mustListeners(t *testing.T, b BrokerSettings) []Listener {
	t.Helper()
	ls, err := b.ResolveListeners()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// replicaFetch sends an empty replica fetch as broker 2 through cl and
// returns its error code, or the request's error.
func replicaFetch(t *testing.T, cl *kgo.Client) (int16, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = 2, 2, 1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, 1<<20
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return 0, err
	}
	return resp.(*kmsg.FetchResponse).ErrorCode, nil
}

// replicaConnFetch is replicaFetch through a replica.Conn.
func replicaConnFetch(t *testing.T, c *replica.Conn) (int16, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = 2, 2, 1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, 1<<20
	resp, err := c.Fetch(ctx, req)
	if err != nil {
		return 0, err
	}
	return resp.ErrorCode, nil
}

// TestInterBrokerClientLogsInWithTheListenersSecurity: two brokers of a
// secured cluster (SASL_SSL with client certificates, a CA made here).
// Broker B's client, built only from its settings, reaches broker A over
// TLS with B's certificate and logs in as the inter-broker user: its
// replica fetch is refused with CLUSTER_AUTHORIZATION_FAILED until that
// principal is granted ClusterAction, then served; another user with
// that grant missing stays refused, and B with a wrong password fails
// with SASL_AUTHENTICATION_FAILED.
func TestInterBrokerClientLogsInWithTheListenersSecurity(t *testing.T) {
	ca := authtest.NewCA(t, "cluster CA")
	certA := ca.Peer("broker-a", pkix.Name{CommonName: "broker-a"})
	certB := ca.Peer("broker-b", pkix.Name{CommonName: "broker-b"})
	settingsA, err := clusterSettings(t, interBrokerLines(ca, certA, 1, "broker-secret")...)
	if err != nil {
		t.Fatal(err)
	}
	lsA := mustListeners(t, settingsA)
	a := startReplicaBroker(t, lsA)
	addUser(t, a.srv, "broker", "broker-secret")
	addUser(t, a.srv, "other", "other-secret")

	settingsB, err := clusterSettings(t, interBrokerLines(ca, certB, 2, "broker-secret")...)
	if err != nil {
		t.Fatal(err)
	}
	lsB := mustListeners(t, settingsB)
	b := startBrokerOn(t, lsB)
	addUser(t, b.srv, "broker", "broker-secret")
	sec, err := settingsB.ClusterSecurity(lsB)
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.InterBroker) != 2 || sec.Metadata.Client == nil || sec.Metadata.Peer == nil || sec.Metadata.Serve == nil {
		t.Fatalf("want TLS and SASL options and etcd TLS: %d options, %+v", len(sec.InterBroker), sec.Metadata)
	}
	fromB := a.clientOn("SASL_SSL", sec.InterBroker...)

	if code, err := replicaFetch(t, fromB); err != nil || code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("replica fetch without ClusterAction: code %d, %v; want CLUSTER_AUTHORIZATION_FAILED", code, err)
	}
	grant := binding(auth.ResourceCluster, auth.PatternLiteral, auth.ClusterName, "User:broker", auth.OpClusterAction, auth.PermissionAllow)
	if errs := a.srv.authz.Create([]auth.Binding{grant}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if code, err := replicaFetch(t, fromB); err != nil || code != 0 {
		t.Fatalf("replica fetch of the inter-broker user with ClusterAction: code %d, %v", code, err)
	}
	// The fetchers' own connection, with the same security, too.
	conn := replica.NewConn(1, replica.ConnConfig{Addr: a.addrs["SASL_SSL"], TLS: sec.InterBrokerConn.TLS, SASL: sec.InterBrokerConn.SASL})
	defer conn.Close()
	if code, err := replicaConnFetch(t, conn); err != nil || code != 0 {
		t.Fatalf("replica fetch through replica.Conn: code %d, %v", code, err)
	}

	// The principal is the JAAS line's user: another one is refused.
	other, err := clusterSettings(t, append(interBrokerLines(ca, certB, 2, "other-secret"),
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="+auth.JAASScramModule+` required username="other" password="other-secret";`)...)
	if err != nil {
		t.Fatal(err)
	}
	otherOpts, err := other.ClusterSecurity(mustListeners(t, other))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := replicaFetch(t, a.clientOn("SASL_SSL", otherOpts.InterBroker...)); err != nil || code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("replica fetch as User:other: code %d, %v; want CLUSTER_AUTHORIZATION_FAILED", code, err)
	}

	// A wrong password fails the login, and says nothing of the password.
	wrong, err := clusterSettings(t, interBrokerLines(ca, certB, 2, "not-the-secret")...)
	if err != nil {
		t.Fatal(err)
	}
	wrongOpts, err := interBrokerClientOpts(&wrong.Cluster, mustListeners(t, wrong))
	if err != nil {
		t.Fatal(err)
	}
	_, err = replicaFetch(t, a.clientOn("SASL_SSL", wrongOpts...))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Fatalf("the error shows the password: %v", err)
	}

	// And A's client reaches B the same way (Metadata needs no grant).
	optsA, err := interBrokerClientOpts(&settingsA.Cluster, lsA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.clientOn("SASL_SSL", optsA...).Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("A's inter-broker client on B: %v", err)
	}
	// Without the client certificate B requires, the handshake fails.
	noCert := append([]kgo.Opt{}, optsA...)
	noCert[0] = kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
	if _, err := b.clientOn("SASL_SSL", noCert...).Request(ctx, kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("a client without a certificate passed a listener that requires one")
	}
}

// TestClusterSecuritySettingsRefused: the inter-broker login and the
// etcd traffic's TLS are checked when the settings are read, each
// mistake with an error that says what to set; no error shows a secret.
func TestClusterSecuritySettingsRefused(t *testing.T) {
	ca := authtest.NewCA(t, "cluster CA")
	cert := ca.Peer("broker", pkix.Name{CommonName: "broker"})
	base := interBrokerLines(ca, cert, 2, "pw-secret")
	// edit is base without the lines that start with one of drop, plus add.
	edit := func(drop []string, add ...string) []string {
		var out []string
	lines:
		for _, l := range base {
			for _, p := range drop {
				if strings.HasPrefix(l, p) {
					continue lines
				}
			}
			out = append(out, l)
		}
		return append(out, add...)
	}
	with := func(add ...string) []string { return edit(nil, add...) }
	jaas := "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
	inline := func(pem []byte) string { return strings.ReplaceAll(string(pem), "\n", " ") }
	for _, tt := range []struct {
		name  string
		lines []string
		want  string // "" when accepted
	}{
		{"secured cluster", base, ""},
		{"plaintext inter-broker on a SASL_SSL-only broker", edit([]string{"inter.broker.listener.name"}, "security.inter.broker.protocol=PLAINTEXT"),
			"security.inter.broker.protocol=PLAINTEXT names the listener PLAINTEXT, which is not among the listeners (SASL_SSL)"},
		{"no mechanism", edit([]string{"sasl.mechanism.inter.broker.protocol"}),
			"set sasl.mechanism.inter.broker.protocol to the mechanism brokers log in to each other with (one of the listener's: SCRAM-SHA-512); Kafka's default GSSAPI is not served"},
		{"mechanism the listener does not enable", with("sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256"),
			"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256 is not one of the listener's sasl.enabled.mechanisms (SCRAM-SHA-512)"},
		{"GSSAPI", with("sasl.mechanism.inter.broker.protocol=GSSAPI"), "GSSAPI is not served"},
		{"two mechanisms", with("sasl.mechanism.inter.broker.protocol=PLAIN,SCRAM-SHA-512"), "one mechanism"},
		{"no login", edit([]string{jaas}), "set listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config to the inter-broker user's login"},
		{"login of another mechanism", with(jaas + auth.JAASPlainModule + ` required username="broker" password="pw-secret";`),
			"SCRAM-SHA-512 logs in with " + auth.JAASScramModule},
		{"login without a password", with(jaas + auth.JAASScramModule + ` required username="broker";`), "no password"},
		{"malformed login", with(jaas + auth.JAASScramModule + ` required username="broker" password="pw-secret"`), "missing the closing ;"},
		{"PLAIN users in the login", with("listener.name.sasl_ssl.plain.sasl.jaas.config=" + auth.JAASPlainModule + ` required username="broker" password="pw-secret" user_alice="pw-secret";`),
			"user_<name> options (Kafka's PLAIN users) are not served"},
		{"OAUTHBEARER without an unsecured login", with("listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=" + auth.JAASOAuthModule + ` required;`),
			"token endpoints are not served"},
		{"a mechanism without SASL", edit([]string{"listeners=", "listener.security.protocol.map", "inter.broker.listener.name", "listener.name.sasl_ssl"},
			"listeners=SSL://127.0.0.1:0", "listener.security.protocol.map=SSL:SSL,CONTROLLER:SSL"),
			"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512 is set, but brokers dial each other without SASL"},
		{"controller over SASL", with("listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL"), "etcd has no SASL"},
		{"controller without a keystore", edit([]string{"listener.name.controller.ssl.keystore.location", "ssl.keystore.location="}),
			"set listener.name.controller.ssl.keystore.location to a PEM file"},
		{"controller with an inline keystore", edit([]string{"listener.name.controller.ssl.keystore.location", "ssl.keystore.location="},
			"listener.name.controller.ssl.keystore.certificate.chain="+inline(cert.CertPEM),
			"listener.name.controller.ssl.keystore.key="+inline(cert.KeyPEM)),
			"etcd reads files, not inline PEM"},
		{"controller without a truststore", edit([]string{"listener.name.controller.ssl.truststore.location", "ssl.truststore.location=", "ssl.client.auth="}),
			"set listener.name.controller.ssl.truststore.location"},
		{"controller without client certificates", with("listener.name.controller.ssl.client.auth=none"), "listener.name.controller.ssl.client.auth (or the broker-wide ssl.client.auth it inherits) must be required or left out"},
		{"controller inheriting requested client certificates", edit([]string{"ssl.client.auth="}, "ssl.client.auth=requested"), "must be required or left out"},
		{"secured listeners, plaintext etcd", edit([]string{"listener.security.protocol.map"}, "listener.security.protocol.map=SASL_SSL:SASL_SSL"),
			"every listener is secured (SASL_SSL://127.0.0.1:0), but the etcd traffic"},
		{"a plaintext inter-broker listener too, plaintext etcd", edit([]string{"listener", "inter.broker.listener.name", "sasl.mechanism.inter.broker.protocol"},
			"listeners=SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0", "inter.broker.listener.name=PLAINTEXT"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.lines
			_, err := clusterSettings(t, lines...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v\nwant an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pw-secret") || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
}

// TestInterBrokerLoginIsASecretSetting: the per-listener JAAS line is
// shown as [hidden] wherever settings are shown.
func TestInterBrokerLoginIsASecretSetting(t *testing.T) {
	if !IsSecretSetting("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config") {
		t.Fatal("the inter-broker login is not a secret setting")
	}
	b := DefaultBrokerSettings()
	err := b.ReadProperties(strings.NewReader("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="+auth.JAASPlainModule+` required username="u" password="pw-secret";`), "f")
	if err == nil || !strings.Contains(err.Error(), "[hidden]") || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("%v: want the value [hidden]", err)
	}
}

// TestInterBrokerOAuthBearerUnsecuredLogin: Kafka's unsecured
// OAUTHBEARER login (unsecuredLoginStringClaim_sub) logs in on a listener
// that accepts unsigned tokens, as that principal.
func TestInterBrokerOAuthBearerUnsecuredLogin(t *testing.T) {
	b := startSecureBroker(t, "SASL_PLAINTEXT://127.0.0.1:0", "", map[string]string{
		"sasl.enabled.mechanisms": "OAUTHBEARER", auth.OAuthInsecureUnsigned: "true",
	}, withAuthorizer("User:broker"))
	s, err := clusterSettings(t, "node.id=2", "controller.quorum.voters=9@127.0.0.1:9093", // a voter elsewhere: node is a broker only
		"listeners=SASL_PLAINTEXT://127.0.0.1:0", "sasl.mechanism.inter.broker.protocol=OAUTHBEARER",
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms=OAUTHBEARER",
		"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config="+auth.JAASOAuthModule+` required unsecuredLoginStringClaim_sub="broker";`,
		"listener.name.sasl_plaintext."+auth.OAuthInsecureUnsigned+"=true",
		"listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SSL",
		"listener.name.controller.ssl.keystore.location=/k.pem", "listener.name.controller.ssl.truststore.location=/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := s.ResolveListeners()
	opts, err := interBrokerClientOpts(&s.Cluster, ls)
	if err != nil {
		t.Fatal(err)
	}
	// Describing the cluster's ACLs needs Describe on the cluster: a
	// super user's, so only User:broker is answered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	resp, err := b.clientOn("SASL_PLAINTEXT", opts...).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.DescribeACLsResponse).ErrorCode; code != 0 {
		t.Fatalf("DescribeAcls as the unsecured login: %v, want it served to User:broker", kerr.ErrorForCode(code))
	}
}

// TestEmbeddedEtcdServesOnlyTLSWithControllerSettings: a voter started
// with the TLS the CONTROLLER listener's settings give serves its peer
// and client ports over TLS only, with client certificates required; the
// etcd client of the same settings reads and writes the metadata.
func TestEmbeddedEtcdServesOnlyTLSWithControllerSettings(t *testing.T) {
	ca := authtest.NewCA(t, "cluster CA")
	cert := ca.Peer("member", pkix.Name{CommonName: "member"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, mt, peer, client := startTLSVoter(t, ctx, cert.File, ca.CertFile)
	if u := m.ClientURLs()[0]; !strings.HasPrefix(u, "https://") {
		t.Fatalf("client URL %s is not https", u)
	}
	st, err := cluster.OpenEtcdStore(ctx, cluster.EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), TLS: mt.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.AllocateProducerIDBlock(ctx, 10); err != nil {
		t.Fatalf("a write over TLS: %v", err)
	}

	short := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		t.Cleanup(cancel)
		return c
	}
	plainURL := "http://127.0.0.1:" + strconv.Itoa(client)
	if s2, err := cluster.OpenEtcdStore(short(), cluster.EtcdStoreConfig{ClusterID: "tls", Endpoints: []string{plainURL}}); err == nil {
		s2.Close()
		t.Fatal("the client port served plaintext")
	}
	noCert := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	if s2, err := cluster.OpenEtcdStore(short(), cluster.EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), TLS: noCert}); err == nil {
		s2.Close()
		t.Fatal("the client port served a client without a certificate")
	}

	// The peer port: etcd's /members answers a member's certificate only.
	get := func(scheme string, cfg *tls.Config) (int, error) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Get(scheme + "://127.0.0.1:" + strconv.Itoa(peer) + "/members")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("https", mt.Client); err != nil || code != http.StatusOK {
		t.Fatalf("peer port with the member's certificate: %d, %v", code, err)
	}
	if code, err := get("https", noCert); err == nil && code == http.StatusOK {
		t.Fatal("the peer port served a client without a certificate")
	}
	if code, err := get("http", nil); err == nil && code == http.StatusOK {
		t.Fatal("the peer port served plaintext")
	}
}

// startTLSVoter starts a lone embedded etcd voter on 127.0.0.1 with the
// TLS that the CONTROLLER listener's settings give it (keystore and
// truststore PEM files), closed at the end of the test, and returns it
// with that TLS and its peer and client ports.
func startTLSVoter(t *testing.T, ctx context.Context, keystore, truststore string) (m *cluster.Embedded, mt MetadataTLS, peer, client int) {
	t.Helper()
	port := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	peer, client = port(), port()
	s, err := clusterSettings(t, "node.id=1", "controller.quorum.voters=1@127.0.0.1:"+strconv.Itoa(peer),
		"controller.listener=127.0.0.1:"+strconv.Itoa(peer), "controller.client.listener=127.0.0.1:"+strconv.Itoa(client),
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
		"listener.name.controller.ssl.keystore.location="+keystore,
		"listener.name.controller.ssl.truststore.location="+truststore)
	if err != nil {
		t.Fatal(err)
	}
	if mt, err = s.MetadataTLS(); err != nil {
		t.Fatal(err)
	}
	m, err = cluster.StartEmbedded(ctx, cluster.EmbedConfig{
		NodeID: 1, DataDir: t.TempDir(),
		ControllerListen: s.Cluster.ControllerListen, ClientListen: s.Cluster.ClientListen(),
		Voters:  []cluster.Voter{{NodeID: 1, Host: "127.0.0.1", Port: peer}},
		PeerTLS: mt.Peer, ClientTLS: mt.Serve, UnsafeNoFsync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, mt, peer, client
}
