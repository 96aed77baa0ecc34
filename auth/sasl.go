package auth

import (
	"bytes"
	"crypto/hmac"
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
	SASLEnabledMechanisms: "SASL mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (default: the two SCRAM ones)",
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
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		case "GSSAPI", "OAUTHBEARER":
			return nil, fmt.Errorf("%w: %s: %s is not served (served: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", ErrUnknownMechanism, SASLEnabledMechanisms, m)
		default:
			return nil, fmt.Errorf("%w: %s: %q (served: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", ErrUnknownMechanism, SASLEnabledMechanisms, m)
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

// scramAuthenticator is RFC 5802 SCRAM over xdg-go/scram's server
// conversation: client-first, server-first, client-final, server-final.
type scramAuthenticator struct {
	mech ScramMechanism
	conv *scram.ServerConversation
	done bool
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
	return &scramAuthenticator{mech: m, conv: srv.NewConversation()}
}

func (a *scramAuthenticator) Step(token []byte) ([]byte, error) {
	if a.conv.Done() {
		return nil, fmt.Errorf("%w: %s: the exchange is over", ErrAuthenticationFailed, a.mech)
	}
	out, err := a.conv.Step(string(token))
	if err != nil {
		who := ""
		if u := a.conv.Username(); u != "" {
			who = fmt.Sprintf(" for user %q", u)
		}
		return nil, fmt.Errorf("%w: %s%s: %w", ErrAuthenticationFailed, a.mech, who, err)
	}
	if z := a.conv.AuthzID(); z != "" && z != a.conv.Username() {
		return nil, fmt.Errorf("%w: %s: authorization id %q differs from the user %q", ErrAuthenticationFailed, a.mech, z, a.conv.Username())
	}
	if a.conv.Done() {
		if !a.conv.Valid() {
			return nil, fmt.Errorf("%w: %s: invalid credentials for user %q", ErrAuthenticationFailed, a.mech, a.conv.Username())
		}
		a.done = true
	}
	return []byte(out), nil
}

func (a *scramAuthenticator) Done() bool           { return a.done }
func (a *scramAuthenticator) Principal() Principal { return User(a.conv.Username()) }

// CheckSetting reports what is wrong with one served TLS or SASL setting's
// value, as far as it can be told alone (files are read when a listener
// starts).
func CheckSetting(name, value string) error {
	if name == SASLEnabledMechanisms {
		_, err := ParseSASLMechanisms(value)
		return err
	}
	return CheckTLSSetting(name, value)
}

// CredentialsPath is the credential store of the data dir dataDir.
func CredentialsPath(dataDir string) string {
	return filepath.Join(dataDir, "meta", CredentialsFile)
}
