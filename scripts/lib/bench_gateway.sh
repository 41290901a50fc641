# shellcheck shell=bash
# The gateway section of scripts/bench (sourced by it; uses its run_dir, bin,
# secs, conc, start/stop helpers). `scripts/bench gateway`:
#
#   3 ds-node on the embedded store + ds-gateway (scripts/cluster), seeded
#   20 channels x 200 messages; GetMessages limit 50 (a 7.1 KB JSON page).
#   Clients, each with $conc (64) connections or requests in flight:
#     wrk -t1 (Debian package)           the independent HTTP client
#     ds-loadgen --target gateway        our HTTP client, same gateway, same run
#     ds-loadgen --target nodes          straight to the nodes over gRPC
#   Ceiling: nginx (Debian package), one worker, on a loopback port with a
#   config in the run directory, serving the same response bytes from a file.
#   Hot: every request for channel 1. Uniform: channels 1..20 at random.
#   Runs are interleaved (A B C A B C); each ratio is of the sums. Server CPU
#   per request comes from /proc/<pid>/stat (utime+stime) over each run.
#
# Targets (issue 7): hot >= 0.5x nginx and >= 1.0x direct gRPC; uniform >=
# 0.8x direct gRPC. DS_BENCH_PERF=1 adds a perf profile of the gateway under
# the hot wrk load (gateway_profile below), saved in the run directory, which
# scripts/bench then keeps.

ensure_bench_http_tools() {
  local missing=() p
  for p in wrk nginx; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (apt)"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk nginx >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cpu_ticks PID → utime+stime in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_nginx ROOT → prints the port; pid file nginx.pid in run_dir (kill_started stops it)
start_nginx() {
  local root="$1" port dir="$run_dir/nginx"
  port=$(free_port)
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
user root;
pid $dir/master.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    root $root;
    location / { }
  }
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  echo $! >"$run_dir/nginx.pid"
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/hot.json" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/hot.json" || { cat "$dir/error.log" >&2; die "nginx did not start"; }
  echo "$port"
}

# wrk_run NAME PID URL [LUA] → "rps p99_ms cpu_us_per_request" (PID's CPU)
wrk_run() {
  local name="$1" pid="$2" url="$3" lua="${4:-}" c0 c1 out
  c0=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$conc" -d"${secs}s" --latency ${lua:+-s "$lua"} "$url")
  c1=$(cpu_ticks "$pid")
  echo "$out" >"$run_dir/wrk-$name.txt"
  echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
reqs = int(re.search(r"(\d+) requests in", text).group(1))
m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
ticks = float(sys.argv[2]) - float(sys.argv[1])
print("%.0f %.2f %.1f" % (rps, p99, ticks * 1e6 / 100 / max(reqs, 1)))
' "$c0" "$c1"
}

# loadgen_run PID ARGS... → "rps p99_ms cpu_us_per_request" (PID's CPU; 0 = none)
loadgen_run() {
  local pid="$1" c0=0 c1=0 out; shift
  [[ "$pid" != 0 ]] && c0=$(cpu_ticks "$pid")
  out=$(loadgen --mode closed --concurrency "$conc" --duration "${secs}s" --no-metrics "$@")
  [[ "$pid" != 0 ]] && c1=$(cpu_ticks "$pid")
  echo "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)
ticks = float(sys.argv[2]) - float(sys.argv[1])
n = max(j["ok"] + sum(j["errors"].values()), 1)
print("%.0f %.2f %.1f" % (j["throughput_rps"], j["latency_ms"]["p99"], ticks * 1e6 / 100 / n))
' "$c0" "$c1"
}

