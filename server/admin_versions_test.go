package server

// Every advertised version of each admin API, over a raw connection that
// sends exactly the version asked, checking the fields each version
// carries; then OffsetForLeaderEpoch, DescribeCluster and DescribeLogDirs,
// and a fuzz target feeding arbitrary bodies to every admin handler.

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// adminAPIs are the keys and version ranges this file's APIs must
// advertise.
var adminAPIs = []struct{ key, min, max int16 }{
	{19, 0, 7}, {20, 0, 6}, {21, 0, 2}, {23, 0, 4}, {32, 0, 4}, {33, 0, 2}, {35, 0, 5}, {37, 0, 3}, {44, 0, 1}, {60, 0, 2},
}

func TestAdminAPIsAdvertised(t *testing.T) {
	b := startBroker(t)
	resp := b.raw().do(&kmsg.ApiVersionsRequest{Version: 3}).(*kmsg.ApiVersionsResponse)
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for _, a := range adminAPIs {
		if got[a.key] != [2]int16{a.min, a.max} {
			t.Errorf("%s (%d): advertised %v, want %d-%d", kmsg.NameForKey(a.key), a.key, got[a.key], a.min, a.max)
		}
	}
}

func TestAdminCreateTopicsEveryVersion(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	raw := b.raw()
	if _, err := b.mgr.CreateTopic("existing", 1, nil); err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 7; v++ {
		name := "v" + strconv.Itoa(int(v))
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = v
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 2, 1
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}
		exists := kmsg.NewCreateTopicsRequestTopic()
		exists.Topic, exists.NumPartitions, exists.ReplicationFactor = "existing", 1, 1
		req.Topics = []kmsg.CreateTopicsRequestTopic{rt, exists}
		resp := raw.do(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != len(req.Topics) {
			t.Fatalf("v%d: %d answers for %d topics", v, len(resp.Topics), len(req.Topics))
		}
		ok, dup := resp.Topics[0], resp.Topics[1]
		topic, found := b.mgr.Topic(name)
		if ok.ErrorCode != 0 || !found || len(topic.Partitions) != 2 || topic.Overrides["retention.ms"] != "1000" {
			t.Fatalf("v%d: create %s: code %d, stored %+v", v, name, ok.ErrorCode, topic)
		}
		// The error message is on the wire from v1.
		if dup.ErrorCode != kerr.TopicAlreadyExists.Code || (v >= 1) != (dup.ErrorMessage != nil) {
			t.Fatalf("v%d: existing topic: code %d message %v", v, dup.ErrorCode, unptr(dup.ErrorMessage))
		}
		if v >= 5 {
			if ok.NumPartitions != 2 || ok.ReplicationFactor != 1 || len(ok.Configs) != len(tlog.ConfigNames()) {
				t.Fatalf("v%d: partitions %d rf %d, %d configs", v, ok.NumPartitions, ok.ReplicationFactor, len(ok.Configs))
			}
			for _, c := range ok.Configs {
				if c.Name == "retention.ms" && (unptr(c.Value) != "1000" || c.Source != int8(kmsg.ConfigSourceDynamicTopicConfig)) {
					t.Fatalf("v%d: retention.ms = %s source %d", v, unptr(c.Value), c.Source)
				}
			}
		} else if ok.NumPartitions != -1 || ok.Configs != nil {
			t.Fatalf("v%d: v5 fields decoded: %+v", v, ok)
		}
		if v >= 7 && (ok.TopicID != topic.ID || ok.TopicID == [16]byte{}) {
			t.Fatalf("v%d: topic id %x, want %x", v, ok.TopicID, topic.ID)
		}
	}
	// Validate-only (v1+) creates nothing.
	for v := int16(1); v <= 7; v++ {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.ValidateOnly = v, true
		req.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "dry", NumPartitions: -1, ReplicationFactor: -1}}
		st := raw.do(req).(*kmsg.CreateTopicsResponse).Topics[0]
		if _, found := b.mgr.Topic("dry"); st.ErrorCode != 0 || found {
			t.Fatalf("v%d validate-only: code %d, created %v", v, st.ErrorCode, found)
		}
		if v >= 5 && st.NumPartitions != DefaultNumPartitions {
			t.Fatalf("v%d validate-only: %d partitions, want num.partitions", v, st.NumPartitions)
		}
	}
}

