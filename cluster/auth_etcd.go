package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The SCRAM mechanisms a credential key may name (KIP-554's two).
const (
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Sentinel errors of the credential and ACL writes.
var (
	// ErrCredentialNotFound is an AlterCredentials that deletes a
	// credential the store does not hold: Kafka's RESOURCE_NOT_FOUND.
	ErrCredentialNotFound = errors.New("cluster: no such SCRAM credential")
	// ErrInvalidCredential is a credential change the store refuses to
	// hold (empty user, unknown mechanism, no keys).
	ErrInvalidCredential = errors.New("cluster: invalid SCRAM credential")
)

// aclWriteChunk bounds the operations of one ACL transaction, below etcd's
// default --max-txn-ops (128) so an external etcd takes them too.
const aclWriteChunk = 64

// deleteACLAttempts bounds how often DeleteACLs re-reads the bindings
// after another writer changed them between its read and its write.
const deleteACLAttempts = 16

// CredentialKey names one user's credential for one mechanism.
type CredentialKey struct {
	User      string
	Mechanism string // MechanismScramSHA256 or MechanismScramSHA512
}

// ScramCredential is what a cluster stores of a user's password for one
// mechanism (RFC 5802): the salt, the iteration count, StoredKey and
// ServerKey. Never the password, nor the salted password.
type ScramCredential struct {
	User       string
	Mechanism  string
	Iterations int32
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// Key is the credential's name.
func (c ScramCredential) Key() CredentialKey {
	return CredentialKey{User: c.User, Mechanism: c.Mechanism}
}

// CredentialChange is one upsertion (Credential set) or deletion (Delete;
// only Credential.User and Credential.Mechanism are read).
type CredentialChange struct {
	Delete     bool
	Credential ScramCredential
}

// ACL is one ACL binding as the metadata stores it. The int8 fields are
// Kafka's wire codes (resource type, pattern type, operation,
// permission); the caller validates bindings and puts them in canonical
// form before storing them, so identical bindings are equal values.
type ACL struct {
	ResourceType int8
	ResourceName string
	PatternType  int8
	Principal    string
	Host         string
	Operation    int8
	Permission   int8
}

// ID is the binding's key under acls/: 32 hex digits of the SHA-256 of
// its fields, so an identical binding always has the same key and
// creating it twice stores it once.
func (a ACL) ID() string {
	b := []byte{byte(a.ResourceType), byte(a.PatternType), byte(a.Operation), byte(a.Permission)}
	for _, s := range [...]string{a.ResourceName, a.Principal, a.Host} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func checkCredentialKey(k CredentialKey) error {
	if k.User == "" {
		return fmt.Errorf("%w: empty user name", ErrInvalidCredential)
	}
	if k.Mechanism != MechanismScramSHA256 && k.Mechanism != MechanismScramSHA512 {
		return fmt.Errorf("%w: mechanism %q", ErrInvalidCredential, k.Mechanism)
	}
	return nil
}

func checkCredential(c ScramCredential) error {
	if err := checkCredentialKey(c.Key()); err != nil {
		return err
	}
	if c.Iterations <= 0 || len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
		return fmt.Errorf("%w: user %q %s: iterations, salt, stored and server key are required", ErrInvalidCredential, c.User, c.Mechanism)
	}
	return nil
}

// AlterCredentials applies changes in one transaction: every one of them,
// or none. A deletion of a credential the store does not hold (decided
// by the transaction itself, against the stored keys) fails the whole
// call with ErrCredentialNotFound. Kafka applies AlterUserScramCredentials
// all-or-nothing per user: call it once per user. It returns once the
// change is committed and, unless ctx ends first, in Snapshot.
func (s *EtcdStore) AlterCredentials(ctx context.Context, changes []CredentialChange) error {
	if len(changes) == 0 {
		return nil
	}
	seen := make(map[CredentialKey]bool, len(changes))
	var cmps []clientv3.Cmp
	ops := make([]clientv3.Op, 0, len(changes))
	for _, ch := range changes {
		k := ch.Credential.Key()
		if err := checkCredentialKey(k); err != nil {
			return err
		}
		if seen[k] {
			return fmt.Errorf("%w: user %q %s changed twice in one call", ErrInvalidCredential, k.User, k.Mechanism)
		}
		seen[k] = true
		key := s.prefix + credentialKey(k)
		if ch.Delete {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		if err := checkCredential(ch.Credential); err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(key, encodeCredential(ch.Credential)))
	}
	ok, rev, err := s.txn(ctx, nil, cmps, ops)
	if err != nil {
		return fmt.Errorf("cluster: alter SCRAM credentials: %w", err)
	}
	if !ok {
		return fmt.Errorf("cluster: alter SCRAM credentials: %w", ErrCredentialNotFound)
	}
	s.settle(ctx, rev)
	return nil
}

// ImportCredentials stores creds, the credentials of a broker's data dir,
// unless the cluster already holds a credential or has imported once: a
// cluster's first users can be made offline (tributary user create
// --data-dir) and arrive with the first broker that starts. The check and
// the writes are one transaction, which also writes the marker
// auth-imported/credentials, so a cluster imports at most once and a
// later data dir's file (stale, or another broker's) never overwrites or
// resurrects users. imported reports whether creds were written.
func (s *EtcdStore) ImportCredentials(ctx context.Context, creds []ScramCredential) (imported bool, err error) {
	if len(creds) == 0 {
		return false, nil
	}
	ops := make([]clientv3.Op, 0, len(creds)+1)
	seen := make(map[CredentialKey]bool, len(creds))
	for _, c := range creds {
		if err := checkCredential(c); err != nil {
			return false, err
		}
		if seen[c.Key()] {
			return false, fmt.Errorf("%w: user %q %s given twice", ErrInvalidCredential, c.User, c.Mechanism)
		}
		seen[c.Key()] = true
		ops = append(ops, clientv3.OpPut(s.prefix+credentialKey(c.Key()), encodeCredential(c)))
	}
	return s.importOnce(ctx, "credentials", keyUsers, ops)
}

// ImportACLs stores acls, the bindings of a broker's data dir, under the
// same rule as ImportCredentials: only into a cluster that holds no
// binding and has never imported any (marker auth-imported/acls).
func (s *EtcdStore) ImportACLs(ctx context.Context, acls []ACL) (imported bool, err error) {
	if len(acls) == 0 {
		return false, nil
	}
	ops := make([]clientv3.Op, 0, len(acls)+1)
	seen := make(map[string]bool, len(acls))
	for _, a := range acls {
		id := a.ID()
		if !seen[id] {
			seen[id] = true
			ops = append(ops, clientv3.OpPut(s.prefix+keyACLs+id, encodeACL(a)))
		}
	}
	return s.importOnce(ctx, "acls", keyACLs, ops)
}

// importOnce commits ops and the marker auth-imported/<what> if no key
// lies under prefix and the marker is absent.
func (s *EtcdStore) importOnce(ctx context.Context, what, prefix string, ops []clientv3.Op) (bool, error) {
	marker := s.prefix + keyAuthImported + what
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(marker), "=", 0),
		// Over a range, every key must compare: true only when no key
		// lies under the prefix.
		clientv3.Compare(clientv3.CreateRevision(s.prefix+prefix), "=", 0).WithPrefix(),
	}
	ops = append(ops, clientv3.OpPut(marker, mustJSON(importedV1{V: FormatVersion, Count: len(ops)})))
	ok, rev, err := s.txn(ctx, nil, cmps, ops)
	if errors.Is(err, rpctypes.ErrTooManyOps) {
		// One transaction, so that a cluster never holds part of an
		// import (doc.go): beyond the etcd's --max-txn-ops, say so.
		return false, fmt.Errorf("cluster: import %s: %d keys and the marker need %d operations in one transaction, more than the etcd's --max-txn-ops allows (the embedded quorum allows %d): %w", what, len(ops)-1, len(ops), EmbedMaxTxnOps, err)
	}
	if err != nil {
		return false, fmt.Errorf("cluster: import %s: %w", what, err)
	}
	if ok {
		s.settle(ctx, rev)
	}
	return ok, nil
}

// CreateACLs stores acls; one already stored is left as it is (creating
// an identical binding is idempotent, as in Kafka). Each binding is put
// only if its key is absent, in transactions of at most aclWriteChunk
// bindings. It returns once they are committed and, unless ctx ends
// first, in Snapshot.
func (s *EtcdStore) CreateACLs(ctx context.Context, acls []ACL) error {
	seen := make(map[string]bool, len(acls))
	var ops []clientv3.Op
	var rev int64
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		resp, err := s.client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("cluster: create %d ACLs: %w", len(ops), err)
		}
		rev, ops = resp.Header.Revision, ops[:0]
		return nil
	}
	for _, a := range acls {
		id := a.ID()
		if seen[id] {
			continue
		}
		seen[id] = true
		key := s.prefix + keyACLs + id
		ops = append(ops, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(key, encodeACL(a))}, nil))
		if len(ops) == aclWriteChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if rev > 0 {
		s.settle(ctx, rev)
	}
	return nil
}

