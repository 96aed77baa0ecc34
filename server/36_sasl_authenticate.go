package server

// SaslAuthenticate, versions 0-2 (KIP-152, KIP-368).
//
//	v0  one SASL token each way; a failure is SASL_AUTHENTICATION_FAILED
//	    with a message
//	v1  the response carries the session lifetime
//	    (connections.max.reauth.ms, 0 for none)
//	v2  flexible versions
//
// Served after a v1 SaslHandshake on a SASL listener. A failed step is
// answered with SASL_AUTHENTICATION_FAILED and the connection is closed
// after the response; its message is fixed, except after an OAUTHBEARER
// error challenge ({"status":"invalid_token"}), which it repeats as
// Kafka's does; the failure is counted and logged once, without any
// secret. Out of place (no handshake, another listener) it gets
// ILLEGAL_SASL_STATE and the connection is closed.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(saslAuthenticateKey, 0, 2, handleSaslAuthenticate) }

func handleSaslAuthenticate(c *conn, h *reqHeader, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	st := c.sasl
	if st == nil || st.stage != saslAuthenticate || st.rawTokens {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate is served after a SaslHandshake v1 on a SASL listener"
		resp.ErrorMessage = &msg
		c.s.metrics.errorCode(h.key, resp.ErrorCode)
		c.closeAfter = errAuthClosed
		return resp, nil
	}
	mechanism := st.mechanism
	out, lifetime, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := saslFailedMessage(mechanism)
		if st.oauthError != "" {
			msg = st.oauthError
		}
		resp.ErrorMessage = &msg
		c.s.metrics.errorCode(h.key, resp.ErrorCode)
		c.closeAfter = errAuthClosed
		return resp, nil
	}
	// An OAUTHBEARER server answers a token only with an error (RFC 7628
	// section 3.2.2); the client acknowledges it with 0x01 and, as in
	// Kafka, the failure that follows carries it as its message.
	st.oauthError = ""
	if mechanism == auth.MechanismOAuthBearer && len(out) > 0 {
		st.oauthError = string(out)
	}
	resp.SASLAuthBytes = out
	resp.SessionLifetimeMillis = lifetime.Milliseconds()
	return resp, nil
}
