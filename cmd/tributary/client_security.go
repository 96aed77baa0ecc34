package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/server"
)

// The client commands' security settings: Kafka client properties in the
// --command-config file (as kafka-topics.sh --command-config reads them),
// each of which TRIBUTARY_CLIENT_<NAME> overrides (security.protocol →
// TRIBUTARY_CLIENT_SECURITY_PROTOCOL).
const (
	envCommandConfig  = envPrefix + "COMMAND_CONFIG"
	clientEnvPrefix   = envPrefix + "CLIENT_"
	flagCommandConfig = "command-config"
	secretPlaceholder = "[hidden]"
	jaasScramModule   = auth.JAASScramModule
	jaasPlainModule   = auth.JAASPlainModule
	jaasOAuthModule   = auth.JAASOAuthModule
)

// clientProperties are the client properties a command applies, with what
// each does (the Java client's names, and librdkafka's where they differ).
var clientProperties = map[string]string{
	"security.protocol":                     "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
	"sasl.mechanism":                        "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
	"sasl.mechanisms":                       "librdkafka's sasl.mechanism",
	"sasl.username":                         "the SASL user (librdkafka)",
	"sasl.password":                         "the SASL password (librdkafka)",
	"sasl.jaas.config":                      "the Java client's login module with username and password",
	"sasl.oauthbearer.token":                "an OAUTHBEARER token (JWT)",
	"sasl.oauthbearer.token.file":           "a file holding the OAUTHBEARER token",
	"ssl.truststore.location":               "PEM file of the CA certificates to trust",
	"ssl.truststore.certificates":           "the same, inline PEM",
	"ssl.truststore.type":                   "PEM only",
	"ssl.ca.location":                       "librdkafka's ssl.truststore.location",
	"ssl.keystore.location":                 "PEM file with the client's key and certificate chain (mutual TLS)",
	"ssl.keystore.certificate.chain":        "the certificate chain, inline PEM",
	"ssl.keystore.key":                      "the private key, inline PEM",
	"ssl.keystore.type":                     "PEM only",
	"ssl.certificate.location":              "librdkafka's client certificate file (PEM)",
	"ssl.key.location":                      "librdkafka's client key file (PEM)",
	"ssl.endpoint.identification.algorithm": "https (default) checks the broker's host name; empty (or none) does not",
	"enable.ssl.certificate.verification":   "librdkafka: false skips verifying the broker's certificate",
}

// ignoredClientProperties are Kafka client properties (Java client and
// librdkafka) that a stock client.properties may hold and that change
// nothing here: they are accepted and ignored, so the same file serves
// kafka-*.sh and tributary.
var ignoredClientProperties = strings.Fields(`
	bootstrap.servers client.id client.dns.lookup client.rack
	request.timeout.ms default.api.timeout.ms retries retry.backoff.ms retry.backoff.max.ms
	reconnect.backoff.ms reconnect.backoff.max.ms socket.connection.setup.timeout.ms
	socket.connection.setup.timeout.max.ms connections.max.idle.ms metadata.max.age.ms
	metadata.max.idle.ms receive.buffer.bytes send.buffer.bytes
	metric.reporters metrics.num.samples metrics.recording.level metrics.sample.window.ms
	auto.include.jmx.reporter interceptor.classes
	acks linger.ms batch.size buffer.memory compression.type delivery.timeout.ms
	enable.idempotence max.in.flight.requests.per.connection max.block.ms max.request.size
	partitioner.class partitioner.ignore.keys transactional.id transaction.timeout.ms
	key.serializer value.serializer key.deserializer value.deserializer
	group.id group.instance.id group.protocol auto.offset.reset enable.auto.commit
	auto.commit.interval.ms session.timeout.ms heartbeat.interval.ms max.poll.records
	max.poll.interval.ms fetch.min.bytes fetch.max.bytes fetch.max.wait.ms
	max.partition.fetch.bytes isolation.level check.crcs exclude.internal.topics
	allow.auto.create.topics partition.assignment.strategy
	ssl.protocol ssl.enabled.protocols ssl.cipher.suites ssl.provider
	ssl.keymanager.algorithm ssl.trustmanager.algorithm ssl.secure.random.implementation
	ssl.engine.factory.class ssl.keystore.password ssl.truststore.password
	sasl.kerberos.service.name sasl.login.refresh.buffer.seconds
	sasl.login.refresh.min.period.seconds sasl.login.refresh.window.factor
	sasl.login.refresh.window.jitter sasl.login.connect.timeout.ms sasl.login.read.timeout.ms
	sasl.login.retry.backoff.ms sasl.login.retry.backoff.max.ms
	debug statistics.interval.ms socket.keepalive.enable api.version.request
	`)

