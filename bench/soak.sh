#!/usr/bin/env bash
# Soak: FastProxy (native AOT) under steady HTTP/1.1 and h2c load for minutes, sampling its RSS,
# open file descriptors, threads and TCP connections; fails when they keep growing.
# Not part of the default test run. Bounded: SOAK_SECONDS + WARMUP_SECONDS (+ publish).
#
#   bench/soak.sh                                   # 3 minutes
#   SOAK_SECONDS=120 OUT=perf-baselines/soak-report.md bench/soak.sh
#
# Verdict: the samples are split into thirds; for each figure the median of the last third is
# compared with the median of the first third. It fails (exit 1) when
#   RSS          grows by more than max(RSS_TOLERANCE_MB=10 MB, RSS_TOLERANCE_PCT=15 %)
#   descriptors  grow by more than FD_TOLERANCE=8
#   threads      grow by more than THREAD_TOLERANCE=4
#   TCP sockets  grow by more than TCP_TOLERANCE=8
# or when any request failed (errors, timeouts, non-2xx). Medians, not single samples, so that one
# noisy sample on a shared machine does not decide; the warm-up (heap and pools growing to their
# working size) is not sampled.
#
# Environment (all optional):
#   SOAK_SECONDS=180     measured load time
#   WARMUP_SECONDS=15    load before the first sample
#   SAMPLE_SECONDS=5     sampling period
#   SEGMENT_SECONDS=20   each h2load run's length: connections are closed and reopened between
#                        runs, so leaked connections or descriptors accumulate and show
#   RPS=800              total requests/s, half HTTP/1.1 (16 connections), half h2c (4 connections x 4 streams)
#   FASTPROXY_BIN=       use this AOT binary instead of publishing one
#   ARTIFACTS=/tmp/art-bench   dotnet --artifacts-path for the publish
#   WORK=/tmp/fastproxy-soak   scratch directory (h2load output, logs)
#   OUT=                 also write the report (markdown) to this file
#   SINK_PORT=19380 FP_PORT=19390 FP_H2C=19391   loopback ports (must be free)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOAK_SECONDS=${SOAK_SECONDS:-180}
WARMUP_SECONDS=${WARMUP_SECONDS:-15}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-5}
SEGMENT_SECONDS=${SEGMENT_SECONDS:-20}
RPS=${RPS:-800}
RSS_TOLERANCE_MB=${RSS_TOLERANCE_MB:-10}
RSS_TOLERANCE_PCT=${RSS_TOLERANCE_PCT:-15}
FD_TOLERANCE=${FD_TOLERANCE:-8}
THREAD_TOLERANCE=${THREAD_TOLERANCE:-4}
TCP_TOLERANCE=${TCP_TOLERANCE:-8}
ARTIFACTS=${ARTIFACTS:-/tmp/art-bench}
WORK=${WORK:-/tmp/fastproxy-soak}
OUT=${OUT:-}

# Apart from bench/load/run.sh's ports; checked free before anything starts.
SINK_PORT=${SINK_PORT:-19380}
FP_PORT=${FP_PORT:-19390}
FP_H2C=${FP_H2C:-19391}
BODY=$ROOT/testdata/remote-write/prometheus-2.42/batch-12826.snappy

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

PIDS=()
cleanup() {
  # The load loops' h2load children first (by parent id), then everything started here.
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] || continue
    pkill -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v cc >/dev/null || need+=(gcc)
command -v ss >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

for port in $SINK_PORT $FP_PORT $FP_H2C; do
  if ss -tanlH "sport = :$port" | grep -q .; then
    echo "port $port is taken (set SINK_PORT, FP_PORT, FP_H2C to free ones)" >&2; exit 2
  fi
done

rm -rf "$WORK"; mkdir -p "$WORK/h2load"
cc -O2 -o "$WORK/sink" "$ROOT/bench/load/sink.c"

if [[ -z "${FASTPROXY_BIN:-}" ]]; then
  log "publishing FastProxy (native AOT) into $ARTIFACTS"
  dotnet publish "$ROOT/src/FastProxy" -c Release -r linux-x64 --artifacts-path "$ARTIFACTS" -v q -nologo >"$WORK/publish.log" 2>&1 \
    || { cat "$WORK/publish.log"; exit 1; }
  FASTPROXY_BIN=$ARTIFACTS/publish/FastProxy/release_linux-x64/fastproxy
