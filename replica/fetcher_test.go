package replica

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/log"
)

// followerKinds are the logs the fetcher tests run against: the in-memory
// fake and the real partition log, both holding epochs 0 and 1 at
// offsets 0-5, replicated with the high watermark at 3.
var followerKinds = []struct {
	name string
	open func(t *testing.T) Log
}{
	{"fake", func(t *testing.T) Log {
		_, l, _ := fuzzFollower()
		return l
	}},
	{"real", func(t *testing.T) Log {
		l := openRealLog(t, t.TempDir(), realConfig())
		l.SetReplicated(true)
		for i, e := range []int32{0, 0, 1} {
			if _, err := l.AppendAsFollower(leaderBatches(int64(2*i), e, 2)); err != nil {
				t.Fatal(err)
			}
		}
		l.SetHighWatermark(3)
		return l
	}},
}

// fetcherFor is a fetcher of t-0 into l at fuzzEpoch, without its
// goroutine, and the partition as a fetch at l's end sent it.
func fetcherFor(l Log) (*Fetcher, sent) {
	cfg := FetcherConfig{Logger: quiet}
	cfg.setDefaults()
	f := &Fetcher{leader: 1, req: noRequester{}, cfg: cfg, parts: map[cluster.TopicPartition]*followed{}, retryAt: map[*followed]time.Time{}, wake: make(chan struct{}, 1)}
	p := &followed{tp: cluster.TopicPartition{Topic: "t", Partition: 0}, topicID: topicID("t"), log: l, epoch: fuzzEpoch}
	f.parts[p.tp] = p
	return f, sent{p: p, fetchOffset: l.NextOffset()}
}

func TestFollowerAppliesOnlyRecordsThatCheckOut(t *testing.T) {
	good := leaderBatches(6, fuzzEpoch, 2, 3)
	bad := slices.Clone(good)
	bad[len(bad)-1] ^= 0xff
	tests := []struct {
		name      string
		records   []byte
		hw        int64
		logStart  int64 // the leader's, in the answer
		wantEnd   int64 // log end after
		wantHW    int64
		wantStart int64
		wantErr   error
	}{
		{"whole batches are appended", good, 11, 0, 11, 11, 0, nil},
		{"hw is capped at the log end", good[:len(good)-7], 11, 0, 8, 8, 0, nil},
		{"a cut last batch is left for the next fetch", good[:len(good)-7], 7, 0, 8, 7, 0, nil},
		{"a bad CRC refuses everything", bad, 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"a bad batch after good ones refuses everything", append(leaderBatches(6, fuzzEpoch, 1), bad...), 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"a batch below the log end is refused", leaderBatches(4, fuzzEpoch, 2), 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"a gap left by compaction is appended", append(leaderBatches(6, fuzzEpoch, 2), leaderBatches(10, fuzzEpoch, 1)...), 11, 0, 11, 11, 0, nil},
		{"a compacted leader's first batch past the log end is appended", leaderBatches(9, fuzzEpoch, 2), 11, 0, 11, 11, 0, nil},
		{"overlapping batches are refused", append(leaderBatches(6, fuzzEpoch, 2), leaderBatches(7, fuzzEpoch, 1)...), 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"offsets that wrap are refused", leaderBatches(math.MaxInt64-1, fuzzEpoch, 3), 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"an epoch past the leader's is refused", leaderBatches(6, fuzzEpoch+1, 2), 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"a cut first batch is refused", good[:20], 11, 0, 6, 3, 0, ErrCorruptFetch},
		{"the leader's log start is followed", good, 11, 7, 11, 11, 7, nil},
		{"a leader's log start below ours changes nothing", nil, 3, 0, 6, 3, 0, nil},
		{"a log start past the high watermark is refused", nil, 3, 5, 6, 3, 0, log.ErrOffsetOutOfRange},
	}
	for _, kind := range followerKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				l := kind.open(t)
				fe, s := fetcherFor(l)
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.HighWatermark = tt.hw
				rp.LogStartOffset = tt.logStart
				rp.RecordBatches = tt.records
				_, err := fe.handlePartition(context.Background(), s, &rp)
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				if end, hw, start := l.NextOffset(), l.HighWatermark(), l.StartOffset(); end != tt.wantEnd || hw != tt.wantHW || start != tt.wantStart {
					t.Fatalf("log [%d, %d) hw %d, want [%d, %d) hw %d", start, end, hw, tt.wantStart, tt.wantEnd, tt.wantHW)
				}
			})
		}
	}
}

