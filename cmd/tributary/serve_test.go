package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	listenRe  = regexp.MustCompile(`listen=(\S+)`)
	metricsRe = regexp.MustCompile(`metrics=(\S+)`)
)

// waitForLine returns the first stderr line containing what.
func (s *serving) waitForLine(t *testing.T, what string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("serve exited before logging %q", what)
			}
			if strings.Contains(l, what) {
				return l
			}
		case <-deadline:
			t.Fatalf("serve did not log %q", what)
		}
	}
}

// TestServeKafkaAndMetrics runs the real binary as `make run` does: a
// franz-go client produces and consumes over the socket, /metrics counts
// the requests and bytes, /healthz answers, SIGTERM exits 0, and a restart
// on the same dir serves the same records.
func TestServeKafkaAndMetrics(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, bin, data)
	line := srv.waitForLine(t, "serving Kafka clients")
	addr, metrics := listenRe.FindStringSubmatch(line)[1], metricsRe.FindStringSubmatch(line)[1]

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	// flush.messages=1: every append is fsynced, which /metrics times.
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "events", 1, 1
	ct.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "flush.messages", Value: kmsg.StringPtr("1")}}
	create.Topics = append(create.Topics, ct)
	if resp, err := create.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cl.Close()

	body := httpGet(t, "http://"+metrics+"/metrics")
	for _, want := range []string{
		`tributary_requests_total{api="Produce"} 100`,
		`tributary_records_in_total{topic="events"} 100`,
		`tributary_partition_log_end_offset{partition="0",topic="events"} 100`,
		`tributary_request_duration_seconds_bucket{api="Produce"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Each of the 100 sequential acks waited for its own fsync.
	if m := regexp.MustCompile(`tributary_log_flush_duration_seconds_count (\d+)`).FindStringSubmatch(body); m == nil || len(m[1]) < 3 {
		t.Errorf("/metrics: fsyncs under flush.messages=1: %v, want at least 100", m)
	}
	if got := httpGet(t, "http://"+metrics+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/healthz = %q", got)
	}
	srv.stop(t)

	again := startServe(t, bin, data)
	addr = listenRe.FindStringSubmatch(again.waitForLine(t, "serving Kafka clients"))[1]
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got int
	for got < 100 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restart read %d of 100 records", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(got) || r.Value[0] != byte(got) {
				t.Fatalf("record %d after restart: offset %d value %d", got, r.Offset, r.Value[0])
			}
			got++
		})
	}
	again.stop(t)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestServeConfig: --config and --set use Kafka's names, --print-config
// shows the result, and a typo is refused rather than ignored.
func TestServeConfig(t *testing.T) {
	bin := buildBinary(t)
	props := filepath.Join(t.TempDir(), "broker.properties")
	writeFile(t, props, "# a comment\nnum.partitions = 6\nlog.retention.ms=3600000\n")
	out, err := exec.Command(bin, "serve", "--config", props, "--set", "auto.create.topics.enable=false", "--print-config").CombinedOutput()
	if err != nil {
		t.Fatalf("--print-config: %v\n%s", err, out)
	}
	for _, want := range []string{"num.partitions=6\n", "log.retention.ms=3600000\n", "auto.create.topics.enable=false\n", "socket.request.max.bytes=104857600\n", "queued.max.request.bytes=268435456\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(bin, "serve", "--set", "num.partitons=3", "--print-config").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown broker setting "num.partitons"`) {
		t.Errorf("typo in a setting: %v %s", err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServeRetentionCheckInterval: log.retention.check.interval.ms reaches
// the data dir, so retention.bytes deletes segments within a few checks
// (the default, 5 minutes, would not within the test).
func TestServeRetentionCheckInterval(t *testing.T) {
	bin := buildBinary(t)
	srv := startServe(t, bin, filepath.Join(t.TempDir(), "data"), "--log.retention.check.interval.ms", "100")
	addr := listenRe.FindStringSubmatch(srv.waitForLine(t, "serving Kafka clients"))[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("short"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": kmsg.StringPtr("1024"), "retention.bytes": kmsg.StringPtr("2048"),
	}, "short")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	for range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 200)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	for {
		starts, err := adm.ListStartOffsets(ctx, "short")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := starts.Lookup("short", 0); o.Offset > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("retention deleted nothing in 30 s with a 100 ms check interval")
		case <-time.After(100 * time.Millisecond):
		}
	}
	srv.stop(t)
}
