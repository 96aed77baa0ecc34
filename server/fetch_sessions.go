package server

// Incremental fetch sessions (KIP-227), Fetch v7 and later.
//
// A client that sends SessionEpoch 0 asks for a session: the fetch is
// answered in full and, if the cache has a slot, the response carries a
// new session id (random, positive: franz-go drops sessions whose id is
// not). The session remembers every partition of that request with what
// the client asked (fetch offset, partition max bytes, leader epochs) and
// what the response told it (high watermark, last stable offset, log
// start offset, preferred read replica). From then on the client sends
// the id with epochs 1, 2, ... and names only the partitions whose fetch
// state changed (added or updated in the session) and the ones to drop
// (ForgottenTopics); the broker reads every partition of the session and
// answers only those with records, an error, a diverging epoch, or a
// changed high watermark, last stable offset, log start offset or
// preferred replica. Partitions answered move to the end of the session,
// so that under MaxBytes the others are read first next time.
//
//	epoch -1, id 0   full fetch, no session (id 0 in the response)
//	epoch -1, id N   closes session N, then as above
//	epoch  0, id 0   full fetch, starts a session if a slot is free
//	epoch  0, id N   closes session N, then as above
//	epoch  E, id N   incremental: E must be N's next epoch
//	                 (INVALID_FETCH_SESSION_EPOCH), N must exist and
//	                 belong to this principal (FETCH_SESSION_ID_NOT_FOUND),
//	                 and name topics as the session does, by ID from v13
//	                 or by name before (FETCH_SESSION_TOPIC_ID_ERROR)
//
// Sessions are the broker's, keyed by id, not the connection's: a client
// may carry on a session over a new connection. Each request is read and
// authorized as a full fetch of the session's partitions would be, so a
// principal that loses Read gets TOPIC_AUTHORIZATION_FAILED on the next
// incremental fetch, and a long poll with nothing new waits as a full
// fetch does.
//
// The cache holds max.incremental.fetch.session.cache.slots sessions and
// evicts as Kafka's FetchSessionCache: first a session idle for
// min.incremental.fetch.session.eviction.ms; otherwise, for a follower's
// new session (privileged), a consumer's session or any session older
// than that; for a consumer's, a consumer's session older than that with
// fewer partitions. With nothing to evict the new session is not made and
// the client fetches in full (franz-go and the Java client then stop
// asking). Kafka bounds only the number of sessions; the partitions they
// hold are bounded too (fetchSessionMaxPartitions), since an incremental
// fetch may add partitions to a session every round, and a follower's
// fetch cancelled mid-way can leave a session behind that only eviction
// removes.
//
// Locking: fetchSessionCache.mu guards the map of sessions and each
// session's lastUsed and size; fetchSession.mu guards a session's epoch
// and partitions. The two are never held together: a session is looked
// up under cache.mu, then used under its own mu, and a fetch that finds
// it closed meanwhile (evicted, or closed by its client) answers
// FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH.

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

const (
	// DefaultFetchSessionCacheSlots is
	// max.incremental.fetch.session.cache.slots, Kafka's default.
	DefaultFetchSessionCacheSlots = 1000
	// fetchSessionEvictAfter is Kafka's
	// min.incremental.fetch.session.eviction.ms: a session idle this long
	// is evicted first, and a younger one is safe from eviction by a
	// session of its own kind.
	fetchSessionEvictAfter = 120 * time.Second
	// fetchSessionMaxPartitions bounds the partitions all sessions hold
	// (~250 bytes each, so ~60 MB): a session that would grow the total
	// past it is closed, and one that would start past it evicts as for
	// a slot, or is not made.
	fetchSessionMaxPartitions = 250_000
	// fetchSessionVersion is the first Fetch version with sessions.
	fetchSessionVersion = 7
	// fetchSessionIDsVersion is the first Fetch version naming topics by
	// ID, in sessions too.
	fetchSessionIDsVersion = 13
)

// sessionKey names a partition of a session: by topic ID in sessions of
// v13+, by name before.
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessionPart is one partition of a session.
type sessionPart struct {
	key   sessionKey
	topic string   // the request's topic name (empty from v13)
	id    [16]byte // the request's topic ID (zero before v13)
	// req is what the client last asked of the partition.
	req kmsg.FetchRequestTopicPartition
	// What the last response that carried the partition told the client;
	// -1 until one did, so a partition joining a session is answered.
	highWatermark, lastStable, logStart int64
	preferred                           int32
}

