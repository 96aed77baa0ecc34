package auth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kafka's TLS setting names, served on SSL and SASL_SSL listeners (each also
// as listener.name.<name>.<setting>).
const (
	SSLKeystoreType             = "ssl.keystore.type"
	SSLKeystoreLocation         = "ssl.keystore.location"
	SSLKeystoreCertificateChain = "ssl.keystore.certificate.chain"
	SSLKeystoreKey              = "ssl.keystore.key"
	SSLTruststoreType           = "ssl.truststore.type"
	SSLTruststoreLocation       = "ssl.truststore.location"
	SSLTruststoreCertificates   = "ssl.truststore.certificates"
	SSLClientAuth               = "ssl.client.auth"
	SSLEnabledProtocols         = "ssl.enabled.protocols"
	SSLProtocol                 = "ssl.protocol"
	SSLCipherSuites             = "ssl.cipher.suites"
	SSLPrincipalMappingRules    = "ssl.principal.mapping.rules"
)

// TLSSettingDocs says what each served TLS setting does.
var TLSSettingDocs = map[string]string{
	SSLKeystoreType:             "PEM (the only keystore type served)",
	SSLKeystoreLocation:         "PEM file with the listener's private key and certificate chain; re-read when it changes",
	SSLKeystoreCertificateChain: "the certificate chain in PEM, inline (instead of ssl.keystore.location)",
	SSLKeystoreKey:              "the unencrypted PKCS#8, PKCS#1 or EC private key in PEM, inline",
	SSLTruststoreType:           "PEM (the only truststore type served)",
	SSLTruststoreLocation:       "PEM file of the CA certificates client certificates must chain to; re-read when it changes",
	SSLTruststoreCertificates:   "the CA certificates in PEM, inline (instead of ssl.truststore.location)",
	SSLClientAuth:               "none, requested or required: whether clients present a certificate (mutual TLS)",
	SSLEnabledProtocols:         "TLS versions served: TLSv1.2 and TLSv1.3 (older ones are refused)",
	SSLProtocol:                 "TLS, TLSv1.2 or TLSv1.3: accepted; ssl.enabled.protocols decides the versions",
	SSLCipherSuites:             "TLS 1.2 cipher suites by IANA name (empty: Go's secure defaults; TLS 1.3 suites are always on)",
	SSLPrincipalMappingRules:    "how a client certificate's subject becomes the principal name: DEFAULT, RULE:pattern/replacement/[LU]",
}

// ClientAuth is ssl.client.auth.
type ClientAuth uint8

// The values of ssl.client.auth.
const (
	ClientAuthNone      ClientAuth = iota // no client certificate asked for
	ClientAuthRequested                   // asked for; verified if given
	ClientAuthRequired                    // required and verified
)

// ErrTLSConfig is wrapped by every error of the TLS settings.
var ErrTLSConfig = errors.New("auth: TLS settings")

// TLSReloadCheckInterval is how often, at most, a listener looks at its
// keystore and truststore files again (at a handshake) for a change.
const TLSReloadCheckInterval = time.Second

// ServerTLS is the TLS side of one SSL or SASL_SSL listener. Its Config
// serves the certificates of its files as they are now: at a handshake,
// at most once per TLSReloadCheckInterval, it looks at the files' size and
// modification time and reloads them if they changed (certificate
// rotation without restart). A reload that fails keeps the certificates
// it had and reports the error through OnReloadError.
type ServerTLS struct {
	settings map[string]string
	mapper   *SSLPrincipalMapper
	base     *tls.Config // versions, suites, client auth; certificates added per load
	// OnReloadError, if set, is told of a change to the files that could
	// not be loaded; the previous certificates stay in use.
	OnReloadError func(error)

	files tlsFiles
}

type fileStamp struct {
	path  string
	size  int64
	mtime time.Time
}

// CheckTLSSetting reports what is wrong with one TLS setting's value, as
// far as it can be told alone (files are read by NewServerTLS).
func CheckTLSSetting(name, value string) error {
	_, err := applyTLSSetting(&tls.Config{}, name, strings.TrimSpace(value))
	return err
}

