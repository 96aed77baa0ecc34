package server

// deploy/prometheus/alerts.yml is checked against the broker as the
// dashboard is (dashboard_test.go): every metric and label its rules
// use must be one a single broker or a cluster node exports, every rule
// says how severe it is and carries the text an operator paged at night
// needs, and promtool, where installed, accepts the file.

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const alertsPath = "../deploy/prometheus/alerts.yml"

// alertRules is the part of a Prometheus rule file the checks read.
type alertRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// brokerDownExpr is the one rule over a metric Prometheus makes, not the
// broker: a target it cannot scrape.
const brokerDownExpr = `up{job="tributary"} == 0`

// checkAlerts returns what is wrong with the rule file raw against known.
func checkAlerts(raw []byte, known map[string]*metricInfo) ([]string, int, error) {
	var rules alertRules
	if err := yaml.UnmarshalStrict(raw, &rules); err != nil {
		return nil, 0, err
	}
	var problems []string
	n := 0
	names := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			where := g.Name + "/" + r.Alert
			if r.Alert == "" || names[r.Alert] {
				problems = append(problems, where+": no alert name, or one used twice")
			}
			names[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				problems = append(problems, where+": severity "+sev+", want critical or warning")
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					problems = append(problems, where+": no "+a+" annotation")
				}
			}
			if !strings.Contains(r.Expr, `job="tributary"`) {
				problems = append(problems, where+": does not select job=\"tributary\"")
			}
			if strings.TrimSpace(r.Expr) == brokerDownExpr {
				continue
			}
			for _, p := range checkQuery(r.Expr, known) {
				problems = append(problems, where+": "+p+" (in "+r.Expr+")")
			}
		}
	}
	return problems, n, nil
}

// singleAndClusterMetrics are the metrics of a single broker with traffic
// and of a node of a running three-node cluster, merged: a rule or panel
// may use either's.
func singleAndClusterMetrics(t *testing.T) map[string]*metricInfo {
	t.Helper()
	known, err := registeredMetrics(brokerWithTraffic(t).srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	tc := startTestCluster(t)
	node, err := registeredMetrics(tc.node(1).srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for name, info := range node {
		have := known[name]
		if have == nil {
			known[name] = info
			continue
		}
		for l := range info.labels {
			have.labels[l] = true
		}
		have.series = max(have.series, info.series)
		if have.kind == "" {
			have.kind = info.kind
		}
	}
	return known
}

// TestAlertRulesUseExportedMetrics: every rule is complete and queries
// only what a broker or a cluster node exports.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	known := singleAndClusterMetrics(t)
	problems, n, err := checkAlerts(raw, known)
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("%d rules: the file lost its rules", n)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// The conditions Kafka operators page on each have a rule.
	for _, name := range []string{
		"tributary_cluster_offline_partitions", "tributary_cluster_under_replicated_partitions",
		"tributary_cluster_under_min_isr_partitions", "tributary_cluster_active_controller",
		"tributary_cluster_brokers", "tributary_data_dir_usable_bytes", "tributary_log_flush_errors_total",
		"tributary_request_errors_total", "tributary_consumergroup_lag",
		"tributary_cluster_quorum_leader_changes_total", "tributary_cluster_quorum_db_quota_bytes",
	} {
		if !strings.Contains(string(raw), name) {
			t.Errorf("no rule over %s", name)
		}
	}

	// And the checks fail on what they must.
	for _, tc := range []struct{ old, new, want string }{
		{"tributary_cluster_offline_partitions{", "tributary_cluster_offline_partition{", "not a metric the broker registers"},
		{`state="fenced"`, `status="fenced"`, `label "status"`},
		{"severity: critical", "severity: page", "severity page"},
		{"runbook: >-", "runbok: >-", "no runbook annotation"},
		{"for: 10m", "fro: 10m", "unknown field"},
	} {
		bad := strings.Replace(string(raw), tc.old, tc.new, 1)
		problems, _, err := checkAlerts([]byte(bad), known)
		got := strings.Join(problems, "\n")
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("with %q for %q: %q, want a problem containing %q", tc.new, tc.old, got, tc.want)
		}
	}
}

// TestAlertRulesPromtool: promtool check rules accepts the file, and
// refuses it with a PromQL mistake.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian's prometheus package, as .ci/run installs): the rules are not checked by it")
	}
	if out, err := exec.Command(promtool, "check", "rules", alertsPath).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules %s: %v\n%s", alertsPath, err, out)
	}
	// The Prometheus config loads them.
	if out, err := exec.Command(promtool, "check", "config", prometheusPath).CombinedOutput(); err != nil || !strings.Contains(string(out), "alerts.yml") {
		t.Errorf("promtool check config %s: %v\n%s", prometheusPath, err, out)
	}
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir() + "/alerts.yml"
	if err := os.WriteFile(bad, []byte(strings.Replace(string(raw), "predict_linear(", "predict_linearly(", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", bad).CombinedOutput(); err == nil {
		t.Errorf("promtool accepted an unknown function:\n%s", out)
	}
}