// fetchSession is one client's session.
type fetchSession struct {
	id         int32
	privileged bool // a follower's: Kafka keeps these over consumers'
	principal  auth.Principal
	usesIDs    bool // made by Fetch v13+: topics named by ID
	created    time.Time

	mu sync.Mutex // guards the fields below
	// epoch is what the next incremental fetch must carry.
	epoch  int32
	parts  map[sessionKey]*sessionPart
	order  []*sessionPart // the order partitions are read and answered in
	closed bool           // removed from the cache: its id is no longer valid

	// Guarded by the cache's mu.
	lastUsed time.Time
	size     int // partitions, as last counted in the cache's total
}

// nextEpoch is the epoch after e: 1 after math.MaxInt32, as Kafka wraps.
func nextEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// fetchSessionCache is the broker's sessions.
type fetchSessionCache struct {
	slots      int
	evictAfter time.Duration

	mu         sync.Mutex // guards the fields below and sessions' lastUsed and size
	sessions   map[int32]*fetchSession
	partitions int // sum of the sessions' sizes

	evictions prometheus.Counter
	requests  *prometheus.CounterVec // {kind}: full, incremental, sessionless
	byKind    [3]prometheus.Counter
}

// Request kinds, the label of tributary_fetch_session_requests_total.
const (
	fetchFull        = iota // epoch 0: a full fetch that may start a session
	fetchIncremental        // a session's fetch
	fetchSessionless        // epoch -1, or a version without sessions
)

var fetchKindNames = [...]string{"full", "incremental", "sessionless"}

func newFetchSessionCache(slots int, reg prometheus.Registerer) *fetchSessionCache {
	fc := &fetchSessionCache{
		slots:      slots,
		evictAfter: fetchSessionEvictAfter,
		sessions:   make(map[int32]*fetchSession),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_fetch_session_evictions_total",
			Help: "Fetch sessions evicted to make room for new ones (Kafka's IncrementalFetchSessionEvictionsPerSec).",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetch_session_requests_total",
			Help: "Fetch requests by kind: full (session epoch 0, may start a session), incremental (within a session), sessionless (epoch -1, or Fetch before v7).",
		}, []string{"kind"}),
	}
	for i, name := range fetchKindNames {
		fc.byKind[i] = fc.requests.WithLabelValues(name)
	}
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tributary_fetch_sessions",
		Help: "Incremental fetch sessions cached (Kafka's NumIncrementalFetchSessions), at most max.incremental.fetch.session.cache.slots.",
	}, func() float64 {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return float64(len(fc.sessions))
	})
	parts := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tributary_fetch_session_partitions",
		Help: "Partitions held by the cached fetch sessions (Kafka's NumIncrementalFetchPartitionsCached).",
	}, func() float64 {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return float64(fc.partitions)
	})
	reg.MustRegister(fc.evictions, fc.requests, sessions, parts)
	return fc
}

// get returns session id, nil if there is none.
func (fc *fetchSessionCache) get(id int32) *fetchSession {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.sessions[id]
}

// remove drops session id if principal owns it: another principal may
// not close a session it could not use.
func (fc *fetchSessionCache) remove(id int32, principal auth.Principal) {
	fc.mu.Lock()
	s := fc.sessions[id]
	if s == nil || s.principal != principal {
		fc.mu.Unlock()
		return
	}
	fc.mu.Unlock()
	fc.drop(s)
}

// drop removes s from the cache and closes it.
func (fc *fetchSessionCache) drop(s *fetchSession) {
	fc.mu.Lock()
	fc.removeLocked(s)
	fc.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// removeLocked drops s from the cache; fc.mu is held. The caller marks s
// closed once it has let go of fc.mu.
func (fc *fetchSessionCache) removeLocked(s *fetchSession) {
	if fc.sessions[s.id] != s {
		return
	}
	delete(fc.sessions, s.id)
	fc.partitions -= s.size
	s.size = 0
}

// touch records a use of s, which now holds size partitions. It reports
// false, having removed s, if the partitions of all sessions would exceed
// fetchSessionMaxPartitions.
func (fc *fetchSessionCache) touch(s *fetchSession, size int, now time.Time) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.sessions[s.id] != s {
		return true // evicted meanwhile: its next fetch learns it
	}
	if fc.partitions-s.size+size > fetchSessionMaxPartitions {
		fc.removeLocked(s)
		return false
	}
	fc.partitions += size - s.size
	s.size = size
	s.lastUsed = now
	return true
}

