package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tributary-io/tributary/auth"
)

// A SASL connection (SASL_PLAINTEXT, SASL_SSL listeners) goes through
// these stages, as Kafka's SaslServerAuthenticator does (KIP-43, KIP-152,
// KIP-368):
//
//	saslHandshake      ApiVersions and SaslHandshake only
//	   │ SaslHandshake naming an enabled mechanism
//	saslAuthenticate   SaslAuthenticate only (v1+ handshake), or raw
//	   │               size-prefixed tokens (v0 handshake)
//	   │ the mechanism's last step succeeds
//	saslDone           every API; after connections.max.reauth.ms only a
//	                   new SaslHandshake (re-authentication, v1+), which
//	                   goes back to saslAuthenticate
//
// Anything else closes the connection; a failed authentication or an
// unknown mechanism is answered first, then the connection is closed.
type saslStage uint8

const (
	saslHandshake saslStage = iota
	saslAuthenticate
	saslDone
)

// saslState is a SASL connection's progress; nil on other listeners, so
// that the plaintext path tests one pointer per request.
type saslState struct {
	stage     saslStage
	mechanism string
	authn     auth.Authenticator
	// rawTokens: the handshake was v0, so tokens come as bare
	// size-prefixed frames rather than SaslAuthenticate requests.
	rawTokens bool
	// reauth: an authenticated connection authenticating again (KIP-368);
	// it must stay the same principal.
	reauth bool
	// expiry is when the session ends (connections.max.reauth.ms); zero
	// when it does not.
	expiry time.Time
	// oauthError is the error an OAUTHBEARER exchange sent as its last
	// challenge, which the failure after the client's 0x01 repeats;
	// empty otherwise.
	oauthError string
}

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
	// saslMaxReceiveSize is Kafka's sasl.server.max.receive.size default:
	// the largest frame a connection may send before it authenticates.
	saslMaxReceiveSize = 512 << 10
)

// errAuthClosed ends a connection whose authentication failed: the
// failure was answered, counted and logged already.
var errAuthClosed = errors.New("server: closing after a failed SASL authentication")

// saslGate checks, before a frame's body is read, that a request of key
// may be sent now on a SASL connection of size bytes.
func (c *conn) saslGate(key int16, size int32) error {
	st := c.sasl
	if st.stage != saslDone && size > saslMaxReceiveSize {
		return fmt.Errorf("server: %d-byte request before SASL authentication on listener %s: more than sasl.server.max.receive.size=%d", size, c.ln.name, saslMaxReceiveSize)
	}
	switch st.stage {
	case saslHandshake:
		if key == apiVersionsKey || key == saslHandshakeKey {
			return nil
		}
	case saslAuthenticate:
		if key == saslAuthenticateKey {
			return nil
		}
	case saslDone:
		if st.expiry.IsZero() || key == saslHandshakeKey || time.Now().Before(st.expiry) {
			return nil
		}
		return fmt.Errorf("server: the SASL session of %s expired (connections.max.reauth.ms) and the client did not re-authenticate", c.principal)
	}
	return fmt.Errorf("server: API key %d before SASL authentication completed on listener %s (only ApiVersions, SaslHandshake, SaslAuthenticate are served until then)", key, c.ln.name)
}

// saslStep runs one token of the exchange. On success it returns the
// server's token; when the exchange completes the connection takes its
// principal and session lifetime. On failure the failure is counted and
// logged once, and the error is what the client is told.
func (c *conn) saslStep(token []byte) (out []byte, lifetime time.Duration, err error) {
	st := c.sasl
	authn := st.authn
	out, err = authn.Step(token)
	if err == nil && authn.Done() {
		p := authn.Principal()
		if st.reauth && p != c.principal {
			err = fmt.Errorf("%w: re-authentication as %s on a connection of %s: a connection keeps its principal", auth.ErrAuthenticationFailed, p, c.principal)
		} else {
			c.principal = p
			st.stage, st.authn, st.reauth, st.rawTokens = saslDone, nil, false, false
			st.expiry = time.Time{}
			now := time.Now()
			if d := c.ln.reauth[st.mechanism]; d > 0 {
				st.expiry, lifetime = now.Add(d), d
			}
			// A session does not outlive its credential (an OAUTHBEARER
			// token's exp), as in Kafka.
			if e, ok := authn.(interface{ SessionExpiry() time.Time }); ok && !e.SessionExpiry().IsZero() {
				if st.expiry.IsZero() || e.SessionExpiry().Before(st.expiry) {
					st.expiry, lifetime = e.SessionExpiry(), max(e.SessionExpiry().Sub(now), time.Millisecond)
				}
			}
			c.s.metrics.security.authentications.WithLabelValues(c.ln.name, st.mechanism, authSucceeded).Inc()
			c.s.logger.Debug("server: SASL authentication succeeded", "listener", c.ln.name, "remote", c.remote, "mechanism", st.mechanism, "principal", p.String())
		}
	}
	if err != nil {
		c.s.metrics.security.authentications.WithLabelValues(c.ln.name, st.mechanism, authFailed).Inc()
		c.s.logger.Warn("server: SASL authentication failed; closing the connection",
			"listener", c.ln.name, "remote", c.remote, "mechanism", st.mechanism, "err", err)
		return nil, 0, err
	}
	return out, lifetime, nil
}

// saslFailedMessage is what a client whose authentication failed is told;
// the details (which step, which check) go to the broker's log only.
func saslFailedMessage(mechanism string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mechanism
}

// serveRawToken handles one bare SASL token of a connection whose
// handshake was v0 (KIP-152's predecessor framing): a 4-byte size and the
// token, answered the same way. A failure closes the connection, as there
// is no error to send.
func (c *conn) serveRawToken() error {
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ConnectionsMaxIdle))
	if _, err := io.ReadFull(c.rw, c.sizeBuf[:]); err != nil {
		return c.readErr(err, true)
	}
	size := int32(binary.BigEndian.Uint32(c.sizeBuf[:]))
	if size < 0 || size > saslMaxReceiveSize {
		return fmt.Errorf("server: SASL token of %d bytes on listener %s: want 0 to sasl.server.max.receive.size=%d", size, c.ln.name, saslMaxReceiveSize)
	}
	token := make([]byte, size)
	if _, err := io.ReadFull(c.rw, token); err != nil {
		return c.readErr(err, false)
	}
	out, _, err := c.saslStep(token)
	if err != nil {
		return errAuthClosed
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, sizePrefix+len(out)), uint32(len(out)))
	b = append(b, out...)
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.ConnectionsMaxIdle))
	if c.tlsOut != nil {
		if _, err := c.tlsOut.Write(b); err != nil {
			return fmt.Errorf("%w: %w", errClientGone, err)
		}
		err = c.tlsOut.Flush()
	} else {
		_, err = c.rw.Write(b)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}
