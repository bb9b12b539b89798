# The harness's nginx peer: one worker, request and response streaming (no buffering), upstream
# keep-alive, a static Authorization header. Sourced by run.sh and profile.sh, so both measure the
# same configuration.
#
#   write_nginx_conf DIR PORT H2C_PORT SINK_PORT TOKEN ["TLS_PORT CA_FILE"]  -> DIR/nginx.conf
#   (logs in DIR/logs). With the last argument nginx reaches the sink over TLS at TLS_PORT
#   (HTTP/1.1: nginx has no HTTP/2 to upstreams), verifying its certificate against CA_FILE and
#   reusing TLS sessions, as a production nginx in front of Azure Monitor would.
#
#   NGINX_CONF=tuned (default)  the peer every report measures: no access log, no response
#                               buffering, 64 KB body and proxy buffers.
#   NGINX_CONF=debian           what issue #5 names and nothing more, on Debian's stock nginx.conf:
#                               proxy_request_buffering off, upstream keep-alive, the Authorization
#                               header; Debian's defaults otherwise (its access log, sendfile,
#                               tcp_nopush, gzip, 8 KB/4 KB buffers, response buffering on).
#   NGINX_CONF=debian-nolog     the same without the access log (FastProxy writes none per request).
#   NGINX_CONF=debian-http10    debian, but without proxy_http_version 1.1 and the cleared
#                               Connection header that nginx's upstream keep-alive needs: nginx then
#                               speaks HTTP/1.0 to the sink and opens a connection per request,
#                               although the keepalive directive is there.
#   Every variant keeps what the harness needs to run at all: one worker, keep-alive for the life of
#   an h2load connection, no body size limit, /health for the server-half scenarios.
write_nginx_conf() {
  local dir=$1 port=$2 h2c=$3 sink=$4 token=$5 tls=${6:-}
  local upstream="server 127.0.0.1:$sink;" scheme=http tls_lines="" tls_port ca_file
  if [[ -n $tls ]]; then
    read -r tls_port ca_file <<< "$tls"
    upstream="server 127.0.0.1:$tls_port;"
    scheme=https
    tls_lines="proxy_ssl_verify on; proxy_ssl_trusted_certificate $ca_file; proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on;"
  fi
  local http_lines="access_log off;" location_lines
  local keepalive_lines='proxy_http_version 1.1;
      proxy_set_header Connection "";'
  location_lines=$(cat <<EOF
      proxy_buffering off;
      proxy_buffer_size 64k;
      proxy_buffers 4 64k;
      proxy_busy_buffers_size 128k;
      client_body_buffer_size 64k;
EOF
)
  case ${NGINX_CONF:-tuned} in
    tuned) ;;
    debian|debian-nolog|debian-http10)
      # Debian 12's /etc/nginx/nginx.conf http block, less what a proxy of POSTs never touches.
      local access_log="$dir/logs/access.log"
      [[ $NGINX_CONF == debian-nolog ]] && access_log=off
      [[ $NGINX_CONF == debian-http10 ]] && keepalive_lines=""
      http_lines="sendfile on; tcp_nopush on; gzip on; access_log $access_log;"
      location_lines="" ;;
    *) echo "NGINX_CONF=$NGINX_CONF: expected tuned, debian, debian-nolog or debian-http10" >&2; return 2 ;;
  esac
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
  $http_lines
  # nginx closes a connection after 1000 requests by default; h2load does not reconnect.
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream sink { $upstream keepalive 128; }
  server {
    listen 127.0.0.1:$port;
    listen 127.0.0.1:$h2c http2;
    client_max_body_size 0;
    # The server half alone (profile.sh's *-floor-* scenarios): read and discard the body, answer here.
    location = /health { return 200; }
    location / {
      proxy_pass $scheme://sink;
      $tls_lines
      $keepalive_lines
      proxy_set_header Host \$host;
      proxy_set_header Authorization "Bearer $token";
      proxy_request_buffering off;
$location_lines
    }
  }
}
EOF
}
