package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeBrokerOn sends a DescribeConfigs of the broker resource name to
// node n itself (whatever broker the resource names), as a client that
// does not route by id would.
func describeBrokerOn(ctx context.Context, t *testing.T, n *clusterTestNode, name string, configs ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	cl := mustClient(t, n.addr)
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
	if len(configs) > 0 {
		rr.ConfigNames = configs
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil || len(resp.Resources) != 1 {
		t.Fatalf("describe broker %q on node %d: %v %+v", name, n.id, err, resp)
	}
	return resp.Resources[0]
}

// TestClusterBrokerConfigsDescribeEachNodeByItsOwnID: in a cluster each
// broker answers DescribeConfigs for its own node.id (kadm routes a
// broker's resource to that broker) with its own identity (node.id,
// broker.id, broker.rack, advertised.listeners) and the cluster settings
// it started with; another broker's id is refused with Kafka's
// INVALID_REQUEST, and alters of its own static settings are refused as
// static, not as a wrong id.
func TestClusterBrokerConfigsDescribeEachNodeByItsOwnID(t *testing.T) {
	tc := startTestClusterWith(t, func(n *clusterTestNode, c *Config) {
		c.Cluster.Config.Rack = fmt.Sprintf("rack-%d", n.id)
	})
	ctx := testContext(t)
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	rcs, err := adm.DescribeBrokerConfigs(ctx, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rcs) != 3 {
		t.Fatalf("%d resources described, want 3: %+v", len(rcs), rcs)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			t.Fatalf("describe broker %s: %v %s", rc.Name, rc.Err, rc.ErrMessage)
		}
		id, _ := strconv.Atoi(rc.Name)
		n := tc.node(int32(id))
		cs := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			cs[c.Key] = c
		}
		for name, want := range map[string]string{
			"node.id":                    rc.Name,
			"broker.id":                  rc.Name,
			BrokerRack:                   "rack-" + rc.Name,
			BrokerControllerListener:     n.ctrl,
			BrokerSessionTimeoutMs:       "3000",
			"advertised.listeners":       DefaultListenerName + "://" + n.addr,
			BrokerControllerQuorumVoters: FormatVoters(tc.voters),
		} {
			c := cs[name]
			if got := c.MaybeValue(); got != want {
				t.Errorf("broker %s: %s = %q, want %q", rc.Name, name, got, want)
			}
		}
		if c := cs[BrokerSessionTimeoutMs]; c.Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Errorf("broker %s: %s source %v, want STATIC_BROKER_CONFIG", rc.Name, c.Key, c.Source)
		}
	}

	// Broker 2's resource asked of broker 1: Kafka's refusal, naming the id
	// broker 1 answers for.
	r := describeBrokerOn(ctx, t, tc.node(1), "2", "node.id")
	if r.ErrorCode != kerr.InvalidRequest.Code || !strings.Contains(unptr(r.ErrorMessage), "expected 1") {
		t.Fatalf("broker 2's resource on broker 1: code %d %q, want INVALID_REQUEST naming 1", r.ErrorCode, unptr(r.ErrorMessage))
	}
	// The cluster-wide default resource is answered by any broker.
	if r := describeBrokerOn(ctx, t, tc.node(3), ""); r.ErrorCode != 0 {
		t.Fatalf("cluster default resource on broker 3: code %d %q", r.ErrorCode, unptr(r.ErrorMessage))
	}

	// A static setting of broker 2, altered through broker 2: refused as
	// static.
	set := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: BrokerNumPartitions, Value: kadm.StringPtr("3")}}
	res, err := adm.AlterBrokerConfigs(ctx, set, 2)
	if err != nil || len(res) != 1 || res[0].Err != kerr.InvalidRequest || !strings.Contains(res[0].ErrMessage, "static") {
		t.Fatalf("alter broker 2's num.partitions: %v %+v", err, res)
	}
	// ... and through broker 1, which is not broker 2: the wrong id.
	cl := mustClient(t, tc.node(1).addr, kgo.RetryTimeout(0))
	alt := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ar := kmsg.NewIncrementalAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeBroker, "2"
	ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = BrokerNumPartitions, kmsg.StringPtr("3")
	ar.Configs = append(ar.Configs, ac)
	alt.Resources = append(alt.Resources, ar)
	aresp, err := alt.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil || len(aresp.Resources) != 1 || aresp.Resources[0].ErrorCode != kerr.InvalidRequest.Code ||
		!strings.Contains(unptr(aresp.Resources[0].ErrorMessage), "expected 1") {
		t.Fatalf("alter broker 2's resource on broker 1: %v %+v", err, aresp)
	}
}

// brokerConfigOf describes one config of broker id, routed to it by kadm.
func brokerConfigOf(ctx context.Context, t *testing.T, adm *kadm.Client, id int32, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(ctx, id)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker %d: %v %+v", id, err, rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("broker %d does not describe %s", id, name)
	return kadm.Config{}
}

