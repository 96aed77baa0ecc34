package server

// Admin APIs driven through franz-go's kadm against a real broker:
// CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords, with
// their refusals. admin_configs_test.go covers the config APIs and
// admin_versions_test.go every advertised version of each admin API.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
)

// adminNumPartitions is num.partitions in these tests, unlike Kafka's 1 so
// that "broker default" is visible.
func adminNumPartitions(c *Config) { c.NumPartitions = 3 }

// wantKerr fails unless err is the Kafka error want (nil: no error).
func wantKerr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// topicSeries lists the metric families carrying a topic="name" label.
func topicSeries(t *testing.T, b *testBroker, name string) []string {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "topic" && lp.GetValue() == name {
					out = append(out, mf.GetName())
				}
			}
		}
	}
	return out
}

// errorsCounted is tributary_request_errors_total for one API and code.
func errorsCounted(t *testing.T, b *testBroker, api string, code *kerr.Error) float64 {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "tributary_request_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["api"] == api && labels["error"] == code.Message {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func TestAdminCreateTopics(t *testing.T) {
	b := startBroker(t, noAutoCreate, adminNumPartitions)
	adm := b.admin()
	ctx := testContext(t)

	resps, err := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("60000")}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	r := resps["plain"]
	wantKerr(t, "create plain", r.Err, nil)
	topic, ok := b.mgr.Topic("plain")
	if !ok || len(topic.Partitions) != 2 || topic.Overrides["retention.ms"] != "60000" {
		t.Fatalf("stored topic %+v, %v; want 2 partitions and retention.ms=60000", topic, ok)
	}
	if r.ID != kadm.TopicID(topic.ID) || r.NumPartitions != 2 || r.ReplicationFactor != 1 {
		t.Fatalf("response id %v partitions %d rf %d; want %v 2 1", r.ID, r.NumPartitions, r.ReplicationFactor, topic.ID)
	}
	if c := r.Configs["retention.ms"]; c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms in response: %+v", c)
	}
	if c := r.Configs["segment.bytes"]; c.MaybeValue() != fmt.Sprint(tlog.DefaultSegmentBytes) || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.bytes in response: %+v", c)
	}
	if len(r.Configs) != len(tlog.ConfigNames()) {
		t.Fatalf("%d configs in response, want %d", len(r.Configs), len(tlog.ConfigNames()))
	}

	// -1 and -1: the broker's num.partitions and the only replication factor.
	r, err = adm.CreateTopic(ctx, -1, -1, nil, "defaults")
	wantKerr(t, "create defaults", err, nil)
	if topic, _ := b.mgr.Topic("defaults"); r.NumPartitions != 3 || len(topic.Partitions) != 3 {
		t.Fatalf("defaults: response %d partitions, stored %d; want num.partitions=3", r.NumPartitions, len(topic.Partitions))
	}

	resps, err = adm.ValidateCreateTopics(ctx, 4, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "dry")
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "validate dry", resps["dry"].Err, nil)
	if resps["dry"].NumPartitions != 4 || resps["dry"].ID != (kadm.TopicID{}) {
		t.Fatalf("validate-only response %+v: want 4 partitions and no topic id", resps["dry"])
	}
	if _, ok := b.mgr.Topic("dry"); ok {
		t.Fatal("validate-only created the topic")
	}

	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "a_b"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
		msg        string // part of the error message
	}{
		{"plain", 1, 1, nil, kerr.TopicAlreadyExists, "already exists"},
		{"rf3", 1, 3, nil, kerr.InvalidReplicationFactor, "3"},
		{"rf0", 1, 0, nil, kerr.InvalidReplicationFactor, "larger than 0"},
		{"p0", 0, 1, nil, kerr.InvalidPartitions, "non-positive"},
		{"p-2", -2, 1, nil, kerr.InvalidPartitions, "non-positive"},
		{"huge", tlog.MaxPartitions + 1, 1, nil, kerr.InvalidPartitions, "at most"},
		{"badcfg", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("abc")}, kerr.InvalidConfig, "retention.ms"},
		{"rangecfg", 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1")}, kerr.InvalidConfig, "segment.bytes"},
		{"unknowncfg", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig, "no.such.config"},
		{"nullcfg", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig, "retention.ms"},
		{"bad name!", 1, 1, nil, kerr.InvalidTopicException, "bad name!"},
		{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException, ""},
		{"__consumer_offsets", 1, 1, nil, kerr.InvalidRequest, "internal"},
		{"a.b", 1, 1, nil, kerr.InvalidTopicException, "a_b"},
	} {
		for _, validate := range []bool{true, false} {
			create := adm.CreateTopics
			if validate {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, tc.partitions, tc.rf, tc.configs, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			r := resps[tc.topic]
			what := fmt.Sprintf("create %.20q (validate-only %v)", tc.topic, validate)
			wantKerr(t, what, r.Err, tc.want)
			if !strings.Contains(r.ErrMessage, tc.msg) || r.ErrMessage == "" {
				t.Errorf("%s: message %q, want one containing %q", what, r.ErrMessage, tc.msg)
			}
			if r.NumPartitions != -1 || len(r.Configs) != 0 {
				t.Errorf("%s: failed create reports %d partitions and %d configs", what, r.NumPartitions, len(r.Configs))
			}
		}
		if tc.topic != "plain" {
			if _, ok := b.mgr.Topic(tc.topic); ok {
				t.Errorf("refused topic %.20q exists", tc.topic)
			}
		}
	}
	if n := errorsCounted(t, b, "CreateTopics", kerr.InvalidReplicationFactor); n != 4 {
		t.Errorf("INVALID_REPLICATION_FACTOR counted %v times, want 4", n)
	}

	// Duplicates and manual assignments need raw requests.
	cl := b.client()
	req := kmsg.NewPtrCreateTopicsRequest()
	add := func(name string, partitions int32, rf int16, assignment ...[]int32) {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
		for i, replicas := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), replicas
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
	}
	add("dup", 1, 1)
	add("manual", -1, -1, []int32{0}, []int32{0})
	add("dup", 2, 1)
	add("manual-other-broker", -1, -1, []int32{0}, []int32{1})
	add("manual-twice", -1, -1, []int32{0, 0})
	add("manual-and-count", 2, -1, []int32{0})
	add("manual-empty", -1, -1, []int32{})
	gap := kmsg.NewCreateTopicsRequestTopic()
	gap.Topic, gap.NumPartitions, gap.ReplicationFactor = "manual-gap", -1, -1
	gap.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{0}}, {Partition: 2, Replicas: []int32{0}}}
	req.Topics = append(req.Topics, gap)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*kerr.Error{
		"dup":                 kerr.InvalidRequest,
		"manual":              nil,
		"manual-other-broker": kerr.InvalidReplicaAssignment,
		"manual-twice":        kerr.InvalidReplicaAssignment,
		"manual-and-count":    kerr.InvalidRequest,
		"manual-empty":        kerr.InvalidReplicaAssignment,
		"manual-gap":          kerr.InvalidReplicaAssignment,
	}
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d topics answered, want %d (duplicates answered once)", len(resp.Topics), len(want))
	}
	for _, st := range resp.Topics {
		w, ok := want[st.Topic]
		if !ok {
			t.Fatalf("unexpected topic %q in response", st.Topic)
		}
		wantKerr(t, "create "+st.Topic, kerr.ErrorForCode(st.ErrorCode), w)
		if w != nil && st.ErrorMessage == nil {
			t.Errorf("create %s: no error message", st.Topic)
		}
		_, exists := b.mgr.Topic(st.Topic)
		if exists != (w == nil) {
			t.Errorf("topic %s exists=%v after error %v", st.Topic, exists, w)
		}
	}
	if topic, _ := b.mgr.Topic("manual"); len(topic.Partitions) != 2 {
		t.Fatalf("manual assignment created %d partitions, want 2", len(topic.Partitions))
	}
}

