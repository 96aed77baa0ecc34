package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"google.golang.org/grpc"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// The security of the traffic a cluster node opens itself, Kafka's way,
// so that a secured cluster has no unsecured port:
//
// Broker to broker (follower fetchers): the inter-broker listener
// (inter.broker.listener.name, or the listener named after
// security.inter.broker.protocol, or else the first) decides the
// protocol. Its ssl.* settings give the client's TLS: the truststore
// verifies the other broker's certificate and host name, and the
// keystore is presented when the listener asks clients for certificates
// (ssl.client.auth requested or required), so that certificate must be a
// client certificate too. On a SASL listener the broker logs in with
// sasl.mechanism.inter.broker.protocol, which has no default (Kafka's
// GSSAPI is not served), as the user of
// listener.name.<listener>.<mechanism>.sasl.jaas.config (Kafka's JAAS
// line: ScramLoginModule or PlainLoginModule with username and password,
// or OAuthBearerLoginModule with unsecuredLoginStringClaim_sub, which
// mints unsigned tokens that only a listener with
// sasl.oauthbearer.insecure.unsigned.tokens.enable accepts). That user
// needs ClusterAction on the cluster (or to be a super user) for its
// replica fetches to be served.
//
// Broker to etcd: Kafka's controller listener, CONTROLLER in
// listener.security.protocol.map, says whether the etcd traffic (the
// voters' peer port and the client port every broker dials) is TLS:
// CONTROLLER:SSL with listener.name.controller.ssl.keystore.location and
// ssl.truststore.location (files: etcd reads the keystore again at each
// handshake, so a rotated certificate is served at the next connection;
// every node's etcd client follows both files as the inter-broker client
// does; but etcd loads the truststore's CAs once, so a new CA takes
// effect on a voter at its restart, which a rotation covers by adding it
// to the truststore, restarting the nodes one at a time, and only then
// issuing certificates from it). Both sides
// always require a certificate signed by the truststore: whoever reaches
// an etcd port unauthenticated could rewrite the cluster's metadata, its
// users and its ACLs. The keystore's certificate is the member's server
// certificate and the client certificate of every member and broker, so
// it names every voter's address (and 127.0.0.1 for voters on one host,
// see cluster's package comment) and is valid for both server and client
// authentication. etcd's TLS versions and suites are Go's defaults (TLS
// 1.2 and up). CONTROLLER:SASL_* is refused (etcd has no SASL). A cluster
// whose listeners are all secured must secure CONTROLLER too.

// jaasSettingSuffix ends the per-mechanism JAAS setting Kafka reads for a listener's SASL logins: listener.name.<listener>.<mechanism,
// lower case>.sasl.jaas.config.
const jaasSettingSuffix = ".sasl.jaas.config"

// unsecuredSubOption is Kafka's JAAS option for an unsecured OAUTHBEARER
// login: the token's sub claim.
const unsecuredSubOption = "unsecuredLoginStringClaim_sub"

// unsecuredTokenLifetime is how long a minted unsecured token is valid
// (Kafka's unsecuredLoginLifetimeSeconds default is 3600).
const unsecuredTokenLifetime = time.Hour

// jaasMechanism says whether setting, a listener's setting with the
// listener.name.<name>. prefix removed, is <mechanism>.sasl.jaas.config,
// and for which mechanism (upper case).
func jaasMechanism(setting string) (string, bool) {
	m, ok := strings.CutSuffix(setting, jaasSettingSuffix)
	if !ok || m == "" || strings.Contains(m, ".") {
		return "", false
	}
	return strings.ToUpper(m), true
}

