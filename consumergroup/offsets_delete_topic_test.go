package consumergroup

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

// TestDeleteTopicOffsetsRacesCommit: Commit checks that the topic exists
// before it queues the commit on the group's loop; DeleteTopics deletes the
// topic and then drops the groups' commits for it. A commit checked just
// before the deletion and applied just after DeleteTopicOffsets must not
// leave a commit for the deleted topic behind (a topic created again under
// that name would inherit it), nor may a group created after
// DeleteTopicOffsets took its list of groups. (Found by review: 1-3 of 600
// checks leaked before Commit checked again on the group's loop.)
func TestDeleteTopicOffsetsRacesCommit(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	leaked := 0
	for i := range 300 {
		topic := fmt.Sprintf("t-%d", i)
		tc.topic(topic, 1)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := int64(0); !stop.Load(); n++ {
					tc.c.Commit(commitOne(fmt.Sprintf("g-%d", w), "", -1, topic, 0, n))
				}
			}()
		}
		time.Sleep(200 * time.Microsecond)
		if err := tc.mgr.DeleteTopic(topic); err != nil {
			t.Fatal(err)
		}
		if err := tc.c.DeleteTopicOffsets(topic); err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		wg.Wait()
		for w := range 2 {
			got, _ := tc.c.FetchOffsets(fmt.Sprintf("g-%d", w), []TopicPartition{{topic, 0}})
			if len(got) != 0 {
				leaked++
			}
		}
	}
	if leaked > 0 {
		t.Fatalf("%d groups kept a commit for a topic deleted (and its offsets dropped) before they were read", leaked)
	}
}

// TestDeleteTopicOffsetsDuringLoad: DeleteTopics right after a restart,
// while __consumer_offsets is being replayed, waits for the replay, so the
// deleted topic's commits do not come back with it. (Found by review: it
// got ErrLoadInProgress, which the server only logs.)
func TestDeleteTopicOffsetsDuringLoad(t *testing.T) {
	dir := t.TempDir()
	tc := startCoord(t, dir, testConfig())
	tc.topic("gone", 1)
	if errs, err := tc.c.Commit(commitOne("simple", "", -1, "gone", 0, 5)); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	// Enough records in __consumer_offsets that the replay takes a while.
	big := CommitRequest{Group: "filler", Generation: -1}
	for p := range 500 {
		big.Offsets = append(big.Offsets, CommitOffset{TopicPartition: TopicPartition{"gone", 0}, Offset: int64(p), LeaderEpoch: -1})
	}
	for range 200 {
		tc.c.Commit(big)
	}
	tc.stop()

	cfg := testConfig()
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	c, err := New(mgr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start() // as server.track does; a DeleteTopics may arrive before the load ends
	if err := mgr.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopicOffsets("gone"); err != nil {
		t.Fatalf("DeleteTopicOffsets during the load: %v", err)
	}
	if got, _ := c.FetchOffsets("simple", nil); len(got) != 0 {
		t.Fatalf("after DeleteTopicOffsets during the load, the deleted topic's commits are back: %v", got)
	}
}