// waitRate waits until the throttle's rate is want.
func waitRate(t *testing.T, what string, th interface{ Rate() int64 }, want int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for th.Rate() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: rate %d, want %d", what, th.Rate(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterThrottleRatesPersistInMetadataAcrossRestart: replication
// throttle rates set at run time are dynamic broker configs kept in the
// cluster metadata, as Kafka keeps them: a broker's own survives its
// restart (described as DYNAMIC_BROKER_CONFIG, and its throttle in
// force), the cluster-wide default ("") applies to every broker without
// its own (DYNAMIC_DEFAULT_BROKER_CONFIG), and DELETE goes back down the
// chain to the serve setting.
func TestClusterThrottleRatesPersistInMetadataAcrossRestart(t *testing.T) {
	tc := startTestCluster(t)
	ctx := testContext(t)
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	alter := func(op kadm.IncrementalOp, name, value string, brokers ...int32) {
		t.Helper()
		ac := kadm.AlterConfig{Op: op, Name: name}
		if op == kadm.SetConfig {
			ac.Value = &value
		}
		res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{ac}, brokers...)
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("alter %s of brokers %v: %v %+v", name, brokers, err, res)
		}
	}

	alter(kadm.SetConfig, BrokerFollowerReplicationThrottledRate, "12345", 2)
	if got := tc.node(2).srv.node.throttles.follower.Rate(); got != 12345 {
		t.Fatalf("broker 2's follower rate %d right after the alter, want 12345", got)
	}
	c := brokerConfigOf(ctx, t, adm, 2, BrokerFollowerReplicationThrottledRate)
	if c.MaybeValue() != "12345" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("broker 2's %s: %+v, want 12345 DYNAMIC_BROKER_CONFIG", c.Key, c)
	}
	for _, id := range []int32{1, 3} {
		if got := tc.node(id).srv.node.throttles.follower.Rate(); got != 0 {
			t.Fatalf("broker %d's follower rate %d: broker 2's rate applies to broker 2 only", id, got)
		}
	}

	n2 := tc.node(2)
	n2.stop(false)
	if err := tc.start(n2); err != nil {
		t.Fatal(err)
	}
	waitRate(t, "broker 2 after its restart", n2.srv.node.throttles.follower, 12345)
	// A client of the restarted broker: it listens on a new port.
	adm = kadm.NewClient(mustClient(t, n2.addr))
	c = brokerConfigOf(ctx, t, adm, 2, BrokerFollowerReplicationThrottledRate)
	if c.MaybeValue() != "12345" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("broker 2's %s after its restart: %+v", c.Key, c)
	}

	// The cluster-wide default reaches every broker, under a broker's own.
	alter(kadm.SetConfig, BrokerLeaderReplicationThrottledRate, "777")
	alter(kadm.SetConfig, BrokerLeaderReplicationThrottledRate, "999", 3)
	for id, want := range map[int32]int64{1: 777, 2: 777, 3: 999} {
		waitRate(t, fmt.Sprintf("broker %d's leader throttle", id), tc.node(id).srv.node.throttles.leader, want)
	}
	c = brokerConfigOf(ctx, t, adm, 1, BrokerLeaderReplicationThrottledRate)
	if c.MaybeValue() != "777" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("broker 1's %s: %+v, want 777 DYNAMIC_DEFAULT_BROKER_CONFIG", c.Key, c)
	}
	defaults, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(defaults) != 1 || len(defaults[0].Configs) != 1 ||
		defaults[0].Configs[0].Key != BrokerLeaderReplicationThrottledRate || defaults[0].Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("cluster-wide defaults: %v %+v, want only %s", err, defaults, BrokerLeaderReplicationThrottledRate)
	}

	// AlterConfigs (the legacy API) replaces a broker's whole dynamic set:
	// one rate, then none, which leaves broker 1 on the default again.
	state := func(configs ...kadm.AlterConfig) {
		t.Helper()
		res, err := adm.AlterBrokerConfigsState(ctx, configs, 1)
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("alter broker 1's configs state to %+v: %v %+v", configs, err, res)
		}
	}
	state(kadm.AlterConfig{Name: BrokerLeaderReplicationThrottledRate, Value: kadm.StringPtr("555")})
	waitRate(t, "broker 1's leader throttle after AlterConfigs", tc.node(1).srv.node.throttles.leader, 555)
	state()
	waitRate(t, "broker 1's leader throttle after an empty AlterConfigs", tc.node(1).srv.node.throttles.leader, 777)

	// DELETE: broker 3 back to the default, broker 2 back to its serve
	// setting (none).
	alter(kadm.DeleteConfig, BrokerLeaderReplicationThrottledRate, "", 3)
	alter(kadm.DeleteConfig, BrokerFollowerReplicationThrottledRate, "", 2)
	waitRate(t, "broker 3's leader throttle after DELETE", tc.node(3).srv.node.throttles.leader, 777)
	waitRate(t, "broker 2's follower throttle after DELETE", n2.srv.node.throttles.follower, 0)
	if c := brokerConfigOf(ctx, t, adm, 2, BrokerFollowerReplicationThrottledRate); c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("broker 2's %s after DELETE: %+v", c.Key, c)
	}
}