// checkInterBrokerMechanism checks sasl.mechanism.inter.broker.protocol:
// one served mechanism, or empty (not set).
func checkInterBrokerMechanism(value string) error {
	if strings.TrimSpace(value) == "" {
		return nil
	}
	if strings.Contains(value, ",") {
		return errors.New("one mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	}
	_, err := auth.ParseSASLMechanisms(value)
	return err
}

// interBrokerLogin is the inter-broker user's login, read from a JAAS line.
type interBrokerLogin struct {
	user, password string // PLAIN and SCRAM; never in an error or log line
	sub            string // OAUTHBEARER's unsecured sub claim
}

// parseLoginJAAS reads the JAAS line of mechanism's login. Its errors
// never show a value.
func parseLoginJAAS(mechanism, value string) (interBrokerLogin, error) {
	module, opts, err := auth.ParseJAAS(value)
	if err != nil {
		return interBrokerLogin{}, err
	}
	want := auth.JAASScramModule
	switch mechanism {
	case auth.MechanismPlain:
		want = auth.JAASPlainModule
	case auth.MechanismOAuthBearer:
		want = auth.JAASOAuthModule
	}
	if module != want {
		return interBrokerLogin{}, fmt.Errorf("%s logs in with %s, not %s", mechanism, want, module)
	}
	if mechanism == auth.MechanismOAuthBearer {
		sub := opts[unsecuredSubOption]
		if sub == "" {
			return interBrokerLogin{}, fmt.Errorf("an OAUTHBEARER login between brokers is served only as Kafka's unsecured one (%s=\"<principal>\", for a listener with %s=true): token endpoints are not served",
				unsecuredSubOption, auth.OAuthInsecureUnsigned)
		}
		return interBrokerLogin{sub: sub}, nil
	}
	for k := range opts {
		if strings.HasPrefix(k, "user_") {
			return interBrokerLogin{}, errors.New("user_<name> options (Kafka's PLAIN users) are not served: users are SCRAM credentials made with tributary user or AlterUserScramCredentials, and PLAIN checks them")
		}
	}
	if opts["username"] == "" {
		return interBrokerLogin{}, errors.New(`no username: want username="..." password="..."`)
	}
	if _, ok := opts["password"]; !ok {
		return interBrokerLogin{}, errors.New(`no password: want username="..." password="..."`)
	}
	return interBrokerLogin{user: opts["username"], password: opts["password"]}, nil
}

// interBrokerListener is the listener brokers dial each other on:
// inter.broker.listener.name, or the listener named after
// security.inter.broker.protocol (Kafka's rule), or else the first.
func (c *ClusterConfig) interBrokerListener(listeners []Listener) (Listener, error) {
	name := c.InterBrokerListenerName
	if name == "" && c.InterBrokerProtocol != "" {
		name = c.InterBrokerProtocol
	}
	if name == "" {
		if len(listeners) == 0 {
			return Listener{}, fmt.Errorf("%w: no listener for brokers to dial each other on", ErrClusterConfig)
		}
		return listeners[0], nil
	}
	if i := indexListener(listeners, name); i >= 0 {
		return listeners[i], nil
	}
	names := make([]string, len(listeners))
	for i, l := range listeners {
		names[i] = l.Name
	}
	if c.InterBrokerProtocol != "" {
		return Listener{}, fmt.Errorf("%w: %s=%s names the listener %s, which is not among the listeners (%s): brokers would dial each other with a protocol no listener serves; set %s to one of them (or %s)",
			ErrClusterConfig, BrokerSecurityInterBrokerProtocol, c.InterBrokerProtocol, name, strings.Join(names, ", "), BrokerSecurityInterBrokerProtocol, BrokerInterBrokerListenerName)
	}
	return Listener{}, fmt.Errorf("%w: the inter-broker listener %s is not among the listeners (%s)", ErrClusterConfig, name, strings.Join(names, ", "))
}

// interBrokerPlan is what a broker's client of another broker's
// inter-broker listener needs, checked without reading a file.
type interBrokerPlan struct {
	listener    Listener
	mechanism   string // "" without SASL
	login       interBrokerLogin
	presentCert bool
}

// interBrokerPlan checks that this broker can log in to listener l of
// another broker (the same settings: brokers of a cluster share their
// listeners' names and security).
func (c *ClusterConfig) interBrokerPlan(l Listener) (interBrokerPlan, error) {
	bad := func(format string, args ...any) (interBrokerPlan, error) {
		return interBrokerPlan{}, fmt.Errorf("%w: inter-broker listener %s (%s): "+format, append([]any{ErrClusterConfig, l.Name, l.Protocol}, args...)...)
	}
	p := interBrokerPlan{listener: l}
	if l.Protocol.TLS() {
		ca, err := auth.ClientAuthOf(l.Security)
		if err != nil {
			return bad("%v", err)
		}
		p.presentCert = ca != auth.ClientAuthNone
	}
	if !l.Protocol.SASL() {
		if c.InterBrokerSASLMechanism != "" {
			return bad("%s=%s is set, but brokers dial each other without SASL: leave it out, or pick a SASL listener",
				BrokerSASLMechanismInterBrokerProtocol, c.InterBrokerSASLMechanism)
		}
		return p, nil
	}
	enabled, err := auth.ParseSASLMechanisms(l.Security[auth.SASLEnabledMechanisms])
	if err != nil {
		return bad("%v", err)
	}
	m := c.InterBrokerSASLMechanism
	if m == "" {
		return bad("set %s to the mechanism brokers log in to each other with (one of the listener's: %s); Kafka's default GSSAPI is not served",
			BrokerSASLMechanismInterBrokerProtocol, strings.Join(enabled, ", "))
	}
	if !slices.Contains(enabled, m) {
		return bad("%s=%s is not one of the listener's %s (%s)", BrokerSASLMechanismInterBrokerProtocol, m, auth.SASLEnabledMechanisms, strings.Join(enabled, ", "))
	}
	setting := strings.ToLower(m) + jaasSettingSuffix
	jaas, ok := l.Security[setting]
	full := listenerOverridePrefix + strings.ToLower(l.Name) + "." + setting
	if !ok || strings.TrimSpace(jaas) == "" {
		module := auth.JAASScramModule
		switch m {
		case auth.MechanismPlain:
			module = auth.JAASPlainModule
		case auth.MechanismOAuthBearer:
			module = auth.JAASOAuthModule
		}
		return bad(`set %s to the inter-broker user's login: %s required username="..." password="...";`, full, module)
	}
	if p.login, err = parseLoginJAAS(m, jaas); err != nil {
		return bad("%s: %v", full, err)
	}
	p.mechanism = m
	return p, nil
}

// InterBrokerClient is the security of a connection this broker opens
// to another broker's inter-broker listener: the listener's TLS and SASL,
// as the package comment above says. Zero: plaintext.
type InterBrokerClient struct {
	// TLS gives the TLS configuration of each new connection (nil:
	// plaintext): auth.ClientTLS.Config, which follows the keystore and
	// truststore files, so a rotated certificate or CA is used from the
	// next handshake on, without a restart and without closing
	// established connections.
	TLS  func() *tls.Config
	SASL sasl.Mechanism // nil: no SASL
	// LocalAddr is the address every connection is dialed from (port 0):
	// the advertised inter-broker IP with inter.broker.source.bind.enable
	// (StartCluster sets it); nil: the kernel's choice.
	LocalAddr *net.TCPAddr
}

// interBrokerDialTimeout bounds the TCP connect and TLS handshake of a
// franz-go client's connection to another broker (kgo's own default).
const interBrokerDialTimeout = 10 * time.Second

// KgoOpts are the same security as franz-go client options, and the
// same source address. TLS is dialed by kgo.Dialer rather than
// kgo.DialTLSConfig so that each connection takes the configuration as
// the files hold it then.
func (c InterBrokerClient) KgoOpts() []kgo.Opt {
	var opts []kgo.Opt
	if c.TLS != nil || c.LocalAddr != nil {
		dial := interBrokerDialer(c.TLS, c.LocalAddr)
		opts = append(opts, kgo.Dialer(func(ctx context.Context, _, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, interBrokerDialTimeout)
			defer cancel()
			return dial(ctx, addr)
		}))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(c.SASL))
	}
	return opts
}

