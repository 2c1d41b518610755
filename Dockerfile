# syntax=docker/dockerfile:1
# One image for the three binaries: `issuer` (the default command), `user-service` and
# `raider-service`, chosen by command:
#
#   docker build -t token-issuer .                # or: podman build -t token-issuer .
#   docker run --rm token-issuer issuer --help
#   docker run --rm -p 3001:3001 token-issuer user-service
#
# The build caches the dependency tree in its own layer (cargo-chef): a change to the code
# rebuilds only the workspace's crates. The runtime is Debian slim with the binaries, CA
# certificates and a non-root user (uid 10001); nothing in it needs a shell. See README.md,
# "Deploying".

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
RUN cargo install cargo-chef --locked --version 0.1.78 \
 && rm -rf "$CARGO_HOME/registry"
WORKDIR /src

# The recipe: the workspace's manifests and lock file, without the code. It changes only when
# dependencies do, so the next stage's dependency layer stays cached across code changes.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# Without symbols the three binaries are 11 MB smaller; panics still name their location.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
      --package issuer --package example-services
COPY . .
RUN cargo build --release --locked --package issuer --package example-services --bins \
 && mkdir /out \
 && cp target/release/issuer target/release/user-service target/release/raider-service /out/

FROM docker.io/library/debian:${DEBIAN_RELEASE}-slim AS runtime
ARG DEBIAN_RELEASE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="token-issuer" \
      org.opencontainers.image.description="Issuer of RS256/HS256 access tokens and two example services that verify them" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:${DEBIAN_RELEASE}-slim"
# A fixed uid and gid, so that volume ownership, Kubernetes' runAsUser/fsGroup and the key
# files' owner can be set to them. /keys (mode 0700) and /data belong to that user; a named
# volume mounted there starts with that owner.
RUN groupadd --system --gid 10001 issuer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin issuer \
 && install -d -o 10001 -g 10001 -m 0700 /keys \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/ /usr/local/bin/
USER 10001:10001
WORKDIR /data
# Listen on every interface of the container; keys and (SQLite) data in the volumes above.
ENV HOST=0.0.0.0 \
    KEYS_DIR=/keys \
    DATABASE_URL=sqlite:///data/issuer.db
# issuer, user-service, raider-service.
EXPOSE 3000 3001 3002
# Probes: GET /healthz (alive) and /readyz (ready for traffic) on each binary's port; inside the
# image, `issuer healthcheck` checks the issuer's /readyz (compose.yaml uses it). No
# HEALTHCHECK here: the same image runs three different servers.
STOPSIGNAL SIGTERM
CMD ["issuer", "serve"]
