package server

// FuzzRequest throws request frames at a live broker: the fuzzed bytes as
// they are, and again with the API key and version forced into the served
// ranges so the input reaches kmsg's decoders and the handlers. Whatever
// the input, the broker must not panic (a panic in a connection goroutine
// kills the process, which the fuzzer reports) and must keep answering
// ApiVersions on a new connection.
//
// The seed corpus in testdata/fuzz/FuzzRequest holds valid requests encoded
// with kmsg; TestFuzzRequestCorpus keeps it in step with fuzzRequestSeeds
// and rewrites it with -update-fuzz-corpus.

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzRequest from fuzzRequestSeeds")

const (
	// fuzzTopic is the one topic the fuzz broker starts with; seeds name it.
	fuzzTopic = "fuzz"
	// fuzzIODeadline bounds each fuzz connection: long enough for an
	// answer on loopback, short enough to keep iterations fast when the
	// input is a long poll (the broker answers that one after its wait,
	// to a closed connection).
	fuzzIODeadline = 200 * time.Millisecond
	// fuzzSeedTimestamp is the timestamp of the seed Produce batches, fixed
	// so the corpus is reproducible.
	fuzzSeedTimestamp = 1_700_000_000_000
	// fuzzCorpusDir holds the committed seed corpus.
	fuzzCorpusDir = "testdata/fuzz/FuzzRequest"
)

func FuzzRequest(f *testing.F) {
	b := startBroker(f, fuzzGroups, func(c *Config) {
		c.AutoCreateTopics = false
		c.SocketRequestMaxBytes = 1 << 20
		c.ConnectionsMaxIdle = 5 * time.Second
	})
	ensureFuzzTopic(f, b)
	f.Fuzz(func(t *testing.T, frame []byte) {
		fuzzSend(t, b.addr, frame)
		if fixed, ok := servedHeader(frame); ok && !bytes.Equal(fixed, frame) {
			fuzzSend(t, b.addr, fixed)
		}
		// Still serving a new client...
		c := dialProbe(t, b.addr)
		c.apiVersions()
		// ...and its state stays small whatever the input created.
		resetFuzzTopics(t, b)
	})
}

// fuzzSend writes frame behind its size prefix on a new connection, closes
// the sending side and drains whatever comes back until the broker closes
// or the deadline passes.
func fuzzSend(t *testing.T, addr string, frame []byte) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("broker no longer accepts connections: %v", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(fuzzIODeadline))
	msg := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(frame)), uint32(len(frame)))
	if _, err := nc.Write(append(msg, frame...)); err != nil {
		return // closed on an early byte: fine
	}
	nc.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, nc)
}

// servedHeader returns frame with its API key and version rewritten into
// an API this broker serves and a version in its range (unchanged when
// they already are), or false when the frame is too short to hold them.
func servedHeader(frame []byte) ([]byte, bool) {
	if len(frame) < 4 {
		return nil, false
	}
	key := int16(binary.BigEndian.Uint16(frame))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	a := lookupAPI(key)
	if a == nil {
		served := registeredAPIs()
		a = served[int(uint16(key))%len(served)]
	}
	if version < a.min || version > a.max {
		version = a.min + int16(int(uint16(version))%int(a.max-a.min+1))
	}
	out := bytes.Clone(frame)
	binary.BigEndian.PutUint16(out, uint16(a.key))
	binary.BigEndian.PutUint16(out[2:], uint16(version))
	return out, true
}

func ensureFuzzTopic(t testing.TB, b *testBroker) {
	t.Helper()
	if _, ok := b.mgr.Topic(fuzzTopic); ok {
		return
	}
	if _, err := b.mgr.CreateTopic(fuzzTopic, 2, nil); err != nil {
		t.Fatalf("create %s: %v", fuzzTopic, err)
	}
}

// resetFuzzTopics deletes topics fuzzed CreateTopics requests made and
// brings back the seed topic if a fuzzed DeleteTopics removed it, so a long
// run neither fills the disk nor loses the topic seeds aim at.
func resetFuzzTopics(t *testing.T, b *testBroker) {
	t.Helper()
	for _, tp := range b.mgr.Topics() {
		if tp.Name == fuzzTopic || kafkaInternalTopic(tp.Name) {
			continue
		}
		if err := b.mgr.DeleteTopic(tp.Name); err != nil {
			t.Fatalf("delete fuzz-created topic %q: %v", tp.Name, err)
		}
	}
	ensureFuzzTopic(t, b)
}

// fuzzRequestSeeds are valid requests of the core APIs, as frames without
// their size prefix, by corpus file name.
func fuzzRequestSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	add := func(name string, req kmsg.Request) {
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz-seed")).AppendRequest(nil, req, 7)
		seeds[fmt.Sprintf("%s-v%d", name, req.GetVersion())] = frame[4:]
	}
	batch := func(n int) []byte { return recordbatch.Build(n, 16, fuzzSeedTimestamp) }

	for _, v := range []int16{0, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName = "fuzz"
		req.ClientSoftwareVersion = "1.0"
		add("apiversions", req)
	}

	for _, v := range []int16{0, 4, 9, 12, 13} {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(fuzzTopic)
		req.Topics = append(req.Topics, rt)
		if v == 9 {
			req.Topics = nil // all topics
		}
		add("metadata", req)
	}

	for _, v := range []int16{3, 7, 9, 12, 13} {
		req := kmsg.NewPtrProduceRequest()
		req.Version = v
		req.Acks = -1
		if v == 12 {
			req.Acks = 0
		}
		req.TimeoutMillis = 1000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = fuzzTopic
		for p := range int32(2) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = batch(int(p) + 2)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		add("produce", req)
	}

	for _, v := range []int16{4, 11, 12, 13, 18} {
		req := kmsg.NewPtrFetchRequest()
		req.Version = v
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = fuzzTopic
		for p := range int32(2) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.FetchOffset = int64(p)
			rp.PartitionMaxBytes = 1 << 16
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		add("fetch", req)
	}

	for _, v := range []int16{1, 4, 7, 9, 11} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = v
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = fuzzTopic
		for p, ts := range []int64{-2, -1, -3, fuzzSeedTimestamp} {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = int32(p % 2)
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		add("listoffsets", req)
	}
	groupSeeds(add)
	return seeds
}

