package cluster

import (
	"context"
	"crypto/tls"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// EtcdTLSDialOption makes an etcd client take its TLS configuration from
// get at every new connection, so that a keystore or truststore rotated
// on disk (auth.ClientTLS.Config follows the files) is used from the
// next connection on while established ones stay. A clientv3.Config
// holding it in DialOptions still needs TLS set (to any configuration,
// get's first say) for its https:// endpoints to be dialed with TLS: its
// DialOptions come after, and this option overrides the credentials
// clientv3 makes of TLS.
func EtcdTLSDialOption(get func() *tls.Config) grpc.DialOption {
	return grpc.WithTransportCredentials(&reloadingTLS{get: get})
}

// reloadingTLS is gRPC's TLS transport credentials over the configuration
// get gives at each handshake.
type reloadingTLS struct {
	get        func() *tls.Config
	serverName string // OverrideServerName's; empty: the authority's host
}

func (r *reloadingTLS) creds() credentials.TransportCredentials {
	cfg := r.get()
	if r.serverName != "" {
		cfg = cfg.Clone()
		cfg.ServerName = r.serverName
	}
	return credentials.NewTLS(cfg)
}

func (r *reloadingTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.creds().ClientHandshake(ctx, authority, conn)
}

func (r *reloadingTLS) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.creds().ServerHandshake(conn)
}

func (r *reloadingTLS) Info() credentials.ProtocolInfo { return r.creds().Info() }

func (r *reloadingTLS) Clone() credentials.TransportCredentials {
	c := *r
	return &c
}

// OverrideServerName is gRPC's deprecated override of the name checked
// in the server's certificate.
func (r *reloadingTLS) OverrideServerName(name string) error {
	r.serverName = name
	return nil
}
