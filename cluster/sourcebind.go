package cluster

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc"
)

// EtcdSourceDialOption makes an etcd client dial every endpoint from
// local (its port 0: any free port), not from the address the kernel
// would choose: a broker with inter.broker.source.bind.enable dials the
// voters' client URLs from its advertised inter-broker IP, so that a
// proxy or firewall in front of a voter sees which node each connection
// comes from. unix: endpoints are dialed as they are. A clientv3.Config
// takes it in DialOptions; it composes with EtcdTLSDialOption, which
// acts on the connection this one dials.
func EtcdSourceDialOption(local *net.TCPAddr) grpc.DialOption {
	d := &net.Dialer{LocalAddr: local}
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		if path, ok := strings.CutPrefix(addr, "unix:"); ok {
			var plain net.Dialer
			return plain.DialContext(ctx, "unix", strings.TrimPrefix(path, "//"))
		}
		return d.DialContext(ctx, "tcp", addr)
	})
}
