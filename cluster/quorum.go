package cluster

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-io/tributary/internal/wallclock"
)

// memberStatusTimeout bounds the status read of one etcd member: a member
// that is down is reported as not answering, not waited for.
const memberStatusTimeout = 2 * time.Second

// QuorumStatus is the metadata quorum (the etcd cluster) in the terms of
// Kafka's DescribeQuorum, which describes the KRaft quorum as its
// partition __cluster_metadata-0: the raft leader is the partition's
// leader, the raft term its leader epoch, the leader's raft commit index
// its high watermark, and each member's raft index its log end offset.
type QuorumStatus struct {
	LeaderID      int32 // the raft leader's node id, -1 if none is known
	LeaderEpoch   int32 // the raft term
	HighWatermark int64 // the leader's raft commit index
	Voters        []QuorumMember
	Observers     []QuorumMember // members that do not vote (etcd learners)
}

// QuorumMember is one member of the quorum.
type QuorumMember struct {
	ID int32 // node id
	// LogEndOffset is the member's raft commit index, -1 if it did not
	// answer.
	LogEndOffset int64
	// LastFetchTimestamp and LastCaughtUpTimestamp are Unix milliseconds,
	// -1 if unknown (and for the leader, as Kafka). A member that
	// answered counts as fetching now, and as caught up now if its index
	// reached the leader's.
	LastFetchTimestamp    int64
	LastCaughtUpTimestamp int64
	// Host and Port are the member's peer (controller) address; empty if
	// it has none.
	Host string
	Port uint16
}

// DescribeQuorum reads the quorum's members (MemberList) and asks each
// for its raft status, at most memberStatusTimeout each, all at once. A
// member's node id is its name when that is a node id (embedded voters
// are named by node id), else its position in the member list ordered by
// etcd member id, from 1 (an external etcd's members are not brokers).
// It fails only if the member list cannot be read; members that do not
// answer are reported with LogEndOffset -1, and with no leader known
// LeaderID is -1.
func DescribeQuorum(ctx context.Context, cli *clientv3.Client) (QuorumStatus, error) {
	st := QuorumStatus{LeaderID: -1}
	list, err := cli.MemberList(ctx)
	if err != nil {
		return st, fmt.Errorf("cluster: describe quorum: member list: %w", err)
	}
	members := slices.Clone(list.Members)
	slices.SortFunc(members, func(a, b *etcdserverpb.Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	type answer struct {
		leader, term, index uint64
		ok                  bool
	}
	answers := make([]answer, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if len(m.ClientURLs) == 0 {
			continue // a member added and not started yet
		}
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, memberStatusTimeout)
			defer cancel()
			for _, u := range m.ClientURLs {
				if s, err := cli.Status(sctx, u); err == nil {
					answers[i] = answer{leader: s.Leader, term: s.RaftTerm, index: s.RaftIndex, ok: true}
					return
				}
			}
		})
	}
	wg.Wait()

	ids := make(map[uint64]int32, len(members))
	for i, m := range members {
		id := int32(i + 1)
		if n, err := strconv.ParseInt(m.Name, 10, 32); err == nil && n >= 0 {
			id = int32(n)
		}
		ids[m.ID] = id
	}
	// The leader and term are those of the answer with the highest term:
	// a member cut off from the others may still name an old leader.
	var leader, term uint64
	for _, a := range answers {
		if a.ok && a.leader != 0 && a.term >= term {
			leader, term = a.leader, a.term
		}
	}
	if id, ok := ids[leader]; ok {
		st.LeaderID = id
	}
	st.LeaderEpoch = int32(min(term, math.MaxInt32))
	for i, m := range members {
		if m.ID == leader && answers[i].ok {
			st.HighWatermark = int64(min(answers[i].index, math.MaxInt64))
		}
	}
	now := wallclock.Now().UnixMilli() // shown to clients: a timestamp
	for i, m := range members {
		qm := QuorumMember{ID: ids[m.ID], LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1}
		if a := answers[i]; a.ok {
			qm.LogEndOffset = int64(min(a.index, math.MaxInt64))
			if m.ID != leader {
				qm.LastFetchTimestamp = now
				if qm.LogEndOffset >= st.HighWatermark {
					qm.LastCaughtUpTimestamp = now
				}
			}
		}
		if len(m.PeerURLs) > 0 {
			if u, err := url.Parse(m.PeerURLs[0]); err == nil {
				if host, port, err := net.SplitHostPort(u.Host); err == nil {
					if p, err := strconv.ParseUint(port, 10, 16); err == nil {
						qm.Host, qm.Port = host, uint16(p)
					}
				}
			}
		}
		if m.IsLearner {
			st.Observers = append(st.Observers, qm)
		} else {
			st.Voters = append(st.Voters, qm)
		}
	}
	return st, nil
}