// applyTLSSetting sets what setting name says in cfg; for
// ssl.principal.mapping.rules it returns the mapper.
func applyTLSSetting(cfg *tls.Config, name, v string) (*SSLPrincipalMapper, error) {
	switch name {
	case SSLKeystoreType, SSLTruststoreType:
		if v != "" && !strings.EqualFold(v, "PEM") {
			return nil, fmt.Errorf("%w: %s=%s: only PEM is served (convert a JKS or PKCS12 store with keytool and openssl)", ErrTLSConfig, name, v)
		}
	case SSLProtocol:
		if v != "" && !slices.Contains([]string{"TLS", "TLSV1.2", "TLSV1.3"}, strings.ToUpper(v)) {
			return nil, fmt.Errorf("%w: %s=%s: want TLS, TLSv1.2 or TLSv1.3", ErrTLSConfig, SSLProtocol, v)
		}
	case SSLEnabledProtocols:
		if v == "" {
			return nil, nil
		}
		var vs []uint16
		for _, p := range splitList(v) {
			switch strings.ToUpper(p) {
			case "TLSV1.2":
				vs = append(vs, tls.VersionTLS12)
			case "TLSV1.3":
				vs = append(vs, tls.VersionTLS13)
			case "TLSV1", "TLSV1.1", "SSLV3":
				return nil, fmt.Errorf("%w: %s: %s is insecure and not served (TLS 1.2 at least)", ErrTLSConfig, SSLEnabledProtocols, p)
			default:
				return nil, fmt.Errorf("%w: %s: unknown protocol %q (want TLSv1.2, TLSv1.3)", ErrTLSConfig, SSLEnabledProtocols, p)
			}
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("%w: %s is empty", ErrTLSConfig, SSLEnabledProtocols)
		}
		cfg.MinVersion, cfg.MaxVersion = slices.Min(vs), slices.Max(vs)
	case SSLCipherSuites:
		if v == "" {
			return nil, nil
		}
		ids, err := cipherSuites(splitList(v))
		if err != nil {
			return nil, err
		}
		cfg.CipherSuites = ids
	case SSLClientAuth:
		switch strings.ToLower(v) {
		case "", "none":
			cfg.ClientAuth = tls.NoClientCert
		case "requested":
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		case "required":
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		default:
			return nil, fmt.Errorf("%w: %s=%s: want none, requested or required", ErrTLSConfig, SSLClientAuth, v)
		}
	case SSLPrincipalMappingRules:
		return ParseSSLPrincipalMappingRules(v)
	}
	return nil, nil
}

