package server

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

// metrics are the broker's Prometheus metrics, on a registry of its own so
// that several brokers in one process (tests) do not collide.
type metrics struct {
	reg *prometheus.Registry

	requests  [maxAPIKey]prometheus.Counter  // resolved once per API: no label hashing per request
	latencies [maxAPIKey]prometheus.Observer // idem
	errors    *prometheus.CounterVec         // {api, error}

	bytesIn, recordsIn, bytesOut, recordsOut *prometheus.CounterVec // {topic}
	topics                                   sync.Map               // topic name -> *topicMetrics

	flushes     prometheus.Histogram
	flushErrors prometheus.Counter

	connections prometheus.Gauge
	badRequests prometheus.Counter
	// Connection limits: rejected {reason} counts connections closed at
	// accept (max.connections.per.ip); acceptBlocked counts the times the
	// acceptor had to wait for a max.connections slot, and
	// acceptBlockedSeconds how long it waited in all.
	rejected             *prometheus.CounterVec
	acceptBlocked        prometheus.Counter
	acceptBlockedSeconds prometheus.Counter
	netIn                prometheus.Counter
	netOut               prometheus.Counter
	// groupCreationsThrottled counts group creations past
	// group.max.creation.rate.per.connection.
	groupCreationsThrottled prometheus.Counter
	// authzDenied {api, resource_type} counts requests (or the parts of
	// one, per topic or group) the authorizer refused.
	authzDenied *prometheus.CounterVec
	// security: TLS handshake failures and SASL authentications
	// (metrics_security.go).
	security *securityMetrics
}

type topicMetrics struct {
	bytesIn, recordsIn, bytesOut, recordsOut prometheus.Counter
}

// latencyBuckets span 50µs (a produce with no fsync) to 30s (a long poll
// capped by fetch.max.wait.ms or a stuck fsync).
var latencyBuckets = prometheus.ExponentialBucketsRange(50e-6, 30, 20)

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_requests_total",
		Help: "Requests handled, by Kafka API.",
	}, []string{"api"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tributary_request_duration_seconds",
		Help:    "Time from a request's last byte read to its response queued, by Kafka API (fetch includes its long poll).",
		Buckets: latencyBuckets,
	}, []string{"api"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_request_errors_total",
		Help: "Error codes returned, by Kafka API and error name (per partition where the API answers per partition). MEMBER_ID_REQUIRED and REBALANCE_IN_PROGRESS are not counted: they are steps of every group join and rebalance, not failures.",
	}, []string{"api", "error"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_bytes_in_total",
		Help: "Record batch bytes appended by producers, by topic.",
	}, []string{"topic"})
	m.recordsIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_records_in_total",
		Help: "Records appended by producers, by topic.",
	}, []string{"topic"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_bytes_out_total",
		Help: "Record batch bytes sent to fetchers, by topic.",
	}, []string{"topic"})
	m.recordsOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_records_out_total",
		Help: "Records sent to fetchers, by topic.",
	}, []string{"topic"})
	m.flushes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tributary_log_flush_duration_seconds",
		Help:    "Time of each fsync of a partition's log (flush.messages, flush.ms, Sync), shared by the appends it covers.",
		Buckets: latencyBuckets,
	})
	m.flushErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_log_flush_errors_total",
		Help: "Failed fsyncs; each leaves its partition read-only until the broker restarts and recovers it.",
	})
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tributary_connections",
		Help: "Open client connections.",
	})
	m.badRequests = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_connections_closed_on_error_total",
		Help: "Connections closed because of malformed or refused input, or a network error.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_connections_rejected_total",
		Help: "Connections closed as soon as accepted, by reason: max_connections_per_ip (the address already had max.connections.per.ip).",
	}, []string{"reason"})
	m.rejected.WithLabelValues(rejectedPerIP) // a zero series from the start, for rate()
	m.acceptBlocked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_connections_accept_blocked_total",
		Help: "Times max.connections was reached and the acceptor waited for a connection to close before serving a new one (later ones wait in the listen backlog).",
	})
	m.acceptBlockedSeconds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_connections_accept_blocked_seconds_total",
		Help: "Time the acceptor spent waiting at max.connections (Kafka's acceptor blocked time).",
	})
	m.netIn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_network_received_bytes_total",
		Help: "Request bytes read from clients, framing included.",
	})
	m.netOut = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_network_sent_bytes_total",
		Help: "Response bytes written to clients, framing included.",
	})
	m.groupCreationsThrottled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tributary_consumergroup_creations_throttled_total",
		Help: "Groups created past group.max.creation.rate.per.connection, each answered with a throttle time.",
	})
	m.authzDenied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_authorization_denied_total",
		Help: "Authorization checks the ACLs refused, by Kafka API and resource type (Topic, Group, Cluster, TransactionalId); one per topic or group refused in a request.",
	}, []string{"api", "resource_type"})
	// Read at scrape time: the data dir's logs are opened (and recovered)
	// before these metrics exist, and may be opened later too.
	recoveryLost := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tributary_log_recovery_lost_offsets_total",
		Help: "Offsets that recovery found lost to damage (a cut damaged segment, a missing segment file) and left as gaps; each range is also logged at ERROR once.",
	}, func() float64 { return float64(s.mgr.RecoveryLostOffsets()) })
	m.security = newSecurityMetrics(reg)
	reg.MustRegister(recoveryLost, reqs, lat, m.errors, m.bytesIn, m.recordsIn, m.bytesOut, m.recordsOut,
		m.flushes, m.flushErrors, m.connections, m.badRequests, m.netIn, m.netOut,
		m.rejected, m.acceptBlocked, m.acceptBlockedSeconds, m.groupCreationsThrottled, m.authzDenied,
		&partitionCollector{s: s},
		&groupCollector{s: s},
		&dataDirCollector{s: s},
		buildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, a := range registeredAPIs() {
		m.requests[a.key] = reqs.WithLabelValues(a.name)
		m.latencies[a.key] = lat.WithLabelValues(a.name)
	}
	return m
}

