#!/usr/bin/env bash
# Micro-benchmark regression gate: a short in-process BenchmarkDotNet job (~2-3 minutes on 2 cores),
# compared with perf-baselines/microbench-baseline.json by bench/compare/compare.py.
#   bench/gate.sh            compare; exit 1 on regression
#   bench/gate.sh --update   rewrite the baseline from this run (commit it with the change that explains it)
#   FILTER='*Telemetry*' bench/gate.sh --update   move only the benchmarks a change moved; the others
#                            keep their baseline (the reference benchmark always runs, for the ratios)
# Environment: ARTIFACTS (dotnet --artifacts-path, default /tmp/art-bench), TIME_MARGIN (0.25),
# ALLOC_SLACK_BYTES (8), ALLOC_SLACK_PERCENT (1), FILTER (default '*'), NO_BUILD=1 (use the last build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARTIFACTS=${ARTIFACTS:-/tmp/art-bench}
RESULTS=$(mktemp -d /tmp/fastproxy-gate.XXXXXX)
trap 'rm -rf "$RESULTS"' EXIT
cd "$ROOT"
[[ "${NO_BUILD:-0}" == 1 ]] || dotnet build bench/FastProxy.Benchmarks -c Release --artifacts-path "$ARTIFACTS" -v q -nologo
# Short job: 1 launch, 3 warm-up and 3 measured iterations of ~250 ms, in-process (no per-benchmark
# project generation, which alone would take minutes on 2 cores).
run_benchmarks() { # OUT_DIR FILTER...
  local out=$1; shift
  dotnet "$ARTIFACTS/bin/FastProxy.Benchmarks/release/FastProxy.Benchmarks.dll" \
    --filter "$@" --job short --inProcess --iterationTime 250 --exporters json \
    --artifacts "$out" >"$out/run.log" 2>&1 || { tail -40 "$out/run.log"; exit 1; }
}
if [[ -n "${FILTER:-}" ]]; then
  run_benchmarks "$RESULTS" "$FILTER" "*ReferenceBenchmarks.Fnv1a16K*"
else
  run_benchmarks "$RESULTS" "*"
fi
BASELINE=$ROOT/perf-baselines/microbench-baseline.json
if [[ "${1:-}" == --update ]]; then
  # With FILTER, the measured benchmarks replace their entries and the rest stay as they were.
  exec python3 "$ROOT/bench/compare/compare.py" "$RESULTS" "$BASELINE" "$@" ${FILTER:+--merge}
fi
SUSPECTS="$RESULTS/suspects" python3 "$ROOT/bench/compare/compare.py" "$RESULTS" "$BASELINE" && exit 0
# A regression is measured once more before it fails the gate: those benchmarks run again, with the
# reference, and the gate fails when the same limit is exceeded again. A real regression repeats.
# On a shared machine one short run can be slow by chance; and allocation, though deterministic in
# the code measured, is what the process allocated during the measurement, pooled buffers
# included (trimmed by the pool, rented anew): one CI run measured 489 B/op for a benchmark whose
# baseline and every other run had 480-483 (perf-baselines/CHANGES.md, round 8).
[[ -s "$RESULTS/suspects" ]] || exit 1
mkdir -p "$RESULTS/again"
filters=("*ReferenceBenchmarks.Fnv1a16K*")
while read -r name; do filters+=("*${name%%(*}*"); done < "$RESULTS/suspects"
echo "gate: measuring the regressions again: $(tr '\n' ' ' < "$RESULTS/suspects")"
run_benchmarks "$RESULTS/again" "${filters[@]}"
ONLY="$RESULTS/suspects" python3 "$ROOT/bench/compare/compare.py" "$RESULTS/again" "$BASELINE"
