#!/usr/bin/env bash
# Runs franz-go's own kgo integration suite (go test ./pkg/kgo/... of the
# franz-go version in go.mod) against the built broker, as franz-go's CI
# runs it against Kafka, Redpanda and kfake.
#
#   scripts/kgo-suite.sh [bin/tributary]       (make kgo-suite builds it first)
#
# It copies franz-go's source out of the module cache (read-only there)
# into a temp dir, starts `tributary serve` on free loopback ports with a
# temp data dir, runs the suite with KGO_SEEDS pointing at the broker,
# stops the broker(s) by PID whatever happens, prints one line per test
# and a summary, and exits with go test's status (non-zero on failure).
#
# Single broker (default): PLAINTEXT and SASL_PLAINTEXT listeners on
# 127.0.0.1, a SCRAM-SHA-256 user made offline and unsigned OAUTHBEARER
# tokens accepted, so franz-go's SCRAM and OAUTHBEARER tests run too;
# KGO_TEST_RF=1.
# KGO_SUITE_CLUSTER=1: three nodes on 127.0.0.2-4 started by
# scripts/cluster.sh (issue 14's serve flags) on free ports;
# KGO_TEST_RF=3; the SASL tests skip (no SASL listener).
#
# Settings (environment):
#   KGO_SUITE_CLUSTER  1: the three-node cluster (default 0: one broker)
#   KGO_SUITE_TIMEOUT  go test -timeout (default 10m)
#   KGO_SUITE_RUN      go test -run (default: every test)
#   KGO_SUITE_SKIP     go test -skip (default ^TestTxnEtl$: transactions
#                      are not served and the suite has no switch for them)
#   KGO_SUITE_KEEP     1: keep the temp dir (copy, data, logs) even on success
#   KGO_TEST_RF        replication factor of the suite's topics (1, or 3
#                      with KGO_SUITE_CLUSTER=1)
#   KGO_TEST_RECORDS   records of the ETL tests (default 500000, franz-go's)
#   KGO_LOG_LEVEL      the suite's client log level (default info)
#   any other KGO_TEST_* (KGO_TEST_CHAOS, KGO_TEST_MAX_TOPIC_PARTS, ...)
#   is passed through to the suite.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=$(realpath "${1:-bin/tributary}") || exit 2
if [ ! -x "$BIN" ]; then
	echo "kgo-suite: $BIN is not an executable (make build)" >&2
	exit 2
fi
CLUSTER=${KGO_SUITE_CLUSTER:-0}
TIMEOUT=${KGO_SUITE_TIMEOUT:-10m}
RUN=${KGO_SUITE_RUN:-.}
SKIP=${KGO_SUITE_SKIP:-^TestTxnEtl\$}
if [ "$CLUSTER" = 1 ]; then
	export KGO_TEST_RF=${KGO_TEST_RF:-3}
else
	export KGO_TEST_RF=${KGO_TEST_RF:-1}
fi
export KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-500000}
export KGO_LOG_LEVEL=${KGO_LOG_LEVEL:-info}
# Settings every broker gets: no initial rebalance delay for new groups,
# as Kafka's shipped server.properties and its test images set, so the
# suite's many short-lived groups do not each wait 3 s.
SERVE_ARGS=(--set group.initial.rebalance.delay.ms=0)

