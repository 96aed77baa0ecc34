package auth

import (
	"errors"
	"fmt"
	"strings"
)

// SecurityProtocol is what a listener speaks under the Kafka protocol:
// Kafka's security.protocol values.
type SecurityProtocol uint8

// The four security protocols of Kafka.
const (
	Plaintext     SecurityProtocol = iota // PLAINTEXT: no TLS, no authentication
	SSL                                   // SSL: TLS, optionally with client certificates
	SASLPlaintext                         // SASL_PLAINTEXT: SASL authentication, no TLS
	SASLSSL                               // SASL_SSL: SASL authentication over TLS
)

var protocolNames = [...]string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// ErrUnknownProtocol is returned by ParseSecurityProtocol for a name that is
// none of Kafka's four.
var ErrUnknownProtocol = errors.New("auth: unknown security protocol")

// ParseSecurityProtocol reads one of PLAINTEXT, SSL, SASL_PLAINTEXT,
// SASL_SSL, in any case.
func ParseSecurityProtocol(s string) (SecurityProtocol, error) {
	for i, n := range protocolNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return SecurityProtocol(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", ErrUnknownProtocol, s)
}

// String is Kafka's name of p.
func (p SecurityProtocol) String() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p]
	}
	return fmt.Sprintf("SecurityProtocol(%d)", p)
}

// TLS says whether connections of p are wrapped in TLS.
func (p SecurityProtocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL says whether connections of p must authenticate with SASL first.
func (p SecurityProtocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }
