package replica

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// scriptedLeader answers every partition of a replica fetch with no
// records, the high watermark hw and the error code code, or fails the
// request with err.
type scriptedLeader struct {
	mu   sync.Mutex
	hw   int64
	code int16
	err  error
}

func (s *scriptedLeader) set(hw int64, code int16, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hw, s.code, s.err = hw, code, err
}

func (s *scriptedLeader) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	fr, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return nil, errors.New("scripted leader: only Fetch")
	}
	resp := fr.ResponseKind().(*kmsg.FetchResponse)
	resp.Version = max(fr.Version, minFetchVersion)
	for _, t := range fr.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset = p.Partition, s.code, s.hw, s.hw
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// TestManagerStatsReportFollowerLagAndFetchErrors: a follower's lag is the
// leader's high watermark minus its log end, and the replica fetches and
// their failures are counted, by Kafka error name or "network".
func TestManagerStatsReportFollowerLagAndFetchErrors(t *testing.T) {
	m := newFollowerManager(t, 2)
	leader := &scriptedLeader{hw: 100}
	l := newFakeLog()
	l.appendLeader(3) // offsets 0-2: 97 behind
	st := cluster.PartitionState{Topic: "t", Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1}
	if err := m.BecomeFollower(l, st, leader); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lag 97", func() bool { return m.Stats().MaxLag == 97 })
	if s := m.Stats(); s.Followers != 1 || s.Leaders != 0 {
		t.Errorf("stats %+v: want 1 follower, 0 leaders", s)
	}
	if m.FetchStats().Requests() == 0 {
		t.Error("no fetch requests counted")
	}

	leader.set(100, kerr.NotLeaderForPartition.Code, nil)
	eventually(t, "a NOT_LEADER_OR_FOLLOWER counted", func() bool { return m.FetchStats().Errors()[kerr.NotLeaderForPartition.Message] > 0 })
	leader.set(100, 0, errors.New("connection refused"))
	eventually(t, "a network error counted", func() bool { return m.FetchStats().Errors()[FetchErrorNetwork] > 0 })

	// A follower that stops following has no lag left.
	m.Stop(st.TP())
	if s := m.Stats(); s.MaxLag != 0 || s.Followers != 0 {
		t.Errorf("after Stop: stats %+v", s)
	}
}

// TestCountISRChange: a change that drops a member is one shrink, one that
// adds a member one expansion, one that does both counts both.
func TestCountISRChange(t *testing.T) {
	for _, tc := range []struct {
		name             string
		old, next        []int32
		shrinks, expands int64
	}{
		{"shrink", []int32{1, 2, 3}, []int32{1, 3}, 1, 0},
		{"shrink two at once", []int32{1, 2, 3}, []int32{1}, 1, 0},
		{"expand", []int32{1}, []int32{1, 2}, 0, 1},
		{"swap", []int32{1, 2}, []int32{1, 3}, 1, 1},
		{"same set reordered", []int32{1, 2}, []int32{2, 1}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Manager
			m.countISRChange(tc.old, tc.next)
			if got, want := [2]int64{m.isrShrinks.Load(), m.isrExpands.Load()}, [2]int64{tc.shrinks, tc.expands}; got != want {
				t.Errorf("shrinks, expands = %v, want %v", got, want)
			}
		})
	}
}
