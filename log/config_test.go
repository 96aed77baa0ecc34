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
