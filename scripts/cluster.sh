#!/usr/bin/env bash
# Starts a three-node Tributary cluster for development: node N on
# 127.0.0.(N+1), Kafka clients on :9092, the controller (etcd peers) on
# :9093 (etcd clients on :9094, derived), metrics on :9644, data in
# $CLUSTER_DATA/N. Prints each node's PID and how to stop them; Ctrl-C
# (or SIGTERM) stops all three and waits for them. If one node exits, the
# others are stopped too. All of 127.0.0.0/8 is loopback on Linux; on
# macOS add the aliases first (sudo ifconfig lo0 alias 127.0.0.2 up, ...).
#
#   scripts/cluster.sh [bin/tributary [serve flags for every node...]]
#                                          (make cluster builds it first)
#
# CLUSTER_KAFKA_PORT, CLUSTER_CONTROLLER_PORT (etcd clients on the next
# port) and CLUSTER_METRICS_PORT move the ports off 9092, 9093 and 9644,
# so that a test run (scripts/kgo-suite.sh) does not meet a development
# cluster.
set -u

BIN=${1:-bin/tributary}
shift $(($# > 0 ? 1 : 0))
EXTRA=("$@")
DATA=${CLUSTER_DATA:-./data-cluster}
KAFKA_PORT=${CLUSTER_KAFKA_PORT:-9092}
CONTROLLER_PORT=${CLUSTER_CONTROLLER_PORT:-9093}
METRICS_PORT=${CLUSTER_METRICS_PORT:-9644}
VOTERS=1@127.0.0.2:$CONTROLLER_PORT,2@127.0.0.3:$CONTROLLER_PORT,3@127.0.0.4:$CONTROLLER_PORT

pids=()
stop() {
	trap - INT TERM
	echo "cluster: stopping ${pids[*]}"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	echo "cluster: stopped"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

for n in 1 2 3; do
	host=127.0.0.$((n + 1))
	mkdir -p "$DATA/$n"
	"$BIN" serve --node-id "$n" --data-dir "$DATA/$n" --listen "$host:$KAFKA_PORT" --metrics-listen "$host:$METRICS_PORT" \
		--controller-listen "$host:$CONTROLLER_PORT" --controller-quorum-voters "$VOTERS" "${EXTRA[@]}" &
	pids+=($!)
	echo "cluster: node $n on $host:$KAFKA_PORT (controller $host:$CONTROLLER_PORT, metrics $host:$METRICS_PORT, data $DATA/$n): pid $!"
done
echo "cluster: stop with Ctrl-C, or: kill ${pids[*]}"

# Wait until any node exits, then stop the rest: a cluster that lost a
# node at start (a port taken, a bad setting) should not look running.
wait -n "${pids[@]}"
rc=$?
echo "cluster: a node exited with status $rc"
stop
exit "$rc"
