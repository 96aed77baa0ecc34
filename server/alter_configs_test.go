package server

// AlterConfigs (the API IncrementalAlterConfigs superseded) at every
// version over a raw connection and through sarama's ClusterAdmin, and
// the replication-only topic configs min.insync.replicas and
// unclean.leader.election.enable.

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
)

func TestAlterConfigsAdvertised(t *testing.T) {
	b := startBroker(t)
	resp := b.raw().do(&kmsg.ApiVersionsRequest{Version: 3}).(*kmsg.ApiVersionsResponse)
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 33 {
			if k.MinVersion != 0 || k.MaxVersion != 2 {
				t.Fatalf("AlterConfigs advertised %d-%d, want 0-2", k.MinVersion, k.MaxVersion)
			}
			return
		}
	}
	t.Fatal("AlterConfigs (33) not advertised")
}

// alterConfigsResource builds an AlterConfigs resource from name=value
// pairs; a value "<nil>" is sent as null.
func alterConfigsResource(typ kmsg.ConfigResourceType, name string, kvs ...string) kmsg.AlterConfigsRequestResource {
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	r.Configs = []kmsg.AlterConfigsRequestResourceConfig{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name = k
		if v != "<nil>" {
			c.Value = kmsg.StringPtr(v)
		}
		r.Configs = append(r.Configs, c)
	}
	return r
}

// checkOverrides fails unless the topic's stored overrides are want, and
// every partition runs with retention.ms and max.message.bytes as they
// follow from them.
func checkOverrides(t *testing.T, b *testBroker, topic string, want map[string]string) {
	t.Helper()
	tp, ok := b.mgr.Topic(topic)
	if !ok {
		t.Fatalf("topic %s missing", topic)
	}
	if !maps.Equal(tp.Overrides, want) {
		t.Fatalf("%s overrides %v, want %v", topic, tp.Overrides, want)
	}
	eff, err := tlog.DefaultConfig().With(want)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range tp.Partitions {
		if c := l.Config(); c.RetentionMs != eff.RetentionMs || c.MaxMessageBytes != eff.MaxMessageBytes {
			t.Fatalf("%s partition %d runs with retention.ms=%d max.message.bytes=%d, want %d, %d",
				topic, i, c.RetentionMs, c.MaxMessageBytes, eff.RetentionMs, eff.MaxMessageBytes)
		}
	}
}

