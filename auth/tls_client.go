package auth

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
)

// NewClientTLS is the client side of a listener's TLS settings (by their
// broker-wide names), as a broker uses them to dial that listener on
// another broker, the way Kafka's inter-broker client reads the
// inter-broker listener's ssl.* settings: the truststore verifies the
// other broker's certificate (the system's CAs without one) and its host
// name, Kafka's default ssl.endpoint.identification.algorithm=https; with
// presentCert, the keystore's certificate is presented (the listener asks
// its clients for one, ssl.client.auth requested or required). The
// versions and TLS 1.2 suites are the listener's. Files are read once.
func NewClientTLS(settings map[string]string, presentCert bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	for _, k := range []string{SSLKeystoreType, SSLTruststoreType, SSLProtocol, SSLEnabledProtocols, SSLCipherSuites} {
		if _, err := applyTLSSetting(cfg, k, strings.TrimSpace(settings[k])); err != nil {
			return nil, err
		}
	}
	read := func(setting string) ([]byte, error) {
		b, err := os.ReadFile(strings.TrimSpace(settings[setting]))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTLSConfig, setting, err)
		}
		return b, nil
	}
	pool, err := truststore(settings, read)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = pool
	if presentCert {
		cert, err := keystore(settings, read)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
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
