#!/usr/bin/env bash
# run.sh runs the benchmark suite and summarizes it.
#
#   ./run.sh [count]          # default 8: twice the four orders of env.order
#
# First it runs TestScenariosAgree and TestFolioCountsMatchReport, and stops
# if an implementation's results differ. Every benchmark runs count times. The runs are made as count rounds of
# the whole suite (go test -count 1 each), not as go test -count N, which
# would repeat each benchmark N times in a row: on a machine whose load
# changes, rounds spread a change over all four implementations instead of
# charging it to whichever one was running. Each round starts its own
# throwaway PostgreSQL server (fsync and synchronous_commit on).
#
# Writes, under out/:
#   bench.txt      the raw go test output of all rounds (what benchstat reads)
#   benchstat.txt  benchstat with the implementations side by side, pgx first
#   table.md       the tables of BENCHMARKS.md (go run ./cmd/benchtable)
#   machine.txt    folio revision, Go version, CPU, load before and after
#
# Environment:
#   BENCHTIME           -benchtime per benchmark (default 2s)
#   BENCH               -bench pattern (default: all)
#   BENCH_DATABASE_URL  use this database instead of a throwaway server;
#                       the suite empties its tables over and over
set -euo pipefail
cd "$(dirname "$0")"

count="${1:-8}"
benchtime="${BENCHTIME:-2s}"
pattern="${BENCH:-.}"

mkdir -p out
go test -c -o out/bench.test .
# Nothing is timed before the four implementations are shown to agree on
# every scenario's results (and folio's counts on its own report).
echo "run.sh: checking that the implementations agree" >&2
./out/bench.test -test.run '^(TestScenariosAgree|TestFolioCountsMatchReport)$' -test.count 1 -test.timeout 30m
{
	echo "folio: $(git -C .. describe --always --dirty 2>/dev/null || echo unknown)"
	go version
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > out/machine.txt

: > out/bench.txt
for i in $(seq 1 "$count"); do
	load="round $i of $count, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "run.sh: $load" >&2
	echo "$load" >> out/machine.txt
	# Each round runs the implementations in another order (see env.order):
	# over four rounds, each runs first once and after each other once.
	BENCH_ROUND="$i" ./out/bench.test -test.run '^$' -test.bench "$pattern" -test.benchmem \
		-test.count 1 -test.benchtime "$benchtime" -test.timeout 60m | tee -a out/bench.txt
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> out/machine.txt

go tool benchstat -col '/impl@(pgx folio gorm bun)' out/bench.txt | tee out/benchstat.txt
go run ./cmd/benchtable out/bench.txt > out/table.md
echo "run.sh: wrote out/bench.txt, out/benchstat.txt, out/table.md" >&2