// create adds s, of size partitions, if a slot is free or can be freed by
// eviction, giving it a new id; it reports whether it did.
func (fc *fetchSessionCache) create(s *fetchSession, size int, now time.Time) bool {
	fc.mu.Lock()
	if fc.slots <= 0 || size > fetchSessionMaxPartitions {
		fc.mu.Unlock()
		return false
	}
	// Evict for a slot, and for room under the bound on partitions: a
	// session whose answer was lost (a follower's fetch cancelled
	// mid-way) is never used again and goes once idle.
	var evicted []*fetchSession
	for len(fc.sessions) >= fc.slots || fc.partitions+size > fetchSessionMaxPartitions {
		e := fc.evictable(s.privileged, size, now)
		if e == nil {
			fc.mu.Unlock()
			closeAll(evicted)
			return false
		}
		fc.removeLocked(e)
		fc.evictions.Inc()
		evicted = append(evicted, e)
	}
	for {
		s.id = rand.Int32N(math.MaxInt32) + 1 // 1 to MaxInt32
		if fc.sessions[s.id] == nil {
			break
		}
	}
	s.created, s.lastUsed, s.size = now, now, size
	fc.sessions[s.id] = s
	fc.partitions += size
	fc.mu.Unlock()
	closeAll(evicted)
	return true
}

// closeAll marks sessions removed from the cache closed.
func closeAll(sessions []*fetchSession) {
	for _, s := range sessions {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
}

// evictable picks the session a new one (privileged, of size partitions)
// may take the slot of, as Kafka's FetchSessionCache.tryEvict: the least
// recently used session if idle past evictAfter; otherwise the least
// valuable (unprivileged before privileged, then fewest partitions, then
// lowest id) among those the new one may evict (a privileged one: any
// unprivileged session or any older than evictAfter; an unprivileged
// one: sessions older than evictAfter), if the new one is worth more.
// nil: none. A scan: it runs only when the cache is full and a session
// starts.
func (fc *fetchSessionCache) evictable(privileged bool, size int, now time.Time) *fetchSession {
	var lru, least *fetchSession
	for _, s := range fc.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) {
			lru = s
		}
		old := now.Sub(s.created) > fc.evictAfter
		if !old && (!privileged || s.privileged) {
			continue
		}
		if least == nil || lessValuable(s, least) {
			least = s
		}
	}
	if lru != nil && now.Sub(lru.lastUsed) > fc.evictAfter {
		return lru
	}
	if least == nil {
		return nil
	}
	// The new session's key has id 0: it wins a tie of kind and size
	// only against a session with a negative id, which ours never have.
	newKey := evictKey{privileged: privileged, size: size}
	if newKey.less(keyOf(least)) || newKey == keyOf(least) {
		return nil
	}
	return least
}

// evictKey orders sessions by value, as Kafka's EvictableKey.
type evictKey struct {
	privileged bool
	size       int
	id         int32
}

func keyOf(s *fetchSession) evictKey {
	return evictKey{privileged: s.privileged, size: s.size, id: s.id}
}

func (a evictKey) less(b evictKey) bool {
	if a.privileged != b.privileged {
		return !a.privileged
	}
	if a.size != b.size {
		return a.size < b.size
	}
	return a.id < b.id
}

func lessValuable(a, b *fetchSession) bool { return keyOf(a).less(keyOf(b)) }

// fetchSessionState is what handleFetch carries from the session lookup
// to the response for one request.
type fetchSessionState struct {
	kind    int
	session *fetchSession // the incremental fetch's session
	epoch   int32         // the session's epoch after this fetch
}

