package cluster

import (
	"context"
	"testing"
	"time"
)

// TestDescribeQuorumReportsMembersAndTheirRaftState: three voters, each by
// node id at its peer address, led by one of them, with raft indexes; a
// stopped voter is reported as not answering and the leader stays.
func TestDescribeQuorumReportsMembersAndTheirRaftState(t *testing.T) {
	q := newTestQuorum(t, 3)
	q.startAll()
	s := openTestStore(t, q.endpoints(), 0)
	topic, parts := testTopic("orders", 1, 1)
	if err := s.CreateTopic(context.Background(), topic, parts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := DescribeQuorum(ctx, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderID < 1 || st.LeaderID > 3 || st.LeaderEpoch < 1 || st.HighWatermark <= 0 || len(st.Observers) != 0 {
		t.Fatalf("status %+v", st)
	}
	if len(st.Voters) != 3 {
		t.Fatalf("voters %+v", st.Voters)
	}
	byID := map[int32]QuorumMember{}
	for _, m := range st.Voters {
		byID[m.ID] = m
	}
	for _, v := range q.voters {
		m, ok := byID[v.NodeID]
		if !ok {
			t.Fatalf("voter %d missing from %+v", v.NodeID, st.Voters)
		}
		if m.Host != v.Host || int(m.Port) != v.Port || m.LogEndOffset <= 0 {
			t.Errorf("voter %d: %+v, want %s:%d with a raft index", v.NodeID, m, v.Host, v.Port)
		}
		if leader := m.ID == st.LeaderID; leader != (m.LastFetchTimestamp == -1) {
			t.Errorf("voter %d (leader %v): last fetch %d", m.ID, leader, m.LastFetchTimestamp)
		}
	}

	// Stop a follower: it no longer answers; the quorum keeps its leader.
	stopped := -1
	for i, v := range q.voters {
		if v.NodeID != st.LeaderID {
			stopped = i
			break
		}
	}
	q.stop(stopped)
	st2, err := DescribeQuorum(ctx, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	if st2.LeaderID != st.LeaderID {
		t.Errorf("leader %d after stopping a follower, want %d", st2.LeaderID, st.LeaderID)
	}
	for _, m := range st2.Voters {
		if answered := m.LogEndOffset >= 0; answered == (m.ID == q.voters[stopped].NodeID) {
			t.Errorf("voter %d: log end %d with voter %d stopped", m.ID, m.LogEndOffset, q.voters[stopped].NodeID)
		}
	}
}
