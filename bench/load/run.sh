#!/usr/bin/env bash
# Load comparison harness: direct vs FastProxy (native AOT) vs nginx vs HAProxy vs YARP (JIT), one run,
# same sink. nginx runs twice: as the harness tunes it (the peer of every target) and as issue #5 names
# it on Debian's stock configuration (nginx-debian; see nginx-conf.sh).
# Writes perf-baselines/load-report.md. Bounded: about 18 minutes with the defaults.
#
#   bench/load/run.sh                 # everything
#   ROUNDS=1 DURATION=2 VARIANTS=0 bench/load/run.sh   # quicker: one round, shorter runs, no JIT/GC variants
#
# Every contender runs once per round, one after another, all of them started once and kept
# running between rounds; the report takes the median over the rounds of each ratio measured
# within one round. One round alone moved by ±20 % between runs on these shared machines.
#
# Environment (all optional):
#   ROUNDS=3          rounds of every contender (and of every variant)
#   DURATION=3        seconds per measured run (each is preceded by WARMUP seconds, discarded)
#   WARMUP=1
#   RATE=4000         total requests/s of the fixed-rate (p99) runs
#   PIN=0             1: sink + h2load on CPU 0, the proxy on CPU 1 (see README: steadier, but the
#                     proxy then has one core, like nginx/HAProxy's one worker)
#   VARIANTS=1        0 skips the AOT-vs-JIT and GC-settings comparison
#   YARP=1            0 skips the YARP peer (bench/peers/YarpPeer, built here; needs NuGet)
#   FASTPROXY_BIN=    use this AOT binary instead of publishing one (the JIT variant is then built
#                     from the working tree, unless FASTPROXY_DLL names its IL build)
#   FASTPROXY_DLL=    the IL build the JIT variant runs (default: built with the AOT binary)
#   FASTPROXY_ENV="IO_THREADS=1"   settings of the FastProxy compared with the peers: one socket
#                     event thread, as nginx runs one worker and HAProxy one thread. FASTPROXY_ENV=
#                     compares the shipped defaults (one event thread per core) instead; the
#                     variants section measures both either way.
#   BEFORE_BIN=       an older AOT binary: adds the variant "aot-before" (A/B of a change in one run)
#   ARTIFACTS=/tmp/art-bench   dotnet --artifacts-path for the publish
#   WORK=/tmp/fastproxy-load   scratch directory (raw h2load output stays there)
#   OUT=perf-baselines/load-report.md
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/load/nginx-conf.sh
source "$ROOT/bench/load/nginx-conf.sh"
WORK=${WORK:-/tmp/fastproxy-load}
FASTPROXY_ENV=${FASTPROXY_ENV-IO_THREADS=1}
ARTIFACTS=${ARTIFACTS:-/tmp/art-bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
RATE=${RATE:-4000}
PIN=${PIN:-0}
VARIANTS=${VARIANTS:-1}
YARP=${YARP:-1}
OUT=${OUT:-$ROOT/perf-baselines/load-report.md}

SINK_PORT=18080
FP_PORT=18100;  FP_H2C=18101
NGX_PORT=18200; NGX_H2C=18201
NGD_PORT=18500; NGD_H2C=18501
HAP_PORT=18300; HAP_H2C=18301
YARP_PORT=18400; YARP_H2C=18401
TOKEN="bench-token-0123456789abcdef"

BODY12=$ROOT/testdata/remote-write/prometheus-2.42/batch-12826.snappy
BODY49=$ROOT/testdata/remote-write/prometheus-2.42/batch-49264.snappy

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# ---------------------------------------------------------------- prerequisites
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
command -v cc >/dev/null || need+=(gcc)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

rm -rf "$WORK/raw"; mkdir -p "$WORK/raw" "$WORK/nginx/logs"
cc -O2 -o "$WORK/sink" "$ROOT/bench/load/sink.c"
head -c 1048576 /dev/urandom > "$WORK/body-1m.bin"

if [[ -z "${FASTPROXY_BIN:-}" ]]; then
  log "publishing FastProxy (native AOT) into $ARTIFACTS"
  dotnet publish "$ROOT/src/FastProxy" -c Release -r linux-x64 --artifacts-path "$ARTIFACTS" -v q -nologo >"$WORK/publish.log" 2>&1 \
    || { cat "$WORK/publish.log"; exit 1; }
  FASTPROXY_BIN=$ARTIFACTS/publish/FastProxy/release_linux-x64/fastproxy
elif [[ "$VARIANTS" == 1 && -z "${FASTPROXY_DLL:-}" ]]; then
  # The JIT variant needs the IL build; an earlier run's would measure other code than the binary.
  log "building FastProxy (IL, for the JIT variant) from the working tree into $ARTIFACTS"
  dotnet build "$ROOT/src/FastProxy" -c Release -r linux-x64 --artifacts-path "$ARTIFACTS" -v q -nologo >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; exit 1; }