fi

wait_http() { # url: bounded (10 s)
  for _ in $(seq 1 500); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" == 200 ]] && return 0
    sleep 0.02
  done
  log "timeout waiting for $1"; return 1
}

"$WORK/sink" "$SINK_PORT" 2>"$WORK/sink.log" & PIDS+=($!)
wait_http "http://127.0.0.1:$SINK_PORT/big?bytes=1"

# The sink also plays IMDS, so the real ManagedIdentityCredential runs (its token lasts an hour).
env AZURE_POD_IDENTITY_AUTHORITY_HOST="http://127.0.0.1:$SINK_PORT" IDENTITY_TYPE=systemassigned \
  TARGET_HOST="http://127.0.0.1:$SINK_PORT" LISTENING_PORT="$FP_PORT" H2C_PORT="$FP_H2C" LISTEN_ADDRESS=127.0.0.1 \
  LOG_LEVEL=Warning "$FASTPROXY_BIN" > "$WORK/fastproxy.log" 2>&1 &
FP_PID=$!; PIDS+=("$FP_PID")
wait_http "http://127.0.0.1:$FP_PORT/ready"

# ---------------------------------------------------------------- load
END=$(( $(date +%s) + WARMUP_SECONDS + SOAK_SECONDS ))
H1_CLIENTS=16; H2_CLIENTS=4; H2_STREAMS=4
h1_rate=$(( (RPS / 2 + H1_CLIENTS - 1) / H1_CLIENTS ))
h2_rate=$(( (RPS / 2 + H2_CLIENTS - 1) / H2_CLIENTS ))
load_loop() { # name h2load-args...: segments until END
  local name=$1 n=0 left; shift
  while left=$(( END - $(date +%s) )); (( left > 0 )); do
    n=$((n + 1))
    h2load -D $(( left < SEGMENT_SECONDS ? left : SEGMENT_SECONDS )) "$@" \
      -d "$BODY" -H "content-type: application/x-protobuf" -H "content-encoding: snappy" \
      > "$WORK/h2load/$name-$n.txt" 2>&1 || true
  done
}
load_loop h1 --h1 -c $H1_CLIENTS --rps=$h1_rate "http://127.0.0.1:$FP_PORT/api/v1/write" & H1_LOOP=$!; PIDS+=($!)
load_loop h2c -c $H2_CLIENTS -m $H2_STREAMS --rps=$h2_rate "http://127.0.0.1:$FP_H2C/api/v1/write" & H2_LOOP=$!; PIDS+=($!)

