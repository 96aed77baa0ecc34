package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/xdg-go/scram"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// ScramMechanism is one of the SCRAM mechanisms, numbered as KIP-554's
// DescribeUserScramCredentials and AlterUserScramCredentials number them.
type ScramMechanism int8

// The SCRAM mechanisms served (RFC 7677 and its SHA-512 sibling).
const (
	ScramSHA256 ScramMechanism = 1
	ScramSHA512 ScramMechanism = 2
)

// SASL mechanism names.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Kafka's bounds on a SCRAM credential's iteration count.
const (
	MinScramIterations = 4096
	MaxScramIterations = 16384
	// DefaultScramIterations is what tools here use when not told: Kafka's
	// kafka-configs.sh default.
	DefaultScramIterations = 4096
	// scramSaltSize is the salt of credentials made here, from
	// crypto/rand.
	scramSaltSize = 32
)

// ParseScramMechanism reads "SCRAM-SHA-256" or "SCRAM-SHA-512".
func ParseScramMechanism(s string) (ScramMechanism, error) {
	switch s {
	case MechanismScramSHA256:
		return ScramSHA256, nil
	case MechanismScramSHA512:
		return ScramSHA512, nil
	}
	return 0, fmt.Errorf("%w: %q (want %s or %s)", ErrUnknownMechanism, s, MechanismScramSHA256, MechanismScramSHA512)
}

// ErrUnknownMechanism is a SASL or SCRAM mechanism not served.
var ErrUnknownMechanism = errors.New("auth: unknown mechanism")

// String is the mechanism's SASL name.
func (m ScramMechanism) String() string {
	switch m {
	case ScramSHA256:
		return MechanismScramSHA256
	case ScramSHA512:
		return MechanismScramSHA512
	}
	return fmt.Sprintf("SCRAM(%d)", int8(m))
}

// Valid says whether m is one of the two mechanisms.
func (m ScramMechanism) Valid() bool { return m == ScramSHA256 || m == ScramSHA512 }

func (m ScramMechanism) hash() scram.HashGeneratorFcn {
	if m == ScramSHA512 {
		return scram.SHA512
	}
	return scram.SHA256
}

func (m ScramMechanism) newHash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

// ScramCredential is what is stored of a user's password for one
// mechanism (RFC 5802): never the password, nor the salted password.
type ScramCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewScramCredential derives the credential of password with salt and
// iterations, as the client side of SCRAM would (Kafka normalises no
// password: the bytes are used as given).
func NewScramCredential(m ScramMechanism, password string, salt []byte, iterations int) (ScramCredential, error) {
	c, err := m.hash().NewClientUnprepped("", password, "")
	if err != nil {
		return ScramCredential{}, fmt.Errorf("auth: scram: %w", err)
	}
	sc, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return ScramCredential{}, fmt.Errorf("auth: scram: %w", err)
	}
	return ScramCredential{Salt: slices.Clone(salt), Iterations: iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// NewSalt is a fresh random salt.
func NewSalt() []byte {
	b := make([]byte, scramSaltSize)
	rand.Read(b)
	return b
}

// CredentialFromSaltedPassword derives StoredKey and ServerKey from the
// salted password that AlterUserScramCredentials carries (KIP-554: the
// client salts and hashes, the password never crosses the wire).
func CredentialFromSaltedPassword(m ScramMechanism, salt, salted []byte, iterations int) ScramCredential {
	h := m.newHash()
	mac := func(key []byte, msg string) []byte {
		x := hmac.New(h, key)
		x.Write([]byte(msg))
		return x.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return ScramCredential{Salt: slices.Clone(salt), Iterations: iterations,
		StoredKey: sum.Sum(nil), ServerKey: mac(salted, "Server Key")}
}

// CredentialsFile is the name of the credential store in the data dir's
// meta/ directory.
const CredentialsFile = "scram-credentials"

// credentialsFormat frames meta/scram-credentials. Reader rule: read N
// and N-1. Payload of version 1, big-endian:
//
//	count u32, then count entries of
//	  user      u16 length + UTF-8 bytes
//	  mechanism i8 (1 SCRAM-SHA-256, 2 SCRAM-SHA-512)
//	  iterations u32
//	  salt, stored key, server key: each u16 length + bytes
var credentialsFormat = framedfile.Format{Name: "SCRAM credential store", Magic: "TSCR", Version: 1, MaxPayload: 64 << 20}

// ErrCredentialNotFound: no credential for that user and mechanism.
var ErrCredentialNotFound = errors.New("auth: no such SCRAM credential")

// CredentialBackend is where a CredentialStore keeps credentials: the
// data dir's file (the default, a single broker) or a cluster's metadata
// store, which every broker shares and watches.
type CredentialBackend interface {
	// Lookup is user's credential for m, as last seen.
	Lookup(user string, m ScramMechanism) (ScramCredential, bool)
	// Credentials returns every user's credentials; the caller does not
	// modify them.
	Credentials() map[string]map[ScramMechanism]ScramCredential
	// Apply makes changes, validated by the caller, atomically: all of
	// them or none. A deletion of a credential the backend does not hold
	// fails it with an error matching ErrCredentialNotFound.
	Apply(changes []CredentialChange) error
}

// CredentialStore holds the SCRAM credentials of every user, in a
// CredentialBackend: by default its file (meta/scram-credentials, one
// framed file replaced atomically on every change), in a cluster the
// metadata store. The backend can be switched while connections use the
// store (SetBackend).
type CredentialStore struct {
	backend atomic.Pointer[backendRef]
	// applyMu serialises ApplyEach, so its existence checks hold when it
	// writes a file backend.
	applyMu sync.Mutex
}

type backendRef struct{ CredentialBackend }

// fileCredentials is the file backend: the credentials in memory and in
// one framed file replaced atomically on every change.
type fileCredentials struct {
	path string

	mu    sync.RWMutex // guards users; held across a change's file write
	users map[string]map[ScramMechanism]ScramCredential
}

// OpenCredentialStore reads the store at path (meta/scram-credentials of a
// data dir); a missing file is an empty store, created by the first
// change.
func OpenCredentialStore(path string) (*CredentialStore, error) {
	f := &fileCredentials{path: path, users: map[string]map[ScramMechanism]ScramCredential{}}
	payload, _, err := credentialsFormat.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("auth: credential store: %w", err)
	default:
		if f.users, err = decodeCredentials(payload); err != nil {
			return nil, fmt.Errorf("auth: credential store %s: %w", path, err)
		}
	}
	return NewCredentialStore(f), nil
}

// NewCredentialStore is a store over b.
func NewCredentialStore(b CredentialBackend) *CredentialStore {
	s := &CredentialStore{}
	s.SetBackend(b)
	return s
}

// SetBackend makes b the store's backend: every later Lookup, change and
// listing goes to b. Safe while connections authenticate.
func (s *CredentialStore) SetBackend(b CredentialBackend) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.backend.Store(&backendRef{b})
}

