#!/usr/bin/env bash
# Starts a three-node Tributary cluster for development: node N on
# 127.0.0.(N+1), Kafka clients on :9092, the controller (etcd peers) on
# :9093 (etcd clients on :9094, derived), metrics on :9644, data in
# $CLUSTER_DATA/N. Prints each node's PID and how to stop them; Ctrl-C
# (or SIGTERM) stops all three and waits for them. If one node exits, the
# others are stopped too. All of 127.0.0.0/8 is loopback on Linux; on
# macOS add the aliases first (sudo ifconfig lo0 alias 127.0.0.2 up, ...).
#
#   scripts/cluster.sh [bin/tributary]     (make cluster builds it first)
set -u

BIN=${1:-bin/tributary}
DATA=${CLUSTER_DATA:-./data-cluster}
VOTERS=1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093

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
	"$BIN" serve --node-id "$n" --data-dir "$DATA/$n" --listen "$host:9092" --metrics-listen "$host:9644" \
		--controller-listen "$host:9093" --controller-quorum-voters "$VOTERS" &
	pids+=($!)
	echo "cluster: node $n on $host:9092 (controller $host:9093, metrics $host:9644, data $DATA/$n): pid $!"
done
echo "cluster: stop with Ctrl-C, or: kill ${pids[*]}"

# Wait until any node exits, then stop the rest: a cluster that lost a
# node at start (a port taken, a bad setting) should not look running.
wait -n "${pids[@]}"
rc=$?
echo "cluster: a node exited with status $rc"
stop
exit "$rc"