// clientSecurity is what a client command needs to reach a secured broker.
type clientSecurity struct {
	protocol         string // PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
	mechanism        string
	username         string
	password         string // never in an error or log line
	token            string // OAUTHBEARER, never in an error either
	trustPEM         []byte
	certPEM, keyPEM  []byte
	skipHostname     bool
	skipVerification bool
	haveJAAS         bool
	jaasModule       string
	props            map[string]string
	sources          map[string]string // property → where it was set, for errors
}

// addSecurityFlags adds --command-config to root, for every command.
func addSecurityFlags(root *cobra.Command) {
	root.PersistentFlags().String(flagCommandConfig, os.Getenv(envCommandConfig),
		"Kafka client properties file with the security settings (security.protocol, sasl.*, ssl.*); each also as env "+clientEnvPrefix+"<NAME> (env "+envCommandConfig+")")
}

// clientSecurityOpts are the kgo options of cmd's security settings: the
// --command-config file, then the TRIBUTARY_CLIENT_* variables of environ.
func clientSecurityOpts(cmd *cobra.Command, environ []string) ([]kgo.Opt, error) {
	opts, _, err := clientSecurityOf(cmd, environ)
	return opts, err
}

// clientSecurityOf is clientSecurityOpts with the settings they came from.
func clientSecurityOf(cmd *cobra.Command, environ []string) ([]kgo.Opt, *clientSecurity, error) {
	path := ""
	if f := cmd.Flag(flagCommandConfig); f != nil {
		path = f.Value.String()
	}
	props := map[string]string{}
	sources := map[string]string{}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("--command-config: %w", err)}
		}
		err = readClientProperties(f, path, props, sources)
		f.Close()
		if err != nil {
			return nil, nil, usageError{err}
		}
	}
	var unknown []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, clientEnvPrefix) {
			continue
		}
		name := clientPropertyOfEnv(k)
		if name == "" {
			unknown = append(unknown, k)
			continue
		}
		props[name] = v
		sources[name] = k
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, usageError{fmt.Errorf("unknown environment variable %s: no such client setting", strings.Join(unknown, ", "))}
	}
	sec, err := parseClientSecurity(props, sources)
	if err != nil {
		return nil, nil, usageError{err}
	}
	opts, err := sec.kgoOpts()
	return opts, sec, err
}

// clientPropertyOfEnv is the applied client property that env variable k
// sets, or "".
func clientPropertyOfEnv(k string) string {
	for name := range clientProperties {
		if clientEnv(name) == k {
			return name
		}
	}
	return ""
}

// clientEnv is the environment variable of client property name.
func clientEnv(name string) string {
	return clientEnvPrefix + strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
}

// readClientProperties reads a Java properties file (key=value, key:value
// or key value; # and ! comments; a line ending in \ goes on; backslash
// escapes as java.util.Properties.load reads them) into props.
// An unknown property is an error naming it (and its line); a Kafka
// client property that does not apply here is ignored.
func readClientProperties(r io.Reader, source string, props, sources map[string]string) error {
	ignored := map[string]bool{}
	for _, n := range ignoredClientProperties {
		ignored[n] = true
	}
	var errs []error
	err := server.ScanPropertyLines(r, func(pl server.PropertyLine) {
		at := pl.First
		k, v, err := server.SplitProperty(pl.Text)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", source, at, err))
			return
		}
		switch _, ok := clientProperties[k]; {
		case ok:
			props[k] = v
			sources[k] = fmt.Sprintf("%s:%d", source, at)
		case ignored[k]:
		default:
			msg := fmt.Sprintf("%s:%d: unknown client property %s", source, at, k)
			if s := server.Suggest(k, knownClientProperties()); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			errs = append(errs, errors.New(msg))
		}
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", source, err))
	}
	return errors.Join(errs...)
}