// observeFlush is the log.Manager's flush observer.
func (m *metrics) observeFlush(d time.Duration, err error) {
	m.flushes.Observe(d.Seconds())
	if err != nil {
		m.flushErrors.Inc()
	}
}

// Registry is the broker's metrics registry, for a /metrics handler.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (m *metrics) request(key int16, d time.Duration) {
	m.requests[key].Inc()
	m.latencies[key].Observe(d.Seconds())
}

// protocolStep reports the error codes that are normal steps of the group
// protocol rather than failures, so that an error rate or a dashboard's
// error panel shows only what an operator should look at:
// MEMBER_ID_REQUIRED answers every first JoinGroup of a KIP-394 client
// (it then joins again with the id), and REBALANCE_IN_PROGRESS tells every
// member's Heartbeat, SyncGroup or OffsetCommit that a rebalance started
// (the member rejoins). Kafka's own ErrorsPerSec counts them, and
// operators' alerts on it routinely exclude them.
func protocolStep(code int16) bool {
	return code == kerr.MemberIDRequired.Code || code == kerr.RebalanceInProgress.Code
}

// errorCode counts a non-zero error code returned by api, unless it is a
// protocol step (protocolStep).
func (m *metrics) errorCode(key int16, code int16) {
	if code == 0 || protocolStep(code) {
		return
	}
	name := strconv.Itoa(int(code))
	if e := kerr.ErrorForCode(code); e != nil {
		if ke, ok := e.(*kerr.Error); ok {
			name = ke.Message
		}
	}
	m.errors.WithLabelValues(apis[key].name, name).Inc()
}

// denied counts one authorization denial.
func (m *metrics) denied(key int16, rt auth.ResourceType) {
	m.authzDenied.WithLabelValues(apis[key].name, rt.String()).Inc()
}

func (m *metrics) topic(name string) *topicMetrics {
	if t, ok := m.topics.Load(name); ok {
		return t.(*topicMetrics)
	}
	t := &topicMetrics{
		bytesIn:    m.bytesIn.WithLabelValues(name),
		recordsIn:  m.recordsIn.WithLabelValues(name),
		bytesOut:   m.bytesOut.WithLabelValues(name),
		recordsOut: m.recordsOut.WithLabelValues(name),
	}
	actual, _ := m.topics.LoadOrStore(name, t)
	return actual.(*topicMetrics)
}

