package peers

import (
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tributary-io/tributary/bench"
)

// kfake, the in-memory control, is a test dependency: it is wired in here,
// in the test binary that runs the peer benchmark.
func init() { serveKfake = startKfake }

func startKfake(cfg bench.ChildConfig) (string, func() error, error) {
	// kfake listens on 127.0.0.1 only; port 0 picks a free one.
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(0),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
	)
	if err != nil {
		return "", nil, err
	}
	return c.ListenAddrs()[0], func() error { c.Close(); return nil }, nil
}
