#!/usr/bin/env bash
# HTTP load benchmark, all in one run: the same `POST /book` served with no auth, with
# verifier-middleware's JwtAuthLayer, with jwt-authorizer (the most used Rust peer), and by the
# shipped `user-service` binary itself (its telemetry on, at its default level), loaded by wrk.
#
#   scripts/bench-http.sh
#
# Prints a Markdown table (requests/s, p99, token-cache hit rate where the server reports it,
# ratio against no auth and against jwt-authorizer with the same tokens) on stdout; progress
# goes to stderr. Scenarios, each with one repeated token and with N distinct tokens for each N
# of TOKEN_SETS:
#   (a)  none            no verification: the ceiling
#   (b)  layer           JwtAuthLayer as configured by default (verified-token cache on)
#   (u)  layer-uncached  JwtAuthLayer with disable_token_cache(): full verification
#   (s)  user-service    the release binary as dev-up.sh starts it (RUST_LOG unset:
#                        `info,http_access=warn`, no line per successful request; logs to a
#                        file), keys from a JWKS URL
#   (i)  user-service    the same with RUST_LOG=info: one line per request (1 token only)
#   (q)  user-service    the same with RUST_LOG=warn: the span per request off too (1 token only)
#   (h)  user-service    GET /healthz of the same binary: a route without auth behind the same
#                        telemetry, the service's own no-auth baseline (1 token, ignored)
#   (s0) BASELINE_SERVICE when set: another user-service binary (e.g. built from an older
#                        commit) started the same way, for a before/after in one run
#   (d)  jwt-authorizer  jwt-authorizer, same tokens
# Every verifier checks RS256, iss, aud, exp and nbf (60 s leeway) and loads the key from a
# JWKS URL. The bench server (verifier-middleware/bench-http, its own cargo workspace, one tokio
# worker) and user-service (one worker: it sees one CPU) are pinned to CPU 1, wrk (one thread)
# and the JWKS server of user-service to CPU 0. Before each run the route must answer 200 with
# a token and 401 without one or with a foreign key's token; any non-2xx response or socket
# error during a run fails the script.
#
# Settings (environment): DURATION [10s] measured run, WARMUP [3s] discarded run before it,
# CONNECTIONS [32], TOKEN_SETS ["1000 20000 100000"] sizes of the distinct-token mixes,
# ROUNDS [1] times every scenario runs, in turn (each row is the median round: on a shared
# machine one run can be 25 % off),
# PORT [18480] first of the loopback ports used (one per scenario, plus one),
# BASELINE_SERVICE [unset] path of a user-service binary to compare with. Installs
# Debian's wrk when missing (root). The throwaway RSA key lives in a temporary directory;
# keys/ is never read or written.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

duration="${DURATION:-10s}"
warmup="${WARMUP:-3s}"
connections="${CONNECTIONS:-32}"
read -r -a token_sets <<<"${TOKEN_SETS:-1000 20000 100000}"
rounds="${ROUNDS:-1}"
base_port="${PORT:-18480}"
lua="scripts/bench-http/tokens.lua"
manifest="verifier-middleware/bench-http/Cargo.toml"
bin="verifier-middleware/bench-http/target/release/verifier-middleware-bench-http"
service="target/release/user-service"
baseline="${BASELINE_SERVICE:-}"

say() { printf 'bench-http: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in cargo curl openssl taskset; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "wrk is not installed (apt-get install wrk, as root)"
  say "installing wrk (Debian package)..."
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
fi
[ "${#token_sets[@]}" -gt 0 ] || die "TOKEN_SETS is empty"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS: '$rounds' is not a positive number"
[ -z "$baseline" ] || [ -x "$baseline" ] || die "BASELINE_SERVICE: $baseline is not an executable"
largest=0
for n in "${token_sets[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "TOKEN_SETS: '$n' is not a positive number"
  [ "$n" -gt "$largest" ] && largest="$n"
done

# Servers and load generator on separate cores when there are two; shared otherwise.
if [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1)
  wrk_cpu=(taskset -c 0)
  pinning="servers pinned to CPU 1, wrk to CPU 0"
else
  server_cpu=()
  wrk_cpu=()
  pinning="one CPU: servers and wrk share it (not pinned)"
fi

say "building (release)..."
cargo build --release --quiet --manifest-path "$manifest"
cargo build --release --quiet -p example-services --bin user-service

work="$(mktemp -d)"
server_pid=""
jwks_pid=""
stop() {
  if [ -n "${!1}" ]; then
    kill "${!1}" 2>/dev/null || true
    wait "${!1}" 2>/dev/null || true
    printf -v "$1" '%s' ""
  fi
}
cleanup() {
  stop server_pid
  stop jwks_pid
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "signing $largest tokens..."
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/other.pem" 2>/dev/null
"$bin" tokens --key "$work/key.pem" --count 1 >"$work/one.txt"
"$bin" tokens --key "$work/key.pem" --count "$largest" >"$work/all.txt"
"$bin" tokens --key "$work/other.pem" --count 1 >"$work/foreign.txt"
[ "$(sort -u "$work/all.txt" | wc -l)" -eq "$largest" ] || die "tokens are not distinct"
for n in "${token_sets[@]}"; do
  head -n "$n" "$work/all.txt" >"$work/$n.txt"
done

# status URL [TOKEN]: the HTTP status of $method URL, with the token as bearer if given.
status() {
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$method" "${auth[@]}" "$1"
}

answers_200() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1")" = 200 ]; }