// DeleteACLs removes every stored binding match selects and returns the
// bindings it removed. It decides against the stored bindings, not the
// Snapshot: it reads acls/ at one revision and deletes what matched only
// if no binding was put since (a compare on the whole prefix), else
// reads again; a binding another broker removed first is not reported.
func (s *EtcdStore) DeleteACLs(ctx context.Context, match func(ACL) bool) ([]ACL, error) {
	var deleted []ACL
	for range deleteACLAttempts {
		resp, err := s.client.Get(ctx, s.prefix+keyACLs, clientv3.WithPrefix())
		if err != nil {
			return deleted, fmt.Errorf("cluster: delete ACLs: %w", err)
		}
		read := resp.Header.Revision
		var keys []string
		for _, kv := range resp.Kvs {
			a, err := decodeACL(strings.TrimPrefix(string(kv.Key), s.prefix), kv.Value)
			if err != nil {
				s.log.Error("cluster: ACL key skipped by DeleteACLs", "err", err)
				continue
			}
			if match(a) {
				keys = append(keys, string(kv.Key))
			}
		}
		unchanged := clientv3.Compare(clientv3.ModRevision(s.prefix+keyACLs), "<", read+1).WithPrefix()
		conflict := false
		var rev int64
		for chunk := range slices.Chunk(keys, aclWriteChunk) {
			ops := make([]clientv3.Op, len(chunk))
			for i, k := range chunk {
				ops[i] = clientv3.OpDelete(k, clientv3.WithPrevKV())
			}
			tr, err := s.client.Txn(ctx).If(unchanged).Then(ops...).Commit()
			if err != nil {
				return deleted, fmt.Errorf("cluster: delete ACLs: %w", err)
			}
			if !tr.Succeeded {
				conflict = true
				break
			}
			rev = tr.Header.Revision
			for _, r := range tr.Responses {
				for _, kv := range r.GetResponseDeleteRange().GetPrevKvs() {
					if a, err := decodeACL(strings.TrimPrefix(string(kv.Key), s.prefix), kv.Value); err == nil {
						deleted = append(deleted, a)
					}
				}
			}
		}
		if rev > 0 {
			s.settle(ctx, rev)
		}
		if !conflict {
			return deleted, nil
		}
	}
	return deleted, fmt.Errorf("cluster: delete ACLs: %w: the bindings kept changing (%d attempts)", ErrConflict, deleteACLAttempts)
}

