package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func initProducerID(t *testing.T, cl *kgo.Client) *kmsg.InitProducerIDResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	return resp
}

// TestInitProducerIDQuota: with producer.id.quota.rate set, a client id
// past its burst of new producer ids is answered THROTTLING_QUOTA_EXCEEDED
// with the time until its next id, others are not, and a real producer
// under that client id still gets its records in once it has waited. Off
// (the default), nothing is throttled.
func TestInitProducerIDQuota(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		b := startBroker(t)
		cl := b.client(kgo.ClientID("flood"))
		for i := range 50 {
			if resp := initProducerID(t, cl); resp.ErrorCode != 0 || resp.ThrottleMillis != 0 {
				t.Fatalf("request %d: %v, throttled %d ms", i, kerr.ErrorForCode(resp.ErrorCode), resp.ThrottleMillis)
			}
		}
	})
	t.Run("rate 1/s, burst 2", func(t *testing.T) {
		b := startBroker(t, func(c *Config) {
			c.ProducerIDQuotaRate = 1
			c.ProducerIDQuotaWindow = 2 * time.Second
		})
		flood := b.client(kgo.ClientID("flood"))
		seen := map[int64]bool{}
		for i := range 2 {
			resp := initProducerID(t, flood)
			if resp.ErrorCode != 0 || resp.ThrottleMillis != 0 || seen[resp.ProducerID] {
				t.Fatalf("request %d within the burst: %v, id %d, throttled %d ms",
					i, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ThrottleMillis)
			}
			seen[resp.ProducerID] = true
		}
		resp := initProducerID(t, flood)
		if resp.ErrorCode != kerr.ThrottlingQuotaExceeded.Code || resp.ProducerID != -1 ||
			resp.ThrottleMillis <= 0 || resp.ThrottleMillis > 1001 {
			t.Fatalf("request past the burst: %v, id %d, throttle %d ms; want THROTTLING_QUOTA_EXCEEDED, -1, (0, 1001]",
				kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ThrottleMillis)
		}
		if resp := initProducerID(t, b.client(kgo.ClientID("other"))); resp.ErrorCode != 0 {
			t.Fatalf("another client id: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		// An idempotent producer of the throttled client id retries
		// (the error is retriable) and gets its records in.
		producer := b.client(kgo.ClientID("flood"), kgo.DefaultProduceTopic("events"), kgo.AllowAutoTopicCreation())
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for i := range 3 {
			if err := producer.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatalf("produce %d under a throttled client id: %v", i, err)
			}
		}
	})
}

// TestInitProducerIDQuotaOldClients: a client older than the
// THROTTLING_QUOTA_EXCEEDED error code (InitProducerId v0-v3) past its
// burst is held until its turn and then served, with the wait in
// throttle_time_ms; a turn too far away is COORDINATOR_LOAD_IN_PROGRESS,
// which it retries; a v4+ client gets the error, its throttle capped.
func TestInitProducerIDQuotaOldClients(t *testing.T) {
	v := func(c *rawConn, version int16) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = version
		return c.do(req).(*kmsg.InitProducerIDResponse)
	}
	t.Run("held until its turn", func(t *testing.T) {
		b := startBroker(t, func(c *Config) { c.ProducerIDQuotaRate, c.ProducerIDQuotaWindow = 2, time.Second })
		c := b.raw()
		for i := range 3 {
			resp := v(c, 3)
			if resp.ErrorCode != 0 || resp.ProducerID < 0 {
				t.Fatalf("v3 request %d: %v, id %d", i, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID)
			}
			if throttled := resp.ThrottleMillis > 0; throttled != (i == 2) || resp.ThrottleMillis > 501 {
				t.Fatalf("v3 request %d: throttle %d ms, want 0 within the burst of 2 and (0, 501] past it", i, resp.ThrottleMillis)
			}
		}
	})
	t.Run("turn too far away", func(t *testing.T) {
		b := startBroker(t, func(c *Config) { c.ProducerIDQuotaRate, c.ProducerIDQuotaWindow = 0.01, 100*time.Second })
		c := b.raw()
		if resp := v(c, 3); resp.ErrorCode != 0 {
			t.Fatalf("first: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		for _, tt := range []struct {
			version int16
			want    int16
		}{{0, kerr.CoordinatorLoadInProgress.Code}, {3, kerr.CoordinatorLoadInProgress.Code}, {4, kerr.ThrottlingQuotaExceeded.Code}, {5, kerr.ThrottlingQuotaExceeded.Code}} {
			resp := v(c, tt.version)
			if resp.ErrorCode != tt.want || resp.ProducerID != -1 || resp.ThrottleMillis != maxThrottleMillis {
				t.Errorf("v%d past the burst: %v, id %d, throttle %d ms; want %v, -1, %d",
					tt.version, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ThrottleMillis, kerr.ErrorForCode(tt.want), maxThrottleMillis)
			}
		}
	})
}