# wait_for PID LOG WHAT CHECK...: waits until the command CHECK succeeds, while PID runs.
wait_for() {
  local pid="$1" log="$2" what="$3"
  shift 3
  for _ in $(seq 100); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || die "$what exited: $(cat "$log")"
    sleep 0.1
  done
  die "$what not ready after 10 s: $(cat "$log")"
}

# The JWKS user-service loads, from a bench server on wrk's core (idle once fetched).
jwks_port="$base_port"
"${wrk_cpu[@]}" "$bin" serve --mode none --port "$jwks_port" --key "$work/key.pem" \
  2>"$work/jwks.log" &
jwks_pid=$!
wait_for "$jwks_pid" "$work/jwks.log" "JWKS server" grep -q '^ready' "$work/jwks.log"

# start_server MODE PORT: starts the server and waits until it holds its keys.
start_server() {
  local log="$work/server-$2.log"
  if [[ "$1" == service* ]]; then
    # As dev-up.sh starts it: telemetry at its defaults (RUST_LOG unset), logs to a file.
    local level=() binary="$service"
    [ "$1" = service-warn ] && level=(RUST_LOG=warn)
    [ "$1" = service-info ] && level=(RUST_LOG=info)
    [ "$1" = service-baseline ] && binary="$baseline"
    env -u RUST_LOG "${level[@]}" PORT="$2" JWT_JWKS_URL="http://127.0.0.1:$jwks_port/.well-known/jwks.json" \
      "${server_cpu[@]}" "$binary" 2>"$log" &
    server_pid=$!
    wait_for "$server_pid" "$log" "user-service" answers_200 "http://127.0.0.1:$2/readyz"
  else
    "${server_cpu[@]}" "$bin" serve --mode "$1" --port "$2" --key "$work/key.pem" 2>"$log" &
    server_pid=$!
    wait_for "$server_pid" "$log" "server ($1)" grep -q '^ready' "$log"
  fi
}

# check MODE URL TOKEN_FILE: the route answers as configured, or the run would measure errors.
check() {
  local token got
  token="$(head -n 1 "$3")"
  got="$(status "$2" "$token")"
  [ "$got" = 200 ] || die "$1: a valid token got $got, expected 200"
  if [ "$1" != none ] && [ "$1" != service-health ]; then
    got="$(status "$2")"
    [ "$got" = 401 ] || die "$1: no token got $got, expected 401"
    got="$(status "$2" "$(cat "$work/foreign.txt")")"
    [ "$got" = 401 ] || die "$1: a token signed by another key got $got, expected 401"
  fi
}

# load DURATION URL TOKEN_FILE OUT: one wrk run; fails on any error or non-2xx answer.
load() {
  BENCH_TOKENS="$3" BENCH_METHOD="$method" "${wrk_cpu[@]}" \
    wrk -t1 -c"$connections" -d"$1" --latency -s "$lua" "$2" >"$4"
  local line
  line="$(grep '^BENCH ' "$4")" || die "no result from wrk: $(cat "$4")"
  for field in non2xx connect read write timeout; do
    [[ "$line " == *" $field=0 "* ]] || die "wrk saw errors ($line); full output: $(cat "$4")"
  done
}

# cache_counts MODE PORT: "hits misses" of the token cache so far, from user-service's
# /metrics; "0 0" for the bench server, which has no recorder.
cache_counts() {
  if [[ "$1" != service* ]]; then
    echo "0 0"
    return
  fi
  curl -s --max-time 5 "http://127.0.0.1:$2/metrics" | awk '
    /^verifier_token_cache_hits_total/ { hits += $NF }
    /^verifier_token_cache_misses_total/ { misses += $NF }
    END { printf "%d %d\n", hits, misses }'
}

