package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Defaults of the follower's fetch settings, Kafka's names and values.
const (
	DefaultFetchMaxWait          = 500 * time.Millisecond // replica.fetch.wait.max.ms
	DefaultFetchMinBytes         = 1                      // replica.fetch.min.bytes
	DefaultFetchMaxBytes         = 10 << 20               // replica.fetch.response.max.bytes
	DefaultFetchPartitionMaxByte = 1 << 20                // replica.fetch.max.bytes
	DefaultFetchBackoff          = time.Second            // replica.fetch.backoff.ms
	// minFetchVersion is the oldest Fetch version a leader must answer:
	// v12 brought LastFetchedEpoch and DivergingEpoch, on which the
	// follower's truncation relies.
	minFetchVersion = 12
	// firstBackoff is the first wait after a failed request; it doubles
	// up to FetcherConfig.Backoff.
	firstBackoff = 50 * time.Millisecond
	// firstNotReadyRetry is the first wait before fetching again a
	// partition its leader does not know yet (a topic just created, which
	// the leader's broker has not opened); it doubles up to
	// FetcherConfig.Backoff.
	firstNotReadyRetry = 10 * time.Millisecond
	// listOffsetsTimeout bounds the ListOffsets rounds of an out-of-range
	// recovery.
	listOffsetsTimeout = 10 * time.Second
	// DefaultFetchRestartWindow is the shortest time between two restarts
	// of the fetch in flight for partitions added to a fetcher: a
	// failover adds thousands, in groups, and each restart costs a dial
	// and a full fetch (a new session) of every partition fetched.
	DefaultFetchRestartWindow = 25 * time.Millisecond
	// addBurstWindows is how many restart windows after the last Add of
	// a new partition the fetcher keeps its fetches' long poll to one
	// window (burstMaxWait): Adds keep coming in groups for as long as a
	// failover's elections are being written (a second at 10,000
	// partitions), and those groups then join the next fetch in an
	// incremental request instead of ending the one in flight.
	addBurstWindows = 10
)

// Requester sends one request to one broker (the leader a fetcher fetches
// from) and returns its response. Conn is the real one (KgoRequester
// another).
type Requester interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// fetchRequester is a Requester that answers a Fetch into memory of its
// own, valid until its next Fetch (Conn): the fetcher applies an answer
// whole before it sends the next fetch, so nothing it appended is still
// read from that memory when the memory is reused.
type fetchRequester interface {
	Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error)
}

// FetcherConfig configures the follower fetchers.
type FetcherConfig struct {
	Self        int32 // this broker's node ID: the fetch's replica ID
	BrokerEpoch int64 // this broker's registration epoch (ReplicaState, v15+)
	// MaxWait, MinBytes, MaxBytes and PartitionMaxBytes are the Fetch
	// request's long-poll and size bounds; zero means Kafka's default.
	MaxWait           time.Duration
	MinBytes          int32
	MaxBytes          int32
	PartitionMaxBytes int32
	// Backoff is the longest wait after an error, of the whole fetcher
	// (a failed request) or of one partition (an error answer); zero
	// means the default.
	Backoff time.Duration
	Logger  *slog.Logger // nil: slog.Default()
	// Stats, if set, counts the fetches sent and those that failed; the
	// Manager shares one among its fetchers.
	Stats *FetchStats
	// Throttle, with Throttled, is follower.replication.throttled.rate:
	// a partition Throttled reports (this broker's replica is listed in
	// the topic's follower.replication.throttled.replicas and is out of
	// the ISR) is left out of the fetches while Throttle is in debt, and
	// the bytes fetched for it are taken from Throttle. Throttled is
	// called under the fetcher's lock: it must not block. Nil: nothing is
	// throttled.
	Throttle  *Throttle
	Throttled func(tp cluster.TopicPartition) bool

	// restartWindow is the shortest time between two restarts of the
	// fetch in flight for added partitions; zero means
	// DefaultFetchRestartWindow. Tests set it.
	restartWindow time.Duration
}

func (c *FetcherConfig) setDefaults() {
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultFetchMaxWait
	}
	if c.MinBytes <= 0 {
		c.MinBytes = DefaultFetchMinBytes
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultFetchMaxBytes
	}
	if c.PartitionMaxBytes <= 0 {
		c.PartitionMaxBytes = DefaultFetchPartitionMaxByte
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultFetchBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.restartWindow <= 0 {
		c.restartWindow = DefaultFetchRestartWindow
	}
}

// followed is one partition a fetcher fetches.
type followed struct {
	tp      cluster.TopicPartition
	topicID [16]byte
	log     Log
	epoch   int32 // the leader epoch followed: the fetch's CurrentLeaderEpoch
	// leaderHW is the leader's high watermark in the last answer, -1
	// before one: the partition's lag is it minus the log end.
	leaderHW atomic.Int64
	// notReadyRetry is the last wait after the leader answered that it
	// does not know the partition, or its leader epoch, yet
	// (leaderNotReady), 0 once a fetch of it succeeds.
	// Only the fetcher's goroutine touches it.
	notReadyRetry time.Duration

	// mu is held while a response is applied to log; stopped is set
	// under it, so once stop returns nothing more touches log.
	mu      sync.Mutex
	stopped bool
}

func (p *followed) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

