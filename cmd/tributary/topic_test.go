package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// topicIDRe matches a topic ID (base64 of 16 bytes), which changes every run.
var topicIDRe = regexp.MustCompile(`[A-Za-z0-9_-]{22}`)

func TestTopicCreateListDescribeAlterDelete(t *testing.T) {
	b := startCLIBroker(t)

	r := b.must(t, "", "topic", "create", "events", "--partitions", "3", "--config", "retention.ms=3600000", "--config", "cleanup.policy=delete")
	golden(t, "topic_create.golden", r.stdout)
	b.must(t, "", "topic", "create", "audit", "--replication-factor", "1")

	b.fails(t, 1, "TOPIC_ALREADY_EXISTS", "topic", "create", "events")
	r = b.must(t, "", "topic", "create", "events", "--if-not-exists")
	if !strings.Contains(r.stdout, "exists") {
		t.Errorf("--if-not-exists: %q", r.stdout)
	}
	// A single broker holds one replica: the broker refuses more.
	b.fails(t, 1, "--replication-factor 3: INVALID_REPLICATION_FACTOR", "topic", "create", "more", "--replication-factor", "3")
	b.fails(t, 2, "--replication-factor 0: want at least 1", "topic", "create", "more", "--replication-factor", "0")
	b.fails(t, 2, "want name=value", "topic", "create", "more", "--config", "retention.ms")
	b.fails(t, 2, "--partitions 0: want at least 1", "topic", "create", "more", "--partitions", "0")
	b.fails(t, 1, "INVALID_CONFIG", "topic", "create", "more", "--config", "retention.ms=soon")

	r = b.must(t, "", "topic", "list")
	golden(t, "topic_list.golden", r.stdout)
	r = b.must(t, "", "topic", "list", "--internal")
	if !strings.Contains(r.stdout, "INTERNAL") {
		t.Errorf("list --internal has no INTERNAL column:\n%s", r.stdout)
	}
	var listed []topicSummary
	r = b.must(t, "", "topic", "list", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list --output json: %v %+v\n%s", err, listed, r.stdout)
	}
	if listed[1].Topic != "events" || listed[1].Partitions != 3 || len(listed[1].ID) != 22 {
		t.Errorf("list json: %+v", listed[1])
	}

	// One record per batch with a fixed timestamp gives stable sizes.
	cl := b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testCtx(t)
	for i, p := range []int32{0, 0, 0, 2} {
		rec := &kgo.Record{Topic: "events", Partition: p, Value: []byte("record-" + string(rune('a'+i))), Timestamp: time.UnixMilli(1700000000000)}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	r = b.must(t, "", "topic", "describe", "events")
	golden(t, "topic_describe.golden", topicIDRe.ReplaceAllString(r.stdout, "<topic-id>------------"))

	r = b.must(t, "", "topic", "alter", "events", "--config", "flush.messages=1", "--delete-config", "retention.ms", "--partitions", "5")
	golden(t, "topic_alter.golden", r.stdout)
	var described []topicDescription
	r = b.must(t, "", "topic", "describe", "events", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &described); err != nil || len(described) != 1 {
		t.Fatalf("describe --output json: %v\n%s", err, r.stdout)
	}
	d := described[0]
	if len(d.Partitions) != 5 || d.Partitions[0].EndOffset != 3 || d.Partitions[0].SizeBytes <= 0 || d.Partitions[4].EndOffset != 0 {
		t.Errorf("after alter: partitions %+v", d.Partitions)
	}
	// A single broker is node 0: every partition's one replica, in sync.
	for _, p := range d.Partitions {
		if p.Leader != 0 || !slices.Equal(p.Replicas, []int32{0}) || !slices.Equal(p.ISR, []int32{0}) || p.OfflineReplicas == nil || len(p.OfflineReplicas) != 0 {
			t.Errorf("partition %d: leader %d replicas %v isr %v offline %v, want 0 [0] [0] []", p.Partition, p.Leader, p.Replicas, p.ISR, p.OfflineReplicas)
		}
	}
	configs := map[string]string{}
	for _, c := range d.Configs {
		configs[c.Name] = c.Value
	}
	if configs["flush.messages"] != "1" || configs["cleanup.policy"] != "delete" || configs["retention.ms"] != "" {
		t.Errorf("after alter: configs %v", configs)
	}
	r = b.must(t, "", "topic", "describe", "events", "--all-configs")
	if !strings.Contains(r.stdout, "segment.bytes") || !strings.Contains(r.stdout, "DEFAULT") {
		t.Errorf("--all-configs lacks the defaults:\n%s", r.stdout)
	}
	b.fails(t, 1, "INVALID_PARTITIONS", "topic", "alter", "events", "--partitions", "2")
	b.fails(t, 2, "nothing to do", "topic", "alter", "events")

	r = b.must(t, "", "topic", "delete", "events")
	golden(t, "topic_delete.golden", r.stdout)
	r = b.must(t, "", "topic", "list")
	if strings.Contains(r.stdout, "events") {
		t.Errorf("events still listed after delete:\n%s", r.stdout)
	}
	b.fails(t, 1, "UNKNOWN_TOPIC_OR_PARTITION", "topic", "delete", "events")
	b.must(t, "", "topic", "delete", "events", "--if-exists")
	b.fails(t, 1, "UNKNOWN_TOPIC_OR_PARTITION", "topic", "describe", "nosuch")
	b.fails(t, 2, "unknown command", "topic", "frobnicate")
}

// TestBrokerDown: a command whose broker is not there fails with one line
// instead of hanging.
func TestBrokerDown(t *testing.T) {
	start := time.Now()
	r := runCLI(t, "", "--brokers", "127.0.0.1:1", "topic", "list")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "topic list")
	if time.Since(start) > 40*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// TestTopicAlterRefusesNegativePartitions: a partition count that cannot be
// applied is an error, not a silent no-op that exits 0.
func TestTopicAlterRefusesNegativePartitions(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "2")
	b.fails(t, 2, "--partitions", "topic", "alter", "events", "--partitions", "-3")
}
