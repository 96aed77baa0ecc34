package server

// Compatibility with the two Python Kafka clients Debian ships, driving the
// broker over loopback from Debian's own interpreter (/usr/bin/python3: the
// packages install there, not into a pyenv or virtualenv python3 on PATH):
//
//   - confluent-kafka-python (python3-confluent-kafka, on librdkafka): an
//     idempotent producer with every codec, a partition consumer, a
//     timestamp lookup and replay, topic creation and metadata;
//   - kafka-python (python3-kafka, the protocol in pure Python): the same,
//     without idempotence, which kafka-python 2.0 does not implement.
//
// Each client runs a small script embedded below, one operation per run,
// and prints what it saw as JSON lines for the test to check exactly. The
// consumers here assign partition 0 themselves; librdkafka's group
// consumers are tested in group_python_test.go. Skipped when a package is
// missing; .ci/run installs them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/recordbatch"
)

// systemPython is Debian's interpreter, where python3-confluent-kafka and
// python3-kafka are importable.
const systemPython = "/usr/bin/python3"

// pythonTimeout bounds every Python run; pythonDeadline, shorter, is the
// script's own limit on waiting for the broker, so a stuck client fails
// with its own message before it is killed.
const (
	pythonTimeout  = 60 * time.Second
	pythonDeadline = 40 * time.Second
)

// pythonRecords is how many records each Python case produces.
const pythonRecords = 200

// pythonTimeStep is the spacing of the records' create timestamps.
const pythonTimeStep = 10 * time.Millisecond

// requirePythonModule skips the test unless Debian's python3 imports
// module, which the Debian package pkg provides.
func requirePythonModule(t *testing.T, module, pkg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "-I", "-c", "import "+module)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s -c 'import %s': timed out after 20s", systemPython, module)
	}
	if err != nil {
		t.Logf("%s -c 'import %s': %v\n%s", systemPython, module, err, out)
		t.Skipf("%s not installed: apt-get install -y %s", pkg, pkg)
	}
}

// pySpec is what one script run does; it is passed as a JSON argument.
type pySpec struct {
	Op        string         `json:"op"` // produce, consume, times, metadata, codecs
	Bootstrap string         `json:"bootstrap"`
	Deadline  float64        `json:"deadline_s"`
	Topic     string         `json:"topic,omitempty"`
	Codec     string         `json:"codec,omitempty"`
	N         int            `json:"n,omitempty"`
	BaseTS    int64          `json:"base_ts,omitempty"`
	Start     int64          `json:"start,omitempty"`
	Times     []int64        `json:"timestamps,omitempty"`
	Create    map[string]int `json:"create,omitempty"`
}

// pyLine is one JSON line a script prints; Kind says which fields are set.
type pyLine struct {
	Kind string `json:"kind"`

	// delivered, record, eof, time
	Offset int64 `json:"offset"`
	// delivered (confluent-kafka only), record
	Key *string `json:"key"`
	// record
	Value   *string    `json:"value"`
	Headers []pyHeader `json:"headers"`
	TS      int64      `json:"ts"`
	TSType  string     `json:"ts_type"`
	// time: the timestamp looked up, and the one the broker returned with
	// the offset (kafka-python only; -1 with no offset)
	At      int64  `json:"at"`
	FoundTS *int64 `json:"found_ts"`
	// api_version (kafka-python)
	Version []int `json:"version"`
	// codecs (kafka-python)
	Codecs map[string]bool `json:"codecs"`
	// created
	Topic string `json:"topic"`
	// metadata
	Brokers    []pyBroker `json:"brokers"`
	Controller *int32     `json:"controller_id"`
	Topics     []pyTopic  `json:"topics"`
}

type pyHeader struct {
	Key   string  `json:"k"`
	Value *string `json:"v"`
}

type pyBroker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int    `json:"port"`
}

type pyTopic struct {
	Topic      string        `json:"topic"`
	Error      *string       `json:"error"`
	Partitions []pyPartition `json:"partitions"`
}