// Fetcher is the one goroutine that fetches, from one leader broker, every
// partition this broker follows there.
type Fetcher struct {
	leader int32
	req    Requester
	cfg    FetcherConfig

	mu      sync.Mutex // guards parts, retryAt, closed and the restart fields below
	parts   map[cluster.TopicPartition]*followed
	retryAt map[*followed]time.Time // partitions resting after an error
	closed  bool
	// cancelFetch ends the fetch in flight, nil when none is: Add of a
	// partition not fetched yet restarts the fetch (restartLocked), so
	// the new partition is not left waiting out the others' long poll
	// (a follower of a topic just created, or of thousands of partitions
	// a failover moved, would hold acks=all produces up to MaxWait).
	cancelFetch context.CancelFunc
	// added counts the partitions Add made new here; fetchAdded is its
	// value when the request in flight was built, so a fetch that
	// already asks every added partition is not restarted.
	added, fetchAdded uint64
	// lastRestart is when the fetch in flight was last ended for added
	// partitions, and restartTimer the one restart due at the end of
	// its window (nil when none is): a burst of Adds restarts the fetch
	// at most once per restartWindow.
	lastRestart  time.Time
	restartTimer *time.Timer
	// lastAdd is when Add last made a partition new here; inFlightWait
	// is the MaxWait of the fetch in flight. A fetch whose long poll is
	// at most a restart window is never ended for added partitions: it
	// ends by itself within the window, and the next request, in the
	// same session, names them. Ending it instead would throw away its
	// answer and cost a dial and a full fetch (a new session) of every
	// partition fetched; in a burst of Adds, one every window, no answer
	// of a fetcher with thousands of partitions came back for as long
	// as the burst lasted, and acks=all produces to the partitions it
	// follows waited that long.
	lastAdd      time.Time
	inFlightWait time.Duration

	wake   chan struct{} // cap 1: the partition set changed
	cancel context.CancelFunc
	done   chan struct{}

	// Reused from fetch to fetch, so that a steady stream of fetches
	// allocates little; only the goroutine of run touches them (lazily
	// made). fetchReq is a fetch request (its topics' and partitions'
	// room kept); inFlight is what it asks; topicIdx, its topics by name;
	// names, the answer's topic names by ID.
	fetchReq *kmsg.FetchRequest
	inFlight map[cluster.TopicPartition]sent
	topicIdx map[string]int
	names    map[[16]byte]string
	// newEpochs are the partitions of the answer being handled whose
	// records open a new leader epoch (applyNewEpochs).
	newEpochs []applyJob

	// The fetch session (KIP-227) with the leader, touched only by run's
	// goroutine. sessID and sessEpoch are what the next request carries:
	// epoch 0 starts a session (closing sessID's, if any), a later one
	// continues sessID's. sessParts is the leader's view of the session:
	// each partition's fetch state as last sent and answered; sessNext
	// is what it becomes once the request in flight is answered (the
	// partitions of that request, whatever it named). An incremental
	// request names only the partitions whose state differs from
	// sessParts and forgets those no longer fetched, so partitions
	// resting after an error, or throttled, leave the session until
	// they are fetched again.
	sessID    int32
	sessEpoch int32
	sessParts map[cluster.TopicPartition]sessionState
	sessNext  map[cluster.TopicPartition]sessionState
}

// sessionState is what a fetch session holds of a partition: the fetch
// request's fields the follower sets.
type sessionState struct {
	topicID          [16]byte
	fetchOffset      int64
	leaderEpoch      int32
	lastFetchedEpoch int32
	logStartOffset   int64
	maxBytes         int32
}

// request is the fetch request's entry for partition in state st.
func (st sessionState) request(partition int32) kmsg.FetchRequestTopicPartition {
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.CurrentLeaderEpoch = st.leaderEpoch
	rp.FetchOffset = st.fetchOffset
	rp.LastFetchedEpoch = st.lastFetchedEpoch
	rp.LogStartOffset = st.logStartOffset
	rp.PartitionMaxBytes = st.maxBytes
	return rp
}

// resetSession makes the next request start a new session (closing the
// current one on the leader, whose id it carries): after any failed
// fetch, since the leader may have moved the session's epoch on a
// request whose answer was lost.
func (f *Fetcher) resetSession() {
	f.sessEpoch = 0
	clear(f.sessParts)
}

// sessionAnswered moves the session on after a successful answer: a new
// session from epoch 0, the next epoch within one, and the leader's view
// of it to what the request said. A leader that keeps no session for
// us (id 0: cache full, or sessions off) is asked again on the next
// fetch, as Kafka's followers do.
func (f *Fetcher) sessionAnswered(resp *kmsg.FetchResponse) {
	if resp.SessionID == 0 {
		f.sessID = 0
		f.resetSession()
		return
	}
	if f.sessEpoch == 0 || resp.SessionID != f.sessID {
		f.sessID, f.sessEpoch = resp.SessionID, 0
	}
	f.sessEpoch++
	if f.sessEpoch <= 0 {
		f.sessEpoch = 1 // wrapped, as Kafka's epochs wrap
	}
	f.sessParts, f.sessNext = f.sessNext, f.sessParts
}

// sessionError reports an answer by which the leader refused the
// session: the next request starts a new one at once.
func sessionError(err error) bool {
	return errors.Is(err, kerr.FetchSessionIDNotFound) || errors.Is(err, kerr.InvalidFetchSessionEpoch) ||
		errors.Is(err, kerr.FetchSessionTopicIDError)
}

