#!/usr/bin/env bash
# HTTP load benchmark: the same trivial route (`GET /hello`) served with no auth, with
# verifier-middleware's JwtAuthLayer and with jwt-authorizer (the most used Rust peer), loaded
# by wrk, all in one run.
#
#   scripts/bench-http.sh
#
# Prints a Markdown table (requests/s, p99, ratio against no auth and against jwt-authorizer
# with the same tokens) on stdout; progress goes to stderr. Scenarios:
#   (a)  none            1 token     no verification: the ceiling
#   (b)  layer           1 token     JwtAuthLayer, one repeated token (verified-token cache hits)
#   (c)  layer           many        JwtAuthLayer, TOKENS distinct tokens in rotation
#   (u)  layer-uncached  many        JwtAuthLayer with disable_token_cache(): full verification
#   (d)  jwt-authorizer  1 token     jwt-authorizer, same token as (b)
#   (d') jwt-authorizer  many        jwt-authorizer, same tokens as (c)
# Both verifiers load the key from the server's own JWKS URL and check RS256, iss, aud, exp
# and nbf (60 s leeway). The server (verifier-middleware/bench-http, its own cargo workspace,
# one tokio worker) is pinned to CPU 1 and wrk (one thread) to CPU 0. Before each run the
# route must answer 200 with a token and 401 without one or with a foreign key's token; any
# non-2xx response or socket error during a run fails the script.
#
# Settings (environment): DURATION [10s] measured run, WARMUP [3s] discarded run before it,
# CONNECTIONS [32], TOKENS [1000] distinct tokens for the "many" rows, PORT [18480] first of
# six consecutive loopback ports. Installs Debian's wrk when missing (root). The throwaway
# RSA key lives in a temporary directory; keys/ is never read or written.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

duration="${DURATION:-10s}"
warmup="${WARMUP:-3s}"
connections="${CONNECTIONS:-32}"
token_count="${TOKENS:-1000}"
base_port="${PORT:-18480}"
lua="scripts/bench-http/tokens.lua"
manifest="verifier-middleware/bench-http/Cargo.toml"
bin="verifier-middleware/bench-http/target/release/verifier-middleware-bench-http"

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

# Server and load generator on separate cores when there are two; shared otherwise.
if [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1)
  wrk_cpu=(taskset -c 0)
  pinning="server pinned to CPU 1, wrk to CPU 0"
else
  server_cpu=()
  wrk_cpu=()
  pinning="one CPU: server and wrk share it (not pinned)"
fi

say "building (release)..."
cargo build --release --quiet --manifest-path "$manifest"

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/other.pem" 2>/dev/null
"$bin" tokens --key "$work/key.pem" --count 1 >"$work/one.txt"
"$bin" tokens --key "$work/key.pem" --count "$token_count" >"$work/many.txt"
"$bin" tokens --key "$work/other.pem" --count 1 >"$work/foreign.txt"
[ "$(sort -u "$work/many.txt" | wc -l)" -eq "$token_count" ] || die "tokens are not distinct"

# status URL [TOKEN]: the HTTP status of GET URL, with the token as bearer if given.
status() {
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" "$1"
}

# start_server MODE PORT: starts the server and waits until it holds its keys.
start_server() {
  local log="$work/server-$2.log"
  "${server_cpu[@]}" "$bin" serve --mode "$1" --port "$2" --key "$work/key.pem" 2>"$log" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^ready' "$log" && return 0
    kill -0 "$server_pid" 2>/dev/null || die "server ($1) exited: $(cat "$log")"
    sleep 0.1
  done
  die "server ($1) not ready after 10 s: $(cat "$log")"
}

# check MODE URL TOKEN_FILE: the route answers as configured, or the run would measure errors.
check() {
  local token got
  token="$(head -n 1 "$3")"
  got="$(status "$2" "$token")"
  [ "$got" = 200 ] || die "$1: a valid token got $got, expected 200"
  if [ "$1" != none ]; then
    got="$(status "$2")"
    [ "$got" = 401 ] || die "$1: no token got $got, expected 401"
    got="$(status "$2" "$(cat "$work/foreign.txt")")"
    [ "$got" = 401 ] || die "$1: a token signed by another key got $got, expected 401"
  fi
}

# load DURATION URL TOKEN_FILE OUT: one wrk run; fails on any error or non-2xx answer.
load() {
  BENCH_TOKENS="$3" "${wrk_cpu[@]}" wrk -t1 -c"$connections" -d"$1" --latency -s "$lua" "$2" >"$4"
  local line
  line="$(grep '^BENCH ' "$4")" || die "no result from wrk: $(cat "$4")"
  for field in non2xx connect read write timeout; do
    [[ "$line " == *" $field=0 "* ]] || die "wrk saw errors ($line); full output: $(cat "$4")"
  done
}

# id|label|mode|tokens; the last column of the table compares each row with jwt-authorizer on
# the same token set (id d for one token, dm for many).
scenarios=(
  "a|(a) no auth, 1 token|none|one"
  "b|(b) JwtAuthLayer, 1 repeated token|layer|one"
  "c|(c) JwtAuthLayer, $token_count distinct tokens|layer|many"
  "u|(u) JwtAuthLayer, token cache disabled, $token_count distinct tokens|layer-uncached|many"
  "d|(d) jwt-authorizer, 1 repeated token|jwt-authorizer|one"
  "dm|(d') jwt-authorizer, $token_count distinct tokens|jwt-authorizer|many"
)

port="$base_port"
for scenario in "${scenarios[@]}"; do
  IFS='|' read -r id label mode tokens <<<"$scenario"
  url="http://127.0.0.1:$port/hello"
  say "$label: warm-up $warmup, then $duration..."
  start_server "$mode" "$port"
  check "$mode" "$url" "$work/$tokens.txt"
  load "$warmup" "$url" "$work/$tokens.txt" "$work/warmup-$port.txt"
  load "$duration" "$url" "$work/$tokens.txt" "$work/wrk-$port.txt"
  stop_server
  printf '%s|%s|%s|%s\n' "$id" "$label" "$tokens" "$(grep '^BENCH ' "$work/wrk-$port.txt")" \
    >>"$work/results.txt"
  port=$((port + 1))
done

cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}; $pinning; server: 1 tokio worker;" \
  "$(rustc --version 2>/dev/null || echo 'rustc unknown'), release profile."
echo "Load: wrk -t1 -c$connections -d$duration --latency -s $lua http://127.0.0.1:PORT/hello" \
  "(after a discarded $warmup run; fresh server per scenario)."
echo "Command: DURATION=$duration WARMUP=$warmup CONNECTIONS=$connections TOKENS=$token_count" \
  "scripts/bench-http.sh"
echo
awk -F'|' '
  function field(line, name,   m) { match(line, " " name "=[0-9]+"); return substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 2) + 0 }
  {
    id[NR] = $1; label[NR] = $2; set[NR] = $3
    rps[NR] = field($4, "requests") / (field($4, "duration_us") / 1e6)
    p99[NR] = field($4, "p99_us") / 1000
    by_id[$1] = NR
  }
  END {
    print "| scenario | requests/s | p99 | vs (a) | vs jwt-authorizer, same tokens |"
    print "|---|---:|---:|---:|---:|"
    for (i = 1; i <= NR; i++) {
      peer = by_id[set[i] == "one" ? "d" : "dm"]
      printf "| %s | %.0f | %.2f ms | %.2f | %.2f |\n", label[i], rps[i], p99[i], rps[i] / rps[by_id["a"]], rps[i] / rps[peer]
    }
  }' "$work/results.txt"
