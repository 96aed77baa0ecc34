package server

// The Grafana dashboard in deploy/grafana and the Prometheus config in
// deploy/ are checked against the broker: every metric a dashboard query
// uses must be one the broker registers, with the labels it has, so that a
// renamed or dropped metric breaks this test rather than a panel.

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
)

const (
	dashboardPath  = "../deploy/grafana/tributary.json"
	prometheusPath = "../deploy/prometheus.yml"
)

// metricInfo is what the registry says about one metric family.
type metricInfo struct {
	kind   string          // HISTOGRAM, SUMMARY, COUNTER, GAUGE; "" when only described
	labels map[string]bool // variable and constant labels
	series int             // series gathered
}

// descRE reads a Desc's String(): client_golang exposes no accessor for a
// descriptor's name or labels. A change of that format fails
// registeredMetrics loudly rather than letting names through.
var (
	descRE      = regexp.MustCompile(`^Desc\{fqName: "([^"]*)", .*constLabels: \{(.*)\}, variableLabels: \{([^}]*)\}\}$`)
	constNameRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// registeredMetrics lists every metric reg describes (which covers vectors
// with no children yet and collectors whose series come and go with data),
// with the type and series count of those it gathers.
func registeredMetrics(reg *prometheus.Registry) (map[string]*metricInfo, error) {
	out := map[string]*metricInfo{}
	get := func(name string) *metricInfo {
		if out[name] == nil {
			out[name] = &metricInfo{labels: map[string]bool{}}
		}
		return out[name]
	}
	ch := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(ch)
		close(ch)
	}()
	var bad []string
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil || m[1] == "" {
			bad = append(bad, d.String())
			continue
		}
		info := get(m[1])
		for _, c := range constNameRE.FindAllStringSubmatch(m[2], -1) {
			info.labels[c[1]] = true
		}
		for _, l := range strings.Split(m[3], ",") {
			l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "c("), ")")
			if l != "" {
				info.labels[l] = true
			}
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("cannot read descriptors: %q", bad)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		info := get(mf.GetName())
		info.kind = mf.GetType().String()
		info.series += len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				info.labels[lp.GetName()] = true
			}
		}
	}
	return out, nil
}

// dashboardQuery is one PromQL expression of the dashboard and where it is.
type dashboardQuery struct {
	where string
	expr  string
}

// grafanaPanel is the part of a Grafana panel the checks read. Rows that
// are collapsed hold their panels in Panels.
type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Expr       string          `json:"expr"`
		RefID      string          `json:"refId"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"` // a string, or {"query": ...} since Grafana 10
		} `json:"list"`
	} `json:"templating"`
}

// dsRef is the data source every panel and target must use: the
// dashboard's DS_PROMETHEUS variable, so an import picks the user's.
const dsRef = `{"type":"prometheus","uid":"${DS_PROMETHEUS}"}`

