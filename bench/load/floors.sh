#!/usr/bin/env bash
# Where FastProxy's CPU per request sits between the floor of .NET and nginx: interleaved A/B
# (ab.sh) of FastProxy against the layers of bench/peers/FloorProbe and nginx, same scenarios.
#
#   bench/load/floors.sh [FASTPROXY_BIN]        (built here when not given)
#
#   ROUNDS=5  SCENARIOS="h1-post-12k h1-post-49k"  REQUESTS=40000   (see ab.sh, profile.sh)
#   UPSTREAM=tls-h1   the target over HTTPS with HTTP/1.1, as production reaches Azure Monitor with
#                     UPSTREAM_HTTP_VERSION=1.1: the forwarding variants and nginx go through TLS
#                     (socket-forward, plain sockets only, is left out)
#
# Variants, from the top down (each probe runs with one socket event thread and inline
# completions, as FastProxy does with IO_THREADS=1):
#   fastproxy       the native binary with IO_THREADS=1
#   plain-forward   Kestrel + the plainest SocketsHttpHandler forward (FastProxy less its own code)
#   hand-client     Kestrel + a hand-written HTTP/1.1 client in SocketsHttpHandler's place: the best
#                   FastProxy could do with its own client and Kestrel kept
#   socket-forward  System.Net.Sockets on both sides, HTTP/1.1 framing by hand: a .NET proxy's floor
#   aspnet          Kestrel + ASP.NET Core reading the body and answering 200: the server half alone
#   kestrel-raw     Kestrel's transport and pipes, HTTP/1.1 by hand: the server half less Kestrel's HTTP
#   socket          System.Net.Sockets reading the body and answering 200: the server half's floor
#   nginx           the harness's nginx (one worker), forwarding as in run.sh
#   nginx-debian    nginx as issue #5 names it and no further: Debian's stock configuration with
#                   proxy_request_buffering off, upstream keep-alive and the header (NGINX_CONF=debian)
# The server-half variants answer the POST themselves, so their row is the server half's cost.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/fastproxy-floors}
mkdir -p "$WORK"
BIN=${1:-}
if [[ -z $BIN ]]; then
  dotnet publish "$ROOT/src/FastProxy" -c Release -r linux-x64 -o "$WORK/fastproxy" -v q -nologo > "$WORK/publish-fastproxy.log"
  BIN=$WORK/fastproxy/fastproxy
fi
dotnet publish "$ROOT/bench/peers/FloorProbe" -c Release -r linux-x64 -o "$WORK/probe" -v q -nologo > "$WORK/publish-probe.log"
PROBE=$WORK/probe/FloorProbe
ONE_THREAD="DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=1"

export ROUNDS=${ROUNDS:-5} SCENARIOS=${SCENARIOS:-h1-post-12k h1-post-49k}
case ${UPSTREAM:-plain} in
  plain)
    exec "$ROOT/bench/load/ab.sh" \
      "fastproxy=$BIN IO_THREADS=1" \
      "plain-forward=$PROBE FLOOR=forward $ONE_THREAD" \
      "hand-client=$PROBE FLOOR=hand-client $ONE_THREAD" \
      "socket-forward=$PROBE FLOOR=socket-forward $ONE_THREAD" \
      "aspnet=$PROBE FLOOR=aspnet $ONE_THREAD" \
      "kestrel-raw=$PROBE FLOOR=kestrel-raw $ONE_THREAD" \
      "socket=$PROBE FLOOR=socket $ONE_THREAD" \
      "nginx=nginx" \
      "nginx-debian=nginx NGINX_CONF=debian" ;;
  tls-h1)
    exec "$ROOT/bench/load/ab.sh" \
      "fastproxy=$BIN IO_THREADS=1 UPSTREAM_HTTP_VERSION=1.1" \
      "plain-forward=$PROBE FLOOR=forward $ONE_THREAD" \
      "hand-client=$PROBE FLOOR=hand-client $ONE_THREAD" \
      "aspnet=$PROBE FLOOR=aspnet $ONE_THREAD" \
      "nginx=nginx" \
      "nginx-debian=nginx NGINX_CONF=debian" ;;
  *) echo "floors.sh: UPSTREAM=${UPSTREAM} (expected plain or tls-h1)" >&2; exit 2 ;;
esac
