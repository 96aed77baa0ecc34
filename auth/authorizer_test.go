package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func allow(rt ResourceType, pt PatternType, name, principal, host string, op Operation) Binding {
	return Binding{ResourceType: rt, PatternType: pt, ResourceName: name, Principal: principal, Host: host, Operation: op, Permission: PermissionAllow}
}

func deny(rt ResourceType, pt PatternType, name, principal, host string, op Operation) Binding {
	b := allow(rt, pt, name, principal, host, op)
	b.Permission = PermissionDeny
	return b
}

func newTestAuthorizer(t testing.TB, cfg Config, bindings ...Binding) *Authorizer {
	t.Helper()
	a, err := NewAuthorizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range a.Create(bindings) {
		if err != nil {
			t.Fatalf("binding %d: %v", i, err)
		}
	}
	return a
}

var (
	alice = Principal{Type: "User", Name: "alice"}
	bob   = Principal{Type: "User", Name: "bob"}
)

func TestAuthorizeFollowsKafkaRules(t *testing.T) {
	const local = "127.0.0.1"
	tests := []struct {
		name     string
		cfg      Config
		bindings []Binding
		p        Principal
		host     string
		op       Operation
		rt       ResourceType
		res      string
		want     bool
	}{
		{"no ACLs denies by default", Config{}, nil, alice, local, OpRead, ResourceTopic, "t", false},
		{"no ACLs with allow.everyone", Config{AllowEveryoneIfNoACLFound: true}, nil, alice, local, OpRead, ResourceTopic, "t", true},
		{"ACL for someone else closes the resource even with allow.everyone", Config{AllowEveryoneIfNoACLFound: true},
			[]Binding{allow(ResourceTopic, PatternLiteral, "t", "User:bob", "*", OpRead)}, alice, local, OpRead, ResourceTopic, "t", false},
		{"literal allow", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, alice, local, OpRead, ResourceTopic, "t", true},
		{"literal allow other topic", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, alice, local, OpRead, ResourceTopic, "u", false},
		{"literal allow other operation", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, alice, local, OpWrite, ResourceTopic, "t", false},
		{"literal allow other type", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, alice, local, OpRead, ResourceGroup, "t", false},
		{"wildcard resource", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "*", "User:alice", "*", OpRead)}, alice, local, OpRead, ResourceTopic, "any", true},
		{"wildcard principal", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:*", "*", OpRead)}, bob, local, OpRead, ResourceTopic, "t", true},
		{"prefixed allow", Config{}, []Binding{allow(ResourceTopic, PatternPrefixed, "orders-", "User:alice", "*", OpWrite)}, alice, local, OpWrite, ResourceTopic, "orders-eu", true},
		{"prefixed does not match shorter name", Config{}, []Binding{allow(ResourceTopic, PatternPrefixed, "orders-", "User:alice", "*", OpWrite)}, alice, local, OpWrite, ResourceTopic, "orders", false},
		{"prefixed is not a wildcard", Config{}, []Binding{allow(ResourceTopic, PatternPrefixed, "*", "User:alice", "*", OpWrite)}, alice, local, OpWrite, ResourceTopic, "orders", false},
		{"deny wins over allow", Config{}, []Binding{
			allow(ResourceTopic, PatternLiteral, "*", "User:alice", "*", OpRead),
			deny(ResourceTopic, PatternPrefixed, "secret", "User:alice", "*", OpRead)}, alice, local, OpRead, ResourceTopic, "secret-x", false},
		{"deny of another operation leaves allow", Config{}, []Binding{
			allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead),
			deny(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite)}, alice, local, OpRead, ResourceTopic, "t", true},
		{"deny All denies everything", Config{}, []Binding{
			allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead),
			deny(ResourceTopic, PatternLiteral, "t", "User:*", "*", OpAll)}, alice, local, OpRead, ResourceTopic, "t", false},
		{"deny Read does not deny the Describe it would imply", Config{}, []Binding{
			allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpDescribe),
			deny(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, alice, local, OpDescribe, ResourceTopic, "t", true},
		{"allow All", Config{}, []Binding{allow(ResourceGroup, PatternLiteral, "g", "User:alice", "*", OpAll)}, alice, local, OpDelete, ResourceGroup, "g", true},
		{"Read implies Describe", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, alice, local, OpDescribe, ResourceTopic, "t", true},
		{"Write implies Describe", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite)}, alice, local, OpDescribe, ResourceTopic, "t", true},
		{"Delete implies Describe", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpDelete)}, alice, local, OpDescribe, ResourceTopic, "t", true},
		{"Alter implies Describe", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpAlter)}, alice, local, OpDescribe, ResourceTopic, "t", true},
		{"Create does not imply Describe", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpCreate)}, alice, local, OpDescribe, ResourceTopic, "t", false},
		{"Describe does not imply Read", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpDescribe)}, alice, local, OpRead, ResourceTopic, "t", false},
		{"AlterConfigs implies DescribeConfigs", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpAlterConfigs)}, alice, local, OpDescribeConfigs, ResourceTopic, "t", true},
		{"host matches", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "127.0.0.1", OpRead)}, alice, local, OpRead, ResourceTopic, "t", true},
		{"host differs", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "10.0.0.1", OpRead)}, alice, local, OpRead, ResourceTopic, "t", false},
		{"IPv4-mapped host is canonical", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "::ffff:127.0.0.1", OpRead)}, alice, local, OpRead, ResourceTopic, "t", true},
		{"super user bypasses deny", Config{SuperUsers: []string{"User:alice"}}, []Binding{deny(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpAll)}, alice, local, OpRead, ResourceTopic, "t", true},
		{"super user is by full principal", Config{SuperUsers: []string{"User:alice"}}, nil, Principal{Type: "Group", Name: "alice"}, local, OpRead, ResourceTopic, "t", false},
		{"anonymous is a principal like any", Config{}, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:ANONYMOUS", "*", OpRead)}, Anonymous, local, OpRead, ResourceTopic, "t", true},
		{"cluster resource", Config{}, []Binding{allow(ResourceCluster, PatternLiteral, ClusterName, "User:alice", "*", OpCreate)}, alice, local, OpCreate, ResourceCluster, ClusterName, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, tt.cfg, tt.bindings...)
			if got := a.Authorize(tt.p, tt.host, tt.op, tt.rt, tt.res); got != tt.want {
				t.Fatalf("Authorize(%v, %s, %s, %s %q) = %v, want %v", tt.p, tt.host, tt.op, tt.rt, tt.res, got, tt.want)
			}
		})
	}
}