func TestAdminDeleteTopicsEveryVersion(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	raw := b.raw()
	for v := int16(0); v <= 6; v++ {
		name := "del-v" + strconv.Itoa(int(v))
		t0, err := b.mgr.CreateTopic(name, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = v
		if v < 6 {
			req.TopicNames = []string{name, "missing"}
		} else {
			req.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: t0.ID}, {Topic: kmsg.StringPtr("missing")}}
		}
		resp := raw.do(req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 2 {
			t.Fatalf("v%d: %d answers", v, len(resp.Topics))
		}
		ok, missing := resp.Topics[0], resp.Topics[1]
		if _, found := b.mgr.Topic(name); ok.ErrorCode != 0 || found || unptr(ok.Topic) != name {
			t.Fatalf("v%d: delete %s: code %d topic %s, still there %v", v, name, ok.ErrorCode, unptr(ok.Topic), found)
		}
		if missing.ErrorCode != kerr.UnknownTopicOrPartition.Code || (v >= 5) != (missing.ErrorMessage != nil) {
			t.Fatalf("v%d: missing topic: code %d message %v", v, missing.ErrorCode, missing.ErrorMessage)
		}
		if v >= 6 && ok.TopicID != t0.ID {
			t.Fatalf("v%d: topic id %x, want %x", v, ok.TopicID, t0.ID)
		}
	}
}

func TestAdminCreatePartitionsEveryVersion(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	raw := b.raw()
	if _, err := b.mgr.CreateTopic("cp", 1, nil); err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 3; v++ {
		want := int32(v) + 2
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Version = v
		req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "cp", Count: want, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{0}}}}}
		if st := raw.do(req).(*kmsg.CreatePartitionsResponse).Topics[0]; st.ErrorCode != 0 {
			t.Fatalf("v%d: code %d %s", v, st.ErrorCode, unptr(st.ErrorMessage))
		}
		req.ValidateOnly = true
		req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "cp", Count: want + 5}, {Topic: "missing", Count: 3}}
		resp := raw.do(req).(*kmsg.CreatePartitionsResponse)
		if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Topics[1].ErrorMessage == nil {
			t.Fatalf("v%d validate-only: %+v", v, resp.Topics)
		}
		if topic, _ := b.mgr.Topic("cp"); int32(len(topic.Partitions)) != want {
			t.Fatalf("v%d: %d partitions, want %d", v, len(topic.Partitions), want)
		}
	}
}

func TestAdminDescribeConfigsEveryVersion(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	raw := b.raw()
	if _, err := b.mgr.CreateTopic("dc", 1, map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Version = v
		req.IncludeSynonyms, req.IncludeDocumentation = true, true
		req.Resources = []kmsg.DescribeConfigsRequestResource{
			{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "dc"},
			{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "0", ConfigNames: []string{"num.partitions"}},
		}
		resp := raw.do(req).(*kmsg.DescribeConfigsResponse)
		topic, broker := resp.Resources[0], resp.Resources[1]
		if topic.ErrorCode != 0 || broker.ErrorCode != 0 || len(topic.Configs) != len(tlog.ConfigNames()) || len(broker.Configs) != 1 {
			t.Fatalf("v%d: codes %d %d, %d and %d configs", v, topic.ErrorCode, broker.ErrorCode, len(topic.Configs), len(broker.Configs))
		}
		for _, c := range topic.Configs {
			override := c.Name == "retention.ms"
			if c.ReadOnly || c.IsSensitive {
				t.Fatalf("v%d: %s read-only %v sensitive %v", v, c.Name, c.ReadOnly, c.IsSensitive)
			}
			if v == 0 { // IsDefault is v0's field; Source replaces it
				if c.IsDefault == override {
					t.Fatalf("v%d: %s is-default %v", v, c.Name, c.IsDefault)
				}
				if c.Source != -1 || c.ConfigSynonyms != nil {
					t.Fatalf("v%d: %s has v1 fields", v, c.Name)
				}
				continue
			}
			wantSrc, wantSyn := kmsg.ConfigSourceDefaultConfig, 1
			if override {
				wantSrc, wantSyn = kmsg.ConfigSourceDynamicTopicConfig, 2
			}
			if c.Source != wantSrc || len(c.ConfigSynonyms) != wantSyn {
				t.Fatalf("v%d: %s source %v with %d synonyms, want %v with %d", v, c.Name, c.Source, len(c.ConfigSynonyms), wantSrc, wantSyn)
			}
			if v >= 3 {
				if c.ConfigType == kmsg.ConfigTypeUnknown || c.Documentation == nil || *c.Documentation == "" {
					t.Fatalf("v%d: %s type %v documentation %v", v, c.Name, c.ConfigType, c.Documentation)
				}
			} else if c.ConfigType != 0 || c.Documentation != nil {
				t.Fatalf("v%d: %s has v3 fields", v, c.Name)
			}
		}
		if c := broker.Configs[0]; c.Name != "num.partitions" || unptr(c.Value) != "1" || !c.ReadOnly || (v == 0) != c.IsDefault {
			t.Fatalf("v%d: broker config %+v", v, c)
		}
	}
}

