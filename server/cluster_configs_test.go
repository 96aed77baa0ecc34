package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

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
