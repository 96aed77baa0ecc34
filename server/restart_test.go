package server

// Restart: a broker stopped and started again over the same data dir
// serves every acknowledged record at the same offset, with the same
// timestamps (LogAppendTime ones included) under the same topic IDs, keeps
// producing at the next offset, and remembers deleted topics as deleted.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// noAutoCreate keeps stray Metadata requests from creating topics, so the
// topics present are exactly the ones the test made.
func noAutoCreate(c *Config) { c.AutoCreateTopics = false }

// tpo names one record: topic, partition, offset.
type tpo struct {
	topic     string
	partition int32
	offset    int64
}

// storedRecord is what a consumer sees of one record.
type storedRecord struct {
	key, value    string
	headers       string
	timestamp     int64
	logAppend     bool // timestamp type LogAppendTime
	compressed    bool // the batch's codec is not none
	leaderEpoch   int32
	producerID    int64
	producerEpoch int16
}

func snapshot(r *kgo.Record) storedRecord {
	hs := ""
	for _, h := range r.Headers {
		hs += h.Key + "=" + string(h.Value) + ";"
	}
	return storedRecord{
		key:           string(r.Key),
		value:         string(r.Value),
		headers:       hs,
		timestamp:     r.Timestamp.UnixMilli(),
		logAppend:     r.Attrs.TimestampType() == 1,
		compressed:    r.Attrs.CompressionType() != 0,
		leaderEpoch:   r.LeaderEpoch,
		producerID:    r.ProducerID,
		producerEpoch: r.ProducerEpoch,
	}
}

// createTopics creates each topic through the Kafka API and returns
// nothing until all exist.
func createTopics(t *testing.T, adm *kadm.Client, partitions int32, configs map[string]*string, topics ...string) {
	t.Helper()
	resps, err := adm.CreateTopics(testContext(t), partitions, 1, configs, topics...)
	if err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			t.Fatalf("create topic %s: %v (%s)", r.Topic, r.Err, r.ErrMessage)
		}
	}
}

// freshAdmin is an admin client with no metadata cached: kadm answers
// ListTopics from its client's metadata cache (up to 5s old), which would
// hide a deletion or creation that just happened.
func freshAdmin(t *testing.T, b *testBroker) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// topicIDs lists every topic's ID and partition count.
func topicIDs(t *testing.T, b *testBroker) map[string]string {
	t.Helper()
	details, err := freshAdmin(t, b).ListTopics(testContext(t))
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	ids := map[string]string{}
	for name, d := range details {
		if d.Err != nil {
			t.Fatalf("topic %s: %v", name, d.Err)
		}
		if d.ID == (kadm.TopicID{}) {
			t.Fatalf("topic %s has no topic ID", name)
		}
		ids[name] = fmt.Sprintf("%s/%d", d.ID, len(d.Partitions))
	}
	return ids
}

