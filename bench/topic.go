package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// topicReadyPolls bounds how often EnsureTopic asks for metadata while
	// waiting for a new topic's partitions to have leaders.
	topicReadyPolls = 200
	// topicReadyInterval is the pause between those polls (so 10 s in all).
	topicReadyInterval = 50 * time.Millisecond
)

// EnsureTopic makes sure topic exists with exactly partitions partitions,
// each with a leader. It sends CreateTopics (replication factor 1); a topic
// that already exists is fine. A broker that does not serve CreateTopics
// gets a Metadata request that allows auto-creation instead, so the
// broker's num.partitions decides the count; any count other than
// partitions is an error. opts are extra kgo options for its client (the
// security settings of a secured broker).
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions int, opts ...kgo.Opt) error {
	if partitions < 1 {
		return fmt.Errorf("bench: topic %s: partitions must be positive, got %d", topic, partitions)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("bench: topic %s: client: %w", topic, err)
	}
	defer cl.Close()

	_, createErr := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if errors.Is(createErr, kerr.TopicAlreadyExists) {
		createErr = nil
	}
	var ke *kerr.Error
	if createErr != nil && errors.As(createErr, &ke) {
		// The broker understood and refused: auto-creation would not help.
		return fmt.Errorf("bench: create topic %s: %w", topic, createErr)
	}

	for range topicReadyPolls {
		n, ready, err := topicPartitions(ctx, cl, topic)
		switch {
		case err != nil:
			return fmt.Errorf("bench: topic %s: metadata: %w", topic, err)
		case ready && n == partitions:
			return nil
		case ready:
			if createErr != nil {
				return fmt.Errorf("bench: topic %s has %d partitions, want %d (CreateTopics failed: %v; the broker auto-created it with its num.partitions)", topic, n, partitions, createErr)
			}
			return fmt.Errorf("bench: topic %s has %d partitions, want %d", topic, n, partitions)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(topicReadyInterval):
		}
	}
	return fmt.Errorf("bench: topic %s: partitions without a leader after %v", topic, topicReadyPolls*topicReadyInterval)
}

// topicPartitions asks for topic's metadata, allowing auto-creation, and
// reports its partition count and whether the topic and every partition
// have no error and a leader.
func topicPartitions(ctx context.Context, cl *kgo.Client, topic string) (n int, ready bool, err error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, false, err
	}
	if len(resp.Topics) != 1 {
		return 0, false, fmt.Errorf("%d topics in the response, want 1", len(resp.Topics))
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		if kerr.IsRetriable(err) {
			return 0, false, nil
		}
		return 0, false, err
	}
	for _, p := range t.Partitions {
		if p.ErrorCode != 0 || p.Leader < 0 {
			return len(t.Partitions), false, nil
		}
	}
	return len(t.Partitions), len(t.Partitions) > 0, nil
}