func TestFollowerRefusesDivergenceThatCutsNothing(t *testing.T) {
	fe, l, s := fuzzFollower()
	rp := kmsg.NewFetchResponseTopicPartition()
	// Epoch 1 ends at 6 here too: an answer that moves nothing would
	// make the follower ask again for ever.
	rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 1, 9
	if _, err := fe.handlePartition(context.Background(), s, &rp); !errors.Is(err, ErrCorruptFetch) {
		t.Fatalf("err %v, want ErrCorruptFetch", err)
	}
	if l.NextOffset() != 6 || l.truncateCount() != 0 {
		t.Fatalf("log end %d after %d truncations, want 6 and none", l.NextOffset(), l.truncateCount())
	}
}

// TestFollowerDropsAnEpochItLedWithoutAppending: a replica elected
// leader of epoch 2 at its log end (6), killed before it appended, comes
// back as a follower of epoch 3's leader, which never had epoch 2. It
// answers that epoch 1 ends at 6: nothing is cut, but epoch 2 goes, so
// the next fetch names epoch 1 and matches; before, the follower called
// the answer corrupt and was told the same for ever, out of the ISR.
func TestFollowerDropsAnEpochItLedWithoutAppending(t *testing.T) {
	for _, kind := range followerKinds {
		t.Run(kind.name, func(t *testing.T) {
			l := kind.open(t)
			if err := l.BecomeLeader(2); err != nil {
				t.Fatal(err)
			}
			fe, s := fetcherFor(l)
			s.p.epoch = 3
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.HighWatermark = 6
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 1, 6
			if _, err := fe.handlePartition(context.Background(), s, &rp); err != nil {
				t.Fatalf("err %v, want none", err)
			}
			if l.NextOffset() != 6 || l.LeaderEpoch() != 1 {
				t.Fatalf("log end %d, last epoch %d; want 6 and 1", l.NextOffset(), l.LeaderEpoch())
			}
		})
	}
}

// TestFollowerRetryAfterLeaderNotReadyDoublesToBackoffAndStartsOverOnSuccess:
// while the leader does not know the partition, each rest is twice the
// last from firstNotReadyRetry up to the backoff; other errors rest the
// whole backoff; a fetch of the partition that succeeds starts it over.
func TestFollowerRetryAfterLeaderNotReadyDoublesToBackoffAndStartsOverOnSuccess(t *testing.T) {
	fe, _, s := fuzzFollower()
	fe.cfg.Backoff = 100 * time.Millisecond
	p := s.p
	restFor := func(err error) time.Duration {
		t.Helper()
		before := time.Now()
		fe.rest(p, err)
		after := time.Now()
		at, ok := fe.retryAt[p]
		if !ok {
			t.Fatalf("%v did not rest the partition", err)
		}
		// The rest began between before and after.
		if lo, hi := at.Sub(after), at.Sub(before); p.notReadyRetry != 0 && (p.notReadyRetry < lo || p.notReadyRetry > hi) {
			t.Fatalf("rest of %v in [%v, %v], want %v", err, lo, hi, p.notReadyRetry)
		}
		return at.Sub(before)
	}
	notReady := fmt.Errorf("replica: fetch t-0: %w", kerr.UnknownTopicID)
	for i, want := range []time.Duration{10, 20, 40, 80, 100, 100} {
		want *= time.Millisecond
		restFor(notReady)
		if p.notReadyRetry != want {
			t.Fatalf("rest %d: %v, want %v", i, p.notReadyRetry, want)
		}
	}
	p.notReadyRetry = 0
	if d := restFor(fmt.Errorf("replica: fetch t-0: %w", kerr.FencedLeaderEpoch)); d < fe.cfg.Backoff {
		t.Fatalf("FENCED_LEADER_EPOCH rests %v, want the backoff %v", d, fe.cfg.Backoff)
	}
	if p.notReadyRetry != 0 {
		t.Fatalf("FENCED_LEADER_EPOCH set the short retry to %v", p.notReadyRetry)
	}

	restFor(notReady)
	restFor(notReady)
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark = 6
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	if progress, rested := fe.handleResponse(context.Background(), resp, map[cluster.TopicPartition]sent{p.tp: s}); !progress || rested {
		t.Fatalf("a good answer: progress %v, rested %v; want progress only", progress, rested)
	}
	if p.notReadyRetry != 0 {
		t.Fatalf("short retry %v after a good fetch, want it started over", p.notReadyRetry)
	}
	if restFor(notReady); p.notReadyRetry != firstNotReadyRetry {
		t.Fatalf("first rest after a good fetch: %v, want %v", p.notReadyRetry, firstNotReadyRetry)
	}
}

