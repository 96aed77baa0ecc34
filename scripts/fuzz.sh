#!/usr/bin/env bash
# Runs every Go fuzz target in the repo for the given time each (default 3s).
# Usage: scripts/fuzz.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-3s}"
go="${GO:-go}"
# Fuzz inputs that open logs fsync a lot; on a RAM-backed TMPDIR the
# fuzzer spends its time fuzzing instead of waiting on the disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
found=0
while IFS=: read -r file _ line; do
	name="$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")"
	pkg="./$(dirname "${file#./}")"
	found=$((found + 1))
	echo "fuzz $pkg $name ($fuzztime)"
	# Go's fuzzer can end a run with a bare "context deadline exceeded"
	# when -fuzztime expires while a worker is busy with a slow input; no
	# failing input is written then, nothing was found, and the target is
	# run once more. A real failure always writes its input to testdata.
	for try in 1 2; do
		out="$(mktemp)"
		if "$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"; then
			rm -f "$out"
			break
		fi
		if [ "$try" -eq 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			echo "fuzz.sh: $name stopped at its deadline without a failing input; running it again"
			rm -f "$out"
			continue
		fi
		rm -f "$out"
		exit 1
	done
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
if [ "$found" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz.sh: $found targets clean"