// parseDashboard decodes a dashboard, checks its structure, and returns its
// queries: every target's expr, in nested rows too, and every query
// variable's query.
func parseDashboard(raw []byte) ([]dashboardQuery, []string, error) {
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, nil, fmt.Errorf("dashboard JSON: %w", err)
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if d.Title == "" || d.UID == "" {
		bad("dashboard has no title or uid")
	}
	if d.SchemaVersion < 36 {
		bad("schemaVersion %d: want a current Grafana schema (36+)", d.SchemaVersion)
	}
	sameDS := func(r json.RawMessage) bool {
		var got, want any
		return json.Unmarshal(r, &got) == nil && json.Unmarshal([]byte(dsRef), &want) == nil &&
			reflect.DeepEqual(got, want)
	}
	var qs []dashboardQuery
	ids := map[int]bool{}
	var walk func([]grafanaPanel, string)
	walk = func(ps []grafanaPanel, in string) {
		for _, p := range ps {
			where := in + p.Title
			if ids[p.ID] {
				bad("panel %q: id %d used twice", where, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				bad("panel %q: gridPos %+v outside the 24-column grid", where, p.GridPos)
			}
			if p.Type == "row" {
				walk(p.Panels, where+" / ")
				continue
			}
			if !sameDS(p.Datasource) {
				bad("panel %q: datasource %s, want %s", where, p.Datasource, dsRef)
			}
			if len(p.Targets) == 0 {
				bad("panel %q has no queries", where)
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					bad("panel %q target %s has no expr", where, t.RefID)
				}
				if !sameDS(t.Datasource) {
					bad("panel %q target %s: datasource %s, want %s", where, t.RefID, t.Datasource, dsRef)
				}
				qs = append(qs, dashboardQuery{where: fmt.Sprintf("panel %q %s", where, t.RefID), expr: t.Expr})
			}
		}
	}
	walk(d.Panels, "")
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		var q string
		if json.Unmarshal(v.Query, &q) != nil {
			var obj struct{ Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				bad("variable %q: query %s is neither a string nor an object", v.Name, v.Query)
			}
			q = obj.Query
		}
		qs = append(qs, dashboardQuery{where: fmt.Sprintf("variable %q", v.Name), expr: q})
	}
	if vars["DS_PROMETHEUS"] != "datasource" {
		bad("no datasource variable DS_PROMETHEUS")
	}
	for _, name := range []string{"topic", "group"} {
		if vars[name] != "query" {
			bad("no query variable %q", name)
		}
	}
	for _, q := range qs {
		for _, m := range grafanaVarRE.FindAllStringSubmatch(q.expr, -1) {
			name := m[1] + m[2]
			if _, ok := vars[name]; !ok && !strings.HasPrefix(name, "__") {
				bad("%s: uses undefined variable $%s: %s", q.where, name, q.expr)
			}
		}
	}
	return qs, problems, nil
}