func TestAdminIncrementalAlterConfigsEveryVersion(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	raw := b.raw()
	if _, err := b.mgr.CreateTopic("ia", 1, nil); err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 1; v++ {
		value := strconv.Itoa(1000 + int(v))
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Version = v
		req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{
			ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "ia",
			Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: &value}},
		}}
		r := raw.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
		topic, _ := b.mgr.Topic("ia")
		if r.ErrorCode != 0 || r.ResourceName != "ia" || r.ResourceType != kmsg.ConfigResourceTypeTopic || topic.Overrides["retention.ms"] != value {
			t.Fatalf("v%d: %+v, overrides %v", v, r, topic.Overrides)
		}
		if got := topic.Partitions[0].Config().RetentionMs; strconv.FormatInt(got, 10) != value {
			t.Fatalf("v%d: log runs with retention.ms=%d", v, got)
		}
	}
}

func TestAdminDeleteRecordsEveryVersion(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("drv", 1, nil); err != nil {
		t.Fatal(err)
	}
	produceN(t, b.client(), "drv", 10)
	raw := b.raw()
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = v
		req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "drv", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: int64(v) + 1}, {Partition: 1, Offset: 0}}}}
		ps := raw.do(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions
		if ps[0].ErrorCode != 0 || ps[0].LowWatermark != int64(v)+1 {
			t.Fatalf("v%d: %+v", v, ps[0])
		}
		if ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || ps[1].LowWatermark != -1 {
			t.Fatalf("v%d: missing partition %+v", v, ps[1])
		}
	}
}