// interBrokerClient is the security of every connection this broker opens
// to another broker (the follower fetchers'). It reads the listener's
// keystore and truststore files.
func interBrokerClient(c *ClusterConfig, listeners []Listener) (InterBrokerClient, error) {
	l, err := c.interBrokerListener(listeners)
	if err != nil {
		return InterBrokerClient{}, err
	}
	p, err := c.interBrokerPlan(l)
	if err != nil {
		return InterBrokerClient{}, err
	}
	var out InterBrokerClient
	if l.Protocol.TLS() {
		ct, err := auth.LoadClientTLS(l.Security, p.presentCert)
		if err != nil {
			return InterBrokerClient{}, fmt.Errorf("server: inter-broker listener %s: %w", l.Name, err)
		}
		ct.OnReloadError = logClientTLSReloadError("inter-broker listener " + l.Name)
		out.TLS = ct.Config
	}
	if p.mechanism != "" {
		out.SASL = p.saslMechanism()
	}
	return out, nil
}

// logClientTLSReloadError logs, with the process's logger at the time
// (serve's), that the client TLS files of what changed but do not load.
func logClientTLSReloadError(what string) func(error) {
	return func(err error) {
		slog.Default().Error("server: client TLS files changed but do not load; the previous certificates stay in use", "of", what, "err", err)
	}
}

