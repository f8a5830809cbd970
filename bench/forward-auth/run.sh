#!/usr/bin/env bash
# Forward-auth benchmark: `tollgate serve` (nginx dialect) called directly and
# behind nginx (`auth_request`, examples/proxies/nginx.conf), with its token
# cache off and on, against the Node peer (bench/peers/forward-auth.mjs around
# aws-jwt-verify) on the same tokens, in one run, on 127.0.0.1 only.
#
#   bash bench/forward-auth/run.sh
#
# Per target: a warm-up, a peak run (`wrk -t1 -c32 -d10s --latency`, each
# request the next of the rotating tokens: bench/forward-auth/rotate.lua), then
# a run at half that peak's rate (the same script with RATE set: see the
# script's header for how the rate is held) for the latency at half load. It
# prints one table and the issue's two goals, computed from this run's numbers.
# Targets, in order, per algorithm: the Node peer; tollgate serve with the
# cache off, direct and behind nginx; with the cache on, the same two. For
# ES256 only the peer and tollgate direct with the cache off (nginx and the
# cache cost the same whatever the algorithm).
#
# What it installs when missing (and fails, saying why, when it cannot):
# wrk, nginx, node and npm from Debian's packages (apt-get, as root); the Node
# peer's packages with `npm ci` into target/bench-peers/node_modules (pinned by
# bench/peers/package-lock.json). Fixtures, the policy, nginx's config and every
# wrk output go to target/bench-forward-auth/ (target/: $CARGO_TARGET_DIR if set). Every process it starts runs in
# its own process group and is stopped on exit.
#
# Environment: BENCH_DURATION (seconds per measured run, default 10),
# BENCH_WARMUP (default 3), BENCH_ALGS (default "rs256 es256"),
# BENCH_PORT_BASE (default 18400: it uses BASE..BASE+4), CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET_DIR/bench-forward-auth
PEERS=$TARGET_DIR/bench-peers
DATA=$WORK/data
RESULTS=$WORK/results
LUA=$ROOT/bench/forward-auth/rotate.lua
PATH=$PATH:/usr/sbin:/sbin

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
ALGS=${BENCH_ALGS:-"rs256 es256"}
CONNS=32
DISTINCT=20000
ROTATING=1000
BASE=${BENCH_PORT_BASE:-18400}
P_TOLLGATE=$BASE           # tollgate's nginx-dialect listener
P_ADMIN=$((BASE + 1))      # tollgate's admin listener (/readyz, /metrics)
P_NGINX=$((BASE + 2))      # nginx, what the client calls
P_UPSTREAM=$((BASE + 3))   # the upstream behind nginx (nginx answers 200 itself)
P_PEER=$((BASE + 4))       # the Node peer

die() {
  echo "bench/forward-auth: $*" >&2
  exit 1
}
say() { echo "== $*" >&2; }

# ------------------------------------------------------------ processes

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_process "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start LOG CMD...: runs CMD in a process group of its own (its id is the
# pid), stdout and stderr to LOG; sets STARTED to the pid. (From a script
# without job control setsid(1) makes the new session in place, without
# forking; anything else is refused, as the group could not be stopped.)
start() {
  local log=$1 i group
  shift
  setsid "$@" >"$log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
  for i in $(seq 100); do
    group=$(ps -o pgid= -p "$STARTED" 2>/dev/null | tr -d ' ' || true)
    [ "$group" = "$STARTED" ] && return 0
    kill -0 "$STARTED" 2>/dev/null || break
    sleep 0.02
  done
  cat "$log" >&2
  die "$1 did not start in a process group of its own (run this script with bash, not sourced)"
}

# stop_process PID: SIGTERM to its group, then SIGKILL after 5 s.
stop_process() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=()
  for i in "${PIDS[@]}"; do [ "$i" = "$pid" ] || kept+=("$i"); done
  PIDS=("${kept[@]+"${kept[@]}"}")
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http PID LOG URL [CURL ARGS...]: until URL answers 200, or fail.
wait_http() {
  local pid=$1 log=$2 url=$3 i
  shift 3
  for i in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the process for $url exited before answering (log above: $log)"; }
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null)" = 200 ]; then return 0; fi
    sleep 0.1
  done
  cat "$log" >&2
  die "$url did not answer 200 within 30 s (log: $log)"
}