var (
	// grafanaVarRE matches $name, ${name} and ${name:format}.
	grafanaVarRE = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)[^}]*\}|([A-Za-z0-9_]+))`)
	// promStringRE matches PromQL string literals, whose contents (label
	// values, Grafana variables) are neither metric nor label names.
	promStringRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'` + "|`[^`]*`")
	// metricNameRE matches the names of the broker's own metrics and of
	// the Go and process collectors it registers.
	metricNameRE = regexp.MustCompile(`\b(?:tributary|go|process)_[a-zA-Z0-9_:]+`)
	// matcherRE matches a selector's {...}, and matcherLabelRE the label
	// name of each matcher inside it.
	matcherRE      = regexp.MustCompile(`\{([^}]*)\}`)
	matcherLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// groupingRE matches by/without/on/ignoring/group_left/group_right lists.
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	// labelValuesRE matches Grafana's label_values(metric, label).
	labelValuesRE = regexp.MustCompile(`\blabel_values\s*\([^,]*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// scrapeLabels are attached by Prometheus to every series it scrapes.
var scrapeLabels = []string{"job", "instance", "__name__"}

// checkQuery returns what is wrong with expr given the registered metrics:
// a metric name the broker does not register (a histogram's _bucket, _sum
// and _count series count as its name), a suffix on a metric of the wrong
// type, a label none of its metrics carries, or no broker metric at all.
func checkQuery(expr string, known map[string]*metricInfo) []string {
	var problems []string
	bare := promStringRE.ReplaceAllString(expr, `""`)
	names := metricNameRE.FindAllString(bare, -1)
	if len(names) == 0 {
		return []string{"uses no tributary_, go_ or process_ metric"}
	}
	allowed := map[string]bool{}
	for _, l := range scrapeLabels {
		allowed[l] = true
	}
	for _, name := range names {
		if info := known[name]; info != nil {
			if info.kind == "HISTOGRAM" {
				// Prometheus stores a classic histogram as its _bucket,
				// _sum and _count series only.
				problems = append(problems, fmt.Sprintf("%s: a histogram has no series by its bare name", name))
			}
			for l := range info.labels {
				allowed[l] = true
			}
			if info.kind == "SUMMARY" {
				allowed["quantile"] = true
			}
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			info := known[base]
			if !ok || info == nil {
				continue
			}
			found = true
			switch {
			case info.kind == "HISTOGRAM", info.kind == "SUMMARY" && suffix != "_bucket":
			case info.kind == "":
				problems = append(problems, fmt.Sprintf("%s: %s has no series, so its type is unknown", name, base))
			default:
				problems = append(problems, fmt.Sprintf("%s: %s is a %s, which has no %s series", name, base, info.kind, suffix))
			}
			for l := range info.labels {
				allowed[l] = true
			}
			if suffix == "_bucket" {
				allowed["le"] = true
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: not a metric the broker registers", name))
		}
	}
	var used []string
	for _, m := range matcherRE.FindAllStringSubmatch(bare, -1) {
		for _, l := range matcherLabelRE.FindAllStringSubmatch(m[1], -1) {
			used = append(used, l[1])
		}
	}
	for _, m := range groupingRE.FindAllStringSubmatch(bare, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				used = append(used, l)
			}
		}
	}
	for _, m := range labelValuesRE.FindAllStringSubmatch(bare, -1) {
		used = append(used, m[1])
	}
	for _, l := range used {
		if !allowed[l] {
			problems = append(problems, fmt.Sprintf("label %q: no metric of the query has it", l))
		}
	}
	return problems
}

// checkDashboard returns every problem of the dashboard raw against known.
func checkDashboard(raw []byte, known map[string]*metricInfo) ([]string, error) {
	qs, problems, err := parseDashboard(raw)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		for _, p := range checkQuery(q.expr, known) {
			problems = append(problems, fmt.Sprintf("%s: %s (in %s)", q.where, p, q.expr))
		}
	}
	return problems, nil
}

// dashboardMetrics is every metric name the dashboard's queries use, a
// histogram's series by the histogram's name.
func dashboardMetrics(t *testing.T, raw []byte, known map[string]*metricInfo) []string {
	t.Helper()
	qs, _, err := parseDashboard(raw)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, q := range qs {
		for _, n := range metricNameRE.FindAllString(promStringRE.ReplaceAllString(q.expr, `""`), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(n, suffix); ok && known[n] == nil && known[base] != nil {
					n = base
				}
			}
			set[n] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// brokerWithTraffic is a broker whose metric vectors all have children:
// produced and consumed records, an error code returned, and a group with
// a committed offset behind the log end (so it has lag), and a request
// the authorizer refused (it allows everything else: no ACL is found).
func brokerWithTraffic(t *testing.T) *testBroker {
	t.Helper()
	b := startBroker(t, withAuthorizer(), func(c *Config) { c.AllowEveryoneIfNoACLFound = true })
	if errs := b.srv.authz.Create([]auth.Binding{binding(auth.ResourceTopic, auth.PatternLiteral, "dash-denied", "User:*", auth.OpAll, auth.PermissionDeny)}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	ctx := testContext(t)
	adm := b.admin()
	const topic = "dash"
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod := b.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "record %d", i)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n < len(recs); {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, len(recs), err)
		}
		n += fs.NumRecords()
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "dash-group", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit offsets: %v %v", err, resp.Error())
	}
	// Metadata of a missing topic answers UNKNOWN_TOPIC_OR_PARTITION.
	_, _ = adm.ListEndOffsets(ctx, "dash-no-such-topic")
	// And of a denied topic TOPIC_AUTHORIZATION_FAILED.
	_, _ = adm.ListEndOffsets(ctx, "dash-denied")
	// A SASL_SSL listener, and a plaintext client that fails its TLS
	// handshake.
	ca := authtest.NewCA(t, "dashboard CA")
	addr, err := b.srv.ListenOn(Listener{Name: "SASL_SSL", Protocol: auth.SASLSSL, Addr: "127.0.0.1:0",
		Security: map[string]string{"ssl.keystore.location": ca.Server("server").File}})
	if err != nil {
		t.Fatal(err)
	}
	p := dialProbe(t, addr.String())
	p.send(probeRequest(kmsg.NewPtrApiVersionsRequest(), 1))
	p.expectClosed()
	// The cluster metrics, as a cluster node's wiring attaches them (a
	// single broker has none): node 1, the controller, over a metadata
	// snapshot and a real replica.Manager leading two partitions.
	if err := b.srv.attachClusterMetrics(fakeClusterSnapshot, 1, clusterReplicaManager(t, b)); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("%s is not valid JSON", dashboardPath)
	}
	// A single broker's and a cluster node's (alerts_test.go): some
	// are only a running cluster's (elections, fast fences).
	known := singleAndClusterMetrics(t)
	problems, err := checkDashboard(raw, known)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// The broker's own metrics have series once there is traffic: a panel
	// whose metric never shows a series on a busy broker is a broken panel
	// even if the name is registered.
	used := dashboardMetrics(t, raw, known)
	for _, name := range used {
		if info := known[name]; info != nil && strings.HasPrefix(name, "tributary_") && info.series == 0 {
			t.Errorf("%s is registered but has no series after traffic", name)
		}
	}
	t.Logf("dashboard uses %d metrics: %s", len(used), strings.Join(used, " "))
	// Every metric the broker exports has a panel, or is left out here
	// with the reason.
	leftOut := map[string]string{
		"tributary_build_info": "labels only (version, revision, Go version): read in Explore, not drawn",
	}
	for name := range known {
		if strings.HasPrefix(name, "tributary_") && !slices.Contains(used, name) && leftOut[name] == "" {
			t.Errorf("%s has no panel: add one to %s, or say in leftOut why not", name, dashboardPath)
		}
	}
	for name := range leftOut {
		if known[name] == nil || slices.Contains(used, name) {
			t.Errorf("leftOut names %s, which the broker does not export or the dashboard draws", name)
		}
	}
	// The panels the issue asks for are there.
	for _, name := range []string{
		"tributary_bytes_in_total", "tributary_bytes_out_total",
		"tributary_records_in_total", "tributary_records_out_total",
		"tributary_requests_total", "tributary_request_duration_seconds", "tributary_request_errors_total",
		"tributary_partition_size_bytes", "tributary_consumergroup_lag",
		"tributary_log_flush_duration_seconds", "tributary_log_flush_errors_total",
		// The Cluster row: what Kafka operators alert on (issue 14).
		"tributary_cluster_under_replicated_partitions", "tributary_cluster_offline_partitions",
		"tributary_cluster_active_controller", "tributary_cluster_leader_partitions",
		"tributary_cluster_isr_shrinks_total", "tributary_cluster_isr_expands_total",
		"tributary_replica_max_lag_records",
		"tributary_cluster_leader_elections_total", "tributary_cluster_fast_fences_total",
		"tributary_cluster_quorum_leader_changes_total", "tributary_cluster_quorum_db_size_bytes",
	} {
		if !slices.Contains(used, name) {
			t.Errorf("dashboard has no panel over %s", name)
		}
	}
}

// TestDashboardCheckerRejects proves the checker fails on what it must:
// were it to accept everything, TestDashboardMetricsExist would prove
// nothing.
func TestDashboardCheckerRejects(t *testing.T) {
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_requests_total", Help: "h"}, []string{"api"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tributary_request_duration_seconds", Help: "h"}, []string{"api"})
	reqs.WithLabelValues("Produce").Inc()
	lat.WithLabelValues("Produce").Observe(0.001)
	reg.MustRegister(reqs, lat,
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "process_resident_memory_bytes", Help: "h"}),
		// Described but without series: their names are known, their types not.
		prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tributary_idle_seconds", Help: "h"}, []string{"api"}),
		prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tributary_idle_bytes", Help: "h"}, []string{"api"}),
	)
	known, err := registeredMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		want string // a problem containing this; "" for none
	}{
		{`sum by (api) (rate(tributary_requests_total{job=~"$job"}[1m]))`, ""},
		{`histogram_quantile(0.99, sum by (api, le) (rate(tributary_request_duration_seconds_bucket[1m])))`, ""},
		{`rate(tributary_request_duration_seconds_count[1m])`, ""},
		{`process_resident_memory_bytes{instance="x"}`, ""},
		{`label_values(tributary_requests_total, api)`, ""},
		{`sum by (api) (tributary_idle_bytes{api="Fetch"})`, ""},
		{`rate(tributary_request_duration_seconds[1m])`, "histogram has no series by its bare name"},
		{`tributary_idle_seconds_bucket`, "tributary_idle_seconds has no series"},
		{`sum(rate(tributary_bogus_total[1m]))`, "tributary_bogus_total: not a metric"},
		{`rate(tributary_requests_total_bucket[1m])`, "is a COUNTER, which has no _bucket"},
		{`go_goroutines`, "go_goroutines: not a metric"},
		{`sum by (topic) (rate(tributary_requests_total[1m]))`, `label "topic"`},
		{`tributary_requests_total{topic="tributary_bogus"}`, `label "topic"`},
		{`label_values(tributary_requests_total, group)`, `label "group"`},
		{`vector(1)`, "uses no"},
	} {
		problems := checkQuery(tc.expr, known)
		joined := strings.Join(problems, "; ")
		if tc.want == "" && len(problems) > 0 || tc.want != "" && !strings.Contains(joined, tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.expr, joined, tc.want)
		}
	}

	// The real dashboard with one metric renamed fails as a whole.
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	known, err = registeredMetrics(startBroker(t).srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	const renamed = "tributary_partition_segments"
	if !strings.Contains(string(raw), renamed) {
		t.Fatalf("dashboard no longer uses %s; pick another metric to rename", renamed)
	}
	bogus := strings.ReplaceAll(string(raw), renamed, "tributary_partition_segmentz")
	problems, err := checkDashboard([]byte(bogus), known)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(problems, "\n"), "tributary_partition_segmentz: not a metric") {
		t.Errorf("renamed metric not reported; problems: %q", problems)
	}
	// And invalid JSON is an error, not an empty dashboard.
	if _, err := checkDashboard(raw[:len(raw)/2], known); err == nil {
		t.Error("truncated dashboard JSON accepted")
	}
}

// TestDashboardPrometheusConfig checks deploy/prometheus.yml by structure:
// no YAML library is a dependency of the module, and none is added for one
// test. It must scrape the broker's default --metrics-listen as job
// tributary every 5s.
func TestDashboardPrometheusConfig(t *testing.T) {
	raw, err := os.ReadFile(prometheusPath)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		indent int    // of the line as written
		text   string // without indentation, comment or list dash
	}
	var lines []line
	top := map[string]bool{}
	for i, l := range strings.Split(string(raw), "\n") {
		if strings.Contains(l, "\t") {
			t.Errorf("line %d: tab (YAML indents with spaces)", i+1)
		}
		body := strings.TrimRight(l, " ")
		if c := strings.Index(body, "#"); c >= 0 && (c == 0 || body[c-1] == ' ') {
			body = strings.TrimRight(body[:c], " ")
		}
		text := strings.TrimLeft(body, " ")
		if text == "" {
			continue
		}
		indent := len(body) - len(text)
		if indent%2 != 0 {
			t.Errorf("line %d: indentation %d is not a multiple of 2", i+1, indent)
		}
		if indent == 0 {
			key, _, ok := strings.Cut(text, ":")
			if !ok {
				t.Errorf("line %d: top level %q is not a key", i+1, text)
			}
			top[key] = true
		}
		if rest, ok := strings.CutPrefix(text, "- "); ok {
			text = rest
		} else if !strings.Contains(text, ":") && text != "-" {
			t.Errorf("line %d: %q is neither a key nor a list item", i+1, text)
		}
		lines = append(lines, line{indent, text})
	}
	for _, k := range []string{"global", "scrape_configs"} {
		if !top[k] {
			t.Errorf("no top-level %s", k)
		}
	}
	// The tributary job's block: from its job_name to the next line
	// indented no deeper than it (the next job's item, or a top-level key).
	start := slices.IndexFunc(lines, func(l line) bool { return l.text == "job_name: tributary" })
	if start < 0 {
		t.Fatal("no scrape config with job_name: tributary")
	}
	var block []string
	for i, l := range lines[start:] {
		if i > 0 && l.indent <= lines[start].indent {
			break
		}
		block = append(block, l.text)
	}
	for _, want := range []string{"scrape_interval: 5s", "127.0.0.1:9644"} {
		if !slices.Contains(block, want) {
			t.Errorf("job tributary has no %q: %q", want, block)
		}
	}
}