func TestAlterConfigsEveryVersion(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	for v := int16(0); v <= 2; v++ {
		raw := b.raw()
		name := "ac-v" + strconv.Itoa(int(v))
		initial := map[string]string{"retention.ms": "1000", "max.message.bytes": "2000000"}
		if _, err := b.mgr.CreateTopic(name, 2, initial); err != nil {
			t.Fatal(err)
		}
		alter := func(validateOnly bool, rs ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
			t.Helper()
			req := kmsg.NewPtrAlterConfigsRequest()
			req.Version, req.ValidateOnly, req.Resources = v, validateOnly, rs
			return raw.do(req).(*kmsg.AlterConfigsResponse).Resources
		}
		ok := func(what string, r kmsg.AlterConfigsResponseResource) {
			t.Helper()
			if r.ErrorCode != 0 {
				t.Fatalf("v%d %s: code %d %s", v, what, r.ErrorCode, unptr(r.ErrorMessage))
			}
		}
		topic := func(kvs ...string) kmsg.AlterConfigsRequestResource {
			return alterConfigsResource(kmsg.ConfigResourceTypeTopic, name, kvs...)
		}

		// Validate-only checks the whole set and changes nothing.
		ok("validate-only", alter(true, topic("retention.ms=3600000", "segment.ms=60000"))[0])
		checkOverrides(t, b, name, initial)

		// The set replaces every override: max.message.bytes, not
		// listed, goes back to its default.
		want := map[string]string{"retention.ms": "3600000", "segment.ms": "60000"}
		ok("replace", alter(false, topic("retention.ms=3600000", "segment.ms=60000"))[0])
		checkOverrides(t, b, name, want)

		// A null value is as if the config were left out, and a config
		// named twice takes its last value.
		ok("null and twice", alter(false, topic("retention.ms=5000", "retention.ms=7000", "segment.ms=<nil>", "no.such=<nil>"))[0])
		want = map[string]string{"retention.ms": "7000"}
		checkOverrides(t, b, name, want)

		// Refusals, all in one request, change nothing; the bad topic's
		// valid configs are not applied either.
		rs := alter(false,
			topic("retention.ms=1", "segment.bytes=2"),
			alterConfigsResource(kmsg.ConfigResourceTypeTopic, "nope", "retention.ms=1"),
			alterConfigsResource(kmsg.ConfigResourceTypeTopic, "bad/name", "retention.ms=1"),
			alterConfigsResource(kmsg.ConfigResourceTypeBroker, "0", "num.partitions=2"),
			alterConfigsResource(kmsg.ConfigResourceTypeBroker, "7"),
			alterConfigsResource(kmsg.ConfigResourceTypeBrokerLogger, "0", "kafka.server=DEBUG"),
			alterConfigsResource(kmsg.ConfigResourceTypeTopic, "dup", "retention.ms=1"),
			alterConfigsResource(kmsg.ConfigResourceTypeTopic, "dup", "retention.ms=2"),
			alterConfigsResource(kmsg.ConfigResourceTypeBroker, ""), // nothing to change: passes
		)
		wants := []struct {
			code int16
			msg  string
		}{
			{kerr.InvalidConfig.Code, "segment.bytes"},
			{kerr.UnknownTopicOrPartition.Code, "nope"},
			{kerr.InvalidTopicException.Code, "bad/name"},
			{kerr.InvalidRequest.Code, "static"},
			{kerr.InvalidRequest.Code, "7"},
			{kerr.InvalidRequest.Code, "TOPIC"},
			{kerr.InvalidRequest.Code, "once"}, // answered once
			{0, ""},
		}
		if len(rs) != len(wants) {
			t.Fatalf("v%d: %d resources answered, want %d", v, len(rs), len(wants))
		}
		for i, w := range wants {
			r := rs[i]
			if r.ErrorCode != w.code || (w.code != 0) != (r.ErrorMessage != nil) || !strings.Contains(unptr(r.ErrorMessage), w.msg) {
				t.Errorf("v%d resource %d (%v %q): code %d message %q; want %d with %q",
					v, i, r.ResourceType, r.ResourceName, r.ErrorCode, unptr(r.ErrorMessage), w.code, w.msg)
			}
		}
		for _, tc := range []struct {
			kv, msg string
		}{
			{"retention.ms=soon", "retention.ms"},
			{"no.such=1", "no.such"},
			{"cleanup.policy=shred", "cleanup.policy"},
			{"min.insync.replicas=2", "one replica"},
			{"unclean.leader.election.enable=yes", "unclean.leader.election.enable"},
		} {
			for _, validateOnly := range []bool{true, false} {
				r := alter(validateOnly, topic("retention.ms=1", tc.kv))[0]
				if r.ErrorCode != kerr.InvalidConfig.Code || !strings.Contains(unptr(r.ErrorMessage), tc.msg) {
					t.Errorf("v%d %s (validate-only %v): code %d message %q; want INVALID_CONFIG with %q",
						v, tc.kv, validateOnly, r.ErrorCode, unptr(r.ErrorMessage), tc.msg)
				}
			}
		}
		checkOverrides(t, b, name, want)

		// An empty set removes every override.
		ok("empty", alter(false, topic())[0])
		checkOverrides(t, b, name, nil)
	}
}

// TestAlterConfigsSurvivesRestart: a replaced set is what the topic has
// after a restart, as DescribeConfigs reports it.
func TestAlterConfigsSurvivesRestart(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	if _, err := b.mgr.CreateTopic("keep", 1, map[string]string{"max.message.bytes": "2000000", "segment.ms": "60000"}); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Version = 2
	req.Resources = []kmsg.AlterConfigsRequestResource{alterConfigsResource(kmsg.ConfigResourceTypeTopic, "keep",
		"retention.ms=3600000", "unclean.leader.election.enable=true", "min.insync.replicas=1")}
	if r := b.raw().do(req).(*kmsg.AlterConfigsResponse).Resources[0]; r.ErrorCode != 0 {
		t.Fatalf("alter: code %d %s", r.ErrorCode, unptr(r.ErrorMessage))
	}
	want := map[string]string{"retention.ms": "3600000", "unclean.leader.election.enable": "true", "min.insync.replicas": "1"}
	kafka := tlog.DefaultConfig().Map()
	check := func(b *testBroker) {
		t.Helper()
		checkOverrides(t, b, "keep", want)
		cs := describedTopic(t, b.admin(), "keep")
		for _, name := range tlog.ConfigNames() {
			if v, ok := want[name]; ok {
				checkConfig(t, cs[name], v, kmsg.ConfigSourceDynamicTopicConfig, "")
			} else {
				checkConfig(t, cs[name], kafka[name], kmsg.ConfigSourceDefaultConfig, "")
			}
		}
	}
	check(b)
	b.stop()
	b = startBrokerIn(t, b.dir, noAutoCreate)
	check(b)
}