// TestFollowerRetriesSoonAfterUnknownLeaderEpoch: UNKNOWN_LEADER_EPOCH,
// a leader that has not applied the follower's newer leader epoch yet,
// rests the partition the short retry of a leader that does not know it
// yet; FENCED_LEADER_EPOCH, a follower behind the leader's epoch, rests
// the whole backoff.
func TestFollowerRetriesSoonAfterUnknownLeaderEpoch(t *testing.T) {
	tests := []struct {
		err  *kerr.Error
		want time.Duration // the rest
	}{
		{kerr.UnknownLeaderEpoch, firstNotReadyRetry},
		{kerr.FencedLeaderEpoch, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.err.Message, func(t *testing.T) {
			fe, _, s := fuzzFollower()
			fe.cfg.Backoff = time.Hour
			before := time.Now()
			fe.rest(s.p, fmt.Errorf("replica: fetch t-0: %w", tt.err))
			after := time.Now()
			at, ok := fe.retryAt[s.p]
			if !ok {
				t.Fatalf("%v did not rest the partition", tt.err)
			}
			if lo, hi := at.Sub(after), at.Sub(before); tt.want < lo || tt.want > hi {
				t.Fatalf("rest in [%v, %v], want %v", lo, hi, tt.want)
			}
		})
	}
}

// TestFetchLongPollEndsWhenARestingPartitionIsDue: a fetch sent while a
// partition rests waits at the leader no longer than until that
// partition's retry is due, so the others' long poll does not hold up a
// short retry; with none resting it waits MaxWait.
func TestFetchLongPollEndsWhenARestingPartitionIsDue(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		restFor  time.Duration // 0: nothing rests
		wantWait int32         // ms
	}{
		{"nothing rests", 0, 500},
		{"a short retry is due first", 15 * time.Millisecond, 15},
		{"a part of a millisecond rounds up", 1500 * time.Microsecond, 2},
		{"a rest past the max wait", time.Hour, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe, _, s := fuzzFollower()
			fe.cfg.MaxWait = 500 * time.Millisecond
			if tt.restFor > 0 {
				other := &followed{tp: cluster.TopicPartition{Topic: "t", Partition: 1}, topicID: topicID("t"), log: newFakeLog(), epoch: fuzzEpoch}
				fe.parts[other.tp] = other
				fe.retryAt[other] = now.Add(tt.restFor)
			}
			req, inFlight, _ := fe.buildRequest(now)
			if _, ok := inFlight[s.p.tp]; !ok || len(inFlight) != 1 {
				t.Fatalf("in flight %v, want only %v", inFlight, s.p.tp)
			}
			if req.MaxWaitMillis != tt.wantWait {
				t.Fatalf("max wait %d ms, want %d", req.MaxWaitMillis, tt.wantWait)
			}
		})
	}
}

// askedFetch is one fetch a test leader got: the partitions it asks and
// its long poll.
type askedFetch struct {
	parts   []int32
	maxWait time.Duration
}