// NewServerTLS reads the TLS settings of a listener (by their broker-wide
// names) and loads its certificates.
func NewServerTLS(settings map[string]string) (*ServerTLS, error) {
	base := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	for _, k := range []string{SSLKeystoreType, SSLTruststoreType, SSLProtocol, SSLEnabledProtocols, SSLCipherSuites, SSLClientAuth} {
		if _, err := applyTLSSetting(base, k, strings.TrimSpace(settings[k])); err != nil {
			return nil, err
		}
	}
	mapper, err := ParseSSLPrincipalMappingRules(settings[SSLPrincipalMappingRules])
	if err != nil {
		return nil, err
	}
	t := &ServerTLS{settings: settings, mapper: mapper, base: base}
	if err := t.files.open(t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cipherSuites maps IANA names (as Kafka's ssl.cipher.suites takes them,
// the JSSE names being the IANA ones) to Go's IDs. TLS 1.3 suites are
// accepted and always on; insecure suites are refused.
func cipherSuites(names []string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		byName[cs.Name] = cs.ID
	}
	insecure := map[string]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	var ids []uint16
	for _, n := range names {
		switch {
		case insecure[n]:
			return nil, fmt.Errorf("%w: %s: %s is insecure and not served", ErrTLSConfig, SSLCipherSuites, n)
		case byName[n] == 0:
			return nil, fmt.Errorf("%w: %s: unknown cipher suite %q", ErrTLSConfig, SSLCipherSuites, n)
		}
		ids = append(ids, byName[n])
	}
	return ids, nil
}

// load reads the keystore and truststore as the settings name them.
func (t *ServerTLS) load() (*tls.Config, []fileStamp, error) {
	var stamps []fileStamp
	read := stampedReader(t.settings, &stamps)
	cert, err := keystore(t.settings, read)
	if err != nil {
		return nil, nil, err
	}
	cfg := t.base.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	pool, err := truststore(t.settings, read)
	if err != nil {
		return nil, nil, err
	}
	if pool != nil {
		cfg.ClientCAs = pool
	} else if cfg.ClientAuth != tls.NoClientCert {
		return nil, nil, fmt.Errorf("%w: ssl.client.auth asks for client certificates: set %s to the CAs they chain to", ErrTLSConfig, SSLTruststoreLocation)
	}
	return cfg, stamps, nil
}

// keystore is the certificate and key the settings name: the PEM file of
// ssl.keystore.location, or the inline ssl.keystore.certificate.chain
// and ssl.keystore.key. read reads a setting's file.
func keystore(settings map[string]string, read func(setting string) ([]byte, error)) (tls.Certificate, error) {
	var certPEM, keyPEM []byte
	switch loc, chain, key := strings.TrimSpace(settings[SSLKeystoreLocation]), settings[SSLKeystoreCertificateChain], settings[SSLKeystoreKey]; {
	case loc != "" && (strings.TrimSpace(chain) != "" || strings.TrimSpace(key) != ""):
		return tls.Certificate{}, fmt.Errorf("%w: set %s or %s with %s, not both", ErrTLSConfig, SSLKeystoreLocation, SSLKeystoreCertificateChain, SSLKeystoreKey)
	case loc != "":
		b, err := read(SSLKeystoreLocation)
		if err != nil {
			return tls.Certificate{}, err
		}
		certPEM, keyPEM = b, b
	case strings.TrimSpace(chain) != "" && strings.TrimSpace(key) != "":
		certPEM, keyPEM = NormalizePEM(chain), NormalizePEM(key)
	default:
		return tls.Certificate{}, fmt.Errorf("%w: no certificate: set %s, or %s and %s", ErrTLSConfig, SSLKeystoreLocation, SSLKeystoreCertificateChain, SSLKeystoreKey)
	}
	if bytes.Contains(keyPEM, []byte("ENCRYPTED")) {
		return tls.Certificate{}, fmt.Errorf("%w: the private key is encrypted: ssl.key.password is not served, store the key unencrypted (openssl pkcs8 -nocrypt) with file permissions guarding it", ErrTLSConfig)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: keystore: %w", ErrTLSConfig, err)
	}
	return cert, nil
}

// truststore is the pool of CA certificates the settings name
// (ssl.truststore.location, or inline ssl.truststore.certificates); nil
// when they name none.
func truststore(settings map[string]string, read func(setting string) ([]byte, error)) (*x509.CertPool, error) {
	var caPEM []byte
	switch loc, inline := strings.TrimSpace(settings[SSLTruststoreLocation]), settings[SSLTruststoreCertificates]; {
	case loc != "":
		b, err := read(SSLTruststoreLocation)
		if err != nil {
			return nil, err
		}
		caPEM = b
	case strings.TrimSpace(inline) != "":
		caPEM = NormalizePEM(inline)
	default:
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: truststore: no PEM certificate in it", ErrTLSConfig)
	}
	return pool, nil
}

// Config is the tls.Config of the listener: its GetConfigForClient serves
// the certificates as the files hold them now.
func (t *ServerTLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: t.base.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.config(time.Now()), nil
		},
	}
}

// config is the current configuration, reloaded first if a file changed.
func (t *ServerTLS) config(now time.Time) *tls.Config {
	return t.files.config(now, t.OnReloadError)
}

// Reload loads the files again now, whatever their stamps say; the
// previous certificates stay if they do not load.
func (t *ServerTLS) Reload() error { return t.files.reload() }

// Principal is who the client of a completed handshake is: User:<name>
// with the name that ssl.principal.mapping.rules make of its certificate's
// subject, or User:ANONYMOUS without a certificate.
func (t *ServerTLS) Principal(state tls.ConnectionState) (Principal, error) {
	if len(state.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	name, err := t.mapper.Name(state.PeerCertificates[0].Subject.String())
	if err != nil {
		return Anonymous, err
	}
	return User(name), nil
}

// NormalizePEM rebuilds PEM text that lost its line breaks, as an inline
// value of a properties file may have ("-----BEGIN X----- MIIB... -----END
// X-----"): every block gets its own lines again. Text that has them is
// returned as it is.
func NormalizePEM(s string) []byte {
	if strings.Contains(strings.TrimSpace(s), "\n") {
		return []byte(s)
	}
	var out strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "-----BEGIN ")
		if i < 0 {
			break
		}
		rest = rest[i+len("-----BEGIN "):]
		j := strings.Index(rest, "-----")
		if j < 0 {
			break
		}
		label := rest[:j]
		rest = rest[j+5:]
		end := "-----END " + label + "-----"
		k := strings.Index(rest, end)
		if k < 0 {
			break
		}
		body := strings.Join(strings.Fields(rest[:k]), "")
		rest = rest[k+len(end):]
		out.WriteString("-----BEGIN " + label + "-----\n")
		for len(body) > 64 {
			out.WriteString(body[:64] + "\n")
			body = body[64:]
		}
		out.WriteString(body + "\n-----END " + label + "-----\n")
	}
	if out.Len() == 0 {
		return []byte(s)
	}
	return []byte(out.String())
}
