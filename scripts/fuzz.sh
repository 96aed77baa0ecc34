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
	"$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
if [ "$found" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz.sh: $found targets clean"
