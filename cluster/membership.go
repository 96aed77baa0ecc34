package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Changing the voters of a running embedded quorum: etcd's runtime
// reconfiguration. A voter is added as a learner first (it receives the
// log and does not count towards the quorum), started with
// controller.quorum.initial.state=existing, and promoted once it has
// caught up, so the quorum does not grow before the new member has the
// log (etcd's MemberAddAsLearner and MemberPromote, as Kafka's KIP-853
// adds a controller as an observer first and then as a voter).
var (
	// ErrNotQuorumMember: a member started to join the running quorum
	// (ClusterStateExisting) that the quorum has not been told of: the
	// voter must be added first.
	ErrNotQuorumMember = errors.New("cluster: not a member of the metadata quorum")
	// ErrQuorumMismatch: controller.quorum.voters and the quorum's
	// membership disagree on a member's address.
	ErrQuorumMismatch = errors.New("cluster: controller.quorum.voters disagrees with the metadata quorum")
	// ErrVoterExists: the node is already a voter of the quorum, or its
	// address is another member's.
	ErrVoterExists = errors.New("cluster: already a member of the metadata quorum")
	// ErrNoSuchVoter: no member of the quorum is named by that node id.
	ErrNoSuchVoter = errors.New("cluster: no such member of the metadata quorum")
)

// Values of controller.quorum.initial.state (etcd's
// --initial-cluster-state): how a voter whose etcd data dir is empty
// starts. A member that has a write-ahead log rejoins from it either way.
const (
	// InitialStateNew forms a new quorum from controller.quorum.voters
	// with the other voters (the default).
	InitialStateNew = "new"
	// InitialStateExisting joins the running quorum as the member
	// `tributary cluster add-voter` added.
	InitialStateExisting = "existing"
)

// promotePoll is how often PromoteVoter and a joining member look again.
const promotePoll = 200 * time.Millisecond

// PeerURL is a controller (etcd peer) address as etcd names it: addr
// (host:port) with http, or https when tls.
func PeerURL(addr string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: addr}).String()
}

// JoinInitialCluster is etcd's initial-cluster for node self joining the
// running quorum whose members are members, at peerURL: every started
// member by name and peer URL, and self. It fails with
// ErrNotQuorumMember when no member has peerURL (the voter was not added
// yet), and with ErrQuorumMismatch when the quorum knows self at another
// address, or a started member is not in voters at its peer address.
func JoinInitialCluster(members []*etcdserverpb.Member, self int32, peerURL string, voters []Voter) (string, error) {
	name := memberName(self)
	var entries []string
	found := false
	for _, m := range members {
		mine := hasPeerURL(m, peerURL)
		switch {
		case mine && m.Name != "" && m.Name != name:
			return "", fmt.Errorf("%w: the member at %s is node %s, not node %d", ErrQuorumMismatch, peerURL, m.Name, self)
		case !mine && m.Name == name:
			return "", fmt.Errorf("%w: the quorum has node %d at %s, this node's voter entry is %s", ErrQuorumMismatch, self, strings.Join(m.PeerURLs, ","), peerURL)
		case mine:
			found = true
			continue
		case m.Name == "":
			continue // another member added and not started yet
		}
		id, err := strconv.ParseInt(m.Name, 10, 32)
		if err != nil {
			return "", fmt.Errorf("%w: member %q is not named by a node id", ErrQuorumMismatch, m.Name)
		}
		listed := false
		for _, v := range voters {
			if int64(v.NodeID) == id {
				if !hasPeerHost(m, v.Addr()) {
					return "", fmt.Errorf("%w: voter %d is %s in controller.quorum.voters, %s in the quorum", ErrQuorumMismatch, id, v.Addr(), strings.Join(m.PeerURLs, ","))
				}
				listed = true
			}
		}
		if !listed {
			return "", fmt.Errorf("%w: the quorum's member %d (%s) is not in controller.quorum.voters", ErrQuorumMismatch, id, strings.Join(m.PeerURLs, ","))
		}
		for _, u := range m.PeerURLs {
			entries = append(entries, m.Name+"="+u)
		}
	}
	if !found {
		return "", fmt.Errorf("%w: node %d (%s); members %s: add it first (tributary cluster add-voter --node-id %d --controller %s, or etcdctl member add %d --learner --peer-urls %s), then start it",
			ErrNotQuorumMember, self, peerURL, describeMembers(members), self, hostOf(peerURL), self, peerURL)
	}
	entries = append(entries, name+"="+peerURL)
	return strings.Join(entries, ","), nil
}

