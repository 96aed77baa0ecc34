package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-io/tributary/cluster"
)

// defaultAddVoterTimeout bounds how long add-voter waits for the new
// voter to start and catch up.
const defaultAddVoterTimeout = 5 * time.Minute

// quorumListener is the listener name DescribeQuorum gives a voter's
// controller (etcd peer) address under.
const quorumListener = "CONTROLLER"

// voterFlags are the flags of add-voter and remove-voter: where the
// quorum's etcd is reached, and the TLS of that traffic when the
// CONTROLLER listener is SSL (etcdctl's --cacert, --cert and --key).
type voterFlags struct {
	etcd                 []string
	cacert, cert, keyPEM string
}

func (f *voterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.etcd, "etcd", nil,
		"etcd client addresses (host:port,...) of the quorum's voters; empty: each voter's controller address port + 1, from DescribeQuorum through --brokers")
	cmd.Flags().StringVar(&f.cacert, "etcd-cacert", "",
		"PEM file of the CA certificates that sign the voters' certificates: the quorum's etcd is dialled over TLS (a CONTROLLER:SSL listener)")
	cmd.Flags().StringVar(&f.cert, "etcd-cert", "",
		"PEM file of the client certificate presented to the voters (mutual TLS); it may hold the key too, as a PEM keystore")
	cmd.Flags().StringVar(&f.keyPEM, "etcd-key", "",
		"PEM file of --etcd-cert's private key; empty: read from --etcd-cert's file")
}

// tls reports whether the quorum's etcd is dialled over TLS.
func (f *voterFlags) tls() bool { return f.cacert != "" || f.cert != "" }

