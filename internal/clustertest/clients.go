package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// waitEvery is the pause between two looks at the cluster's metadata.
	waitEvery = 50 * time.Millisecond
	// askTimeout bounds one request to one node: a paused node takes the
	// connection (the kernel does) and never answers.
	askTimeout = 5 * time.Second
)

// Client returns a franz-go client seeded with every node, closed by
// t.Cleanup; opts are applied after the harness's.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.Seeds()...),
		kgo.DialTimeout(time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(FastBackoff),
	}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Admin returns the cluster's kadm client (one, made on first use,
// seeded with every node, closed by t.Cleanup).
func (c *Cluster) Admin() *kadm.Client {
	c.adminOnce.Do(func() { c.admin = kadm.NewClient(c.Client()) })
	return c.admin
}

// nodeAt returns the node whose Kafka address is host:port, or nil.
func (c *Cluster) nodeAt(host string, port int32) *Node {
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// ask sends req to node n alone (not to whichever broker a client
// prefers) and returns its answer.
func (n *Node) ask(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	cl, err := kgo.NewClient(append(n.direct(), kgo.DialTimeout(probeTimeout), kgo.RequestRetries(0))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		return nil, fmt.Errorf("clustertest: node %d: %d seed brokers", n.ID, len(seeds))
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	return seeds[0].Request(ctx, req)
}

// metadata asks node n for the metadata of topics (nil: none).
func (n *Node) metadata(ctx context.Context, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := n.ask(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("clustertest: node %d metadata: %w", n.ID, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// live are the nodes that run and are not paused.
func (c *Cluster) live() []*Node {
	var ns []*Node
	for _, n := range c.Nodes {
		if n.Running() && !n.Paused() {
			ns = append(ns, n)
		}
	}
	return ns
}

// notLive returns the IDs of the nodes that are down or paused.
func (c *Cluster) notLive() []int {
	var ids []int
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// WaitBrokers waits until every live node's Metadata lists want brokers.
func (c *Cluster) WaitBrokers(ctx context.Context, want int) error {
	for {
		var last string
		ok := true
		for _, n := range c.live() {
			resp, err := n.metadata(ctx)
			switch {
			case err != nil:
				ok, last = false, err.Error()
			case len(resp.Brokers) != want:
				ok, last = false, fmt.Sprintf("node %d lists %d brokers", n.ID, len(resp.Brokers))
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			// A node down or paused is why the others list fewer brokers:
			// say so, rather than blame the one asked last.
			if down := c.notLive(); len(down) > 0 {
				last = fmt.Sprintf("node(s) %v down or paused; %s", down, last)
			}
			return fmt.Errorf("clustertest: waiting for %d brokers: %w (last: %s)", want, ctx.Err(), last)
		case <-time.After(waitEvery):
		}
	}
}

// CreateTopic creates topic, retrying what a cluster still forming or
// failing over answers (too few brokers registered, no controller yet, a
// controller that does not answer), and waits
// until every partition has a leader.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int32, rf int16, configs map[string]*string) error {
	adm := c.Admin()
	for {
		resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		// A network error is retried too: the client may still send to
		// a controller that is paused or gone (an i/o timeout) until
		// its metadata names the new one.
		var netErr net.Error
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.InvalidReplicationFactor) && !errors.As(err, &netErr) {
			return fmt.Errorf("clustertest: create topic %s: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: create topic %s: %w (last: %v)", topic, ctx.Err(), err)
		case <-time.After(waitEvery):
		}
	}
	return c.WaitPartitions(ctx, topic, func(p kadm.PartitionDetail) bool { return p.Err == nil && p.Leader >= 0 })
}

// Partitions returns the metadata of topic's partitions, as a live node
// answers it.
func (c *Cluster) Partitions(ctx context.Context, topic string) (kadm.PartitionDetails, error) {
	var errs []error
	for _, n := range c.live() {
		resp, err := n.metadata(ctx, topic)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range resp.Topics {
			if t.Topic == nil || *t.Topic != topic {
				continue
			}
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				return nil, fmt.Errorf("clustertest: topic %s: %w", topic, err)
			}
			pd := kadm.PartitionDetails{}
			for _, p := range t.Partitions {
				pd[p.Partition] = kadm.PartitionDetail{Topic: topic, Partition: p.Partition, Leader: p.Leader,
					LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR, OfflineReplicas: p.OfflineReplicas,
					Err: kerr.ErrorForCode(p.ErrorCode)}
			}
			return pd, nil
		}
		errs = append(errs, fmt.Errorf("clustertest: node %d does not know topic %s", n.ID, topic))
	}
	if len(errs) == 0 {
		return nil, errors.New("clustertest: no live node")
	}
	return nil, errors.Join(errs...)
}

// WaitPartitions waits until every partition of topic satisfies ok.
func (c *Cluster) WaitPartitions(ctx context.Context, topic string, ok func(kadm.PartitionDetail) bool) error {
	for {
		pd, err := c.Partitions(ctx, topic)
		last := err
		if err == nil {
			all := len(pd) > 0
			for _, p := range pd {
				if !ok(p) {
					all, last = false, fmt.Errorf("partition %d: leader %d epoch %d replicas %v isr %v: %v", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.Err)
					break
				}
			}
			if all {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: waiting on %s: %w (last: %v)", topic, ctx.Err(), last)
		case <-time.After(waitEvery):
		}
	}
}

// WaitISR waits until every partition of topic has a leader and n
// replicas in its ISR.
func (c *Cluster) WaitISR(ctx context.Context, topic string, n int) error {
	return c.WaitPartitions(ctx, topic, func(p kadm.PartitionDetail) bool {
		return p.Err == nil && p.Leader >= 0 && len(p.ISR) >= n
	})
}

// brokerNodes maps the broker IDs a live node's Metadata lists to nodes.
func (c *Cluster) brokerNodes(ctx context.Context) (map[int32]*Node, *kmsg.MetadataResponse, error) {
	var errs []error
	for _, n := range c.live() {
		resp, err := n.metadata(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := map[int32]*Node{}
		for _, b := range resp.Brokers {
			if bn := c.nodeAt(b.Host, b.Port); bn != nil {
				m[b.NodeID] = bn
			}
		}
		return m, resp, nil
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("clustertest: no live node")
	}
	return nil, nil, errors.Join(errs...)
}

// Leaders returns the node leading each partition of topic (0: none, or a
// broker the harness does not know).
func (c *Cluster) Leaders(ctx context.Context, topic string) (map[int32]int, error) {
	byID, _, err := c.brokerNodes(ctx)
	if err != nil {
		return nil, err
	}
	pd, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int{}
	for p, d := range pd {
		if n := byID[d.Leader]; n != nil && d.Leader >= 0 {
			out[p] = n.ID
		} else {
			out[p] = 0
		}
	}
	return out, nil
}

// Controller returns the node that is the active controller, as
// DescribeCluster's ControllerID (Metadata's where DescribeCluster is not
// answered) names it; 0 when none is.
func (c *Cluster) Controller(ctx context.Context) (int, error) {
	byID, md, err := c.brokerNodes(ctx)
	if err != nil {
		return 0, err
	}
	controller := md.ControllerID
	for _, n := range c.live() {
		resp, err := n.ask(ctx, kmsg.NewPtrDescribeClusterRequest())
		if err != nil {
			continue
		}
		dc := resp.(*kmsg.DescribeClusterResponse)
		if dc.ErrorCode == 0 {
			controller = dc.ControllerID
			for _, b := range dc.Brokers {
				if bn := c.nodeAt(b.Host, b.Port); bn != nil {
					byID[b.NodeID] = bn
				}
			}
		}
		break
	}
	if n := byID[controller]; n != nil && controller >= 0 {
		return n.ID, nil
	}
	return 0, nil
}

// EndOffsets returns the end offset (the high watermark: what consumers
// can read up to) of every partition of topic.
func (c *Cluster) EndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("clustertest: end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	return out, errors.Join(errs...)
}

// WaitGroupCommitted waits until group has committed ends[p] (a log end
// offset) for every partition p of topic: its members polled everything.
// Unlike Consumer.WaitCaughtUp it holds whichever member did the polling,
// one replaced mid-run included.
func (c *Cluster) WaitGroupCommitted(ctx context.Context, group, topic string, ends map[int32]int64) error {
	for {
		behind := ""
		offs, err := c.Admin().FetchOffsets(ctx, group)
		if err != nil {
			behind = err.Error()
		} else {
			for p, e := range ends {
				o, ok := offs.Lookup(topic, p)
				if e > 0 && (!ok || o.Err != nil || o.At < e) {
					behind += fmt.Sprintf(" p%d at %d of %d", p, o.At, e)
				}
			}
		}
		if behind == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: group %s behind:%s: %w", group, behind, ctx.Err())
		case <-time.After(waitEvery):
		}
	}
}