// NewFetcher starts the fetcher of leader, which req reaches. Close stops
// it.
func NewFetcher(leader int32, req Requester, cfg FetcherConfig) *Fetcher {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fetcher{
		leader:  leader,
		req:     req,
		cfg:     cfg,
		parts:   make(map[cluster.TopicPartition]*followed),
		retryAt: make(map[*followed]time.Time),
		wake:    make(chan struct{}, 1),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go f.run(ctx)
	return f
}

// Leader is the broker this fetcher fetches from.
func (f *Fetcher) Leader() int32 { return f.leader }

// Add makes the fetcher fetch state's partition into l, following the
// leader at state.LeaderEpoch; topicID is the topic's ID (Fetch v13+
// names topics by ID). Adding a partition again with a new epoch or log
// replaces it, and clears any error rest: a metadata change is what a
// partition fenced by the leader waits for.
func (f *Fetcher) Add(l Log, state cluster.PartitionState, topicID [16]byte) error {
	if err := truncateUnepoched(l, state); err != nil {
		return err
	}
	p := &followed{tp: state.TP(), topicID: topicID, log: l, epoch: state.LeaderEpoch}
	p.leaderHW.Store(-1)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return fmt.Errorf("replica: follow %s-%d: %w", p.tp.Topic, p.tp.Partition, ErrClosed)
	}
	old := f.parts[p.tp]
	if old != nil && old.log == l && old.epoch == state.LeaderEpoch && old.topicID == topicID {
		delete(f.retryAt, old)
		f.mu.Unlock()
		f.kick()
		return nil
	}
	f.parts[p.tp] = p
	if old != nil {
		delete(f.retryAt, old)
	} else {
		f.added++
		now := time.Now()
		f.lastAdd = now
		f.restartLocked(now)
	}
	f.mu.Unlock()
	if old != nil {
		old.stop()
	}
	f.kick()
	return nil
}

// restartLocked ends the fetch in flight if it leaves out a partition
// added since it was built: at once if the last such restart is a window
// ago, else once at the window's end (restartDue), so that a burst of
// Adds costs one restart per window, not one each. Called with f.mu held.
func (f *Fetcher) restartLocked(now time.Time) {
	if f.cancelFetch == nil || f.fetchAdded == f.added || f.restartTimer != nil || f.closed ||
		f.inFlightWait <= f.cfg.restartWindow {
		// Between fetches the next request asks the added partitions
		// (run checks it was built after them); a restart already due
		// will; a fetch long-polling a window at most ends by itself
		// as soon.
		return
	}
	if wait := f.lastRestart.Add(f.cfg.restartWindow).Sub(now); wait > 0 {
		f.restartTimer = time.AfterFunc(wait, f.restartDue)
		return
	}
	f.lastRestart = now
	f.cancelFetch()
	f.cancelFetch = nil
	f.cfg.Stats.restart()
}

// burstMaxWait is the longest a fetch built at now may long-poll: one
// restart window while partitions are being added (the last Add is less
// than addBurstWindows windows ago), else MaxWait. Called with f.mu held.
func (f *Fetcher) burstMaxWait(now time.Time) time.Duration {
	w := f.cfg.restartWindow
	if f.lastAdd.IsZero() || now.Sub(f.lastAdd) >= addBurstWindows*w || w >= f.cfg.MaxWait {
		return f.cfg.MaxWait
	}
	return max(w, time.Millisecond)
}

// restartDue is the restart of a window's end.
func (f *Fetcher) restartDue() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restartTimer = nil
	f.restartLocked(time.Now())
}

// truncateUnepoched cuts a log that has records but no epochs to its high
// watermark: it cannot name its last fetched epoch, so its leader cannot
// find where it diverges. Kafka's followers did the same before KIP-101
// (what is above the high watermark was never committed here).
func truncateUnepoched(l Log, state cluster.PartitionState) error {
	if l.LeaderEpoch() >= 0 || l.NextOffset() <= l.HighWatermark() {
		return nil
	}
	if _, err := l.Truncate(l.HighWatermark()); err != nil {
		return fmt.Errorf("replica: follow %s-%d: truncate a log without epochs to its high watermark: %w",
			state.Topic, state.Partition, err)
	}
	return nil
}

// Remove stops fetching tp. Once it returns, the fetcher no longer touches
// the partition's log. It reports whether tp was fetched here.
func (f *Fetcher) Remove(tp cluster.TopicPartition) bool {
	f.mu.Lock()
	p := f.parts[tp]
	delete(f.parts, tp)
	if p != nil {
		delete(f.retryAt, p)
	}
	f.mu.Unlock()
	if p != nil {
		p.stop()
	}
	return p != nil
}

// Len is the number of partitions fetched here.
func (f *Fetcher) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

// Close stops the fetcher's goroutine, waits for it, and stops every
// partition.
func (f *Fetcher) Close() {
	f.mu.Lock()
	f.closed = true
	if f.restartTimer != nil {
		f.restartTimer.Stop()
		f.restartTimer = nil
	}
	f.mu.Unlock()
	f.cancel()
	<-f.done
	f.mu.Lock()
	parts := f.parts
	f.parts = map[cluster.TopicPartition]*followed{}
	f.mu.Unlock()
	for _, p := range parts {
		p.stop()
	}
}