type pyPartition struct {
	ID       int32   `json:"id"`
	Leader   int32   `json:"leader"`
	Replicas []int32 `json:"replicas"`
	ISRs     []int32 `json:"isrs"`
	Error    *string `json:"error"`
}

// pyClient is one Python client: its script and how it is found.
type pyClient struct {
	module, pkg string
	script      string // in testdata/python, run after common.py
	// nullHeaders: the client can produce a header with a null value.
	// kafka-python 2.0.2 writes a None header value as empty (length 0,
	// not -1), so it is not asked to.
	nullHeaders bool
}

var (
	confluentKafka = pyClient{"confluent_kafka", "python3-confluent-kafka", "confluent_kafka_client.py", true}
	kafkaPython    = pyClient{"kafka", "python3-kafka", "kafka_python_client.py", false}
)

// pyRunner runs one client's script against one broker.
type pyRunner struct {
	client pyClient
	path   string // the script, written once per test
	addr   string
}

// newPyRunner skips unless the client is installed, and writes its script:
// testdata/python/common.py followed by the client's own.
func newPyRunner(t *testing.T, c pyClient, b *testBroker) *pyRunner {
	t.Helper()
	requirePythonModule(t, c.module, c.pkg)
	var script []byte
	for _, name := range []string{"common.py", c.script} {
		part, err := os.ReadFile(filepath.Join("testdata", "python", name))
		if err != nil {
			t.Fatal(err)
		}
		script = append(append(script, part...), '\n')
	}
	path := filepath.Join(t.TempDir(), c.module+"_compat.py")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	return &pyRunner{client: c, path: path, addr: b.addr}
}

// run runs one operation and returns the lines it printed and its standard
// error; a non-zero exit, a line that is not JSON or the timeout fails t.
func (r *pyRunner) run(t *testing.T, spec pySpec) ([]pyLine, string) {
	t.Helper()
	spec.Bootstrap = r.addr
	spec.Deadline = pythonDeadline.Seconds()
	arg, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pythonTimeout)
	defer cancel()
	// -I: isolated from PYTHONPATH and user site-packages, so what is
	// tested is Debian's package, not whatever pip left around.
	cmd := exec.CommandContext(ctx, systemPython, "-I", r.path, string(arg))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v after %v (context: %v)\nstdout:\n%s\nstderr:\n%s", r.client.module, spec.Op, err,
			time.Since(start).Round(time.Millisecond), ctx.Err(), head(out.String()), pyTail(errOut.String()))
	}
	var lines []pyLine
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l pyLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Kind == "" {
			t.Fatalf("%s %s printed %q: %v", r.client.module, spec.Op, sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, errOut.String()
}

// pyTail is the last lines of s, for failure messages: a Python traceback
// ends with the error.
func pyTail(s string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 30 {
		return fmt.Sprintf("(%d lines) ...\n", len(lines)-30) + strings.Join(lines[len(lines)-30:], "")
	}
	return s
}

// pyLinesOf is the lines of one kind, failing on any other kind except
// those listed in also.
func pyLinesOf(t *testing.T, lines []pyLine, kind string, also ...string) []pyLine {
	t.Helper()
	var out []pyLine
	for _, l := range lines {
		switch {
		case l.Kind == kind:
			out = append(out, l)
		case !slices.Contains(also, l.Kind):
			t.Fatalf("unexpected %q line %+v", l.Kind, l)
		}
	}
	return out
}

// pyValue is record i's value: compatValue, except every 50th record is a
// tombstone (null value).
func pyValue(i int) *string {
	if i%50 == 49 {
		return nil
	}
	v := compatValue(i)
	return &v
}

// pyHeaders is record i's headers, in order: a repeated key, an empty
// value on even records and, where the client can send one, a null value
// on every third.
func pyHeaders(i int, nullHeaders bool) []pyHeader {
	s := func(v string) *string { return &v }
	hs := []pyHeader{{"i", s(strconv.Itoa(i))}, {"dup", s("a")}, {"dup", s("b")}}
	if i%2 == 0 {
		hs = append(hs, pyHeader{"empty", s("")})
	}
	if nullHeaders && i%3 == 0 {
		hs = append(hs, pyHeader{"null", nil})
	}
	return hs
}

// pyTS is record i's create timestamp in milliseconds.
func pyTS(base int64, i int) int64 { return base + int64(i)*pythonTimeStep.Milliseconds() }

// pyBase is a base timestamp an hour ago, in milliseconds.
func pyBase() int64 { return time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli() }

// pyWantRecord is record i as the script prints it.
func pyWantRecord(i int, base int64, nullHeaders bool) pyLine {
	k := compatKey(i)
	return pyLine{Kind: "record", Offset: int64(i), Key: &k, Value: pyValue(i),
		Headers: pyHeaders(i, nullHeaders), TS: pyTS(base, i), TSType: "create"}
}

// checkPyRecords checks that a consume run returned records first..n-1,
// each exactly as produced, then the end of the partition at n.
func checkPyRecords(t *testing.T, lines []pyLine, first, n int, base int64, nullHeaders bool) {
	t.Helper()
	recs := pyLinesOf(t, lines, "record", "eof")
	for i, got := range recs {
		want := pyWantRecord(first+i, base, nullHeaders)
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("record %d:\n got %s\nwant %s", first+i, g, w)
		}
	}
	if len(recs) != n-first {
		t.Fatalf("consumed %d records from %d, want %d", len(recs), first, n-first)
	}
	eof := pyLinesOf(t, lines, "eof", "record")
	if len(eof) != 1 || eof[0].Offset != int64(n) || lines[len(lines)-1].Kind != "eof" {
		t.Fatalf("end of partition %+v, want one at %d after the records", eof, n)
	}
}

