package server

// SaslHandshake, versions 0-1 (KIP-43, KIP-152).
//
//	v0  the mechanism; the SASL tokens that follow are bare size-prefixed
//	    frames, not Kafka requests
//	v1  the same; the tokens follow in SaslAuthenticate requests
//
// On a SASL listener the client names its mechanism: an enabled one
// starts the exchange, any other gets UNSUPPORTED_SASL_MECHANISM with the
// enabled list and the connection is closed. A handshake on an
// authenticated connection starts a re-authentication (KIP-368, v1 only).
// On other listeners it gets ILLEGAL_SASL_STATE, as in Kafka.

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(saslHandshakeKey, 0, 1, handleSaslHandshake) }

func handleSaslHandshake(c *conn, h *reqHeader, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	st := c.sasl
	if st == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	resp.SupportedMechanisms = c.ln.mechanisms
	if st.stage == saslDone && req.Version == 0 {
		return nil, fmt.Errorf("server: SaslHandshake v0 on the authenticated connection of %s: re-authentication needs v1 (KIP-368)", c.principal)
	}
	if !slices.Contains(c.ln.mechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.s.metrics.errorCode(h.key, resp.ErrorCode)
		c.s.metrics.security.authentications.WithLabelValues(c.ln.name, "unsupported", authFailed).Inc()
		c.s.logger.Warn("server: SASL mechanism not enabled; closing the connection",
			"listener", c.ln.name, "remote", c.remote, "mechanism", req.Mechanism, "enabled", c.ln.mechanisms)
		c.closeAfter = errAuthClosed
		return resp, nil
	}
	var authn auth.Authenticator
	if req.Mechanism == auth.MechanismOAuthBearer {
		authn = auth.NewOAuthBearerAuthenticator(c.ln.oauth)
	} else {
		var err error
		if authn, err = auth.NewAuthenticator(req.Mechanism, c.s.creds); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	st.reauth = st.stage == saslDone
	st.stage, st.mechanism, st.authn, st.rawTokens = saslAuthenticate, req.Mechanism, authn, req.Version == 0
	return resp, nil
}
