#!/usr/bin/env bash
# Deterministic per-request figures for one FastProxy binary, for a shared (noisy) machine where
# wall-clock throughput means little: system calls per request (strace -c -f), proxy CPU time per
# request, peak RSS, and optionally a perf profile with the AOT symbols.
#
#   bench/load/profile.sh BIN [SCENARIO] [REQUESTS]
#     BIN        the AOT binary (its fastproxy.dbg beside it gives perf the symbols), the IL build
#                (fastproxy.dll, run on the JIT with the gen0 cap the binary has compiled in, and
#                in MODE=perf with a perf map so that perf names the JIT's code), or "nginx":
#                the harness's nginx peer (bench/load/nginx-conf.sh), measured on its one worker;
#                PROXY_ENV="NGINX_CONF=debian" picks another of its configurations
#     SCENARIO   h1-post-49k (default), h1-post-12k, h1-post-1m, h1-get-1m, h2c-post-12k,
#                h2c-post-49k, h2c-get-1m; h1-floor-12k and h2c-floor-12k post the 12.8 KB body
#                to /health, answered by the proxy itself: the cost of the server half alone
#                (nginx: HTTP/1.1 only; its HTTP/2 answer to an unread body resets the stream)
#     REQUESTS   fixed request count per measured run (default 5000)
#   MODE=strace (default) | cpu | perf   (perf: perf record -g on the proxy, report in $WORK, and
#                the CPU per request by layer: kernel, Kestrel, SocketsHttpHandler, GC, ...)
#   PERF_HZ=2000 (MODE=perf's sampling rate)
#   CLIENTS=32 (HTTP/1.1 connections; h2c uses 8 x 8 streams unless H2C="-c N -m M")
#   UPSTREAM=plain (default) | tls-h2 | tls-h1: the proxy reaches the sink over TLS, as production
#                reaches Azure Monitor, through a TLS-terminating HAProxy (one thread) in front of it
#                that offers h2 and http/1.1 (tls-h2) or http/1.1 only (tls-h1). FastProxy trusts its
#                self-signed certificate through SSL_CERT_FILE, nginx through proxy_ssl_trusted_certificate.
#   WORK=/tmp/fastproxy-profile
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:?usage: profile.sh BIN [SCENARIO] [REQUESTS]}
SCEN=${2:-h1-post-49k}
N=${3:-5000}
MODE=${MODE:-strace}
CLIENTS=${CLIENTS:-32}
H2C=${H2C:--c 8 -m 8}
WORK=${WORK:-/tmp/fastproxy-profile}
SINK_PORT=${SINK_PORT:-19080}
FP_PORT=${FP_PORT:-19100}
FP_H2C=${FP_H2C:-19101}
UPSTREAM=${UPSTREAM:-plain}
TLS_PORT=${TLS_PORT:-19443}
PERF_HZ=${PERF_HZ:-2000}

mkdir -p "$WORK"
[[ "$WORK/sink" -nt "$ROOT/bench/load/sink.c" ]] || cc -O2 -o "$WORK/sink" "$ROOT/bench/load/sink.c"
[[ -f "$WORK/body-1m.bin" ]] || head -c 1048576 /dev/urandom > "$WORK/body-1m.bin"
BODY12=$ROOT/testdata/remote-write/prometheus-2.42/batch-12826.snappy
BODY49=$ROOT/testdata/remote-write/prometheus-2.42/batch-49264.snappy

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_http() { local i; for i in $(seq 1 500); do [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" == 200 ]] && return 0; sleep 0.02; done; echo "timeout: $1" >&2; return 1; }

"$WORK/sink" "$SINK_PORT" 2>"$WORK/sink.log" & PIDS+=($!)
wait_http "http://127.0.0.1:$SINK_PORT/big?bytes=1"
TARGET=http://127.0.0.1:$SINK_PORT
TLS_ENV=()
case $UPSTREAM in
  plain) ;;
  tls-h2|tls-h1)
    command -v haproxy > /dev/null || { echo "UPSTREAM=$UPSTREAM needs haproxy (apt-get install -y haproxy)" >&2; exit 2; }
    mkdir -p "$WORK/tls"
    if [[ ! -f $WORK/tls/combined.pem ]]; then
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2> /dev/null
      cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" > "$WORK/tls/combined.pem"
    fi
    alpn=h2,http/1.1
    [[ $UPSTREAM == tls-h1 ]] && alpn=http/1.1
    printf '%s\n' 'global' '  nbthread 1' '  maxconn 4096' 'defaults' '  mode http' '  timeout connect 5s' \
      '  timeout client 300s' '  timeout server 300s' '  http-reuse always' 'frontend tls' \
      "  bind 127.0.0.1:$TLS_PORT ssl crt $WORK/tls/combined.pem alpn $alpn" '  default_backend sink' \
      'backend sink' "  server sink 127.0.0.1:$SINK_PORT" > "$WORK/tls/haproxy.cfg"
    haproxy -f "$WORK/tls/haproxy.cfg" -db > "$WORK/tls/haproxy.log" 2>&1 & PIDS+=($!)
    TARGET=https://127.0.0.1:$TLS_PORT
    TLS_ENV=(SSL_CERT_FILE="$WORK/tls/cert.pem")
    for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$TLS_PORT") 2> /dev/null && break; sleep 0.05; done
    ;;
  *) echo "unknown UPSTREAM $UPSTREAM (plain, tls-h2, tls-h1)" >&2; exit 2 ;;
