#!/usr/bin/env bash
# User-space instructions per forwarded request: the deterministic figure on a shared machine,
# where CPU time per request moves by ±30 % between identical runs. Two runs of one binary agree
# within 0.1 % over HTTP/1.1 and 1 % over h2c. Instructions miss what happens between threads (callgrind runs them one after
# another); for hand-offs compare CPU time with ab.sh instead.
#
#   bench/load/callgrind.sh BIN [h1|h2c] [BODY] [REQUESTS]
#     BIN        the AOT binary, with its fastproxy.dbg beside it for the symbols
#     h1         32 HTTP/1.1 connections (default); h2c: 8 connections x 8 streams
#     BODY       the POSTed body (default: the 12.8 KB remote-write body)
#     REQUESTS   measured requests (default 4000), after half as many again of warm-up
#   WORK=/tmp/fastproxy-callgrind   keeps cg.out.* for callgrind_annotate
#
# Under valgrind the GC's 256 GB reservation is refused, hence DOTNET_GCRegionRange; valgrind 3.19
# cannot read DWARF 5, hence the symbols copied without their DWARF and linked by debuglink.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:?usage: callgrind.sh BIN [h1|h2c] [BODY] [REQUESTS]}
PROTO=${2:-h1}
BODY=${3:-$ROOT/testdata/remote-write/prometheus-2.42/batch-12826.snappy}
N=${4:-4000}
WORK=${WORK:-/tmp/fastproxy-callgrind}
SINK_PORT=${SINK_PORT:-19480}
FP_PORT=${FP_PORT:-19500}
FP_H2C=${FP_H2C:-19501}

command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
[[ -f "$(dirname "$BIN")/fastproxy.dbg" ]] || { echo "needs fastproxy.dbg beside $BIN" >&2; exit 2; }
rm -rf "$WORK"; mkdir -p "$WORK"
cc -O2 -o "$WORK/sink" "$ROOT/bench/load/sink.c"
cp "$(dirname "$BIN")/fastproxy.dbg" "$WORK/fastproxy.dbg"
objcopy --strip-debug "$WORK/fastproxy.dbg"
cp "$BIN" "$WORK/fastproxy"
objcopy --remove-section=.gnu_debuglink "$WORK/fastproxy"
(cd "$WORK" && objcopy --add-gnu-debuglink=fastproxy.dbg fastproxy)

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$WORK/sink" "$SINK_PORT" 2> "$WORK/sink.log" & PIDS+=($!)
(cd "$WORK" && exec env DOTNET_GCRegionRange=100000000 AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:$SINK_PORT \
  IDENTITY_TYPE=systemassigned TARGET_HOST=http://127.0.0.1:$SINK_PORT LISTENING_PORT=$FP_PORT H2C_PORT=$FP_H2C \
  LISTEN_ADDRESS=127.0.0.1 LOG_LEVEL=Warning IO_THREADS=1 \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" ./fastproxy > "$WORK/fastproxy.log" 2>&1) &
FP_PID=$!; PIDS+=("$FP_PID")
for _ in $(seq 1 600); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FP_PORT/ready" || true)" == 200 ]] && break
  sleep 0.2
done

case $PROTO in
  h1) ARGS=(--h1 -c 32); URL=http://127.0.0.1:$FP_PORT/api/v1/write ;;
  h2c) ARGS=(-c 8 -m 8); URL=http://127.0.0.1:$FP_H2C/api/v1/write ;;
  *) echo "unknown protocol $PROTO (h1, h2c)" >&2; exit 2 ;;
esac
ARGS+=(-d "$BODY" -H "content-type: application/x-protobuf" "$URL")

h2load -n $((N / 2)) "${ARGS[@]}" > /dev/null
callgrind_control -z "$FP_PID" > /dev/null 2>&1
h2load -n "$N" "${ARGS[@]}" > "$WORK/h2load.txt"
callgrind_control -d "$FP_PID" > /dev/null 2>&1
grep -E '^requests:' "$WORK/h2load.txt"
dump=$(ls -S "$WORK"/cg.out.* | head -1)
total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
echo "$(basename "$BIN") $PROTO $(basename "$BODY"): $((total / N)) instructions per request ($total for $N); profile: callgrind_annotate --inclusive=yes $dump"