// interBrokerClientOpts is interBrokerClient as kgo options.
func interBrokerClientOpts(c *ClusterConfig, listeners []Listener) ([]kgo.Opt, error) {
	ib, err := interBrokerClient(c, listeners)
	if err != nil {
		return nil, err
	}
	return ib.KgoOpts(), nil
}

func (p interBrokerPlan) saslMechanism() sasl.Mechanism {
	switch p.mechanism {
	case auth.MechanismPlain:
		return plain.Auth{User: p.login.user, Pass: p.login.password}.AsMechanism()
	case auth.MechanismScramSHA256:
		return scram.Auth{User: p.login.user, Pass: p.login.password}.AsSha256Mechanism()
	case auth.MechanismScramSHA512:
		return scram.Auth{User: p.login.user, Pass: p.login.password}.AsSha512Mechanism()
	default:
		sub := p.login.sub
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			return oauth.Auth{Token: unsecuredToken(sub, time.Now())}, nil
		})
	}
}

// unsecuredToken is an unsigned JWT (alg none) for sub, valid from now
// for unsecuredTokenLifetime: Kafka's unsecured OAUTHBEARER login.
func unsecuredToken(sub string, now time.Time) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "none"})
	claims, _ := json.Marshal(map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(unsecuredTokenLifetime).Unix()})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "."
}

// MetadataTLS is the TLS of a cluster node's etcd traffic, from the
// CONTROLLER listener's settings; every field is nil when that traffic is
// plaintext.
type MetadataTLS struct {
	// Peer is a voter's cluster.EmbedConfig.PeerTLS: the raft traffic
	// between voters, with client certificates.
	Peer *cluster.TLSFiles
	// Serve is a voter's cluster.EmbedConfig.ClientTLS: the client port
	// the brokers dial, with client certificates.
	Serve *cluster.TLSFiles
	// Client is the TLS of this node's etcd client (clientv3.Config.TLS,
	// or cluster.EtcdStoreConfig.TLS): the voters' client URLs, which are
	// https:// then, or an etcds:// metadata.store. It presents the
	// keystore's certificate.
	Client *tls.Config
	// ClientReload gives Client's configuration as the keystore and
	// truststore files hold it at each new connection
	// (cluster.EtcdTLSDialOption), so the etcd client follows a rotated
	// certificate or CA (of an external etcd: etcds://) without a
	// restart. Nil when Client is.
	ClientReload func() *tls.Config
}

// metadataDialOptions are the etcd client's dial options of m: its TLS
// taken at every new connection from ClientReload, and its connections
// dialed by guard, which binds them to the inter-broker source address
// when inter.broker.source.bind.enable asks it to.
func metadataDialOptions(m MetadataTLS, guard *cluster.EndpointGuard) []grpc.DialOption {
	opts := []grpc.DialOption{guard.DialOption()}
	if m.ClientReload != nil {
		opts = append(opts, cluster.EtcdTLSDialOption(m.ClientReload))
	}
	return opts
}

// controllerTLS is the CONTROLLER listener's security settings when its
// protocol is SSL, checked without reading a file; nil when plaintext.
func (b *BrokerSettings) controllerTLS() (map[string]string, error) {
	protos, err := parseProtocolMap(b.ListenerProtocolMap)
	if err != nil {
		return nil, err
	}
	p, ok := protos[controllerListenerName]
	if !ok || p == auth.Plaintext {
		return nil, nil
	}
	bad := func(format string, args ...any) (map[string]string, error) {
		return nil, fmt.Errorf("%w: the controller listener (etcd's peer and client traffic) is %s: "+format, append([]any{ErrClusterConfig, p}, args...)...)
	}
	if p.SASL() {
		return bad("etcd has no SASL; members and brokers authenticate with certificates: map CONTROLLER:SSL")
	}
	s := listenerSecurity(controllerListenerName, b.Security)
	prefix := listenerOverridePrefix + "controller."
	if strings.TrimSpace(s[auth.SSLKeystoreLocation]) == "" {
		return bad("set %s%s to a PEM file with the key and the certificate chain (etcd reads files, not inline PEM); the certificate serves and is presented as a client's", prefix, auth.SSLKeystoreLocation)
	}
	if strings.TrimSpace(s[auth.SSLTruststoreLocation]) == "" {
		return bad("set %s%s to the PEM file of the CA that signs every member's and broker's certificate (etcd requires client certificates)", prefix, auth.SSLTruststoreLocation)
	}
	if ca, err := auth.ClientAuthOf(s); err != nil || (s[auth.SSLClientAuth] != "" && ca != auth.ClientAuthRequired) {
		return bad("%s%s (or the broker-wide %s it inherits) must be required or left out: whoever reaches an etcd port without a certificate could rewrite the cluster's metadata, users and ACLs", prefix, auth.SSLClientAuth, auth.SSLClientAuth)
	}
	return s, nil
}

