package server

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/recordbatch"
)

// sessCounter reads a counter.
func sessCounter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func withFetchSessionSlots(n int) brokerOpt {
	return func(c *Config) { c.FetchSessionCacheSlots = n }
}

// sessionTopic creates topic with n partitions of one 10-record batch
// each, and returns its ID.
func (b *testBroker) sessionTopic(topic string, n int) [16]byte {
	b.t.Helper()
	if _, err := b.mgr.CreateTopic(topic, n, nil); err != nil {
		b.t.Fatal(err)
	}
	for p := range n {
		b.appendTo(topic, int32(p))
	}
	t, _ := b.mgr.Topic(topic)
	return t.ID
}

// appendTo appends one 10-record batch to a partition.
func (b *testBroker) appendTo(topic string, p int32) {
	b.t.Helper()
	l, _ := b.mgr.Partition(topic, p)
	if _, err := l.Append(recordbatch.Build(10, 10, time.Now().UnixMilli())); err != nil {
		b.t.Fatal(err)
	}
}

// rawFrom is a raw connection from ip (a test principal's address).
func (b *testBroker) rawFrom(ip string) *rawConn {
	b.t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", b.addr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { nc.Close() })
	return &rawConn{t: b.t, nc: nc}
}

// sessionFetch is a Fetch of one topic's partitions at offsets (nil: no
// partitions), in session id at epoch, that forgets the partitions in
// forget. Topics are named by ID from v13.
func sessionFetch(version int16, id, epoch int32, topic string, tid [16]byte, offsets map[int32]int64, forget ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionID, req.SessionEpoch = id, epoch
	if version < 13 {
		tid = [16]byte{}
	} else {
		topic = ""
	}
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, tid
		for _, p := range slices.Sorted(func(yield func(int32) bool) {
			for p := range offsets {
				if !yield(p) {
					return
				}
			}
		}) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offsets[p], 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = topic, tid, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// sessAnswered is what a Fetch response says of each partition, by number.
func sessAnswered(t testing.TB, resp *kmsg.FetchResponse) map[int32]kmsg.FetchResponseTopicPartition {
	t.Helper()
	out := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if _, dup := out[rp.Partition]; dup {
				t.Errorf("partition %d answered twice", rp.Partition)
			}
			out[rp.Partition] = rp
		}
	}
	return out
}

