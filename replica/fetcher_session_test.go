package replica

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// named lists the partitions a fetch request names, as "topic-partition".
func named(req *kmsg.FetchRequest) []string {
	var out []string
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			out = append(out, t.Topic+"-"+string(rune('0'+p.Partition)))
		}
	}
	slices.Sort(out)
	return out
}

func forgotten(req *kmsg.FetchRequest) []string {
	var out []string
	for _, t := range req.ForgottenTopics {
		for _, p := range t.Partitions {
			out = append(out, t.Topic+"-"+string(rune('0'+p)))
		}
	}
	slices.Sort(out)
	return out
}

// TestFetcherSessionNamesOnlyChanges: the follower starts a fetch session
// with a full fetch, then names only the partitions whose fetch state
// changed, forgets a partition it stops following, starts over (closing
// the old session) after a failed fetch, and fetches in full from a
// leader that keeps no session for it.
func TestFetcherSessionNamesOnlyChanges(t *testing.T) {
	f, l0, _ := fuzzFollower()
	_, l1, _ := fuzzFollower()
	p1 := &followed{tp: cluster.TopicPartition{Topic: "t", Partition: 1}, topicID: topicID("t"), log: l1, epoch: fuzzEpoch}
	f.parts[p1.tp] = p1
	now := time.Now()
	answer := func(id int32) {
		resp := kmsg.NewPtrFetchResponse()
		resp.SessionID = id
		f.sessionAnswered(resp)
	}
	check := func(step string, id, epoch int32, wantNamed, wantForgotten []string) {
		t.Helper()
		req, inFlight, _ := f.buildRequest(now)
		if req.SessionID != id || req.SessionEpoch != epoch || !slices.Equal(named(req), wantNamed) || !slices.Equal(forgotten(req), wantForgotten) {
			t.Fatalf("%s: session %d epoch %d names %v forgets %v; want %d, %d, %v, %v",
				step, req.SessionID, req.SessionEpoch, named(req), forgotten(req), id, epoch, wantNamed, wantForgotten)
		}
		if len(inFlight) != len(f.parts) {
			t.Fatalf("%s: %d partitions in flight, want all %d followed (named or not)", step, len(inFlight), len(f.parts))
		}
	}
	check("first fetch", 0, 0, []string{"t-0", "t-1"}, nil)
	answer(42)
	check("nothing changed", 42, 1, nil, nil)
	answer(42)
	if _, err := l0.AppendAsFollower(leaderBatches(l0.NextOffset(), fuzzEpoch, 2)); err != nil {
		t.Fatal(err)
	}
	check("t-0 appended", 42, 2, []string{"t-0"}, nil)
	// Not answered: the next request names t-0 again.
	check("t-0 appended, the last request unanswered", 42, 2, []string{"t-0"}, nil)
	answer(42)
	f.Remove(p1.tp)
	check("t-1 no longer followed", 42, 3, nil, []string{"t-1"})
	answer(42)
	check("after the forget", 42, 4, nil, nil)
	f.resetSession() // a failed fetch
	check("after a failed fetch", 42, 0, []string{"t-0"}, nil)
	answer(43)
	check("new session", 43, 1, nil, nil)
	answer(0) // the leader keeps none for us
	check("no session", 0, 0, []string{"t-0"}, nil)
	answer(0)
	check("no session again", 0, 0, []string{"t-0"}, nil)
}
