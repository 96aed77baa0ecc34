//go:build !race

package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/recordbatch"
)

// produceFetchAllocs is the broker's allocations per Produce and per Fetch
// of a 100-record batch to topic "alloc", over a raw connection from
// 127.0.0.1 (User:ANONYMOUS).
func produceFetchAllocs(t *testing.T, b *testBroker) (produce, fetch float64) {
	t.Helper()
	if _, err := b.mgr.CreateTopic("alloc", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := b.raw()
	c.nc.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 8<<20)
	formatter := kmsg.NewRequestFormatter()
	batch := recordbatch.Build(100, 100, time.Now().UnixMilli())
	pframe := formatter.AppendRequest(nil, produceReq(11, "alloc", batch), 1)
	fframe := formatter.AppendRequest(nil, fetchReq(12, "alloc", [16]byte{}, 0, 1<<20), 2)
	for range 20 { // warm pools
		c.exchange(pframe, buf)
		c.exchange(fframe, buf)
	}
	produce = testing.AllocsPerRun(100, func() { c.exchange(pframe, buf) })
	fetch = testing.AllocsPerRun(100, func() {
		if resp := c.exchange(fframe, buf); len(resp) < len(batch) {
			t.Fatalf("fetch returned %d bytes: denied?", len(resp))
		}
	})
	return produce, fetch
}

// TestAuthorizationAddsNoAllocationsToProduceAndFetch: with an authorizer
// and ACLs that allow them, Produce and Fetch allocate what they do
// without one.
func TestAuthorizationAddsNoAllocationsToProduceAndFetch(t *testing.T) {
	plain := startBroker(t)
	p0, f0 := produceFetchAllocs(t, plain)

	authz := startBroker(t, withAuthorizer())
	anon := auth.Anonymous.String()
	var bs []auth.Binding
	for i := range 200 { // other tenants' ACLs, so the look-up is not trivial
		bs = append(bs, binding(auth.ResourceTopic, auth.PatternPrefixed, "tenant-"+string(rune('a'+i%26))+"-", "User:other", auth.OpAll, auth.PermissionAllow))
	}
	bs = append(bs,
		binding(auth.ResourceTopic, auth.PatternLiteral, "alloc", anon, auth.OpWrite, auth.PermissionAllow),
		binding(auth.ResourceTopic, auth.PatternPrefixed, "all", anon, auth.OpRead, auth.PermissionAllow),
		binding(auth.ResourceTopic, auth.PatternLiteral, "*", "User:mallory", auth.OpAll, auth.PermissionDeny))
	for _, err := range authz.srv.authz.Create(bs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	p1, f1 := produceFetchAllocs(t, authz)
	t.Logf("allocs per request without an authorizer: produce %.0f, fetch %.0f; with: produce %.0f, fetch %.0f", p0, f0, p1, f1)
	// One allocation of slack for a pool refill landing in one run.
	if p1 > p0+1 || f1 > f0+1 {
		t.Errorf("authorization allocates: produce %.0f -> %.0f, fetch %.0f -> %.0f", p0, p1, f0, f1)
	}
}