func keys(m map[int32]kmsg.FetchResponseTopicPartition) []int32 {
	var out []int32
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestFetchSessionAnswersOnlyChangedPartitions walks a session through
// its life, with topic names (v12) and topic IDs (v13, v18): a full
// fetch starts it and answers every partition; an incremental fetch
// answers only partitions with records or a new high watermark; a
// forgotten partition is no longer read; an added one is answered once.
func TestFetchSessionAnswersOnlyChangedPartitions(t *testing.T) {
	for _, version := range []int16{7, 12, 13, 18} {
		t.Run("v"+itoa(int(version)), func(t *testing.T) {
			b := startBroker(t)
			tid := b.sessionTopic("sess", 4)
			c := b.raw()
			all := map[int32]int64{0: 0, 1: 0, 2: 0}
			resp := c.do(sessionFetch(version, 0, 0, "sess", tid, all)).(*kmsg.FetchResponse)
			if resp.ErrorCode != 0 || resp.SessionID <= 0 {
				t.Fatalf("full fetch: error %d session %d, want a new positive session id", resp.ErrorCode, resp.SessionID)
			}
			id := resp.SessionID
			if got := sessAnswered(t, resp); len(got) != 3 || len(got[2].RecordBatches) == 0 {
				t.Fatalf("full fetch answered %v, want partitions 0-2 with records", keys(got))
			}
			// The client moves its offsets past what it got: nothing
			// else changed, so nothing is answered.
			resp = c.do(sessionFetch(version, id, 1, "sess", tid, map[int32]int64{0: 10, 1: 10, 2: 10})).(*kmsg.FetchResponse)
			if resp.ErrorCode != 0 || resp.SessionID != id {
				t.Fatalf("epoch 1: error %d session %d, want 0 and %d", resp.ErrorCode, resp.SessionID, id)
			}
			if got := sessAnswered(t, resp); len(got) != 0 {
				t.Fatalf("epoch 1 answered %v, want nothing (no partition changed)", keys(got))
			}
			// New records in partition 1 only: the fetch names no
			// partition and gets partition 1 alone.
			b.appendTo("sess", 1)
			resp = c.do(sessionFetch(version, id, 2, "sess", tid, nil)).(*kmsg.FetchResponse)
			got := sessAnswered(t, resp)
			if !slices.Equal(keys(got), []int32{1}) || len(got[1].RecordBatches) == 0 || got[1].HighWatermark != 20 {
				t.Fatalf("epoch 2 answered %v (hw %d), want partition 1 with its new records at hw 20", keys(got), got[1].HighWatermark)
			}
			// Forget partition 2 and add partition 3: 3 is answered
			// (new to the session), 2 no more even with new records.
			b.appendTo("sess", 2)
			resp = c.do(sessionFetch(version, id, 3, "sess", tid, map[int32]int64{1: 20, 3: 0}, 2)).(*kmsg.FetchResponse)
			if got := sessAnswered(t, resp); !slices.Equal(keys(got), []int32{3}) || len(got[3].RecordBatches) == 0 {
				t.Fatalf("epoch 3 answered %v, want only the added partition 3", keys(got))
			}
			resp = c.do(sessionFetch(version, id, 4, "sess", tid, map[int32]int64{3: 10})).(*kmsg.FetchResponse)
			if got := sessAnswered(t, resp); len(got) != 0 {
				t.Fatalf("epoch 4 answered %v, want nothing: partition 2 was forgotten", keys(got))
			}
			// The session goes on from another connection of the client.
			b.appendTo("sess", 0)
			resp = b.raw().do(sessionFetch(version, id, 5, "sess", tid, nil)).(*kmsg.FetchResponse)
			if got := sessAnswered(t, resp); resp.ErrorCode != 0 || !slices.Equal(keys(got), []int32{0}) {
				t.Fatalf("epoch 5 from a new connection: error %d answered %v, want partition 0", resp.ErrorCode, keys(got))
			}
			fc := b.srv.fetchSessions
			if n := sessCounter(t, fc.byKind[fetchIncremental]); n != 5 {
				t.Errorf("incremental fetches counted %v, want 5", n)
			}
			if n := sessCounter(t, fc.byKind[fetchFull]); n != 1 {
				t.Errorf("full fetches counted %v, want 1", n)
			}
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestFetchSessionErrors pins each session error of KIP-227 and Kafka's
// answers to it.
func TestFetchSessionErrors(t *testing.T) {
	b := startBroker(t)
	tid := b.sessionTopic("errs", 2)
	c := b.raw()
	one := map[int32]int64{0: 0}
	start := func() int32 {
		t.Helper()
		resp := c.do(sessionFetch(13, 0, 0, "errs", tid, one)).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || resp.SessionID <= 0 {
			t.Fatalf("start: error %d id %d", resp.ErrorCode, resp.SessionID)
		}
		return resp.SessionID
	}
	code := func(req *kmsg.FetchRequest) (int16, int32, int) {
		t.Helper()
		resp := c.do(req).(*kmsg.FetchResponse)
		return resp.ErrorCode, resp.SessionID, len(resp.Topics)
	}
	id := start()

	// A wrong epoch is refused and leaves the session as it was.
	if ec, sid, n := code(sessionFetch(13, id, 2, "errs", tid, nil)); ec != kerr.InvalidFetchSessionEpoch.Code || sid != 0 || n != 0 {
		t.Errorf("wrong epoch: error %d session %d topics %d, want INVALID_FETCH_SESSION_EPOCH, 0, none", ec, sid, n)
	}
	if ec, sid, _ := code(sessionFetch(13, id, 1, "errs", tid, nil)); ec != 0 || sid != id {
		t.Errorf("right epoch after a wrong one: error %d session %d", ec, sid)
	}
	// An id the broker never gave out.
	if ec, _, _ := code(sessionFetch(13, id+1, 1, "errs", tid, nil)); ec != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("unknown id: error %d, want FETCH_SESSION_ID_NOT_FOUND", ec)
	}
	// Topic names in a session of topic IDs.
	if ec, _, _ := code(sessionFetch(12, id, 2, "errs", tid, nil)); ec != kerr.FetchSessionTopicIDError.Code {
		t.Errorf("v12 fetch in a v13 session: error %d, want FETCH_SESSION_TOPIC_ID_ERROR", ec)
	}
	// Epoch -1 with the id closes the session: a full fetch without one.
	if ec, sid, n := code(sessionFetch(13, id, -1, "errs", tid, one)); ec != 0 || sid != 0 || n != 1 {
		t.Errorf("close: error %d session %d topics %d, want a sessionless full answer", ec, sid, n)
	}
	if ec, _, _ := code(sessionFetch(13, id, 2, "errs", tid, nil)); ec != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("closed session: error %d, want FETCH_SESSION_ID_NOT_FOUND", ec)
	}
	// Epoch 0 with an id closes it and starts a new one.
	id = start()
	resp := c.do(sessionFetch(13, id, 0, "errs", tid, one)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID <= 0 || resp.SessionID == id {
		t.Errorf("restart: error %d session %d (old %d), want a new session", resp.ErrorCode, resp.SessionID, id)
	}
	if ec, _, _ := code(sessionFetch(13, id, 1, "errs", tid, nil)); ec != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("the session restarted away: error %d, want FETCH_SESSION_ID_NOT_FOUND", ec)
	}
	// Forgetting every partition ends the session: answered without one.
	id = resp.SessionID
	if ec, sid, _ := code(sessionFetch(13, id, 1, "errs", tid, nil, 0)); ec != 0 || sid != 0 {
		t.Errorf("emptied session: error %d session %d, want a sessionless answer", ec, sid)
	}
	if ec, _, _ := code(sessionFetch(13, id, 2, "errs", tid, nil)); ec != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("emptied session still there: error %d", ec)
	}
	if n := sessCounter(t, b.srv.fetchSessions.evictions); n != 0 {
		t.Errorf("evictions %v with a free cache", n)
	}
}

// TestFetchSessionUnknownTopicID: a partition of a topic ID the broker
// does not know joins the session and is answered UNKNOWN_TOPIC_ID on
// every fetch (an error is always answered), while the others are not.
func TestFetchSessionUnknownTopicID(t *testing.T) {
	b := startBroker(t)
	tid := b.sessionTopic("known", 1)
	c := b.raw()
	req := sessionFetch(13, 0, 0, "known", tid, map[int32]int64{0: 10})
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = [16]byte{9, 9, 9}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID <= 0 || len(resp.Topics) != 2 || resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("full fetch: %+v", resp)
	}
	resp = c.do(sessionFetch(13, resp.SessionID, 1, "known", tid, nil)).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].TopicID != rt.TopicID || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("incremental fetch: want the unknown topic ID alone, with UNKNOWN_TOPIC_ID; got %+v", resp.Topics)
	}
}