func (f *Fetcher) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// sleep waits d, or less if the partition set changes; false if ctx ended.
func (f *Fetcher) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-f.wake:
		return true
	case <-t.C:
		return true
	}
}

// sent is one partition of a request in flight.
type sent struct {
	p           *followed
	fetchOffset int64
	throttled   bool // its bytes are taken from FetcherConfig.Throttle
}

func (f *Fetcher) run(ctx context.Context) {
	defer close(f.done)
	backoff := time.Duration(0)
	sessionRetried := false // the last request failed on a session error
	for {
		req, inFlight, idle := f.buildRequest(time.Now())
		wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
		if len(inFlight) == 0 {
			if !f.sleep(ctx, idle) {
				return
			}
			continue
		}
		fetchCtx, cancel := context.WithCancel(ctx)
		f.mu.Lock()
		if now := time.Now(); f.fetchAdded != f.added && now.Sub(f.lastRestart) >= f.cfg.restartWindow {
			// A partition was added while the request was built: build
			// it again with it. Nothing was sent, so the connection and
			// the session are as they were. Once a window, as a restart:
			// a burst of Adds must not keep the fetch from going out.
			f.lastRestart = now
			f.mu.Unlock()
			cancel()
			continue
		}
		f.cancelFetch = cancel
		f.inFlightWait = wait
		// Within the window, the partitions added meanwhile are fetched
		// at its end.
		f.restartLocked(time.Now())
		f.mu.Unlock()
		start := time.Now()
		f.cfg.Stats.request()
		resp, err := f.fetch(fetchCtx, req)
		f.mu.Lock()
		f.cancelFetch = nil
		f.mu.Unlock()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The leader may have moved the session's epoch on a
			// request whose answer is lost: start a new one.
			f.resetSession()
		}
		if err != nil && errors.Is(err, context.Canceled) {
			// Ended by Add of a new partition (restartLocked): fetch
			// again at once, with it. Nothing of the answer was applied;
			// the connection is dialed again.
			continue
		}
		if err != nil && sessionError(err) && !sessionRetried {
			// Evicted, or out of step: a new session at once, once.
			sessionRetried = true
			continue
		}
		if err != nil {
			f.cfg.Stats.fetchError(err, FetchErrorNetwork)
			backoff = min(max(2*backoff, firstBackoff), f.cfg.Backoff)
			f.cfg.Logger.Warn("replica fetch failed", "leader", f.leader, "partitions", len(inFlight), "err", err, "retry_in", backoff)
			if !f.sleep(ctx, backoff) {
				return
			}
			continue
		}
		backoff = 0
		sessionRetried = false
		f.sessionAnswered(resp)
		progress, rested := f.handleResponse(ctx, resp, inFlight)
		// A leader answers a fetch with nothing new only after its max
		// wait; one that answers at once must not make this loop spin. An
		// answer that rested a partition needs no wait: that partition
		// is left out of the next request until its retry is due, so
		// the rests bound the loop.
		if !progress && !rested {
			if rest := wait - time.Since(start); rest > 0 && !f.sleep(ctx, rest) {
				return
			}
		}
	}
}