func knownClientProperties() []string {
	names := make([]string, 0, len(clientProperties)+len(ignoredClientProperties))
	for k := range clientProperties {
		names = append(names, k)
	}
	return append(names, ignoredClientProperties...)
}

// parseClientSecurity checks props together. Its errors name the property
// and where it was set, never a password, key or token.
func parseClientSecurity(props, sources map[string]string) (*clientSecurity, error) {
	s := &clientSecurity{props: props, sources: sources, protocol: "PLAINTEXT"}
	where := func(name string) string {
		if src := sources[name]; src != "" {
			return name + " (" + src + ")"
		}
		return name
	}
	if v, ok := props["security.protocol"]; ok {
		s.protocol = strings.ToUpper(v)
		switch s.protocol {
		case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		default:
			return nil, fmt.Errorf("%s=%q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", where("security.protocol"), v)
		}
	}
	mech, mechName := props["sasl.mechanism"], "sasl.mechanism"
	if mech == "" {
		mech, mechName = props["sasl.mechanisms"], "sasl.mechanisms"
	}
	s.mechanism = strings.ToUpper(strings.TrimSpace(mech))
	s.username, s.password = props["sasl.username"], props["sasl.password"]
	if jaas, ok := props["sasl.jaas.config"]; ok {
		module, opts, err := auth.ParseJAAS(jaas)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where("sasl.jaas.config"), err)
		}
		s.haveJAAS, s.jaasModule = true, module
		if u, ok := opts["username"]; ok {
			s.username = u
		}
		if p, ok := opts["password"]; ok {
			s.password = p
		}
	}
	s.token = props["sasl.oauthbearer.token"]
	if f := props["sasl.oauthbearer.token.file"]; f != "" && s.token == "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where("sasl.oauthbearer.token.file"), err)
		}
		s.token = strings.TrimSpace(string(b))
	}
	if strings.HasPrefix(s.protocol, "SASL_") {
		switch s.mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			if s.haveJAAS && s.jaasModule == jaasOAuthModule {
				return nil, fmt.Errorf("%s: %s is for OAUTHBEARER, not %s", where("sasl.jaas.config"), jaasOAuthModule, s.mechanism)
			}
			if s.username == "" {
				return nil, fmt.Errorf("%s needs a user: set sasl.username and sasl.password, or sasl.jaas.config", s.mechanism)
			}
		case "OAUTHBEARER":
			if s.token == "" {
				return nil, errors.New("OAUTHBEARER needs a token: set sasl.oauthbearer.token or sasl.oauthbearer.token.file")
			}
		case "":
			return nil, fmt.Errorf("security.protocol %s needs sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; Kafka's default GSSAPI is not supported)", s.protocol)
		default:
			return nil, fmt.Errorf("%s=%q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", where(mechName), mech)
		}
	}
	for _, typ := range []string{"ssl.truststore.type", "ssl.keystore.type"} {
		if v, ok := props[typ]; ok && !strings.EqualFold(v, "PEM") {
			return nil, fmt.Errorf("%s=%q: only PEM is supported (convert with openssl or keytool)", where(typ), v)
		}
	}
	if s.protocol == "SSL" || s.protocol == "SASL_SSL" {
		if err := s.readTLSFiles(where); err != nil {
			return nil, err
		}
	}
	switch alg := strings.ToLower(strings.TrimSpace(props["ssl.endpoint.identification.algorithm"])); {
	case alg == "https":
	case alg == "" || alg == "none":
		_, set := props["ssl.endpoint.identification.algorithm"]
		s.skipHostname = set
	default:
		return nil, fmt.Errorf("%s=%q: want https, or empty to skip the host name check", where("ssl.endpoint.identification.algorithm"), alg)
	}
	if v, ok := props["enable.ssl.certificate.verification"]; ok {
		switch strings.ToLower(v) {
		case "true":
		case "false":
			s.skipVerification = true
		default:
			return nil, fmt.Errorf("%s=%q: want true or false", where("enable.ssl.certificate.verification"), v)
		}
	}
	return s, nil
}