# expect CODE URL [CURL ARGS...]: one request must answer CODE.
expect() {
  local want=$1 url=$2 got
  shift 2
  got=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)
  [ "$got" = "$want" ] || die "$url answered $got, expected $want"
}

# ------------------------------------------------------------ tools

apt_install() {
  local cmd=$1 package=$2
  command -v "$cmd" >/dev/null && return 0
  say "$cmd is missing: installing Debian's $package"
  command -v apt-get >/dev/null || die "$cmd is missing and there is no apt-get: install $package"
  [ "$(id -u)" = 0 ] || die "$cmd is missing: installing $package needs root (apt-get install $package)"
  if [ -z "${APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed (is Debian's archive reachable?)"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null ||
    die "apt-get install $package failed"
  command -v "$cmd" >/dev/null || die "apt-get installed $package but there is still no $cmd"
}

apt_install curl curl
apt_install setsid util-linux
apt_install ps procps
apt_install wrk wrk
apt_install nginx nginx
apt_install node nodejs
apt_install npm npm
node -e 'require("os").availableParallelism()' 2>/dev/null ||
  die "node $(node --version) is too old for bench/peers/forward-auth.mjs (needs os.availableParallelism: Node >= 18.14)"
WRK_VERSION=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2 || true)

for port in $P_TOLLGATE $P_ADMIN $P_NGINX $P_UPSTREAM $P_PEER; do
  port_free "$port" || die "127.0.0.1:$port is in use (set BENCH_PORT_BASE to use other ports)"
done
mkdir -p "$WORK" "$DATA" "$RESULTS" "$PEERS"

# The Node peer: bench/peers copied to $PEERS, its packages installed there.
for name in forward-auth.mjs gen.mjs verifiers.mjs package.json package-lock.json; do
  cp -f "$ROOT/bench/peers/$name" "$PEERS/$name"
done
if [ ! -d "$PEERS/node_modules/aws-jwt-verify" ] ||
  ! cmp -s "$PEERS/package-lock.json" "$PEERS/node_modules/.package-lock.json.installed"; then
  say "npm ci (aws-jwt-verify and the peers' other packages) into $PEERS/node_modules"
  (cd "$PEERS" && npm ci --silent --no-audit --no-fund) ||
    die "npm ci failed in $PEERS (is the npm registry reachable?)"
  cp "$PEERS/package-lock.json" "$PEERS/node_modules/.package-lock.json.installed"
fi
AWS_VERSION=$(node -p 'require(process.argv[1]).version' "$PEERS/node_modules/aws-jwt-verify/package.json")

say "cargo build --release -p tollgate"
(cd "$ROOT" && cargo build --release -p tollgate) || die "cargo build --release -p tollgate failed"
TOLLGATE=$TARGET_DIR/release/tollgate
[ -x "$TOLLGATE" ] || die "no $TOLLGATE after the build"

# ------------------------------------------------------------ fixtures

if [ "$(node -p 'try { require(process.argv[1]).n } catch { 0 }' "$DATA/meta.json")" != "$DISTINCT" ] ||
  [ ! -s "$DATA/tokens-rs256.txt" ] || [ ! -s "$DATA/tokens-es256.txt" ]; then
  say "node bench/peers/gen.mjs $DISTINCT (keys and tokens for RS256, ES256, EdDSA, HS256)"
  node "$PEERS/gen.mjs" "$DISTINCT" "$DATA" >/dev/null || die "node gen.mjs failed"
fi
ISS=$(node -p 'require(process.argv[1]).iss' "$DATA/meta.json")
AUD=$(node -p 'require(process.argv[1]).aud' "$DATA/meta.json")
lines=$(wc -l <"$DATA/tokens-rs256.txt")
[ "$lines" -ge "$DISTINCT" ] || die "$DATA/tokens-rs256.txt has $lines tokens, expected $DISTINCT"