fi
FASTPROXY_DLL=${FASTPROXY_DLL:-$ARTIFACTS/bin/FastProxy/release_linux-x64/fastproxy.dll}

PROXY_CPUS=""; LOAD_CPUS=""
if [[ "$PIN" == 1 ]]; then PROXY_CPUS="taskset -c 1"; LOAD_CPUS="taskset -c 0"; fi

# ---------------------------------------------------------------- helpers
wait_http() { # url [expected-status]
  local i
  for i in $(seq 1 500); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" == "${2:-200}" ]] && return 0
    sleep 0.02
  done
  log "timeout waiting for $1"; return 1
}
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
hwm_kb()    { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmHWM/{print $2}' "/proc/$p/status"))); done; echo $t; }
rss_kb()    { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/{print $2}' "/proc/$p/status"))); done; echo $t; }
reset_hwm() { local p; for p in "$@"; do echo 5 > "/proc/$p/clear_refs" 2>/dev/null || true; done; }

# h2load arguments per scenario: name -> "protocol-args|path|body-file"
declare -A SCEN=(
  [h1-post-12k]="--h1 -c 32|/api/v1/write|$BODY12"
  [h1-post-49k]="--h1 -c 32|/api/v1/write|$BODY49"
  [h1-post-1m]="--h1 -c 32|/api/v1/write|$WORK/body-1m.bin"
  [h1-get-1m]="--h1 -c 32|/big?bytes=1048576|"
  [h2c-post-12k]="-c 8 -m 8|/api/v1/write|$BODY12"
  [h2c-post-49k]="-c 8 -m 8|/api/v1/write|$BODY49"
  [h2c-post-1m]="-c 8 -m 8|/api/v1/write|$WORK/body-1m.bin"
  [h2c-get-1m]="-c 8 -m 8|/big?bytes=1048576|"
  # FastProxy only: h2c at HTTP/1.1's concurrency, 32 requests in flight (issue #5's "h2c ≥ HTTP/1.1 at
  # equal client concurrency"; the scenarios above put 64 streams against 32 connections).
  [h2c-post-12k-32]="-c 4 -m 8|/api/v1/write|$BODY12"
)
SCEN_ORDER=(h1-post-12k h1-post-49k h1-post-1m h1-get-1m h2c-post-12k h2c-post-49k h2c-post-1m h2c-get-1m)

h2load_args() { # scenario base-h1 base-h2c -> sets the array ARGS
  local spec=${SCEN[$1]} proto path body base
  proto=${spec%%|*}; spec=${spec#*|}; path=${spec%%|*}; body=${spec#*|}
  if [[ $1 == h2c-* ]]; then base=$3; else base=$2; fi
  read -r -a ARGS <<< "$proto"
  [[ -n "$body" ]] && ARGS+=(-d "$body" -H "content-type: application/x-protobuf" -H "content-encoding: snappy")
  ARGS+=("$base$path")
}

# measure contender scenario base-h1 base-h2c pids...
measure() {
  local who=$1 scen=$2 b1=$3 b2=$4; shift 4
  local pids=("$@")
  [[ $scen == h2c-* && -z "$b2" ]] && return 0
  h2load_args "$scen" "$b1" "$b2"
  # shellcheck disable=SC2086
  $LOAD_CPUS h2load -D "$WARMUP" "${ARGS[@]}" >/dev/null 2>&1 || true
  ((${#pids[@]})) && reset_hwm "${pids[@]}"
  local c0=0 c1=0 t0 t1
  ((${#pids[@]})) && c0=$(cpu_ticks "${pids[@]}")
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  $LOAD_CPUS h2load -D "$DURATION" "${ARGS[@]}" > "$WORK/raw/$who@$scen@$ROUND.h2load" 2>&1 || true
  t1=$(date +%s%N)
  ((${#pids[@]})) && c1=$(cpu_ticks "${pids[@]}")
  local hwm=0; ((${#pids[@]})) && hwm=$(hwm_kb "${pids[@]}")
  echo "cpu_ticks=$((c1 - c0)) hz=$(getconf CLK_TCK) wall_ns=$((t1 - t0)) hwm_kb=$hwm" > "$WORK/raw/$who@$scen@$ROUND.proc"
  log "[round $ROUND] $who $scen: $(grep -E '^finished' "$WORK/raw/$who@$scen@$ROUND.h2load" | cut -d, -f2) cpu=$((c1 - c0)) ticks hwm=${hwm}kB"
}

# fixed-rate run for latency percentiles: rate-contender scenario base-h1 base-h2c
measure_rate() {
  local who=$1 scen=$2 b1=$3 b2=$4 clients
  [[ $scen == h2c-* && -z "$b2" ]] && return 0
  h2load_args "$scen" "$b1" "$b2"
  if [[ $scen == h2c-* ]]; then clients=8; else clients=32; fi
  # shellcheck disable=SC2086
  $LOAD_CPUS h2load -D "$DURATION" --rps=$((RATE / clients)) --log-file="$WORK/raw/$who@$scen@$ROUND.rate.log" "${ARGS[@]}" \
    > "$WORK/raw/$who@$scen@$ROUND.rate.h2load" 2>&1 || true
}

run_all_scenarios() { # contender b1 b2 pids...
  local who=$1 b1=$2 b2=$3; shift 3
  local s
  for s in "${SCEN_ORDER[@]}"; do measure "$who" "$s" "$b1" "$b2" "$@"; done
  measure_rate "$who" h1-post-12k "$b1" "$b2"
  measure_rate "$who" h2c-post-12k "$b1" "$b2"
}

start_fastproxy() { # label command... ; sets FP_PID
  local label=$1; shift
  env AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:$SINK_PORT IDENTITY_TYPE=systemassigned \
    TARGET_HOST=http://127.0.0.1:$SINK_PORT LISTENING_PORT=$FP_PORT H2C_PORT=$FP_H2C LISTEN_ADDRESS=127.0.0.1 \
    MAX_REQUEST_BODY_BYTES=0 LOG_LEVEL=Warning $PROXY_CPUS "$@" > "$WORK/$label.log" 2>&1 &
  FP_PID=$!; PIDS+=("$FP_PID")
  wait_http "http://127.0.0.1:$FP_PORT/ready"
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
warm_up() { # base-h1 base-h2c: 90,000 requests, for a JIT to finish compiling before it is measured
  $LOAD_CPUS h2load -n 60000 --h1 -c 32 -d "$BODY12" "$1/api/v1/write" >/dev/null 2>&1 || true
  $LOAD_CPUS h2load -n 30000 -c 8 -m 8 -d "$BODY12" "$2/api/v1/write" >/dev/null 2>&1 || true
}
rotate() { # by items... -> the items, one per line, starting at index (by mod count)
  local by=$1; shift
  local n=$# i
  local items=("$@")
  for ((i = 0; i < n; i++)); do echo "${items[$(((i + by) % n))]}"; done
}

# ---------------------------------------------------------------- machine
{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "kernel=$(uname -r)"
  echo "mem=$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "nginx=$($NGINX -v 2>&1 | sed 's/.*nginx\///')"
  echo "haproxy=$($HAPROXY -v | head -1 | awk '{print $3}')"
  echo "h2load=$(h2load --version | awk '{print $2}')"
  echo "dotnet=$(dotnet --version)"
  echo "aot_bytes=$(stat -c %s "$FASTPROXY_BIN")"
  echo "duration=$DURATION warmup=$WARMUP rate=$RATE pin=$PIN rounds=$ROUNDS"
  echo "fastproxy_env=$FASTPROXY_ENV"
} > "$WORK/raw/machine.env"

# ---------------------------------------------------------------- sink
$LOAD_CPUS "$WORK/sink" $SINK_PORT 2>"$WORK/sink.log" & PIDS+=($!)
wait_http "http://127.0.0.1:$SINK_PORT/big?bytes=1"

# ---------------------------------------------------------------- startup-to-ready and idle RSS
log "FastProxy startup-to-ready (5 starts)"
for i in 1 2 3 4 5; do
  python3 "$ROOT/bench/load/startup.py" "http://127.0.0.1:$FP_PORT/ready" \
    env AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:$SINK_PORT IDENTITY_TYPE=systemassigned \
        TARGET_HOST=http://127.0.0.1:$SINK_PORT LISTENING_PORT=$FP_PORT LISTEN_ADDRESS=127.0.0.1 LOG_LEVEL=Warning \
        "$FASTPROXY_BIN"
done > "$WORK/raw/startup.txt"
log "startup ms: $(tr '\n' ' ' < "$WORK/raw/startup.txt")"

# ---------------------------------------------------------------- contenders, started once
log "FastProxy (native AOT)"
# shellcheck disable=SC2086
start_fastproxy fastproxy env $FASTPROXY_ENV "$FASTPROXY_BIN"
# Idle RSS once start-up is over: the start-up code pages go 5 s after the first token
# (Listener/StartupCodeRelease.cs).
sleep 7
echo "idle_rss_kb=$(rss_kb "$FP_PID")" > "$WORK/raw/fastproxy.idle"

log "nginx"
write_nginx_conf "$WORK/nginx" "$NGX_PORT" "$NGX_H2C" "$SINK_PORT" "$TOKEN"
$PROXY_CPUS "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' & NGX_PID=$!; PIDS+=("$NGX_PID")
wait_http "http://127.0.0.1:$NGX_PORT/big?bytes=1"
NGX_PIDS=("$NGX_PID" $(pgrep -P "$NGX_PID"))

log "nginx as issue #5 names it (Debian's stock configuration)"
NGINX_CONF=debian write_nginx_conf "$WORK/nginx-debian" "$NGD_PORT" "$NGD_H2C" "$SINK_PORT" "$TOKEN"
$PROXY_CPUS "$NGINX" -p "$WORK/nginx-debian" -c "$WORK/nginx-debian/nginx.conf" -g 'daemon off;' & NGD_PID=$!; PIDS+=("$NGD_PID")
wait_http "http://127.0.0.1:$NGD_PORT/big?bytes=1"
NGD_PIDS=("$NGD_PID" $(pgrep -P "$NGD_PID"))

log "HAProxy"
cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAP_PORT
  bind 127.0.0.1:$HAP_H2C proto h2
  http-request set-header Authorization "Bearer $TOKEN"
  default_backend be
backend be
  server sink 127.0.0.1:$SINK_PORT
EOF
$PROXY_CPUS "$HAPROXY" -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 & HAP_PID=$!; PIDS+=("$HAP_PID")
wait_http "http://127.0.0.1:$HAP_PORT/big?bytes=1"

if [[ "$YARP" == 1 ]]; then
  log "YARP (minimal forwarder, JIT)"
  dotnet publish "$ROOT/bench/peers/YarpPeer" -c Release -o "$WORK/yarp" -v q -nologo >"$WORK/yarp-publish.log" 2>&1 \
    || { cat "$WORK/yarp-publish.log"; exit 1; }
  SINK=http://127.0.0.1:$SINK_PORT TOKEN=$TOKEN PORT=$YARP_PORT H2C_PORT=$YARP_H2C \
    $PROXY_CPUS dotnet "$WORK/yarp/YarpPeer.dll" >"$WORK/yarp.log" 2>&1 & YARP_PID=$!; PIDS+=("$YARP_PID")
  wait_http "http://127.0.0.1:$YARP_PORT/big?bytes=1"
  # The JIT needs tens of thousands of requests to reach its steady state (tiered compilation):
  # warmed up here so that YARP is measured at its best, not while it compiles.
  warm_up "http://127.0.0.1:$YARP_PORT" "http://127.0.0.1:$YARP_H2C"
  echo "yarp=$(sed -n 's/.*Include="Yarp.ReverseProxy" Version="\([^"]*\)".*/\1/p' "$ROOT/bench/peers/YarpPeer/YarpPeer.csproj")" >> "$WORK/raw/machine.env"
fi

# ---------------------------------------------------------------- rounds
# All contenders stay up, idle but for the one measured: each round measures every contender
# within a few minutes of the others, so a ratio within one round compares like with like.
# The order rotates from round to round, so that no contender always follows the same one.
contenders=(direct fastproxy nginx nginx-debian haproxy)
if [[ "$YARP" == 1 ]]; then contenders+=(yarp); fi
for ROUND in $(seq 1 "$ROUNDS"); do
  for who in $(rotate $((ROUND - 1)) "${contenders[@]}"); do
    case $who in
      direct) run_all_scenarios direct "http://127.0.0.1:$SINK_PORT" "" ;;
      fastproxy)
        run_all_scenarios fastproxy "http://127.0.0.1:$FP_PORT" "http://127.0.0.1:$FP_H2C" "$FP_PID"
        measure fastproxy h2c-post-12k-32 "http://127.0.0.1:$FP_PORT" "http://127.0.0.1:$FP_H2C" "$FP_PID" ;;
      nginx) run_all_scenarios nginx "http://127.0.0.1:$NGX_PORT" "http://127.0.0.1:$NGX_H2C" "${NGX_PIDS[@]}" ;;
      nginx-debian)
        run_all_scenarios nginx-debian "http://127.0.0.1:$NGD_PORT" "http://127.0.0.1:$NGD_H2C" "${NGD_PIDS[@]}"
        # Its access log takes ≈ 150 bytes a request; nginx appends, so emptying it between rounds is safe.
        : > "$WORK/nginx-debian/logs/access.log" ;;
      haproxy) run_all_scenarios haproxy "http://127.0.0.1:$HAP_PORT" "http://127.0.0.1:$HAP_H2C" "$HAP_PID" ;;
      yarp) run_all_scenarios yarp "http://127.0.0.1:$YARP_PORT" "http://127.0.0.1:$YARP_H2C" "$YARP_PID" ;;
    esac
  done
done
stop_pid "$NGX_PID"
stop_pid "$NGD_PID"
stop_pid "$HAP_PID"
if [[ "$YARP" == 1 ]]; then stop_pid "$YARP_PID"; fi

# 1 GiB body: peak RSS must match a 12 KB-body run (bodies stream; nothing is held whole).
# MAX_REQUEST_BODY_BYTES=0 above: the default 64 MiB limit would answer it 413 before streaming.
truncate -s 1G "$WORK/body-1g.bin"
reset_hwm "$FP_PID"
h2load --h1 -c 32 -D 2 -d "$BODY12" "http://127.0.0.1:$FP_PORT/api/v1/write" >/dev/null 2>&1 || true
small=$(hwm_kb "$FP_PID"); reset_hwm "$FP_PID"
gib_status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -T "$WORK/body-1g.bin" -H 'Expect:' "http://127.0.0.1:$FP_PORT/api/v1/write" || true)
echo "hwm_12k_kb=$small hwm_1g_kb=$(hwm_kb "$FP_PID") status_1g=$gib_status" >> "$WORK/raw/fastproxy.idle"
rm -f "$WORK/body-1g.bin"
stop_pid "$FP_PID"

# ---------------------------------------------------------------- AOT vs JIT, GC settings
if [[ "$VARIANTS" == 1 ]]; then
  # name|runner|env
  variant_list=(
    "aot-default|aot|"
    "aot-iothreads1|aot|IO_THREADS=1"
    # The gen0 budget cap is compiled into the native binary; a JIT run needs it from the environment.
    "jit-default|jit|DOTNET_GCGen0MaxBudget=600000"
    "aot-workstation|aot|DOTNET_gcServer=0"
    "aot-gcconcurrent|aot|DOTNET_gcConcurrent=1"
    # Without the cap: 200 MB is the runtime's own limit on these machines.
    "aot-gen0-uncapped|aot|DOTNET_GCGen0MaxBudget=C800000"
    "aot-conserve|aot|DOTNET_GCConserveMemory=5"
    "aot-threadpool|aot|IO_COMPLETIONS=threadpool"
  )
  [[ -n "${BEFORE_BIN:-}" ]] && variant_list+=("aot-before|before|")
  for ROUND in $(seq 1 "$ROUNDS"); do
    mapfile -t rotated < <(rotate $((ROUND - 1)) "${variant_list[@]}")
    for v in "${rotated[@]}"; do
      IFS='|' read -r name runner extra <<< "$v"
      log "[round $ROUND] variant $name"
      case $runner in
        jit) cmd=(dotnet "$FASTPROXY_DLL") ;;
        before) cmd=("$BEFORE_BIN") ;;
        *) cmd=("$FASTPROXY_BIN") ;;
      esac
      # shellcheck disable=SC2086
      start_fastproxy "variant-$name" env $extra "${cmd[@]}"
      if [[ $runner == jit ]]; then
        # Measured at its steady state, as YARP is: tiered compilation needs tens of thousands of
        # requests, and the native binary has none to make.
        warm_up "http://127.0.0.1:$FP_PORT" "http://127.0.0.1:$FP_H2C"
      fi
      for s in h1-post-12k h1-post-49k h2c-post-12k; do
        measure "variant-$name" "$s" "http://127.0.0.1:$FP_PORT" "http://127.0.0.1:$FP_H2C" "$FP_PID"
      done
      stop_pid "$FP_PID"
    done
  done
fi

python3 "$ROOT/bench/load/report.py" "$WORK/raw" > "$OUT"
log "wrote $OUT"
