# Tributary: a Kafka-compatible, segmented append-only log broker.
# Everything here needs only Go (see go.mod for the version).

GO       ?= go
BIN      ?= bin/tributary
DATA     ?= ./data
# The ports of `make run`, and of the README: Kafka clients on ADDR,
# /metrics and /healthz on METRICS_ADDR (empty: off).
ADDR         ?= 127.0.0.1:9092
METRICS_ADDR ?= 127.0.0.1:9644
# What `tributary version`, the first log line of serve and
# tributary_build_info name: git describe and the commit, stamped with
# -ldflags. Without git (a source tarball, the Docker build) both are empty
# and the binary falls back on Go's build info, then "(devel)"/"unknown";
# pass VERSION=... REVISION=... to stamp them by hand.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION_PKG := github.com/tributary-io/tributary/server
LDFLAGS  := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION)
# The build command, also the Dockerfile's (it runs make build).
BUILD_FLAGS := -trimpath -ldflags "$(LDFLAGS)"
# Seconds per fuzz target in the smoke run that `make test` does.
FUZZTIME ?= 3s
# Per-target time for `make fuzz`.
FUZZLONG ?= 60s
BENCHTIME ?= 1s

.PHONY: test-cluster all build run cluster test test-short lint vet staticcheck fmt-check fuzz fuzz-smoke bench clean

all: build

