package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// testStore is a store in a temp dir with alice (both SCRAM mechanisms,
// password "alice-secret") and bob (SCRAM-SHA-512 only, "bob-secret").
func testStore(t *testing.T) *CredentialStore {
	t.Helper()
	s, err := OpenCredentialStore(filepath.Join(t.TempDir(), "meta", CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var changes []CredentialChange
	for _, u := range []struct {
		user string
		mech ScramMechanism
	}{{"alice", ScramSHA256}, {"alice", ScramSHA512}, {"bob", ScramSHA512}} {
		c, err := NewScramCredential(u.mech, u.user+"-secret", NewSalt(), MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, CredentialChange{User: u.user, Mechanism: u.mech, Credential: c})
	}
	if err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	return s
}

// scramExchange runs a client conversation of user/password against a.
func scramExchange(t *testing.T, a Authenticator, m ScramMechanism, user, password string) error {
	t.Helper()
	cl, err := m.hash().NewClientUnprepped(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	msg, _ := conv.Step("")
	for !a.Done() {
		out, err := a.Step([]byte(msg))
		if err != nil {
			return err
		}
		if msg, err = conv.Step(string(out)); err != nil && !a.Done() {
			t.Fatalf("client step: %v", err)
		}
	}
	if !conv.Valid() {
		t.Fatal("the client does not accept the server's signature")
	}
	return nil
}

func TestScramAuthenticates(t *testing.T) {
	s := testStore(t)
	for _, m := range []ScramMechanism{ScramSHA256, ScramSHA512} {
		a, _ := NewAuthenticator(m.String(), s)
		if err := scramExchange(t, a, m, "alice", "alice-secret"); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if a.Principal().String() != "User:alice" {
			t.Errorf("%s: principal %v", m, a.Principal())
		}
	}
	for _, tt := range []struct {
		m              ScramMechanism
		user, password string
	}{
		{ScramSHA256, "alice", "wrong"},
		{ScramSHA256, "bob", "bob-secret"}, // bob has no SHA-256 credential
		{ScramSHA512, "nobody", "x"},
	} {
		a, _ := NewAuthenticator(tt.m.String(), s)
		err := scramExchange(t, a, tt.m, tt.user, tt.password)
		if !errors.Is(err, ErrAuthenticationFailed) || a.Done() {
			t.Errorf("%s %s/%s: %v, done %v", tt.m, tt.user, tt.password, err, a.Done())
		}
		if err != nil && strings.Contains(err.Error(), tt.password) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestScramRefusesWrongNonceAndReplay: a client-final whose nonce is not
// the server's, or one replayed from an earlier exchange, fails.
func TestScramRefusesWrongNonceAndReplay(t *testing.T) {
	s := testStore(t)
	cl, _ := scram.SHA256.NewClientUnprepped("alice", "alice-secret", "")
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	a, _ := NewAuthenticator(MechanismScramSHA256, s)
	serverFirst, err := a.Step([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	final, _ := conv.Step(string(serverFirst))
	if _, err := a.Step([]byte(final)); err != nil {
		t.Fatal(err)
	}
	// Replayed on a new exchange: the server's nonce differs.
	b, _ := NewAuthenticator(MechanismScramSHA256, s)
	if _, err := b.Step([]byte(first)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Step([]byte(final)); !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("replayed client-final: %v", err)
	}
	// A nonce changed in place.
	c, _ := NewAuthenticator(MechanismScramSHA256, s)
	if _, err := c.Step([]byte(first)); err != nil {
		t.Fatal(err)
	}
	wrong := strings.Replace(final, ",p=", "X,p=", 1) // the server's part no longer ends it
	if _, err := c.Step([]byte(wrong)); !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("wrong nonce: %v", err)
	}
	// librdkafka's form, its own nonce before the combined one, with a
	// proof over that: accepted, as Kafka accepts it.
	d, _ := NewAuthenticator(MechanismScramSHA256, s)
	cnonce := "rdkafka-client-nonce"
	first = "n,,n=alice,r=" + cnonce
	sf, err := d.Step([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	snonce, _ := scramAttr(string(sf), 'r')
	stored, _ := s.Lookup("alice", ScramSHA256)
	salted := pbkdf2Salted(ScramSHA256, "alice-secret", stored.Salt, stored.Iterations)
	woProof := "c=biws,r=" + cnonce + snonce
	authMsg := first[3:] + "," + string(sf) + "," + woProof
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := mac(storedKey[:], authMsg)
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	sfinal, err := d.Step([]byte(woProof + ",p=" + base64.StdEncoding.EncodeToString(sig)))
	if err != nil || !d.Done() {
		t.Fatalf("librdkafka's client-final: %v", err)
	}
	if want := "v=" + base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMsg)); string(sfinal) != want {
		t.Fatalf("server-final %q, want %q", sfinal, want)
	}
	// A step after the end.
	if _, err := a.Step([]byte(final)); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("step after the end: %v", err)
	}
}

func TestPlainChecksScramCredentials(t *testing.T) {
	s := testStore(t)
	for _, tt := range []struct {
		msg  string
		want string // principal, or a part of the error
	}{
		{"\x00alice\x00alice-secret", "User:alice"},
		{"alice\x00alice\x00alice-secret", "User:alice"},
		{"\x00bob\x00bob-secret", "User:bob"}, // a SHA-512 credential only
		{"\x00alice\x00nope", "invalid credentials"},
		{"\x00nobody\x00x", "invalid credentials"},
		{"mallory\x00alice\x00alice-secret", "authorization id"},
		{"\x00\x00pw", "empty user name"},
		{"\x00alice\x00", "empty password"},
		{"alice\x00alice-secret", "want 3"},
		{"garbage", "want 3"},
	} {
		a, _ := NewAuthenticator(MechanismPlain, s)
		_, err := a.Step([]byte(tt.msg))
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Errorf("%q: %v is not ErrAuthenticationFailed", tt.msg, err)
			}
			if strings.Contains(got, "secret") {
				t.Errorf("%q: the error shows the password: %v", tt.msg, err)
			}
		} else {
			got = a.Principal().String()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%q: %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func TestCredentialStorePersists(t *testing.T) {
	s := testStore(t)
	again, err := OpenCredentialStore(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	users := again.Users()
	if len(users) != 2 || users[0].User != "alice" || len(users[0].Mechanisms) != 2 || users[1].Mechanisms[0].Mechanism != ScramSHA512 {
		t.Fatalf("reopened: %+v", users)
	}
	a, _ := NewAuthenticator(MechanismScramSHA512, again)
	if err := scramExchange(t, a, ScramSHA512, "bob", "bob-secret"); err != nil {
		t.Fatalf("reopened store: %v", err)
	}
	// Deleting what does not exist changes nothing.
	err = again.Apply([]CredentialChange{{User: "bob", Mechanism: ScramSHA512, Delete: true}, {User: "bob", Mechanism: ScramSHA256, Delete: true}})
	if !errors.Is(err, ErrCredentialNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	if _, ok := again.Lookup("bob", ScramSHA512); !ok {
		t.Fatal("a failed batch deleted bob")
	}
	if err := again.Apply([]CredentialChange{{User: "bob", Mechanism: ScramSHA512, Delete: true}}); err != nil {
		t.Fatal(err)
	}
	third, _ := OpenCredentialStore(s.Path())
	if _, ok := third.Describe("bob"); ok {
		t.Fatal("bob's deletion did not persist")
	}
	// The file holds no password.
	b, _ := os.ReadFile(s.Path())
	if strings.Contains(string(b), "secret") {
		t.Fatal("the store holds a password")
	}
	// A damaged file is an error, not an empty store.
	b[len(b)/2] ^= 0xff
	os.WriteFile(s.Path(), b, 0o600)
	if _, err := OpenCredentialStore(s.Path()); !errors.Is(err, framedfile.ErrCorrupt) {
		t.Fatalf("damaged store: %v", err)
	}
}

func TestCredentialFromSaltedPasswordMatchesTheClient(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for _, m := range []ScramMechanism{ScramSHA256, ScramSHA512} {
		want, _ := NewScramCredential(m, "pw", salt, 4096)
		// The salted password, as a KIP-554 client computes it.
		salted := pbkdf2Salted(m, "pw", salt, 4096)
		got := CredentialFromSaltedPassword(m, salt, salted, 4096)
		if string(got.StoredKey) != string(want.StoredKey) || string(got.ServerKey) != string(want.ServerKey) {
			t.Errorf("%s: keys differ", m)
		}
	}
}

func TestParseSASLMechanisms(t *testing.T) {
	if got, err := ParseSASLMechanisms(""); err != nil || strings.Join(got, ",") != "SCRAM-SHA-256,SCRAM-SHA-512" {
		t.Errorf("default: %v %v", got, err)
	}
	if got, err := ParseSASLMechanisms("plain, SCRAM-SHA-512,PLAIN"); err != nil || strings.Join(got, ",") != "PLAIN,SCRAM-SHA-512" {
		t.Errorf("%v %v", got, err)
	}
	for _, v := range []string{"GSSAPI", "SCRAM-SHA-1"} {
		if _, err := ParseSASLMechanisms(v); !errors.Is(err, ErrUnknownMechanism) {
			t.Errorf("%s: %v", v, err)
		}
	}
}
