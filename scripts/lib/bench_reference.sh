# scripts/lib/bench_reference.sh — `scripts/bench reference` (issue 10): the Go
# reference service (github.com/amrdb/data-services) against two ds-nodes, both
# on the same 3-node Cassandra (RF 1, as in the reference's schema), the seed
# burst (20 channels x 10,000 getMessage on the reference routing), alternating,
# DS_BENCH_ROUNDS rounds. Reports server CPU per request (/proc utime + stime of
# the two server processes over the burst), store queries and p99.
#
# The reference's source: DS_REFERENCE_DIR (a checkout), else the Go module
# proxy (`go mod download github.com/amrdb/data-services@latest`). Without it
# the ds-node side still runs and the reason is printed. The Go toolchain
# (the reference needs Go >= 1.23) comes from the Go module proxy
# (golang.org/toolchain) into build/go, never from the machine.
# Sourced by scripts/bench; uses its start/measured/summary/loadgen helpers.

ref_go_version="${DS_REFERENCE_GO:-1.23.4}"

# Prints the path of a `go` binary, downloading the toolchain module once.
ref_go() {
  local dir="$DS_ROOT/build/go/go$ref_go_version"
  if [[ ! -x "$dir/bin/go" ]]; then
    mkdir -p "$DS_ROOT/build/go"
    local zip="$DS_ROOT/build/go/toolchain.zip"
    curl -fsSL -o "$zip" \
      "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$ref_go_version.linux-amd64.zip" ||
      die "cannot download the Go toolchain from the Go module proxy"
    python3 - "$zip" "$dir" <<'PY'
import os, sys, zipfile
zf, out = zipfile.ZipFile(sys.argv[1]), sys.argv[2]
for info in zf.infolist():
    parts = info.filename.split("/")  # golang.org/toolchain@VERSION/...
    at = next((i for i, p in enumerate(parts) if "@" in p), len(parts))
    name = "/".join(parts[at + 1:])
    if not name or name.endswith("/"):
        continue
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(zf.read(info))
    os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
PY
    rm -f "$zip"
  fi
  echo "$dir/bin/go"
}

# Builds the reference's server into $run_dir/ref-server; prints why not on failure.
ref_build() {
  local go src
  go=$(ref_go)
  export GOPATH="$DS_ROOT/build/go/path" GOMODCACHE="$DS_ROOT/build/go/mod" GOFLAGS=-modcacherw \
    GOTOOLCHAIN=local GOPROXY="${GOPROXY:-https://proxy.golang.org}"
  src="${DS_REFERENCE_DIR:-}"
  if [[ -z "$src" ]]; then
    (cd "$run_dir" && "$go" mod download -json github.com/amrdb/data-services@latest >ref-mod.json 2>&1) || true
    src=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j.get("Dir", ""))' "$run_dir/ref-mod.json" 2>/dev/null || true)
    if [[ -z "$src" ]]; then
      echo "the Go module proxy does not serve it: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("Error", "?").splitlines()[0])' "$run_dir/ref-mod.json" 2>/dev/null)"
      return 1
    fi
  fi
  (cd "$src" && "$go" build -o "$run_dir/ref-server" ./dataservice) >"$run_dir/ref-build.log" 2>&1 ||
    { tail -5 "$run_dir/ref-build.log"; return 1; }
}

# The reference's schema and rows (keyspace dataservices, RF 1; one message
# per channel, id channel * 1000), through scripts/cassandra.
ref_schema() {
  local cdir="$1" c
  scripts/cassandra --dir "$cdir" cql "CREATE KEYSPACE IF NOT EXISTS dataservices WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" >/dev/null
  scripts/cassandra --dir "$cdir" cql "CREATE TABLE IF NOT EXISTS dataservices.messages (channel_id bigint, message_id bigint, author_id bigint, content text, PRIMARY KEY (channel_id, message_id)) WITH CLUSTERING ORDER BY (message_id DESC)" >/dev/null
  for c in $(seq 20); do
    scripts/cassandra --dir "$cdir" cql "INSERT INTO dataservices.messages (channel_id, message_id, author_id, content) VALUES ($c, $((c * 1000)), $((4000 + c * 1000)), 'Channel $((c * 1000))')" >/dev/null
  done
}

# The reference server dials the host name cassandra-node1: it runs in a
# mount namespace of its own whose /etc/hosts maps that name to 127.0.0.1.
ref_start() {
  local name="$1" port="$2"
  printf '127.0.0.1 localhost cassandra-node1\n' >"$run_dir/ref-hosts"
  : >"$run_dir/$name.log"
  PORT="$port" unshare --mount -- sh -c "mount --bind '$run_dir/ref-hosts' /etc/hosts && exec '$run_dir/ref-server'" \
    >"$run_dir/$name.log" 2>&1 &
  echo $! >"$run_dir/$name.pid"
  for _ in $(seq 100); do grep -q "Starting server" "$run_dir/$name.log" && return 0; sleep 0.2; done
  cat "$run_dir/$name.log" >&2
  die "$name did not start"
}

# DS_BENCH_PERF=1: a perf profile of the two ds-nodes over 3 more bursts,
# top entries by shared object and by symbol (self time).
ref_profile() {
  local pids i
  pids="$(cat "$run_dir/node1.pid"),$(cat "$run_dir/node2.pid")"
  log "reference: perf profile of the ds-nodes over 3 bursts (top entries, self time)"
  perf record -F 999 -g -p "$pids" -o "$run_dir/perf.data" >/dev/null 2>&1 &
  local perf_pid=$!
  sleep 1
  for i in 1 2 3; do loadgen -channels 20 -requests 10000 --target reference --nodes "$1" >/dev/null; done
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  local sort
  for sort in comm,dso symbol; do
    perf report -i "$run_dir/perf.data" --no-children --sort "$sort" --percent-limit 1.5 --stdio 2>/dev/null |
      grep -E '^ +[0-9]' | head -20
  done
}

