package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/server"
)

// consumeJSON runs consume with --format json and decodes every line.
func consumeJSON(t *testing.T, b *cliBroker, args ...string) []jsonRecord {
	t.Helper()
	r := b.must(t, "", append([]string{"consume", "--format", "json"}, args...)...)
	var recs []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var jr jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &jr); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, jr)
	}
	return recs
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "1")

	in := "user1:login\nuser2:logout\nno separator here\n:empty key\r\n"
	r := b.must(t, in, "produce", "--topic", "events", "--key-separator", ":", "--header", "source=cli", "--header", "trace=a=b")
	if want := "produce: 4 records, 47 bytes to events, 0 errors\n"; r.stderr != want {
		t.Errorf("produce summary %q, want %q", r.stderr, want)
	}

	recs := consumeJSON(t, b, "--topic", "events")
	if len(recs) != 4 {
		t.Fatalf("consumed %d records, want 4: %+v", len(recs), recs)
	}
	wantKV := [][2]string{{"user1", "login"}, {"user2", "logout"}, {"", "no separator here"}, {"", "empty key"}}
	for i, jr := range recs {
		key := ""
		if jr.Key != nil {
			key = *jr.Key
		}
		if key != wantKV[i][0] || jr.Value == nil || *jr.Value != wantKV[i][1] || jr.Offset != int64(i) || jr.Topic != "events" || jr.Partition != 0 {
			t.Errorf("record %d: %+v", i, jr)
		}
		if len(jr.Headers) != 2 || jr.Headers[0].Key != "source" || *jr.Headers[0].Value != "cli" || *jr.Headers[1].Value != "a=b" {
			t.Errorf("record %d headers: %+v", i, jr.Headers)
		}
		if time.Since(time.UnixMilli(jr.Timestamp)) > time.Minute {
			t.Errorf("record %d timestamp %d", i, jr.Timestamp)
		}
	}
	if recs[2].Key != nil {
		t.Errorf("a line without the separator has key %q, want none", *recs[2].Key)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "login\nlogout\nno separator here\nempty key\n"},
		{[]string{"--print-key", "--print-offset", "--max", "2"}, "0\tuser1\tlogin\n1\tuser2\tlogout\n"},
		{[]string{"--print-partition", "--print-headers", "--separator", " | ", "--offset", "-1"}, "0 | source=cli,trace=a=b | empty key\n"},
		{[]string{"--template", `%t/%p/%o %k=%s (%K,%S)\n`, "--offset", "1", "--max", "1"}, "events/0/1 user2=logout (5,6)\n"},
		{[]string{"--partition", "0", "--offset", "3"}, "empty key\n"},
		{[]string{"--offset", "latest"}, ""},
		{[]string{"--offset", "99"}, ""},
	} {
		r := b.must(t, "", append([]string{"consume", "-t", "events"}, c.args...)...)
		if r.stdout != c.want {
			t.Errorf("consume %v:\n%q\nwant\n%q", c.args, r.stdout, c.want)
		}
	}
	b.fails(t, 2, "unknown token %x", "consume", "-t", "events", "--template", "%x")
	b.fails(t, 2, "--offset \"soon\"", "consume", "-t", "events", "--offset", "soon")
	b.fails(t, 1, "no partition 7", "consume", "-t", "events", "--partition", "7")
}

// TestProduceFileCompressionAcks: every codec and acks setting lands the
// records, spread over partitions by key or pinned with --partition.
func TestProduceFileCompressionAcks(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "many", "--partitions", "4")
	var lines strings.Builder
	for i := range 50 {
		fmt.Fprintf(&lines, "k%d,value %d\n", i, i)
	}
	file := filepath.Join(t.TempDir(), "records.txt")
	if err := os.WriteFile(file, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, acks := range []string{"0", "1", "all"} {
			b.must(t, "", "produce", "-t", "many", "--file", file, "-K", ",", "--compression", codec, "--acks", acks)
			total += 50
		}
	}
	b.must(t, "", "produce", "-t", "many", "--file", file, "--partition", "3")
	recs := consumeJSON(t, b, "-t", "many")
	if len(recs) != total+50 {
		t.Fatalf("consumed %d records, want %d", len(recs), total+50)
	}
	perPartition := map[int32]int{}
	for _, r := range recs {
		perPartition[r.Partition]++
	}
	if len(perPartition) != 4 {
		t.Errorf("records by partition %v: the keys should spread over all 4", perPartition)
	}
	recs = consumeJSON(t, b, "-t", "many", "--partition", "3", "--offset", "-50")
	for _, r := range recs {
		if r.Key != nil {
			t.Fatalf("--partition 3 without -K: record has key %q", *r.Key)
		}
	}
	b.fails(t, 2, "--compression: unknown compression \"brotli\"", "produce", "-t", "many", "--compression", "brotli")
	b.fails(t, 2, "--acks \"2\"", "produce", "-t", "many", "--acks", "2")
	b.fails(t, 2, "required flag", "produce")
}