// beginFetchSession applies req's session fields: it closes, checks and
// updates sessions, and returns the request to read (req itself, or for
// an incremental fetch every partition of the session, in c's scratch
// request). A session error is set in resp, and then nothing is read.
func (c *conn) beginFetchSession(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, now time.Time) (*kmsg.FetchRequest, fetchSessionState) {
	fc := c.s.fetchSessions
	if req.Version < fetchSessionVersion {
		fc.byKind[fetchSessionless].Inc()
		return req, fetchSessionState{kind: fetchSessionless}
	}
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		// A full fetch closes the session it names (the client starts
		// over, or leaves sessions).
		if req.SessionID != 0 {
			fc.remove(req.SessionID, c.principal)
		}
		kind := fetchFull
		if req.SessionEpoch == -1 {
			kind = fetchSessionless
		}
		fc.byKind[kind].Inc()
		return req, fetchSessionState{kind: kind}
	}
	fc.byKind[fetchIncremental].Inc()
	s := fc.get(req.SessionID)
	if s == nil || s.principal != c.principal {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return req, fetchSessionState{}
	}
	s.mu.Lock()
	switch {
	case s.closed:
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
	case req.SessionEpoch != s.epoch:
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
	case s.usesIDs != (req.Version >= fetchSessionIDsVersion):
		resp.ErrorCode = kerr.FetchSessionTopicIDError.Code
	}
	if resp.ErrorCode != 0 {
		s.mu.Unlock()
		return req, fetchSessionState{}
	}
	s.update(req)
	s.epoch = nextEpoch(s.epoch)
	st := fetchSessionState{kind: fetchIncremental, session: s, epoch: s.epoch}
	eff := c.sessionRequest(req, s)
	size := len(s.order)
	s.mu.Unlock()
	if size == 0 || !fc.touch(s, size, now) {
		// Emptied (Kafka then drops the session and answers without
		// one), or past the cache's bound on partitions: the client
		// starts over.
		fc.drop(s)
		if size != 0 {
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return req, fetchSessionState{}
		}
		return eff, fetchSessionState{kind: fetchSessionless}
	}
	return eff, st
}

// update applies an incremental fetch to s: the partitions it names are
// added or take its fetch state, then those it forgets are removed (a
// partition named in both ends up removed, as in Kafka). s.mu is held.
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := s.keyOf(rt.Topic, rt.TopicID, rp.Partition)
			if p := s.parts[k]; p != nil {
				p.req = *rp
				continue
			}
			p := &sessionPart{key: k, topic: rt.Topic, id: rt.TopicID, req: *rp,
				highWatermark: -1, lastStable: -1, logStart: -1, preferred: -1}
			s.parts[k] = p
			s.order = append(s.order, p)
		}
	}
	removed := false
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		for _, partition := range ft.Partitions {
			k := s.keyOf(ft.Topic, ft.TopicID, partition)
			if s.parts[k] != nil {
				delete(s.parts, k)
				removed = true
			}
		}
	}
	if removed {
		kept := s.order[:0]
		for _, p := range s.order {
			if s.parts[p.key] == p {
				kept = append(kept, p)
			}
		}
		clear(s.order[len(kept):])
		s.order = kept
	}
}

func (s *fetchSession) keyOf(topic string, id [16]byte, partition int32) sessionKey {
	if s.usesIDs {
		return sessionKey{id: id, partition: partition}
	}
	return sessionKey{topic: topic, partition: partition}
}

// sessionRequest builds, in c's scratch request, a full fetch of s's
// partitions in their order, with req's request-level fields. A topic
// whose partitions are not contiguous in the order appears more than
// once, as in Kafka's answers. s.mu is held.
func (c *conn) sessionRequest(req *kmsg.FetchRequest, s *fetchSession) *kmsg.FetchRequest {
	eff := &c.sessReq
	topics := eff.Topics[:0]
	partsBuf := c.sessPartsBuf[:0]
	c.sessOrder = append(c.sessOrder[:0], s.order...)
	for _, p := range s.order {
		partsBuf = append(partsBuf, p.req)
	}
	// Slices into partsBuf only once it stopped growing.
	start := 0
	for i, p := range s.order {
		if i > 0 && p.topic == s.order[i-1].topic && p.id == s.order[i-1].id {
			continue
		}
		if i > 0 {
			topics[len(topics)-1].Partitions = partsBuf[start:i:i]
		}
		start = i
		topics = append(topics, kmsg.FetchRequestTopic{Topic: p.topic, TopicID: p.id})
	}
	if len(topics) > 0 {
		topics[len(topics)-1].Partitions = partsBuf[start:len(s.order):len(s.order)]
	}
	*eff = *req
	eff.Topics = topics
	eff.ForgottenTopics = nil
	c.sessPartsBuf = partsBuf
	return eff
}

