package server

// Compatibility with librdkafka through kcat (formerly kafkacat): produce
// with every codec, consume from the beginning and from a timestamp, and
// list metadata. Skipped when kcat is not installed; .ci/run installs it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// kcatTimeout bounds every kcat run.
const kcatTimeout = 10 * time.Second

// kcatPath finds kcat or its old name, or skips the test.
func kcatPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("kcat not installed: apt-get install -y kcat")
	return ""
}

// runKcat runs kcat with args and stdin and returns its standard output;
// a non-zero exit or the timeout fails the test.
func runKcat(t *testing.T, kcat string, stdin string, args ...string) string {
	t.Helper()
	stdout, stderr := runKcatStderr(t, kcat, stdin, args...)
	if stderr != "" {
		t.Logf("kcat %s stderr:\n%s", strings.Join(args, " "), stderr)
	}
	return stdout
}

// runKcatStderr is runKcat returning standard error too, for debug output.
func runKcatStderr(t *testing.T, kcat string, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v (context: %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), head(out.String()), errOut.String())
	}
	return out.String(), errOut.String()
}

// librdkafka's msg debug line for each produced batch ends in the codec it
// used: "Produce MessageSet with 50 message(s) (... , gzip)".
var kcatProducedCodec = regexp.MustCompile(`Produce MessageSet with \d+ message\(s\) \([^)]*, (\w+)\)`)

// librdkafkaCodecCases are the codecs librdkafka clients are asked for.
// mustCompress: librdkafka releases before the fix of librdkafka#4956
// (Debian 12 ships 2.0.2) use gzip, snappy and lz4 only with a broker that
// serves Produce v0 (and, for lz4, FindCoordinator), which Kafka 4 and
// Tributary do not; they send those batches uncompressed, and say so in
// their debug log. zstd needs Produce v7 and Fetch v10.
var librdkafkaCodecCases = []struct {
	codec        string
	mustCompress bool
}{
	{"none", true},
	{"gzip", false},
	{"snappy", false},
	{"lz4", false},
	{"zstd", true},
}

// kcatCodecs maps librdkafka's codec names to the batch attribute codec.
var kcatCodecs = map[string]recordbatch.Codec{
	"none":         recordbatch.CodecNone, // the -z argument
	"uncompressed": recordbatch.CodecNone, // librdkafka's debug name
	"gzip":         recordbatch.CodecGzip,
	"snappy":       recordbatch.CodecSnappy,
	"lz4":          recordbatch.CodecLZ4,
	"zstd":         recordbatch.CodecZstd,
}

func TestKcatCompat(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	for _, tc := range librdkafkaCodecCases {
		t.Run(tc.codec, func(t *testing.T) {
			topic := "kcat-" + tc.codec
			var in, want strings.Builder
			for i := range compatRecords {
				fmt.Fprintf(&in, "%s:%s\n", compatKey(i), compatValue(i))
				fmt.Fprintf(&want, "%d %s:%s|h=v\n", i, compatKey(i), compatValue(i))
			}
			_, debug := runKcatStderr(t, kcat, in.String(), "-P", "-b", b.addr, "-t", topic, "-p", "0",
				"-K:", "-z", tc.codec, "-H", "h=v", "-X", "linger.ms=20", "-X", "acks=all", "-d", "msg")

			// What librdkafka says it sent is what must be stored.
			var sent []recordbatch.Codec
			for _, m := range kcatProducedCodec.FindAllStringSubmatch(debug, -1) {
				c, ok := kcatCodecs[m[1]]
				if !ok {
					t.Fatalf("librdkafka produced with unknown codec %q", m[1])
				}
				sent = append(sent, c)
			}
			if len(sent) == 0 {
				t.Fatalf("no produce in kcat's debug output:\n%s", debug)
			}
			requested := kcatCodecs[tc.codec]
			if sent[0] != requested {
				if tc.mustCompress {
					t.Fatalf("librdkafka produced %v, want %v:\n%s", sent[0], requested, debug)
				}
				t.Logf("librdkafka sent %v instead of %v (librdkafka#4956: it wants Produce v0 for this codec)", sent[0], requested)
			}
			if got := storedCodecs(t, b, topic, 0); !slices.Equal(got, sent) {
				t.Fatalf("stored batch codecs %v, librdkafka sent %v", got, sent)
			}

			got := runKcat(t, kcat, "", "-C", "-q", "-b", b.addr, "-t", topic, "-p", "0",
				"-o", "beginning", "-e", "-f", `%o %k:%s|%h\n`)
			if got != want.String() {
				t.Fatalf("kcat consumed:\n%s\nwant:\n%s", head(got), head(want.String()))
			}
		})
	}
}

// head is the first lines of s, for failure messages.
func head(s string) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 5 {
		return strings.Join(lines[:5], "") + fmt.Sprintf("... (%d lines)", len(lines)-1)
	}
	return s
}

