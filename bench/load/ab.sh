#!/usr/bin/env bash
# A/B of FastProxy builds or settings by proxy CPU time per request (perf stat task-clock) and
# context switches per request, interleaved: round 1 runs every variant once, then round 2, ... so
# that a noisy neighbour falls on all variants alike. Medians over the rounds; the first variant is
# the reference of the ratio column.
#
#   bench/load/ab.sh 'before=/tmp/old/fastproxy' 'after=/tmp/new/fastproxy' \
#                    'after-threadpool=/tmp/new/fastproxy IO_COMPLETIONS=threadpool'
#
#   A variant's UPSTREAM=plain|tls-h2|tls-h1 is passed to profile.sh (how the proxy reaches the
#   sink), so one run can compare FastProxy over an h2 TLS target with nginx over HTTP/1.1 TLS.
#
#   ROUNDS=3
#   SCENARIOS="h1-post-12k h1-post-49k h2c-post-12k h1-get-1m h2c-get-1m"   (see profile.sh)
#   REQUESTS=40000   per measured run; 1 MiB scenarios use a tenth
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-h1-post-12k h1-post-49k h2c-post-12k h1-get-1m h2c-get-1m}
REQUESTS=${REQUESTS:-40000}
[[ $# -ge 1 ]] || { echo "usage: ab.sh 'name=BIN [VAR=value ...]' ..." >&2; exit 2; }

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    n=$REQUESTS
    [[ $scenario == *-1m ]] && n=$((REQUESTS / 10))
    for variant in "$@"; do
      name=${variant%%=*}
      read -r bin settings <<< "${variant#*=}"
      # UPSTREAM=... among a variant's settings is profile.sh's (how the sink is reached), not the proxy's.
      upstream=$(sed -nE 's/^(.* )?UPSTREAM=([^ ]+).*/\2/p' <<< "${settings:-}")
      settings=$(sed -E 's/(^| )UPSTREAM=[^ ]+//' <<< "${settings:-}")
      out=$(UPSTREAM="${upstream:-${UPSTREAM:-plain}}" PROXY_ENV="${settings:-}" MODE=cpu "$ROOT/bench/load/profile.sh" "$bin" "$scenario" "$n" 2>&1) || { echo "$out" >&2; exit 1; }
      # "proxy CPU 1.59 s, 39.8 us per request, ..., 0.69 context switches per request" / "peak RSS 45.9 MB"
      us=$(sed -nE 's/.*, ([0-9.]+) us per request.*/\1/p' <<< "$out")
      cs=$(sed -nE 's/.*, ([0-9.]+) context switches per request.*/\1/p' <<< "$out")
      rss=$(sed -nE 's/.*peak RSS ([0-9.]+) MB.*/\1/p' <<< "$out")
      failed=$(sed -nE 's/.* ([0-9]+) failed, ([0-9]+) errored, ([0-9]+) timeout.*/\1+\2+\3/p' <<< "$out")
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$name" "$us" "$cs" "$rss" "$((failed))" >> "$RESULTS"
      printf '[round %s] %-14s %-20s %8s us/request %6s switches/request %6s MB\n' "$round" "$scenario" "$name" "$us" "$cs" "$rss" >&2
    done
  done
done

python3 - "$RESULTS" "$@" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
names = [v.split("=", 1)[0] for v in sys.argv[2:]]
scenarios = list(dict.fromkeys(r[0] for r in rows))
print(f"| scenario | variant | CPU µs per request (median) | ÷ {names[0]} | requests per CPU-second | context switches per request | peak RSS MB | failed |")
print("|---|---|---|---|---|---|---|---|")
for s in scenarios:
    ref = None
    for n in names:
        mine = [r for r in rows if r[0] == s and r[1] == n]
        us = statistics.median(float(r[2]) for r in mine)
        cs = statistics.median(float(r[3]) for r in mine)
        rss = statistics.median(float(r[4]) for r in mine)
        failed = sum(int(r[5]) for r in mine)
        ref = ref or us
        spread = f"{min(float(r[2]) for r in mine):.1f}–{max(float(r[2]) for r in mine):.1f}"
        print(f"| {s} | {n} | {us:.1f} ({spread}) | {us / ref:.2f} | {1e6 / us:,.0f} | {cs:.2f} | {rss:.1f} | {failed} |")
EOF