func (s *CredentialStore) b() CredentialBackend { return s.backend.Load().CredentialBackend }

// Path is the store's file; "" when its backend is not the file.
func (s *CredentialStore) Path() string {
	if f, ok := s.b().(*fileCredentials); ok {
		return f.path
	}
	return ""
}

// Lookup is user's credential for m.
func (s *CredentialStore) Lookup(user string, m ScramMechanism) (ScramCredential, bool) {
	return s.b().Lookup(user, m)
}

// Credentials returns every user's credentials (read only).
func (s *CredentialStore) Credentials() map[string]map[ScramMechanism]ScramCredential {
	return s.b().Credentials()
}

// UserMechanisms lists each user's mechanisms and iteration counts.
type UserMechanisms struct {
	User       string
	Mechanisms []MechanismInfo
}

// MechanismInfo is what describing a credential shows: no key, no salt.
type MechanismInfo struct {
	Mechanism  ScramMechanism
	Iterations int
}

// Describe is user's mechanisms; ok is false for a user without
// credentials.
func (s *CredentialStore) Describe(user string) (UserMechanisms, bool) {
	ms, ok := s.b().Credentials()[user]
	if !ok || len(ms) == 0 {
		return UserMechanisms{}, false
	}
	return describe(user, ms), true
}

// Users lists every user with credentials, sorted, with mechanisms.
func (s *CredentialStore) Users() []UserMechanisms {
	users := s.b().Credentials()
	out := make([]UserMechanisms, 0, len(users))
	for u, ms := range users {
		if len(ms) > 0 {
			out = append(out, describe(u, ms))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

func describe(user string, ms map[ScramMechanism]ScramCredential) UserMechanisms {
	um := UserMechanisms{User: user}
	for m, c := range ms {
		um.Mechanisms = append(um.Mechanisms, MechanismInfo{Mechanism: m, Iterations: c.Iterations})
	}
	sort.Slice(um.Mechanisms, func(i, j int) bool { return um.Mechanisms[i].Mechanism < um.Mechanisms[j].Mechanism })
	return um
}

// CredentialChange is one upsertion (Credential set) or deletion.
type CredentialChange struct {
	User       string
	Mechanism  ScramMechanism
	Delete     bool
	Credential ScramCredential
}

// Apply makes changes, which the caller has validated, atomically: all of
// them or, if they cannot be stored, none. A deletion of a credential
// that does not exist is an error matching ErrCredentialNotFound, and
// nothing is changed.
func (s *CredentialStore) Apply(changes []CredentialChange) error {
	return s.b().Apply(changes)
}

// ApplyEach makes each group of changes (one user's, as Kafka's
// AlterUserScramCredentials applies them) all-or-nothing on its own and
// returns each group's error: ErrCredentialNotFound for a group that
// deletes a credential that does not exist, or the backend's error. The
// file backend writes every other group in one atomic replace of its
// file; other backends (a cluster's store) get one atomic change per
// group, whose existence checks they make against the stored state.
func (s *CredentialStore) ApplyEach(groups [][]CredentialChange) []error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	errs := make([]error, len(groups))
	b := s.b()
	if _, ok := b.(*fileCredentials); !ok {
		for i, g := range groups {
			if len(g) > 0 {
				errs[i] = b.Apply(g)
			}
		}
		return errs
	}
	var all []CredentialChange
	var in []int
	for i, g := range groups {
		if err := missingDeletion(b, g); err != nil {
			errs[i] = err
			continue
		}
		all = append(all, g...)
		in = append(in, i)
	}
	if len(all) == 0 {
		return errs
	}
	if err := b.Apply(all); err != nil {
		for _, i := range in {
			errs[i] = err
		}
	}
	return errs
}

// missingDeletion is ErrCredentialNotFound if changes delete a credential
// b does not hold.
func missingDeletion(b CredentialBackend, changes []CredentialChange) error {
	for _, ch := range changes {
		if _, ok := b.Lookup(ch.User, ch.Mechanism); ch.Delete && !ok {
			return fmt.Errorf("%w: %s for user %q", ErrCredentialNotFound, ch.Mechanism, ch.User)
		}
	}
	return nil
}

func (f *fileCredentials) Lookup(user string, m ScramMechanism) (ScramCredential, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.users[user][m]
	return c, ok
}

// Credentials implements CredentialBackend: the map is replaced, never
// modified, by Apply.
func (f *fileCredentials) Credentials() map[string]map[ScramMechanism]ScramCredential {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.users
}

// Apply writes the changed credentials in one atomic replace of the file.
func (f *fileCredentials) Apply(changes []CredentialChange) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := make(map[string]map[ScramMechanism]ScramCredential, len(f.users)+len(changes))
	for u, ms := range f.users {
		next[u] = make(map[ScramMechanism]ScramCredential, len(ms))
		for m, c := range ms {
			next[u][m] = c
		}
	}
	for _, ch := range changes {
		if ch.Delete {
			if _, ok := next[ch.User][ch.Mechanism]; !ok {
				return fmt.Errorf("%w: %s for user %q", ErrCredentialNotFound, ch.Mechanism, ch.User)
			}
			delete(next[ch.User], ch.Mechanism)
			if len(next[ch.User]) == 0 {
				delete(next, ch.User)
			}
			continue
		}
		if next[ch.User] == nil {
			next[ch.User] = map[ScramMechanism]ScramCredential{}
		}
		next[ch.User][ch.Mechanism] = ch.Credential
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return fmt.Errorf("auth: credential store: %w", err)
	}
	if err := credentialsFormat.Write(f.path, encodeCredentials(next)); err != nil {
		return fmt.Errorf("auth: credential store: %w", err)
	}
	f.users = next
	return nil
}

func encodeCredentials(users map[string]map[ScramMechanism]ScramCredential) []byte {
	names := make([]string, 0, len(users))
	n := 0
	for u, ms := range users {
		names = append(names, u)
		n += len(ms)
	}
	sort.Strings(names)
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	appendBytes := func(b, v []byte) []byte {
		return append(binary.BigEndian.AppendUint16(b, uint16(len(v))), v...)
	}
	for _, u := range names {
		ms := users[u]
		for _, m := range []ScramMechanism{ScramSHA256, ScramSHA512} {
			c, ok := ms[m]
			if !ok {
				continue
			}
			b = appendBytes(b, []byte(u))
			b = append(b, byte(m))
			b = binary.BigEndian.AppendUint32(b, uint32(c.Iterations))
			b = appendBytes(b, c.Salt)
			b = appendBytes(b, c.StoredKey)
			b = appendBytes(b, c.ServerKey)
		}
	}
	return b
}

var errBadCredentials = errors.New("auth: credential store payload does not decode")

func decodeCredentials(b []byte) (map[string]map[ScramMechanism]ScramCredential, error) {
	users := map[string]map[ScramMechanism]ScramCredential{}
	if len(b) < 4 {
		return nil, errBadCredentials
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	next := func() ([]byte, bool) {
		if len(b) < 2 {
			return nil, false
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			return nil, false
		}
		v := slices.Clone(b[2 : 2+l])
		b = b[2+l:]
		return v, true
	}
	for i := uint32(0); i < n; i++ {
		user, ok := next()
		if !ok || len(b) < 5 {
			return nil, errBadCredentials
		}
		m := ScramMechanism(b[0])
		iters := int(binary.BigEndian.Uint32(b[1:]))
		b = b[5:]
		var c ScramCredential
		c.Iterations = iters
		var ok1, ok2, ok3 bool
		c.Salt, ok1 = next()
		c.StoredKey, ok2 = next()
		c.ServerKey, ok3 = next()
		if !ok1 || !ok2 || !ok3 || !m.Valid() {
			return nil, errBadCredentials
		}
		if users[string(user)] == nil {
			users[string(user)] = map[ScramMechanism]ScramCredential{}
		}
		users[string(user)][m] = c
	}
	if len(b) != 0 {
		return nil, errBadCredentials
	}
	return users, nil
}