// TestFetchSessionDeclinedWithoutSlots: with no slots a new-session
// request is answered in full with session id 0, which tells the client
// to fetch in full from then on, and a session id is refused.
func TestFetchSessionDeclinedWithoutSlots(t *testing.T) {
	b := startBroker(t, withFetchSessionSlots(0))
	b.appendBatches("s", 1, 10)
	c := b.raw()
	req := fetchReq(12, "s", [16]byte{}, 0, 1<<20)
	req.SessionEpoch = 0
	if resp := c.do(req).(*kmsg.FetchResponse); resp.SessionID != 0 || resp.ErrorCode != 0 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Errorf("new session: id %d error %d", resp.SessionID, resp.ErrorCode)
	}
	req.SessionID, req.SessionEpoch = 77, 1
	if resp := c.do(req).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("unknown session: error %d", resp.ErrorCode)
	}
}

// TestFetchSessionCacheFull: with every slot taken by a young session,
// a consumer's new session is declined (id 0, full answer); a follower's
// (privileged) evicts a consumer's; once a session is idle past the
// eviction time a consumer's new one takes its slot.
func TestFetchSessionCacheFull(t *testing.T) {
	b := startBroker(t, withFetchSessionSlots(1))
	tid := b.sessionTopic("full", 1)
	one := map[int32]int64{0: 0}
	first := b.raw().do(sessionFetch(13, 0, 0, "full", tid, one)).(*kmsg.FetchResponse)
	if first.SessionID <= 0 {
		t.Fatalf("first session: id %d", first.SessionID)
	}
	resp := b.raw().do(sessionFetch(13, 0, 0, "full", tid, one)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 {
		t.Fatalf("cache full: error %d session %d topics %d, want a full answer without session", resp.ErrorCode, resp.SessionID, len(resp.Topics))
	}
	fc := b.srv.fetchSessions
	// An idle session goes first.
	fc.mu.Lock()
	fc.sessions[first.SessionID].lastUsed = time.Now().Add(-fc.evictAfter - time.Second)
	fc.mu.Unlock()
	resp = b.raw().do(sessionFetch(13, 0, 0, "full", tid, one)).(*kmsg.FetchResponse)
	if resp.SessionID <= 0 || resp.SessionID == first.SessionID {
		t.Fatalf("after the first went idle: session %d, want a new one", resp.SessionID)
	}
	if n := sessCounter(t, fc.evictions); n != 1 {
		t.Errorf("evictions %v, want 1", n)
	}
	if ec := b.raw().do(sessionFetch(13, first.SessionID, 1, "full", tid, nil)).(*kmsg.FetchResponse).ErrorCode; ec != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("evicted session: error %d, want FETCH_SESSION_ID_NOT_FOUND", ec)
	}
}

