package cluster

import (
	"regexp"
	"strings"
	"testing"
)

// TestMetricNames: every cluster metric has a Prometheus name under the
// tributary_ prefix, once; counters end in _total and gauges do not; each
// has help text and valid label names.
func TestMetricNames(t *testing.T) {
	name := regexp.MustCompile(`^tributary_(cluster|replica|replication)_[a-z_]+[a-z]$`)
	label := regexp.MustCompile(`^[a-z][a-z_]*$`)
	seen := map[string]bool{}
	for _, m := range Metrics {
		if !name.MatchString(m.Name) {
			t.Errorf("%q is not a tributary_cluster_, tributary_replica_ or tributary_replication_ name", m.Name)
		}
		if seen[m.Name] {
			t.Errorf("%s is listed twice", m.Name)
		}
		seen[m.Name] = true
		switch m.Kind {
		case Counter:
			if !strings.HasSuffix(m.Name, "_total") {
				t.Errorf("counter %s does not end in _total", m.Name)
			}
		case Gauge:
			if strings.HasSuffix(m.Name, "_total") {
				t.Errorf("gauge %s ends in _total", m.Name)
			}
		default:
			t.Errorf("%s: kind %q", m.Name, m.Kind)
		}
		if !strings.HasSuffix(m.Help, ".") || len(m.Help) < 20 {
			t.Errorf("%s: help %q", m.Name, m.Help)
		}
		for _, l := range m.Labels {
			if !label.MatchString(l) {
				t.Errorf("%s: label %q", m.Name, l)
			}
		}
	}
	// The ones issue 14 names.
	for _, n := range []string{MetricUnderReplicatedPartitions, MetricOfflinePartitions, MetricISRShrinks, MetricISRExpands,
		MetricActiveController, MetricReplicaMaxLag, MetricLeaderPartitions} {
		if !seen[n] {
			t.Errorf("%s is not in Metrics", n)
		}
	}
}