build:
	$(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/tributary

# make run ADDR=127.0.0.1:19092 METRICS_ADDR=127.0.0.1:19644 DATA=/tmp/t
run: build
	./$(BIN) serve --data-dir $(DATA) --listen $(ADDR) --metrics-listen "$(METRICS_ADDR)"

# Three brokers on 127.0.0.2-4 for development (scripts/cluster.sh): node N
# serves Kafka clients on 127.0.0.(N+1):9092, its controller (etcd peers)
# on :9093 and etcd clients on :9094 (derived), metrics on :9644, data in
# CLUSTER_DATA/N. Prints the PIDs; Ctrl-C stops all three (each moves its
# leaderships away first).
CLUSTER_DATA ?= ./data-cluster
cluster: build
	CLUSTER_DATA=$(CLUSTER_DATA) ./scripts/cluster.sh ./$(BIN)

# vet, gofmt, the race-enabled test suite, the three-process cluster
# scenarios, then a short fuzz of every target.
test: lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory test-cluster
	$(MAKE) --no-print-directory fuzz-smoke

# Issue 14's scenarios on three real broker processes (127.0.0.2-4) under
# acks=all load, each checked for lost, duplicated or divergent records:
# kill -9 of every leader, SIGTERM of every broker, kill -9 of the
# controller, a follower out of the ISR and back, a paused leader fenced;
# issue 15's network faults, power losses, a paused controller fenced, a
# broker back with an empty log, a rolling restart of an idle partition,
# clock jumps on the leader and a follower, and a short chaos run (CLUSTERTEST_CHAOS_DURATION, 60s by default; see
# chaos-cluster). Each scenario runs its own three processes on its own
# ports, CLUSTER_TEST_PARALLEL of them at a time (17 one after the other
# would take about 14 minutes on two cores).
CLUSTER_TEST_PARALLEL ?= 3
test-cluster:
	$(GO) test -count=1 -tags cluster -run '^TestCluster' -parallel $(CLUSTER_TEST_PARALLEL) -timeout 15m ./internal/clustertest/

test-short: lint
	$(GO) test -short -count=1 ./...

lint: fmt-check vet staticcheck

vet:
	$(GO) vet ./...

# staticcheck, pinned, built from the Go module proxy on first use (the
# build cache keeps it after that), so a fresh machine needs only Go.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck:
	$(GO) run $(STATICCHECK) ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Every `func FuzzX` in a _test.go file, run for FUZZTIME each. The corpus
# lives in each package's testdata/fuzz and is replayed by plain `go test` too.
fuzz-smoke:
	@./scripts/fuzz.sh $(FUZZTIME)

fuzz:
	@./scripts/fuzz.sh $(FUZZLONG)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# End-to-end: Tributary and kfake, each in its own process, produce and
# consume 1,000,000 x 100 B and 200,000 x 1 KiB records (see bench/).
# BENCH_E2E_COUNT runs per sub-benchmark; TRIBUTARY_BENCH_CPUPROFILE=dir
# writes each broker's CPU profile per workload.
BENCH_E2E_COUNT ?= 3
.PHONY: bench-e2e
bench-e2e:
	$(GO) test -run '^$$' -bench E2E -benchtime 1x -count $(BENCH_E2E_COUNT) -timeout 60m ./bench

# Security cost (~1 min): the built broker in its own process with a
# PLAINTEXT and a SASL_SSL (SCRAM-SHA-256) listener, 200,000 x 1 KiB
# records produced and consumed over each in turn, MB/s and broker
# cpu-s/GB per listener and their ratios, then the time from dial to the
# first authenticated answer (p50, p99) over each (see
# bench/security_bench_test.go; BENCHMARKS.md "Security: TLS and SASL
# cost"). TRIBUTARY_SECURITY_PERF=dir records each timed run with perf.
BENCH_SECURITY_COUNT ?= 3
.PHONY: bench-security
bench-security: build
	TRIBUTARY_SECURITY_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench 'SecurityCost|SASLSSLHandshake|AESGCMSealFloor|TLSWriteFloor|TLSHandshake' -benchtime 1x -count $(BENCH_SECURITY_COUNT) -timeout 30m ./bench

# Replication cost (~2 min at 3 iterations): the built broker as one
# process (RF=1) and as a three-node cluster on 127.0.0.2-4 (RF=3,
# min.insync.replicas=2), both acks=all, in the same run: produce and
# consume 1,000,000 x 100 B and 200,000 x 1 KiB, end-to-end latency at
# 10,000 records/s for 10 s, and the unavailability window of a partition
# whose leader is killed with kill -9 under 1,000 records/s (see
# bench/cluster_bench_test.go; BENCHMARKS.md "Cluster: replication cost").
# A binary without cluster mode runs the single broker's half only.
# TRIBUTARY_BENCH_CLUSTER_PERF=dir records the brokers with perf.
# BENCH_CLUSTER_WORKLOADS picks workloads by name, a regexp (e.g.
# 'produce-1KiB|e2e-latency'); the default runs them all.
BENCH_CLUSTER_ITERS ?= 3
BENCH_CLUSTER_WORKLOADS ?= .*
.PHONY: bench-cluster
bench-cluster: build
	TRIBUTARY_BENCH_CLUSTER_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench '^BenchmarkCluster$$/^workload=($(BENCH_CLUSTER_WORKLOADS))$$' -v -benchtime $(BENCH_CLUSTER_ITERS)x -count 1 -timeout 40m ./bench

# Failover at scale (issue 15 item 9; ~3 min a kill at 10,000 partitions,
# most of it the restarted node's rejoin): for each count in
# FAILOVER_PARTITIONS a fresh three-node cluster (RF=3,
# min.insync.replicas=2, topics of 100 partitions) under FAILOVER_LOAD
# acks=all records/s, then FAILOVER_ITERS kill -9s of a partition's leader
# (drawn with the seed: CLUSTERTEST_SEED reruns it) and FAILOVER_ITERS of
# the active controller, each followed by a restart and a whole ISR. A
# table per count: p50/p99/max of the time until Metadata names a new
# leader, the first acks=all produce succeeds (by hand and through kgo),
# every partition has moved, a new controller is named and a CreateTopics
# succeeds (see bench/failover_scale_bench_test.go). FAILOVER_KILLS picks
# the kinds ('leader', 'controller').
FAILOVER_ITERS ?= 5
FAILOVER_PARTITIONS ?= 1000,10000
FAILOVER_LOAD ?= 1000
FAILOVER_KILLS ?= leader|controller
.PHONY: bench-failover
bench-failover: build
	TRIBUTARY_BENCH_CLUSTER_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench '^BenchmarkFailover$$/^partitions=/^kill=($(FAILOVER_KILLS))$$' -v -benchtime $(FAILOVER_ITERS)x -count 1 -timeout 4h ./bench -args -failover.partitions=$(FAILOVER_PARTITIONS) -failover.load=$(FAILOVER_LOAD)

# Peers side by side: Tributary, NATS JetStream (file storage), Redis
# Streams (AOF everysec) and kfake, the same workloads interleaved in one
# run (see bench/peers; it runs as a test because kfake, the control, is a
# test dependency). Needs nats-server and redis-server on PATH
# (apt-get install -y nats-server redis-server); a missing one is skipped.
# Rewrites the peers section of BENCHMARKS.md, bench/peers.png and the raw
# measurements in bench/peers.json (BENCH_PEERS_ARGS='-from bench/peers.json
# -out BENCHMARKS.md' re-renders those without running again).
BENCH_PEERS_REPS ?= 3
BENCH_PEERS_ARGS ?= -reps $(BENCH_PEERS_REPS) -out BENCHMARKS.md -chart bench/peers.png -json bench/peers.json
.PHONY: bench-peers
bench-peers:
	$(GO) test -count=1 -timeout 3h -run '^TestPeers$$' -v ./bench/peers -args -peers "-root $(CURDIR) $(BENCH_PEERS_ARGS)"

# Overload (~45 s): the built broker in its own process under 2,000 idle
# connections, 50 producers flat out, a slow and a greedy consumer and
# requests over its limits, with a latency probe; logs memory and p99
# figures for BENCHMARKS.md ("Overload") and checks generous bounds.
.PHONY: overload
overload: build
	TRIBUTARY_OVERLOAD_BIN=$(abspath $(BIN)) $(GO) test -tags overload -run '^TestOverload$$' -count 1 -v -timeout 10m ./bench

# Scale: the built broker in its own process with a 20,000 file
# descriptor limit, at each of SCALE_PARTITIONS partitions (1 record
# each, a fresh data dir per count, deleted after): CreateTopics time,
# allocated disk, open fds, memory maps and idle RSS per partition, stop
# time, and start time after a clean stop and after kill -9 until every
# partition serves a fetch; prints a table and PASS/MISS per goal of issue
# 12 for BENCHMARKS.md ("Scale"). Creating stops when the data dir's file
# system has less than SCALE_MIN_FREE_GIB free.
SCALE_PARTITIONS ?= 1000,3000,10000,30000
SCALE_MIN_FREE_GIB ?= 20
.PHONY: bench-scale
bench-scale: build
	TRIBUTARY_SCALE_BIN=$(abspath $(BIN)) $(GO) test -tags scale -run '^TestScale$$' -count 1 -v -timeout 3h ./bench -args -scale.partitions=$(SCALE_PARTITIONS) -scale.min-free-gib=$(SCALE_MIN_FREE_GIB)

# Crash loop (~1.5 min): the real binary killed with SIGKILL CHAOS_CYCLES
# times under idempotent producers and a consumer group whose members are
# killed too, restarted on the same data dir; proves nothing acknowledged
# is lost or duplicated and groups resume from their commits (see
# bench/chaos). make test runs the same with 3 cycles.
CHAOS_CYCLES ?= 20
.PHONY: chaos
chaos:
	$(GO) test -count=1 -run '^TestCrashLoop$$' -v -timeout 30m ./bench/chaos -args -chaos.cycles=$(CHAOS_CYCLES)

# Cluster chaos (~CHAOS_CLUSTER_DURATION + 2 min): three brokers under
# idempotent acks=all producers and a consumer group through a seeded
# schedule of faults, one every ~5 s (kill -9, SIGSTOP and SIGTERM of a
# node or of the controller, a broker back with an empty log, a node or
# the controller isolated, a one-way cut, a frozen node, a power loss of
# one node, a node's wall clock jumped seconds to hours), then healed, drained and checked: 0 lost, 0 duplicated, 0
# divergent. The seed is printed first; CLUSTERTEST_SEED=<seed> replays
# the same plan (see internal/clustertest/schedule.go). make test runs
# 60 s of it.
CHAOS_CLUSTER_DURATION ?= 10m
.PHONY: chaos-cluster
chaos-cluster:
	CLUSTERTEST_CHAOS_DURATION=$(CHAOS_CLUSTER_DURATION) $(GO) test -count=1 -tags cluster -run '^TestClusterChaosLosesNothing$$' -v -timeout 40m ./internal/clustertest/

# franz-go's own kgo integration suite (go test ./pkg/kgo/... of the
# franz-go version in go.mod, copied out of the module cache) against the
# built broker on free loopback ports with a temp data dir, ~1-2 min on
# two cores; not part of make test. One broker with KGO_TEST_RF=1 by
# default; KGO_SUITE_CLUSTER=1 starts three nodes on 127.0.0.2-4 through
# scripts/cluster.sh and runs it with KGO_TEST_RF=3. TestTxnEtl is skipped
# (no transactions). KGO_SUITE_TIMEOUT (10m), KGO_SUITE_RUN, KGO_SUITE_SKIP,
# KGO_TEST_RECORDS (500000): see scripts/kgo-suite.sh and README
# "Client compatibility: franz-go's kgo suite".
.PHONY: kgo-suite
kgo-suite: build
	./scripts/kgo-suite.sh ./$(BIN)

clean:
	rm -rf bin