// TestKcatFetchEmptyRecords: a partition with nothing to return carries
// empty record bytes, never null. Kafka always sends empty records;
// librdkafka rejects null ("invalid MessageSetSize -1"), backs off and never
// sees the partition end, so `kcat -e` does not exit.
func TestKcatFetchEmptyRecords(t *testing.T) {
	b := startBroker(t)
	const topic = "kcat-empty"
	tp, err := b.mgr.CreateTopic(topic, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dialProbe(t, b.addr)
	c.roundTrip(probeProduce(7, topic, probeBatch(2, 10)))
	for v := int16(4); v <= 18; v++ {
		for _, offset := range []int64{0, 2} {
			req := kmsg.NewPtrFetchRequest()
			req.Version = v
			req.ReplicaID = -1
			req.MaxBytes = 1 << 20
			req.MinBytes = 0
			req.MaxWaitMillis = 0
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, tp.ID
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.FetchOffset = offset
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := c.roundTrip(req).(*kmsg.FetchResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("fetch v%d: %d topics", v, len(resp.Topics))
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 {
				t.Fatalf("fetch v%d at %d: %v", v, offset, kerr.ErrorForCode(p.ErrorCode))
			}
			if p.RecordBatches == nil {
				t.Errorf("fetch v%d at %d (high watermark %d): records are null, want empty", v, offset, p.HighWatermark)
			}
			if offset == 0 && len(p.RecordBatches) == 0 {
				t.Errorf("fetch v%d at 0: no records", v)
			}
		}
	}
}

// TestKcatTimestampReplay: `kcat -o s@<ms>` starts at the first record
// whose timestamp is at or after the given one, across batches.
func TestKcatTimestampReplay(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	const topic = "kcat-time"
	if _, err := b.mgr.CreateTopic(topic, 1, nil); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testContext(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 30
	// Three produce calls: three batches, so the replay crosses batches.
	for batch := range 3 {
		var recs []*kgo.Record
		for i := batch * 10; i < batch*10+10; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("t%02d", i)), Timestamp: base.Add(time.Duration(i) * time.Second)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	wantFrom := func(first int) string {
		var sb strings.Builder
		for i := first; i < n; i++ {
			fmt.Fprintf(&sb, "%d %d t%02d\n", i, base.Add(time.Duration(i)*time.Second).UnixMilli(), i)
		}
		return sb.String()
	}
	for _, tc := range []struct {
		name  string
		at    time.Time
		first int
	}{
		{"before everything", base.Add(-time.Minute), 0},
		{"exact first", base, 0},
		{"exact record 7", base.Add(7 * time.Second), 7},
		{"between 9 and 10 (batch boundary)", base.Add(9*time.Second + time.Millisecond), 10},
		{"exact record 25", base.Add(25 * time.Second), 25},
		{"last", base.Add(29 * time.Second), 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runKcat(t, kcat, "", "-C", "-q", "-b", b.addr, "-t", topic, "-p", "0",
				"-o", "s@"+strconv.FormatInt(tc.at.UnixMilli(), 10), "-e", "-f", `%o %T %s\n`)
			if want := wantFrom(tc.first); got != want {
				t.Fatalf("kcat -o s@%d:\n%s\nwant:\n%s", tc.at.UnixMilli(), head(got), head(want))
			}
		})
	}
}

// kcatMetadata is the part of `kcat -L -J` output checked here.
type kcatMetadata struct {
	OriginatingBroker kcatBroker   `json:"originating_broker"`
	Brokers           []kcatBroker `json:"brokers"`
	Topics            []struct {
		Topic      string          `json:"topic"`
		Error      string          `json:"error"`
		Partitions []kcatPartition `json:"partitions"`
	} `json:"topics"`
}

type kcatBroker struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type kcatPartition struct {
	Partition int           `json:"partition"`
	Leader    int           `json:"leader"`
	Replicas  []kcatReplica `json:"replicas"`
	ISRs      []kcatReplica `json:"isrs"`
	Error     string        `json:"error"`
}

type kcatReplica struct {
	ID int `json:"id"`
}

// only reports whether rs is exactly the one replica id.
func only(rs []kcatReplica, id int) bool {
	return len(rs) == 1 && rs[0].ID == id
}

// TestKcatMetadata: `kcat -L` sees one broker, node 0 at the listener's
// address, leading every partition of every topic, and nothing else.
func TestKcatMetadata(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("kcat-meta-a", 3, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.mgr.CreateTopic("kcat-meta-b", 1, nil); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(b.addr)
	self := host + ":" + port

	out := runKcat(t, kcat, "", "-L", "-J", "-b", b.addr)
	var md kcatMetadata
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J output %q: %v", out, err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != NodeID || md.Brokers[0].Name != self {
		t.Errorf("brokers %+v, want node %d at %s alone", md.Brokers, NodeID, self)
	}
	if md.OriginatingBroker.ID != NodeID {
		t.Errorf("originating broker %+v, want node %d", md.OriginatingBroker, NodeID)
	}
	got := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error != "" {
			t.Errorf("topic %s: error %q", tp.Topic, tp.Error)
		}
		got[tp.Topic] = len(tp.Partitions)
		for i, p := range tp.Partitions {
			if p.Partition != i || p.Leader != NodeID || !only(p.Replicas, NodeID) || !only(p.ISRs, NodeID) || p.Error != "" {
				t.Errorf("topic %s partition %d: %+v, want partition %d led by node %d, replicas and ISR [%d]", tp.Topic, i, p, i, NodeID, NodeID)
			}
		}
	}
	if want := map[string]int{"kcat-meta-a": 3, "kcat-meta-b": 1}; !maps.Equal(got, want) {
		t.Errorf("topics %v, want %v", got, want)
	}

	// One topic asked for: only that one.
	out = runKcat(t, kcat, "", "-L", "-J", "-b", b.addr, "-t", "kcat-meta-b")
	md = kcatMetadata{}
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J -t output %q: %v", out, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != "kcat-meta-b" || len(md.Topics[0].Partitions) != 1 {
		t.Errorf("kcat -L -t kcat-meta-b: %+v", md.Topics)
	}
}
