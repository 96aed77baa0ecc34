package server

// Compatibility with segmentio/kafka-go: its Writer (acks=all, every
// codec, auto-created topic), its partition Reader from the first offset,
// and the low-level Conn's offset and partition queries.

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/tributary-io/tributary/recordbatch"
)

func TestKafkaGoCompat(t *testing.T) {
	b := startBroker(t)
	cases := []struct {
		name   string
		codec  compress.Compression
		stored recordbatch.Codec
	}{
		{"none", compress.None, recordbatch.CodecNone},
		{"gzip", compress.Gzip, recordbatch.CodecGzip},
		{"snappy", compress.Snappy, recordbatch.CodecSnappy},
		{"lz4", compress.Lz4, recordbatch.CodecLZ4},
		{"zstd", compress.Zstd, recordbatch.CodecZstd},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			topic := "kafka-go-" + tc.name
			transport := &kafka.Transport{DialTimeout: 5 * time.Second}
			defer transport.CloseIdleConnections()
			w := &kafka.Writer{
				Addr:                   kafka.TCP(b.addr),
				Topic:                  topic,
				RequiredAcks:           kafka.RequireAll,
				Compression:            tc.codec,
				AllowAutoTopicCreation: true,
				BatchSize:              compatRecords,
				BatchTimeout:           10 * time.Millisecond,
				MaxAttempts:            5,
				Transport:              transport,
			}
			base := time.UnixMilli(time.Now().UnixMilli())
			msgs := make([]kafka.Message, compatRecords)
			for i := range msgs {
				msgs[i] = kafka.Message{
					Key:     []byte(compatKey(i)),
					Value:   []byte(compatValue(i)),
					Headers: []kafka.Header{{Key: "i", Value: []byte(strconv.Itoa(i))}},
					Time:    base.Add(time.Duration(i) * time.Millisecond),
				}
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("writer close: %v", err)
			}
			checkStoredCodec(t, b, topic, 0, tc.stored)

			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers:   []string{b.addr},
				Topic:     topic,
				Partition: 0,
				MinBytes:  1,
				MaxBytes:  10 << 20,
				MaxWait:   100 * time.Millisecond,
			})
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				t.Fatalf("set offset: %v", err)
			}
			for i := 0; i < compatRecords; i++ {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read message %d: %v", i, err)
				}
				checkKafkaGoMessage(t, m, i, base)
			}

			conn, err := kafka.DialLeader(ctx, "tcp", b.addr, topic, 0)
			if err != nil {
				t.Fatalf("dial leader: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			first, last, err := conn.ReadOffsets()
			if err != nil || first != 0 || last != compatRecords {
				t.Fatalf("ReadOffsets: %d, %d, %v; want 0, %d", first, last, err, compatRecords)
			}
			at, err := conn.ReadOffset(base.Add(10 * time.Millisecond))
			if err != nil || at != 10 {
				t.Fatalf("ReadOffset(record 10's time): %d, %v; want 10", at, err)
			}
			// Before every record: the first one.
			at, err = conn.ReadOffset(base.Add(-time.Minute))
			if err != nil || at != 0 {
				t.Fatalf("ReadOffset(before everything): %d, %v; want 0", at, err)
			}
		})
	}
}

func checkKafkaGoMessage(t *testing.T, m kafka.Message, i int, base time.Time) {
	t.Helper()
	if m.Partition != 0 || m.Offset != int64(i) || string(m.Key) != compatKey(i) || string(m.Value) != compatValue(i) {
		t.Fatalf("message %d: %d/%d key %q value %.20q..., want 0/%d key %q value %.20q...",
			i, m.Partition, m.Offset, m.Key, m.Value, i, compatKey(i), compatValue(i))
	}
	if want := base.Add(time.Duration(i) * time.Millisecond); !m.Time.Equal(want) {
		t.Fatalf("message %d: time %v, want %v", i, m.Time, want)
	}
	if len(m.Headers) != 1 || m.Headers[0].Key != "i" || string(m.Headers[0].Value) != strconv.Itoa(i) {
		t.Fatalf("message %d: headers %v, want [i=%d]", i, m.Headers, i)
	}
}

// TestKafkaGoReadPartitions checks kafka-go's view of the cluster: every
// partition led by this broker, at its advertised address.
func TestKafkaGoReadPartitions(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.NumPartitions = 3 })
	ctx := testContext(t)
	if _, err := b.mgr.CreateTopic("kafka-go-parts", 4, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))

	host, portStr, _ := net.SplitHostPort(b.addr)
	port, _ := strconv.Atoi(portStr)
	self := kafka.Broker{Host: host, Port: port, ID: NodeID}

	parts, err := conn.ReadPartitions("kafka-go-parts")
	if err != nil {
		t.Fatalf("ReadPartitions: %v", err)
	}
	if len(parts) != 4 {
		t.Fatalf("%d partitions, want 4: %+v", len(parts), parts)
	}
	slices.SortFunc(parts, func(a, b kafka.Partition) int { return a.ID - b.ID })
	for i, p := range parts {
		if p.Topic != "kafka-go-parts" || p.ID != i {
			t.Errorf("partition %d: %s/%d", i, p.Topic, p.ID)
		}
		if p.Leader != self {
			t.Errorf("partition %d: leader %+v, want %+v", i, p.Leader, self)
		}
		if len(p.Replicas) != 1 || p.Replicas[0].ID != NodeID || len(p.Isr) != 1 || p.Isr[0].ID != NodeID {
			t.Errorf("partition %d: replicas %+v isr %+v, want node %d alone", i, p.Replicas, p.Isr, NodeID)
		}
	}

	// No topic named: every topic, so the one above and nothing else.
	all, err := conn.ReadPartitions()
	if err != nil {
		t.Fatalf("ReadPartitions(): %v", err)
	}
	var names []string
	for _, p := range all {
		names = append(names, fmt.Sprintf("%s/%d", p.Topic, p.ID))
	}
	slices.Sort(names)
	if want := []string{"kafka-go-parts/0", "kafka-go-parts/1", "kafka-go-parts/2", "kafka-go-parts/3"}; !slices.Equal(names, want) {
		t.Fatalf("ReadPartitions(): %v, want %v", names, want)
	}

	// A topic kafka-go asks about gets auto-created with num.partitions.
	auto, err := conn.ReadPartitions("kafka-go-auto")
	if err != nil {
		t.Fatalf("ReadPartitions(unknown topic): %v", err)
	}
	if len(auto) != 3 {
		t.Fatalf("auto-created topic has %d partitions, want num.partitions=3", len(auto))
	}
}
