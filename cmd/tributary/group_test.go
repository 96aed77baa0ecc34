package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/server"
)

// groupRun runs `tributary group args...` in-process against the broker,
// in a fresh tree that holds the group command.
func (b *cliBroker) groupRun(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, "", append([]string{"--brokers", b.addr, "group"}, args...)...)
}

// groupMust runs a group command and fails the test unless it exits 0.
func (b *cliBroker) groupMust(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := b.groupRun(t, args...)
	if r.code != 0 {
		t.Fatalf("tributary group %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// groupFails runs a group command and checks its exit code and one-line
// error.
func (b *cliBroker) groupFails(t *testing.T, code int, want string, args ...string) cliResult {
	t.Helper()
	r := b.groupRun(t, args...)
	if r.code != code {
		t.Fatalf("tributary group %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	checkOneLineError(t, r.stderr, want)
	return r
}

// startGroupBroker is a broker whose groups form without Kafka's initial
// rebalance delay.
func startGroupBroker(t *testing.T) *cliBroker {
	return startCLIBroker(t, func(c *server.Config) { c.Groups.InitialRebalanceDelay = 0 })
}

// produceTo appends n records to a partition, with timestamps base+i*step.
func produceTo(t *testing.T, cl *kgo.Client, topic string, partition int32, n int, base time.Time, step time.Duration) {
	t.Helper()
	ctx := testCtx(t)
	for i := 0; i < n; i++ {
		rec := &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, "r%d", i), Timestamp: base.Add(time.Duration(i) * step)}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// consumeN polls a group consumer until it has read n records.
func consumeN(t *testing.T, cl *kgo.Client, n int) {
	t.Helper()
	ctx := testCtx(t)
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records of %d", got, n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("poll %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
}

// committed is the group's committed offsets, topic/partition → offset.
func committed(t *testing.T, adm *kadm.Client, group string) map[string]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(testCtx(t), group)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("fetch offsets %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		m[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.At
	})
	return m
}

func checkCommitted(t *testing.T, adm *kadm.Client, group string, want map[string]int64) {
	t.Helper()
	got := committed(t, adm, group)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("group %s committed %v, want %v", group, got, want)
	}
}

var (
	// uuidRe matches the random part of a member id.
	uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	// portRe matches the coordinator's port, an ephemeral (five-digit) one.
	portRe = regexp.MustCompile(`127\.0\.0\.1:[0-9]{5}\)`)
)

// stableDescribe masks what changes from run to run, keeping the width so
// that the golden file shows the table as lined up as it was printed.
func stableDescribe(s string) string {
	s = uuidRe.ReplaceAllString(s, "00000000-0000-0000-0000-000000000000")
	return portRe.ReplaceAllString(s, "127.0.0.1:PPPPP)")
}

// TestGroupListDescribeDelete: a static member of "readers" has consumed
// events and committed some of it; "readers" also holds a commit of a topic
// it no longer reads and "idle" only simple commits. list, describe (lag
// against what was produced and committed), the refusals while a member is
// live, and delete once it has left.
func TestGroupListDescribeDelete(t *testing.T) {
	b := startGroupBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "3")
	b.must(t, "", "topic", "create", "old", "--partitions", "1")
	producer := b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.UnixMilli(1700000000000)
	produceTo(t, producer, "events", 0, 5, base, time.Second)
	produceTo(t, producer, "events", 1, 3, base, time.Second)
	produceTo(t, producer, "old", 0, 2, base, time.Second)

	adm := kadm.NewClient(producer)
	ctx := testCtx(t)
	// Simple commits (generation -1), as an operator's tool makes them:
	// readers read "old" once; idle has never had a member.
	if err := adm.CommitAllOffsets(ctx, "readers", kadm.Offsets{"old": {0: {Topic: "old", Partition: 0, At: 1, LeaderEpoch: -1}}}); err != nil {
		t.Fatal(err)
	}
	if err := adm.CommitAllOffsets(ctx, "idle", kadm.Offsets{"events": {2: {Topic: "events", Partition: 2, At: 0, LeaderEpoch: -1}}}); err != nil {
		t.Fatal(err)
	}

	reader := b.client(t,
		kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("events"), kgo.InstanceID("reader-1"), kgo.ClientID("reader"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	consumeN(t, reader, 8)
	// Committed: 3 of partition 0's 5 records, all 3 of partition 1's,
	// nothing of partition 2 (empty).
	var commitErr error
	reader.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"events": {0: {Epoch: -1, Offset: 3}, 1: {Epoch: -1, Offset: 3}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err == nil {
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if err == nil {
							err = kerr.ErrorForCode(p.ErrorCode)
						}
					}
				}
			}
			commitErr = err
		})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	produceTo(t, producer, "events", 0, 2, base.Add(time.Minute), time.Second) // partition 0 ends at 7: lag 4

	r := b.groupMust(t, "list")
	golden(t, "group_list.golden", r.stdout)
	var listed []groupListing
	r = b.groupMust(t, "list", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("list --output json: %v\n%s", err, r.stdout)
	}
	if want := []groupListing{{"idle", "Empty", "", 0}, {"readers", "Stable", "consumer", 1}}; fmt.Sprint(listed) != fmt.Sprint(want) {
		t.Errorf("list json: %+v, want %+v", listed, want)
	}
	r = b.groupMust(t, "list", "--state", "empty")
	if !strings.Contains(r.stdout, "idle") || strings.Contains(r.stdout, "readers") {
		t.Errorf("list --state empty:\n%s", r.stdout)
	}
	r = b.groupMust(t, "list", "--state", "Stable,PreparingRebalance")
	if strings.Contains(r.stdout, "idle") || !strings.Contains(r.stdout, "readers") {
		t.Errorf("list --state Stable,PreparingRebalance:\n%s", r.stdout)
	}
	b.groupFails(t, 2, "--state \"Sleeping\"", "list", "--state", "Sleeping")

	r = b.groupMust(t, "describe", "readers")
	golden(t, "group_describe.golden", stableDescribe(r.stdout))
	var described []groupDescription
	r = b.groupMust(t, "describe", "readers", "idle", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &described); err != nil || len(described) != 2 {
		t.Fatalf("describe --output json: %v\n%s", err, r.stdout)
	}
	d := described[0]
	if d.Group != "readers" || d.State != "Stable" || d.Protocol != "range" || d.TotalLag != 5 || len(d.Members) != 1 {
		t.Fatalf("describe readers: %+v", d)
	}
	m := d.Members[0]
	if m.InstanceID != "reader-1" || m.ClientID != "reader" || m.Host != "/127.0.0.1" ||
		len(m.Assignment) != 1 || fmt.Sprint(m.Assignment[0].Partitions) != "[0 1 2]" {
		t.Errorf("member: %+v", m)
	}
	type row struct {
		current, end, lag string
		owned             bool
	}
	str := func(p *int64) string { return offsetCell(p) }
	wantRows := map[string]row{
		"events/0": {"3", "7", "4", true},
		"events/1": {"3", "3", "0", true},
		"events/2": {"-", "0", "-", true}, // assigned, nothing committed: no lag
		"old/0":    {"1", "2", "1", false},
	}
	if len(d.Offsets) != len(wantRows) {
		t.Fatalf("offsets: %+v", d.Offsets)
	}
	for _, o := range d.Offsets {
		key := fmt.Sprintf("%s/%d", o.Topic, o.Partition)
		got := row{str(o.CurrentOffset), str(o.LogEndOffset), str(o.Lag), o.MemberID == m.MemberID}
		if got != wantRows[key] {
			t.Errorf("%s: %+v, want %+v", key, got, wantRows[key])
		}
	}
	if idle := described[1]; idle.State != "Empty" || len(idle.Members) != 0 || len(idle.Offsets) != 1 || idle.Offsets[0].Lag == nil || *idle.Offsets[0].Lag != 0 {
		t.Errorf("describe idle: %+v", idle)
	}

	// An unknown group: the others are still described, and the command
	// fails naming it.
	r = b.groupFails(t, 1, `consumer group "nosuch" does not exist`, "describe", "idle", "nosuch")
	if !strings.Contains(r.stdout, "idle") {
		t.Errorf("describe idle nosuch printed:\n%s", r.stdout)
	}

	// While the member is live: no reset, no delete, and no deleting the
	// offsets of a topic it reads; those of a topic it does not read go.
	b.groupFails(t, 1, "assignments can only be reset if the group is inactive, but its state is Stable", "reset-offsets", "readers", "--topic", "events", "--to-earliest")
	b.groupFails(t, 1, "group delete readers: NON_EMPTY_GROUP", "delete", "readers")
	b.groupFails(t, 1, "GROUP_SUBSCRIBED_TO_TOPIC", "delete", "readers", "--topic", "events")
	r = b.groupMust(t, "delete", "readers", "--topic", "old")
	golden(t, "group_delete_offsets.golden", r.stdout)
	if _, ok := committed(t, adm, "readers")["old/0"]; ok {
		t.Errorf("old/0 still committed after delete --topic old")
	}

	// A static member does not leave when it closes; the operator
	// removes it by its instance id, and the group is empty.
	reader.Close()
	leave, err := adm.LeaveGroup(ctx, kadm.LeaveGroup("readers").InstanceIDs("reader-1"))
	if err == nil {
		err = leave.Error()
	}
	if err != nil {
		t.Fatalf("leave reader-1: %v", err)
	}
	r = b.groupMust(t, "describe", "readers")
	golden(t, "group_describe_empty.golden", stableDescribe(r.stdout))

	r = b.groupMust(t, "delete", "readers", "idle")
	golden(t, "group_delete.golden", r.stdout)
	r = b.groupMust(t, "list")
	if strings.TrimSpace(r.stdout) != "GROUP  STATE  PROTOCOL-TYPE  MEMBERS" {
		t.Errorf("list after delete:\n%s", r.stdout)
	}
	b.groupFails(t, 1, `consumer group "readers" does not exist`, "describe", "readers")
	b.groupFails(t, 1, "group delete readers: GROUP_ID_NOT_FOUND", "delete", "readers")
	b.groupFails(t, 2, "one group at a time", "delete", "a", "b", "--topic", "events")
	b.groupFails(t, 1, "UNKNOWN_TOPIC_OR_PARTITION", "delete", "a", "--topic", "nosuch")
}

