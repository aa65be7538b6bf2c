# bench/nginx.sh: sourced by bench/run.sh and build/hot-order.sh, which both
# measure a probe of the same local nginx:
#
#   healthz_nginx DIR PORT [TLS_PORT CERT KEY]
#
# writes DIR/nginx.conf for an nginx on 127.0.0.1:PORT that answers
# `location = /healthz { return 200 '{"status": "ok"}'; }`, the failures a
# probe meets most (`/unavailable`: 503 with a JSON body; `/moved`: 302 to
# /healthz) and 404 elsewhere,
# and, given TLS_PORT, the same location over TLS on 127.0.0.1:TLS_PORT with
# CERT and KEY; starts it in the background and sets NGINX_PID (the caller
# stops it by that PID); returns once http://127.0.0.1:PORT/healthz answers.
# Uses NGINX (the nginx binary), curl, and the caller's `die`.

healthz_nginx() {
	local dir=$1 port=$2 tls_port=${3:-} cert=${4:-} key=${5:-} tls= _
	local url=http://127.0.0.1:$port/healthz
	local healthz="location = /healthz {
            default_type application/json;
            return 200 '{\"status\": \"ok\"}';
        }"
	if [ -n "$tls_port" ]; then
		tls="server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        $healthz
    }"
	fi
	mkdir -p "$dir/logs" "$dir/tmp"
	cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$port;
        $healthz
        location = /unavailable {
            default_type application/json;
            return 503 '{"status": "down"}';
        }
        location = /moved { return 302 /healthz; }
        location / { return 404; }
    }
    $tls
}
CONF
	"$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" &
	NGINX_PID=$!
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "$url" 2>/dev/null && break
		kill -0 "$NGINX_PID" 2>/dev/null || { cat "$dir/logs/error.log" >&2; die "nginx did not start"; }
		sleep 0.05
	done
	curl -fsS -o /dev/null "$url" || die "nginx does not answer on $url"
}