// checkPyDelivered checks the producer's acknowledgements: record i at
// offset i, in order, and (where the client reports it) with its key.
func checkPyDelivered(t *testing.T, lines []pyLine, n int) {
	t.Helper()
	del := pyLinesOf(t, lines, "delivered", "api_version")
	if len(del) != n {
		t.Fatalf("%d records acknowledged, want %d", len(del), n)
	}
	for i, d := range del {
		if d.Offset != int64(i) || (d.Key != nil && *d.Key != compatKey(i)) {
			t.Fatalf("acknowledgement %d: offset %d key %s, want offset %d key %s", i, d.Offset, pyQuote(d.Key), i, compatKey(i))
		}
	}
}

func pyQuote(s *string) string {
	if s == nil {
		return "null"
	}
	return strconv.Quote(*s)
}

// librdkafka's msg debug line when it falls back to no compression:
// "topic [0]: Broker does not support compression type gzip: not
// compressing batch".
var rdkafkaCodecFallback = regexp.MustCompile(`Broker does not support compression type (\w+): not compressing batch`)

// TestPythonConfluentKafkaCompat: confluent-kafka's idempotent producer
// (acks=all) with each codec, then its consumer from offset 0. What
// librdkafka logs it sent is what is stored, and every record comes back
// exactly: offset, key, value or null, headers in order with empty and
// null values, create timestamp.
func TestPythonConfluentKafkaCompat(t *testing.T) {
	b := startBroker(t)
	py := newPyRunner(t, confluentKafka, b)
	for _, tc := range librdkafkaCodecCases { // confluent-kafka is librdkafka

		t.Run(tc.codec, func(t *testing.T) {
			topic := "py-confluent-" + tc.codec
			if _, err := b.mgr.CreateTopic(topic, 1, nil); err != nil {
				t.Fatal(err)
			}
			base := pyBase()
			lines, debug := py.run(t, pySpec{Op: "produce", Topic: topic, Codec: tc.codec, N: pythonRecords, BaseTS: base})
			checkPyDelivered(t, lines, pythonRecords)

			// What librdkafka says it sent, batch by batch, is what
			// must be stored; each batch sent uncompressed when a codec
			// was asked for comes with librdkafka's fallback line.
			var sent []recordbatch.Codec
			for _, m := range kcatProducedCodec.FindAllStringSubmatch(debug, -1) {
				c, ok := kcatCodecs[m[1]]
				if !ok {
					t.Fatalf("librdkafka produced with unknown codec %q", m[1])
				}
				sent = append(sent, c)
			}
			if len(sent) == 0 {
				t.Fatalf("no produce in librdkafka's debug output:\n%s", pyTail(debug))
			}
			requested := kcatCodecs[tc.codec]
			fallbacks := rdkafkaCodecFallback.FindAllStringSubmatch(debug, -1)
			for _, m := range fallbacks {
				if m[1] != tc.codec {
					t.Fatalf("librdkafka fell back from %s, asked for %s", m[1], tc.codec)
				}
			}
			downgraded := 0
			for i, c := range sent {
				switch c {
				case requested:
				case recordbatch.CodecNone:
					downgraded++
				default:
					t.Fatalf("batch %d sent with %v, asked for %v", i, c, requested)
				}
			}
			if len(fallbacks) != downgraded {
				t.Fatalf("librdkafka logged %d fallbacks to no compression but sent %d of %d batches uncompressed, asked for %s",
					len(fallbacks), downgraded, len(sent), tc.codec)
			}
			if downgraded > 0 {
				if tc.mustCompress {
					t.Fatalf("librdkafka produced %v, want %v", sent, requested)
				}
				t.Logf("librdkafka sent %v instead of %v (librdkafka#4956: it wants Produce v0 for this codec)", sent, requested)
			}
			if got := storedCodecs(t, b, topic, 0); !slices.Equal(got, sent) {
				t.Fatalf("stored batch codecs %v, librdkafka sent %v", got, sent)
			}
			checkPyIdempotentBatches(t, b, topic)

			lines, _ = py.run(t, pySpec{Op: "consume", Topic: topic})
			checkPyRecords(t, lines, 0, pythonRecords, base, true)
		})
	}
}