// TestFetchSessionEvictionOrder pins Kafka's eviction rules on the cache
// itself: privileged (follower) sessions over consumers', larger over
// smaller, and a session younger than the eviction time safe from its
// own kind.
func TestFetchSessionEvictionOrder(t *testing.T) {
	now := time.Now()
	old := now.Add(-fetchSessionEvictAfter - time.Minute)
	mk := func(id int32, privileged bool, size int, created time.Time) *fetchSession {
		return &fetchSession{id: id, privileged: privileged, size: size, created: created, lastUsed: now}
	}
	cases := []struct {
		name       string
		have       []*fetchSession
		privileged bool
		size       int
		want       int32 // 0: none
	}{
		{"young consumers are safe from a consumer", []*fetchSession{mk(1, false, 1, now)}, false, 100, 0},
		{"an old smaller consumer goes for a larger one", []*fetchSession{mk(1, false, 5, old), mk(2, false, 2, old)}, false, 10, 2},
		{"an old larger consumer stays for a smaller one", []*fetchSession{mk(1, false, 50, old)}, false, 10, 0},
		{"a follower evicts a young consumer", []*fetchSession{mk(1, true, 1, now), mk(2, false, 100, now)}, true, 1, 2},
		{"a follower does not evict a young follower", []*fetchSession{mk(1, true, 1, now)}, true, 100, 0},
		{"a consumer does not evict an old follower while an old consumer is there", []*fetchSession{mk(1, true, 1, old), mk(2, false, 5, old)}, false, 10, 2},
		{"a consumer does not evict an old follower", []*fetchSession{mk(1, true, 1, old)}, false, 100, 0},
	}
	for _, tc := range cases {
		fc := &fetchSessionCache{slots: len(tc.have), evictAfter: fetchSessionEvictAfter, sessions: map[int32]*fetchSession{}}
		for _, s := range tc.have {
			fc.sessions[s.id] = s
		}
		var got int32
		if s := fc.evictable(tc.privileged, tc.size, now); s != nil {
			got = s.id
		}
		if got != tc.want {
			t.Errorf("%s: evicts %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestFetchSessionBoundToPrincipal: another principal using a session's
// id is answered FETCH_SESSION_ID_NOT_FOUND (and cannot close it), and
// an incremental fetch re-checks Read, so a principal that lost it gets
// TOPIC_AUTHORIZATION_FAILED for the session's partitions.
func TestFetchSessionBoundToPrincipal(t *testing.T) {
	b := startACLBroker(t, t.TempDir())
	tid := b.sessionTopic("acl", 1)
	admin := b.clientFrom(adminIP)
	createACLs(t, admin, allowAlice(auth.ResourceTopic, "acl", auth.OpRead))
	alice := b.rawFrom(aliceIP)
	resp := alice.do(sessionFetch(13, 0, 0, "acl", tid, map[int32]int64{0: 0})).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID <= 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("alice's full fetch: %+v", resp)
	}
	id := resp.SessionID
	bob := b.rawFrom(bobIP)
	if ec := bob.do(sessionFetch(13, id, 1, "acl", tid, nil)).(*kmsg.FetchResponse).ErrorCode; ec != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("bob with alice's session: error %d, want FETCH_SESSION_ID_NOT_FOUND", ec)
	}
	bob.do(sessionFetch(13, id, -1, "acl", tid, nil)) // not bob's to close
	resp = alice.do(sessionFetch(13, id, 1, "acl", tid, map[int32]int64{0: 10})).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("alice after bob's tries: error %d topics %d, want her session intact and nothing new", resp.ErrorCode, len(resp.Topics))
	}
	deleteAllACLs(t, admin)
	resp = alice.do(sessionFetch(13, id, 2, "acl", tid, nil)).(*kmsg.FetchResponse)
	if got := sessAnswered(t, resp); resp.ErrorCode != 0 || got[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(got[0].RecordBatches) != 0 {
		t.Fatalf("alice without Read: error %d partition %+v, want TOPIC_AUTHORIZATION_FAILED", resp.ErrorCode, got[0])
	}
}

// TestFetchSessionLongPoll: an incremental fetch with nothing new waits
// for MaxWait, and an append to one of its partitions wakes it.
func TestFetchSessionLongPoll(t *testing.T) {
	b := startBroker(t)
	tid := b.sessionTopic("poll", 2)
	c := b.raw()
	resp := c.do(sessionFetch(13, 0, 0, "poll", tid, map[int32]int64{0: 10, 1: 10})).(*kmsg.FetchResponse)
	id := resp.SessionID
	req := sessionFetch(13, id, 1, "poll", tid, nil)
	req.MaxWaitMillis = 300
	start := time.Now()
	if resp = c.do(req).(*kmsg.FetchResponse); len(resp.Topics) != 0 || resp.ErrorCode != 0 {
		t.Fatalf("nothing new: error %d topics %d", resp.ErrorCode, len(resp.Topics))
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("an incremental fetch with nothing new answered after %v, want about MaxWait 300ms", waited)
	}
	req = sessionFetch(13, id, 2, "poll", tid, nil)
	req.MaxWaitMillis = 20000
	go func() {
		time.Sleep(100 * time.Millisecond)
		b.appendTo("poll", 1)
	}()
	start = time.Now()
	got := sessAnswered(t, c.do(req).(*kmsg.FetchResponse))
	if !slices.Equal(keys(got), []int32{1}) || len(got[1].RecordBatches) == 0 {
		t.Fatalf("woken incremental fetch answered %v, want partition 1 with records", keys(got))
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("the append did not wake the incremental long poll (answered after %v)", waited)
	}
}

// consumeAllSessions produces rounds of records to every partition of a
// topic of parts partitions and consumes them all with a franz-go
// consumer made with opts; it checks each record arrives once, in order
// per partition.
func consumeAllSessions(t *testing.T, b *testBroker, topic string, parts int, opts ...kgo.Opt) {
	t.Helper()
	if _, err := b.mgr.CreateTopic(topic, parts, nil); err != nil {
		t.Fatal(err)
	}
	prod := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cons := b.client(append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	next := make([]int64, parts)
	for round := range 3 {
		var recs []*kgo.Record
		// Every round writes to a third of the partitions: the others
		// have nothing new.
		for p := round; p < parts; p += 3 {
			for range 5 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("v")})
			}
		}
		if err := prod.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, r := range consumeN(t, cons, len(recs)) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("round %d: partition %d offset %d, want %d", round, r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
		}
	}
}

