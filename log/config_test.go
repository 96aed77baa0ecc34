package log_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/log"
)

// TestConfigReplicationSettings: min.insync.replicas and
// unclean.leader.election.enable parse, print and validate as Kafka's, and
// min.insync.replicas is held to the one replica a partition has.
func TestConfigReplicationSettings(t *testing.T) {
	def := log.DefaultConfig()
	if def.MinInsyncReplicas != 1 || def.UncleanLeaderElectionEnable {
		t.Fatalf("defaults: min.insync.replicas=%d unclean.leader.election.enable=%v", def.MinInsyncReplicas, def.UncleanLeaderElectionEnable)
	}
	m := def.Map()
	if m[log.ConfigMinInsyncReplicas] != "1" || m[log.ConfigUncleanLeaderElectionEnable] != "false" {
		t.Fatalf("Map: %q %q", m[log.ConfigMinInsyncReplicas], m[log.ConfigUncleanLeaderElectionEnable])
	}
	names := log.ConfigNames()
	if !slices.Contains(names, log.ConfigMinInsyncReplicas) || !slices.Contains(names, log.ConfigUncleanLeaderElectionEnable) || !slices.IsSorted(names) {
		t.Fatalf("ConfigNames: %v", names)
	}
	if len(names) != len(m) {
		t.Fatalf("%d names, %d in Map", len(names), len(m))
	}

	for _, tc := range []struct {
		settings map[string]string
		unclean  bool
	}{
		{map[string]string{"min.insync.replicas": "1", "unclean.leader.election.enable": "true"}, true},
		{map[string]string{"min.insync.replicas": " 1 ", "unclean.leader.election.enable": "TRUE"}, true},
		{map[string]string{"unclean.leader.election.enable": "False"}, false},
	} {
		c, err := def.With(tc.settings)
		if err != nil || c.MinInsyncReplicas != 1 || c.UncleanLeaderElectionEnable != tc.unclean {
			t.Fatalf("%v: %+v %v", tc.settings, c, err)
		}
		if back, err := def.With(c.Map()); err != nil || back.UncleanLeaderElectionEnable != tc.unclean {
			t.Fatalf("%v: Map round trip: %v %v", tc.settings, back.UncleanLeaderElectionEnable, err)
		}
	}

	for _, tc := range []struct {
		name, value, msg string
	}{
		{"min.insync.replicas", "2", "one replica"},
		{"min.insync.replicas", "3", "NOT_ENOUGH_REPLICAS"},
		{"min.insync.replicas", "0", ">= 1"},
		{"min.insync.replicas", "-1", ">= 1"},
		{"min.insync.replicas", "one", "min.insync.replicas"},
		{"unclean.leader.election.enable", "yes", "true or false"},
		{"unclean.leader.election.enable", "1", "true or false"},
		{"unclean.leader.election.enable", "", "true or false"},
	} {
		_, err := def.With(map[string]string{tc.name: tc.value})
		if !errors.Is(err, log.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s=%q: %v, want ErrInvalidConfig mentioning %q", tc.name, tc.value, err, tc.msg)
		}
	}
}

// TestConfigCompaction: cleanup.policy takes delete, compact or both, and
// the compaction settings parse, print and validate as Kafka's.
func TestConfigCompaction(t *testing.T) {
	def := log.DefaultConfig()
	m := def.Map()
	for name, want := range map[string]string{
		log.ConfigDeleteRetentionMs: "86400000", log.ConfigMinCleanableDirtyRatio: "0.5",
		log.ConfigMinCompactionLagMs: "0", log.ConfigMaxCompactionLagMs: "9223372036854775807",
	} {
		if m[name] != want || !slices.Contains(log.ConfigNames(), name) {
			t.Errorf("%s: default %q, want %q (in ConfigNames: %v)", name, m[name], want, slices.Contains(log.ConfigNames(), name))
		}
	}
	for _, tc := range []struct {
		policy            string
		compacted, delete bool
		stored            string
	}{
		{"delete", false, true, "delete"},
		{"compact", true, false, "compact"},
		{"compact,delete", true, true, "compact,delete"},
		{"delete, compact", true, true, "delete,compact"},
	} {
		c, err := def.With(map[string]string{log.ConfigCleanupPolicy: tc.policy})
		if err != nil || c.Compacted() != tc.compacted || c.Deletes() != tc.delete || c.CleanupPolicy != tc.stored {
			t.Errorf("cleanup.policy=%q: %q compacted %v deletes %v, %v", tc.policy, c.CleanupPolicy, c.Compacted(), c.Deletes(), err)
		}
	}
	c, err := def.With(map[string]string{"min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": "0",
		"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"})
	if err != nil || c.MinCleanableDirtyRatio != 0.1 || c.DeleteRetentionMs != 0 || c.MinCompactionLagMs != 5 || c.MaxCompactionLagMs != 5 {
		t.Fatalf("%+v %v", c, err)
	}
	if back, err := def.With(c.Map()); err != nil || back.MinCleanableDirtyRatio != 0.1 {
		t.Fatalf("Map round trip: %v %v", back.MinCleanableDirtyRatio, err)
	}
	for _, tc := range []struct{ name, value, msg string }{
		{"cleanup.policy", "compact,compact", "cleanup.policy"},
		{"min.cleanable.dirty.ratio", "-0.1", "[0, 1]"},
		{"min.cleanable.dirty.ratio", "half", "min.cleanable.dirty.ratio"},
		{"delete.retention.ms", "-1", ">= 0"},
		{"max.compaction.lag.ms", "0", ">= 1"},
	} {
		if _, err := def.With(map[string]string{tc.name: tc.value}); !errors.Is(err, log.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s=%q: %v, want ErrInvalidConfig mentioning %q", tc.name, tc.value, err, tc.msg)
		}
	}
}