bench_reference() {
  local hosts=127.0.0.1,127.0.0.2,127.0.0.3 cdir=/tmp/data-services-cassandra-demo why="" r who n1 n2
  local have_ref=1
  why=$(ref_build) || have_ref=0
  [[ $have_ref == 1 ]] || log "reference: NOT measured ($why); ds-node side only"
  log "reference: starting 3 Cassandra nodes in $cdir"
  scripts/cassandra --dir "$cdir" start --nodes 3 >/dev/null
  "$bin/ds-seed" --backend cassandra --cassandra-hosts "$hosts" --cassandra-keyspace chat_rf1 \
    --replication-factor 1 --channels 20 --messages 200 --quiet >/dev/null
  [[ $have_ref == 1 ]] && ref_schema "$cdir"
  local node=("$bin/ds-node" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --backend cassandra
    --cassandra-hosts "$hosts" --cassandra-keyspace chat_rf1 --cassandra-replication-factor 1
    ${DS_BENCH_NODE_ARGS:-})
  read -r n1 _ < <(start node1 "${node[@]}")
  read -r n2 _ < <(start node2 "${node[@]}")
  local ds_addrs="127.0.0.1:$n1,127.0.0.1:$n2" ref_addrs="127.0.0.1:50051,127.0.0.1:50052"
  local linger="${DS_BENCH_LINGER:-}" l1 l2 linger_addrs=""
  if [[ -n $linger ]]; then  # two more ds-nodes with the hot-key linger on, same store
    read -r l1 _ < <(start linger1 "${node[@]}" --linger-max "$linger")
    read -r l2 _ < <(start linger2 "${node[@]}" --linger-max "$linger")
    linger_addrs="127.0.0.1:$l1,127.0.0.1:$l2"
  fi
  # The gRPC floor in the same run: two no-op servers (canned answers, no store).
  local o1 o2
  read -r o1 _ < <(start noop1 "$bin/ds-noop-server" --messages 1 --content-bytes 12)
  read -r o2 _ < <(start noop2 "$bin/ds-noop-server" --messages 1 --content-bytes 12)
  if [[ $have_ref == 1 ]]; then
    ref_start ref1 50051
    ref_start ref2 50052
  fi
  local burst=(-channels 20 -requests 10000 --target reference)  # metrics: GetAndResetMetrics
  local whos="node"
  [[ $have_ref == 1 ]] && whos="ref node"
  [[ -n $linger ]] && whos="$whos linger"
  whos="$whos noop"
  declare -A addrs=([ref]="$ref_addrs" [node]="$ds_addrs" [linger]="$linger_addrs"
    [noop]="127.0.0.1:$o1,127.0.0.1:$o2")
  declare -A extra=([noop]=--no-metrics)  # the no-op server keeps no counters
  for who in $whos; do  # unmeasured warm-up: connections, prepared statements
    # shellcheck disable=SC2086
    loadgen "${burst[@]}" --nodes "${addrs[$who]}" ${extra[$who]:-} >/dev/null
  done
  : >"$run_dir/ref_runs.jsonl"
  for r in $(seq "${DS_BENCH_ROUNDS:-3}"); do
    for who in $whos; do
      # shellcheck disable=SC2086
      measured "${who}1 ${who}2" "${burst[@]}" --nodes "${addrs[$who]}" ${extra[$who]:-} >"$run_dir/one.json"
      echo "  run $r  $(printf '%-8s' "$who"): $(summary <"$run_dir/one.json")"
      python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j["who"]=sys.argv[2]; print(json.dumps(j))' \
        "$run_dir/one.json" "$who" >>"$run_dir/ref_runs.jsonl"
    done
  done
  if [[ "${DS_BENCH_PERF:-0}" == 1 ]]; then ref_profile "$ds_addrs"; fi
  stop_all
  scripts/cassandra --dir "$cdir" stop >/dev/null
  python3 - "$run_dir/ref_runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
res = {}
for who in ("ref", "node", "linger", "noop"):
    rs = [r for r in runs if r["who"] == who]
    if not rs:
        continue
    res[who] = (sum(r["server_cpu_s"] for r in rs) * 1e6 / max(1, sum(r["completed"] for r in rs)),
                [r.get("total_queries_executed") or 0 for r in rs],
                statistics.median(r["latency_ms"]["p99"] for r in rs))
    print("  RESULT %-4s: server CPU %.1f us/request, store queries %s, median p99 %.1f ms" % (who, *res[who]))
for who in ("node", "linger"):
    if "ref" in res and who in res:
        print("  RESULT %s / reference: CPU per request %.2f (target <= 0.5), store queries %.2f, p99 %.2f"
              % (who, res[who][0] / res["ref"][0], sum(res[who][1]) / max(1, sum(res["ref"][1])),
                 res[who][2] / res["ref"][2]))
for who in ("ref", "node"):
    if who in res and "noop" in res:
        print("  RESULT %s / no-op gRPC floor (ds-noop-server): CPU per request %.2f" % (who, res[who][0] / res["noop"][0]))
PY
}
