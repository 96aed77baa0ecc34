package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
)

// TestClusterGroupErrorsAreKafkas: what a coordinator in a cluster
// answers reaches the client with the code Kafka's group coordinator
// gives: NOT_COORDINATOR for a group whose partition is not loaded here
// or whose write lost its leadership, COORDINATOR_NOT_AVAILABLE for a
// write the in-sync replicas did not take and for an offsets topic that
// too few brokers can hold (KIP-115), COORDINATOR_LOAD_IN_PROGRESS while
// the partition loads.
func TestClusterGroupErrorsAreKafkas(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	for _, topic := range []string{consumergroup.OffsetsTopic, "t"} {
		if _, err := mgr.CreateTopic(topic, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var waitErr error
	cfg := consumergroup.DefaultConfig()
	cfg.Logger = logger
	cfg.OffsetsTopicPartitions = 1
	cfg.Cluster = true
	cfg.OffsetsCommitTimeout = 50 * time.Millisecond
	cfg.WaitAppended = func(context.Context, int32, int64) error {
		mu.Lock()
		defer mu.Unlock()
		return waitErr
	}
	cfg.CreateOffsetsTopic = func(int) error {
		return fmt.Errorf("cluster: 1 live broker, offsets.topic.replication.factor 3: %w", consumergroup.ErrNotEnoughLiveBrokers)
	}
	c, err := consumergroup.New(mgr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	commit := func() error {
		errs, err := c.Commit(consumergroup.CommitRequest{Group: "g", Generation: -1, Offsets: []consumergroup.CommitOffset{
			{TopicPartition: consumergroup.TopicPartition{Topic: "t"}, Offset: 1, LeaderEpoch: -1},
		}})
		if err != nil {
			return err
		}
		return errs[0]
	}
	check := func(what string, err error, want *kerr.Error) {
		t.Helper()
		if got := errorCode(err); got != want.Code {
			t.Errorf("%s: %v: code %d, want %s (%d)", what, err, got, want.Message, want.Code)
		}
	}
	check("commit to a partition not loaded", commit(), kerr.NotCoordinator)
	check("offsets topic with too few brokers", c.EnsureOffsetsTopic(), kerr.CoordinatorNotAvailable)

	c.LoadPartition(0, 1)
	deadline := time.Now().Add(10 * time.Second)
	for errors.Is(commit(), consumergroup.ErrLoadInProgress) {
		if time.Now().After(deadline) {
			t.Fatal("partition still loading")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, tt := range []struct {
		name string
		err  error
		want *kerr.Error
	}{
		{"leadership moved", fmt.Errorf("replica: not the leader: %w", consumergroup.ErrNotCoordinatorForGroup), kerr.NotCoordinator},
		{"not enough replicas after append", errors.New("replica: in-sync replicas fell below min.insync.replicas"), kerr.CoordinatorNotAvailable},
		{"timed out", context.DeadlineExceeded, kerr.CoordinatorNotAvailable},
	} {
		mu.Lock()
		waitErr = tt.err
		mu.Unlock()
		check(tt.name, commit(), tt.want)
	}
	if got := errorCode(consumergroup.ErrLoadInProgress); got != kerr.CoordinatorLoadInProgress.Code {
		t.Errorf("loading: code %d", got)
	}
}