// Key kinds of the auth metadata under a cluster's prefix.
const (
	keyUsers        = "users/"         // users/<mechanism>/<name>: ScramCredential
	keyACLs         = "acls/"          // acls/<ACL.ID()>: ACL
	keyAuthImported = "auth-imported/" // auth-imported/credentials, auth-imported/acls: import markers
)

func credentialKey(k CredentialKey) string { return keyUsers + k.Mechanism + "/" + k.User }

type credentialV1 struct {
	V          int    `json:"v"`
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
	Salt       []byte `json:"salt"`       // base64
	StoredKey  []byte `json:"stored_key"` // base64
	ServerKey  []byte `json:"server_key"` // base64
}

type aclV1 struct {
	V            int    `json:"v"`
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

type importedV1 struct {
	V     int `json:"v"`
	Count int `json:"count"`
}

func encodeCredential(c ScramCredential) string {
	return mustJSON(credentialV1{V: FormatVersion, User: c.User, Mechanism: c.Mechanism, Iterations: c.Iterations,
		Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey})
}

func decodeCredential(key string, val []byte) (ScramCredential, error) {
	var v credentialV1
	if err := decodeValue(key, val, &v); err != nil {
		return ScramCredential{}, err
	}
	c := ScramCredential{User: v.User, Mechanism: v.Mechanism, Iterations: v.Iterations,
		Salt: v.Salt, StoredKey: v.StoredKey, ServerKey: v.ServerKey}
	if err := checkCredential(c); err != nil {
		return ScramCredential{}, fmt.Errorf("cluster: key %s: %w", key, err)
	}
	if credentialKey(c.Key()) != key {
		return ScramCredential{}, fmt.Errorf("cluster: key %s holds the credential of %q %s", key, c.User, c.Mechanism)
	}
	return c, nil
}

func encodeACL(a ACL) string {
	return mustJSON(aclV1{V: FormatVersion, ResourceType: a.ResourceType, ResourceName: a.ResourceName,
		PatternType: a.PatternType, Principal: a.Principal, Host: a.Host, Operation: a.Operation, Permission: a.Permission})
}

func decodeACL(key string, val []byte) (ACL, error) {
	var v aclV1
	if err := decodeValue(key, val, &v); err != nil {
		return ACL{}, err
	}
	a := ACL{ResourceType: v.ResourceType, ResourceName: v.ResourceName, PatternType: v.PatternType,
		Principal: v.Principal, Host: v.Host, Operation: v.Operation, Permission: v.Permission}
	if keyACLs+a.ID() != key {
		return ACL{}, fmt.Errorf("cluster: key %s holds ACL %+v, whose key is %s%s", key, a, keyACLs, a.ID())
	}
	return a, nil
}

// credentialKeyOf reads a users/<mechanism>/<name> key back.
func credentialKeyOf(key string) (CredentialKey, bool) {
	mech, user, ok := strings.Cut(strings.TrimPrefix(key, keyUsers), "/")
	return CredentialKey{User: user, Mechanism: mech}, ok
}

// applyAuthPut and applyAuthDelete keep the Snapshot's credentials and
// ACLs; they report whether key was one of theirs.
func (s *EtcdStore) applyAuthPut(snap *Snapshot, key string, kv *mvccpb.KeyValue) (bool, error) {
	switch {
	case strings.HasPrefix(key, keyUsers):
		c, err := decodeCredential(key, kv.Value)
		if err == nil {
			snap.Credentials[c.Key()] = c
		}
		return true, err
	case strings.HasPrefix(key, keyACLs):
		a, err := decodeACL(key, kv.Value)
		if err == nil {
			snap.ACLs[strings.TrimPrefix(key, keyACLs)] = a
		}
		return true, err
	}
	return false, nil
}

func applyAuthDelete(snap *Snapshot, key string) bool {
	switch {
	case strings.HasPrefix(key, keyUsers):
		if k, ok := credentialKeyOf(key); ok {
			delete(snap.Credentials, k)
		}
		return true
	case strings.HasPrefix(key, keyACLs):
		delete(snap.ACLs, strings.TrimPrefix(key, keyACLs))
		return true
	}
	return false
}

// Credential returns user's credential for mechanism.
func (s *Snapshot) Credential(user, mechanism string) (ScramCredential, bool) {
	c, ok := s.Credentials[CredentialKey{User: user, Mechanism: mechanism}]
	return c, ok
}

// SortedACLs returns the bindings in a stable order (by ID).
func (s *Snapshot) SortedACLs() []ACL {
	ids := make([]string, 0, len(s.ACLs))
	for id := range s.ACLs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]ACL, len(ids))
	for i, id := range ids {
		out[i] = s.ACLs[id]
	}
	return out
}