func TestAdminOffsetForLeaderEpoch(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("ofle", 1, nil); err != nil {
		t.Fatal(err)
	}
	produceN(t, b.client(), "ofle", 10)
	l, _ := b.mgr.Partition("ofle", 0)
	if _, err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	raw := b.raw()
	type want struct {
		code   int16
		epoch  int32
		offset int64
	}
	for v := int16(0); v <= 4; v++ {
		for _, replica := range []int32{-1, -2, 0, 5} {
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.Version, req.ReplicaID = v, replica
			parts := []struct {
				partition, current, epoch int32
				want                      want
			}{
				{0, -1, 0, want{0, 0, 10}},
				{0, 0, 0, want{0, 0, 10}},
				{0, -1, 1, want{0, -1, -1}},
				{0, -1, -1, want{0, -1, -1}},
				{0, -1, -7, want{0, -7, 3}},
				{3, -1, 0, want{kerr.UnknownTopicOrPartition.Code, -1, -1}},
				{0, 2, 0, want{kerr.UnknownLeaderEpoch.Code, -1, -1}},
			}
			if v < 2 {
				parts = parts[:len(parts)-1] // no CurrentLeaderEpoch before v2
			}
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = "ofle"
			for _, p := range parts {
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.partition, p.current, p.epoch
				rt.Partitions = append(rt.Partitions, rp)
			}
			missing := kmsg.NewOffsetForLeaderEpochRequestTopic()
			missing.Topic = "missing"
			missing.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1}}
			req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt, missing}
			resp := raw.do(req).(*kmsg.OffsetForLeaderEpochResponse)
			for i, p := range parts {
				sp := resp.Topics[0].Partitions[i]
				w := p.want
				if v < 1 {
					w.epoch = -1 // not on the wire before v1
				}
				if got := (want{sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset}); got != w || sp.Partition != p.partition {
					t.Errorf("v%d replica %d: partition %d epoch %d current %d: got %+v, want %+v", v, replica, p.partition, p.epoch, p.current, got, w)
				}
			}
			if sp := resp.Topics[1].Partitions[0]; sp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("v%d: missing topic code %d", v, sp.ErrorCode)
			}
		}
	}

	// kadm (latest version) agrees.
	var r kadm.OffsetForLeaderEpochRequest
	r.Add("ofle", 0, 0)
	got, err := b.admin().OffsetForLeaderEpoch(testContext(t), r)
	if err != nil {
		t.Fatal(err)
	}
	if e := got["ofle"][0]; e.Err != nil || e.EndOffset != 10 || e.LeaderEpoch != 0 {
		t.Fatalf("kadm: %+v", e)
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.ClusterID = "cluster-x" })
	raw := b.raw()
	_, portStr, _ := net.SplitHostPort(b.addr)
	port, _ := strconv.Atoi(portStr)
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = v
		req.IncludeFencedBrokers = true
		resp := raw.do(req).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != 0 || resp.ClusterID != "cluster-x" || resp.ControllerID != 0 || len(resp.Brokers) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if br := resp.Brokers[0]; br.NodeID != 0 || br.Host != "127.0.0.1" || br.Port != int32(port) || br.IsFenced || br.Rack != nil {
			t.Fatalf("v%d: broker %+v, want 0 at %s", v, br, b.addr)
		}
		if v >= 1 {
			if resp.EndpointType != 1 {
				t.Fatalf("v%d: endpoint type %d", v, resp.EndpointType)
			}
			req.EndpointType = 2
			resp := raw.do(req).(*kmsg.DescribeClusterResponse)
			if resp.ErrorCode != kerr.UnsupportedEndpointType.Code || resp.ErrorMessage == nil || len(resp.Brokers) != 0 {
				t.Fatalf("v%d controllers: %+v", v, resp)
			}
		}
	}
}