func TestAlterConfigsSarama(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version sarama.KafkaVersion // picks AlterConfigs v0, v1, v2
	}{
		{"1.0.0", sarama.V1_0_0_0},
		{"2.0.0", sarama.V2_0_0_0},
		{"2.8.0", sarama.V2_8_0_0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, noAutoCreate)
			newAdmin := func(b *testBroker) sarama.ClusterAdmin {
				cfg := sarama.NewConfig()
				cfg.Version = tc.version
				adm, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { adm.Close() })
				return adm
			}
			adm := newAdmin(b)
			maxBytes := "2000000"
			err := adm.CreateTopic("s", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"max.message.bytes": &maxBytes}}, false)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			hour, one, yes, two := "3600000", "1", "true", "2"
			set := map[string]*string{"retention.ms": &hour, "min.insync.replicas": &one, "unclean.leader.election.enable": &yes}
			want := map[string]string{"retention.ms": hour, "min.insync.replicas": one, "unclean.leader.election.enable": yes}

			if err := adm.AlterConfig(sarama.TopicResource, "s", set, true); err != nil {
				t.Fatalf("validate-only alter: %v", err)
			}
			checkOverrides(t, b, "s", map[string]string{"max.message.bytes": maxBytes})
			if err := adm.AlterConfig(sarama.TopicResource, "s", set, false); err != nil {
				t.Fatalf("alter: %v", err)
			}
			checkOverrides(t, b, "s", want)

			describe := func(adm sarama.ClusterAdmin) map[string]sarama.ConfigEntry {
				t.Helper()
				//lint:ignore SA1019 sarama users call DescribeConfig; the compatibility test drives what they call
				entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "s"})
				if err != nil {
					t.Fatalf("describe: %v", err)
				}
				out := map[string]sarama.ConfigEntry{}
				for _, e := range entries {
					out[e.Name] = e
				}
				return out
			}
			checkDescribed := func(adm sarama.ClusterAdmin) {
				t.Helper()
				es := describe(adm)
				for k, v := range want {
					if e := es[k]; e.Value != v || e.Default {
						t.Fatalf("%s described as %+v, want overridden %s", k, e, v)
					}
				}
				if e := es["max.message.bytes"]; e.Value != tlog.DefaultConfig().Map()["max.message.bytes"] || !e.Default {
					t.Fatalf("max.message.bytes described as %+v, want the default", e)
				}
			}
			checkDescribed(adm)

			for _, bad := range []struct {
				entries map[string]*string
				want    sarama.KError
				msg     string
			}{
				{map[string]*string{"min.insync.replicas": &two}, sarama.ErrInvalidConfig, "one replica"},
				{map[string]*string{"retention.ms": &yes}, sarama.ErrInvalidConfig, "retention.ms"},
				{map[string]*string{"no.such": &one}, sarama.ErrInvalidConfig, "no.such"},
			} {
				err := adm.AlterConfig(sarama.TopicResource, "s", bad.entries, false)
				var ae *sarama.AlterConfigError
				if !errors.Is(err, bad.want) || !errors.As(err, &ae) || !strings.Contains(ae.ErrMsg, bad.msg) {
					t.Fatalf("alter %v: %v, want %v mentioning %q", bad.entries, err, bad.want, bad.msg)
				}
			}
			if err := adm.AlterConfig(sarama.TopicResource, "nope", set, false); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("alter unknown topic: %v", err)
			}
			err = adm.AlterConfig(sarama.BrokerResource, "0", map[string]*string{"num.partitions": &two}, false)
			if !errors.Is(err, sarama.ErrInvalidRequest) || !strings.Contains(err.Error(), "static") {
				t.Fatalf("alter broker: %v", err)
			}
			checkOverrides(t, b, "s", want)

			// The set survives a restart.
			b.stop()
			b = startBrokerIn(t, b.dir, noAutoCreate)
			checkOverrides(t, b, "s", want)
			checkDescribed(newAdmin(b))
		})
	}
}

