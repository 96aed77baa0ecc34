package server

// librdkafka's balanced consumer (kcat -G): it joins a group, consumes a
// topic to its end, commits (librdkafka's auto-commit and the final commit
// on close) and leaves; the group's commits are at the end of every
// partition. Skipped when kcat is not installed.

import (
	"fmt"
	"strings"
	"testing"
)

func TestGroupKcatBalancedConsumer(t *testing.T) {
	kcat := kcatPath(t)
	const (
		topic      = "gkc"
		group      = "gkc-group"
		partitions = 3
		records    = 150
	)
	b := startGroupBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, partitions)
	produceKeyed(t, ctx, b.client(), topic, 0, records)
	end := groupEndOffsets(t, ctx, adm, topic)

	// Metadata sanity first: librdkafka sees the topic and its leaders.
	md := runKcat(t, kcat, "", "-L", "-b", b.addr, "-t", topic)
	if !strings.Contains(md, fmt.Sprintf("topic \"%s\" with %d partitions", topic, partitions)) {
		t.Fatalf("kcat -L:\n%s", md)
	}

	out := runKcat(t, kcat, "", "-b", b.addr, "-G", group, "-e", "-q",
		"-f", "%p %o %k\n",
		"-X", "auto.offset.reset=earliest",
		"-X", "session.timeout.ms=3000",
		"-X", "heartbeat.interval.ms=300",
		"-X", "auto.commit.interval.ms=100",
		topic)
	seen := map[partitionOffset]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var p int32
		var o int64
		var k string
		if _, err := fmt.Sscanf(line, "%d %d %s", &p, &o, &k); err != nil {
			t.Fatalf("kcat output line %q: %v", line, err)
		}
		seen[partitionOffset{p, o}]++
	}
	if n, first := missingRecords(end, seen); n != 0 || len(seen) != records {
		t.Fatalf("kcat consumed %d distinct records, %d missing (first %v), want %d", len(seen), n, first, records)
	}
	if got := committedOffsets(t, ctx, adm, group, topic); !mapsEqual(got, end) {
		t.Errorf("after kcat exited the group committed %v, want the end offsets %v", got, end)
	}
	dg := waitGroup(t, ctx, adm, group, "Empty", 0, nil)
	if dg.ProtocolType != "consumer" {
		t.Errorf("group protocol type %q, want consumer", dg.ProtocolType)
	}
}
