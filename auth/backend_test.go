package auth

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// memACLs is an ACLBackend shared by several Authorizers, as a cluster's
// store is shared by its brokers; its version moves on every change.
type memACLs struct {
	mu       sync.Mutex
	bindings []Binding
	version  int64
	fail     error // returned by the next write
}

func (m *memACLs) ACLVersion() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

func (m *memACLs) ACLs() ([]Binding, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.bindings), m.version
}

func (m *memACLs) CreateACLs(bs []Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, b := range bs {
		if !slices.Contains(m.bindings, b) {
			m.bindings = append(m.bindings, b)
			m.version++
		}
	}
	return nil
}

func (m *memACLs) DeleteACLs(match func(Binding) bool) ([]Binding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var gone []Binding
	m.bindings = slices.DeleteFunc(m.bindings, func(b Binding) bool {
		if match(b) {
			gone = append(gone, b)
			return true
		}
		return false
	})
	if len(gone) > 0 {
		m.version++
	}
	return gone, nil
}

func backedAuthorizer(t *testing.T, b ACLBackend) *Authorizer {
	t.Helper()
	a, err := NewAuthorizer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	a.UseBackend(b)
	return a
}

func TestAuthorizersOnOneBackendSeeEachOthersChangesOnRefresh(t *testing.T) {
	const host = "10.0.0.1"
	be := &memACLs{}
	a1, a2 := backedAuthorizer(t, be), backedAuthorizer(t, be)
	readOrders := allow(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead)
	if errs := a1.Create([]Binding{readOrders, {ResourceType: ResourceTopic}}); errs[0] != nil || !errors.Is(errs[1], ErrInvalidACL) {
		t.Fatalf("create: %v", errs)
	}
	if !a1.Authorize(alice, host, OpRead, ResourceTopic, "orders") {
		t.Fatal("the creating authorizer does not apply its binding on return")
	}
	if a2.Authorize(alice, host, OpRead, ResourceTopic, "orders") {
		t.Fatal("a2 applied a binding before it refreshed")
	}
	a2.Refresh()
	if !a2.Authorize(alice, host, OpRead, ResourceTopic, "orders") {
		t.Fatal("a2 does not apply the binding after Refresh")
	}
	// Created again through a2: stored once.
	if errs := a2.Create([]Binding{readOrders}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got, _ := be.ACLs(); len(got) != 1 {
		t.Fatalf("backend holds %v", got)
	}

	// Deleted through a2, by two filters that both select it.
	byTopic := Filter{ResourceType: ResourceTopic, ResourceName: ptr("orders"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	byUser := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: ptr("User:alice"), Operation: OpAny, Permission: PermissionAny}
	nobody := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: ptr("User:nobody"), Operation: OpAny, Permission: PermissionAny}
	removed, err := a2.Delete([]Filter{byTopic, nobody, byUser})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed[0], []Binding{readOrders}) || len(removed[1]) != 0 || !slices.Equal(removed[2], []Binding{readOrders}) {
		t.Fatalf("removed %v", removed)
	}
	if a2.Authorize(alice, host, OpRead, ResourceTopic, "orders") {
		t.Fatal("a2 still applies the binding it deleted")
	}
	a1.Refresh()
	if a1.Authorize(alice, host, OpRead, ResourceTopic, "orders") {
		t.Fatal("a1 still applies the binding after Refresh")
	}
}

func TestRefreshWithoutAChangeKeepsTheIndex(t *testing.T) {
	be := &memACLs{}
	a := backedAuthorizer(t, be)
	a.Create([]Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)})
	before := a.snap.Load()
	a.Refresh()
	if a.snap.Load() != before {
		t.Fatal("Refresh rebuilt the index although the backend's version did not move")
	}
}

func TestBackendWriteFailureChangesNothing(t *testing.T) {
	be := &memACLs{}
	a := backedAuthorizer(t, be)
	b := allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)
	a.Create([]Binding{b})
	be.fail = errors.New("etcd unavailable")
	if errs := a.Create([]Binding{allow(ResourceTopic, PatternLiteral, "u", "User:alice", "*", OpRead)}); !errors.Is(errs[0], be.fail) {
		t.Fatalf("create: %v", errs)
	}
	if _, err := a.Delete([]Filter{{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}}); !errors.Is(err, be.fail) {
		t.Fatalf("delete: %v", err)
	}
	if got := a.ACLs(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}); !slices.Equal(got, []Binding{b}) {
		t.Fatalf("bindings after failed writes: %v", got)
	}
}