// blockingLeader is a Requester whose fetches long-poll as a leader with
// nothing new does: each is answered, empty, after its MaxWait, or ends
// with its context. Each fetch is sent on asked first.
type blockingLeader struct {
	asked chan askedFetch
}

func (b blockingLeader) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	fr, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", req)
	}
	var parts []int32
	for _, t := range fr.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, p.Partition)
		}
	}
	slices.Sort(parts)
	wait := time.Duration(fr.MaxWaitMillis) * time.Millisecond
	b.asked <- askedFetch{parts: parts, maxWait: wait}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 13
		return resp, nil
	}
}

// addT0 makes f follow t-p from broker 1.
func addT0(t *testing.T, f *Fetcher, p int32) {
	t.Helper()
	st := cluster.PartitionState{Topic: "t", Partition: p, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1}
	if err := f.Add(newFakeLog(), st, topicID("t")); err != nil {
		t.Fatal(err)
	}
}

// nextLongPoll waits for a fetch long-polling MaxWait (the burst of Adds
// before it is over) and returns what it asks.
func nextLongPoll(t *testing.T, asked chan askedFetch, maxWait time.Duration) []int32 {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case a := <-asked:
			if a.maxWait == maxWait {
				return a.parts
			}
		case <-deadline:
			t.Fatalf("no fetch long-polling %v within 30 s", maxWait)
			return nil
		}
	}
}

// TestAddOfANewPartitionEndsTheFetchInFlight: a partition added while
// the fetcher's request long-polls the leader is fetched at once, in a
// new request, not after the others' MaxWait (a topic just created would
// hold acks=all produces that long), and the ended request is not
// counted as a failed fetch.
func TestAddOfANewPartitionEndsTheFetchInFlight(t *testing.T) {
	leader := blockingLeader{asked: make(chan askedFetch, 1024)}
	stats := new(FetchStats)
	cfg := FetcherConfig{Self: 2, MaxWait: time.Hour, Logger: quiet, Stats: stats}
	cfg.restartWindow = time.Millisecond
	f := NewFetcher(1, leader, cfg)
	defer f.Close()
	addT0(t, f, 0)
	if got := nextLongPoll(t, leader.asked, time.Hour); !slices.Equal(got, []int32{0}) && got != nil {
		t.Fatalf("fetch asks %v, want [0] or nothing new in the session", got)
	}
	addT0(t, f, 1)
	select {
	case a := <-leader.asked:
		if !slices.Contains(a.parts, 1) {
			t.Fatalf("fetch after the add asks %v, want 1 among them", a.parts)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no fetch within 30 s of the add (MaxWait is an hour)")
	}
	if r := stats.Restarts(); r != 1 {
		t.Fatalf("%d fetch restarts, want 1", r)
	}
	if errs := stats.Errors(); len(errs) != 0 {
		t.Fatalf("fetch errors %v, want none: an ended long poll is no failure", errs)
	}
}

// TestABurstOfAddsEndsTheFetchInFlightOnce: a failover adds a fetcher's
// partitions in groups, each while a fetch long-polls the leader. The
// first ends the long poll at once; the fetches after it long-poll one
// restart window only and are not ended, the partitions added meanwhile
// joining the next fetch of the session, until every one is asked and
// the burst is over (MaxWait again).
func TestABurstOfAddsEndsTheFetchInFlightOnce(t *testing.T) {
	const n = 20
	leader := blockingLeader{asked: make(chan askedFetch, 1024)}
	stats := new(FetchStats)
	cfg := FetcherConfig{Self: 2, MaxWait: time.Hour, Logger: quiet, Stats: stats}
	cfg.restartWindow = 50 * time.Millisecond // the burst: 10 windows after the last Add
	f := NewFetcher(1, leader, cfg)
	defer f.Close()
	addT0(t, f, 0)
	nextLongPoll(t, leader.asked, time.Hour)
	for p := int32(1); p < n; p++ {
		addT0(t, f, p)
		time.Sleep(2 * time.Millisecond)
	}
	// The leader's answers carry no session: each fetch asks every
	// partition followed. The first to long-poll MaxWait again asks all.
	all := make([]int32, n)
	for i := range all {
		all[i] = int32(i)
	}
	if got := nextLongPoll(t, leader.asked, time.Hour); !slices.Equal(got, all) {
		t.Fatalf("fetch after the burst asks %v, want all %d", got, n)
	}
	if r := stats.Restarts(); r != 1 {
		t.Fatalf("%d fetch restarts for a burst of %d Adds, want 1: the fetches of one window end by themselves", r, n-1)
	}
	if errs := stats.Errors(); len(errs) != 0 {
		t.Fatalf("fetch errors %v, want none: an ended long poll is no failure", errs)
	}
}

// slowLeader answers every fetch, empty, after delay (its work on a
// fetch of thousands of partitions), whatever the fetch's MaxWait, and
// counts the fetches it answered.
type slowLeader struct {
	delay    time.Duration
	answered *atomic.Int64
}

func (s slowLeader) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if _, ok := req.(*kmsg.FetchRequest); !ok {
		return nil, fmt.Errorf("unexpected %T", req)
	}
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	s.answered.Add(1)
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 13
	return resp, nil
}

