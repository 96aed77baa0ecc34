package auth

import (
	"crypto/tls"
	"time"
)

// ClientConfig is the client side of the listener's TLS, for a broker that
// dials another broker on the same listener (inter-broker traffic, as
// Kafka's brokers use the inter-broker listener's ssl.* settings): it
// trusts the listener's truststore (the system's roots when it names
// none), presents the listener's own certificate when asked for one, and
// keeps its protocol versions and cipher suites. It reflects the files as
// they are now; call it again after a reload.
func (t *ServerTLS) ClientConfig() *tls.Config {
	cur := t.config(time.Now())
	return &tls.Config{
		MinVersion:   max(cur.MinVersion, tls.VersionTLS12),
		MaxVersion:   cur.MaxVersion,
		CipherSuites: cur.CipherSuites,
		Certificates: cur.Certificates,
		RootCAs:      cur.ClientCAs,
	}
}
