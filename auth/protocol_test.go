package auth

import (
	"errors"
	"testing"
)

func TestParseSecurityProtocol(t *testing.T) {
	for _, tt := range []struct {
		in        string
		want      SecurityProtocol
		tls, sasl bool
	}{
		{"PLAINTEXT", Plaintext, false, false},
		{"ssl", SSL, true, false},
		{"SASL_PLAINTEXT", SASLPlaintext, false, true},
		{" sasl_ssl ", SASLSSL, true, true},
	} {
		p, err := ParseSecurityProtocol(tt.in)
		if err != nil || p != tt.want || p.TLS() != tt.tls || p.SASL() != tt.sasl {
			t.Errorf("%q: %v %v tls=%v sasl=%v", tt.in, p, err, p.TLS(), p.SASL())
		}
	}
	if _, err := ParseSecurityProtocol("TLS"); !errors.Is(err, ErrUnknownProtocol) {
		t.Errorf("TLS: %v, want ErrUnknownProtocol", err)
	}
}

func TestPrincipalString(t *testing.T) {
	if got := User("alice").String(); got != "User:alice" {
		t.Errorf("%q", got)
	}
	if got := Anonymous.String(); got != "User:ANONYMOUS" {
		t.Errorf("%q", got)
	}
}
