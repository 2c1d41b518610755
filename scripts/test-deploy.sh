#!/usr/bin/env bash
# Builds the container image from this repository as a user would (`podman build .`), then
# proves what is in it by running its own binaries, from its own file system, against a real
# PostgreSQL:
#
#   - the image's user is uid 10001 (not root), its command `issuer serve`, HOST 0.0.0.0;
#   - `issuer keygen --if-missing` writes a 0600 key into the image's /keys, a second run keeps it;
#   - the issuer refuses a 0644 key with one line;
#   - issuer, user-service and raider-service run as uid 10001, on a read-only root, and serve
#     register -> login -> book -> accept-booking -> refresh -> logout over HTTP on loopback;
#   - `issuer healthcheck` passes against the running issuer;
#   - each server runs with the `environment` compose.yaml gives it (values from .env.example),
#     and the settings of deploy/kubernetes/ are accepted too, so a value there that a binary
#     would refuse fails this test.
#
#   scripts/test-deploy.sh            # needs root, podman, debootstrap, psql, curl
#
# The containers' file system is run with chroot rather than `podman run`, which this
# project's CI sandbox refuses (setrlimit). Base images that cannot be pulled are built locally
# from Debian's packages first (scripts/container-base-images.sh). PostgreSQL: TEST_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/postgres); a database is created and dropped.
# Prints the image's size. Exits non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
image="${TEST_DEPLOY_IMAGE:-localhost/token-issuer:test}"
admin_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

say() { printf 'test-deploy: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
for tool in podman psql curl chroot; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ "$(id -u)" = 0 ] || fail "run as root (chroot needs it)"

# Pull the base images where a registry answers; build them locally where none does.
if ! podman image exists docker.io/library/debian:bookworm-slim \
  || ! podman image exists "docker.io/library/rust:$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)-slim-bookworm"; then
  scripts/container-base-images.sh
fi

say "podman build -t $image ."
build_log="$(mktemp)"
if ! podman build --isolation=chroot -t "$image" . >"$build_log" 2>&1; then
  tail -40 "$build_log" >&2
  rm -f "$build_log"
  fail "the image did not build"
fi
rm -f "$build_log"

inspect() { podman image inspect --format "$1" "$image"; }
size="$(inspect '{{.Size}}')"
# What a registry stores and a pull transfers: the layers gzip-compressed.
compressed="$(podman image save "$image" 2>/dev/null | gzip -6 | wc -c)"
image_user="$(inspect '{{.Config.User}}')"
[ "$image_user" = "10001:10001" ] || fail "image user is '$image_user', not 10001:10001"
[ "$(inspect '{{json .Config.Cmd}}')" = '["issuer","serve"]' ] || fail "default command is $(inspect '{{json .Config.Cmd}}')"
image_env="$(inspect '{{range .Config.Env}}{{println .}}{{end}}')"
grep -qx 'HOST=0.0.0.0' <<<"$image_env" || fail "image does not set HOST=0.0.0.0"
say "image: user 10001:10001, command issuer serve, $((size / 1000000)) MB unpacked"