// fuzzGroups makes group requests answer at once: no initial rebalance
// delay, any session timeout, a small offsets topic.
func fuzzGroups(c *Config) {
	c.Groups.InitialRebalanceDelay = 0
	c.Groups.MinSessionTimeout = time.Millisecond
	c.Groups.OffsetsTopicPartitions = 2
}

// groupSeeds adds one valid request of each group API.
func groupSeeds(add func(string, kmsg.Request)) {
	const group = "fuzz-group"
	for _, v := range []int16{0, 3, 4} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = v
		req.CoordinatorKey = group
		if v >= 4 {
			req.CoordinatorKeys = []string{group, "other"}
		}
		add("findcoordinator", req)
	}
	meta := (&kmsg.ConsumerMemberMetadata{Version: 0, Topics: []string{fuzzTopic}}).AppendTo(nil)
	for _, v := range []int16{0, 5, 9} {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = v
		req.Group = group
		req.SessionTimeoutMillis = 100
		req.RebalanceTimeoutMillis = 100
		req.ProtocolType = "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta}}
		if v == 5 {
			req.InstanceID = kmsg.StringPtr("instance")
		}
		add("joingroup", req)
	}
	for _, v := range []int16{0, 5} {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = v
		req.Group, req.MemberID, req.Generation = group, "m", 1
		req.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: "m", MemberAssignment: []byte{0, 0}}}
		add("syncgroup", req)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 4, group, "m", 1
	add("heartbeat", hb)
	for _, v := range []int16{0, 5} {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = v
		req.Group, req.MemberID = group, "m"
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}, {InstanceID: kmsg.StringPtr("instance")}}
		add("leavegroup", req)
	}
	for _, v := range []int16{2, 8, 9} {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = v
		req.Group, req.Generation = group, -1
		req.RetentionTimeMillis = -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = fuzzTopic
		for p := range int32(2) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata = p, 1, kmsg.StringPtr("m")
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		add("offsetcommit", req)
	}
	for _, v := range []int16{1, 7, 8} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		req.Group = group
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: fuzzTopic, Partitions: []int32{0, 1}}}
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group}, {Group: "other", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: fuzzTopic, Partitions: []int32{0}}}}}
		add("offsetfetch", req)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups = 5, []string{group, "other"}
	add("describegroups", dg)
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version, lg.StatesFilter, lg.TypesFilter = 5, []string{"Empty", "Stable"}, []string{"classic"}
	add("listgroups", lg)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version, del.Groups = 2, []string{group}
	add("deletegroups", del)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = group
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: fuzzTopic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	add("offsetdelete", od)
}

// fuzzCorpusFile is the "go test fuzz v1" encoding of one []byte input.
func fuzzCorpusFile(frame []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(frame)) + ")\n")
}

// TestFuzzRequestCorpus: the committed corpus is exactly the seeds, and
// every seed is a request the broker decodes and answers.
func TestFuzzRequestCorpus(t *testing.T) {
	seeds := fuzzRequestSeeds()
	if *updateFuzzCorpus {
		if err := os.MkdirAll(fuzzCorpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, frame := range seeds {
			if err := os.WriteFile(filepath.Join(fuzzCorpusDir, name), fuzzCorpusFile(frame), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(fuzzCorpusDir)
	if err != nil {
		t.Fatalf("seed corpus: %v (regenerate with go test -run TestFuzzRequestCorpus -update-fuzz-corpus)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		want, ok := seeds[e.Name()]
		if !ok {
			continue // a crasher the fuzzer found and someone committed: keep it
		}
		got, err := os.ReadFile(filepath.Join(fuzzCorpusDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fuzzCorpusFile(want)) {
			t.Errorf("%s differs from its seed (regenerate with -update-fuzz-corpus)", e.Name())
		}
	}
	for name := range seeds {
		if !slices.Contains(names, name) {
			t.Errorf("seed %s missing from %s (regenerate with -update-fuzz-corpus)", name, fuzzCorpusDir)
		}
	}

	// Each seed is well-formed and answered (acks=0 produce excepted).
	b := startBroker(t, fuzzGroups, func(c *Config) { c.AutoCreateTopics = false })
	ensureFuzzTopic(t, b)
	for name, frame := range seeds {
		if fixed, _ := servedHeader(frame); !bytes.Equal(fixed, frame) {
			t.Errorf("seed %s: key or version outside the served ranges", name)
		}
		r := kbin.Reader{Src: frame}
		key, version, corr := r.Int16(), r.Int16(), r.Int32()
		c := dialProbe(t, b.addr)
		c.send(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
		c.send(frame)
		if name == "produce-v12" { // acks=0: no response
			c.apiVersions()
			continue
		}
		body := c.readFrame(corr)
		resp := kmsg.ResponseForKey(key)
		resp.SetVersion(version)
		if resp.IsFlexible() && key != apiVersionsKey {
			r := kbin.Reader{Src: body}
			kmsg.SkipTags(&r)
			body = r.Src
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Errorf("seed %s: response does not decode: %v", name, err)
		}
	}
}