// fetch sends req and checks the response is a Fetch of a version that
// can carry DivergingEpoch.
func (f *Fetcher) fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	var resp *kmsg.FetchResponse
	if fr, ok := f.req.(fetchRequester); ok {
		var err error
		if resp, err = fr.Fetch(ctx, req); err != nil {
			return nil, fmt.Errorf("replica: fetch from broker %d: %w", f.leader, err)
		}
	} else {
		r, err := f.req.Request(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("replica: fetch from broker %d: %w", f.leader, err)
		}
		if resp, ok = r.(*kmsg.FetchResponse); !ok {
			return nil, fmt.Errorf("replica: fetch from broker %d: response is %T", f.leader, r)
		}
	}
	if resp.Version < minFetchVersion {
		return nil, fmt.Errorf("replica: fetch from broker %d: answered at Fetch v%d, replication needs v%d+", f.leader, resp.Version, minFetchVersion)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("replica: fetch from broker %d: %w", f.leader, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp, nil
}

// buildRequest builds a fetch of every partition not resting after an
// error: in full when it starts a session, else naming only what changed
// in the session (sessNext is the session it asks for). With none, idle
// is how long until one is due; with some, the request's max wait ends
// when the first resting one is due, so a short retry is not held up by
// the others' long poll.
func (f *Fetcher) buildRequest(now time.Time) (*kmsg.FetchRequest, map[cluster.TopicPartition]sent, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	idle := time.Minute
	if f.fetchReq == nil {
		f.fetchReq = kmsg.NewPtrFetchRequest()
		f.inFlight = make(map[cluster.TopicPartition]sent, len(f.parts))
		f.topicIdx = make(map[string]int, 4)
		f.sessParts = make(map[cluster.TopicPartition]sessionState, len(f.parts))
		f.sessNext = make(map[cluster.TopicPartition]sessionState, len(f.parts))
	}
	f.fetchAdded = f.added
	req := f.fetchReq
	topics := req.Topics[:0]
	*req = kmsg.NewFetchRequest()
	req.ReplicaID = f.cfg.Self
	req.ReplicaState.ID = f.cfg.Self
	req.ReplicaState.Epoch = f.cfg.BrokerEpoch
	req.MaxWaitMillis = int32(f.cfg.MaxWait / time.Millisecond)
	req.MinBytes = f.cfg.MinBytes
	req.MaxBytes = f.cfg.MaxBytes
	req.SessionID = f.sessID
	req.SessionEpoch = f.sessEpoch // 0: start a session, in full
	incremental := f.sessEpoch > 0
	next := f.sessNext
	clear(next)
	inFlight := f.inFlight
	clear(inFlight)
	clear(f.topicIdx)
	resting := false
	for tp, p := range f.parts {
		if at, ok := f.retryAt[p]; ok {
			if at.After(now) {
				idle = min(idle, at.Sub(now))
				resting = true
				continue
			}
			delete(f.retryAt, p)
		}
		throttled := f.cfg.Throttle != nil && f.cfg.Throttled != nil && f.cfg.Throttled(tp)
		if throttled {
			if d := f.cfg.Throttle.Delay(); d > 0 {
				// Over follower.replication.throttled.rate: fetched
				// again once the bucket is out of debt.
				idle = min(idle, d)
				resting = true
				continue
			}
		}
		off := p.log.NextOffset()
		st := sessionState{topicID: p.topicID, fetchOffset: off, leaderEpoch: p.epoch,
			lastFetchedEpoch: p.log.LeaderEpoch(), logStartOffset: p.log.StartOffset(), maxBytes: f.cfg.PartitionMaxBytes}
		next[tp] = st
		inFlight[tp] = sent{p: p, fetchOffset: off, throttled: throttled}
		if was, ok := f.sessParts[tp]; incremental && ok && was == st {
			continue // the leader's session has it as it is
		}
		i, ok := f.topicIdx[tp.Topic]
		if !ok {
			i = len(topics)
			f.topicIdx[tp.Topic] = i
			var room []kmsg.FetchRequestTopicPartition
			if i < cap(topics) {
				room = topics[:i+1][i].Partitions[:0] // the last request's, reused
			}
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID, t.Partitions = tp.Topic, p.topicID, room
			topics = append(topics, t)
		}
		topics[i].Partitions = append(topics[i].Partitions, st.request(tp.Partition))
	}
	req.Topics = topics
	if len(inFlight) == 0 {
		// Nothing to fetch: the next fetch starts a session afresh.
		f.resetSession()
	} else if incremental {
		f.forgetLeft(req)
	}
	if resting && idle < f.cfg.MaxWait {
		// Whole milliseconds, rounded up: the retry is due when it ends.
		req.MaxWaitMillis = int32((idle + time.Millisecond - 1) / time.Millisecond)
	}
	if w := f.burstMaxWait(now); w < time.Duration(req.MaxWaitMillis)*time.Millisecond {
		req.MaxWaitMillis = int32(w / time.Millisecond)
	}
	return req, inFlight, idle
}

// forgetLeft adds to req the partitions of the leader's session that
// the fetch leaves out. A partition whose topic ID changed under the
// same name cannot be forgotten and added in one request of a session
// keyed by name (the leader adds first): the session starts over.
func (f *Fetcher) forgetLeft(req *kmsg.FetchRequest) {
	forgotten := req.ForgottenTopics[:0]
	for tp, was := range f.sessParts {
		if now, ok := f.sessNext[tp]; ok {
			if now.topicID != was.topicID {
				f.resetSession()
				req.SessionEpoch = 0
				req.ForgottenTopics = nil
				f.fullRequest(req)
				return
			}
			continue
		}
		i := slices.IndexFunc(forgotten, func(ft kmsg.FetchRequestForgottenTopic) bool {
			return ft.Topic == tp.Topic && ft.TopicID == was.topicID
		})
		if i < 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID = tp.Topic, was.topicID
			forgotten = append(forgotten, ft)
			i = len(forgotten) - 1
		}
		forgotten[i].Partitions = append(forgotten[i].Partitions, tp.Partition)
	}
	req.ForgottenTopics = forgotten
}