func TestAuthorizeAnyFollowsKafkaAuthorizeByResourceType(t *testing.T) {
	tests := []struct {
		name     string
		bindings []Binding
		want     bool
	}{
		{"no ACLs", nil, false},
		{"write on one topic", []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite)}, true},
		{"read only", []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)}, false},
		{"write denied on the same literal", []Binding{
			allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite),
			deny(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite)}, false},
		{"write denied by a covering prefix", []Binding{
			allow(ResourceTopic, PatternPrefixed, "orders-eu", "User:alice", "*", OpWrite),
			deny(ResourceTopic, PatternPrefixed, "orders", "User:alice", "*", OpWrite)}, false},
		{"wildcard deny", []Binding{
			allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite),
			deny(ResourceTopic, PatternLiteral, "*", "User:*", "*", OpWrite)}, false},
		{"prefix deny leaves another topic", []Binding{
			allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite),
			deny(ResourceTopic, PatternPrefixed, "orders", "User:alice", "*", OpWrite)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, Config{}, tt.bindings...)
			if got := a.AuthorizeAny(alice, "127.0.0.1", OpWrite, ResourceTopic); got != tt.want {
				t.Fatalf("AuthorizeAny = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCreateRefusesInvalidBindingsAndKeepsTheRest(t *testing.T) {
	a := newTestAuthorizer(t, Config{})
	good := allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)
	bad := []Binding{
		allow(ResourceAny, PatternLiteral, "t", "User:alice", "*", OpRead),
		allow(ResourceTopic, PatternMatch, "t", "User:alice", "*", OpRead),
		allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpAny),
		allow(ResourceTopic, PatternLiteral, "", "User:alice", "*", OpRead),
		allow(ResourceTopic, PatternLiteral, "t", "alice", "*", OpRead),
		allow(ResourceTopic, PatternLiteral, "t", "User:alice", "somehost", OpRead),
		allow(ResourceCluster, PatternLiteral, "c", "User:alice", "*", OpAlter),
		{ResourceType: ResourceTopic, PatternType: PatternLiteral, ResourceName: "t", Principal: "User:a", Host: "*", Operation: OpRead, Permission: PermissionAny},
	}
	errs := a.Create(append([]Binding{good}, bad...))
	if errs[0] != nil {
		t.Fatalf("valid binding: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, ErrInvalidACL) {
			t.Errorf("binding %v: err %v, want ErrInvalidACL", bad[i], err)
		}
	}
	if got := a.ACLs(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}); len(got) != 1 || got[0] != good {
		t.Fatalf("stored %v, want only %v", got, good)
	}
	a.Create([]Binding{good})
	if got := a.ACLs(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}); len(got) != 1 {
		t.Fatalf("a binding created twice is stored %d times", len(got))
	}
}