# ---------------------------------------------------------------- samples
tcp_sockets() { # TCP sockets the proxy owns, listeners excluded
  ss -tanpH 2>/dev/null | awk -v pid="pid=$1," '$1 != "LISTEN" && index($0, pid) { n++ } END { print n + 0 }'
}
upstream_sockets() {
  ss -tanpH 2>/dev/null | awk -v pid="pid=$1," -v peer=":$SINK_PORT" '$1 == "ESTAB" && index($0, pid) && index($5, peer) { n++ } END { print n + 0 }'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

log "warm-up ${WARMUP_SECONDS}s at ${RPS} req/s (HTTP/1.1 + h2c), then ${SOAK_SECONDS}s sampled every ${SAMPLE_SECONDS}s"
sleep "$WARMUP_SECONDS"
SAMPLES=$WORK/samples.tsv
start=$(date +%s); hz=$(getconf CLK_TCK)
last_ticks=$(cpu_ticks "$FP_PID"); last_t=$(date +%s%N)
while (( $(date +%s) + SAMPLE_SECONDS < END )); do
  sleep "$SAMPLE_SECONDS"
  # Only samples taken under load: one after the last h2load run would show its connections gone.
  kill -0 "$FP_PID" 2>/dev/null || { log "FastProxy exited"; cat "$WORK/fastproxy.log" >&2; exit 1; }
  ticks=$(cpu_ticks "$FP_PID"); t=$(date +%s%N)
  cpu=$(( (ticks - last_ticks) * 100 * 1000000000 / hz / (t - last_t) ))
  last_ticks=$ticks; last_t=$t
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$(( $(date +%s) - start ))" \
    "$(awk '/VmRSS/{print $2}' "/proc/$FP_PID/status")" \
    "$(find "/proc/$FP_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
    "$(awk '/^Threads/{print $2}' "/proc/$FP_PID/status")" \
    "$(tcp_sockets "$FP_PID")" \
    "$(upstream_sockets "$FP_PID")" \
    "$cpu" >> "$SAMPLES"
done
wait "$H1_LOOP" "$H2_LOOP" 2>/dev/null || true

# ---------------------------------------------------------------- report
totals=$(cat "$WORK"/h2load/*.txt | awk '
  /^requests:/ { done += $6; failed += $10; errored += $12; timeout += $14 }
  /^status codes:/ { ok += $3; non2xx += $5 + $7 + $9 }
  END { printf "%d %d %d %d %d %d", done, ok, failed, errored, timeout, non2xx }')
read -r done_requests ok_requests failed errored timeouts non2xx <<< "$totals"

report=$WORK/report.md
verdict=0
python3 - "$SAMPLES" "$report" <<EOF || verdict=$?
import statistics, sys
rows = [list(map(int, line.split())) for line in open(sys.argv[1]) if line.strip()]
if len(rows) < 3:
    sys.exit("too few samples: lengthen SOAK_SECONDS")
third = len(rows) // 3
first, last = rows[:third], rows[-third:]
def med(rs, i): return statistics.median(r[i] for r in rs)
figures = [  # name, column, allowed growth (absolute, in the column's unit)
    ("RSS (MB)", 1, lambda base: max($RSS_TOLERANCE_MB * 1024, base * $RSS_TOLERANCE_PCT / 100), 1024),
    ("file descriptors", 2, lambda base: $FD_TOLERANCE, 1),
    ("threads", 3, lambda base: $THREAD_TOLERANCE, 1),
    ("TCP sockets (not listening)", 4, lambda base: $TCP_TOLERANCE, 1),
]
out = []
out.append("| t (s) | RSS (MB) | fds | threads | TCP sockets | to upstream | CPU % |")
out.append("|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    out.append(f"| {r[0]} | {r[1] / 1024:.1f} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} |")
out.append("")
out.append(f"Median of the first third ({third} samples) against the last third ({third} samples):")
out.append("")
out.append("| figure | first third | last third | growth | allowed | verdict |")
out.append("|---|---:|---:|---:|---:|---|")
bad = 0
for name, col, allowed, unit in figures:
    a, b = med(first, col), med(last, col)
    limit = allowed(a)
    ok = b - a <= limit
    bad += not ok
    out.append(f"| {name} | {a / unit:.1f} | {b / unit:.1f} | {(b - a) / unit:+.1f} | {limit / unit:.1f} | {'flat' if ok else 'GROWING'} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
sys.exit(1 if bad else 0)
EOF
{
  echo "# FastProxy soak report"
  echo
  echo "\`bench/soak.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')),"
  echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg); native AOT binary $(stat -c %s "$FASTPROXY_BIN") bytes."
  echo "Load: ${RPS} req/s of the 12.8 KB Prometheus body, half HTTP/1.1 (${H1_CLIENTS} connections), half h2c"
  echo "(${H2_CLIENTS} connections × ${H2_STREAMS} streams), h2load runs of ${SEGMENT_SECONDS} s back to back (connections"
  echo "reopened between runs); ${WARMUP_SECONDS} s warm-up, then ${SOAK_SECONDS} s sampled every ${SAMPLE_SECONDS} s."
  echo
  echo "Requests: ${done_requests} done, ${ok_requests} 2xx, ${failed} failed, ${errored} errored, ${timeouts} timed out, ${non2xx} non-2xx."
  echo
  cat "$report"
} > "$WORK/full-report.md"
[[ -n "$OUT" ]] && cp "$WORK/full-report.md" "$OUT"
cat "$WORK/full-report.md"

if (( failed + errored + timeouts + non2xx > 0 )); then
  log "FAIL: requests failed"; exit 1
fi
if (( verdict != 0 )); then
  log "FAIL: a figure grew beyond its tolerance"; exit 1
fi
log "PASS: flat"