// checkPyIdempotentBatches: every stored batch carries the one producer id
// the broker handed out and a sequence that follows the offsets (the topic
// had no other producer).
func checkPyIdempotentBatches(t *testing.T, b *testBroker, topic string) {
	t.Helper()
	hs := storedBatches(t, b, topic, 0)
	for _, h := range hs {
		if h.ProducerID < 0 || h.ProducerID != hs[0].ProducerID || h.ProducerEpoch < 0 || int64(h.BaseSequence) != h.BaseOffset {
			t.Fatalf("idempotent batch at %d: producer %d epoch %d sequence %d (first batch's producer %d)",
				h.BaseOffset, h.ProducerID, h.ProducerEpoch, h.BaseSequence, hs[0].ProducerID)
		}
	}
}

// TestPythonKafkaPythonCompat: kafka-python's producer (acks=all) with
// each codec it has, every batch stored with that codec, then its consumer
// from offset 0 returning every record exactly.
func TestPythonKafkaPythonCompat(t *testing.T) {
	b := startBroker(t)
	py := newPyRunner(t, kafkaPython, b)
	// kafka-python needs a Python module for every codec but gzip; a
	// missing one skips that codec.
	lines, _ := py.run(t, pySpec{Op: "codecs"})
	have := pyLinesOf(t, lines, "codecs")
	if len(have) != 1 {
		t.Fatalf("codecs: %+v", lines)
	}
	modules := map[string]string{"snappy": "python3-snappy", "lz4": "python3-lz4", "zstd": "python3-zstandard"}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			if pkg, ok := modules[codec]; ok && !have[0].Codecs[codec] {
				t.Skipf("kafka-python has no %s codec: apt-get install -y %s", codec, pkg)
			}
			topic := "py-kafka-" + codec
			if _, err := b.mgr.CreateTopic(topic, 1, nil); err != nil {
				t.Fatal(err)
			}
			base := pyBase()
			lines, _ := py.run(t, pySpec{Op: "produce", Topic: topic, Codec: codec, N: pythonRecords, BaseTS: base})
			checkKafkaPythonVersion(t, lines)
			checkPyDelivered(t, lines, pythonRecords)
			// kafka-python compresses every batch with the codec it was
			// given; the broker stores them as sent.
			checkStoredCodec(t, b, topic, 0, kcatCodecs[codec])

			lines, _ = py.run(t, pySpec{Op: "consume", Topic: topic})
			checkPyRecords(t, lines, 0, pythonRecords, base, false)
		})
	}
}