// readTLSFiles loads the truststore and keystore of an SSL protocol.
func (s *clientSecurity) readTLSFiles(where func(string) string) error {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(s.props[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(name), err)
		}
		return b, nil
	}
	var err error
	switch {
	case s.props["ssl.truststore.location"] != "":
		s.trustPEM, err = read("ssl.truststore.location")
	case s.props["ssl.ca.location"] != "":
		s.trustPEM, err = read("ssl.ca.location")
	case s.props["ssl.truststore.certificates"] != "":
		s.trustPEM = []byte(pemLines(s.props["ssl.truststore.certificates"]))
	}
	if err != nil {
		return err
	}
	switch {
	case s.props["ssl.keystore.location"] != "":
		s.certPEM, err = read("ssl.keystore.location")
		s.keyPEM = s.certPEM
	case s.props["ssl.certificate.location"] != "" || s.props["ssl.key.location"] != "":
		if s.certPEM, err = read("ssl.certificate.location"); err == nil {
			s.keyPEM, err = read("ssl.key.location")
		}
	case s.props["ssl.keystore.certificate.chain"] != "":
		s.certPEM = []byte(pemLines(s.props["ssl.keystore.certificate.chain"]))
		s.keyPEM = []byte(pemLines(s.props["ssl.keystore.key"]))
	}
	return err
}

// pemBlock is one PEM block of an inline value that a properties file
// joined onto one line.
var pemBlock = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END ([A-Z0-9 ]+)-----`)

// pemLines puts back the line breaks of an inline PEM value that a
// properties file joined: "-----BEGIN X-----base64-----END X-----".
func pemLines(v string) string {
	var b strings.Builder
	for _, m := range pemBlock.FindAllStringSubmatch(v, -1) {
		fmt.Fprintf(&b, "-----BEGIN %s-----\n%s\n-----END %s-----\n", m[1], strings.Join(strings.Fields(m[2]), ""), m[3])
	}
	return b.String()
}

// authFailed is the one line of a failed SASL login: who, how and where,
// with the broker's message, never the password.
func (s *clientSecurity) authFailed(seeds []string, err error) error {
	who := fmt.Sprintf("as %q (%s)", s.username, s.mechanism)
	if s.mechanism == "OAUTHBEARER" {
		who = "with the OAUTHBEARER token"
	}
	return fmt.Errorf("authentication failed %s at %s: %w", who, strings.Join(seeds, ","), err)
}

// kgoOpts are s as franz-go options.
func (s *clientSecurity) kgoOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.protocol == "SSL" || s.protocol == "SASL_SSL" {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, usageError{err}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(s.protocol, "SASL_") {
		opts = append(opts, kgo.SASL(s.saslMechanism()))
	}
	return opts, nil
}

func (s *clientSecurity) saslMechanism() sasl.Mechanism {
	switch s.mechanism {
	case "PLAIN":
		return plain.Auth{User: s.username, Pass: s.password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.username, Pass: s.password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.username, Pass: s.password}.AsSha512Mechanism()
	default:
		return oauth.Auth{Token: s.token}.AsMechanism()
	}
}

// tlsConfig trusts the truststore's CAs (the system's without one),
// presents the keystore's certificate when there is one, and checks the
// broker's host name unless ssl.endpoint.identification.algorithm is empty.
func (s *clientSecurity) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.trustPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.trustPEM) {
			return nil, errors.New("ssl.truststore.location: no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	if s.certPEM != nil {
		// The key's bytes are never shown: tls's errors name no content.
		cert, err := tls.X509KeyPair(s.certPEM, s.keyPEM)
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore: want a PEM private key and certificate chain: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch {
	case s.skipVerification:
		cfg.InsecureSkipVerify = true
	case s.skipHostname:
		// Verify the chain as usual, only not the name.
		cfg.InsecureSkipVerify = true
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}
