package server

// SCRAM credentials and ACLs in a cluster (issue 14). On a single broker
// they live in the data dir's files (meta/scram-credentials, meta/acls);
// in a cluster every broker must authenticate the same users and enforce
// the same bindings, so they live in the metadata store (cluster's
// users/ and acls/ keys) and reach every broker through its watch.
//
// useClusterAuth switches the server's credential store and authorizer to
// the cluster's store: auth.CredentialStore and auth.Authorizer take a
// backend, and this file is the adapter between auth's types and
// cluster's (auth and cluster do not import each other). Lookups read the
// watched Snapshot; the authorizer keeps its in-memory index, rebuilt by
// one goroutine when the Snapshot's ACLRevision moves, never per request.
//
// First users of a cluster: `tributary user create --data-dir` on a
// stopped broker's data dir, as on a single broker. The first broker to
// start with a non-empty credential file (and the first with a non-empty
// ACL file) while the cluster holds no user (no binding) imports it into
// the store; the import is one transaction with a marker key, so it
// happens once per cluster, and every later file is left aside (logged).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// clusterAuthTimeout bounds one credential or ACL write to the store.
const clusterAuthTimeout = 10 * time.Second

// clusterAuthStore is what the cluster-backed credentials and ACLs use of
// the metadata store (*cluster.EtcdStore).
type clusterAuthStore interface {
	Snapshot() *cluster.Snapshot
	Changed() <-chan struct{}
	AlterCredentials(ctx context.Context, changes []cluster.CredentialChange) error
	ImportCredentials(ctx context.Context, creds []cluster.ScramCredential) (bool, error)
	CreateACLs(ctx context.Context, acls []cluster.ACL) error
	DeleteACLs(ctx context.Context, match func(cluster.ACL) bool) ([]cluster.ACL, error)
	ImportACLs(ctx context.Context, acls []cluster.ACL) (bool, error)
}

var _ clusterAuthStore = (*cluster.EtcdStore)(nil)

