package server

import "github.com/prometheus/client_golang/prometheus"

// securityMetrics count TLS handshakes that failed and SASL
// authentications, per listener (and mechanism).
type securityMetrics struct {
	tlsHandshakeFailures *prometheus.CounterVec // {listener}
	authentications      *prometheus.CounterVec // {listener, mechanism, result}
}

// Values of the result label of tributary_authentications_total.
const (
	authSucceeded = "success"
	authFailed    = "failure"
)

func newSecurityMetrics(reg *prometheus.Registry) *securityMetrics {
	m := &securityMetrics{
		tlsHandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_tls_handshake_failures_total",
			Help: "TLS handshakes that failed on SSL and SASL_SSL listeners (a plaintext client, an untrusted or missing client certificate, no common version or suite), by listener.",
		}, []string{"listener"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_authentications_total",
			Help: "SASL authentications by listener, mechanism and result (success or failure); a failure is also logged once with the client's address.",
		}, []string{"listener", "mechanism", "result"}),
	}
	reg.MustRegister(m.tlsHandshakeFailures, m.authentications)
	return m
}
