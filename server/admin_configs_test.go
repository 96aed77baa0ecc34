package server

// DescribeConfigs and IncrementalAlterConfigs through kadm: sources and
// synonyms of topic and broker configs, every kind of alteration and its
// refusals, and overrides surviving a restart.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
)

// startBrokerWithTopicDefaults is startBroker with broker-level topic
// defaults, as log.* settings in server.properties give.
func startBrokerWithTopicDefaults(t *testing.T, defaults tlog.Config, opts ...brokerOpt) *testBroker {
	t.Helper()
	return startBrokerWith(t, t.TempDir(), &defaults, opts...)
}

// describedTopic describes one topic's configs and indexes them by name.
func describedTopic(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t), topic)
	if err != nil {
		t.Fatalf("describe %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatalf("describe %s: %v", topic, err)
	}
	if rc.Err != nil {
		t.Fatalf("describe %s: %v (%s)", topic, rc.Err, rc.ErrMessage)
	}
	out := make(map[string]kadm.Config, len(rc.Configs))
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

// synonymsString renders a config's synonyms as "SOURCE name=value, ...".
func synonymsString(c kadm.Config) string {
	var parts []string
	for _, s := range c.Synonyms {
		parts = append(parts, fmt.Sprintf("%v %s=%s", s.Source, s.Key, unptr(s.Value)))
	}
	return strings.Join(parts, ", ")
}

func unptr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// checkConfig fails unless c has the value and source, and the synonyms
// when syn is not empty.
func checkConfig(t *testing.T, c kadm.Config, value string, src kmsg.ConfigSource, syn string) {
	t.Helper()
	if c.MaybeValue() != value || c.Source != src {
		t.Fatalf("%s = %q (%v), want %q (%v)", c.Key, c.MaybeValue(), c.Source, value, src)
	}
	if syn != "" && synonymsString(c) != syn {
		t.Fatalf("%s synonyms: %s\nwant: %s", c.Key, synonymsString(c), syn)
	}
}

func TestAdminTopicConfigsSurviveRestart(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	adm := b.admin()
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "cfg"); err != nil {
		t.Fatal(err)
	}
	kafka := tlog.DefaultConfig().Map()
	cs := describedTopic(t, adm, "cfg")
	if len(cs) != len(tlog.ConfigNames()) {
		t.Fatalf("%d configs described, want %d", len(cs), len(tlog.ConfigNames()))
	}
	for _, name := range tlog.ConfigNames() {
		c, ok := cs[name]
		if !ok {
			t.Fatalf("config %s not described", name)
		}
		checkConfig(t, c, kafka[name], kmsg.ConfigSourceDefaultConfig, "")
	}
	checkConfig(t, cs["retention.ms"], "604800000", kmsg.ConfigSourceDefaultConfig, "DEFAULT_CONFIG log.retention.ms=604800000")

	set := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("3600000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2000000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
	}
	alter := func(configs []kadm.AlterConfig, validate bool, topic string) kadm.AlterConfigsResponse {
		t.Helper()
		f := adm.AlterTopicConfigs
		if validate {
			f = adm.ValidateAlterTopicConfigs
		}
		rs, err := f(ctx, configs, topic)
		if err != nil {
			t.Fatal(err)
		}
		r, err := rs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := alter(set, false, "cfg"); r.Err != nil {
		t.Fatalf("alter: %v (%s)", r.Err, r.ErrMessage)
	}
	check := func(b *testBroker, retention, maxBytes string, src kmsg.ConfigSource) {
		t.Helper()
		cs := describedTopic(t, kadm.NewClient(b.client()), "cfg")
		checkConfig(t, cs["retention.ms"], retention, src, "")
		checkConfig(t, cs["max.message.bytes"], maxBytes, src, "")
		topic, _ := b.mgr.Topic("cfg")
		for i, l := range topic.Partitions {
			if got := strconv.FormatInt(l.Config().RetentionMs, 10); got != retention {
				t.Fatalf("partition %d runs with retention.ms=%s, want %s", i, got, retention)
			}
		}
	}
	check(b, "3600000", "2000000", kmsg.ConfigSourceDynamicTopicConfig)
	cs = describedTopic(t, adm, "cfg")
	checkConfig(t, cs["retention.ms"], "3600000", kmsg.ConfigSourceDynamicTopicConfig,
		"DYNAMIC_TOPIC_CONFIG retention.ms=3600000, DEFAULT_CONFIG log.retention.ms=604800000")
	checkConfig(t, cs["cleanup.policy"], "delete", kmsg.ConfigSourceDynamicTopicConfig, "")

	// Validate-only and refused alterations change nothing.
	if r := alter([]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, true, "cfg"); r.Err != nil {
		t.Fatalf("validate-only alter: %v", r.Err)
	}
	for _, tc := range []struct {
		name    string
		configs []kadm.AlterConfig
		want    *kerr.Error
		msg     string
	}{
		{"bad value", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("soon")}}, kerr.InvalidConfig, "retention.ms"},
		{"out of range", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}, {Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("2")}}, kerr.InvalidConfig, "segment.bytes"},
		{"unknown", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig, "no.such"},
		{"append to a number", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig, "LIST"},
		{"subtract from a number", []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig, "LIST"},
		{"append an unknown policy", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("shred")}}, kerr.InvalidConfig, "cleanup.policy"},
		{"subtract everything", []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig, "cleanup.policy"},
		{"null value", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms"}}, kerr.InvalidRequest, "retention.ms"},
		{"twice", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}, {Op: kadm.DeleteConfig, Name: "retention.ms"}}, kerr.InvalidRequest, "retention.ms"},
	} {
		for _, validate := range []bool{true, false} {
			r := alter(tc.configs, validate, "cfg")
			wantKerr(t, fmt.Sprintf("%s (validate-only %v)", tc.name, validate), r.Err, tc.want)
			if !strings.Contains(r.ErrMessage, tc.msg) {
				t.Errorf("%s: message %q, want one containing %q", tc.name, r.ErrMessage, tc.msg)
			}
		}
	}
	if r := alter(set[:1], false, "nope"); r.Err != kerr.UnknownTopicOrPartition {
		t.Fatalf("alter unknown topic: %v", r.Err)
	}
	check(b, "3600000", "2000000", kmsg.ConfigSourceDynamicTopicConfig)

	// A restart keeps the overrides.
	b.stop()
	b = startBrokerIn(t, b.dir, noAutoCreate)
	adm = b.admin()
	check(b, "3600000", "2000000", kmsg.ConfigSourceDynamicTopicConfig)

	// DELETE goes back to the defaults, and that survives a restart too.
	del := []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}, {Op: kadm.DeleteConfig, Name: "max.message.bytes"}, {Op: kadm.DeleteConfig, Name: "cleanup.policy"}}
	if r := alter(del, false, "cfg"); r.Err != nil {
		t.Fatalf("delete overrides: %v (%s)", r.Err, r.ErrMessage)
	}
	check(b, kafka["retention.ms"], kafka["max.message.bytes"], kmsg.ConfigSourceDefaultConfig)
	b.stop()
	b = startBrokerIn(t, b.dir, noAutoCreate)
	check(b, kafka["retention.ms"], kafka["max.message.bytes"], kmsg.ConfigSourceDefaultConfig)
	if topic, _ := b.mgr.Topic("cfg"); len(topic.Overrides) != 0 {
		t.Fatalf("overrides left after DELETE: %v", topic.Overrides)
	}
}

