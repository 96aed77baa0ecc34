package server

// Static membership (KIP-345) with franz-go: a static member that
// restarts within its session timeout gets its partitions back without a
// rebalance, and a second live client with the same instance id fences
// the first.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// staticMember is a franz-go client with an instance id and what its
// group callbacks saw.
type staticMember struct {
	cl *kgo.Client

	mu       sync.Mutex
	assigned [][]int32 // each OnPartitionsAssigned call's partitions
	revoked  int
	lost     int
	errs     []error // OnGroupManageError
}

func (m *staticMember) OnGroupManageError(err error) {
	m.mu.Lock()
	m.errs = append(m.errs, err)
	m.mu.Unlock()
}

func (m *staticMember) snapshot() (assigned [][]int32, revoked, lost int, errs []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assigned), m.revoked, m.lost, slices.Clone(m.errs)
}

func startStaticMember(t *testing.T, ctx context.Context, b *testBroker, group, topic, instance string) *staticMember {
	m := &staticMember{}
	opts := append(groupClientOpts(group, topic),
		kgo.InstanceID(instance),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(3*time.Second), // room for a restart
		kgo.WithHooks(m),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			m.assigned = append(m.assigned, slices.Sorted(slices.Values(a[topic])))
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) {
			m.mu.Lock()
			m.revoked++
			m.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) {
			m.mu.Lock()
			m.lost++
			m.mu.Unlock()
		}),
	)
	m.cl = b.client(opts...)
	// Group management runs while the client polls.
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pctx.Err() == nil {
			m.cl.PollFetches(pctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// waitAssigned waits until m was assigned partitions n times in all.
func (m *staticMember) waitAssigned(t *testing.T, n int) []int32 {
	t.Helper()
	deadline := time.Now().Add(groupWait)
	for time.Now().Before(deadline) {
		as, _, _, _ := m.snapshot()
		if len(as) >= n {
			return as[n-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	as, _, _, errs := m.snapshot()
	t.Fatalf("member was assigned %d times within %v, want %d (errors %v)", len(as), groupWait, n, errs)
	return nil
}

func staticIDs(dg kadm.DescribedGroup) map[string]string {
	out := map[string]string{}
	for _, m := range dg.Members {
		if m.InstanceID != nil {
			out[*m.InstanceID] = m.MemberID
		}
	}
	return out
}

func TestGroupStaticMembership(t *testing.T) {
	const (
		topic      = "gst"
		group      = "gst-group"
		partitions = 4
	)
	b := startGroupBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, partitions)

	a := startStaticMember(t, ctx, b, group, topic, "inst-a")
	a.waitAssigned(t, 1)
	bm := startStaticMember(t, ctx, b, group, topic, "inst-b")
	before := waitGroup(t, ctx, adm, group, "Stable", 2, func(dg kadm.DescribedGroup) bool {
		return ownsAll(dg, topic, partitions, 2, 2)
	})
	// Both members have taken the generation's assignment.
	var gen int32
	deadline := time.Now().Add(groupWait)
	for {
		_, ga := a.cl.GroupMetadata()
		_, gb := bm.cl.GroupMetadata()
		as, _, _, _ := a.snapshot()
		bs, _, _, _ := bm.snapshot()
		if ga == gb && ga > 0 && len(bs) > 0 && len(as[len(as)-1]) == 2 && len(bs[len(bs)-1]) == 2 {
			gen = ga
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never settled: generations %d and %d, assignments %v and %v", ga, gb, as, bs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ids := staticIDs(before)
	beforeAs, _ := groupAssignments(before)
	aParts := beforeAs[ids["inst-a"]][topic]
	bAssigned, bRevoked, bLost, _ := bm.snapshot()
	t.Logf("generation %d: %s", gen, describeAssignments(before))

	// A static member closes without leaving and comes back.
	a.cl.Close()
	if dg := waitGroup(t, ctx, adm, group, "Stable", 2, nil); staticIDs(dg)["inst-a"] != ids["inst-a"] {
		t.Fatalf("inst-a's member %s left the group on close: %v", ids["inst-a"], staticIDs(dg))
	}
	a2 := startStaticMember(t, ctx, b, group, topic, "inst-a")
	got := a2.waitAssigned(t, 1)
	if !slices.Equal(got, aParts) {
		t.Errorf("restarted inst-a was assigned %v, before %v", got, aParts)
	}
	a2ID, a2Gen := a2.cl.GroupMetadata()
	if a2Gen != gen {
		t.Errorf("restarted inst-a joined generation %d, want the unchanged %d (a rebalance happened)", a2Gen, gen)
	}
	if a2ID == ids["inst-a"] {
		t.Errorf("restarted inst-a kept its member id %s, want a new one", a2ID)
	}
	time.Sleep(500 * time.Millisecond) // a rebalance, if any, shows by now
	if _, g := bm.cl.GroupMetadata(); g != gen {
		t.Errorf("inst-b is at generation %d, want the unchanged %d", g, gen)
	}
	if as, rv, ls, _ := bm.snapshot(); len(as) != len(bAssigned) || rv != bRevoked || ls != bLost {
		t.Errorf("inst-b saw a rebalance: assigned %v (before %v), revoked %d (before %d), lost %d (before %d)", as, bAssigned, rv, bRevoked, ls, bLost)
	}
	after := waitGroup(t, ctx, adm, group, "Stable", 2, nil)
	if ids2 := staticIDs(after); ids2["inst-a"] != a2ID || ids2["inst-b"] != ids["inst-b"] {
		t.Errorf("after the restart the group has %v, want inst-a %s and inst-b %s", ids2, a2ID, ids["inst-b"])
	}
	if afterAs, _ := groupAssignments(after); !slices.Equal(afterAs[a2ID][topic], aParts) {
		t.Errorf("after the restart inst-a holds %v, want %v", afterAs[a2ID][topic], aParts)
	}

	// A second live client with the same instance id fences the first.
	a3 := startStaticMember(t, ctx, b, group, topic, "inst-a")
	a3.waitAssigned(t, 1)
	deadline = time.Now().Add(groupWait)
	for {
		_, _, _, errs := a2.snapshot()
		if slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, kerr.FencedInstanceID) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced inst-a client saw errors %v, want FENCED_INSTANCE_ID", errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a2.cl.Close()
	a3ID, _ := a3.cl.GroupMetadata()
	final := waitGroup(t, ctx, adm, group, "Stable", 2, func(dg kadm.DescribedGroup) bool {
		return ownsAll(dg, topic, partitions, 2, 2) && staticIDs(dg)["inst-a"] == a3ID
	})
	if ids3 := staticIDs(final); len(ids3) != 2 || ids3["inst-b"] != ids["inst-b"] {
		t.Errorf("final static members %v", ids3)
	}
}
