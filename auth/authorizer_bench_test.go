package auth

import (
	"fmt"
	"testing"
)

// benchAuthorizer holds n topics' worth of ACLs: per topic a literal
// ALLOW for one user, plus prefixed and wildcard patterns, the shape of a
// multi-tenant broker.
func benchAuthorizer(tb testing.TB, n int) *Authorizer {
	var bs []Binding
	for i := range n {
		bs = append(bs, allow(ResourceTopic, PatternLiteral, fmt.Sprintf("topic-%d", i), fmt.Sprintf("User:u%d", i%50), "*", OpWrite))
		if i%10 == 0 {
			bs = append(bs, allow(ResourceTopic, PatternPrefixed, fmt.Sprintf("tenant-%d-", i), "User:alice", "*", OpRead))
		}
	}
	bs = append(bs, deny(ResourceTopic, PatternLiteral, "*", "User:mallory", "*", OpAll))
	return newTestAuthorizer(tb, Config{}, bs...)
}

// BenchmarkAuthorize: the file-backed authorizer, and one whose bindings
// come from a backend (as a cluster's store supplies them); both answer
// from the same in-memory index.
func BenchmarkAuthorize(b *testing.B) {
	p := Principal{Type: "User", Name: "u7"}
	for _, n := range []int{10, 1000, 100000} {
		for _, store := range []string{"file", "backend"} {
			a := benchAuthorizer(b, n)
			if store == "backend" {
				backed, err := NewAuthorizer(Config{})
				if err != nil {
					b.Fatal(err)
				}
				backed.UseBackend(&memACLs{bindings: a.snap.Load().bindings, version: 1})
				a = backed
			}
			b.Run(fmt.Sprintf("acls=%d/store=%s", n, store), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !a.Authorize(p, "127.0.0.1", OpWrite, ResourceTopic, "topic-7") {
						b.Fatal("denied")
					}
				}
			})
		}
	}
}

func TestAuthorizeAllocatesNothing(t *testing.T) {
	a := benchAuthorizer(t, 1000)
	p := Principal{Type: "User", Name: "u7"}
	allocs := testing.AllocsPerRun(100, func() {
		a.Authorize(p, "127.0.0.1", OpWrite, ResourceTopic, "topic-7")
		a.Authorize(p, "127.0.0.1", OpDescribe, ResourceTopic, "tenant-10-x")
	})
	if allocs != 0 {
		t.Fatalf("Authorize allocates %.1f times per call", allocs)
	}
}