// MetadataTLS builds the TLS of the etcd traffic from the CONTROLLER
// listener's settings (see the package comment above); it reads the
// keystore and truststore for the client side.
func (b *BrokerSettings) MetadataTLS() (MetadataTLS, error) {
	s, err := b.controllerTLS()
	if err != nil || s == nil {
		return MetadataTLS{}, err
	}
	files := &cluster.TLSFiles{
		CertFile:       strings.TrimSpace(s[auth.SSLKeystoreLocation]),
		KeyFile:        strings.TrimSpace(s[auth.SSLKeystoreLocation]), // a PEM keystore holds both
		TrustedCAFile:  strings.TrimSpace(s[auth.SSLTruststoreLocation]),
		ClientCertAuth: true,
	}
	ct, err := auth.LoadClientTLS(s, true)
	if err != nil {
		return MetadataTLS{}, fmt.Errorf("server: controller listener: %w", err)
	}
	ct.OnReloadError = logClientTLSReloadError("controller listener")
	// A client given only Client (one tls.Config for its life) still
	// presents the keystore as it is at each handshake; ClientReload
	// follows the truststore too.
	client := ct.Config().Clone()
	client.Certificates = nil
	client.GetClientCertificate = ct.ClientCertificate
	peer, serve := *files, *files
	return MetadataTLS{Peer: &peer, Serve: &serve, Client: client, ClientReload: ct.Config}, nil
}

// ClusterSecurity is what a cluster node's wiring needs to secure the
// traffic it opens.
type ClusterSecurity struct {
	// InterBroker are the kgo options of every franz-go client to another
	// broker: InterBrokerConn's security.
	InterBroker []kgo.Opt
	// InterBrokerConn is the security of the follower fetchers'
	// connections (replica.Conn) to other brokers.
	InterBrokerConn InterBrokerClient
	// Metadata is the etcd traffic's TLS.
	Metadata MetadataTLS
}

// ClusterSecurity resolves the security of a cluster node's own traffic
// for the listeners it serves (serve's, --listen's included). It reads
// the key and CA files. Zero for a single broker.
func (b *BrokerSettings) ClusterSecurity(listeners []Listener) (ClusterSecurity, error) {
	if !b.Cluster.Enabled() {
		return ClusterSecurity{}, nil
	}
	var out ClusterSecurity
	var err error
	if out.InterBrokerConn, err = interBrokerClient(&b.Cluster, listeners); err != nil {
		return ClusterSecurity{}, err
	}
	out.InterBroker = out.InterBrokerConn.KgoOpts()
	if out.Metadata, err = b.MetadataTLS(); err != nil {
		return ClusterSecurity{}, err
	}
	return out, nil
}

// validateClusterSecurity checks a cluster's security settings together,
// without reading a file: the controller listener's TLS, that a cluster
// whose listeners are all secured secures its etcd traffic too, and the
// inter-broker listener's login when listeners are set.
func (b *BrokerSettings) validateClusterSecurity() error {
	c := &b.Cluster
	if !c.Enabled() {
		return nil
	}
	ctls, err := b.controllerTLS()
	if err != nil {
		return err
	}
	listeners, err := b.ResolveListeners()
	if err != nil || listeners == nil {
		return err // --listen decides; serve checks with CheckClusterAddresses
	}
	if ctls == nil && len(c.Voters) > 0 && !slices.ContainsFunc(listeners, func(l Listener) bool { return l.Protocol == auth.Plaintext }) {
		return fmt.Errorf("%w: every listener is secured (%s), but the etcd traffic (the voters' controller and client ports) would be plaintext, and whoever reaches it could rewrite the cluster's metadata, users and ACLs: add CONTROLLER:SSL to %s with %scontroller.%s and %scontroller.%s",
			ErrClusterConfig, FormatListeners(listeners), kafkaListenerProtocolMap, listenerOverridePrefix, auth.SSLKeystoreLocation, listenerOverridePrefix, auth.SSLTruststoreLocation)
	}
	l, err := c.interBrokerListener(listeners)
	if err != nil {
		return err
	}
	_, err = c.interBrokerPlan(l)
	return err
}
