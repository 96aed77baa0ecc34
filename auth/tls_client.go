package auth

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"
)

// ClientTLS is the client side of a listener's TLS settings (by their
// broker-wide names), as a broker uses them to dial that listener on
// another broker, the way Kafka's inter-broker client reads the
// inter-broker listener's ssl.* settings: the truststore verifies the
// other broker's certificate (the system's CAs without one) and its host
// name, Kafka's default ssl.endpoint.identification.algorithm=https; with
// presentCert, the keystore's certificate is presented (the listener asks
// its clients for one, ssl.client.auth requested or required). The
// versions and TLS 1.2 suites are the listener's.
//
// It follows its files as ServerTLS does: Config, asked at each dial,
// looks at the files' size and modification time at most once per
// TLSReloadCheckInterval and reloads them if they changed, so a rotated
// certificate or CA is used by the next handshake while established
// connections stay as they are. A reload that fails keeps what was
// loaded and reports the error through OnReloadError.
type ClientTLS struct {
	settings    map[string]string
	presentCert bool
	base        *tls.Config // versions and suites; certificates added per load
	// OnReloadError, if set, is told of a change to the files that could
	// not be loaded; the previous certificates stay in use.
	OnReloadError func(error)

	files tlsFiles
}

// LoadClientTLS reads the settings and loads the files they name.
func LoadClientTLS(settings map[string]string, presentCert bool) (*ClientTLS, error) {
	base := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	for _, k := range []string{SSLKeystoreType, SSLTruststoreType, SSLProtocol, SSLEnabledProtocols, SSLCipherSuites} {
		if _, err := applyTLSSetting(base, k, strings.TrimSpace(settings[k])); err != nil {
			return nil, err
		}
	}
	t := &ClientTLS{settings: settings, presentCert: presentCert, base: base}
	if err := t.files.open(t.load); err != nil {
		return nil, err
	}
	return t, nil
}

// NewClientTLS is LoadClientTLS's configuration as the files hold it now,
// read once.
func NewClientTLS(settings map[string]string, presentCert bool) (*tls.Config, error) {
	t, err := LoadClientTLS(settings, presentCert)
	if err != nil {
		return nil, err
	}
	return t.files.loaded(), nil
}

// load reads the truststore and, with presentCert, the keystore.
func (t *ClientTLS) load() (*tls.Config, []fileStamp, error) {
	var stamps []fileStamp
	read := stampedReader(t.settings, &stamps)
	pool, err := truststore(t.settings, read)
	if err != nil {
		return nil, nil, err
	}
	cfg := t.base.Clone()
	cfg.RootCAs = pool
	if t.presentCert {
		cert, err := keystore(t.settings, read)
		if err != nil {
			return nil, nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, stamps, nil
}

// Config is the configuration of one new connection, as the files hold
// it now (reloaded first if they changed). It is shared: clone it before
// changing it (to set ServerName, say).
func (t *ClientTLS) Config() *tls.Config {
	return t.config(time.Now())
}

func (t *ClientTLS) config(now time.Time) *tls.Config {
	return t.files.config(now, t.OnReloadError)
}

// Reload loads the files again now, whatever their stamps say; the
// previous certificates stay if they do not load.
func (t *ClientTLS) Reload() error { return t.files.reload() }

// ClientCertificate is the keystore's certificate as the files hold it
// now, for a tls.Config whose RootCAs cannot change once handed out (a
// gRPC client's): as its GetClientCertificate, a rotated certificate is
// presented at the next handshake. Without presentCert there is none.
func (t *ClientTLS) ClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cfg := t.Config()
	if len(cfg.Certificates) == 0 {
		return &tls.Certificate{}, nil
	}
	return &cfg.Certificates[0], nil
}

// stampedReader reads a setting's file, noting its stamp in stamps.
func stampedReader(settings map[string]string, stamps *[]fileStamp) func(setting string) ([]byte, error) {
	return func(setting string) ([]byte, error) {
		path := strings.TrimSpace(settings[setting])
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTLSConfig, setting, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTLSConfig, setting, err)
		}
		*stamps = append(*stamps, fileStamp{path: path, size: st.Size(), mtime: st.ModTime()})
		return b, nil
	}
}

// stampsChanged reports whether a file is gone or differs in size or
// modification time from its stamp.
func stampsChanged(stamps []fileStamp) bool {
	for _, s := range stamps {
		st, err := os.Stat(s.path)
		if err != nil || st.Size() != s.size || !st.ModTime().Equal(s.mtime) {
			return true
		}
	}
	return false
}

// ClientAuthOf is what a listener's ssl.client.auth asks of its clients.
func ClientAuthOf(settings map[string]string) (ClientAuth, error) {
	switch v := strings.ToLower(strings.TrimSpace(settings[SSLClientAuth])); v {
	case "", "none":
		return ClientAuthNone, nil
	case "requested":
		return ClientAuthRequested, nil
	case "required":
		return ClientAuthRequired, nil
	default:
		return ClientAuthNone, fmt.Errorf("%w: %s=%s: want none, requested or required", ErrTLSConfig, SSLClientAuth, v)
	}
}