// endOffsets is ListOffsets(latest) of every partition of topics.
func endOffsets(t *testing.T, adm *kadm.Client, topics ...string) map[string]map[int32]int64 {
	t.Helper()
	listed, err := adm.ListEndOffsets(testContext(t), topics...)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	out := map[string]map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// consumeAll reads every record below ends from a fresh client.
func consumeAll(t *testing.T, b *testBroker, ends map[string]map[int32]int64) map[tpo]storedRecord {
	t.Helper()
	assign := map[string]map[int32]kgo.Offset{}
	want := 0
	for topic, parts := range ends {
		assign[topic] = map[int32]kgo.Offset{}
		for p, end := range parts {
			assign[topic][p] = kgo.NewOffset().AtStart()
			want += int(end)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumePartitions(assign), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[tpo]storedRecord{}
	for _, r := range consumeN(t, cl, want) {
		k := tpo{r.Topic, r.Partition, r.Offset}
		if _, dup := out[k]; dup {
			t.Fatalf("record %v delivered twice", k)
		}
		out[k] = snapshot(r)
	}
	if len(out) != want {
		t.Fatalf("consumed %d records, want %d", len(out), want)
	}
	return out
}

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerIn(t, dir, noAutoCreate)
	adm := kadm.NewClient(b.client())
	lat := "LogAppendTime"
	createTopics(t, adm, 3, nil, "restart-a")
	createTopics(t, adm, 1, nil, "restart-b")
	createTopics(t, adm, 2, map[string]*string{"message.timestamp.type": &lat}, "restart-lat")
	topics := []string{"restart-a", "restart-b", "restart-lat"}
	ids := topicIDs(t, b)
	if got := slices.Sorted(maps.Keys(ids)); !slices.Equal(got, topics) {
		t.Fatalf("topics %v, want %v", got, topics)
	}

	plain := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	zstd := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	ctx := testContext(t)
	created := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	produceStart := time.Now().Truncate(time.Millisecond)
	acked := map[tpo]*kgo.Record{}
	for round := range 4 {
		cl := plain
		if round%2 == 1 {
			cl = zstd
		}
		for _, topic := range topics {
			parts := len(topicDetails(t, b, topic).Partitions)
			var recs []*kgo.Record
			for p := range parts {
				for i := range 5 {
					recs = append(recs, &kgo.Record{
						Topic:     topic,
						Partition: int32(p),
						Key:       []byte(fmt.Sprintf("%s/%d/%d/%d", topic, p, round, i)),
						Value:     []byte(fmt.Sprintf("value %d %d %s", round, i, topic)),
						Headers:   []kgo.RecordHeader{{Key: "round", Value: []byte(fmt.Sprint(round))}},
						Timestamp: created.Add(time.Duration(round*10+i) * time.Millisecond),
					})
				}
			}
			for _, r := range cl.ProduceSync(ctx, recs...) {
				if r.Err != nil {
					t.Fatalf("produce %s/%d: %v", r.Record.Topic, r.Record.Partition, r.Err)
				}
				acked[tpo{r.Record.Topic, r.Record.Partition, r.Record.Offset}] = r.Record
			}
		}
	}
	ends := endOffsets(t, adm, topics...)
	for topic, parts := range ends {
		for p, end := range parts {
			if end != 20 {
				t.Fatalf("%s/%d: end offset %d, want 20 (4 rounds of 5)", topic, p, end)
			}
		}
	}
	before := consumeAll(t, b, ends)
	if len(before) != len(acked) {
		t.Fatalf("consumed %d records, %d acknowledged", len(before), len(acked))
	}
	for k, r := range acked {
		got, ok := before[k]
		if !ok || got.key != string(r.Key) || got.value != string(r.Value) {
			t.Fatalf("%v: consumed %+v, acknowledged key %q", k, got, r.Key)
		}
		isLAT := k.topic == "restart-lat"
		if got.logAppend != isLAT {
			t.Fatalf("%v: LogAppendTime %v, want %v", k, got.logAppend, isLAT)
		}
		switch {
		case isLAT && got.timestamp < produceStart.UnixMilli():
			t.Fatalf("%v: LogAppendTime timestamp %d is before the produce started (%d)", k, got.timestamp, produceStart.UnixMilli())
		case !isLAT && got.timestamp != r.Timestamp.UnixMilli():
			t.Fatalf("%v: CreateTime timestamp %d, produced %d", k, got.timestamp, r.Timestamp.UnixMilli())
		}
	}

	plain.Close()
	zstd.Close()
	b.stop()

	b2 := startBrokerIn(t, dir, noAutoCreate)
	adm2 := kadm.NewClient(b2.client())
	if got := topicIDs(t, b2); !maps.Equal(got, ids) {
		t.Fatalf("after restart topics are %v, want %v", got, ids)
	}
	cfgs, err := adm2.DescribeTopicConfigs(testContext(t), "restart-lat")
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := cfgs.On("restart-lat", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs of restart-lat: %v, %v", err, rc.Err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "message.timestamp.type" {
			found = true
			if c.Value == nil || *c.Value != lat {
				t.Errorf("after restart message.timestamp.type = %v, want %s", c.Value, lat)
			}
		}
	}
	if !found {
		t.Errorf("after restart restart-lat has no message.timestamp.type config")
	}
	if got := endOffsets(t, adm2, topics...); !mapsEqualNested(got, ends) {
		t.Fatalf("after restart end offsets %v, want %v", got, ends)
	}
	after := consumeAll(t, b2, ends)
	for k, want := range before {
		if got, ok := after[k]; !ok || got != want {
			t.Errorf("after restart %v is %+v (present %v), was %+v", k, got, ok, want)
		}
	}

	// Producing continues at the next offset, in every partition.
	cl := b2.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for topic, parts := range ends {
		for p, end := range parts {
			r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("after restart")}
			if err := cl.ProduceSync(testContext(t), r).FirstErr(); err != nil {
				t.Fatalf("produce after restart to %s/%d: %v", topic, p, err)
			}
			if r.Offset != end {
				t.Errorf("%s/%d: first offset after restart %d, want %d", topic, p, r.Offset, end)
			}
		}
	}
}

