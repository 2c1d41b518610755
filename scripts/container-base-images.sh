#!/usr/bin/env bash
# Builds, from Debian's packages, local stand-ins for the two base images the Dockerfile names:
#
#   docker.io/library/debian:bookworm-slim         the runtime stage
#   docker.io/library/rust:<RUST_VERSION>-slim-bookworm   the build stage (this machine's toolchain)
#
#   scripts/container-base-images.sh [--force]
#
# Only for machines that cannot pull from a container registry (this project's CI): elsewhere
# `podman build` / `docker build` pulls the real images and this script is not needed. An image
# that already exists is kept unless --force is given. Needs root, podman and debootstrap; the
# Debian mirror is the one apt on this machine uses. RUST_VERSION is read from the Dockerfile;
# the host's rustc must be that version.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf 'container-base-images: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

force=0
[ "${1:-}" = "--force" ] && force=1

command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it)"

suite=bookworm
rust_version="$(sed -n 's/^ARG RUST_VERSION=//p' "$root/Dockerfile")"
[ -n "$rust_version" ] || die "no 'ARG RUST_VERSION=' line in the Dockerfile"
runtime_image="docker.io/library/debian:$suite-slim"
builder_image="docker.io/library/rust:$rust_version-slim-$suite"

# The mirror apt uses here (deb822 or one-line sources).
mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
if [ -z "$mirror" ]; then
  mirror="$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
[ -n "$mirror" ] || die "no Debian mirror found in apt's sources"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

exists() { podman image exists "$1" && [ "$force" = 0 ]; }

# A minimal Debian trimmed like the official slim images: no documentation, manuals, locales or
# package lists.
bootstrap() {
  local target="$1" include="$2"
  say "debootstrap $suite into $target${include:+ (with $include)}"
  debootstrap --variant=minbase ${include:+--include="$include"} "$suite" "$target" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$target"/var/cache/apt/archives/*.deb "$target"/var/lib/apt/lists/* \
    "$target"/usr/share/doc/* "$target"/usr/share/man/* "$target"/usr/share/info/* \
    "$target"/usr/share/locale/* "$target"/usr/share/lintian "$target"/var/log/*
}

import() {
  local dir="$1" image="$2"; shift 2
  tar -C "$dir" -c . | podman import --quiet "$@" - "$image" >/dev/null
  say "built $image ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
}

if exists "$runtime_image"; then
  say "$runtime_image exists; kept"
else
  bootstrap "$work/slim" ""
  import "$work/slim" "$runtime_image" --change 'CMD ["bash"]'
fi

if exists "$builder_image"; then
  say "$builder_image exists; kept"
else
  host_version="$(rustc --version | awk '{print $2}')"
  case "$host_version" in
    "$rust_version" | "$rust_version".*) ;;
    *) die "the Dockerfile builds with Rust $rust_version but this machine's rustc is $host_version" ;;
  esac
  toolchain="$(rustc --print sysroot)"
  bootstrap "$work/rust" "ca-certificates,gcc,libc6-dev"
  # This machine's trust store, which may hold the CA of a TLS-inspecting egress proxy that
  # cargo must trust to reach the package registry (the runtime stage copies it too).
  cp /etc/ssl/certs/ca-certificates.crt "$work/rust/etc/ssl/certs/ca-certificates.crt"
  # The official image's layout: rustup's toolchain under /usr/local/rustup, cargo's home and
  # the PATH entry under /usr/local/cargo. Documentation is left out.
  dest="$work/rust/usr/local/rustup/toolchains/$host_version-x86_64-unknown-linux-gnu"
  mkdir -p "$dest" "$work/rust/usr/local/cargo/bin"
  tar -C "$toolchain" --exclude=./share/doc -c . | tar -C "$dest" -x
  for tool in "$dest"/bin/*; do
    ln -s "../../rustup/toolchains/$host_version-x86_64-unknown-linux-gnu/bin/$(basename "$tool")" \
      "$work/rust/usr/local/cargo/bin/$(basename "$tool")"
  done
  import "$work/rust" "$builder_image" \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]'
fi
