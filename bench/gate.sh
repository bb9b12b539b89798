#!/usr/bin/env bash
# Micro-benchmark regression gate: a short in-process BenchmarkDotNet job (~2-3 minutes on 2 cores),
# compared with perf-baselines/microbench-baseline.json by bench/compare/compare.py.
#   bench/gate.sh            compare; exit 1 on regression
#   bench/gate.sh --update   rewrite the baseline from this run (commit it with the change that explains it)
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
dotnet "$ARTIFACTS/bin/FastProxy.Benchmarks/release/FastProxy.Benchmarks.dll" \
  --filter "${FILTER:-*}" --job short --inProcess --iterationTime 250 --exporters json \
  --artifacts "$RESULTS" >"$RESULTS/run.log" 2>&1 || { tail -40 "$RESULTS/run.log"; exit 1; }
python3 "$ROOT/bench/compare/compare.py" "$RESULTS" "$ROOT/perf-baselines/microbench-baseline.json" "$@"
