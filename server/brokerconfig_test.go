package server

import (
	"slices"
	"strings"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

// kafkaKRaftProperties is the shape of the server.properties Kafka ships
// for a combined KRaft node: a file operators already have.
const kafkaKRaftProperties = `
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://kafka-1.example:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/var/lib/kafka
num.partitions=3
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=24
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`

func TestKafkaServerPropertiesLoad(t *testing.T) {
	b := DefaultBrokerSettings()
	if err := b.ReadProperties(strings.NewReader(kafkaKRaftProperties), "server.properties"); err != nil {
		t.Fatalf("Kafka's server.properties: %v", err)
	}
	ls, err := b.ResolveListeners()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Addr != ":9092" || ls[0].Advertise != "kafka-1.example:9092" || b.DataDir != "/var/lib/kafka" {
		t.Fatalf("listeners %+v, data dir %q", ls, b.DataDir)
	}
	if b.Server.NumPartitions != 3 || b.Topics.RetentionMs != 24*3600*1000 {
		t.Fatalf("num.partitions %d, retention %d ms", b.Server.NumPartitions, b.Topics.RetentionMs)
	}
	for _, k := range []string{"controller.listener.names", "num.io.threads", "transaction.state.log.min.isr"} {
		if !slices.Contains(b.Ignored, k) {
			t.Errorf("%s not reported as ignored: %v", k, b.Ignored)
		}
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	// Kafka's combined KRaft node is a cluster of one voter: node 1,
	// its controller listener the CONTROLLER entry of listeners.
	c := b.Cluster
	if !c.Enabled() || c.NodeID != 1 || FormatVoters(c.Voters) != "1@localhost:9093" || c.ControllerListen != ":9093" ||
		c.OffsetsTopicReplicationFactor != 1 || c.InterBrokerListenerName != "PLAINTEXT" {
		t.Fatalf("cluster settings %+v", c)
	}
}

func TestKafkaRetentionUnits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		lines []string
		want  int64
	}{
		{"hours", []string{"log.retention.hours=5"}, 5 * 3600e3},
		{"minutes beat hours", []string{"log.retention.minutes=30", "log.retention.hours=5"}, 30 * 60e3},
		{"minutes beat hours, either order", []string{"log.retention.hours=5", "log.retention.minutes=30"}, 30 * 60e3},
		{"ms beat minutes", []string{"log.retention.minutes=30", "log.retention.ms=1000"}, 1000},
		{"ms beat hours, either order", []string{"log.retention.ms=1000", "log.retention.hours=5"}, 1000},
		{"negative keeps forever", []string{"log.retention.hours=-1"}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := DefaultBrokerSettings()
			if err := b.ReadProperties(strings.NewReader(strings.Join(tt.lines, "\n")), "f"); err != nil {
				t.Fatal(err)
			}
			if b.Topics.RetentionMs != tt.want {
				t.Fatalf("retention.ms %d, want %d", b.Topics.RetentionMs, tt.want)
			}
		})
	}
	b := DefaultBrokerSettings()
	if err := b.ReadProperties(strings.NewReader("log.roll.hours=2"), "f"); err != nil || b.Topics.SegmentMs != 2*3600e3 {
		t.Fatalf("log.roll.hours: %v, segment.ms %d", err, b.Topics.SegmentMs)
	}
	if b.Topics.RetentionMs != tlog.DefaultRetentionMs {
		t.Fatalf("retention moved: %d", b.Topics.RetentionMs)
	}
}

func TestKafkaPropertiesRefused(t *testing.T) {
	for _, line := range []string{
		"ssl.enabled.protocols=TLSv1",                                 // TLS below 1.2
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms=GSSAPI", // not served
		"advertised.listeners=SSL://host:9093",                        // not a listener
		"log.dirs=/a,/b",                                              // one data dir
		"log.retention.hours=many",
	} {
		b := DefaultBrokerSettings()
		err := b.ReadProperties(strings.NewReader(line), "f")
		if err == nil {
			err = b.Validate()
		}
		if err == nil {
			t.Errorf("%s accepted", line)
		}
	}
}

// TestOffsetsCommitTimeoutIsASetting: offsets.commit.timeout.ms reaches
// the group coordinator (Kafka's 5000 by default), is listed with the
// broker's settings, and only a positive value is taken.
func TestOffsetsCommitTimeoutIsASetting(t *testing.T) {
	b := DefaultBrokerSettings()
	if got := b.Server.Groups.OffsetsCommitTimeout; got != 5*time.Second {
		t.Fatalf("default offsets.commit.timeout.ms %v, want 5 s", got)
	}
	if err := b.ReadProperties(strings.NewReader("offsets.commit.timeout.ms=1500"), "f"); err != nil {
		t.Fatal(err)
	}
	if got := b.Server.Groups.OffsetsCommitTimeout; got != 1500*time.Millisecond {
		t.Fatalf("offsets.commit.timeout.ms=1500: %v", got)
	}
	if slices.Contains(b.Ignored, BrokerOffsetsCommitTimeoutMs) {
		t.Fatal("offsets.commit.timeout.ms reported as ignored")
	}
	if got := b.Map()[BrokerOffsetsCommitTimeoutMs]; got != "1500" {
		t.Fatalf("listed as %q", got)
	}
	for _, v := range []string{"0", "-1", "soon"} {
		b := DefaultBrokerSettings()
		if err := b.ReadProperties(strings.NewReader("offsets.commit.timeout.ms="+v), "f"); err == nil {
			t.Errorf("offsets.commit.timeout.ms=%s accepted", v)
		}
	}
}