// useClusterAuth imports the data dir's credentials and ACLs into store
// if the cluster has none yet (once per cluster), then makes store the
// backend of the server's credential store and, with an authorizer, of
// its ACLs, and starts the goroutine that rebuilds the ACL index on a
// watched change. stop ends that goroutine; call it before closing store.
// Call before the broker registers, so a broker others can find already
// authenticates against the cluster's users.
func (s *Server) useClusterAuth(ctx context.Context, store clusterAuthStore) (stop func(), err error) {
	if err := s.importLocalAuth(ctx, store); err != nil {
		return nil, err
	}
	s.creds.SetBackend(clusterCredentials{store: store, ctx: s.ctx})
	if s.authz == nil {
		return func() {}, nil
	}
	s.authz.UseBackend(clusterACLs{store: store, ctx: s.ctx, log: s.logger.Warn})
	wctx, cancel := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			ch := store.Changed()
			s.authz.Refresh()
			select {
			case <-ch:
			case <-wctx.Done():
				return
			}
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

// importLocalAuth offers the data dir's credentials (and, with an
// authorizer, its ACL bindings) to the cluster, which takes them only
// when it holds none and never imported any.
func (s *Server) importLocalAuth(ctx context.Context, store clusterAuthStore) error {
	var creds []cluster.ScramCredential
	for user, ms := range s.creds.Credentials() {
		for m, c := range ms {
			creds = append(creds, toClusterCredential(user, m, c))
		}
	}
	if len(creds) > 0 {
		ok, err := store.ImportCredentials(ctx, creds)
		if err != nil {
			return fmt.Errorf("server: import %s into the cluster: %w", s.creds.Path(), err)
		}
		if ok {
			s.logger.Info("server: imported the data dir's SCRAM credentials into the cluster metadata", "file", s.creds.Path(), "credentials", len(creds))
		} else {
			s.logger.Warn("server: the data dir's SCRAM credentials are not used: the cluster metadata holds the users (imported once, from the first broker with a credential file)", "file", s.creds.Path(), "credentials", len(creds))
		}
	}
	if s.authz == nil {
		return nil
	}
	bs := s.authz.ACLs(auth.Filter{ResourceType: auth.ResourceAny, PatternType: auth.PatternAny, Operation: auth.OpAny, Permission: auth.PermissionAny})
	if len(bs) == 0 {
		return nil
	}
	acls := make([]cluster.ACL, len(bs))
	for i, b := range bs {
		acls[i] = toClusterACL(b)
	}
	ok, err := store.ImportACLs(ctx, acls)
	if err != nil {
		return fmt.Errorf("server: import %s into the cluster: %w", aclFile, err)
	}
	if ok {
		s.logger.Info("server: imported the data dir's ACLs into the cluster metadata", "file", aclFile, "bindings", len(acls))
	} else {
		s.logger.Warn("server: the data dir's ACLs are not used: the cluster metadata holds the bindings", "file", aclFile, "bindings", len(acls))
	}
	return nil
}

// clusterCredentials is auth.CredentialBackend over the store.
type clusterCredentials struct {
	store clusterAuthStore
	ctx   context.Context // the server's: writes end when it closes
}

var _ auth.CredentialBackend = clusterCredentials{}

func (c clusterCredentials) Lookup(user string, m auth.ScramMechanism) (auth.ScramCredential, bool) {
	sc, ok := c.store.Snapshot().Credential(user, m.String())
	if !ok {
		return auth.ScramCredential{}, false
	}
	return auth.ScramCredential{Salt: sc.Salt, Iterations: int(sc.Iterations), StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, true
}

func (c clusterCredentials) Credentials() map[string]map[auth.ScramMechanism]auth.ScramCredential {
	out := map[string]map[auth.ScramMechanism]auth.ScramCredential{}
	for k, sc := range c.store.Snapshot().Credentials {
		m, err := auth.ParseScramMechanism(k.Mechanism)
		if err != nil {
			continue
		}
		if out[k.User] == nil {
			out[k.User] = map[auth.ScramMechanism]auth.ScramCredential{}
		}
		out[k.User][m] = auth.ScramCredential{Salt: sc.Salt, Iterations: int(sc.Iterations), StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
	}
	return out
}

// Apply is one transaction in the store; a deletion of a credential the
// store does not hold matches auth.ErrCredentialNotFound.
func (c clusterCredentials) Apply(changes []auth.CredentialChange) error {
	cc := make([]cluster.CredentialChange, len(changes))
	for i, ch := range changes {
		cc[i] = cluster.CredentialChange{Delete: ch.Delete, Credential: toClusterCredential(ch.User, ch.Mechanism, ch.Credential)}
	}
	ctx, cancel := context.WithTimeout(c.ctx, clusterAuthTimeout)
	defer cancel()
	err := c.store.AlterCredentials(ctx, cc)
	if errors.Is(err, cluster.ErrCredentialNotFound) {
		return fmt.Errorf("%w: %w", auth.ErrCredentialNotFound, err)
	}
	return err
}

func toClusterCredential(user string, m auth.ScramMechanism, c auth.ScramCredential) cluster.ScramCredential {
	return cluster.ScramCredential{User: user, Mechanism: m.String(), Iterations: int32(c.Iterations),
		Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
}

// clusterACLs is auth.ACLBackend over the store.
type clusterACLs struct {
	store clusterAuthStore
	ctx   context.Context
	log   func(msg string, args ...any)
}

var _ auth.ACLBackend = clusterACLs{}

func (c clusterACLs) ACLVersion() int64 { return c.store.Snapshot().ACLRevision }

// ACLs converts the Snapshot's bindings; one that is not valid as Kafka
// would create it (written by something else than a broker) is left out
// and logged, never enforced half-read.
func (c clusterACLs) ACLs() ([]auth.Binding, int64) {
	snap := c.store.Snapshot()
	out := make([]auth.Binding, 0, len(snap.ACLs))
	for id, a := range snap.ACLs {
		b, ok := c.binding(id, a)
		if ok {
			out = append(out, b)
		}
	}
	return out, snap.ACLRevision
}

func (c clusterACLs) binding(id string, a cluster.ACL) (auth.Binding, bool) {
	b := fromClusterACL(a)
	v, err := b.Validate()
	if err != nil || v != b {
		c.log("server: an ACL in the cluster metadata is not valid and is not enforced", "id", id, "binding", b, "err", err)
		return b, false
	}
	return b, true
}

func (c clusterACLs) CreateACLs(bs []auth.Binding) error {
	acls := make([]cluster.ACL, len(bs))
	for i, b := range bs {
		acls[i] = toClusterACL(b)
	}
	ctx, cancel := context.WithTimeout(c.ctx, clusterAuthTimeout)
	defer cancel()
	return c.store.CreateACLs(ctx, acls)
}

func (c clusterACLs) DeleteACLs(match func(auth.Binding) bool) ([]auth.Binding, error) {
	ctx, cancel := context.WithTimeout(c.ctx, clusterAuthTimeout)
	defer cancel()
	gone, err := c.store.DeleteACLs(ctx, func(a cluster.ACL) bool {
		b, ok := c.binding(a.ID(), a)
		return ok && match(b)
	})
	out := make([]auth.Binding, len(gone))
	for i, a := range gone {
		out[i] = fromClusterACL(a)
	}
	return out, err
}

func toClusterACL(b auth.Binding) cluster.ACL {
	return cluster.ACL{ResourceType: int8(b.ResourceType), ResourceName: b.ResourceName, PatternType: int8(b.PatternType),
		Principal: b.Principal, Host: b.Host, Operation: int8(b.Operation), Permission: int8(b.Permission)}
}

func fromClusterACL(a cluster.ACL) auth.Binding {
	return auth.Binding{ResourceType: auth.ResourceType(a.ResourceType), ResourceName: a.ResourceName,
		PatternType: auth.PatternType(a.PatternType), Principal: a.Principal, Host: a.Host,
		Operation: auth.Operation(a.Operation), Permission: auth.Permission(a.Permission)}
}
