package server

// Fast fencing on a cluster node (broker.fast.fencing.enable,
// cluster/fastfence.go): the voters (every broker when the metadata is in
// an external etcd) watch the other brokers' inter-broker listeners and
// end the registration of one whose process is gone, so its partitions
// elect new leaders within about 100 ms of a kill -9 instead of
// broker.session.timeout.ms. Only voters watch, so a cluster of many
// brokers holds voters × brokers idle connections, not brokers².
//
// Metadata answers wait (awaitFencing, at most metadataHoldMax) while a
// partition they show is led by a broker whose watch connection just
// ended, until the verdict is in: a client asks for metadata the instant
// its own connection to the dead leader fails.
//
// A broker binds every listener (ListenOn) before StartCluster registers
// it, and closes them only after its controlled shutdown, so its start
// and its stop never look like a death; a node whose own registration is
// ended while it closes does not register again (lifecycle).

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// startFastFencer registers tributary_cluster_fast_fences_total and, if
// broker.fast.fencing.enable and this node watches, starts the fencer
// (closed by closeAll).
func (n *brokerNode) startFastFencer() error {
	watches := n.cfg.FastFencing && (n.cfg.IsVoter() || len(n.cfg.Voters) == 0)
	if watches {
		n.fencer = cluster.StartFastFencer(cluster.FastFenceConfig{
			Store: n.store, Self: n.self, Listener: n.interBroker, Logger: n.log,
			Dial: interBrokerDialer(n.opts.Security.InterBrokerConn.TLS, n.opts.Security.InterBrokerConn.LocalAddr),
		})
	}
	help := ""
	for _, m := range cluster.Metrics {
		if m.Name == cluster.MetricFastFences {
			help = m.Help
		}
	}
	fencer := n.fencer
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: cluster.MetricFastFences, Help: help}, func() float64 {
		if fencer == nil {
			return 0
		}
		return float64(fencer.Fences())
	})
	if err := n.s.metrics.reg.Register(c); err != nil {
		return fmt.Errorf("server: register %s: %w", cluster.MetricFastFences, err)
	}
	return nil
}

// interBrokerDialer dials another broker's inter-broker listener as the
// follower fetchers do: plain TCP, or TLS with the inter-broker client's
// configuration (ClusterSecurity.InterBrokerConn.TLS, as it is at each
// dial: rotated certificate files take effect) so the listener
// sees a good handshake, not a failed one every time. Nothing is sent
// after it: a SASL listener holds the connection unauthenticated until
// connections.max.idle.ms. A refused connect is returned as net returns
// it (wrapping ECONNREFUSED). A non-nil local is the source address of
// every connection (inter.broker.source.bind.enable).
func interBrokerDialer(tc func() *tls.Config, local *net.TCPAddr) func(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	if local != nil {
		d.LocalAddr = local
	}
	if tc == nil {
		return func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c := tc().Clone()
		if c.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				c.ServerName = host
			}
		}
		td := &tls.Dialer{NetDialer: d, Config: c}
		return td.DialContext(ctx, "tcp", addr)
	}
}

// metadataHoldMax bounds how long a Metadata answer waits for the verdict
// on a suspected leader (awaitFencing): a fencing takes ~100 ms, or about
// an etcd election (1-2 s) when the dead broker also led etcd's raft;
// past the 3 s goal the answer is no better for waiting.
const metadataHoldMax = 3 * time.Second

// awaitFencing holds a Metadata answer while a partition it would show
// (of a topic wanted says yes to; every topic when wanted is nil) is led
// by a broker this node suspects dead (its watch connection just ended)
// or by one already fenced whose partitions the controller has not moved
// yet, until that is settled or metadataHoldMax passes. A client asks
// for metadata the instant its connection to a dead leader fails, the
// same instant this node sees it: answered at once, it would be sent
// back to the dead leader and (kgo, with its default MetadataMinAge of
// 5 s) ask again only seconds later. Without a suspect nothing waits and
// nothing is scanned.
func (n *brokerNode) awaitFencing(wanted func(topic string) bool) {
	f := n.fencer
	if f == nil || !n.started.Load() || !f.Busy(metadataHoldMax) {
		return
	}
	timer := time.NewTimer(metadataHoldMax)
	defer timer.Stop()
	for {
		fch, sch := f.Changed(), n.store.Changed()
		if !n.leaderInDoubt(n.store.Snapshot(), wanted) {
			return
		}
		select {
		case <-fch:
		case <-sch:
		case <-timer.C:
			return
		case <-n.s.closing:
			return
		}
	}
}

// leaderInDoubt reports whether a partition of snap that wanted says yes
// to is led by a suspected broker or by one no longer registered.
func (n *brokerNode) leaderInDoubt(snap *cluster.Snapshot, wanted func(string) bool) bool {
	doubt := map[int32]bool{}
	for _, p := range snap.Partitions.All() {
		if p.Leader == cluster.NoLeader || (wanted != nil && !wanted(p.Topic)) {
			continue
		}
		d, seen := doubt[p.Leader]
		if !seen {
			d = !snap.Live(p.Leader) || n.fencer.Suspected(p.Leader)
			doubt[p.Leader] = d
		}
		if d {
			return true
		}
	}
	return false
}

// metadataWants is the topics a Metadata request asks for by name, as a
// filter for awaitFencing; nil (every topic) for all topics or any asked
// by ID.
func metadataWants(req *kmsg.MetadataRequest) func(string) bool {
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		return nil
	}
	names := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			return nil
		}
		names[*rt.Topic] = true
	}
	return func(topic string) bool { return names[topic] }
}