# franz-go at the version go.mod requires, copied out of the module cache.
version=$("$GO" list -m -f '{{.Version}}' github.com/twmb/franz-go) || exit 2
src=$("$GO" mod download -json "github.com/twmb/franz-go@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [ -z "$src" ] || [ ! -d "$src" ]; then
	echo "kgo-suite: go mod download gave no source dir for github.com/twmb/franz-go@$version" >&2
	exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kgo-suite.XXXXXX") || exit 2
cp -R "$src" "$work/franz-go" && chmod -R u+w "$work/franz-go" || exit 2

# The broker processes: started below, stopped by PID on any exit.
broker_pids=()
cluster_pid=
test_pid=
rc=2
stop_brokers() {
	if [ -n "$cluster_pid" ]; then
		# cluster.sh stops its nodes on SIGTERM and waits for them.
		kill -TERM "$cluster_pid" 2>/dev/null
	fi
	for pid in "${broker_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	# A cluster node's controlled shutdown moves its leaderships away and
	# drains its connections first (about 10 s here), so allow a minute.
	local deadline=$((SECONDS + 60)) alive
	while :; do
		alive=()
		for pid in $cluster_pid "${broker_pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive+=("$pid")
		done
		[ ${#alive[@]} -eq 0 ] && break
		if [ $SECONDS -ge $deadline ]; then
			echo "kgo-suite: ${alive[*]} still running 60 s after SIGTERM; SIGKILL" >&2
			kill -KILL "${alive[@]}" 2>/dev/null
			break
		fi
		sleep 0.2
	done
	wait 2>/dev/null
}
finish() {
	trap - EXIT INT TERM
	if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
		echo "kgo-suite: stopping go test (process group $test_pid)" >&2
		kill -TERM -- "-$test_pid" 2>/dev/null
		sleep 2
		kill -KILL -- "-$test_pid" 2>/dev/null
	fi
	stop_brokers
	if [ "${KGO_SUITE_KEEP:-0}" = 1 ]; then
		echo "kgo-suite: franz-go copy, data and logs in $work"
	elif [ "$rc" -eq 0 ]; then
		rm -rf "$work"
	else
		rm -rf "$work/franz-go" "$work/data"
		echo "kgo-suite: logs in $work"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'rc=130; exit' INT
trap 'rc=143; exit' TERM

# port_free HOST PORT: nothing accepts connections there.
port_free() {
	! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

start_single() {
	mkdir -p "$work/data"
	printf 'testpass\n' | "$BIN" user create testuser --mechanism SCRAM-SHA-256 --password-stdin \
		--data-dir "$work/data" >/dev/null || return 1
	"$BIN" serve --data-dir "$work/data" --metrics-listen '' \
		--set listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0 \
		--set sasl.enabled.mechanisms=SCRAM-SHA-256,OAUTHBEARER \
		--set sasl.oauthbearer.insecure.unsigned.tokens.enable=true \
		"${SERVE_ARGS[@]}" >"$work/broker.log" 2>&1 &
	broker_pids+=($!)
	# Port 0: the broker names its ports in its "serving" line.
	local deadline=$((SECONDS + 30)) line
	while :; do
		line=$(grep -m1 'serving Kafka clients' "$work/broker.log")
		[ -n "$line" ] && break
		if ! kill -0 "${broker_pids[0]}" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			echo "kgo-suite: the broker did not start:" >&2
			tail -20 "$work/broker.log" >&2
			return 1
		fi
		sleep 0.1
	done
	local plain sasl
	plain=$(sed -n 's/.* listen=\([0-9.]*:[0-9]*\) .*/\1/p' <<<"$line")
	sasl=$(sed -n 's/.*SASL_PLAINTEXT:\/\/\([0-9.]*:[0-9]*\).*/\1/p' <<<"$line")
	if [ -z "$plain" ] || [ -z "$sasl" ]; then
		echo "kgo-suite: no listener addresses in: $line" >&2
		return 1
	fi
	export KGO_SEEDS=$plain
	export KGO_TEST_SCRAM_SEEDS=$sasl KGO_TEST_SCRAM=testuser:testpass:256 KGO_TEST_OAUTH_SEEDS=$sasl
	echo "kgo-suite: broker pid ${broker_pids[0]} on $plain (SASL_PLAINTEXT $sasl), data in $work/data"
}

start_cluster() {
	# Four consecutive ports free on 127.0.0.2-4: Kafka, controller (etcd
	# peers), etcd clients (controller + 1, derived by serve), metrics.
	local base= try p h ok
	for try in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		ok=1
		for h in 127.0.0.2 127.0.0.3 127.0.0.4; do
			for port in $p $((p + 1)) $((p + 2)) $((p + 3)); do
				port_free "$h" "$port" || ok=0
			done
		done
		if [ "$ok" = 1 ]; then
			base=$p
			break
		fi
	done
	if [ -z "$base" ]; then
		echo "kgo-suite: found no four free consecutive ports on 127.0.0.2-4" >&2
		return 1
	fi
	CLUSTER_DATA=$work/data CLUSTER_KAFKA_PORT=$base CLUSTER_CONTROLLER_PORT=$((base + 1)) \
		CLUSTER_METRICS_PORT=$((base + 3)) ./scripts/cluster.sh "$BIN" "${SERVE_ARGS[@]}" \
		>"$work/cluster.log" 2>&1 &
	cluster_pid=$!
	# cluster.sh prints each node's PID before anything else can fail.
	local deadline=$((SECONDS + 10))
	while [ "$(grep -c ': pid [0-9]*$' "$work/cluster.log")" -lt 3 ] && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	mapfile -t broker_pids < <(sed -n 's/.*: pid \([0-9]*\)$/\1/p' "$work/cluster.log")
	export KGO_SEEDS=127.0.0.2:$base,127.0.0.3:$base,127.0.0.4:$base
	echo "kgo-suite: cluster.sh pid $cluster_pid, nodes ${broker_pids[*]} on $KGO_SEEDS, data in $work/data"
	# Ready once a topic with three replicas can be created: every node
	# registered and the metadata quorum up.
	deadline=$((SECONDS + 120))
	until "$BIN" topic create kgo-suite-ready --partitions 1 --replication-factor 3 -b "$KGO_SEEDS" \
		>"$work/ready.log" 2>&1; do
		if ! kill -0 "$cluster_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			echo "kgo-suite: the cluster did not become ready:" >&2
			cat "$work/ready.log" >&2
			tail -30 "$work/cluster.log" >&2
			return 1
		fi
		sleep 1
	done
	"$BIN" topic delete kgo-suite-ready -b "$KGO_SEEDS" >/dev/null
}

if [ "$CLUSTER" = 1 ]; then
	start_cluster || exit
else
	start_single || exit
fi

echo "kgo-suite: franz-go $version, go test -run '$RUN' -skip '$SKIP' -timeout $TIMEOUT ./pkg/kgo/..." \
	"(KGO_TEST_RF=$KGO_TEST_RF KGO_TEST_RECORDS=$KGO_TEST_RECORDS)"
start=$SECONDS
# go test in a process group of its own (setsid), waited for in the
# background so that a signal to this script stops it, its test binaries
# and then the brokers at once. One line per top-level test as it ends;
# the whole output in go-test.log.
: >"$work/go-test.log"
(cd "$work/franz-go" && exec setsid env GOWORK=off "$GO" test -count=1 -timeout "$TIMEOUT" \
	-run "$RUN" -skip "$SKIP" -v ./pkg/kgo/...) >"$work/go-test.log" 2>&1 &
test_pid=$!
tail -n +1 -f --pid="$test_pid" "$work/go-test.log" |
	grep --line-buffered -E '^(--- (PASS|FAIL|SKIP)|(ok|FAIL)[[:space:]]|panic:)' &
show_pid=$!
wait "$test_pid"
rc=$?
test_pid=
wait "$show_pid"
took=$((SECONDS - start))

pass=$(grep -c '^--- PASS' "$work/go-test.log")
fail=$(grep -c '^--- FAIL' "$work/go-test.log")
skip=$(grep -c '^--- SKIP' "$work/go-test.log")
echo "kgo-suite: $pass passed, $fail failed, $skip skipped top-level tests in ${took}s; go test exit $rc"
if [ "$fail" -gt 0 ]; then
	echo "kgo-suite: failed: $(sed -n 's/^--- FAIL: \([^ ]*\).*/\1/p' "$work/go-test.log" | tr '\n' ' ')"
fi
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	tail -30 "$work/go-test.log"
fi