// TestABurstOfAddsDoesNotStarveTheFetch: while a failover keeps adding
// partitions to a fetcher more often than its restart window, a leader
// that takes longer than the window to answer (a fetch of thousands of
// partitions on a busy broker) still gets its fetches answered: ending
// each fetch for the partitions added meanwhile left the fetcher without
// a single answer, and so its acks=all produces unacknowledged, for as
// long as the Adds lasted.
func TestABurstOfAddsDoesNotStarveTheFetch(t *testing.T) {
	answered := new(atomic.Int64)
	cfg := FetcherConfig{Self: 2, MaxWait: time.Hour, Logger: quiet}
	cfg.restartWindow = 2 * time.Millisecond
	f := NewFetcher(1, slowLeader{delay: 50 * time.Millisecond, answered: answered}, cfg)
	defer f.Close()
	addT0(t, f, 0)
	const adds = 400
	for p := int32(1); p <= adds; p++ {
		addT0(t, f, p)
		time.Sleep(500 * time.Microsecond)
	}
	// A fetch answered 50 ms after it went out: one every 50 ms while the
	// Adds last (at least 400 x 0.5 ms), unless each is ended first.
	if got := answered.Load(); got < 3 {
		t.Fatalf("%d fetches answered during %d Adds, each answered 50 ms after it was sent: want 3 or more", got, adds)
	}
}

// TestFollowerRetryAfterLeaderNotReadyStaysAWindowWhilePartitionsAreAdded:
// while a failover adds partitions, fetches long-poll one restart window,
// and the leader holds a partition it is about to lead no longer: the
// short retry after "not ready" stops doubling at the window, then
// doubles on once the Adds are over.
func TestFollowerRetryAfterLeaderNotReadyStaysAWindowWhilePartitionsAreAdded(t *testing.T) {
	fe, _, s := fuzzFollower()
	fe.cfg.Backoff = time.Second
	fe.cfg.MaxWait = 500 * time.Millisecond
	fe.cfg.restartWindow = 25 * time.Millisecond
	p := s.p
	notReady := fmt.Errorf("replica: fetch t-0: %w", kerr.NotLeaderForPartition)
	fe.lastAdd = time.Now().Add(time.Hour) // Adds going on for the whole test
	for i, want := range []time.Duration{10, 20, 25, 25, 25} {
		want *= time.Millisecond
		if fe.rest(p, notReady); p.notReadyRetry != want {
			t.Fatalf("rest %d while partitions are added: %v, want %v", i, p.notReadyRetry, want)
		}
	}
	fe.lastAdd = time.Now().Add(-time.Hour) // the Adds are over
	for i, want := range []time.Duration{50, 100, 200} {
		want *= time.Millisecond
		if fe.rest(p, notReady); p.notReadyRetry != want {
			t.Fatalf("rest %d after the Adds: %v, want %v", i, p.notReadyRetry, want)
		}
	}
}