// memCredentials is a CredentialBackend whose Apply is one atomic change,
// as a cluster store's transaction is.
type memCredentials struct {
	mu      sync.Mutex
	users   map[string]map[ScramMechanism]ScramCredential
	applies int
}

func (m *memCredentials) Lookup(user string, mech ScramMechanism) (ScramCredential, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.users[user][mech]
	return c, ok
}

func (m *memCredentials) Credentials() map[string]map[ScramMechanism]ScramCredential {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users
}

func (m *memCredentials) Apply(changes []CredentialChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applies++
	for _, ch := range changes {
		if _, ok := m.users[ch.User][ch.Mechanism]; ch.Delete && !ok {
			return ErrCredentialNotFound
		}
	}
	next := map[string]map[ScramMechanism]ScramCredential{}
	for u, ms := range m.users {
		next[u] = map[ScramMechanism]ScramCredential{}
		for k, c := range ms {
			next[u][k] = c
		}
	}
	for _, ch := range changes {
		if ch.Delete {
			delete(next[ch.User], ch.Mechanism)
			continue
		}
		if next[ch.User] == nil {
			next[ch.User] = map[ScramMechanism]ScramCredential{}
		}
		next[ch.User][ch.Mechanism] = ch.Credential
	}
	m.users = next
	return nil
}

func upsert(t *testing.T, user string, m ScramMechanism, password string) CredentialChange {
	c, err := NewScramCredential(m, password, NewSalt(), MinScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	return CredentialChange{User: user, Mechanism: m, Credential: c}
}

func TestApplyEachIsAllOrNothingPerUser(t *testing.T) {
	for _, backend := range []string{"file", "memory"} {
		t.Run(backend, func(t *testing.T) {
			s := testStore(t) // alice (both mechanisms), bob (SCRAM-SHA-512)
			if backend == "memory" {
				s.SetBackend(&memCredentials{users: s.Credentials()})
			}
			errs := s.ApplyEach([][]CredentialChange{
				{upsert(t, "bob", ScramSHA256, "b")},
				{upsert(t, "carol", ScramSHA256, "c"), {User: "carol", Mechanism: ScramSHA512, Delete: true}},
				{{User: "alice", Mechanism: ScramSHA256, Delete: true}},
			})
			if errs[0] != nil || !errors.Is(errs[1], ErrCredentialNotFound) || errs[2] != nil {
				t.Fatalf("errs = %v", errs)
			}
			if _, ok := s.Lookup("bob", ScramSHA256); !ok {
				t.Fatal("bob was not stored")
			}
			if _, ok := s.Lookup("carol", ScramSHA256); ok {
				t.Fatal("carol's upsertion was stored although her deletion failed")
			}
			if _, ok := s.Lookup("alice", ScramSHA256); ok {
				t.Fatal("alice was not deleted")
			}
			if backend == "file" {
				again, err := OpenCredentialStore(s.Path())
				if err != nil {
					t.Fatal(err)
				}
				got := again.Users()
				if len(got) != 2 || got[0].User != "alice" || len(got[0].Mechanisms) != 1 || got[1].User != "bob" || len(got[1].Mechanisms) != 2 {
					t.Fatalf("file holds %v", got)
				}
			}
		})
	}
}

func TestSetBackendSwitchesWhereCredentialsAreRead(t *testing.T) {
	s := testStore(t)
	if s.Path() == "" {
		t.Fatal("a file store has no path")
	}
	mem := &memCredentials{users: map[string]map[ScramMechanism]ScramCredential{}}
	s.SetBackend(mem)
	if _, ok := s.Lookup("alice", ScramSHA256); ok {
		t.Fatal("the file's user is still found after the switch")
	}
	if s.Path() != "" {
		t.Fatalf("Path = %q with a non-file backend", s.Path())
	}
	if errs := s.ApplyEach([][]CredentialChange{{upsert(t, "dave", ScramSHA512, "d")}, {upsert(t, "erin", ScramSHA512, "e")}}); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if mem.applies != 2 {
		t.Fatalf("%d backend changes for two users, want one per user", mem.applies)
	}
	if um, ok := s.Describe("dave"); !ok || um.Mechanisms[0].Mechanism != ScramSHA512 {
		t.Fatalf("describe dave: %+v %v", um, ok)
	}
}