func TestAdminBrokerConfigs(t *testing.T) {
	defaults := tlog.DefaultConfig()
	defaults.RetentionMs = 3600000
	b := startBrokerWithTopicDefaults(t, defaults, noAutoCreate, func(c *Config) { c.NumPartitions = 4 })
	adm := b.admin()
	ctx := testContext(t)

	for _, brokers := range [][]int32{{0}, nil} {
		rcs, err := adm.DescribeBrokerConfigs(ctx, brokers...)
		if err != nil {
			t.Fatal(err)
		}
		if len(rcs) != 1 || rcs[0].Err != nil {
			t.Fatalf("describe broker %v: %+v", brokers, rcs)
		}
		cs := map[string]kadm.Config{}
		for _, c := range rcs[0].Configs {
			cs[c.Key] = c
		}
		checkConfig(t, cs["num.partitions"], "4", kmsg.ConfigSourceStaticBrokerConfig, "STATIC_BROKER_CONFIG num.partitions=4, DEFAULT_CONFIG num.partitions=1")
		checkConfig(t, cs["log.retention.ms"], "3600000", kmsg.ConfigSourceStaticBrokerConfig, "")
		checkConfig(t, cs["log.segment.bytes"], fmt.Sprint(tlog.DefaultSegmentBytes), kmsg.ConfigSourceDefaultConfig, "DEFAULT_CONFIG log.segment.bytes=1073741824")
		checkConfig(t, cs["auto.create.topics.enable"], "false", kmsg.ConfigSourceStaticBrokerConfig, "")
		checkConfig(t, cs["socket.request.max.bytes"], strconv.Itoa(DefaultSocketRequestMaxBytes), kmsg.ConfigSourceDefaultConfig, "")
		checkConfig(t, cs["connections.max.idle.ms"], "600000", kmsg.ConfigSourceDefaultConfig, "")
		checkConfig(t, cs["fetch.max.bytes"], strconv.Itoa(DefaultFetchMaxBytes), kmsg.ConfigSourceDefaultConfig, "")
		for broker, topic := range BrokerTopicDefaults {
			if c, ok := cs[broker]; !ok || c.MaybeValue() != defaults.Map()[topic] {
				t.Fatalf("broker config %s = %+v, want %s's default %q", broker, c, topic, defaults.Map()[topic])
			}
		}
	}

	// A topic without override takes the broker's setting.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	cs := describedTopic(t, adm, "t")
	checkConfig(t, cs["retention.ms"], "3600000", kmsg.ConfigSourceStaticBrokerConfig,
		"STATIC_BROKER_CONFIG log.retention.ms=3600000, DEFAULT_CONFIG log.retention.ms=604800000")
	checkConfig(t, cs["segment.index.bytes"], tlog.DefaultConfig().Map()["segment.index.bytes"], kmsg.ConfigSourceDefaultConfig,
		"DEFAULT_CONFIG log.index.size.max.bytes="+tlog.DefaultConfig().Map()["segment.index.bytes"])

	// Broker settings are static: alters are refused, even validate-only.
	for _, validate := range []bool{false, true} {
		f := adm.AlterBrokerConfigs
		if validate {
			f = adm.ValidateAlterBrokerConfigs
		}
		rs, err := f(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: kadm.StringPtr("2")}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].Err != kerr.InvalidRequest || !strings.Contains(rs[0].ErrMessage, "static") {
			t.Fatalf("alter broker config (validate-only %v): %+v", validate, rs)
		}
	}

	// Resources kadm cannot address, raw.
	raw := b.raw()
	desc := kmsg.NewPtrDescribeConfigsRequest()
	desc.Version = 4
	desc.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "7"},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "zero"},
		{ResourceType: kmsg.ConfigResourceTypeBrokerLogger, ResourceName: "0"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "nope"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "bad/name"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", ConfigNames: []string{"retention.ms", "no.such"}},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", ConfigNames: []string{}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "0", ConfigNames: []string{"num.partitions"}},
	}
	dr := raw.do(desc).(*kmsg.DescribeConfigsResponse)
	wantCodes := []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code,
		kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code, 0, 0, 0}
	wantConfigs := []int{0, 0, 0, 0, 0, 1, 0, 1}
	for i, r := range dr.Resources {
		if r.ErrorCode != wantCodes[i] || len(r.Configs) != wantConfigs[i] {
			t.Errorf("resource %d (%v %q): code %d, %d configs; want %d, %d", i, r.ResourceType, r.ResourceName, r.ErrorCode, len(r.Configs), wantCodes[i], wantConfigs[i])
		}
		if r.ErrorCode != 0 && r.ErrorMessage == nil {
			t.Errorf("resource %d: no error message", i)
		}
	}
	if c := dr.Resources[7].Configs[0]; !c.ReadOnly || c.ConfigType != kmsg.ConfigTypeInt {
		t.Errorf("num.partitions: read-only %v type %v; want read-only INT", c.ReadOnly, c.ConfigType)
	}

	alt := kmsg.NewPtrIncrementalAlterConfigsRequest()
	alt.Version = 1
	setOne := []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("5")}}
	alt.Resources = []kmsg.IncrementalAlterConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "7", Configs: setOne},
		{ResourceType: kmsg.ConfigResourceTypeBrokerLogger, ResourceName: "0", Configs: setOne},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: 9, Value: kmsg.StringPtr("5")}}},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "dup", Configs: setOne},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "dup", Configs: setOne},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "0"},
	}
	ar := raw.do(alt).(*kmsg.IncrementalAlterConfigsResponse)
	// The repeated "dup" is answered once, as Kafka does.
	wantCodes = []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, 0}
	if len(ar.Resources) != len(wantCodes) {
		t.Fatalf("%d resources answered, want %d", len(ar.Resources), len(wantCodes))
	}
	for i, r := range ar.Resources {
		if r.ErrorCode != wantCodes[i] || (r.ErrorCode != 0) != (r.ErrorMessage != nil) {
			t.Errorf("alter resource %d (%v %q): code %d message %v; want %d", i, r.ResourceType, r.ResourceName, r.ErrorCode, unptr(r.ErrorMessage), wantCodes[i])
		}
	}
	if topic, _ := b.mgr.Topic("t"); len(topic.Overrides) != 0 {
		t.Fatalf("refused alters left overrides %v", topic.Overrides)
	}
}