// TestConsumeTimestamp replays from a time, as milliseconds or RFC 3339.
func TestConsumeTimestamp(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "ts", "--partitions", "2")
	cl := b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testCtx(t)
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		r := &kgo.Record{Topic: "ts", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	values := func(recs []jsonRecord) string {
		var vs []string
		for _, r := range recs {
			vs = append(vs, *r.Value)
		}
		return strings.Join(vs, ",")
	}
	sorted := func(s string) string {
		parts := strings.Split(s, ",")
		for i := range parts {
			for j := i + 1; j < len(parts); j++ {
				if parts[j] < parts[i] {
					parts[i], parts[j] = parts[j], parts[i]
				}
			}
		}
		return strings.Join(parts, ",")
	}
	for _, c := range []struct{ at, want string }{
		{base.Add(3 * time.Minute).Format(time.RFC3339), "3,4,5"},
		{fmt.Sprint(base.Add(150 * time.Second).UnixMilli()), "3,4,5"},
		{base.Add(-time.Hour).Format(time.RFC3339), "0,1,2,3,4,5"},
		{base.Add(time.Hour).Format(time.RFC3339), ""},
	} {
		if got := sorted(values(consumeJSON(t, b, "-t", "ts", "--timestamp", c.at))); got != c.want {
			t.Errorf("--timestamp %s: %s, want %s", c.at, got, c.want)
		}
	}
	got := values(consumeJSON(t, b, "-t", "ts", "--partition", "1", "--timestamp", base.Add(2*time.Minute).Format(time.RFC3339Nano)))
	if got != "3,5" {
		t.Errorf("--partition 1 --timestamp: %s, want 3,5", got)
	}
	b.fails(t, 2, "exclude each other", "consume", "-t", "ts", "--timestamp", "0", "--offset", "1")
	b.fails(t, 2, "--timestamp \"yesterday\"", "consume", "-t", "ts", "--timestamp", "yesterday")
}

// TestConsumeFollow: --follow keeps reading records produced after it
// started, up to --max.
func TestConsumeFollow(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "live", "--partitions", "2")
	b.must(t, "first\n", "produce", "-t", "live")
	done := make(chan cliResult, 1)
	go func() { done <- b.run(t, "", "consume", "-t", "live", "--follow", "--max", "3") }()
	time.Sleep(200 * time.Millisecond)
	b.must(t, "second\nthird\n", "produce", "-t", "live", "-K", "=")
	select {
	case r := <-done:
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 3 || lines[0] != "first" {
			t.Fatalf("consume --follow: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("consume --follow --max 3 did not end")
	}
}

// TestConsumeGroup consumes as a group member twice: the second run
// starts where the first one's commits left off.
func TestConsumeGroup(t *testing.T) {
	b := startCLIBroker(t, func(c *server.Config) { c.Groups.InitialRebalanceDelay = 0 })
	b.must(t, "", "topic", "create", "jobs", "--partitions", "2")
	b.must(t, "a\nb\nc\nd\n", "produce", "-t", "jobs")
	r := b.must(t, "", "consume", "-t", "jobs", "--group", "workers", "--max", "3")
	if n := strings.Count(r.stdout, "\n"); n != 3 {
		t.Fatalf("first member read %d records, want 3: %q", n, r.stdout)
	}
	r2 := b.must(t, "", "consume", "-t", "jobs", "--group", "workers")
	all := strings.Fields(r.stdout + r2.stdout)
	if len(all) != 4 {
		t.Fatalf("the two runs read %v, want each of a b c d once", all)
	}
	r3 := b.must(t, "", "consume", "-t", "jobs", "--group", "workers")
	if r3.stdout != "" {
		t.Errorf("third run read %q after everything was committed", r3.stdout)
	}
	b.fails(t, 2, "--group reads from the committed offsets", "consume", "-t", "jobs", "--group", "workers", "--offset", "2")
}

// TestClientErrors: unknown topics and bad input end in one line and a
// non-zero exit.
func TestClientErrors(t *testing.T) {
	b := startCLIBroker(t, func(c *server.Config) { c.AutoCreateTopics = false })
	b.fails(t, 1, "UNKNOWN_TOPIC_OR_PARTITION", "consume", "-t", "nosuch")
	r := b.run(t, "x\ny\n", "produce", "-t", "nosuch")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "produce: 0 records, 0 bytes to nosuch, 2 errors\n") {
		t.Errorf("produce to an unknown topic: exit %d, stderr %q", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "UNKNOWN_TOPIC_OR_PARTITION")
	b.fails(t, 2, "unknown flag", "consume", "-t", "x", "--frobnicate")
	b.fails(t, 2, "required flag", "consume")
	b.fails(t, 2, "--format \"xml\"", "consume", "-t", "x", "--format", "xml")
}