// endFetchSession records the answer to a full or incremental fetch in
// its session: a full fetch (epoch 0) starts one, with the request's
// partitions and what resp tells of them; an incremental fetch's resp
// keeps only the partitions that have something new to tell, and those
// move to the end of the session. parts are the request's partitions in
// order, pointing into resp. It runs after every use of parts' response
// partitions, which it may move.
func (c *conn) endFetchSession(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, parts []fetchPart, st fetchSessionState, follower int32, now time.Time) {
	switch st.kind {
	case fetchFull:
		c.startFetchSession(req, resp, parts, follower, now)
	case fetchIncremental:
		c.answerIncremental(resp, parts, st)
	}
}

func (c *conn) startFetchSession(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, parts []fetchPart, follower int32, now time.Time) {
	s := &fetchSession{
		privileged: follower >= 0,
		principal:  c.principal,
		usesIDs:    req.Version >= fetchSessionIDsVersion,
		epoch:      1,
		parts:      make(map[sessionKey]*sessionPart, len(parts)),
		order:      make([]*sessionPart, 0, len(parts)),
	}
	n := 0
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := parts[n].sp
			n++
			k := s.keyOf(rt.Topic, rt.TopicID, rp.Partition)
			p := s.parts[k]
			if p == nil {
				p = &sessionPart{key: k, topic: rt.Topic, id: rt.TopicID}
				s.parts[k] = p
				s.order = append(s.order, p)
			}
			p.req = *rp
			p.remember(sp)
		}
	}
	if c.s.fetchSessions.create(s, len(s.order), now) {
		resp.SessionID = s.id
	}
}

// remember records what sp tells the client of p.
func (p *sessionPart) remember(sp *kmsg.FetchResponseTopicPartition) {
	p.highWatermark, p.lastStable, p.logStart = sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset
	p.preferred = sp.PreferredReadReplica
}

// mustAnswer reports whether an incremental fetch answers sp, p's
// partition: it has records, an error or a diverging epoch, or tells
// something new of the partition's offsets or preferred replica.
func (p *sessionPart) mustAnswer(sp *kmsg.FetchResponseTopicPartition) bool {
	return len(sp.RecordBatches) > 0 || sp.ErrorCode != 0 ||
		sp.DivergingEpoch.Epoch >= 0 || sp.DivergingEpoch.EndOffset >= 0 ||
		sp.HighWatermark != p.highWatermark || sp.LastStableOffset != p.lastStable ||
		sp.LogStartOffset != p.logStart || sp.PreferredReadReplica != p.preferred
}

// answerIncremental keeps in resp the partitions of the session's fetch
// that must be answered, updates what the session remembers of them, and
// moves them to the end of the session's order. If the session moved on
// meanwhile (another fetch with this session, from another connection,
// was answered or the session was closed), the answer is
// INVALID_FETCH_SESSION_EPOCH with no partitions, as Kafka's.
func (c *conn) answerIncremental(resp *kmsg.FetchResponse, parts []fetchPart, st fetchSessionState) {
	s := st.session
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.epoch != st.epoch || len(c.sessOrder) != len(parts) {
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		resp.Topics = nil
		return
	}
	resp.SessionID = s.id
	answered := c.sessAnswered[:0]
	keep := c.sessKeep[:0]
	kept := s.order[:0]
	for i := range parts {
		p, sp := c.sessOrder[i], parts[i].sp
		answer := p.mustAnswer(sp)
		keep = append(keep, answer)
		if answer {
			p.remember(sp)
			answered = append(answered, p)
		} else {
			kept = append(kept, p)
		}
	}
	s.order = append(kept, answered...)
	clear(answered)
	c.sessAnswered = answered[:0]
	c.sessKeep = keep
	// Drop the partitions not answered, and topics left empty: their
	// response partitions are in the order of parts. The views of the
	// dropped ones hold no records, so nothing is lost.
	topics := resp.Topics[:0]
	n := 0
	for i := range resp.Topics {
		t := resp.Topics[i]
		ps := t.Partitions[:0]
		for _, sp := range t.Partitions {
			if keep[n] {
				ps = append(ps, sp)
			}
			n++
		}
		if len(ps) > 0 {
			t.Partitions = ps
			topics = append(topics, t)
		}
	}
	resp.Topics = topics
}