func topicDetails(t *testing.T, b *testBroker, topic string) kadm.TopicDetail {
	t.Helper()
	details, err := freshAdmin(t, b).ListTopics(testContext(t), topic)
	if err != nil {
		t.Fatalf("list topic %s: %v", topic, err)
	}
	d, ok := details[topic]
	if !ok {
		t.Fatalf("topic %s not listed", topic)
	}
	return d
}

func mapsEqualNested(a, b map[string]map[int32]int64) bool {
	return maps.EqualFunc(a, b, func(x, y map[int32]int64) bool { return maps.Equal(x, y) })
}

func TestRestartDeletedTopicStaysDeleted(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerIn(t, dir, noAutoCreate)
	adm := kadm.NewClient(b.client())
	createTopics(t, adm, 2, nil, "gone")
	createTopics(t, adm, 1, nil, "kept")
	produceN(t, b.client(), "gone", 10)
	produceN(t, b.client(), "kept", 10)
	ids := topicIDs(t, b)
	oldGone := topicDetails(t, b, "gone").ID

	resps, err := adm.DeleteTopics(testContext(t), "gone")
	if err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	if r, err := resps.On("gone", nil); err != nil || r.Err != nil {
		t.Fatalf("delete gone: %v, %v", err, r.Err)
	}
	if got := topicIDs(t, b); !maps.Equal(got, map[string]string{"kept": ids["kept"]}) {
		t.Fatalf("after delete topics are %v", got)
	}
	b.stop()

	b2 := startBrokerIn(t, dir, noAutoCreate)
	adm2 := kadm.NewClient(b2.client())
	if got := topicIDs(t, b2); !maps.Equal(got, map[string]string{"kept": ids["kept"]}) {
		t.Fatalf("after restart topics are %v, want kept alone", got)
	}
	details, err := freshAdmin(t, b2).ListTopics(testContext(t), "gone")
	if err != nil {
		t.Fatalf("list gone: %v", err)
	}
	if d := details["gone"]; !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("metadata for the deleted topic after restart: %+v, want UNKNOWN_TOPIC_OR_PARTITION", d)
	}
	for p := range 2 {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("gone-%d", p))); !os.IsNotExist(err) {
			t.Errorf("partition directory gone-%d still present after delete and restart (stat: %v)", p, err)
		}
	}
	if got := consumeAll(t, b2, map[string]map[int32]int64{"kept": {0: 10}}); len(got) != 10 {
		t.Fatalf("kept has %d records after restart, want 10", len(got))
	}

	// Recreated: a new topic with a new ID and none of the old records.
	createTopics(t, adm2, 1, nil, "gone")
	newGone := topicDetails(t, b2, "gone").ID
	if newGone == oldGone || newGone == (kadm.TopicID{}) {
		t.Fatalf("recreated topic has ID %s, the deleted one had %s", newGone, oldGone)
	}
	if got := endOffsets(t, adm2, "gone"); got["gone"][0] != 0 {
		t.Fatalf("recreated topic starts with end offset %d, want 0", got["gone"][0])
	}
	cl := b2.client()
	r := &kgo.Record{Topic: "gone", Value: []byte("reborn")}
	if err := cl.ProduceSync(testContext(t), r).FirstErr(); err != nil {
		t.Fatalf("produce to recreated topic: %v", err)
	}
	if r.Offset != 0 {
		t.Fatalf("first record of the recreated topic at offset %d, want 0", r.Offset)
	}
	got := consumeAll(t, b2, map[string]map[int32]int64{"gone": {0: 1}})
	if rec := got[tpo{"gone", 0, 0}]; rec.value != "reborn" {
		t.Fatalf("recreated topic holds %+v, want the one new record", got)
	}

	// And the new ID is the one that survives the next restart.
	b2.stop()
	b3 := startBrokerIn(t, dir, noAutoCreate)
	if id := topicDetails(t, b3, "gone").ID; id != newGone {
		t.Fatalf("after a second restart the recreated topic has ID %s, want %s", id, newGone)
	}
}
