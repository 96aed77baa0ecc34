package server

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestPipelinedRequestsAnsweredInOrder: a client that writes many requests
// before reading (Produce, Fetch long polls, Metadata mixed) gets every
// answer, in request order.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("pipe", 1, 10)
	c := b.raw()
	formatter := kmsg.NewRequestFormatter()
	var frames []byte
	var kinds []kmsg.Request
	for i := range 20 {
		var req kmsg.Request
		switch i % 3 {
		case 0:
			req = produceReq(9, "pipe", recordbatch.Build(3, 10, time.Now().UnixMilli()))
		case 1:
			f := fetchReq(12, "pipe", [16]byte{}, 0, 1<<20)
			f.MaxWaitMillis = 50
			req = f
		default:
			m := kmsg.NewPtrMetadataRequest()
			m.Version = 12
			req = m
		}
		frames = append(frames, formatter.AppendRequest(nil, req, int32(1000+i))...)
		kinds = append(kinds, req)
	}
	c.nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.nc.Write(frames); err != nil {
		t.Fatal(err)
	}
	for i, req := range kinds {
		var size [4]byte
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c.nc, body); err != nil {
			t.Fatal(err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != int32(1000+i) {
			t.Fatalf("response %d has correlation id %d, want %d (out of order)", i, corr, 1000+i)
		}
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		if err := resp.ReadFrom(body[5:]); err != nil {
			t.Fatalf("response %d (%T): %v", i, resp, err)
		}
	}
	if l, _ := b.mgr.Partition("pipe", 0); l.NextOffset() != 10+7*3 {
		t.Errorf("log end %d after 7 pipelined produces of 3 records, want 31", l.NextOffset())
	}
}

// TestIdleConnectionsClosed: connections.max.idle.ms closes a silent
// connection; a busy one is left alone.
func TestIdleConnectionsClosed(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.ConnectionsMaxIdle = 300 * time.Millisecond })
	busy, idle := b.raw(), b.raw()
	start := time.Now()
	for time.Since(start) < time.Second {
		req := kmsg.NewPtrApiVersionsRequest()
		busy.do(req)
		time.Sleep(50 * time.Millisecond)
	}
	idle.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := idle.nc.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("idle connection still open after %v: %v", time.Since(start), err)
	}
}

// TestAutoCreateTopics: Metadata creates unknown topics with num.partitions
// when auto.create.topics.enable is on and the client allows it, and not
// otherwise; invalid names are refused.
func TestAutoCreateTopics(t *testing.T) {
	meta := func(c *rawConn, allow bool, names ...string) []kmsg.MetadataResponseTopic {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		req.AllowAutoTopicCreation = allow
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		return c.do(req).(*kmsg.MetadataResponse).Topics
	}
	on := startBroker(t, func(c *Config) { c.NumPartitions = 3 })
	c := on.raw()
	if got := meta(c, false, "nope"); got[0].ErrorCode == 0 {
		t.Errorf("client disallowed creation but the topic exists")
	}
	got := meta(c, true, "auto", "bad/name")
	if got[0].ErrorCode != 0 || len(got[0].Partitions) != 3 || got[0].TopicID == [16]byte{} {
		t.Errorf("auto-created topic: error %d, %d partitions, id %x", got[0].ErrorCode, len(got[0].Partitions), got[0].TopicID)
	}
	if got[1].ErrorCode == 0 {
		t.Errorf("invalid topic name was created")
	}
	off := startBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	if got := meta(off.raw(), true, "auto"); got[0].ErrorCode == 0 {
		t.Errorf("auto.create.topics.enable=false but the topic was created")
	}
}

// TestAdvertisedAddress: Metadata tells clients --advertise when set, and a
// host name rather than 0.0.0.0 for a listener on every interface.
func TestAdvertisedAddress(t *testing.T) {
	meta := func(b *testBroker) kmsg.MetadataResponseBroker {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		return b.raw().do(req).(*kmsg.MetadataResponse).Brokers[0]
	}
	b := startBroker(t, func(c *Config) { c.Advertise = "kafka.example:19092" })
	if got := meta(b); got.Host != "kafka.example" || got.Port != 19092 {
		t.Errorf("advertised %s:%d, want kafka.example:19092", got.Host, got.Port)
	}

	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	srv, err := New(mgr, DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr, err := srv.Listen("0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(addr.String())
	wild := &testBroker{t: t, addr: net.JoinHostPort("127.0.0.1", port)}
	if got := meta(wild); got.Host != host || got.Host == "0.0.0.0" {
		t.Errorf("listener on all interfaces advertised %q, want the host name %q", got.Host, host)
	}
}