func TestAdminDeleteTopics(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	adm := b.admin()
	ctx := testContext(t)
	for _, name := range []string{"d1", "d2", "d3"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, name); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	produceN(t, b.client(), "d1", 10)
	if len(topicSeries(t, b, "d1")) == 0 {
		t.Fatal("no per-topic series after producing")
	}
	oldID := b.mgr.Topics()[0].ID

	r, err := adm.DeleteTopic(ctx, "d1")
	wantKerr(t, "delete d1", err, nil)
	if r.ID != kadm.TopicID(oldID) {
		t.Fatalf("delete response id %v, want %v", r.ID, oldID)
	}
	if _, ok := b.mgr.Topic("d1"); ok {
		t.Fatal("d1 still exists")
	}
	if s := topicSeries(t, b, "d1"); len(s) != 0 {
		t.Fatalf("metric series of deleted topic remain: %v", s)
	}
	_, err = adm.DeleteTopic(ctx, "d1")
	wantKerr(t, "delete d1 again", err, kerr.UnknownTopicOrPartition)

	// Recreated under the same name: a new ID and an empty log.
	r2, err := adm.CreateTopic(ctx, 1, 1, nil, "d1")
	wantKerr(t, "recreate d1", err, nil)
	if r2.ID == kadm.TopicID(oldID) {
		t.Fatal("recreated topic reuses the deleted topic's ID")
	}
	if l := b.mgr.Topics()[0].Partitions[0]; l.NextOffset() != 0 {
		t.Fatalf("recreated topic's log ends at %d, want 0", l.NextOffset())
	}

	// v6: by ID, both, neither, duplicates.
	d2, _ := b.mgr.Topic("d2")
	req := kmsg.NewPtrDeleteTopicsRequest()
	d3 := "d3"
	req.Topics = []kmsg.DeleteTopicsRequestTopic{
		{TopicID: d2.ID},
		{TopicID: [16]byte{1, 2, 3}},
		{Topic: &d3, TopicID: [16]byte{4}},
		{},
		{Topic: kmsg.StringPtr("x")},
		{Topic: kmsg.StringPtr("x")},
	}
	resp, err := req.RequestWith(ctx, b.client())
	if err != nil {
		t.Fatal(err)
	}
	// The repeated "x" is answered once, as Kafka does.
	wantCodes := []*kerr.Error{nil, kerr.UnknownTopicID, kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest}
	if len(resp.Topics) != len(wantCodes) {
		t.Fatalf("%d answers, want %d", len(resp.Topics), len(wantCodes))
	}
	for i, st := range resp.Topics {
		wantKerr(t, fmt.Sprintf("delete #%d", i), kerr.ErrorForCode(st.ErrorCode), wantCodes[i])
		if wantCodes[i] != nil && st.ErrorMessage == nil {
			t.Errorf("delete #%d: no error message", i)
		}
	}
	if st := resp.Topics[0]; st.Topic == nil || *st.Topic != "d2" || st.TopicID != d2.ID {
		t.Fatalf("delete by id answered topic %v id %x, want d2 %x", st.Topic, st.TopicID, d2.ID)
	}
	if _, ok := b.mgr.Topic("d2"); ok {
		t.Fatal("d2 still exists after deletion by id")
	}
	if _, ok := b.mgr.Topic("d3"); !ok {
		t.Fatal("d3 deleted by a request naming it with an id too")
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	adm := b.admin()
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b.client(), "grow", 5)

	rs, err := adm.ValidateCreatePartitions(ctx, 2, "grow")
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "validate +2", rs["grow"].Err, nil)
	if topic, _ := b.mgr.Topic("grow"); len(topic.Partitions) != 1 {
		t.Fatal("validate-only added partitions")
	}
	rs, err = adm.CreatePartitions(ctx, 2, "grow")
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "create +2", rs["grow"].Err, nil)
	if topic, _ := b.mgr.Topic("grow"); len(topic.Partitions) != 3 {
		t.Fatalf("%d partitions, want 3", len(topic.Partitions))
	}

	for _, tc := range []struct {
		set  int
		want *kerr.Error
	}{{3, kerr.InvalidPartitions}, {2, kerr.InvalidPartitions}, {tlog.MaxPartitions + 1, kerr.InvalidPartitions}} {
		rs, err := adm.UpdatePartitions(ctx, tc.set, "grow")
		if err != nil {
			t.Fatal(err)
		}
		wantKerr(t, fmt.Sprintf("set %d", tc.set), rs["grow"].Err, tc.want)
		if rs["grow"].ErrMessage == "" {
			t.Errorf("set %d: no error message", tc.set)
		}
	}
	rs, err = adm.UpdatePartitions(ctx, 4, "nope")
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "unknown topic", rs["nope"].Err, kerr.UnknownTopicOrPartition)

	// Produce to and consume from a new partition with fresh clients.
	prod := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: 2, Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatalf("produce to new partition: %v", err)
	}
	cons := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"grow": {2: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	recs := consumeN(t, cons, 1)
	if r := recs[0]; r.Partition != 2 || r.Offset != 0 || string(r.Value) != "new" {
		t.Fatalf("consumed %s/%d@%d %q, want grow/2@0 \"new\"", r.Topic, r.Partition, r.Offset, r.Value)
	}

	// Manual assignments, raw.
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Topics = []kmsg.CreatePartitionsRequestTopic{
		{Topic: "grow", Count: 5, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{0}}, {Replicas: []int32{0}}}},
	}
	resp, err := req.RequestWith(ctx, b.client())
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "assigned +2", kerr.ErrorForCode(resp.Topics[0].ErrorCode), nil)
	for _, tc := range []struct {
		name       string
		count      int32
		assignment [][]int32
	}{
		{"other broker", 6, [][]int32{{1}}},
		{"too few", 7, [][]int32{{0}}},
		{"too many", 6, [][]int32{{0}, {0}}},
		{"two replicas", 6, [][]int32{{0, 0}}},
		{"empty", 6, [][]int32{{}}},
	} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", tc.count
		for _, r := range tc.assignment {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: r})
		}
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp, err := req.RequestWith(ctx, b.client())
		if err != nil {
			t.Fatal(err)
		}
		wantKerr(t, tc.name, kerr.ErrorForCode(resp.Topics[0].ErrorCode), kerr.InvalidReplicaAssignment)
	}
	req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "grow", Count: 9}, {Topic: "grow", Count: 10}}
	resp, err = req.RequestWith(ctx, b.client())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("a topic named twice answered %d times, want once", len(resp.Topics))
	}
	wantKerr(t, "duplicate", kerr.ErrorForCode(resp.Topics[0].ErrorCode), kerr.InvalidRequest)
	if topic, _ := b.mgr.Topic("grow"); len(topic.Partitions) != 5 {
		t.Fatalf("%d partitions, want 5", len(topic.Partitions))
	}
}

