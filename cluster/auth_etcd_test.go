package cluster

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func testCredential(user, mech string, iters int32) ScramCredential {
	return ScramCredential{User: user, Mechanism: mech, Iterations: iters,
		Salt: []byte("salt-" + user), StoredKey: []byte("stored-" + user), ServerKey: []byte("server-" + user)}
}

func testACL(topic, principal string, op int8) ACL {
	return ACL{ResourceType: 2, ResourceName: topic, PatternType: 3, Principal: principal, Host: "*", Operation: op, Permission: 3}
}

// TestAuthMetadataIsSharedByEveryMember runs the credential and ACL
// behaviours on one three-member quorum, with a store on each member.
func TestAuthMetadataIsSharedByEveryMember(t *testing.T) {
	_, stores := quorumStores(t)

	t.Run("CredentialWrittenThroughOneIsOnAll", func(t *testing.T) {
		ctx := ctxT(t)
		c := testCredential("alice", MechanismScramSHA256, 4096)
		if err := stores[0].AlterCredentials(ctx, []CredentialChange{{Credential: c}}); err != nil {
			t.Fatal(err)
		}
		if _, ok := stores[0].Snapshot().Credential("alice", MechanismScramSHA256); !ok {
			t.Fatal("the writer's snapshot does not show its credential on return")
		}
		for i, s := range stores {
			snap := waitSnapshot(t, s, 5*time.Second, "alice's credential", func(s *Snapshot) bool {
				_, ok := s.Credential("alice", MechanismScramSHA256)
				return ok
			})
			got, _ := snap.Credential("alice", MechanismScramSHA256)
			if got.Iterations != 4096 || !bytes.Equal(got.StoredKey, c.StoredKey) || !bytes.Equal(got.ServerKey, c.ServerKey) || !bytes.Equal(got.Salt, c.Salt) {
				t.Fatalf("member %d: credential %+v, want %+v", i, got, c)
			}
		}
	})

	t.Run("DeletingAMissingCredentialChangesNothing", func(t *testing.T) {
		ctx := ctxT(t)
		err := stores[1].AlterCredentials(ctx, []CredentialChange{
			{Credential: testCredential("bob", MechanismScramSHA512, 8192)},
			{Delete: true, Credential: ScramCredential{User: "bob", Mechanism: MechanismScramSHA256}},
		})
		if !errors.Is(err, ErrCredentialNotFound) {
			t.Fatalf("err = %v, want ErrCredentialNotFound", err)
		}
		// Deleting alice's credential through another member proves the
		// store has caught up; bob must still be absent everywhere.
		if err := stores[2].AlterCredentials(ctx, []CredentialChange{{Delete: true, Credential: ScramCredential{User: "alice", Mechanism: MechanismScramSHA256}}}); err != nil {
			t.Fatal(err)
		}
		for i, s := range stores {
			snap := waitSnapshot(t, s, 5*time.Second, "alice's credential gone", func(s *Snapshot) bool {
				_, ok := s.Credential("alice", MechanismScramSHA256)
				return !ok
			})
			if _, ok := snap.Credential("bob", MechanismScramSHA512); ok {
				t.Fatalf("member %d: bob's upsertion was stored although the same call's deletion failed", i)
			}
		}
	})

	t.Run("InvalidCredentialsAreRefused", func(t *testing.T) {
		ctx := ctxT(t)
		for _, ch := range []CredentialChange{
			{Credential: testCredential("", MechanismScramSHA256, 4096)},
			{Credential: testCredential("carol", "SCRAM-MD5", 4096)},
			{Credential: ScramCredential{User: "carol", Mechanism: MechanismScramSHA256, Iterations: 4096}},
		} {
			if err := stores[0].AlterCredentials(ctx, []CredentialChange{ch}); !errors.Is(err, ErrInvalidCredential) {
				t.Fatalf("%+v: err = %v, want ErrInvalidCredential", ch, err)
			}
		}
	})

	t.Run("ACLDeletedOnOneIsGoneOnAll", func(t *testing.T) {
		ctx := ctxT(t)
		keep, drop := testACL("orders", "User:alice", 3), testACL("orders", "User:bob", 4)
		if err := stores[0].CreateACLs(ctx, []ACL{keep, drop}); err != nil {
			t.Fatal(err)
		}
		for i, s := range stores {
			waitSnapshot(t, s, 5*time.Second, "two ACLs", func(s *Snapshot) bool { return len(s.ACLs) == 2 })
			if got := s.Snapshot().SortedACLs(); !slices.Contains(got, keep) || !slices.Contains(got, drop) {
				t.Fatalf("member %d: ACLs %+v", i, got)
			}
		}
		before := stores[2].Snapshot().ACLRevision
		deleted, err := stores[1].DeleteACLs(ctx, func(a ACL) bool { return a.Principal == "User:bob" })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(deleted, []ACL{drop}) {
			t.Fatalf("deleted %+v, want [%+v]", deleted, drop)
		}
		for i, s := range stores {
			snap := waitSnapshot(t, s, 5*time.Second, "bob's ACL gone", func(s *Snapshot) bool { return len(s.ACLs) == 1 })
			if got := snap.SortedACLs(); !slices.Equal(got, []ACL{keep}) {
				t.Fatalf("member %d: ACLs %+v, want [%+v]", i, got, keep)
			}
		}
		if after := waitSnapshot(t, stores[2], 5*time.Second, "one ACL", func(s *Snapshot) bool { return len(s.ACLs) == 1 }).ACLRevision; after <= before {
			t.Fatalf("ACLRevision %d after a deletion, %d before", after, before)
		}
		// A filter matching nothing deletes nothing.
		if deleted, err := stores[0].DeleteACLs(ctx, func(ACL) bool { return false }); err != nil || len(deleted) != 0 {
			t.Fatalf("deleted %+v, %v", deleted, err)
		}
	})

	t.Run("CreatingAnIdenticalACLIsIdempotent", func(t *testing.T) {
		ctx := ctxT(t)
		a := testACL("payments", "User:carol", 2)
		if err := stores[0].CreateACLs(ctx, []ACL{a, a}); err != nil {
			t.Fatal(err)
		}
		rev := stores[0].Snapshot().ACLRevision
		if err := stores[1].CreateACLs(ctx, []ACL{a}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, b := range stores[1].Snapshot().ACLs {
			if b == a {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("binding stored %d times", n)
		}
		if got := stores[0].Snapshot().ACLRevision; got != rev {
			t.Fatalf("re-creating a stored binding changed the ACLs: revision %d → %d", rev, got)
		}
	})

	t.Run("ConcurrentDeletesReportEachBindingOnce", func(t *testing.T) {
		ctx := ctxT(t)
		var acls []ACL
		for i := range 20 {
			acls = append(acls, testACL("race", "User:u"+string(rune('a'+i)), 3))
		}
		if err := stores[0].CreateACLs(ctx, acls); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		got := make([][]ACL, len(stores))
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Go(func() {
				got[i], errs[i] = s.DeleteACLs(ctx, func(a ACL) bool { return a.ResourceName == "race" })
			})
		}
		wg.Wait()
		var all []ACL
		for i := range stores {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			all = append(all, got[i]...)
		}
		if len(all) != len(acls) {
			t.Fatalf("%d deletions reported for %d bindings", len(all), len(acls))
		}
		for _, a := range acls {
			if !slices.Contains(all, a) {
				t.Fatalf("%+v not reported as deleted", a)
			}
		}
	})

	t.Run("ImportHappensOnceIntoAnEmptyCluster", func(t *testing.T) {
		ctx := ctxT(t)
		// The credentials subtests left no user: a first import goes in.
		admin := testCredential("admin", MechanismScramSHA512, 4096)
		ok, err := stores[0].ImportCredentials(ctx, []ScramCredential{admin})
		if err != nil || !ok {
			t.Fatalf("first import: %v, %v", ok, err)
		}
		for i, s := range stores {
			waitSnapshot(t, s, 5*time.Second, "admin imported", func(s *Snapshot) bool {
				_, ok := s.Credential("admin", MechanismScramSHA512)
				return ok
			})
			_ = i
		}
		// Another broker's file does not go in, nor after every user is
		// gone: a stale file never resurrects users.
		if ok, err := stores[1].ImportCredentials(ctx, []ScramCredential{testCredential("eve", MechanismScramSHA256, 4096)}); err != nil || ok {
			t.Fatalf("second import: %v, %v", ok, err)
		}
		if err := stores[1].AlterCredentials(ctx, []CredentialChange{{Delete: true, Credential: admin}}); err != nil {
			t.Fatal(err)
		}
		if ok, err := stores[2].ImportCredentials(ctx, []ScramCredential{testCredential("eve", MechanismScramSHA256, 4096)}); err != nil || ok {
			t.Fatalf("import after the users were deleted: %v, %v", ok, err)
		}
		if _, ok := stores[2].Snapshot().Credential("eve", MechanismScramSHA256); ok {
			t.Fatal("eve was imported")
		}
		// ACLs: the cluster holds one (from ACLDeletedOnOneIsGoneOnAll),
		// so a data dir's bindings are not imported.
		if ok, err := stores[0].ImportACLs(ctx, []ACL{testACL("x", "User:eve", 2)}); err != nil || ok {
			t.Fatalf("ACL import into a cluster with bindings: %v, %v", ok, err)
		}
	})
}

func TestACLIDDependsOnEveryField(t *testing.T) {
	base := testACL("t", "User:a", 3)
	variants := []ACL{base, base, base, base, base, base, base}
	variants[0].ResourceType = 3
	variants[1].ResourceName = "u"
	variants[2].PatternType = 4
	variants[3].Principal = "User:b"
	variants[4].Host = "127.0.0.1"
	variants[5].Operation = 4
	variants[6].Permission = 2
	seen := map[string]bool{base.ID(): true}
	for _, v := range variants {
		if seen[v.ID()] {
			t.Fatalf("%+v shares an ID", v)
		}
		seen[v.ID()] = true
	}
	// Field boundaries are length-prefixed: moving bytes between the
	// name and the principal changes the ID.
	a, b := base, base
	a.ResourceName, a.Principal = "ab", "c"
	b.ResourceName, b.Principal = "a", "bc"
	if a.ID() == b.ID() {
		t.Fatal("IDs collide across field boundaries")
	}
}

func TestAuthKeysDecodeOnlyWhatTheyName(t *testing.T) {
	c := testCredential("a/b", MechanismScramSHA256, 4096)
	key := credentialKey(c.Key())
	if got, err := decodeCredential(key, []byte(encodeCredential(c))); err != nil || got.User != "a/b" {
		t.Fatalf("decode %s: %+v, %v", key, got, err)
	}
	if k, ok := credentialKeyOf(key); !ok || k != c.Key() {
		t.Fatalf("key %s reads back as %+v", key, k)
	}
	other := testCredential("b", MechanismScramSHA256, 4096)
	if _, err := decodeCredential(key, []byte(encodeCredential(other))); err == nil {
		t.Fatal("a credential stored under another user's key was accepted")
	}
	a := testACL("t", "User:a", 3)
	if _, err := decodeACL(keyACLs+testACL("t", "User:b", 3).ID(), []byte(encodeACL(a))); err == nil {
		t.Fatal("an ACL stored under another binding's ID was accepted")
	}
	if _, err := decodeACL(keyACLs+a.ID(), []byte(`{"v":99}`)); err == nil {
		t.Fatal("a value of an unknown format version was accepted")
	}
}