# gateway_profile GW_PID URL: DS_BENCH_PERF=1 — a CPU profile of the gateway
# process alone (perf record -F 999 -g -p GW_PID) for $secs s while wrk -t1
# -c$conc loads URL, after the measured runs (perf's overhead stays out of the
# ratios). Files in the run directory (kept by scripts/bench when
# DS_BENCH_PERF=1; its path is printed at the end):
#   gateway-perf-top15.txt    the 15 top symbols by self time: perf report
#                             --no-children --sort symbol -g none, with a header
#                             saying what was measured (also printed)
#   gateway-perf-report.txt   the whole report with call graphs
#   gateway-perf.data         the samples, for `perf report -i ...` later
#   gateway-perf-wrk.txt      wrk's own figures during the profile
gateway_profile() {
  local gw_pid=$1 url=$2 data="$run_dir/gateway-perf.data" top="$run_dir/gateway-perf-top15.txt"
  if ! command -v perf >/dev/null 2>&1; then
    log "perf not installed (apt-get install linux-perf): no gateway profile"
    return 0
  fi
  log "perf profile of the gateway (pid $gw_pid) under wrk -t1 -c$conc, ${secs}s"
  wrk -t1 -c"$conc" -d"$((secs + 2))s" "$url" >"$run_dir/gateway-perf-wrk.txt" 2>&1 &
  local wrk_pid=$!
  sleep 1  # wrk connected and at full rate before sampling starts
  perf record -F 999 -g -p "$gw_pid" -o "$data" -- sleep "$secs" >"$run_dir/gateway-perf-record.log" 2>&1 ||
    log "perf record failed: $(tail -1 "$run_dir/gateway-perf-record.log")"
  wait "$wrk_pid" || true
  perf report -i "$data" --no-children --sort symbol --stdio >"$run_dir/gateway-perf-report.txt" 2>/dev/null || true
  {
    echo "# gateway (pid $gw_pid) self time by symbol, top 15: perf report --no-children --sort symbol -g none"
    echo "# load: wrk -t1 -c$conc -d$((secs + 2))s $url; sampled ${secs}s at 999 Hz;" \
      "$(date -u +%FT%TZ), $(git -C "$DS_ROOT" rev-parse --short HEAD 2>/dev/null), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    perf report -i "$data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep -m1 '^# Samples' || true
    perf report -i "$data" --no-children --sort symbol -g none --stdio 2>/dev/null |
      grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -15
  } >"$top"
  sed 's/^/  /' "$top"
  log "gateway profile saved: $top (whole report: gateway-perf-report.txt, samples: gateway-perf.data)"
}

