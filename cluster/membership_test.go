package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-io/tributary/internal/testetcd"
)

// TestJoinInitialClusterIsTheQuorumsMembersAndSelf pins the initial
// cluster a voter joining the running quorum starts with, and its refusals:
// not added yet (the operator is told to run add-voter), known at another
// address, or a started member missing from controller.quorum.voters.
func TestJoinInitialClusterIsTheQuorumsMembersAndSelf(t *testing.T) {
	voters := []Voter{{1, "127.0.0.2", 9093}, {2, "127.0.0.3", 9093}, {3, "127.0.0.4", 9093}, {4, "127.0.0.5", 9093}}
	member := func(name, peer string, learner bool) *etcdserverpb.Member {
		return &etcdserverpb.Member{Name: name, PeerURLs: []string{peer}, IsLearner: learner}
	}
	three := []*etcdserverpb.Member{
		member("1", "http://127.0.0.2:9093", false),
		member("2", "http://127.0.0.3:9093", false),
		member("3", "http://127.0.0.4:9093", false),
	}
	with := func(ms ...*etcdserverpb.Member) []*etcdserverpb.Member {
		return append(append([]*etcdserverpb.Member{}, three...), ms...)
	}
	const self = "http://127.0.0.5:9093"
	for _, tt := range []struct {
		name    string
		members []*etcdserverpb.Member
		voters  []Voter
		want    string // the initial cluster, or the error's text
		wantErr error
	}{
		{"added learner, not started", with(member("", self, true)), voters,
			"1=http://127.0.0.2:9093,2=http://127.0.0.3:9093,3=http://127.0.0.4:9093,4=" + self, nil},
		{"restarted before promotion", with(member("4", self, true)), voters,
			"1=http://127.0.0.2:9093,2=http://127.0.0.3:9093,3=http://127.0.0.4:9093,4=" + self, nil},
		{"another added member not started is left out", with(member("", self, true), member("", "http://127.0.0.6:9093", true)), voters,
			"1=http://127.0.0.2:9093,2=http://127.0.0.3:9093,3=http://127.0.0.4:9093,4=" + self, nil},
		{"removed member not in the voters any more", with(member("", self, true))[1:], voters[1:],
			"2=http://127.0.0.3:9093,3=http://127.0.0.4:9093,4=" + self, nil},
		{"not added", three, voters, "add it first (tributary cluster add-voter --node-id 4 --controller 127.0.0.5:9093", ErrNotQuorumMember},
		{"added at another address", with(member("4", "http://127.0.0.9:9093", true)), voters, "the quorum has node 4 at http://127.0.0.9:9093", ErrQuorumMismatch},
		{"its address is another node's", with(member("5", self, true)), voters, "is node 5, not node 4", ErrQuorumMismatch},
		{"a member missing from the voters", with(member("", self, true)), []Voter{voters[0], voters[1], voters[3]},
			"member 3 (http://127.0.0.4:9093) is not in controller.quorum.voters", ErrQuorumMismatch},
		{"a member at another address in the voters", with(member("", self, true)), []Voter{voters[0], voters[1], {3, "127.0.0.4", 9999}, voters[3]},
			"voter 3 is 127.0.0.4:9999 in controller.quorum.voters", ErrQuorumMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JoinInitialCluster(tt.members, 4, self, tt.voters)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("JoinInitialCluster = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestRemoveVoterNamesTheIDOfALearnerThatNeverStarted: etcd names a member
// when it first runs, so remove-voter cannot find a learner whose node
// never started (add-voter timed out) by its node id; its refusal lists
// the member's ID as etcdctl takes it, and etcdctl's member remove by that
// ID is the way out the README gives.
func TestRemoveVoterNamesTheIDOfALearnerThatNeverStarted(t *testing.T) {
	addr := testetcd.StartDefaultLimit(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	added, err := cli.MemberAddAsLearner(ctx, []string{"http://127.0.0.5:9093"})
	if err != nil {
		t.Fatal(err)
	}
	err = RemoveVoter(ctx, cli, 4)
	if !errors.Is(err, ErrNoSuchVoter) {
		t.Fatalf("remove-voter of a learner that never started: %v, want ErrNoSuchVoter", err)
	}
	id := fmt.Sprintf("id %x", added.Member.ID)
	if !strings.Contains(err.Error(), "(not started) learner http://127.0.0.5:9093 "+id) {
		t.Fatalf("the refusal %q does not name the learner's member %s", err, id)
	}
	if _, err := cli.MemberRemove(ctx, added.Member.ID); err != nil {
		t.Fatalf("member remove by the listed ID: %v", err)
	}
}