// checkKafkaPythonVersion: kafka-python detects the broker's version from
// ApiVersions by itself (no api_version pinned). It takes the newest of its
// markers the broker serves, Produce v8, for Kafka 2.4, and so produces
// with Produce v7 (zstd allowed), fetches with Fetch v4 and looks offsets
// up with ListOffsets v1.
func checkKafkaPythonVersion(t *testing.T, lines []pyLine) {
	t.Helper()
	v := pyLinesOf(t, lines, "api_version", "delivered")
	if len(v) != 1 || len(v[0].Version) < 2 || slices.Compare(v[0].Version[:2], []int{2, 1}) < 0 {
		t.Fatalf("kafka-python detected broker version %+v, want at least 2.1", v)
	}
}

// pyTimestampReplay produces records with create timestamps pythonTimeStep
// apart, looks offsets up by timestamp (ListOffsets) and replays from one.
func pyTimestampReplay(t *testing.T, client pyClient, codec string) {
	b := startBroker(t)
	py := newPyRunner(t, client, b)
	topic := "py-time-" + client.module
	if _, err := b.mgr.CreateTopic(topic, 1, nil); err != nil {
		t.Fatal(err)
	}
	base := pyBase()
	lines, _ := py.run(t, pySpec{Op: "produce", Topic: topic, Codec: codec, N: pythonRecords, BaseTS: base})
	checkPyDelivered(t, lines, pythonRecords)
	t.Logf("stored batch codecs %v", storedCodecs(t, b, topic, 0))

	last := pyTS(base, pythonRecords-1)
	cases := []struct {
		at   int64
		want int64 // -1: no record at or after it
	}{
		{base - time.Minute.Milliseconds(), 0},
		{base, 0},
		{pyTS(base, 57), 57},
		{pyTS(base, 57) + 1, 58},
		{pyTS(base, 58) - 1, 58},
		{pyTS(base, 150), 150},
		{last, pythonRecords - 1},
		{last + 1, -1},
		{last + time.Hour.Milliseconds(), -1},
	}
	const replayCase = 3
	var ats []int64
	for _, c := range cases {
		ats = append(ats, c.at)
	}
	lines, _ = py.run(t, pySpec{Op: "times", Topic: topic, Times: ats})
	got := pyLinesOf(t, lines, "time")
	if len(got) != len(cases) {
		t.Fatalf("%d timestamp lookups answered, want %d: %+v", len(got), len(cases), lines)
	}
	for i, c := range cases {
		g := got[i]
		if g.At != c.at || g.Offset != c.want {
			t.Errorf("offset for time %d (base%+d ms): %d, want %d", c.at, c.at-base, g.Offset, c.want)
		}
		if g.FoundTS != nil {
			wantTS := int64(-1)
			if c.want >= 0 {
				wantTS = pyTS(base, int(c.want))
			}
			if *g.FoundTS != wantTS {
				t.Errorf("time %d: broker returned timestamp %d with offset %d, want %d", c.at, *g.FoundTS, g.Offset, wantTS)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Replay from the offset found between two records.
	from := got[replayCase].Offset
	lines, _ = py.run(t, pySpec{Op: "consume", Topic: topic, Start: from})
	checkPyRecords(t, lines, int(from), pythonRecords, base, client.nullHeaders)
}

// TestPythonConfluentKafkaTimestampReplay: offsets_for_times inside one
// zstd batch of all the records (librdkafka sends them together), then
// consuming from the offset found.
func TestPythonConfluentKafkaTimestampReplay(t *testing.T) {
	pyTimestampReplay(t, confluentKafka, "zstd")
}

// TestPythonKafkaPythonTimestampReplay: offsets_for_times across several
// gzip batches (kafka-python closes a batch at 16 KiB), then consuming
// from the offset found.
func TestPythonKafkaPythonTimestampReplay(t *testing.T) {
	pyTimestampReplay(t, kafkaPython, "gzip")
}

// pyMetadata: the client creates a topic through its admin client, then
// sees in its metadata one broker, node NodeID at the listener's address,
// controller and leader of every partition of exactly the topics that
// exist; asked for one topic, only that one.
func pyMetadata(t *testing.T, client pyClient) {
	b := startBroker(t)
	py := newPyRunner(t, client, b)
	if _, err := b.mgr.CreateTopic("py-meta-a", 3, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.mgr.CreateTopic("py-meta-b", 1, nil); err != nil {
		t.Fatal(err)
	}
	host, portStr, _ := net.SplitHostPort(b.addr)
	port, _ := strconv.Atoi(portStr)

	lines, _ := py.run(t, pySpec{Op: "metadata", Create: map[string]int{"py-meta-admin": 2}})
	if created := pyLinesOf(t, lines, "created", "metadata"); len(created) != 1 || created[0].Topic != "py-meta-admin" {
		t.Fatalf("created %+v, want py-meta-admin", created)
	}
	if _, ok := b.mgr.Partition("py-meta-admin", 1); !ok {
		t.Fatalf("py-meta-admin partition 1 not in the broker")
	}
	md := pyLinesOf(t, lines, "metadata", "created")
	if len(md) != 1 {
		t.Fatalf("metadata: %+v", lines)
	}
	checkPyMetadata(t, md[0], host, port, map[string]int{"py-meta-a": 3, "py-meta-b": 1, "py-meta-admin": 2})

	lines, _ = py.run(t, pySpec{Op: "metadata", Topic: "py-meta-b"})
	md = pyLinesOf(t, lines, "metadata")
	if len(md) != 1 {
		t.Fatalf("metadata: %+v", lines)
	}
	checkPyMetadata(t, md[0], host, port, map[string]int{"py-meta-b": 1})
}

func checkPyMetadata(t *testing.T, md pyLine, host string, port int, want map[string]int) {
	t.Helper()
	if self := (pyBroker{NodeID, host, port}); len(md.Brokers) != 1 || md.Brokers[0] != self {
		t.Errorf("brokers %+v, want %+v alone", md.Brokers, self)
	}
	if md.Controller == nil || *md.Controller != NodeID {
		t.Errorf("controller %s, want %d", pyQuoteInt(md.Controller), NodeID)
	}
	got := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error != nil {
			t.Errorf("topic %s: error %q", tp.Topic, *tp.Error)
		}
		got[tp.Topic] = len(tp.Partitions)
		for i, p := range tp.Partitions {
			if p.ID != int32(i) || p.Leader != NodeID || !slices.Equal(p.Replicas, []int32{NodeID}) || !slices.Equal(p.ISRs, []int32{NodeID}) || p.Error != nil {
				t.Errorf("topic %s partition %d: %+v, want partition %d led by node %d, replicas and ISR [%d]", tp.Topic, i, p, i, NodeID, NodeID)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("topics %v, want %v", got, want)
	}
}

func pyQuoteInt(v *int32) string {
	if v == nil {
		return "missing"
	}
	return strconv.Itoa(int(*v))
}

// TestPythonConfluentKafkaMetadata: AdminClient.create_topics and
// list_topics, all topics and one.
func TestPythonConfluentKafkaMetadata(t *testing.T) { pyMetadata(t, confluentKafka) }

// TestPythonKafkaPythonMetadata: KafkaAdminClient.create_topics,
// describe_cluster and describe_topics, all topics and one.
func TestPythonKafkaPythonMetadata(t *testing.T) { pyMetadata(t, kafkaPython) }