// fullRequest rebuilds req's topics from sessNext: every partition it
// fetches, for a request that starts a session.
func (f *Fetcher) fullRequest(req *kmsg.FetchRequest) {
	clear(f.topicIdx)
	topics := req.Topics[:0]
	for tp, st := range f.sessNext {
		i, ok := f.topicIdx[tp.Topic]
		if !ok {
			i = len(topics)
			f.topicIdx[tp.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = tp.Topic, st.topicID
			topics = append(topics, t)
		}
		topics[i].Partitions = append(topics[i].Partitions, st.request(tp.Partition))
	}
	req.Topics = topics
}

// handleResponse applies every partition of resp that is still fetched
// as sent. It reports whether any log moved, and whether any partition
// was rested after an error.
func (f *Fetcher) handleResponse(ctx context.Context, resp *kmsg.FetchResponse, inFlight map[cluster.TopicPartition]sent) (progress, rested bool) {
	if f.names == nil {
		f.names = make(map[[16]byte]string, len(inFlight))
	}
	names := f.names
	clear(names)
	for tp, s := range inFlight {
		names[s.p.topicID] = tp.Topic
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		topic := rt.Topic
		if resp.Version >= 13 {
			topic = names[rt.TopicID]
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			s, ok := inFlight[cluster.TopicPartition{Topic: topic, Partition: rp.Partition}]
			if !ok {
				continue // not asked, or asked twice: ignore
			}
			delete(inFlight, s.p.tp)
			if s.throttled {
				f.cfg.Throttle.Record(len(rp.RecordBatches))
			}
			if opensEpoch(s.p, rp) {
				f.newEpochs = append(f.newEpochs, applyJob{s: s, rp: rp})
				continue
			}
			moved, err := f.handlePartition(ctx, s, rp)
			progress = progress || moved
			if err != nil {
				f.rest(s.p, err)
				rested = true
			} else {
				s.p.notReadyRetry = 0
			}
		}
	}
	if len(f.newEpochs) > 0 {
		f.applyNewEpochs(ctx)
		for i := range f.newEpochs {
			j := &f.newEpochs[i]
			progress = progress || j.moved
			if j.err != nil {
				f.rest(j.s.p, j.err)
				rested = true
			} else {
				j.s.p.notReadyRetry = 0
			}
		}
		clear(f.newEpochs)
		f.newEpochs = f.newEpochs[:0]
	}
	return progress, rested
}

// newEpochWorkers bounds the partitions of one answer whose records open
// a leader epoch new to the follower's log that are applied at once.
const newEpochWorkers = 16

// applyJob is a partition of an answer applied apart (applyNewEpochs).
type applyJob struct {
	s     sent
	rp    *kmsg.FetchResponseTopicPartition
	moved bool
	err   error
}

// opensEpoch reports whether rp's records begin with a leader epoch newer
// than the follower's log knows: appending them writes the log's epoch
// checkpoint (two fsyncs).
func opensEpoch(p *followed, rp *kmsg.FetchResponseTopicPartition) bool {
	if rp.ErrorCode != 0 || rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0 || len(rp.RecordBatches) == 0 {
		return false
	}
	h, err := recordbatch.ParseHeader(rp.RecordBatches)
	return err == nil && h.PartitionLeaderEpoch > p.log.LeaderEpoch()
}

// applyNewEpochs applies f.newEpochs, up to newEpochWorkers at once. After
// a leader fails over, the first answers from each new leader carry the
// first records of its new epoch for many partitions at once; one at a
// time, their epoch checkpoints held every other partition of the answer
// (and the acks=all produces waiting for them) for seconds. The
// partitions' logs are independent, and each is applied under its own
// mu, as handlePartition always is.
func (f *Fetcher) applyNewEpochs(ctx context.Context) {
	jobs := f.newEpochs
	if len(jobs) == 1 {
		jobs[0].moved, jobs[0].err = f.handlePartition(ctx, jobs[0].s, jobs[0].rp)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(jobs), newEpochWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := &jobs[i]
				j.moved, j.err = f.handlePartition(ctx, j.s, j.rp)
			}
		}()
	}
	wg.Wait()
}

// leaderNotReady reports an error answer by which the leader says it does
// not know the partition (yet): each broker opens a new topic's
// partitions when it sees the topic in the metadata, so a follower's
// first fetch can reach the leader's broker before it has. So does
// UNKNOWN_LEADER_EPOCH: the follower's leader epoch is newer than the
// one the leader leads under, which it has not applied yet (it leads
// again after losing the partition, and takes it over under the new
// epoch); it is answered so at once, not held, and a rest of the whole
// backoff delayed the acks=all produces waiting for this follower.
func leaderNotReady(err error) bool {
	return errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition) ||
		errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownLeaderEpoch)
}

// rest pauses p after err: for the backoff, or, while the leader does not
// know p yet, for a short wait that doubles from firstNotReadyRetry up to
// the backoff (a fetch of p that succeeds starts it over).
func (f *Fetcher) rest(p *followed, err error) {
	f.cfg.Stats.fetchError(err, kerr.UnknownServerError.Message)
	wait := f.cfg.Backoff
	if leaderNotReady(err) {
		// While partitions are being added the fetches long-poll one
		// window (burstMaxWait), and the leader holds a partition it is
		// about to lead no longer than that (the server's awaitLeading):
		// asking again after a window keeps what the hold of a long
		// poll gave, where doubling rests of short holds left a
		// partition a failover moved resting for hundreds of ms after
		// its new leader took it over.
		f.mu.Lock()
		burst := f.burstMaxWait(time.Now())
		f.mu.Unlock()
		p.notReadyRetry = min(max(2*p.notReadyRetry, firstNotReadyRetry), f.cfg.Backoff, max(burst, firstNotReadyRetry))
		wait = p.notReadyRetry
	}
	level := slog.LevelWarn
	if wait < f.cfg.Backoff {
		level = slog.LevelDebug // expected for a moment after a topic is created
	}
	f.cfg.Logger.Log(context.Background(), level, "replica fetch partition error", "leader", f.leader, "topic", p.tp.Topic, "partition", p.tp.Partition, "epoch", p.epoch, "err", err, "retry_in", wait)
	f.mu.Lock()
	if f.parts[p.tp] == p {
		f.retryAt[p] = time.Now().Add(wait)
	}
	f.mu.Unlock()
}