# The image's file system, writable (a container's), with the image's environment.
container="$(podman create "$image")"
rootfs="$(podman mount "$container")"
database="deploy_test_$$"
pids=()
cleanup() {
  set +e
  [ "${#pids[@]}" -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
  if [ -n "${read_only_root:-}" ]; then umount "$read_only_root" && rmdir "$read_only_root"; fi
  podman umount "$container" >/dev/null
  podman rm "$container" >/dev/null
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database" 2>/dev/null
  rm -rf "$logs"
}
logs="$(mktemp -d)"
trap cleanup EXIT

# The command that runs one of the image's programs as the image's user, from its file
# system, with its environment plus the given VAR=VALUE pairs, in the array `command`. No shell
# of the image is involved: chroot executes the binary directly.
image_command() {
  local vars=()
  while [ $# -gt 0 ] && [[ "$1" == *=* ]]; do vars+=("$1"); shift; done
  mapfile -t env_list <<<"$image_env"
  command=(env -i "${env_list[@]}" "${vars[@]}"
    chroot --userspec="$image_user" "$rootfs" "$@")
}
in_image() { image_command "$@"; "${command[@]}"; }

# Starts a server in the background on a free loopback port; sets `port` from its `listening`
# log line, and checks which uid it runs as.
start() {
  local name="$1"; shift
  image_command PORT=0 HOST=127.0.0.1 "$@"
  "${command[@]}" >"$logs/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  port=""
  for _ in $(seq 1 300); do
    # `address=127.0.0.1:PORT` in text logs, `"address":"127.0.0.1:PORT"` in JSON ones.
    port="$(grep -m1 listening "$logs/$name.log" | grep -oE '127\.0\.0\.1:[0-9]+' | head -1 | cut -d: -f2)" || true
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$logs/$name.log" >&2; fail "$name exited"; }
    sleep 0.1 # polling a log file for a line; nothing here is timed
  done
  [ -n "$port" ] || { cat "$logs/$name.log" >&2; fail "$name never said where it listens"; }
  local uid
  uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
  [ "$uid" = 10001 ] || fail "$name runs as uid $uid, not 10001"
}

# The `environment` of compose.yaml's service $1 as VAR=VALUE lines, ${VAR:-default} and ${VAR}
# filled from .env.example, and the issuer's service URL replaced by $2 (its address here).
python="target/deploy-validators/bin/python"
[ -x "$python" ] || scripts/validate-deploy.sh >/dev/null
compose_env() {
  "$python" - "$1" <<'PY' | sed "s#http://issuer:3000#${2:-http://issuer:3000}#g"
import re
import sys

from ruamel.yaml import YAML

service = YAML(typ="safe").load(open("compose.yaml"))["services"][sys.argv[1]]
dotenv = dict(
    line.split("=", 1)
    for line in open(".env.example").read().splitlines()
    if "=" in line and not line.startswith("#")
)

def fill(match):
    name, default = match.group(1), match.group(3)
    return dotenv.get(name) or default or "unused"

variable = re.compile(r"[$][{](\w+)(:[-?]([^}]*))?[}]")
for name, value in service.get("environment", {}).items():
    print(name + "=" + variable.sub(fill, str(value)))
PY
}

# The literal `env` of the Kubernetes Deployment $1 (deploy/kubernetes/$1.yaml) as VAR=VALUE
# lines (values from Secrets left out), the issuer's Service URL replaced by $2.
kubernetes_env() {
  "$python" - "$1" <<'PY' | sed "s#http://issuer:3000#${2:-http://issuer:3000}#g"
import sys

from ruamel.yaml import YAML

for document in YAML(typ="safe").load_all(open(f"deploy/kubernetes/{sys.argv[1]}.yaml")):
    if document["kind"] == "Deployment":
        for variable in document["spec"]["template"]["spec"]["containers"][0]["env"]:
            if "value" in variable:
                print(variable["name"] + "=" + variable["value"])
PY
}

say "keys: issuer keygen --if-missing, twice"
in_image issuer keygen --if-missing >/dev/null || fail "keygen failed"
[ "$(stat -c '%a %u' "$rootfs/keys/private.pem")" = "600 10001" ] || fail "key is $(stat -c '%a %u' "$rootfs/keys/private.pem")"
before="$(sha256sum <"$rootfs/keys/private.pem")"
in_image issuer keygen --if-missing | grep -q 'exists; no key written' || fail "second keygen did not keep the key"
[ "$(sha256sum <"$rootfs/keys/private.pem")" = "$before" ] || fail "second keygen replaced the key"

say "a 0644 key is refused"
install -d -o 10001 -g 10001 -m 0700 "$rootfs/exposed-keys"
install -o 10001 -g 10001 -m 0644 "$rootfs/keys/private.pem" "$rootfs/exposed-keys/private.pem"
if refusal="$(in_image KEYS_DIR=/exposed-keys DATABASE_URL=sqlite::memory: issuer serve 2>&1)"; then
  fail "the issuer started with a 0644 key"
fi
[ "$(wc -l <<<"$refusal")" = 1 ] && grep -q 'may be read or written by other users (mode 0644)' <<<"$refusal" \
  || fail "unexpected refusal: $refusal"

# From here on the image's file system is read-only, as compose.yaml (`read_only`) and the
# Kubernetes manifests (`readOnlyRootFilesystem`) run it.
read_only_root="$(mktemp -d)"
mount --bind "$rootfs" "$read_only_root"
mount -o remount,bind,ro "$read_only_root"
rootfs="$read_only_root"

say "stack on a read-only root: PostgreSQL database $database, issuer, user-service, raider-service"
psql -q "$admin_url" -c "CREATE DATABASE $database"
database_url="$(sed "s#/[^/?]*\(?.*\)\{0,1\}\$#/$database\1#" <<<"$admin_url")"
mapfile -t issuer_env < <(compose_env issuer)
printf '%s\n' "${issuer_env[@]}" | grep -q '^CLIENT_IP_SOURCE=RightmostXForwardedFor$' \
  || fail "the issuer's environment was not read from compose.yaml"
start issuer "${issuer_env[@]}" DATABASE_URL="$database_url" issuer serve
issuer_port="$port"
issuer="http://127.0.0.1:$issuer_port"
mapfile -t user_env < <(compose_env user-service "$issuer")
start user-service "${user_env[@]}" user-service
user_port="$port"
mapfile -t raider_env < <(compose_env raider-service "$issuer")
start raider-service "${raider_env[@]}" raider-service
raider_port="$port"
in_image PORT="$issuer_port" issuer healthcheck >/dev/null || fail "issuer healthcheck failed"

# POST $1 with JSON $2 (and curl options after); checks the status is $3; prints the body.
post() {
  local url="$1" body="$2" want="$3"; shift 3
  local out status
  # X-Forwarded-For as compose's gateway sets it: the issuers read the client address from it.
  out="$(curl -sS -X POST "$url" -H 'content-type: application/json' -H 'x-forwarded-for: 203.0.113.7' \
    -d "$body" -w '\n%{http_code}' "$@")"
  status="${out##*$'\n'}"
  [ "$status" = "$want" ] || fail "POST $url answered $status, not $want: ${out%$'\n'*}"
  printf '%s' "${out%$'\n'*}"
}
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

say "the Kubernetes manifests' settings are accepted"
mapfile -t k8s_env < <(kubernetes_env issuer)
printf '%s\n' "${k8s_env[@]}" | grep -q '^PASSWORD_HASH_CONCURRENCY=' \
  || fail "the issuer's environment was not read from deploy/kubernetes/issuer.yaml"
# `keys list` validates the whole configuration, as `serve` does, then lists the keys.
in_image "${k8s_env[@]}" DATABASE_URL="$database_url" issuer keys list >/dev/null \
  || fail "the issuer refuses deploy/kubernetes/issuer.yaml's settings"
for service in user-service raider-service; do
  mapfile -t k8s_env < <(kubernetes_env "$service" "$issuer")
  start "k8s-$service" "${k8s_env[@]}" "$service"
done

say "register -> login -> book -> accept-booking -> refresh -> logout"
post "$issuer/register" '{"email":"alice@example.com","password":"correct horse battery","role":"user"}' 201 >/dev/null
post "$issuer/register" '{"email":"bob@example.com","password":"correct horse battery","role":"raider"}' 201 >/dev/null
alice="$(post "$issuer/login" '{"email":"alice@example.com","password":"correct horse battery"}' 200)"
bob="$(post "$issuer/login" '{"email":"bob@example.com","password":"correct horse battery"}' 200)"
without_header="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$issuer/login" \
  -H 'content-type: application/json' -d '{"email":"alice@example.com","password":"correct horse battery"}')"
[ "$without_header" = 400 ] || fail "a login without X-Forwarded-For answered $without_header, not 400 (CLIENT_IP_SOURCE)"
user_token="$(field access_token <<<"$alice")"
raider_token="$(field access_token <<<"$bob")"
post "http://127.0.0.1:$user_port/book" '{}' 200 -H "authorization: Bearer $user_token" \
  | grep -q '"user":"alice@example.com"' || fail "book did not name alice"
post "http://127.0.0.1:$raider_port/accept-booking" '{}' 200 -H "authorization: Bearer $raider_token" \
  | grep -q '"raider":"bob@example.com"' || fail "accept-booking did not name bob"
post "http://127.0.0.1:$raider_port/accept-booking" '{}' 403 -H "authorization: Bearer $user_token" >/dev/null
refreshed="$(post "$issuer/refresh" "{\"refresh_token\":\"$(field refresh_token <<<"$alice")\"}" 200)"
post "http://127.0.0.1:$user_port/book" '{}' 200 -H "authorization: Bearer $(field access_token <<<"$refreshed")" >/dev/null
refresh_token="$(field refresh_token <<<"$refreshed")"
post "$issuer/logout" "{\"refresh_token\":\"$refresh_token\"}" 204 >/dev/null
post "$issuer/refresh" "{\"refresh_token\":\"$refresh_token\"}" 401 >/dev/null

say "passed; image $image: $((size / 1000000)) MB unpacked, $((compressed / 1000000)) MB compressed (a pull)"