// AddVoter adds node id at peerURL to the quorum as a learner, unless it
// is one already (a rerun after a timeout), and returns its etcd member
// id. A member that is a voter already by that name or that address is
// ErrVoterExists. While etcd refuses the change as unsafe for the quorum
// (its leader has not been connected to a majority for 5 s: a member is
// down, or the quorum has just formed), it is tried again until ctx ends.
func AddVoter(ctx context.Context, cli *clientv3.Client, id int32, peerURL string) (uint64, error) {
	for {
		mid, err := addVoter(ctx, cli, id, peerURL)
		if !errors.Is(err, rpctypes.ErrUnhealthy) || !pause(ctx) {
			return mid, err
		}
	}
}

// pause waits promotePoll, false if ctx ends first.
func pause(ctx context.Context) bool {
	t := time.NewTimer(promotePoll)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func addVoter(ctx context.Context, cli *clientv3.Client, id int32, peerURL string) (uint64, error) {
	list, err := cli.MemberList(ctx)
	if err != nil {
		return 0, fmt.Errorf("cluster: add voter %d: member list: %w", id, err)
	}
	name := memberName(id)
	for _, m := range list.Members {
		mine := hasPeerURL(m, peerURL)
		switch {
		case mine && m.IsLearner && (m.Name == "" || m.Name == name):
			return m.ID, nil
		case mine:
			return 0, fmt.Errorf("%w: %s is member %s's address", ErrVoterExists, peerURL, describeMember(m))
		case m.Name == name:
			return 0, fmt.Errorf("%w: node %d is member %s", ErrVoterExists, id, describeMember(m))
		}
	}
	resp, err := cli.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		return 0, fmt.Errorf("cluster: add voter %d at %s as a learner: %w", id, peerURL, err)
	}
	return resp.Member.ID, nil
}

// PromoteVoter promotes the learner memberID to a voter, retrying while
// etcd says it has not started or not caught up, until ctx ends. A member
// that is a voter already is promoted.
func PromoteVoter(ctx context.Context, cli *clientv3.Client, memberID uint64) error {
	t := time.NewTicker(promotePoll)
	defer t.Stop()
	for {
		_, err := cli.MemberPromote(ctx, memberID)
		switch {
		case err == nil, errors.Is(err, rpctypes.ErrMemberNotLearner):
			return nil
		case !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) && !errors.Is(err, rpctypes.ErrUnhealthy) && ctx.Err() == nil:
			return fmt.Errorf("cluster: promote member %x: %w", memberID, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: promote member %x: it has not started or caught up with the leader: %w", memberID, ctx.Err())
		case <-t.C:
		}
	}
}

// RemoveVoter removes node id (the member by that name) from the quorum.
// The last member is not removed. Refused as unsafe for the quorum, it is
// tried again until ctx ends, as AddVoter.
func RemoveVoter(ctx context.Context, cli *clientv3.Client, id int32) error {
	for {
		err := removeVoter(ctx, cli, id)
		if !errors.Is(err, rpctypes.ErrUnhealthy) || !pause(ctx) {
			return err
		}
	}
}

func removeVoter(ctx context.Context, cli *clientv3.Client, id int32) error {
	list, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("cluster: remove voter %d: member list: %w", id, err)
	}
	name := memberName(id)
	for _, m := range list.Members {
		if m.Name != name {
			continue
		}
		if len(list.Members) == 1 {
			return fmt.Errorf("cluster: remove voter %d: it is the quorum's last member", id)
		}
		if _, err := cli.MemberRemove(ctx, m.ID); err != nil {
			return fmt.Errorf("cluster: remove voter %d: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("%w: node %d; members %s", ErrNoSuchVoter, id, describeMembers(list.Members))
}

func hasPeerURL(m *etcdserverpb.Member, peerURL string) bool {
	for _, u := range m.PeerURLs {
		if u == peerURL {
			return true
		}
	}
	return false
}

// hasPeerHost says whether one of m's peer URLs is at addr (host:port).
func hasPeerHost(m *etcdserverpb.Member, addr string) bool {
	for _, u := range m.PeerURLs {
		if p, err := url.Parse(u); err == nil && p.Host == addr {
			return true
		}
	}
	return false
}

func hostOf(peerURL string) string {
	if p, err := url.Parse(peerURL); err == nil && p.Host != "" {
		return p.Host
	}
	return peerURL
}

func describeMember(m *etcdserverpb.Member) string {
	name := m.Name
	if name == "" {
		name = "(not started)"
	}
	role := "voter"
	if m.IsLearner {
		role = "learner"
	}
	// The ID in hex, as etcdctl prints and takes it (member remove <ID>).
	return fmt.Sprintf("%s %s %s id %x", name, role, strings.Join(m.PeerURLs, ","), m.ID)
}

func describeMembers(ms []*etcdserverpb.Member) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = describeMember(m)
	}
	return "[" + strings.Join(out, "; ") + "]"
}