# id|label|mode|tokens; the table compares each row with (a) and with jwt-authorizer on the
# same token set (row d-TOKENS).
scenarios=()
for set in one "${token_sets[@]}"; do
  if [ "$set" = one ]; then what="1 repeated token"; else what="$set distinct tokens"; fi
  scenarios+=("a-$set|(a) no auth, $what|none|$set")
  scenarios+=("b-$set|(b) JwtAuthLayer, $what|layer|$set")
  [ "$set" = one ] || scenarios+=("u-$set|(u) JwtAuthLayer, cache off, $what|layer-uncached|$set")
  scenarios+=("s-$set|(s) user-service binary, $what|service|$set")
  [ "$set" = one ] && scenarios+=("i-$set|(i) user-service binary, RUST_LOG=info, $what|service-info|$set")
  [ "$set" = one ] && scenarios+=("q-$set|(q) user-service binary, RUST_LOG=warn, $what|service-warn|$set")
  [ "$set" = one ] && scenarios+=("h-$set|(h) user-service binary, GET /healthz (no auth)|service-health|$set")
  [ -n "$baseline" ] && scenarios+=("s0-$set|(s0) $(basename "$baseline"), $what|service-baseline|$set")
  scenarios+=("d-$set|(d) jwt-authorizer, $what|jwt-authorizer|$set")
done

for round in $(seq "$rounds"); do
  port=$((base_port + 1))
  for scenario in "${scenarios[@]}"; do
    IFS='|' read -r id label mode tokens <<<"$scenario"
    # No auth ignores the token: its one row stands for every set.
    if [ "$mode" = none ] && [ "$tokens" != one ]; then continue; fi
    url="http://127.0.0.1:$port/book"
    method=POST
    if [ "$mode" = service-health ]; then
      url="http://127.0.0.1:$port/healthz"
      method=GET
    fi
    say "$label (round $round of $rounds): warm-up $warmup, then $duration..."
    start_server "$mode" "$port"
    check "$mode" "$url" "$work/$tokens.txt"
    load "$warmup" "$url" "$work/$tokens.txt" "$work/warmup-$port.txt"
    read -r hits_before misses_before <<<"$(cache_counts "$mode" "$port")"
    load "$duration" "$url" "$work/$tokens.txt" "$work/wrk-$port.txt"
    read -r hits_after misses_after <<<"$(cache_counts "$mode" "$port")"
    stop server_pid
    printf '%s|%s|%s|%s hits=%d misses=%d\n' "$id" "$label" "$tokens" \
      "$(grep '^BENCH ' "$work/wrk-$port.txt")" \
      $((hits_after - hits_before)) $((misses_after - misses_before)) >>"$work/results.txt"
    port=$((port + 1))
  done
done

cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}; $pinning; one tokio worker each;" \
  "$(rustc --version 2>/dev/null || echo 'rustc unknown'), release profile."
echo "Load: wrk -t1 -c$connections -d$duration --latency -s $lua http://127.0.0.1:PORT/book" \
  "(POST, after a discarded $warmup run; fresh server per scenario and round)."
echo "Command: ROUNDS=$rounds DURATION=$duration WARMUP=$warmup CONNECTIONS=$connections" \
  "TOKEN_SETS=\"${token_sets[*]}\" scripts/bench-http.sh"
echo "Each row: the median over $rounds round(s) of requests/s (p99 of that run); cache hits over all."
echo
awk -F'|' '
  function field(line, name,   m) { match(line, " " name "=[0-9]+"); return substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 2) + 0 }
  # One line per scenario and round; rows in the order of the first round.
  {
    if (!($1 in by_id)) { rows++; by_id[$1] = rows; id[rows] = $1; label[rows] = $2; set[rows] = $3 }
    i = by_id[$1]; n = ++runs[i]
    run_rps[i, n] = field($4, "requests") / (field($4, "duration_us") / 1e6)
    run_p99[i, n] = field($4, "p99_us") / 1000
    hits[i] += field($4, "hits"); looked[i] += field($4, "hits") + field($4, "misses")
  }
  END {
    for (i = 1; i <= rows; i++) {
      # The run with the median rate (the lower middle one for an even count).
      for (a = 1; a <= runs[i]; a++) order[a] = a
      for (a = 2; a <= runs[i]; a++)
        for (b = a; b > 1 && run_rps[i, order[b]] < run_rps[i, order[b - 1]]; b--) {
          t = order[b]; order[b] = order[b - 1]; order[b - 1] = t
        }
      median = order[int((runs[i] + 1) / 2)]
      rps[i] = run_rps[i, median]; p99[i] = run_p99[i, median]
      hit[i] = looked[i] > 0 ? sprintf("%.1f %%", 100 * hits[i] / looked[i]) : "-"
    }
    print "| scenario | requests/s | p99 | cache hits | vs (a) | vs jwt-authorizer, same tokens |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= rows; i++) {
      peer = by_id["d-" set[i]]
      printf "| %s | %.0f | %.2f ms | %s | %.2f | %.2f |\n", label[i], rps[i], p99[i], hit[i], rps[i] / rps[by_id["a-one"]], rps[i] / rps[peer]
    }
  }' "$work/results.txt"