esac
if [[ $BIN == nginx ]]; then
  # shellcheck source=bench/load/nginx-conf.sh
  source "$ROOT/bench/load/nginx-conf.sh"
  # PROXY_ENV may pick nginx's configuration (NGINX_CONF=..., see nginx-conf.sh), as ab.sh passes it.
  NGINX_CONF=$(sed -nE 's/^(.* )?NGINX_CONF=([^ ]+).*/\2/p' <<< "${PROXY_ENV:-}")
  NGINX_CONF=${NGINX_CONF:-tuned} write_nginx_conf "$WORK/nginx" "$FP_PORT" "$FP_H2C" "$SINK_PORT" \
    "bench-token-0123456789abcdef" "$([[ $UPSTREAM != plain ]] && echo "$TLS_PORT $WORK/tls/cert.pem")"
  "$(command -v nginx || echo /usr/sbin/nginx)" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$FP_PORT/big?bytes=1"
  # The worker does the proxying; the master only waits.
  FP_PID=$(pgrep -P "${PIDS[-1]}")
else
  RUN=("$BIN")
  if [[ $BIN == *.dll ]]; then
    # The JIT build: the gen0 cap is compiled into the native binary only, and perf can name JIT
    # code only through a perf map of code that is not double-mapped (W^X).
    RUN=(env DOTNET_GCGen0MaxBudget=600000 dotnet "$BIN")
    [[ $MODE == perf ]] && RUN=(env DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 "${RUN[@]}")
  fi
  env AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:$SINK_PORT IDENTITY_TYPE=systemassigned "${TLS_ENV[@]}" \
    TARGET_HOST="$TARGET" LISTENING_PORT=$FP_PORT H2C_PORT=$FP_H2C LISTEN_ADDRESS=127.0.0.1 \
    LOG_LEVEL=Warning ${PROXY_ENV:-} "${RUN[@]}" > "$WORK/fastproxy.log" 2>&1 &
  FP_PID=$!; PIDS+=("$FP_PID")
  wait_http "http://127.0.0.1:$FP_PORT/ready"
fi

case $SCEN in
  h1-*) ARGS=(--h1 -c "$CLIENTS"); BASE=http://127.0.0.1:$FP_PORT ;;
  h2c-*) read -r -a ARGS <<< "$H2C"; BASE=http://127.0.0.1:$FP_H2C ;;
  *) echo "unknown scenario $SCEN" >&2; exit 2 ;;
esac
case $SCEN in
  *-post-12k) ARGS+=(-d "$BODY12"); P=/api/v1/write ;;
  *-post-49k) ARGS+=(-d "$BODY49"); P=/api/v1/write ;;
  *-post-1m) ARGS+=(-d "$WORK/body-1m.bin"); P=/api/v1/write ;;
  # The server half alone: the same body to /health, which the proxy reads, discards and answers
  # itself (nginx: the harness configuration's "location = /health").
  *-floor-12k) ARGS+=(-d "$BODY12"); P=/health ;;
  *-get-1m) P="/big?bytes=1048576" ;;
