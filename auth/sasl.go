package auth

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xdg-go/scram"
)

// SASL settings served on SASL_PLAINTEXT and SASL_SSL listeners (also as
// listener.name.<name>.<setting>).
const (
	SASLEnabledMechanisms = "sasl.enabled.mechanisms"
)

// SASLSettingDocs says what each served SASL setting does.
var SASLSettingDocs = map[string]string{
	SASLEnabledMechanisms: "SASL mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (default: the two SCRAM ones)",
	OAuthJWKSURL:          "OAUTHBEARER: the JWKS that signs tokens (https://, http:// or file://), fetched at start, when a token names an unknown key and after sasl.oauthbearer.jwks.endpoint.refresh.ms",
	OAuthJWKSRefreshMs:    "OAUTHBEARER: how old the JWKS keys may grow before they are fetched again, in ms (default 3600000); a fetch is tried at most every 10 s",
	OAuthExpectedAudience: "OAUTHBEARER: audiences of which a token's aud must name one (empty: not checked)",
	OAuthExpectedIssuer:   "OAUTHBEARER: the iss a token must have (empty: not checked)",
	OAuthSubClaimName:     "OAUTHBEARER: the claim that names the principal (default sub)",
	OAuthClockSkewSeconds: "OAUTHBEARER: leeway on exp and nbf, in seconds (default 30)",
	OAuthInsecureUnsigned: "OAUTHBEARER, development only: accept unsigned tokens (alg none), as Kafka's unsecured validator does",
}

// DefaultSASLMechanisms are offered when sasl.enabled.mechanisms is not
// set. Kafka's default, GSSAPI, is not served; PLAIN sends the password
// itself, so it is offered only when named.
var DefaultSASLMechanisms = []string{MechanismScramSHA256, MechanismScramSHA512}