# The tokens are Cognito-like access tokens: iss, aud = client_id, token_use
# "access", scope, exp in 2036. The policy checks what the Node peer checks
# (signature, iss, aud, exp) and, as a Cognito policy would, token_use.
write_policy() {
  local alg=$1 upper
  upper=$(echo "$alg" | tr a-z A-Z)
  cat >"$WORK/policy-$alg.toml" <<EOF
# Written by bench/forward-auth/run.sh for the fixtures of bench/peers/gen.mjs.
[[issuer]]
issuer     = "$ISS"
jwks_file  = "data/jwks-$alg.json"
algorithms = ["$upper"]
audiences  = ["$AUD"]
token_use  = "access"
EOF
  local out
  if ! out=$("$TOLLGATE" check --config "$WORK/policy-$alg.toml" --method GET --path /orders/42 \
    --token "Bearer $(head -1 "$DATA/tokens-$alg.txt")" 2>&1); then
    echo "$out" >&2
    die "tollgate check does not allow the first $upper token with $WORK/policy-$alg.toml (output above)"
  fi
  say "tollgate check: the first $upper token is allowed: $out"
}

# A token with its signature changed: must be refused (401) by every target.
tampered() {
  local token sig
  token=$(head -1 "$DATA/tokens-$1.txt")
  sig=${token##*.}
  if [ "${sig:0:1}" = A ]; then sig=B${sig:1}; else sig=A${sig:1}; fi
  echo "${token%.*}.$sig"
}

# nginx: the project's example config, as the tests run it, with the ports
# replaced, its access log off (a log line per request costs throughput, as
# tollgate's do), and a second server on the upstream port answering 200.
write_nginx_conf() {
  local source=$ROOT/examples/proxies/nginx.conf dir=$WORK/nginx s
  [ -f "$source" ] || die "$source is missing"
  for s in 'listen 127.0.0.1:8000;' 'server 127.0.0.1:8080;' 'server 127.0.0.1:8181;' \
    'access_log /dev/stdout;'; do
    [ "$(grep -cF "$s" "$source")" = 1 ] || die "$source no longer has exactly one '$s': update run.sh"
  done
  [ "$(tail -n 1 "$source")" = "}" ] || die "$source does not end with the http block's '}': update run.sh"
  mkdir -p "$dir"
  sed -e "s/listen 127\.0\.0\.1:8000;/listen 127.0.0.1:$P_NGINX;/" \
    -e "s/server 127\.0\.0\.1:8080;/server 127.0.0.1:$P_UPSTREAM;/" \
    -e "s/server 127\.0\.0\.1:8181;/server 127.0.0.1:$P_TOLLGATE;/" \
    -e 's|access_log /dev/stdout;|access_log off;|' "$source" | sed '$d' >"$dir/nginx.conf"
  cat >>"$dir/nginx.conf" <<EOF

    # Added by bench/forward-auth/run.sh: the upstream, answered by nginx itself.
    server {
        listen 127.0.0.1:$P_UPSTREAM;
        location / {
            return 200;
        }
    }
}
EOF
  nginx -q -t -e stderr -p "$dir" -c "$dir/nginx.conf" -g 'daemon off; master_process off;' ||
    die "nginx -t refused $dir/nginx.conf"
}

# ------------------------------------------------------------ measuring

# wrk_run NAME URL TOKENS LIMIT PATH FORWARD SECONDS [RATE]: one wrk run,
# output kept in $RESULTS/NAME.txt; prints "rps p50_ms p99_ms errors requests".
wrk_run() {
  local name=$1 url=$2 tokens=$3 limit=$4 path=$5 forward=$6 seconds=$7 rate=${8:-0}
  local out=$RESULTS/$name.txt
  TOKENS=$tokens TOKENS_LIMIT=$limit REQ_PATH=$path FORWARD_HEADERS=$forward RATE=$rate \
    wrk -t1 -c"$CONNS" -d"${seconds}s" --latency -s "$LUA" "$url" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed on $url (output above)"; }
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v + 0
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /requests in/ { requests = $1 }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $5 }
    /^Requests\/sec:/ { rps = $2 }
    END {
      if (rps == "" || p99 == "") exit 1
      printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, errors, requests
    }' "$out" || { cat "$out" >&2; die "cannot read wrk's output ($out)"; }
}

CLK_TCK=$(getconf CLK_TCK)
# group_ticks PGID: CPU time (user + system, in clock ticks) used so far by
# the processes of this process group (a server this script started).
group_ticks() {
  local pid total=0 t
  for pid in $(pgrep -g "$1" || true); do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}