// TestFetchSessionKgoConsumer: franz-go, which uses sessions unless told
// not to, consumes every record of 60 partitions with one full fetch
// and incremental ones after it; with DisableFetchSessions it fetches in
// full, as before sessions.
func TestFetchSessionKgoConsumer(t *testing.T) {
	b := startBroker(t)
	fc := b.srv.fetchSessions
	consumeAllSessions(t, b, "kgo-sess", 60)
	full, inc := sessCounter(t, fc.byKind[fetchFull]), sessCounter(t, fc.byKind[fetchIncremental])
	if full != 1 || inc < 2 {
		t.Errorf("franz-go sent %v full and %v incremental fetches, want 1 and at least 2 (the rounds after the first)", full, inc)
	}
	fc.mu.Lock()
	sessions, partitions := len(fc.sessions), fc.partitions
	fc.mu.Unlock()
	if sessions != 1 || partitions != 60 {
		t.Errorf("cache holds %d sessions of %d partitions, want 1 of 60", sessions, partitions)
	}

	b2 := startBroker(t)
	consumeAllSessions(t, b2, "kgo-nosess", 60, kgo.DisableFetchSessions())
	fc = b2.srv.fetchSessions
	if inc, none := sessCounter(t, fc.byKind[fetchIncremental]), sessCounter(t, fc.byKind[fetchSessionless]); inc != 0 || none < 3 {
		t.Errorf("franz-go without sessions: %v incremental, %v sessionless fetches", inc, none)
	}
}