// TestReplicationConfigs: min.insync.replicas and
// unclean.leader.election.enable are accepted with Kafka's names, types
// and defaults, and min.insync.replicas only where one replica meets it.
func TestReplicationConfigs(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	adm := b.admin()
	ctx := testContext(t)

	rep := map[string]*string{"min.insync.replicas": kadm.StringPtr("1"), "unclean.leader.election.enable": kadm.StringPtr("true")}
	if r, err := adm.CreateTopic(ctx, 2, 1, rep, "r"); err != nil || r.Err != nil {
		t.Fatalf("create with replication configs: %v %v (%s)", err, r.Err, r.ErrMessage)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "plain"); err != nil {
		t.Fatal(err)
	}
	cs := describedTopic(t, adm, "r")
	checkConfig(t, cs["min.insync.replicas"], "1", kmsg.ConfigSourceDynamicTopicConfig,
		"DYNAMIC_TOPIC_CONFIG min.insync.replicas=1, DEFAULT_CONFIG min.insync.replicas=1")
	checkConfig(t, cs["unclean.leader.election.enable"], "true", kmsg.ConfigSourceDynamicTopicConfig,
		"DYNAMIC_TOPIC_CONFIG unclean.leader.election.enable=true, DEFAULT_CONFIG unclean.leader.election.enable=false")
	cs = describedTopic(t, adm, "plain")
	checkConfig(t, cs["min.insync.replicas"], "1", kmsg.ConfigSourceDefaultConfig, "")
	checkConfig(t, cs["unclean.leader.election.enable"], "false", kmsg.ConfigSourceDefaultConfig, "")
	// acks=all (kgo's default) is met by the one replica.
	produceN(t, b.client(), "r", 5)

	// Types and documentation (DescribeConfigs v3+), topic and broker.
	raw := b.raw()
	desc := kmsg.NewPtrDescribeConfigsRequest()
	desc.Version, desc.IncludeDocumentation = 4, true
	names := []string{"min.insync.replicas", "unclean.leader.election.enable"}
	desc.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "r", ConfigNames: names},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "0", ConfigNames: names},
	}
	wantTypes := map[string]kmsg.ConfigType{"min.insync.replicas": kmsg.ConfigTypeInt, "unclean.leader.election.enable": kmsg.ConfigTypeBoolean}
	for _, r := range raw.do(desc).(*kmsg.DescribeConfigsResponse).Resources {
		if r.ErrorCode != 0 || len(r.Configs) != 2 {
			t.Fatalf("describe %v %s: code %d, %d configs", r.ResourceType, r.ResourceName, r.ErrorCode, len(r.Configs))
		}
		for _, c := range r.Configs {
			if c.ConfigType != wantTypes[c.Name] || !strings.Contains(unptr(c.Documentation), "one replica") {
				t.Errorf("%v %s: type %v doc %q", r.ResourceType, c.Name, c.ConfigType, unptr(c.Documentation))
			}
			if r.ResourceType == kmsg.ConfigResourceTypeBroker && (!c.ReadOnly || unptr(c.Value) != tlog.DefaultConfig().Map()[c.Name]) {
				t.Errorf("broker %s: %s read-only %v", c.Name, unptr(c.Value), c.ReadOnly)
			}
		}
	}

	// More in-sync replicas than the one there is, or a bad value, is
	// refused at creation, validate-only or not.
	for _, tc := range []struct {
		name, value, msg string
	}{
		{"min.insync.replicas", "2", "one replica"},
		{"min.insync.replicas", "0", "min.insync.replicas"},
		{"min.insync.replicas", "one", "min.insync.replicas"},
		{"unclean.leader.election.enable", "yes", "unclean.leader.election.enable"},
	} {
		for _, validate := range []bool{true, false} {
			f := adm.CreateTopics
			if validate {
				f = adm.ValidateCreateTopics
			}
			rs, err := f(ctx, 1, 1, map[string]*string{tc.name: &tc.value}, "refused")
			if err != nil {
				t.Fatal(err)
			}
			r := rs["refused"]
			wantKerr(t, fmt.Sprintf("create with %s=%s (validate-only %v)", tc.name, tc.value, validate), r.Err, kerr.InvalidConfig)
			if !strings.Contains(r.ErrMessage, tc.msg) {
				t.Errorf("create with %s=%s: message %q, want one containing %q", tc.name, tc.value, r.ErrMessage, tc.msg)
			}
		}
	}
	if _, ok := b.mgr.Topic("refused"); ok {
		t.Fatal("a refused topic was created")
	}

	// IncrementalAlterConfigs round trip.
	incr := func(configs ...kadm.AlterConfig) kadm.AlterConfigsResponse {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx, configs, "plain")
		if err != nil {
			t.Fatal(err)
		}
		r, err := rs.On("plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := incr(kadm.AlterConfig{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kadm.StringPtr("1")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "unclean.leader.election.enable", Value: kadm.StringPtr("TRUE")}); r.Err != nil {
		t.Fatalf("set: %v (%s)", r.Err, r.ErrMessage)
	}
	cs = describedTopic(t, adm, "plain")
	checkConfig(t, cs["min.insync.replicas"], "1", kmsg.ConfigSourceDynamicTopicConfig, "")
	checkConfig(t, cs["unclean.leader.election.enable"], "TRUE", kmsg.ConfigSourceDynamicTopicConfig, "")
	if tp, _ := b.mgr.Topic("plain"); !tp.Partitions[0].Config().UncleanLeaderElectionEnable {
		t.Fatal("partition config lacks unclean.leader.election.enable=true")
	}
	r := incr(kadm.AlterConfig{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kadm.StringPtr("3")})
	wantKerr(t, "min.insync.replicas=3", r.Err, kerr.InvalidConfig)
	if !strings.Contains(r.ErrMessage, "NOT_ENOUGH_REPLICAS") {
		t.Errorf("min.insync.replicas=3: message %q", r.ErrMessage)
	}
	if r := incr(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "min.insync.replicas"},
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "unclean.leader.election.enable"}); r.Err != nil {
		t.Fatalf("delete: %v (%s)", r.Err, r.ErrMessage)
	}
	cs = describedTopic(t, adm, "plain")
	checkConfig(t, cs["min.insync.replicas"], "1", kmsg.ConfigSourceDefaultConfig, "")
	checkConfig(t, cs["unclean.leader.election.enable"], "false", kmsg.ConfigSourceDefaultConfig, "")
}