ROWS=()     # one tab-separated line per target
SERVERS=""  # the servers of the target measured next: NAME:PGID ...
declare -A PEAK HALF_P99 ERRS
# measure KEY LABEL ALG TOKENSET URL PATH FORWARD: warm-up, peak, half rate;
# adds a row (its last field, notes, empty: note_since fills it).
measure() {
  local key=$1 label=$2 alg=$3 set=$4 url=$5 path=$6 forward=$7
  local tokens=$DATA/tokens-$alg.txt limit=0 set_label="$DISTINCT distinct"
  if [ "$set" = rotating ]; then limit=$ROTATING; set_label="$ROTATING rotating"; fi
  say "$label ($alg, $set_label): warm-up ${WARMUP}s, peak ${DURATION}s, half rate ${DURATION}s"
  wrk_run "$key-warmup" "$url" "$tokens" "$limit" "$path" "$forward" "$WARMUP" >/dev/null
  local peak half rate server before=() after=() cpu split=""
  for server in $SERVERS; do before+=("$(group_ticks "${server#*:}")"); done
  peak=$(wrk_run "$key-peak" "$url" "$tokens" "$limit" "$path" "$forward" "$DURATION")
  for server in $SERVERS; do after+=("$(group_ticks "${server#*:}")"); done
  read -r p_rps p_50 p_99 p_err p_n <<<"$peak"
  # CPU µs per request: all the target's servers, and each when there are several
  cpu=$(awk -v b="${before[*]}" -v a="${after[*]}" -v names="$SERVERS" -v hz="$CLK_TCK" -v n="$p_n" 'BEGIN {
    k = split(b, x, " "); split(a, y, " "); split(names, s, " ")
    for (i = 1; i <= k; i++) { us[i] = (y[i] - x[i]) / hz * 1e6 / n; total += us[i] }
    printf "%.1f", total
    if (k > 1) for (i = 1; i <= k; i++) { sub(/:.*/, "", s[i]); printf "%s%s %.1f", (i == 1 ? "\t" : " + "), s[i], us[i] }
  }')
  if [[ $cpu == *$'\t'* ]]; then split="CPU us: ${cpu#*$'\t'}; "; cpu=${cpu%%$'\t'*}; fi
  rate=$((p_rps / 2))
  half=$(wrk_run "$key-half" "$url" "$tokens" "$limit" "$path" "$forward" "$DURATION" "$rate")
  read -r h_rps h_50 h_99 h_err h_n <<<"$half"
  PEAK[$key]=$p_rps
  HALF_P99[$key]=$h_99
  ERRS[$key]=$((p_err + h_err))
  say "  peak $p_rps req/s (p50 $p_50 ms, p99 $p_99 ms, server CPU $cpu us/request); at $rate req/s asked: $h_rps req/s, p50 $h_50 ms, p99 $h_99 ms; errors $((p_err + h_err))"
  ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' \
    "$key" "$label" "$(echo "$alg" | tr a-z A-Z)" "$set_label" "$p_rps" "$p_50" "$p_99" "$cpu" \
    "$rate" "$h_rps" "$h_50" "$h_99" "$((p_err + h_err))" "$split")")
}

# metrics: "hits misses not_allow" from tollgate's /metrics (cumulative):
# tollgate_token_cache_{hits,misses}_total and tollgate_decisions_total.
metrics() {
  curl -s "http://127.0.0.1:$P_ADMIN/metrics" | awk '
    /^#/ { next }
    $1 ~ /token_cache_hits(_total)?$/ { hits = $NF }
    $1 ~ /token_cache_misses(_total)?$/ { misses = $NF }
    /^tollgate_decisions_total/ && !/outcome="allow"/ { other += $NF }
    /^tollgate_decision_duration_seconds_sum/ { sum += $NF }
    /^tollgate_decision_duration_seconds_count/ { count += $NF }
    END { printf "%d %d %d %.6f %d\n", hits, misses, other, sum, count }'
}

# note_since BEFORE: appends to the last row what tollgate counted since
# BEFORE (an output of `metrics`): the mean time from reading a decision
# request to its answer, its cache's hit rate, answers other than allow.
note_since() {
  local now last
  now=$(metrics)
  last=$((${#ROWS[@]} - 1))
  ROWS[last]+=$(awk -v a="$1" -v b="$now" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    hits = y[1] - x[1]; misses = y[2] - x[2]; other = y[3] - x[3]
    sum = y[4] - x[4]; count = y[5] - x[5]
    if (count > 0) printf "tollgate %.1f us/decision (wall)", sum / count * 1e6
    if (hits + misses > 0) printf ", cache hits %.1f%%", 100 * hits / (hits + misses)
    if (other > 0) printf ", %d answers not allow", other
  }')
}

start_tollgate() {
  local alg=$1 cache=$2 log=$WORK/tollgate-$alg-$cache.log
  local args=(serve --config "$WORK/policy-$alg.toml" --nginx "127.0.0.1:$P_TOLLGATE"
    --admin "127.0.0.1:$P_ADMIN" --shutdown-grace-seconds 1)
  [ "$cache" = off ] && args+=(--token-cache-entries 0)
  start "$log" env TOLLGATE_LOG=warn "$TOLLGATE" "${args[@]}"
  TOLLGATE_PID=$STARTED
  wait_http "$TOLLGATE_PID" "$log" "http://127.0.0.1:$P_ADMIN/readyz"
  local url=http://127.0.0.1:$P_TOLLGATE/auth
  local fwd=(-H 'X-Original-Method: GET' -H 'X-Original-URI: /orders/42')
  expect 200 "$url" "${fwd[@]}" -H "Authorization: Bearer $(head -1 "$DATA/tokens-$alg.txt")"
  expect 401 "$url" "${fwd[@]}" -H "Authorization: Bearer $(tampered "$alg")"
}

start_nginx() {
  local log=$WORK/nginx.log dir=$WORK/nginx
  start "$log" nginx -e stderr -p "$dir" -c "$dir/nginx.conf" -g 'daemon off; master_process off;'
  NGINX_PID=$STARTED
  local url=http://127.0.0.1:$P_NGINX/orders/42
  wait_http "$NGINX_PID" "$log" "$url" -H "Authorization: Bearer $(head -1 "$DATA/tokens-$1.txt")"
  expect 401 "$url" -H "Authorization: Bearer $(tampered "$1")"
}

check_alive() {
  kill -0 "$1" 2>/dev/null || { cat "$2" >&2; die "$3 exited during the benchmark (log above: $2)"; }
}

# ------------------------------------------------------------ the run

write_nginx_conf
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for alg in $ALGS; do
  [ -s "$DATA/tokens-$alg.txt" ] || die "no fixtures for $alg (BENCH_ALGS: rs256, es256)"
  write_policy "$alg"

  # (d) the Node peer
  log=$WORK/peer-$alg.log
  start "$log" node "$PEERS/forward-auth.mjs" "$DATA/jwks-$alg.json" "$P_PEER"
  peer=$STARTED
  url=http://127.0.0.1:$P_PEER/auth
  wait_http "$peer" "$log" "$url" -H "Authorization: Bearer $(head -1 "$DATA/tokens-$alg.txt")"
  expect 401 "$url" -H "Authorization: Bearer $(tampered "$alg")"
  SERVERS=node:$peer
  measure "$alg-peer" "Node peer (aws-jwt-verify)" "$alg" distinct "$url" /auth 1
  check_alive "$peer" "$log" "the Node peer"
  stop_process "$peer"

  # (a) cache off, direct and behind nginx (c); (b) cache on, the same two
  caches="off on"
  [ "$alg" = rs256 ] || caches=off
  for cache in $caches; do
    tokenset=distinct
    [ "$cache" = on ] && tokenset=rotating
    start_tollgate "$alg" "$cache"
    tlog=$WORK/tollgate-$alg-$cache.log
    before=$(metrics)
    SERVERS=tollgate:$TOLLGATE_PID
    measure "$alg-direct-$cache" "tollgate serve, cache $cache" "$alg" "$tokenset" \
      "http://127.0.0.1:$P_TOLLGATE/auth" /auth 1
    note_since "$before"
    check_alive "$TOLLGATE_PID" "$tlog" "tollgate serve"
    if [ "$alg" = rs256 ]; then
      start_nginx "$alg"
      before=$(metrics)
      SERVERS="nginx:$NGINX_PID tollgate:$TOLLGATE_PID"
      measure "$alg-nginx-$cache" "nginx -> tollgate, cache $cache" "$alg" "$tokenset" \
        "http://127.0.0.1:$P_NGINX/orders/42" /orders/42 0
      note_since "$before"
      check_alive "$NGINX_PID" "$WORK/nginx.log" "nginx"
      check_alive "$TOLLGATE_PID" "$tlog" "tollgate serve"
      stop_process "$NGINX_PID"
    fi
    stop_process "$TOLLGATE_PID"
  done
done

# ------------------------------------------------------------ the table

node_version=$(node --version)
cat <<EOF

Forward auth: tollgate serve against the Node peer, one run ($(date -u +%Y-%m-%d), $(nproc) cores, load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg))
  client:   $WRK_VERSION, -t1 -c$CONNS, ${DURATION}s per run after a ${WARMUP}s warm-up, on 127.0.0.1, on the same cores as the servers
  peak:     wrk -t1 -c$CONNS -d${DURATION}s --latency -s bench/forward-auth/rotate.lua URL  (as fast as the server answers)
  half:     the same with RATE=<peak/2>: requests on a fixed schedule (rotate.lua's delay(), millisecond timer), latency from each write
  tokens:   "$DISTINCT distinct" = every request the next of $DISTINCT distinct tokens; "$ROTATING rotating" = the first $ROTATING of them, repeating
  tollgate: TOLLGATE_LOG=warn (no per-decision log line), default workers (one per core), nginx dialect;
            cache off: --token-cache-entries 0; cache on: the default cache (10,000 entries)
  nginx:    examples/proxies/nginx.conf (1 worker, auth_request, keepalive 16 to tollgate), ports replaced, access_log off
  peer:     bench/peers/forward-auth.mjs, aws-jwt-verify $AWS_VERSION, node $node_version, one cluster worker per core
  CPU us:   CPU time (user + system) the server's processes used in the peak run, per request: tollgate; nginx + tollgate; the peer's node processes
  notes:    the CPU split when nginx is in front; then from tollgate's /metrics over the target's runs: the mean time
            from reading a decision request to answering it (tollgate_decision_duration_seconds), the cache's hit rate
  wrk outputs: ${RESULTS#"$ROOT"/}

EOF
printf '%-30s %-6s %-15s %10s %7s %7s %7s %7s | %11s %9s %7s %7s %7s | %6s  %s\n' \
  target alg tokens "peak req/s" "p50 ms" "p99 ms" "CPU us" "x peer" "half: asked" "got req/s" "p50 ms" "p99 ms" "p99<2ms" errors notes
total_errors=0
for row in "${ROWS[@]}"; do
  IFS=$'\t' read -r key label ALG set p_rps p_50 p_99 cpu rate h_rps h_50 h_99 errs extra <<<"$row"
  alg=$(echo "$ALG" | tr A-Z a-z)
  peer=${PEAK[$alg-peer]:-0}
  ratio=$(awk -v a="$p_rps" -v b="$peer" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')
  goal=$(awk -v p="$h_99" 'BEGIN { print (p < 2 ? "PASS" : "MISS") }')
  printf '%-30s %-6s %-15s %10s %7.2f %7.2f %7s %7s | %11s %9s %7.2f %7.2f %7s | %6s  %s\n' \
    "$label" "$ALG" "$set" "$p_rps" "$p_50" "$p_99" "$cpu" "$ratio" "$rate" "$h_rps" "$h_50" "$h_99" "$goal" "$errs" "$extra" |
    sed 's/ *$//'
  total_errors=$((total_errors + errs))
done

echo
echo "Goals (from this run's numbers):"
for alg in $ALGS; do
  ALG=$(echo "$alg" | tr a-z A-Z)
  peer=${PEAK[$alg-peer]}
  ours=${PEAK[$alg-direct-off]}
  awk -v a="$ours" -v b="$peer" -v alg="$ALG" 'BEGIN {
    r = a / b
    printf "  %s throughput, cache off, distinct tokens, >= 3x the Node peer: %d / %d req/s = %.2fx  %s", alg, a, b, r, (r >= 3 ? "PASS" : "MISS")
    if (r < 3) printf " (%.0f req/s short of %d)", 3 * b - a, 3 * b
    printf "\n"
  }'
  awk -v p="${HALF_P99[$alg-direct-off]}" -v alg="$ALG" 'BEGIN {
    printf "  %s p99 < 2 ms at half the peak rate, tollgate serve direct, cache off: %.3f ms  %s\n", alg, p, (p < 2 ? "PASS" : "MISS")
  }'
done
if [ "$total_errors" -gt 0 ]; then
  echo
  echo "ERRORS: $total_errors requests failed or were not answered 2xx (see the errors column and $RESULTS)"
  exit 1
fi