// ParseSASLMechanisms reads sasl.enabled.mechanisms: a comma-separated
// list of served mechanism names, at least one.
func ParseSASLMechanisms(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return DefaultSASLMechanisms, nil
	}
	var out []string
	for _, m := range splitList(v) {
		m = strings.ToUpper(m)
		switch m {
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512, MechanismOAuthBearer:
		case "GSSAPI":
			return nil, fmt.Errorf("%w: %s: %s is not served (served: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", ErrUnknownMechanism, SASLEnabledMechanisms, m)
		default:
			return nil, fmt.Errorf("%w: %s: %q (served: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", ErrUnknownMechanism, SASLEnabledMechanisms, m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// ErrAuthenticationFailed is wrapped by every failed SASL exchange. Its
// messages name the mechanism and what was wrong, never a password.
var ErrAuthenticationFailed = errors.New("auth: authentication failed")

// Authenticator is the server side of one SASL exchange.
type Authenticator interface {
	// Step takes the client's next token and returns the server's; an
	// error (wrapping ErrAuthenticationFailed) ends the exchange.
	Step(token []byte) ([]byte, error)
	// Done says whether the exchange succeeded.
	Done() bool
	// Principal is who authenticated, once Done.
	Principal() Principal
}

// NewAuthenticator starts an exchange of mechanism against store.
func NewAuthenticator(mechanism string, store *CredentialStore) (Authenticator, error) {
	switch mechanism {
	case MechanismPlain:
		return &plainAuthenticator{store: store}, nil
	case MechanismScramSHA256, MechanismScramSHA512:
		m, _ := ParseScramMechanism(mechanism)
		return newScramAuthenticator(m, store), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownMechanism, mechanism)
}

// plainAuthenticator is RFC 4616's PLAIN, checked against the SCRAM
// credentials (as Redpanda does): the password is salted and hashed as
// the user's stored credential was, and the keys compared.
type plainAuthenticator struct {
	store *CredentialStore
	user  string
	done  bool
}

// ParsePlain splits a PLAIN message, authzid NUL authcid NUL passwd.
func ParsePlain(msg []byte) (authzid, user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("%w: PLAIN: the message has %d NUL-separated parts, want 3 (authzid, user, password)", ErrAuthenticationFailed, len(parts))
	}
	authzid, user, password = string(parts[0]), string(parts[1]), string(parts[2])
	switch {
	case user == "":
		return "", "", "", fmt.Errorf("%w: PLAIN: empty user name", ErrAuthenticationFailed)
	case password == "":
		return "", "", "", fmt.Errorf("%w: PLAIN: empty password for user %q", ErrAuthenticationFailed, user)
	case authzid != "" && authzid != user:
		return "", "", "", fmt.Errorf("%w: PLAIN: authorization id %q differs from the user %q", ErrAuthenticationFailed, authzid, user)
	}
	return authzid, user, password, nil
}

func (a *plainAuthenticator) Step(token []byte) ([]byte, error) {
	if a.done {
		return nil, fmt.Errorf("%w: PLAIN: the exchange is over", ErrAuthenticationFailed)
	}
	_, user, password, err := ParsePlain(token)
	if err != nil {
		return nil, err
	}
	for _, m := range []ScramMechanism{ScramSHA256, ScramSHA512} {
		stored, ok := a.store.Lookup(user, m)
		if !ok {
			continue
		}
		c, err := NewScramCredential(m, password, stored.Salt, stored.Iterations)
		if err == nil && hmac.Equal(c.StoredKey, stored.StoredKey) {
			a.user, a.done = user, true
			return nil, nil
		}
		return nil, fmt.Errorf("%w: PLAIN: invalid credentials for user %q", ErrAuthenticationFailed, user)
	}
	return nil, fmt.Errorf("%w: PLAIN: invalid credentials for user %q", ErrAuthenticationFailed, user)
}

func (a *plainAuthenticator) Done() bool           { return a.done }
func (a *plainAuthenticator) Principal() Principal { return User(a.user) }

// scramAuthenticator is RFC 5802 SCRAM: client-first, server-first,
// client-final, server-final. xdg-go/scram's server conversation reads the
// client-first message (gs2 header, user name, nonce, extensions), looks
// the credential up and writes the server-first message; the client-final
// message is checked here, because Kafka accepts a client nonce that ends
// with the server's (librdkafka, behind kcat and confluent-kafka, sends its
// own nonce before the combined one) and xdg-go wants them equal. The
// proof binds whatever nonce the client sent, so freshness still rests on
// the server's part being there.
type scramAuthenticator struct {
	mech  ScramMechanism
	store *CredentialStore
	conv  *scram.ServerConversation

	// From the first exchange.
	gs2Header, clientFirstBare, serverFirst, nonce string
	cred                                           ScramCredential
	step                                           int
	done                                           bool
	user                                           string
}

func newScramAuthenticator(m ScramMechanism, store *CredentialStore) *scramAuthenticator {
	lookup := func(user string) (scram.StoredCredentials, error) {
		c, ok := store.Lookup(user, m)
		if !ok {
			return scram.StoredCredentials{}, fmt.Errorf("no %s credential", m)
		}
		return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
	}
	srv, _ := m.hash().NewServer(lookup) // fails only for a nil lookup
	return &scramAuthenticator{mech: m, store: store, conv: srv.NewConversation()}
}

func (a *scramAuthenticator) fail(format string, args ...any) error {
	who := ""
	if a.user != "" {
		who = fmt.Sprintf(" for user %q", a.user)
	}
	return fmt.Errorf("%w: %s%s: %s", ErrAuthenticationFailed, a.mech, who, fmt.Sprintf(format, args...))
}

func (a *scramAuthenticator) Step(token []byte) ([]byte, error) {
	a.step++
	switch a.step {
	case 1:
		return a.first(string(token))
	case 2:
		return a.final(string(token))
	}
	return nil, a.fail("the exchange is over")
}

// first answers the client-first message.
func (a *scramAuthenticator) first(msg string) ([]byte, error) {
	out, err := a.conv.Step(msg)
	a.user = a.conv.Username()
	if err != nil {
		return nil, a.fail("%v", err)
	}
	if z := a.conv.AuthzID(); z != "" && z != a.user {
		return nil, a.fail("authorization id %q differs from the user", z)
	}
	if strings.HasPrefix(msg, "p=") {
		return nil, a.fail("channel binding is not served")
	}
	// gs2-header is "n,," or "y,," or with an authzid "n,a=...,": the
	// bare message follows its second comma.
	i := strings.IndexByte(msg, ',')
	j := strings.IndexByte(msg[i+1:], ',')
	a.gs2Header, a.clientFirstBare = msg[:i+j+2], msg[i+j+2:]
	a.serverFirst = out
	a.nonce, _ = scramAttr(out, 'r')
	var ok bool
	if a.cred, ok = a.store.Lookup(a.user, a.mech); !ok {
		return nil, a.fail("invalid credentials")
	}
	return []byte(out), nil
}

// final checks the client-final message's channel binding, nonce and
// proof, and answers with the server's signature.
func (a *scramAuthenticator) final(msg string) ([]byte, error) {
	p := strings.LastIndex(msg, ",p=")
	if p < 0 {
		return nil, a.fail("client-final message without a proof")
	}
	withoutProof, proofB64 := msg[:p], msg[p+len(",p="):]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, a.fail("client-final message does not start with c= and r=")
	}
	cbind, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil || string(cbind) != a.gs2Header {
		return nil, a.fail("channel binding does not match the gs2 header")
	}
	if nonce := attrs[1][2:]; a.nonce == "" || !strings.HasSuffix(nonce, a.nonce) {
		return nil, a.fail("nonce received did not match nonce sent")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	h := a.mech.newHash()
	if err != nil || len(proof) != h().Size() {
		return nil, a.fail("malformed proof")
	}
	authMessage := []byte(a.clientFirstBare + "," + a.serverFirst + "," + withoutProof)
	mac := func(key, msg []byte) []byte {
		m := hmac.New(h, key)
		m.Write(msg)
		return m.Sum(nil)
	}
	clientKey := mac(a.cred.StoredKey, authMessage)
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	sum := h()
	sum.Write(clientKey)
	if !hmac.Equal(sum.Sum(nil), a.cred.StoredKey) {
		return nil, a.fail("invalid credentials")
	}
	a.done = true
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(a.cred.ServerKey, authMessage))), nil
}

// scramAttr is the value of attribute k ("r" in "r=...,s=...") of msg.
func scramAttr(msg string, k byte) (string, bool) {
	for _, a := range strings.Split(msg, ",") {
		if len(a) >= 2 && a[0] == k && a[1] == '=' {
			return a[2:], true
		}
	}
	return "", false
}

func (a *scramAuthenticator) Done() bool           { return a.done }
func (a *scramAuthenticator) Principal() Principal { return User(a.user) }

// CheckSetting reports what is wrong with one served TLS or SASL setting's
// value, as far as it can be told alone (files are read when a listener
// starts).
func CheckSetting(name, value string) error {
	switch name {
	case SASLEnabledMechanisms:
		_, err := ParseSASLMechanisms(value)
		return err
	case OAuthInsecureUnsigned, OAuthClockSkewSeconds, OAuthJWKSURL, OAuthJWKSRefreshMs:
		return checkOAuthSetting(name, strings.TrimSpace(value))
	}
	return CheckTLSSetting(name, value)
}

// CredentialsPath is the credential store of the data dir dataDir.
func CredentialsPath(dataDir string) string {
	return filepath.Join(dataDir, "meta", CredentialsFile)
}