// TestGroupResetOffsets: every way to reset, dry run and --execute, checked
// against the offsets the broker then serves.
func TestGroupResetOffsets(t *testing.T) {
	b := startGroupBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "2")
	producer := b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(producer)
	ctx := testCtx(t)
	// Partition 0: offsets 0-9 at base+0s..9s; partition 1: 0-3 at
	// base+0s..3s.
	base := time.UnixMilli(1700000000000)
	produceTo(t, producer, "events", 0, 10, base, time.Second)
	produceTo(t, producer, "events", 1, 4, base, time.Second)

	reader := b.client(t, kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("events"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	consumeN(t, reader, 14)
	if err := reader.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	b.groupFails(t, 1, "inactive", "reset-offsets", "readers", "--all-topics", "--to-earliest", "--execute")
	// A member that joins between the state check and the commit: the
	// coordinator refuses the simple commit and nothing moves.
	err := commitResetPlan(ctx, adm, resetPlan{Group: "readers", Offsets: []offsetReset{{Topic: "events", Partition: 0, NewOffset: 0}}})
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_MEMBER_ID") || !strings.Contains(err.Error(), "a consumer joined the group") {
		t.Errorf("commit into a live group: %v", err)
	}
	reader.Close() // leaves: the group is Empty
	all := map[string]int64{"events/0": 10, "events/1": 4}
	checkCommitted(t, adm, "readers", all)

	// A dry run prints the plan and commits nothing.
	r := b.groupMust(t, "reset-offsets", "readers", "--topic", "events", "--to-earliest")
	golden(t, "group_reset_dry_run.golden", r.stdout)
	if !strings.Contains(r.stderr, "dry run") {
		t.Errorf("dry run does not say so: %q", r.stderr)
	}
	checkCommitted(t, adm, "readers", all)
	b.groupMust(t, "reset-offsets", "readers", "--all-topics", "--to-earliest", "--dry-run")
	checkCommitted(t, adm, "readers", all)

	dry := r.stdout
	r = b.groupMust(t, "reset-offsets", "readers", "--topic", "events", "--to-earliest", "--execute")
	if r.stdout != dry {
		t.Errorf("--execute printed\n%s\nthe dry run\n%s", r.stdout, dry)
	}
	if strings.Contains(r.stderr, "dry run") {
		t.Errorf("--execute says dry run: %q", r.stderr)
	}
	if r.stderr != "committed the NEW-OFFSET of 2 partitions for group readers: events 0,1; its consumers resume there\n" {
		t.Errorf("--execute does not say what it committed: %q", r.stderr)
	}
	checkCommitted(t, adm, "readers", map[string]int64{"events/0": 0, "events/1": 0})

	steps := []struct {
		args []string
		want map[string]int64
		warn string // on stderr, when clamped
	}{
		{[]string{"--all-topics", "--to-latest"}, all, ""},
		{[]string{"--topic", "events:0", "--to-offset", "3"}, map[string]int64{"events/0": 3, "events/1": 4}, ""},
		{[]string{"--topic", "events:0,1", "--to-offset", "100"}, all, "new offset 100 is past the log end offset 10"},
		// base+5s is offset 5 of partition 0; partition 1 has nothing
		// at or after it: its log end.
		{[]string{"--topic", "events", "--to-datetime", base.Add(5 * time.Second).UTC().Format(time.RFC3339)}, map[string]int64{"events/0": 5, "events/1": 4}, ""},
		{[]string{"--topic", "events", "--to-datetime", base.Add(2500 * time.Millisecond).In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000Z07:00")}, map[string]int64{"events/0": 3, "events/1": 3}, ""},
		{[]string{"--topic", "events", "--to-timestamp", fmt.Sprint(base.Add(time.Second).UnixMilli())}, map[string]int64{"events/0": 1, "events/1": 1}, ""},
		{[]string{"--topic", "events", "--to-timestamp", fmt.Sprint(base.Add(time.Hour).UnixMilli())}, all, ""},
		{[]string{"--all-topics", "--shift-by", "-3"}, map[string]int64{"events/0": 7, "events/1": 1}, ""},
		{[]string{"--all-topics", "--shift-by", "-2"}, map[string]int64{"events/0": 5, "events/1": 0}, "new offset -1 is before the log start offset 0"},
		{[]string{"--topic", "events:1", "--shift-by", "2"}, map[string]int64{"events/0": 5, "events/1": 2}, ""},
	}
	for _, s := range steps {
		args := append([]string{"reset-offsets", "readers"}, s.args...)
		r := b.groupMust(t, append(args, "--execute")...)
		checkCommitted(t, adm, "readers", s.want)
		if s.warn != "" && !strings.Contains(r.stderr, s.warn) {
			t.Errorf("%v: no warning %q on stderr: %q", s.args, s.warn, r.stderr)
		}
	}

	// The log start moves: earliest follows it and to-offset clamps to it.
	if _, err := adm.DeleteRecords(ctx, kadm.Offsets{"events": {0: {Topic: "events", Partition: 0, At: 2, LeaderEpoch: -1}}}); err != nil {
		t.Fatal(err)
	}
	b.groupMust(t, "reset-offsets", "readers", "--topic", "events", "--to-earliest", "--execute")
	checkCommitted(t, adm, "readers", map[string]int64{"events/0": 2, "events/1": 0})
	r = b.groupMust(t, "reset-offsets", "readers", "--topic", "events:0", "--to-offset", "1", "--execute")
	if !strings.Contains(r.stderr, "before the log start offset 2") {
		t.Errorf("no clamp warning: %q", r.stderr)
	}

	// JSON: the plan, and whether it was committed.
	var plan resetPlan
	r = b.groupMust(t, "reset-offsets", "readers", "--topic", "events", "--to-latest", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("--output json: %v\n%s", err, r.stdout)
	}
	if plan.Group != "readers" || plan.Executed || len(plan.Offsets) != 2 || *plan.Offsets[0].CurrentOffset != 2 || plan.Offsets[0].NewOffset != 10 || plan.Offsets[1].NewOffset != 4 {
		t.Errorf("plan: %+v", plan)
	}

	// A group that does not exist yet is created by the reset, as in
	// Kafka; shifting needs a committed offset to shift from.
	b.groupFails(t, 1, "cannot shift events/0: the group has no committed offset", "reset-offsets", "fresh", "--topic", "events", "--shift-by", "1")
	b.groupFails(t, 1, "no committed offsets", "reset-offsets", "fresh", "--all-topics", "--to-latest")
	b.groupMust(t, "reset-offsets", "fresh", "--topic", "events:1", "--to-offset", "2", "--execute")
	checkCommitted(t, adm, "fresh", map[string]int64{"events/1": 2})

	// Offsets of a topic deleted since: --all-topics leaves them alone
	// (if the broker kept them) and resets the rest.
	b.must(t, "", "topic", "create", "gone")
	if err := adm.CommitAllOffsets(ctx, "fresh", kadm.Offsets{"gone": {0: {Topic: "gone", Partition: 0, At: 0, LeaderEpoch: -1}}}); err != nil {
		t.Fatal(err)
	}
	b.must(t, "", "topic", "delete", "gone")
	r = b.groupMust(t, "reset-offsets", "fresh", "--all-topics", "--to-latest", "--execute")
	if _, kept := committed(t, adm, "fresh")["gone/0"]; kept && !strings.Contains(r.stderr, "skipping topic gone") {
		t.Errorf("no warning about gone: %q", r.stderr)
	}
	if got := committed(t, adm, "fresh")["events/1"]; got != 4 {
		t.Errorf("fresh events/1 at %d after --to-latest, want 4", got)
	}

	b.groupFails(t, 1, "UNKNOWN_TOPIC_OR_PARTITION", "reset-offsets", "readers", "--topic", "nosuch", "--to-latest")
	b.groupFails(t, 1, "topic events has no partition 7", "reset-offsets", "readers", "--topic", "events:7", "--to-latest")
}

// TestGroupUsageErrors: a bad command line exits 2 with one line, before
// any broker is asked (there is none here).
func TestGroupUsageErrors(t *testing.T) {
	b := &cliBroker{addr: "127.0.0.1:1"}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"say where to", []string{"reset-offsets", "g", "--topic", "events"}},
		{"--to-earliest and --to-offset exclude each other", []string{"reset-offsets", "g", "--topic", "events", "--to-earliest", "--to-offset", "3"}},
		{"--to-datetime and --shift-by exclude each other", []string{"reset-offsets", "g", "--all-topics", "--shift-by", "1", "--to-datetime", "2026-01-01T00:00:00Z"}},
		{"accepts 1 arg(s), received 0", []string{"reset-offsets", "--topic", "events", "--to-earliest"}},
		{"say which partitions", []string{"reset-offsets", "g", "--to-earliest"}},
		{"--topic and --all-topics exclude each other", []string{"reset-offsets", "g", "--topic", "e", "--all-topics", "--to-earliest"}},
		{"--execute and --dry-run exclude each other", []string{"reset-offsets", "g", "--topic", "e", "--to-earliest", "--execute", "--dry-run"}},
		{"--to-datetime \"yesterday\"", []string{"reset-offsets", "g", "--topic", "e", "--to-datetime", "yesterday"}},
		{"--to-offset -1", []string{"reset-offsets", "g", "--topic", "e", "--to-offset", "-1"}},
		{"--to-earliest=false", []string{"reset-offsets", "g", "--topic", "e", "--to-earliest=false"}},
		{"partition \"x\"", []string{"reset-offsets", "g", "--topic", "e:0,x", "--to-latest"}},
		{"invalid argument \"soon\"", []string{"reset-offsets", "g", "--topic", "e", "--shift-by", "soon"}},
		{"requires at least 1 arg(s)", []string{"describe"}},
		{"requires at least 1 arg(s)", []string{"delete"}},
		{"unknown flag: --bogus", []string{"list", "--bogus"}},
		{"unknown command", []string{"frobnicate"}},
		{"--output", []string{"describe", "g", "--output", "yaml"}},
	} {
		b.groupFails(t, 2, c.want, c.args...)
	}
}

// TestGroupHelp: every group command has --help with its example (the
// tree newTestRoot builds does not hold the group command).
func TestGroupHelp(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Short == "" || strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q lacks a Short description or an Example", strings.Join(path, " "))
		}
		r := runCLI(t, "", append(path, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "tributary "+strings.Join(path, " ")) {
			t.Errorf("tributary %s --help: exit %d\n%s%s", strings.Join(path, " "), r.code, r.stdout, r.stderr)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newGroupCmd(), []string{"group"})
}

// TestConsumeGroupStopsAtEndWhileAnotherMemberHoldsPartitions: a group member without
// --follow stops at the end of the partitions the group gave it, as kcat
// -G -e does, even when another member holds the other partitions (or
// the committed offsets moved after the command looked them up).
func TestConsumeGroupStopsAtEndWhileAnotherMemberHoldsPartitions(t *testing.T) {
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