// TestFetchSessionPartitionBoundEvicts: a new session that would take
// the cache past fetchSessionMaxPartitions evicts as it would for a slot
// (an idle session first), and is not made when nothing may go.
func TestFetchSessionPartitionBoundEvicts(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		lastUsed time.Time
		want     bool
	}{
		{"an idle session makes room", now.Add(-fetchSessionEvictAfter - time.Second), true},
		{"a young follower's session stays", now, false},
	} {
		fc := newFetchSessionCache(10, prometheus.NewRegistry())
		big := &fetchSession{privileged: true, parts: map[sessionKey]*sessionPart{}}
		if !fc.create(big, fetchSessionMaxPartitions-5, now.Add(-time.Second)) {
			t.Fatalf("%s: the big session was not made", tc.name)
		}
		fc.sessions[big.id].lastUsed = tc.lastUsed
		s := &fetchSession{parts: map[sessionKey]*sessionPart{}}
		if got := fc.create(s, 10, now); got != tc.want {
			t.Errorf("%s: new session made %v, want %v", tc.name, got, tc.want)
		}
		if tc.want && (fc.get(big.id) != nil || fc.partitions != 10 || !big.closed) {
			t.Errorf("%s: the idle session is still there (%d partitions cached)", tc.name, fc.partitions)
		}
	}
}