func TestProducerIDQuotaBuckets(t *testing.T) {
	cfg := DefaultConfig()
	if newProducerIDQuota(cfg) != nil {
		t.Fatal("producer id quota on by default")
	}
	cfg.ProducerIDQuotaRate, cfg.ProducerIDQuotaWindow = 10, 3*time.Second // burst 30
	q := newProducerIDQuota(cfg)
	take := func(client string, now time.Time) time.Duration { // what a throttled v4+ request does
		wait, cancel := q.reserve(client, now)
		if wait > 0 {
			cancel()
		}
		return wait
	}
	now := time.Unix(1_700_000_000, 0)
	for i := range 30 {
		if d := take("a", now); d != 0 {
			t.Fatalf("id %d of a burst of 30: wait %v", i, d)
		}
	}
	if d := take("a", now); d <= 0 || d > 100*time.Millisecond {
		t.Fatalf("id 31: wait %v, want (0, 100ms]", d)
	}
	if d := take("a", now.Add(100*time.Millisecond)); d != 0 {
		t.Fatalf("after 100 ms at 10/s: wait %v, want none", d)
	}
	if d := take("b", now); d != 0 {
		t.Fatalf("another client: wait %v", d)
	}
	// Past maxQuotaClients client ids, idle ones are forgotten and the
	// rest share one bucket: memory stays bounded under a flood of ids.
	for i := range 2 * maxQuotaClients {
		take(fmt.Sprint("c", i), now)
	}
	if n := len(q.clients); n > maxQuotaClients+1 {
		t.Fatalf("%d client buckets after a flood of client ids, want at most %d", n, maxQuotaClients+1)
	}
	later := now.Add(time.Minute)
	take("new", later)
	if n := len(q.clients); n > 3 {
		t.Fatalf("%d client buckets a minute later, want the idle ones forgotten", n)
	}
}

// TestEvictedProducerRecovers: on a topic with max.producers.per.partition
// of 2, a third producer evicts the longest idle one; that one's next
// batch (a sequence other than 0) is UNKNOWN_PRODUCER_ID over the wire, a
// franz-go producer in that state recovers by itself, and nothing is
// stored twice.
func TestEvictedProducerRecovers(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("few", 1, map[string]string{"max.producers.per.partition": "2"}); err != nil {
		t.Fatal(err)
	}
	c := b.raw()
	first, epoch := c.initProducerID()
	if p := c.produce("few", idempotentBatch(2, first, epoch, 0)); p.ErrorCode != 0 {
		t.Fatalf("first producer: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	for range 2 {
		id, e := c.initProducerID()
		if p := c.produce("few", idempotentBatch(1, id, e, 0)); p.ErrorCode != 0 {
			t.Fatalf("producer %d: %v", id, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if p := c.produce("few", idempotentBatch(1, first, epoch, 2)); p.ErrorCode != kerr.UnknownProducerID.Code {
		t.Fatalf("evicted producer continuing: %v, want UNKNOWN_PRODUCER_ID", kerr.ErrorForCode(p.ErrorCode))
	}

	// Real clients: three idempotent producers taking turns on a
	// partition that keeps two; each turn the one whose turn it is was
	// evicted by the other two.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var producers []*kgo.Client
	for i := range 3 {
		producers = append(producers, b.client(kgo.DefaultProduceTopic("few"), kgo.ClientID(fmt.Sprint("p", i)),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			// A produce error waits for a metadata refresh, at most one
			// per MetadataMinAge (5 s by default).
			kgo.MetadataMinAge(50*time.Millisecond)))
	}
	const rounds = 4
	for r := range rounds {
		for i, p := range producers {
			if err := p.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%d-%d", r, i))).FirstErr(); err != nil {
				t.Fatalf("round %d producer %d: %v", r, i, err)
			}
		}
	}
	consumer := b.client(kgo.ConsumeTopics("few"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	want := 2 + 2 + rounds*len(producers) // the raw batches' records, then the clients'
	seen := map[string]int{}
	got := 0
	for got < want {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", got, want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if r.Value != nil && len(r.Value) < 8 {
				seen[string(r.Value)]++
			}
		})
	}
	for r := range rounds {
		for i := range producers {
			if v := fmt.Sprintf("%d-%d", r, i); seen[v] != 1 {
				t.Errorf("record %s stored %d times, want once", v, seen[v])
			}
		}
	}
	if got != want {
		t.Fatalf("%d records in the partition, want %d", got, want)
	}
}