func ptr(s string) *string { return &s }

func TestFilterMatchesAsKafka(t *testing.T) {
	lit := allow(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead)
	wild := allow(ResourceTopic, PatternLiteral, "*", "User:alice", "*", OpRead)
	pre := allow(ResourceTopic, PatternPrefixed, "ord", "User:alice", "*", OpRead)
	grp := allow(ResourceGroup, PatternLiteral, "orders", "User:bob", "10.0.0.1", OpRead)
	all := []Binding{lit, wild, pre, grp}
	any := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	with := func(f func(*Filter)) Filter { g := any; f(&g); return g }
	tests := []struct {
		name string
		f    Filter
		want []Binding
	}{
		{"any", any, all},
		{"resource type", with(func(f *Filter) { f.ResourceType = ResourceGroup }), []Binding{grp}},
		{"ANY pattern takes the name exactly", with(func(f *Filter) { f.ResourceName = ptr("orders") }), []Binding{lit, grp}},
		{"MATCH takes literal, wildcard and prefixes", with(func(f *Filter) {
			f.ResourceType, f.ResourceName, f.PatternType = ResourceTopic, ptr("orders"), PatternMatch
		}), []Binding{lit, wild, pre}},
		{"PREFIXED takes the prefix pattern by name", with(func(f *Filter) { f.ResourceName, f.PatternType = ptr("ord"), PatternPrefixed }), []Binding{pre}},
		{"principal", with(func(f *Filter) { f.Principal = ptr("User:bob") }), []Binding{grp}},
		{"host", with(func(f *Filter) { f.Host = ptr("10.0.0.1") }), []Binding{grp}},
		{"operation", with(func(f *Filter) { f.Operation = OpWrite }), nil},
		{"permission", with(func(f *Filter) { f.Permission = PermissionDeny }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Binding
			for _, b := range all {
				if tt.f.Matches(b) {
					got = append(got, b)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("matched %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("matched %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestACLsPersistAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta", "acls")
	a := newTestAuthorizer(t, Config{Path: path},
		allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead),
		deny(ResourceGroup, PatternPrefixed, "g-", "User:*", "::1", OpAll))
	if _, err := a.Delete([]Filter{{ResourceType: ResourceTopic, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}}); err != nil {
		t.Fatal(err)
	}
	b, err := NewAuthorizer(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	got := b.ACLs(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny})
	want := deny(ResourceGroup, PatternPrefixed, "g-", "User:*", "::1", OpAll)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("after reopen %v, want [%v]", got, want)
	}
	if b.Authorize(alice, "::1", OpRead, ResourceGroup, "g-1") {
		t.Fatal("the reloaded DENY does not apply")
	}
}

func TestDamagedACLFileIsAnErrorNotAnEmptySet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acls")
	newTestAuthorizer(t, Config{Path: path}, allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthorizer(Config{Path: path}); err == nil {
		t.Fatal("a damaged ACL file loaded")
	}
}

func TestDecodeACLsRefusesInvalidPayloads(t *testing.T) {
	good := encodeACLs([]Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)})
	if _, err := decodeACLs(good); err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":         nil,
		"count lies":    {0, 0, 0, 9},
		"cut short":     good[:len(good)-1],
		"trailing byte": append(append([]byte{}, good...), 0),
		"bad enum":      func() []byte { b := append([]byte{}, good...); b[4] = 99; return b }(),
		"bad host":      encodeACLs([]Binding{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "nohost", OpRead)}),
	}
	for name, p := range tests {
		if _, err := decodeACLs(p); !errors.Is(err, ErrCorruptACLFile) {
			t.Errorf("%s: err %v, want ErrCorruptACLFile", name, err)
		}
	}
}

func TestACLFileWriteFailureChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	path := filepath.Join(dir, "acls")
	kept := allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpRead)
	a := newTestAuthorizer(t, Config{Path: path}, kept)
	// The meta dir becomes a file: the next write cannot happen.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	errs := a.Create([]Binding{allow(ResourceTopic, PatternLiteral, "u", "User:bob", "*", OpRead)})
	if errs[0] == nil {
		t.Fatal("Create succeeded without writing the ACL file")
	}
	if a.Authorize(bob, "127.0.0.1", OpRead, ResourceTopic, "u") {
		t.Fatal("an ACL that was not stored took effect")
	}
	if _, err := a.Delete([]Filter{{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}}); err == nil {
		t.Fatal("Delete succeeded without writing the ACL file")
	}
	if !a.Authorize(alice, "127.0.0.1", OpRead, ResourceTopic, "t") {
		t.Fatal("a Delete that was not stored took effect")
	}
}
