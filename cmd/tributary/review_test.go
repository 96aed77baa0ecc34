package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/server"
)

// runBounded runs a client command in-process and fails the test if it
// has not returned within limit: the bugs these tests guard against are
// commands that never end.
func (b *cliBroker) runBounded(t *testing.T, limit time.Duration, args ...string) cliResult {
	t.Helper()
	done := make(chan cliResult, 1)
	go func() { done <- b.run(t, "", args...) }()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("tributary %s did not end within %v", strings.Join(args, " "), limit)
		return cliResult{}
	}
}

// TestReviewConsumeGroupStopsWithAnotherMember: a group member without
// --follow stops at the end of the partitions the group gave it, as kcat
// -G -e does, even when another member holds the other partitions (or
// the committed offsets moved after the command looked them up).
func TestReviewConsumeGroupStopsWithAnotherMember(t *testing.T) {
	b := startCLIBroker(t, func(c *server.Config) { c.Groups.InitialRebalanceDelay = 0 })
	b.must(t, "", "topic", "create", "jobs", "--partitions", "4")
	b.must(t, "a\nb\nc\nd\ne\nf\ng\nh\n", "produce", "-t", "jobs")

	// Another member of the group that has read everything but not yet
	// committed (its autocommit is due later): the command sees no
	// committed offsets, but the group hands it partitions whose offsets
	// the other member commits when it gives them up.
	other := b.client(t, kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(time.Hour))
	ctx := testCtx(t)
	for n := 0; n < 8; {
		fs := other.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the other member read nothing")
		}
		n += fs.NumRecords()
	}
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for pollCtx.Err() == nil {
			other.PollFetches(pollCtx) // heartbeats; keeps its share
		}
	}()

	r := b.runBounded(t, 20*time.Second, "consume", "-t", "jobs", "--group", "workers")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("second member: exit %d, stdout %q (everything was committed), stderr %s", r.code, r.stdout, r.stderr)
	}
}

// TestReviewInspectTableStaysAligned: a segment listing longer than
// tableFlushRows is printed in chunks; every chunk must line up with the
// one header, however wide its values are.
func TestReviewInspectTableStaysAligned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("wide", 1, map[string]string{"retention.ms": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range tableFlushRows + 3 {
		val := []byte("v")
		if i >= tableFlushRows {
			val = []byte(strings.Repeat("x", 20000)) // a SIZE of 5 digits
		}
		rec := []recordbatch.Record{{Timestamp: inspectBaseTs + int64(i), Value: val}}
		bt, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := topic.Partitions[0].Append(bt); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r := inspectMust(t, filepath.Join(dir, "wide-0"))
	lines := strings.Split(r.stdout, "\n")
	var header string
	var rows []string
	for i, l := range lines {
		if strings.HasPrefix(l, "POSITION") {
			header = l
			for _, row := range lines[i+1:] {
				if row == "" {
					break
				}
				rows = append(rows, row)
			}
			break
		}
	}
	if len(rows) != tableFlushRows+3 {
		t.Fatalf("%d batch rows, want %d", len(rows), tableFlushRows+3)
	}
	// Where each column starts in the header: a non-space after a space.
	var starts []int
	for i := 1; i < len(header); i++ {
		if header[i] != ' ' && header[i-1] == ' ' {
			starts = append(starts, i)
		}
	}
	for n, row := range rows {
		for _, s := range starts {
			if s >= len(row) || row[s] == ' ' || row[s-1] != ' ' {
				t.Fatalf("row %d does not line up with the header:\n%s\n%s", n, header, row)
			}
		}
	}
}

// TestReviewTopicAlterNegativePartitions: a partition count that cannot be
// applied is an error, not a silent no-op that exits 0.
func TestReviewTopicAlterNegativePartitions(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "2")
	b.fails(t, 2, "--partitions", "topic", "alter", "events", "--partitions", "-3")
}

// TestReviewBenchConsumeEndsWhenRecordsRunOut: bench consume --records N
// on a topic holding fewer records ends once nothing more arrives (as
// kafka-consumer-perf-test's --timeout), with an error naming the count,
// instead of waiting forever.
func TestReviewBenchConsumeEndsWhenRecordsRunOut(t *testing.T) {
	b := benchBroker(t)
	b.must(t, "", "topic", "create", "few", "--partitions", "1")
	b.must(t, "a\nb\nc\n", "produce", "-t", "few")
	done := make(chan cliResult, 1)
	go func() { done <- execBench(b.addr, "consume", "--topic", "few", "--records", "100", "--timeout", "2s") }()
	var r cliResult
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bench consume --records 100 on a topic of 3 records did not end")
	}
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	checkOneLineError(t, r.stderr, "3 of 100 records")
	if !strings.Contains(r.stdout, "3 records read") {
		t.Errorf("summary does not count the 3 records read: %q", r.stdout)
	}
}

// TestReviewInspectIndexIntervalHint: a segment written under a larger
// index.interval.bytes than the one verified against (the topic's was
// lowered with topic alter) has no entries to show its spacing; the
// problem must say that it may be that, not only a cut index.
func TestReviewInspectIndexIntervalHint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("ix", 1, map[string]string{"retention.ms": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		rec := []recordbatch.Record{{Timestamp: inspectBaseTs + int64(i), Value: []byte(strings.Repeat("v", 60))}}
		bt, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := topic.Partitions[0].Append(bt); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "ix-0")
	inspectMust(t, part, "--verify")
	r := inspectFails(t, 1, []string{part, "--verify", "--index-interval-bytes", "128"}, "entries missing")
	if !strings.Contains(r.stdout, "larger index.interval.bytes") {
		t.Errorf("problem does not mention a larger index.interval.bytes:\n%s", r.stdout)
	}
}
