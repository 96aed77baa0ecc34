package cluster

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"
)

// TestBrokerConfigsStoredPerResourceAndWatched: dynamic broker configs
// are stored per BROKER resource (a node id, or "" for the cluster-wide
// defaults), show in every watcher's Snapshot, resolve a node's own
// before the default, and a resource whose last config is deleted has
// no key left; a value of a newer format version is left out, not
// guessed at.
func TestBrokerConfigsStoredPerResourceAndWatched(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), 0)
	other := openTestStore(t, q.endpoints(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	set := func(res string, kv map[string]string) {
		t.Helper()
		if err := s.AlterBrokerConfigs(ctx, res, func(cur map[string]string) (map[string]string, error) {
			for k, v := range kv {
				if v == "" {
					delete(cur, k)
				} else {
					cur[k] = v
				}
			}
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	set("", map[string]string{"leader.replication.throttled.rate": "100"})
	set("2", map[string]string{"leader.replication.throttled.rate": "200", "follower.replication.throttled.rate": "300"})
	if _, err := brokerConfigsKey("02"); err == nil {
		t.Fatal(`resource "02" accepted: two keys would name broker 2`)
	}
	refused := errors.New("refused")
	if err := s.AlterBrokerConfigs(ctx, "1", func(map[string]string) (map[string]string, error) { return nil, refused }); !errors.Is(err, refused) {
		t.Fatalf("change's error: %v", err)
	}

	snap := waitSnapshot(t, other, 10*time.Second, "both resources", func(sn *Snapshot) bool { return len(sn.BrokerConfigs) == 2 })
	for _, c := range []struct {
		node             int32
		name, want       string
		perBroker, found bool
	}{
		{2, "leader.replication.throttled.rate", "200", true, true},
		{1, "leader.replication.throttled.rate", "100", false, true},
		{2, "follower.replication.throttled.rate", "300", true, true},
		{1, "follower.replication.throttled.rate", "", false, false},
	} {
		v, per, ok := snap.BrokerConfig(c.node, c.name)
		if v != c.want || per != c.perBroker || ok != c.found {
			t.Errorf("node %d %s = %q per-broker %v found %v; want %q %v %v", c.node, c.name, v, per, ok, c.want, c.perBroker, c.found)
		}
	}

	// Deleting the default's only config removes its key.
	set("", map[string]string{"leader.replication.throttled.rate": ""})
	waitSnapshot(t, other, 10*time.Second, "the default gone", func(sn *Snapshot) bool {
		_, ok := sn.BrokerConfigs[""]
		return !ok && len(sn.BrokerConfigs) == 1
	})
	resp, err := s.client.Get(ctx, s.prefix+keyBrokerConfigs+brokerConfigsDefault)
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("default key after its last config was deleted: %v %v", err, resp.Kvs)
	}

	// A newer broker's value: left out of the snapshot.
	if _, err := s.client.Put(ctx, s.prefix+keyBrokerConfigs+"3", `{"v":99,"resource":"3","configs":{"x":"1"}}`); err != nil {
		t.Fatal(err)
	}
	set("2", map[string]string{"follower.replication.throttled.rate": ""}) // a later write to wait on
	snap = waitSnapshot(t, other, 10*time.Second, "broker 2's follower rate gone", func(sn *Snapshot) bool {
		_, ok := sn.BrokerConfigs["2"]["follower.replication.throttled.rate"]
		return !ok
	})
	if _, ok := snap.BrokerConfigs["3"]; ok || !maps.Equal(snap.BrokerConfigs["2"], map[string]string{"leader.replication.throttled.rate": "200"}) {
		t.Fatalf("broker configs: %v", snap.BrokerConfigs)
	}
	// A fresh load agrees with the watched snapshot.
	fresh := openTestStore(t, q.endpoints(), 0)
	if got := fresh.Snapshot().BrokerConfigs; len(got) != 1 || !maps.Equal(got["2"], snap.BrokerConfigs["2"]) {
		t.Fatalf("loaded broker configs %v, watched %v", got, snap.BrokerConfigs)
	}
}