// TestReplicationBrokerSettings: the broker-level names are Kafka's (the
// same as the topic names), and a topic without override takes them.
func TestReplicationBrokerSettings(t *testing.T) {
	bs := DefaultBrokerSettings()
	if err := bs.Apply("unclean.leader.election.enable", "true"); err != nil {
		t.Fatal(err)
	}
	if err := bs.Apply("min.insync.replicas", "1"); err != nil {
		t.Fatal(err)
	}
	// Above 1 it is a cluster's setting: a single broker refuses it once
	// the whole configuration is read.
	if err := bs.Apply("min.insync.replicas", "2"); err != nil {
		t.Fatal(err)
	}
	if err := bs.Validate(); err == nil || !strings.Contains(err.Error(), "min.insync.replicas=2 needs a cluster: a single broker has one replica") {
		t.Fatalf("min.insync.replicas=2: %v", err)
	}
	if err := bs.Apply("min.insync.replicas", "1"); err != nil {
		t.Fatal(err)
	}
	if m := bs.Map(); m["unclean.leader.election.enable"] != "true" || m["min.insync.replicas"] != "1" {
		t.Fatalf("settings %v", m)
	}

	b := startBrokerWithTopicDefaults(t, bs.Topics, noAutoCreate)
	adm := b.admin()
	if _, err := adm.CreateTopic(testContext(t), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	cs := describedTopic(t, adm, "t")
	checkConfig(t, cs["unclean.leader.election.enable"], "true", kmsg.ConfigSourceStaticBrokerConfig,
		"STATIC_BROKER_CONFIG unclean.leader.election.enable=true, DEFAULT_CONFIG unclean.leader.election.enable=false")
	checkConfig(t, cs["min.insync.replicas"], "1", kmsg.ConfigSourceDefaultConfig, "DEFAULT_CONFIG min.insync.replicas=1")
}