func TestAdminDescribeLogDirs(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("ld", 1, nil); err != nil {
		t.Fatal(err)
	}
	produceN(t, b.client(), "ld", 50)
	if _, err := b.mgr.CreateTopic("empty", 2, nil); err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	raw := b.raw()
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Version = v
		resp := raw.do(req).(*kmsg.DescribeLogDirsResponse)
		if len(resp.Dirs) != 1 || resp.ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		d := resp.Dirs[0]
		if d.Dir != dir || d.ErrorCode != 0 || d.IsCordoned || len(d.Topics) != 2 {
			t.Fatalf("v%d: dir %q code %d, %d topics; want %q with 2", v, d.Dir, d.ErrorCode, len(d.Topics), dir)
		}
		sizes := map[string][]int64{}
		for _, dt := range d.Topics {
			for _, p := range dt.Partitions {
				sizes[dt.Topic] = append(sizes[dt.Topic], p.Size)
				if p.OffsetLag != 0 || p.IsFuture {
					t.Fatalf("v%d: %s/%d lag %d future %v", v, dt.Topic, p.Partition, p.OffsetLag, p.IsFuture)
				}
			}
		}
		if len(sizes["ld"]) != 1 || sizes["ld"][0] <= 0 || len(sizes["empty"]) != 2 || sizes["empty"][0] != 0 {
			t.Fatalf("v%d: sizes %v", v, sizes)
		}
		if v >= 4 {
			if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
				t.Fatalf("v%d: total %d usable %d", v, d.TotalBytes, d.UsableBytes)
			}
		} else if d.TotalBytes != -1 || d.UsableBytes != -1 {
			t.Fatalf("v%d: v4 fields decoded: %d %d", v, d.TotalBytes, d.UsableBytes)
		}

		// A filter: unknown topics and partitions are left out, repeats merged.
		req.Topics = []kmsg.DescribeLogDirsRequestTopic{{Topic: "ld", Partitions: []int32{0, 9}}, {Topic: "nope", Partitions: []int32{0}}, {Topic: "ld", Partitions: []int32{0}}, {Topic: "empty", Partitions: []int32{5}}}
		d = raw.do(req).(*kmsg.DescribeLogDirsResponse).Dirs[0]
		if len(d.Topics) != 1 || d.Topics[0].Topic != "ld" || len(d.Topics[0].Partitions) != 1 || d.Topics[0].Partitions[0].Size != sizes["ld"][0] {
			t.Fatalf("v%d filtered: %+v", v, d.Topics)
		}
		req.Topics = []kmsg.DescribeLogDirsRequestTopic{}
		if d = raw.do(req).(*kmsg.DescribeLogDirsResponse).Dirs[0]; len(d.Topics) != 0 {
			t.Fatalf("v%d: empty filter described %d topics", v, len(d.Topics))
		}
	}

	all, err := b.admin().DescribeAllLogDirs(testContext(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := all[0].Lookup(dir, "ld", 0)
	if !ok || p.Size <= 0 {
		t.Fatalf("kadm: ld/0 in %s: %+v %v", dir, p, ok)
	}
}

// FuzzAdminRequests feeds arbitrary request bodies, at every version, to
// every admin handler: none may panic, and each answer must encode. Create
// and alter requests are made validate-only so inputs cannot fill the disk.
func FuzzAdminRequests(f *testing.F) {
	b := startBroker(f, noAutoCreate)
	if _, err := b.mgr.CreateTopic("fz", 2, nil); err != nil {
		f.Fatal(err)
	}
	seeds := []kmsg.Request{
		&kmsg.CreateTopicsRequest{Topics: []kmsg.CreateTopicsRequestTopic{{Topic: "a", NumPartitions: 2, ReplicationFactor: 1, Configs: []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}}}}},
		&kmsg.DeleteTopicsRequest{TopicNames: []string{"x"}, Topics: []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("x")}}},
		&kmsg.DeleteRecordsRequest{Topics: []kmsg.DeleteRecordsRequestTopic{{Topic: "fz", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 1, Offset: -1}}}}},
		&kmsg.OffsetForLeaderEpochRequest{Topics: []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "fz", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, LeaderEpoch: 0}}}}},
		&kmsg.DescribeConfigsRequest{Resources: []kmsg.DescribeConfigsRequestResource{{ResourceType: 2, ResourceName: "fz"}, {ResourceType: 4, ResourceName: "0"}}},
		&kmsg.DescribeLogDirsRequest{Topics: []kmsg.DescribeLogDirsRequestTopic{{Topic: "fz", Partitions: []int32{0, 1}}}},
		&kmsg.CreatePartitionsRequest{Topics: []kmsg.CreatePartitionsRequestTopic{{Topic: "fz", Count: 3, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{0}}}}}},
		&kmsg.IncrementalAlterConfigsRequest{Resources: []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: 2, ResourceName: "fz", Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "cleanup.policy", Op: 2, Value: kmsg.StringPtr("delete")}}}}},
		&kmsg.AlterConfigsRequest{Resources: []kmsg.AlterConfigsRequestResource{{ResourceType: 2, ResourceName: "fz", Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}}}},
		&kmsg.DescribeClusterRequest{EndpointType: 1},
	}
	for _, req := range seeds {
		for _, a := range adminAPIs {
			if a.key != req.Key() {
				continue
			}
			for v := a.min; v <= a.max; v++ {
				req.SetVersion(v)
				f.Add(req.Key(), v, req.AppendTo(nil))
			}
		}
	}
	c := &conn{s: b.srv, ln: &listener{name: DefaultListenerName, advHost: "127.0.0.1", advPort: 9092}, principal: auth.Anonymous}
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		api := lookupAPI(key)
		known := false
		for _, a := range adminAPIs {
			known = known || a.key == key
		}
		if !known || api == nil || version < api.min || version > api.max {
			return
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if err := req.ReadFrom(body); err != nil {
			return
		}
		switch r := req.(type) {
		case *kmsg.CreateTopicsRequest:
			r.ValidateOnly = true
		case *kmsg.CreatePartitionsRequest:
			r.ValidateOnly = true
		case *kmsg.IncrementalAlterConfigsRequest:
			r.ValidateOnly = true
		case *kmsg.AlterConfigsRequest:
			r.ValidateOnly = true
		}
		resp, err := api.handle(c, &reqHeader{key: key, version: version}, req)
		if err != nil {
			t.Fatalf("%s v%d: %v", api.name, version, err)
		}
		resp.AppendTo(nil)
	})
}
