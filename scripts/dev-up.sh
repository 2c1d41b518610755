#!/usr/bin/env bash
# Starts the whole stack on this machine: the issuer (SQLite) and both example services.
#
#   scripts/dev-up.sh
#
# On a fresh clone it generates keys (keys/), builds release binaries, starts the three
# processes, waits until each answers /healthz, and prints a curl walkthrough with the real
# ports. Ctrl-C (or SIGTERM) stops all three; if one of them dies, the others are stopped too.
# A second run reuses keys/ and the database (.dev/issuer.db).
#
# Ports: ISSUER_PORT (3000), USER_PORT (3001), RAIDER_PORT (3002). RUST_LOG is passed on.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

issuer_port="${ISSUER_PORT:-3000}"
user_port="${USER_PORT:-3001}"
raider_port="${RAIDER_PORT:-3002}"
issuer_url="http://localhost:$issuer_port"

say() { printf 'dev-up: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v cargo >/dev/null || die "cargo is not installed; install the Rust toolchain first"
command -v curl >/dev/null || die "curl is not installed; it is needed to check health"

for port in "$issuer_port" "$user_port" "$raider_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use; stop what uses it or set ISSUER_PORT/USER_PORT/RAIDER_PORT"
  fi
done

say "building (release)..."
cargo build --release --quiet -p issuer -p example-services
bin="$root/target/release"

if [ ! -f keys/private.pem ] && [ ! -f keys/keyring.json ]; then
  say "no keys yet: generating keys/private.pem"
  if command -v openssl >/dev/null; then
    scripts/gen-keys.sh keys >&2
  else
    "$bin/issuer" keygen --keys-dir keys >&2
  fi
fi
mkdir -p .dev

pids=()
stop_all() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    say "stopping..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# Each process logs to this terminal with its name in front.
start() {
  local name="$1"; shift
  "$@" 2> >(sed -u "s/^/[$name] /" >&2) >&2 &
  pids+=("$!")
  say "started $name (pid $!)"
}

# Phone login with the development provider: codes appear in this terminal, not by SMS.
start issuer env PORT="$issuer_port" DATABASE_URL="sqlite://.dev/issuer.db" KEYS_DIR=keys \
  JWT_ISSUER="$issuer_url" OTP_PROVIDER=local \
  EMAIL_PROVIDER=local EMAIL_FROM="Dev issuer <no-reply@localhost>" "$bin/issuer" serve
# Both services also poll the issuer's revocation list, so a logout reaches them within 30 s.
service_env=(JWT_ISSUER="$issuer_url" JWT_JWKS_URL="$issuer_url/.well-known/jwks.json"
  JWT_REVOCATION_URL="$issuer_url/revoked-sessions")
start user-service env PORT="$user_port" "${service_env[@]}" "$bin/user-service"
start raider-service env PORT="$raider_port" "${service_env[@]}" "$bin/raider-service"

wait_healthy() {
  local name="$1" port="$2"
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "a process exited during start-up (see its log above)"
    done
    sleep 0.1
  done
  die "$name did not become healthy on port $port"
}
wait_healthy issuer "$issuer_port"
wait_healthy user-service "$user_port"
wait_healthy raider-service "$raider_port"

cat <<EOF

The stack is up: issuer $issuer_url, user-service http://localhost:$user_port, raider-service http://localhost:$raider_port
Try it (in another terminal):

  curl -s -X POST localhost:$issuer_port/register -H 'content-type: application/json' \\
    -d '{"email":"alice@example.com","password":"correct horse battery","role":"user"}'
  curl -s -X POST localhost:$issuer_port/register -H 'content-type: application/json' \\
    -d '{"email":"bob@example.com","password":"correct horse battery","role":"raider"}'
  USER_TOKEN=\$(curl -s -X POST localhost:$issuer_port/login -H 'content-type: application/json' \\
    -d '{"email":"alice@example.com","password":"correct horse battery"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
  RAIDER_TOKEN=\$(curl -s -X POST localhost:$issuer_port/login -H 'content-type: application/json' \\
    -d '{"email":"bob@example.com","password":"correct horse battery"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
  curl -s -X POST localhost:$user_port/book -H "authorization: Bearer \$USER_TOKEN"
  curl -s -X POST localhost:$raider_port/accept-booking -H "authorization: Bearer \$RAIDER_TOKEN"

Ctrl-C stops all three.
EOF
say "ready"

# Until Ctrl-C, or until one process exits: then stop the others.
set +e
wait -n "${pids[@]}"
status=$?
set -e
say "a process exited (status $status); stopping the others"
exit 1