func TestAdminEditList(t *testing.T) {
	for _, tc := range []struct {
		cur, items string
		append     bool
		want       string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete", "delete", true, "delete"},
		{"", "a, b,a", true, "a,b"},
		{"delete,compact", "compact", false, "delete"},
		{"delete", "compact", false, "delete"},
		{"a,b,c", "a,c", false, "b"},
	} {
		if got := editList(tc.cur, tc.items, tc.append); got != tc.want {
			t.Errorf("editList(%q, %q, append=%v) = %q, want %q", tc.cur, tc.items, tc.append, got, tc.want)
		}
	}
}

// TestAdminDescribeConfigsBounded: a small request repeating one resource
// cannot make the broker build an unbounded response; past the budget the
// resources are refused, the first ones still answered in full.
func TestAdminDescribeConfigsBounded(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	if _, err := b.mgr.CreateTopic("t", 1, map[string]string{"retention.ms": "5"}); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeSynonyms, req.IncludeDocumentation = 4, true, true
	req.Resources = make([]kmsg.DescribeConfigsRequestResource, n)
	for i := range req.Resources {
		req.Resources[i] = kmsg.DescribeConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}
	}
	reqBytes := len(req.AppendTo(nil))
	resp, err := handleDescribeConfigs(&conn{s: b.srv}, &reqHeader{key: 32, version: 4}, req)
	if err != nil {
		t.Fatal(err)
	}
	enc := resp.AppendTo(nil)
	rs := resp.(*kmsg.DescribeConfigsResponse).Resources
	if len(rs) != n || rs[0].ErrorCode != 0 || len(rs[0].Configs) != len(tlog.ConfigNames()) {
		t.Fatalf("%d resources, first: code %d with %d configs", len(rs), rs[0].ErrorCode, len(rs[0].Configs))
	}
	refused := 0
	for i, r := range rs {
		if r.ErrorCode == 0 {
			continue
		}
		if r.ErrorCode != kerr.InvalidRequest.Code || len(r.Configs) != 0 || (refused == 0) != (r.ErrorMessage != nil) {
			t.Fatalf("resource %d past the budget: %+v", i, r)
		}
		refused++
	}
	if refused == 0 || rs[n-1].ErrorCode == 0 {
		t.Fatal("no resource refused")
	}
	// Each refused resource costs about what it took in the request.
	if limit := maxDescribedConfigBytes + 2*reqBytes; len(enc) > limit {
		t.Fatalf("a %d-byte request got a %d-byte response, over %d", reqBytes, len(enc), limit)
	}
	t.Logf("a %d-byte request got a %d-byte response", reqBytes, len(enc))
}