bench_gateway() {
  local hot="/v1/channels/1/messages?limit=50"
  ensure_bench_http_tools
  log "gateway: wrk vs nginx vs direct gRPC, hot channel and uniform over 20 channels, $conc connections, ${secs}s per run, interleaved"
  seed
  scripts/cluster start --dir "$run_dir/cluster" --store "$run_dir/store.db" --nodes 3 >/dev/null
  # shellcheck disable=SC1091
  source "$run_dir/cluster/cluster.env"
  local gw_pid node_pids=() f
  gw_pid=$(cat "$run_dir/cluster/gateway.pid")
  for f in "$run_dir"/cluster/node*.pid; do node_pids+=("$(cat "$f")"); done
  chmod 755 "$run_dir"
  mkdir -p "$run_dir/www"
  curl -fsS "http://$GATEWAY$hot" >"$run_dir/www/hot.json"
  local nginx_port
  nginx_port=$(start_nginx "$run_dir/www")
  local nginx_pid
  nginx_pid=$(pgrep -f "nginx: worker process" -P "$(cat "$run_dir/nginx/master.pid")" | head -1)
  log "response: $(wc -c <"$run_dir/www/hot.json") bytes; gateway pid $gw_pid; nginx worker pid $nginx_pid on port $nginx_port"
  cat >"$run_dir/uniform.lua" <<'LUA'
-- Channels 1..20 uniformly at random (seeded), GetMessages limit 50.
local requests = {}
init = function(args)
  math.randomseed(1)
  for i = 1, 20 do requests[i] = wrk.format("GET", "/v1/channels/" .. i .. "/messages?limit=50") end
end
request = function() return requests[math.random(1, 20)] end
LUA
  wrk -t1 -c"$conc" -d1s "http://$GATEWAY$hot" >/dev/null  # warm-up, not measured
  local i r gw ng nd lg gu nu
  local -a rows=()
  for i in 1 2; do
    gw=$(wrk_run "gw-hot-$i" "$gw_pid" "http://$GATEWAY$hot")
    ng=$(wrk_run "nginx-hot-$i" "$nginx_pid" "http://127.0.0.1:$nginx_port/hot.json")
    nd=$(loadgen_run 0 --keys hot --hot-fraction 1 --target nodes --nodes "$NODES")
    lg=$(loadgen_run "$gw_pid" --keys hot --hot-fraction 1 --target gateway --gateway "$GATEWAY" \
         --connections "$conc" --http-threads 1)
    gu=$(wrk_run "gw-uniform-$i" "$gw_pid" "http://$GATEWAY$hot" "$run_dir/uniform.lua")
    nu=$(loadgen_run 0 --keys uniform -channels 20 --target nodes --nodes "$NODES")
    rows+=("$i hot gateway(wrk) $gw" "$i hot nginx(wrk) $ng" "$i hot nodes(loadgen-grpc) $nd"
           "$i hot gateway(loadgen-http) $lg" "$i uniform gateway(wrk) $gu" "$i uniform nodes(loadgen-grpc) $nu")
    printf '  run %s  hot      gateway/wrk %7.0f req/s p99 %6.2f ms %5.1f us/req | nginx/wrk %7.0f p99 %6.2f %5.1f us/req | nodes/gRPC %7.0f p99 %6.2f | gateway/ds-loadgen %7.0f p99 %6.2f\n' \
      "$i" $gw $ng $(echo "$nd" | cut -d' ' -f1-2) $(echo "$lg" | cut -d' ' -f1-2)
    printf '  run %s  uniform  gateway/wrk %7.0f req/s p99 %6.2f ms %5.1f us/req | nodes/gRPC %7.0f p99 %6.2f\n' \
      "$i" $gu $(echo "$nu" | cut -d' ' -f1-2)
  done
  printf '%s\n' "${rows[@]}" >"$run_dir/gateway-rows.txt"
  python3 - "$run_dir/gateway-rows.txt" <<'PY'
import collections, sys
sums = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
for line in open(sys.argv[1]):
    _, shape, client, rps, p99, cpu = line.split()
    s = sums[(shape, client)]
    s[0] += float(rps); s[1] += float(p99); s[2] += float(cpu); s[3] += 1
def rps(shape, client): return sums[(shape, client)][0]
def avg(shape, client, k): s = sums[(shape, client)]; return s[k] / s[3]
print("  RESULT gateway hot: gateway/nginx = %.2f (target >= 0.5), gateway/direct gRPC = %.2f (target >= 1.0)"
      % (rps("hot", "gateway(wrk)") / rps("hot", "nginx(wrk)"), rps("hot", "gateway(wrk)") / rps("hot", "nodes(loadgen-grpc)")))
print("  RESULT gateway uniform over 20 channels: gateway/direct gRPC = %.2f (target >= 0.8)"
      % (rps("uniform", "gateway(wrk)") / rps("uniform", "nodes(loadgen-grpc)")))
print("  RESULT p99 at %s: hot gateway %.2f ms, nginx %.2f ms, direct gRPC %.2f ms; uniform gateway %.2f ms, direct gRPC %.2f ms"
      % ("64 connections", avg("hot", "gateway(wrk)", 1), avg("hot", "nginx(wrk)", 1), avg("hot", "nodes(loadgen-grpc)", 1),
         avg("uniform", "gateway(wrk)", 1), avg("uniform", "nodes(loadgen-grpc)", 1)))
print("  RESULT server CPU per request: gateway hot %.1f us, gateway uniform %.1f us, nginx %.1f us"
      % (avg("hot", "gateway(wrk)", 2), avg("uniform", "gateway(wrk)", 2), avg("hot", "nginx(wrk)", 2)))
print("  RESULT HTTP clients on the same gateway (hot): ds-loadgen / wrk throughput = %.2f"
      % (rps("hot", "gateway(loadgen-http)") / rps("hot", "gateway(wrk)")))
PY
  if [[ "${DS_BENCH_PERF:-0}" == 1 ]]; then gateway_profile "$gw_pid" "http://$GATEWAY$hot"; fi
  stop_all
  scripts/cluster stop --dir "$run_dir/cluster" >/dev/null
}
