#!/bin/sh
# Runs BenchmarkE2E ROUNDS times, each round in a fresh process of one test
# binary built once, so that on a noisy machine the two brokers alternate
# (within a round, each workload runs on Tributary then on kfake) instead of
# one broker taking three runs in a row as with -count 3. Results are
# appended to OUT; with benchstat on the PATH
# (go install golang.org/x/perf/cmd/benchstat@latest) they are summarised as
# medians with Tributary's change relative to kfake.
#
#	ROUNDS=7 OUT=/tmp/e2e.txt bench/e2e.sh
#	BENCH='E2E/.*/workload=produce-100B' ROUNDS=3 bench/e2e.sh
#
# TRIBUTARY_BENCH_CPUPROFILE=dir is passed through (see e2e_bench_test.go).
set -eu
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-e2e.txt}
BENCH=${BENCH:-E2E}
GO=${GO:-go}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
$GO test -c -o "$bin/bench.test" .
i=1
while [ "$i" -le "$ROUNDS" ]; do
	echo "# round $i of $ROUNDS, $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
	"$bin/bench.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime 1x -test.count 1 -test.timeout 30m | tee -a "$OUT"
	i=$((i + 1))
done
if command -v benchstat >/dev/null 2>&1; then
	benchstat -col '/broker@(kfake tributary)' "$OUT"
fi
