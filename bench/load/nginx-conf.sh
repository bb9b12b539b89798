# The harness's nginx peer: one worker, request and response streaming (no buffering), upstream
# keep-alive, a static Authorization header. Sourced by run.sh and profile.sh, so both measure the
# same configuration.
#
#   write_nginx_conf DIR PORT H2C_PORT SINK_PORT TOKEN   -> DIR/nginx.conf (logs in DIR/logs)
write_nginx_conf() {
  local dir=$1 port=$2 h2c=$3 sink=$4 token=$5
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx closes a connection after 1000 requests by default; h2load does not reconnect.
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream sink { server 127.0.0.1:$sink; keepalive 128; }
  server {
    listen 127.0.0.1:$port;
    listen 127.0.0.1:$h2c http2;
    client_max_body_size 0;
    # The server half alone (profile.sh's *-floor-* scenarios): read and discard the body, answer here.
    location = /health { return 200; }
    location / {
      proxy_pass http://sink;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header Authorization "Bearer $token";
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_buffer_size 64k;
      proxy_buffers 4 64k;
      proxy_busy_buffers_size 128k;
      client_body_buffer_size 64k;
    }
  }
}
EOF
}