esac
[[ $SCEN == *-post-* || $SCEN == *-floor-* ]] && ARGS+=(-H "content-type: application/x-protobuf" -H "content-encoding: snappy")
ARGS+=("$BASE$P")

# Warm-up: connections, pools, the first GCs; for the JIT build also tiered compilation, which
# needs tens of thousands of requests to reach optimised code with its dynamic profile.
WARM=$((N / 2 < 2000 ? 2000 : N / 2))
[[ $BIN == *.dll && $WARM -lt 150000 ]] && WARM=150000
h2load -n "$WARM" "${ARGS[@]}" > /dev/null 2>&1
ticks() { awk '{print $14+$15}' "/proc/$FP_PID/stat"; }
threads() { ls "/proc/$FP_PID/task" | wc -l; }
echo 5 > "/proc/$FP_PID/clear_refs"

case $MODE in
  strace)
    strace -c -f -q -o "$WORK/strace.txt" -p "$FP_PID" & ST=$!
    sleep 1
    h2load -n "$N" "${ARGS[@]}" > "$WORK/h2load.txt" 2>&1
    kill -INT $ST; wait $ST 2>/dev/null || true
    echo "scenario=$SCEN requests=$N $(grep -E '^requests:' "$WORK/h2load.txt")"
    awk -v n="$N" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ { calls=$4; name=$NF; errs=(NF==6?$5:0); if (calls/n >= 0.05) printf "  %-16s %7.2f per request (%5.2f errors)\n", name, calls/n, errs/n }
         /total$/ { printf "  %-16s %7.2f per request\n", "total", $4/n }' "$WORK/strace.txt"
    ;;
  cpu)
    # task-clock and context switches are software counters: they work in VMs without a PMU.
    perf stat -e task-clock,context-switches,cpu-migrations -x, -o "$WORK/perfstat.txt" -p "$FP_PID" & PS=$!
    sleep 0.5
    read -r U0 S0 < <(awk '{print $14, $15}' "/proc/$FP_PID/stat")
    W0=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/${PIDS[0]}/status")
    h2load -n "$N" "${ARGS[@]}" > "$WORK/h2load.txt" 2>&1
    W1=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/${PIDS[0]}/status")
    read -r U1 S1 < <(awk '{print $14, $15}' "/proc/$FP_PID/stat")
    kill -INT $PS; wait $PS 2>/dev/null || true
    echo "scenario=$SCEN requests=$N $(grep -E '^requests:' "$WORK/h2load.txt")"
    # Each time the one-thread sink went to sleep, one of the proxy's sends had to wake it.
    echo "  sink sleeps per request $(awk -v a="$W0" -v b="$W1" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n }')"
    awk -F, -v n="$N" '$3=="task-clock" { ms=$1 } $3=="context-switches" { cs=$1 } $3=="cpu-migrations" { mig=$1 }
      END { printf "  proxy CPU %.2f s, %.1f us per request, %.0f requests per CPU-second, %.2f context switches per request\n", ms/1000, ms*1000/n, n/(ms/1000), cs/n }' "$WORK/perfstat.txt"
    # Where the time went, from /proc's clock ticks (10 ms each): user space against the kernel.
    awk -v u=$((U1 - U0)) -v s=$((S1 - S0)) 'BEGIN { if (u + s > 0) printf "  user %.0f %%, system %.0f %% (%d ticks)\n", 100*u/(u+s), 100*s/(u+s), u+s }'
    echo "  peak RSS $(awk '/VmHWM/{printf "%.1f MB", $2/1024}' "/proc/$FP_PID/status"), threads $(threads)"
    ;;
  perf)
    perf record -F "$PERF_HZ" -g -o "$WORK/perf.data" -p "$FP_PID" > /dev/null 2>&1 & PR=$!
    sleep 1
    h2load -n "$N" "${ARGS[@]}" > "$WORK/h2load.txt" 2>&1
    kill -INT $PR; wait $PR 2>/dev/null || true
    echo "scenario=$SCEN requests=$N $(grep -E '^requests:' "$WORK/h2load.txt")"
    perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio -n -g none 2>/dev/null > "$WORK/perf-symbols.txt"
    awk '/^ +[0-9]/ && n++ < 60' "$WORK/perf-symbols.txt"
    python3 "$ROOT/bench/load/perf-layers.py" "$WORK/perf-symbols.txt" "$N" "$PERF_HZ"
    ;;
esac
