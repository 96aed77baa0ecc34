package replica

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KgoRequester sends a fetcher's requests to one broker through a franz-go
// client, which brings the inter-broker listener's TLS and SASL (passed in
// as kgo options) and version negotiation: requests go out at the highest
// version both sides support, and the fetcher fills every field any
// version it accepts (v12+) needs. Brokers fetch through Conn, which reads
// fetch answers into reused memory; KgoRequester serves tests and tools,
// and is the baseline of Conn's benchmarks.
type KgoRequester struct {
	cl   *kgo.Client
	node int32
	own  bool // the client is ours to close
}

// NewKgoRequester returns a Requester for broker node over a new client
// made from opts, which must name seed brokers (the leader's inter-broker
// address is enough) and carry the inter-broker listener's security
// (kgo.DialTLSConfig, kgo.SASL). Close closes the client.
func NewKgoRequester(node int32, opts ...kgo.Opt) (*KgoRequester, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("replica: client for broker %d: %w", node, err)
	}
	return &KgoRequester{cl: cl, node: node, own: true}, nil
}

// KgoBrokerRequester returns a Requester for broker node over cl, a client
// shared with other uses; its Close does not close cl.
func KgoBrokerRequester(cl *kgo.Client, node int32) *KgoRequester {
	return &KgoRequester{cl: cl, node: node}
}

// Request sends req to the broker, loading metadata first if the client
// does not know the broker yet.
func (r *KgoRequester) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	resp, err := r.cl.Broker(int(r.node)).Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("replica: request to broker %d: %w", r.node, err)
	}
	return resp, nil
}

// Close closes the client if NewKgoRequester made it.
func (r *KgoRequester) Close() {
	if r.own {
		r.cl.Close()
	}
}
