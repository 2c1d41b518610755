#!/usr/bin/env bash
# Generates an RSA-2048 key pair for the issuer with openssl.
#
#   scripts/gen-keys.sh [--force] [DIR]     (DIR defaults to keys/ at the repository root)
#
# Writes DIR/private.pem (PKCS#8, mode 0600) and DIR/public.pem (SubjectPublicKeyInfo).
# Refuses to overwrite existing keys unless --force is given. Without openssl, use
# `cargo run -p issuer -- keygen` instead: it writes the same files.
set -euo pipefail

force=0
dir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gen-keys.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    *) [ -z "$dir" ] || { echo "gen-keys.sh: only one DIR may be given" >&2; exit 2; }; dir="$arg" ;;
  esac
done
[ -n "$dir" ] || dir="$(cd "$(dirname "$0")/.." && pwd)/keys"

if ! command -v openssl >/dev/null 2>&1; then
  echo "gen-keys.sh: openssl is not installed; install it, or run: cargo run -p issuer -- keygen --keys-dir $dir" >&2
  exit 1
fi

private="$dir/private.pem"
public="$dir/public.pem"
if [ "$force" -eq 0 ]; then
  for f in "$private" "$public"; do
    if [ -e "$f" ]; then
      echo "gen-keys.sh: $f already exists; pass --force to replace it" >&2
      exit 1
    fi
  done
fi

mkdir -p "$dir"
chmod 700 "$dir"
tmp="$(mktemp -d "$dir/.gen-keys.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
( umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/private.pem" 2>/dev/null )
openssl pkey -in "$tmp/private.pem" -pubout -out "$tmp/public.pem" 2>/dev/null
chmod 600 "$tmp/private.pem"
chmod 644 "$tmp/public.pem"
mv -f "$tmp/private.pem" "$private"
mv -f "$tmp/public.pem" "$public"
echo "wrote $private (mode 0600) and $public"
