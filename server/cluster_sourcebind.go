package server

// Source binding (inter.broker.source.bind.enable): a node whose setting
// is true dials every connection it opens to another node from the host
// of its advertised inter-broker listener, port 0, instead of the
// address the kernel picks (on loopback always 127.0.0.1; on a host with
// several addresses, the one on the route). Whatever stands in front of
// the other node (a fault proxy per node, a firewall or allow list by
// source address) then knows which node each connection comes from by its
// remote IP. The connections are:
//
//   - the follower fetchers' replica.Conn to each leader
//     (cluster_reconcile.go, ConnConfig.LocalAddr);
//   - the fast fencer's watch connections and probes of the other
//     brokers' inter-broker listeners (cluster_fastfence.go);
//   - the etcd client's connections to the voters' client URLs or to
//     metadata.store's endpoints, and DescribeQuorum's to each member
//     (cluster.EtcdSourceDialOption);
//   - any franz-go client made from ClusterSecurity.InterBroker (none in
//     the broker today; InterBrokerClient.KgoOpts carries the dialer);
//   - the embedded etcd member's raft traffic to the other voters, by
//     etcd's SetMemberLocalAddr feature gate, which binds the voter
//     entry's host; etcd applies it only to an IP literal that is neither
//     loopback nor unspecified, so voters on 127.x.x.x still dial their
//     peers from 127.0.0.1 (cluster.PeerSourceBindable).
//
// The advertised host must then be an IP literal of this machine: a host
// name could resolve to several addresses or to none of this machine's,
// and binding one that is not local fails every dial.

import (
	"fmt"
	"net"
)

// listenerAdvertisedHost is the host l is advertised at before it is
// bound: Advertise's, else Addr's; ok is false when that is empty or
// unspecified, which newListener advertises as the host name.
func listenerAdvertisedHost(l Listener) (host string, ok bool) {
	addr := l.Advertise
	if addr == "" {
		addr = l.Addr
	}
	h, _, err := net.SplitHostPort(addr)
	if err != nil || h == "" || isUnspecified(h) {
		return h, false
	}
	return h, true
}

// sourceBindIP is the address inter.broker.source.bind.enable binds for
// the inter-broker listener named listener advertised at host: host as
// an IP literal, neither unspecified nor multicast.
func sourceBindIP(listener, host string) (net.IP, error) {
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() || ip.IsMulticast() {
		shown := host
		if shown == "" {
			shown = "the host name, its address being empty or unspecified"
		}
		return nil, fmt.Errorf("%w: %s=true binds the connections this broker opens to other brokers and to etcd to the host of its advertised inter-broker listener %s (%s), which must then be an IP address of this machine: advertise %s at its IP (advertised.listeners=%s://<ip>:<port>, or --advertise), or set %s=false",
			ErrClusterConfig, BrokerInterBrokerSourceBindEnable, listener, shown, listener, listener, BrokerInterBrokerSourceBindEnable)
	}
	return ip, nil
}

// sourceBindAddr is sourceBindIP as a local address to dial from (port
// 0), checked by binding it once: an address that is not this machine's
// fails here, at start, rather than at every dial.
func sourceBindAddr(listener, host string) (*net.TCPAddr, error) {
	ip, err := sourceBindIP(listener, host)
	if err != nil {
		return nil, err
	}
	local := &net.TCPAddr{IP: ip}
	ln, err := net.ListenTCP("tcp", local)
	if err != nil {
		return nil, fmt.Errorf("%w: %s=true: this broker dials other nodes from %s, the host of its advertised inter-broker listener %s, but cannot bind it (%v): advertise %s at an address of this machine, or set %s=false",
			ErrClusterConfig, BrokerInterBrokerSourceBindEnable, ip, listener, err, listener, BrokerInterBrokerSourceBindEnable)
	}
	_ = ln.Close()
	return local, nil
}