func TestAdminDeleteRecords(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	adm := b.admin()
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	prod := b.client()
	produceN(t, prod, "dr", 100)

	del := func(offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: offset})
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := rs.Lookup("dr", 0)
		if !ok {
			t.Fatal("no answer for dr/0")
		}
		return r
	}
	if r := del(40); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete before 40: low watermark %d, %v", r.LowWatermark, r.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("dr", 0); o.Offset != 40 {
		t.Fatalf("log start offset %d, want 40", o.Offset)
	}
	cons := b.client(kgo.ConsumeTopics("dr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	recs := consumeN(t, cons, 60)
	if recs[0].Offset != 40 || string(recs[0].Value) != "v40" {
		t.Fatalf("first record from earliest: offset %d %q, want 40 \"v40\"", recs[0].Offset, recs[0].Value)
	}

	if r := del(10); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete below the start: low watermark %d, %v; want 40 unchanged", r.LowWatermark, r.Err)
	}
	if r := del(101); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete beyond the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
	if r := del(-1); r.Err != nil || r.LowWatermark != 100 {
		t.Fatalf("delete to the high watermark (-1): low watermark %d, %v; want 100", r.LowWatermark, r.Err)
	}
	produceN(t, prod, "dr", 3)
	cons2 := b.client(kgo.ConsumeTopics("dr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if recs := consumeN(t, cons2, 3); recs[0].Offset != 100 {
		t.Fatalf("first record after deleting all: offset %d, want 100", recs[0].Offset)
	}

	// Unknown partitions and topics, raw.
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Topics = []kmsg.DeleteRecordsRequestTopic{
		{Topic: "dr", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -5}}},
		{Topic: "nope", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 1}}},
	}
	resp := b.raw().do(req).(*kmsg.DeleteRecordsResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LowWatermark != -1 {
		t.Fatalf("offset -5: code %d low watermark %d", p.ErrorCode, p.LowWatermark)
	}
	if p := resp.Topics[1].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: code %d", p.ErrorCode)
	}
}