// forgetTopic drops a deleted topic's series.
func (m *metrics) forgetTopic(name string) {
	m.topics.Delete(name)
	for _, v := range []*prometheus.CounterVec{m.bytesIn, m.recordsIn, m.bytesOut, m.recordsOut} {
		v.DeleteLabelValues(name)
	}
}

// partitionCollector reports per-partition gauges, and the producer state
// summed over partitions, read at scrape time, so nothing is updated on the
// append path for them.
type partitionCollector struct{ s *Server }

var (
	partitionSizeDesc = prometheus.NewDesc("tributary_partition_size_bytes",
		"Bytes of record batches on disk in a partition's segments.", []string{"topic", "partition"}, nil)
	partitionEndDesc = prometheus.NewDesc("tributary_partition_log_end_offset",
		"A partition's log end offset (the high watermark on this single broker).", []string{"topic", "partition"}, nil)
	partitionStartDesc = prometheus.NewDesc("tributary_partition_log_start_offset",
		"A partition's log start offset.", []string{"topic", "partition"}, nil)
	// Producer state is summed over the partitions rather than labelled
	// with them: an operator needs to see evictions happen and the state
	// grow, not 10,000 series that are mostly 0.
	producersDesc = prometheus.NewDesc("tributary_log_producers",
		"Idempotent producers whose state the partitions track, summed over partitions (at most max.producers.per.partition each).", nil, nil)
	producersEvictedDesc = prometheus.NewDesc("tributary_log_producers_evicted_total",
		"Producers evicted, longest idle first, over max.producers.per.partition, summed over the partitions open since the broker started (a deleted topic takes its count with it); each eviction is logged at WARN.", nil, nil)
	partitionSegmentsDesc = prometheus.NewDesc("tributary_partition_segments",
		"Segments in a partition's log.", []string{"topic", "partition"}, nil)
)

func (p *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- partitionSizeDesc
	ch <- partitionEndDesc
	ch <- partitionStartDesc
	ch <- partitionSegmentsDesc
	ch <- producersDesc
	ch <- producersEvictedDesc
}

func (p *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	var producers, evicted int64
	for _, t := range p.s.mgr.Topics() {
		for i, l := range t.Partitions {
			if l == nil {
				continue // a partition this broker hosts no replica of
			}
			producers += int64(l.NumProducers())
			evicted += l.ProducersEvicted()
			part := strconv.Itoa(i)
			ch <- prometheus.MustNewConstMetric(partitionSizeDesc, prometheus.GaugeValue, float64(l.Size()), t.Name, part)
			ch <- prometheus.MustNewConstMetric(partitionEndDesc, prometheus.GaugeValue, float64(l.NextOffset()), t.Name, part)
			ch <- prometheus.MustNewConstMetric(partitionStartDesc, prometheus.GaugeValue, float64(l.StartOffset()), t.Name, part)
			ch <- prometheus.MustNewConstMetric(partitionSegmentsDesc, prometheus.GaugeValue, float64(l.NumSegments()), t.Name, part)
		}
	}
	ch <- prometheus.MustNewConstMetric(producersDesc, prometheus.GaugeValue, float64(producers))
	ch <- prometheus.MustNewConstMetric(producersEvictedDesc, prometheus.CounterValue, float64(evicted))
}

// groupCollector reports the groups' committed offsets, lag and members,
// read from the coordinator at scrape time. The per-group series are for a
// bounded set of groups (consumergroup.Coordinator.Metrics: every group
// with members, and the most recently committed groups without members
// up to group.metrics.max.empty.partitions commits); every group is
// counted by state, so a scrape stays small at 100,000 groups.
type groupCollector struct{ s *Server }

var (
	groupLagDesc = prometheus.NewDesc("tributary_consumergroup_lag",
		"Records between a group's committed offset and the partition's log end offset (high watermark); groups with members, and the most recently committed groups without up to group.metrics.max.empty.partitions commits.",
		[]string{"group", "topic", "partition"}, nil)
	groupCommittedDesc = prometheus.NewDesc("tributary_consumergroup_committed_offset",
		"A group's last committed offset of a partition; the groups of tributary_consumergroup_lag.", []string{"group", "topic", "partition"}, nil)
	groupMembersDesc = prometheus.NewDesc("tributary_consumergroup_members",
		"Members of a group; the groups of tributary_consumergroup_lag.", []string{"group", "state"}, nil)
	groupsDesc = prometheus.NewDesc("tributary_consumergroups",
		"Consumer groups by state, all of them.", []string{"state"}, nil)
	groupsUnlistedDesc = prometheus.NewDesc("tributary_consumergroups_unlisted",
		"Groups without members left out of the per-group series (past group.metrics.max.empty.partitions).", nil, nil)
)

