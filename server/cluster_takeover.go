package server

// Takeovers: this broker is to lead a partition it already replicated
// (followed, or led under an older epoch) under a new leader epoch.
// BecomeLeader then writes the partition's leader-epoch checkpoint (two
// fsyncs) before the Leader is published, and a broker that takes over
// the ~1,700–3,300 partitions of a dead one in a 10,000-partition
// cluster has thousands to write. Made inside the reconciler's pass,
// every role change of the snapshots behind it waited for all of them:
// a follower change naming the other survivor's new leadership (which
// that leader's acks=all produces wait for), an ISR shrink its own
// leaders' produces wait for.
//
// So a pass starts its takeovers on up to roleChangeWorkers workers and
// goes on; later passes apply later snapshots meanwhile, and leave a
// partition whose takeover runs alone (its next state is applied once
// the takeover is recorded, so one partition's changes keep their order:
// replica.Manager's claim serialises them, but not in order). When a
// batch ends, the reconciler is woken: its next pass records the
// outcomes (harvest) and applies what changed since. Readiness
// (caughtUp) waits for them, as the pass counts as unfinished while one
// runs.
//
// stop, whatever asks it (fencing, a deleted topic, a moved replica),
// first ends the partition's takeover: one not started yet is skipped,
// one running is waited for (and then stopped like any leadership), so
// that no takeover outlives the decision that the partition is not to be
// led here.
//
// A partition new to this broker (a topic just created) is led within
// the pass, as before: its followers start fetching it only in their own
// passes, and a leader that opened it later than they asked answered
// them NOT_LEADER_OR_FOLLOWER once their fetch's wait ran out, resting
// the partition (TestClusterNewTopicIsWritableWithoutFollowerRests).

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/cluster"
)

// takeover is one partition's BecomeLeader under a new leader epoch,
// made by a takeover worker.
type takeover struct {
	c roleChange // c.err is the worker's until done is closed
	// skip is set by stop: the worker, if it has not started, leaves
	// the partition alone.
	skip atomic.Bool
	done chan struct{}
}

// errTakeoverSkipped is the outcome of a takeover stop ended before it
// started.
var errTakeoverSkipped = errors.New("server: takeover skipped: the partition was stopped first")

// startTakeovers makes the takeovers of ts on the takeover workers and
// wakes the reconciler once they have all ended. Caller holds r.mu.
func (r *reconciler) startTakeovers(ts []*takeover) {
	if len(ts) == 0 {
		return
	}
	for _, t := range ts {
		r.takeovers[t.c.tp] = t
	}
	lead := r.lead
	if lead == nil {
		lead = func(c roleChange) error {
			_, err := r.n.replicas.BecomeLeader(c.log, c.p, c.minISR)
			return err
		}
	}
	r.takeoverWG.Add(1)
	go func() {
		defer r.takeoverWG.Done()
		start := time.Now()
		var wg sync.WaitGroup
		for _, t := range ts {
			r.takeoverSlots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-r.takeoverSlots }()
				if t.skip.Load() {
					t.c.err = errTakeoverSkipped
				} else {
					t.c.err = lead(t.c)
				}
				close(t.done)
			}()
		}
		wg.Wait()
		r.logTakeovers(ts, time.Since(start))
		r.wake()
		// Fetches held for partitions this broker was about to lead
		// (awaitLeading) look again.
		r.applyDone()
	}()
}

// takeoverExamples is how many partitions a batch of takeovers' Info
// line names.
const takeoverExamples = 3

// logTakeovers says at Info what a batch of takeovers did: how many
// partitions this broker now leads, how many failed or were skipped, a
// few of them, and the time taken, in one line (the partitions' own lines
// are Debug: a failover at ten thousand partitions made thousands of Info
// lines). Failures are logged on their own when recorded (record).
func (r *reconciler) logTakeovers(ts []*takeover, took time.Duration) {
	led, failed, skipped := 0, 0, 0
	var examples []string
	for _, t := range ts {
		switch {
		case errors.Is(t.c.err, errTakeoverSkipped):
			skipped++
		case t.c.err != nil:
			failed++
		default:
			led++
			if len(examples) < takeoverExamples {
				examples = append(examples, fmt.Sprintf("%s-%d epoch %d", t.c.tp.Topic, t.c.tp.Partition, t.c.p.LeaderEpoch))
			}
		}
	}
	r.log.Info("server: became leader", "partitions", led, "failed", failed, "skipped", skipped,
		"examples", examples, "took", took.Round(time.Microsecond))
}

// harvest records the takeovers that have ended; false if one failed.
// Caller holds r.mu.
func (r *reconciler) harvest() bool {
	ok := true
	for tp, t := range r.takeovers {
		select {
		case <-t.done:
		default:
			continue
		}
		delete(r.takeovers, tp)
		if !r.record(t.c) {
			ok = false
		}
	}
	return ok
}

// endTakeover ends tp's takeover, if one was started: skipped if it has
// not begun, else waited for and recorded (stop then ends the leadership
// it made). Caller holds r.mu.
func (r *reconciler) endTakeover(tp cluster.TopicPartition) {
	t, ok := r.takeovers[tp]
	if !ok {
		return
	}
	t.skip.Store(true)
	<-t.done
	delete(r.takeovers, tp)
	if t.c.err == nil {
		r.record(t.c)
	}
}
