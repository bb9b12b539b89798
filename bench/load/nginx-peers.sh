#!/usr/bin/env bash
# FastProxy beside every nginx configuration of nginx-conf.sh, interleaved (ab.sh): which nginx a
# "× nginx" figure was measured against changes it by 2-4×, so this puts them side by side.
#
#   bench/load/nginx-peers.sh [FASTPROXY_BIN]        (built here when not given)
#
#   ROUNDS=5  SCENARIOS="h1-post-12k h1-post-49k"  REQUESTS=40000   (see ab.sh, profile.sh)
#
# Variants:
#   fastproxy           the native binary with IO_THREADS=1 (one event thread, as nginx runs one worker)
#   nginx               the harness's tuned nginx, the peer of the targets (NGINX_CONF=tuned)
#   nginx-debian        Debian's stock configuration plus issue #5's three settings (NGINX_CONF=debian)
#   nginx-debian-nolog  the same without the access log (NGINX_CONF=debian-nolog)
#   nginx-http10        nginx-debian without proxy_http_version 1.1 and the cleared Connection header:
#                       its upstream keep-alive never takes effect (NGINX_CONF=debian-http10)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/fastproxy-nginx-peers}
mkdir -p "$WORK"
BIN=${1:-}
if [[ -z $BIN ]]; then
  dotnet publish "$ROOT/src/FastProxy" -c Release -r linux-x64 -o "$WORK/fastproxy" -v q -nologo > "$WORK/publish-fastproxy.log"
  BIN=$WORK/fastproxy/fastproxy
fi

export ROUNDS=${ROUNDS:-5} SCENARIOS=${SCENARIOS:-h1-post-12k h1-post-49k}
exec "$ROOT/bench/load/ab.sh" \
  "fastproxy=$BIN IO_THREADS=1" \
  "nginx=nginx" \
  "nginx-debian=nginx NGINX_CONF=debian" \
  "nginx-debian-nolog=nginx NGINX_CONF=debian-nolog" \
  "nginx-http10=nginx NGINX_CONF=debian-http10"