func (g *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupLagDesc
	ch <- groupCommittedDesc
	ch <- groupMembersDesc
	ch <- groupsDesc
	ch <- groupsUnlistedDesc
}

func (g *groupCollector) Collect(ch chan<- prometheus.Metric) {
	gm := g.s.groups.Metrics()
	for _, l := range gm.Lag {
		part := strconv.Itoa(int(l.Partition))
		ch <- prometheus.MustNewConstMetric(groupCommittedDesc, prometheus.GaugeValue, float64(l.Committed), l.Group, l.Topic, part)
		if l.LogEnd >= 0 {
			ch <- prometheus.MustNewConstMetric(groupLagDesc, prometheus.GaugeValue, float64(l.Lag), l.Group, l.Topic, part)
		}
	}
	for _, gl := range gm.Listed {
		ch <- prometheus.MustNewConstMetric(groupMembersDesc, prometheus.GaugeValue, float64(gl.Members), gl.Group, gl.State.String())
	}
	for st, n := range gm.States {
		if s := consumergroup.State(st); s != consumergroup.Dead {
			ch <- prometheus.MustNewConstMetric(groupsDesc, prometheus.GaugeValue, float64(n), s.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(groupsUnlistedDesc, prometheus.GaugeValue, float64(gm.Unlisted))
}

// dataDirCollector reports the space of the file system holding the data
// dir, read with statfs at scrape time: a full disk is a clean error to the
// producer (KAFKA_STORAGE_ERROR) and, here, a gauge at zero to alert on.
type dataDirCollector struct{ s *Server }

var (
	dataDirTotalDesc = prometheus.NewDesc("tributary_data_dir_total_bytes",
		"Size of the file system holding the data dir.", nil, nil)
	dataDirUsableDesc = prometheus.NewDesc("tributary_data_dir_usable_bytes",
		"Bytes of the data dir's file system that the broker can still write.", nil, nil)
)

func (d *dataDirCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dataDirTotalDesc
	ch <- dataDirUsableDesc
}

func (d *dataDirCollector) Collect(ch chan<- prometheus.Metric) {
	total, usable, err := diskSpace(d.s.mgr.Dir())
	if err != nil {
		return // no statfs here, or the dir is gone: report nothing rather than a false zero
	}
	ch <- prometheus.MustNewConstMetric(dataDirTotalDesc, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(dataDirUsableDesc, prometheus.GaugeValue, float64(usable))
}

// Version and Revision name the build. `make build` stamps them with
//
//	go build -ldflags "-X github.com/tributary-io/tributary/server.Version=v1.2.3 \
//	    -X github.com/tributary-io/tributary/server.Revision=<commit>"
//
// (git describe and the commit); a plain `go build` leaves them empty and
// BuildVersion falls back on what the Go toolchain recorded.
var (
	Version  string
	Revision string
)

// BuildVersion is the version and revision of this binary: the stamped
// Version and Revision, else the module version and the VCS revision Go
// records in the binary (runtime/debug.BuildInfo, with "-dirty" for
// uncommitted changes), else "(devel)" and "unknown".
func BuildVersion() (version, revision string) {
	version, revision = Version, Revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if revision == "" {
			dirty := false
			for _, kv := range bi.Settings {
				switch kv.Key {
				case "vcs.revision":
					revision = kv.Value
				case "vcs.modified":
					dirty = kv.Value == "true"
				}
			}
			if dirty && revision != "" {
				revision += "-dirty"
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	if revision == "" {
		revision = "unknown"
	}
	return version, revision
}

// buildInfo is tributary_build_info, always 1, labelled with what was
// built (BuildVersion) and the Go version, so dashboards can tell which
// build each broker runs.
func buildInfo() prometheus.Collector {
	version, revision := BuildVersion()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "tributary_build_info",
		Help:        "Always 1; labels name the build: version and VCS revision (stamped by make build, else Go's build info), Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}