// handlePartition applies one partition's answer to its log.
func (f *Fetcher) handlePartition(ctx context.Context, s sent, rp *kmsg.FetchResponseTopicPartition) (bool, error) {
	p := s.p
	if rp.ErrorCode != 0 {
		err := kerr.ErrorForCode(rp.ErrorCode)
		if errors.Is(err, kerr.OffsetOutOfRange) {
			return f.handleOutOfRange(ctx, s)
		}
		// NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH
		// and the like: rest until the metadata changes (Add) or the
		// backoff ends.
		return false, fmt.Errorf("replica: fetch %s-%d at %d from broker %d: %w", p.tp.Topic, p.tp.Partition, s.fetchOffset, f.leader, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.log.NextOffset() != s.fetchOffset {
		return false, nil // stopped or replaced meanwhile: the answer is stale
	}
	if rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0 {
		return truncateDiverged(p, s.fetchOffset, DivergingEpoch{Epoch: rp.DivergingEpoch.Epoch, EndOffset: rp.DivergingEpoch.EndOffset})
	}
	moved := false
	if len(rp.RecordBatches) > 0 {
		n, err := fetchedBatches(rp.RecordBatches, p.epoch)
		if err != nil {
			return false, fmt.Errorf("replica: fetch %s-%d at %d from broker %d: %w", p.tp.Topic, p.tp.Partition, s.fetchOffset, f.leader, err)
		}
		if err := appendFetched(p.log, rp.RecordBatches[:n]); err != nil {
			if refusedRecords(err) {
				err = fmt.Errorf("%w: %w", ErrCorruptFetch, err)
			}
			return false, fmt.Errorf("replica: append %s-%d at %d from broker %d: %w", p.tp.Topic, p.tp.Partition, s.fetchOffset, f.leader, err)
		}
		moved = true
	}
	if rp.HighWatermark >= 0 {
		p.leaderHW.Store(rp.HighWatermark)
		if p.log.SetHighWatermark(min(rp.HighWatermark, p.log.NextOffset())) {
			moved = true
		}
	}
	// The leader's log start offset, moved up by its retention or
	// DeleteRecords (Kafka's follower does the same after each fetch).
	if rp.LogStartOffset > p.log.StartOffset() {
		if err := p.log.MaybeIncrementLogStartOffset(rp.LogStartOffset); err != nil {
			return moved, fmt.Errorf("replica: %s-%d: follow the leader's log start offset %d from broker %d: %w",
				p.tp.Topic, p.tp.Partition, rp.LogStartOffset, f.leader, err)
		}
		moved = true
	}
	return moved, nil
}

// fetchedBatches is what the fetch protocol decides about a fetch
// answer's records before they reach the log, whose AppendAsFollower
// validates the batches themselves (log.ValidateBatches as a leader's
// batches: framing and CRC) and their offsets: a last batch the
// leader cut at the size limit (Kafka leaders may send one) is left out,
// to be fetched again whole, and a batch stamped with an epoch newer
// than the leader's we follow is refused (ErrCorruptFetch). It returns
// how many bytes to append. Bytes that do not frame as a batch (other
// than that cut last one) are handed on as they are: the log refuses
// them.
func fetchedBatches(b []byte, leaderEpoch int32) (int, error) {
	pos := 0
	for pos < len(b) {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil {
			if errors.Is(err, recordbatch.ErrTruncated) && pos > 0 {
				return pos, nil
			}
			return len(b), nil
		}
		if h.PartitionLeaderEpoch > leaderEpoch {
			return 0, fmt.Errorf("%w: batch at offset %d has leader epoch %d, leader is at %d", ErrCorruptFetch, h.BaseOffset, h.PartitionLeaderEpoch, leaderEpoch)
		}
		pos += h.Size()
	}
	return pos, nil
}

// appendFetched appends batches to l as a follower. As Kafka's follower
// does, an empty log that starts inside the first batch (a follower
// restarted at its leader's log start, which DeleteRecords may have put
// inside a batch, is answered with that batch whole), which the log
// refuses as not continuing it, restarts at the batch's base offset and
// takes it then; the leader's log start is followed up again after the
// append.
func appendFetched(l Log, batches []byte) error {
	_, err := l.AppendAsFollower(batches)
	if err == nil || !errors.Is(err, log.ErrUnexpectedAppendOffset) {
		return err
	}
	leo := l.NextOffset()
	h, herr := recordbatch.ParseHeader(batches) // the log validated it
	if herr != nil || leo != l.StartOffset() || h.BaseOffset >= leo || h.LastOffset() < leo {
		return err
	}
	if terr := l.TruncateFullyAndStartAt(h.BaseOffset); terr != nil {
		return fmt.Errorf("restart at the first fetched batch's base offset %d: %w", h.BaseOffset, terr)
	}
	_, err = l.AppendAsFollower(batches)
	return err
}

// refusedRecords reports an error of AppendAsFollower that is about the
// records it was given (they do not check out, or do not continue the
// log), not about the log.
func refusedRecords(err error) bool {
	for _, e := range []error{log.ErrCorruptBatch, log.ErrInvalidRecord, log.ErrMessageTooLarge, log.ErrUnexpectedAppendOffset} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// truncateDiverged cuts the follower's log where the leader says its
// history diverges (KIP-320): the leader's epochs up to the follower's
// last fetched one end at div.EndOffset with epoch div.Epoch (which may
// be at or past fetchOffset when div.Epoch is older than the follower's
// last epoch: KIP-279's case of epochs the leader never had). Every
// follower record from min(div.EndOffset, where the follower's own epochs
// up to div.Epoch end) on is of an epoch the leader does not hold there,
// so it goes; the next fetch carries the follower's new last epoch and
// the leader checks again, until they agree. Caller holds p.mu.
func truncateDiverged(p *followed, fetchOffset int64, div DivergingEpoch) (bool, error) {
	leo := p.log.NextOffset()
	if div.EndOffset < 0 {
		return false, fmt.Errorf("%w: %s-%d: diverging epoch %d ends at %d, fetch was at %d",
			ErrCorruptFetch, p.tp.Topic, p.tp.Partition, div.Epoch, div.EndOffset, fetchOffset)
	}
	ownEpoch, ownEnd := p.log.EndOffsetForEpoch(div.Epoch)
	target := min(div.EndOffset, ownEnd)
	if ownEpoch < 0 {
		// No epoch of this log is as old as the leader's: none of its
		// records can match the leader's.
		target = p.log.StartOffset()
	}
	// At the log end only epochs this replica began as leader and
	// appended nothing in can go (Kafka's truncateTo): its successor never
	// saw them. With none, the answer would move nothing and the follower
	// would ask again for ever.
	atEnd := target == leo && p.log.LeaderEpoch() > div.Epoch
	if target >= leo && !atEnd {
		return false, fmt.Errorf("%w: %s-%d: diverging epoch %d at %d cuts nothing from a log ending at %d",
			ErrCorruptFetch, p.tp.Topic, p.tp.Partition, div.Epoch, div.EndOffset, leo)
	}
	if _, err := p.log.Truncate(target); err != nil {
		return false, fmt.Errorf("replica: truncate %s-%d to %d (diverging epoch %d ends at %d): %w",
			p.tp.Topic, p.tp.Partition, target, div.Epoch, div.EndOffset, err)
	}
	if atEnd && p.log.LeaderEpoch() > div.Epoch {
		return false, fmt.Errorf("%w: %s-%d: diverging epoch %d at %d: the epochs after it begin at the log end %d and truncating there kept them",
			ErrCorruptFetch, p.tp.Topic, p.tp.Partition, div.Epoch, div.EndOffset, leo)
	}
	return true, nil
}

// handleOutOfRange recovers from OFFSET_OUT_OF_RANGE as Kafka's follower
// does: it asks the leader for its log end and start; a leader end below
// this log's end (only after an unclean election) truncates to it; a
// leader start past this log's end restarts the log empty there.
func (f *Fetcher) handleOutOfRange(ctx context.Context, s sent) (bool, error) {
	p := s.p
	ctx, cancel := context.WithTimeout(ctx, listOffsetsTimeout)
	defer cancel()
	leaderEnd, err := f.listOffset(ctx, p, -1)
	if err != nil {
		return false, err
	}
	leaderStart, err := f.listOffset(ctx, p, -2)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.log.NextOffset() != s.fetchOffset {
		return false, nil
	}
	leo := p.log.NextOffset()
	switch {
	case leaderEnd < leo:
		f.cfg.Logger.Warn("replica truncating to a leader end below its own (unclean leader election?)",
			"topic", p.tp.Topic, "partition", p.tp.Partition, "leader", f.leader, "leader_end", leaderEnd, "log_end", leo)
		if _, err := p.log.Truncate(leaderEnd); err != nil {
			return false, fmt.Errorf("replica: truncate %s-%d to leader end %d: %w", p.tp.Topic, p.tp.Partition, leaderEnd, err)
		}
		return true, nil
	case leaderStart > leo:
		f.cfg.Logger.Info("replica restarting its log at the leader's log start offset, past its own end",
			"topic", p.tp.Topic, "partition", p.tp.Partition, "leader", f.leader, "leader_start", leaderStart, "log_end", leo)
		if err := p.log.TruncateFullyAndStartAt(leaderStart); err != nil {
			return false, fmt.Errorf("replica: restart %s-%d at leader start %d: %w", p.tp.Topic, p.tp.Partition, leaderStart, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("replica: fetch %s-%d at %d from broker %d: out of range of leader's [%d, %d]",
		p.tp.Topic, p.tp.Partition, s.fetchOffset, f.leader, leaderStart, leaderEnd)
}

// listOffset asks the leader, as a replica, for its log end (ts -1) or
// start (ts -2) offset of p.
func (f *Fetcher) listOffset(ctx context.Context, p *followed, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = f.cfg.Self
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = p.tp.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = p.tp.Partition
	rp.CurrentLeaderEpoch = p.epoch
	rp.Timestamp = ts
	t.Partitions = append(t.Partitions, rp)
	req.Topics = append(req.Topics, t)
	r, err := f.req.Request(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("replica: list offsets of %s-%d from broker %d: %w", p.tp.Topic, p.tp.Partition, f.leader, err)
	}
	resp, ok := r.(*kmsg.ListOffsetsResponse)
	if !ok {
		return 0, fmt.Errorf("replica: list offsets of %s-%d from broker %d: response is %T", p.tp.Topic, p.tp.Partition, f.leader, r)
	}
	for _, rt := range resp.Topics {
		if rt.Topic != p.tp.Topic {
			continue
		}
		for _, rp := range rt.Partitions {
			if rp.Partition != p.tp.Partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return 0, fmt.Errorf("replica: list offsets of %s-%d from broker %d: %w", p.tp.Topic, p.tp.Partition, f.leader, err)
			}
			return rp.Offset, nil
		}
	}
	return 0, fmt.Errorf("replica: list offsets of %s-%d from broker %d: partition missing from the answer", p.tp.Topic, p.tp.Partition, f.leader)
}