// tlsConfig is the etcd client's TLS from the flags; nil for plaintext.
func (f *voterFlags) tlsConfig() (*tls.Config, error) {
	if f.keyPEM != "" && f.cert == "" {
		return nil, usageError{errors.New("--etcd-key needs --etcd-cert")}
	}
	if !f.tls() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.cacert != "" {
		raw, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, usageError{fmt.Errorf("--etcd-cacert: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(raw) {
			return nil, usageError{fmt.Errorf("--etcd-cacert %s: no PEM certificate in it", f.cacert)}
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" {
		certPEM, err := os.ReadFile(f.cert)
		if err != nil {
			return nil, usageError{fmt.Errorf("--etcd-cert: %w", err)}
		}
		keyPEM := certPEM
		if f.keyPEM != "" {
			if keyPEM, err = os.ReadFile(f.keyPEM); err != nil {
				return nil, usageError{fmt.Errorf("--etcd-key: %w", err)}
			}
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, usageError{fmt.Errorf("--etcd-cert/--etcd-key: %w", err)}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func newClusterAddVoterCmd() *cobra.Command {
	var (
		f       voterFlags
		nodeID  int32
		ctrl    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "add-voter",
		Short: "Add a controller voter to the running metadata quorum (kafka-metadata-quorum add-controller)",
		Long: `Add node --node-id, whose controller (etcd peer) address is --controller,
to the running metadata quorum: it is added as an etcd learner (it receives
the log and does not vote), and promoted to a voter once it has started
and caught up with the leader, so the quorum does not grow before the new
member has the log. Start the node, while this command waits, with its
entry in controller.quorum.voters, an empty data dir and
controller.quorum.initial.state=existing. If --timeout passes first, the
learner stays: run the command again to promote it, or remove-voter to
take it out. With a CONTROLLER:SSL listener give --etcd-cacert (and, when
the voters require client certificates, --etcd-cert and --etcd-key): the
etcd client traffic is then TLS and the new voter's peer URL https.`,
		Example: `  tributary cluster add-voter --node-id 4 --controller 127.0.0.5:9093
  tributary cluster add-voter --node-id 4 --controller 127.0.0.5:9093 --etcd 127.0.0.2:9094
  tributary cluster add-voter --node-id 4 --controller 127.0.0.5:9093 --etcd-cacert ca.pem --etcd-cert admin.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodeID < 0 {
				return errors.New("cluster add-voter: --node-id is required (an integer >= 0)")
			}
			if _, err := cluster.ParseVoters(strconv.Itoa(int(nodeID)) + "@" + ctrl); err != nil {
				return fmt.Errorf("cluster add-voter: --controller: %w", err)
			}
			cli, err := f.etcdClient(cmd)
			if err != nil {
				return fmt.Errorf("cluster add-voter: %w", err)
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// The CONTROLLER listener's TLS covers the peer traffic too.
			peer := cluster.PeerURL(ctrl, f.tls())
			id, err := cluster.AddVoter(ctx, cli, nodeID, peer)
			if err != nil {
				return fmt.Errorf("cluster add-voter: %w", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "node %d is a learner of the metadata quorum (etcd member %x) at %s\n", nodeID, id, peer)
			fmt.Fprintf(w, "start it now with controller.quorum.initial.state=existing, an empty data dir and node %d in controller.quorum.voters; waiting up to %v to promote it\n", nodeID, timeout)
			if err := cluster.PromoteVoter(ctx, cli, id); err != nil {
				return fmt.Errorf("cluster add-voter: %w (it stays a learner: run add-voter again to promote it, or remove-voter %d)", err, nodeID)
			}
			fmt.Fprintf(w, "node %d is a voter\n", nodeID)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().Int32Var(&nodeID, "node-id", -1, "the new voter's node.id")
	cmd.Flags().StringVar(&ctrl, "controller", "", "the new voter's controller address (its controller.quorum.voters entry, host:port)")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultAddVoterTimeout, "how long to wait for the new voter to start and catch up")
	return cmd
}

func newClusterRemoveVoterCmd() *cobra.Command {
	var f voterFlags
	cmd := &cobra.Command{
		Use:   "remove-voter NODE-ID",
		Short: "Remove a controller voter from the running metadata quorum (kafka-metadata-quorum remove-controller)",
		Long: `Remove node NODE-ID from the running metadata quorum (etcd member remove):
the quorum shrinks by one voter at once. Stop the node first (after
cluster decommission, if it holds replicas), then take it out of
controller.quorum.voters on every broker; do not start it as a voter again.`,
		Example: `  tributary cluster remove-voter 3
  tributary cluster remove-voter 3 --etcd-cacert ca.pem --etcd-cert admin.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || n < 0 {
				return fmt.Errorf("cluster remove-voter: %q is not a node id (an integer >= 0)", args[0])
			}
			cli, err := f.etcdClient(cmd)
			if err != nil {
				return fmt.Errorf("cluster remove-voter: %w", err)
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			if err := cluster.RemoveVoter(ctx, cli, int32(n)); err != nil {
				return fmt.Errorf("cluster remove-voter: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %d is no longer a member of the metadata quorum\n", n)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// etcdClient dials the quorum at --etcd, or at the voters' client
// addresses DescribeQuorum names.
func (f *voterFlags) etcdClient(cmd *cobra.Command) (*clientv3.Client, error) {
	tlsCfg, err := f.tlsConfig()
	if err != nil {
		return nil, err
	}
	eps := f.etcd
	if len(eps) == 0 {
		cl, err := newClient(cmd)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
		defer cancel()
		if eps, err = quorumClientEndpoints(ctx, cl); err != nil {
			return nil, fmt.Errorf("find the quorum's etcd (or give --etcd): %w", err)
		}
	}
	for _, ep := range eps {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return nil, fmt.Errorf("--etcd %q: want host:port", ep)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: cluster.DefaultDialTimeout, TLS: tlsCfg, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", eps, err)
	}
	return cli, nil
}

// quorumClientEndpoints are the etcd client addresses of the quorum's
// voters: their controller addresses (DescribeQuorum's nodes) port + 1.
func quorumClientEndpoints(ctx context.Context, cl *kgo.Client) ([]string, error) {
	resp, err := requestQuorum(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	if _, err := quorumFromResponse(resp); err != nil {
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	voters := map[int32]bool{}
	for _, v := range resp.Topics[0].Partitions[0].CurrentVoters {
		voters[v.ReplicaID] = true
	}
	var eps []string
	for _, n := range resp.Nodes {
		for _, l := range n.Listeners {
			if !voters[n.NodeID] || !strings.EqualFold(l.Name, quorumListener) {
				continue
			}
			ep, err := cluster.DeriveClientAddr(net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
			if err != nil {
				return nil, err
			}
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("describe quorum names no voter's controller address")
	}
	return eps, nil
}
