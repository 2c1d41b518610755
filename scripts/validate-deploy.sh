#!/usr/bin/env bash
# Validates the deployment files offline, against published schemas:
#
#   - compose.yaml and deploy/compose/*.yaml against the Compose specification's JSON schema
#     (check-jsonschema's vendored copy);
#   - deploy/kubernetes/ against the Kubernetes API schemas of version $KUBERNETES_VERSION
#     (kubernetes-validate, strict: unknown fields are errors), rendered by `kubectl kustomize`
#     where kubectl is installed, else file by file;
#   - deploy/compose/nginx.conf with `nginx -t`, where nginx is installed.
#
#   scripts/validate-deploy.sh      # needs python3; installs the two validators in target/
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"
# Pinned: a new release of either can change what passes.
validators=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0)

say() { printf 'validate-deploy: %s\n' "$*" >&2; }

venv=target/deploy-validators
if ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "${validators[1]}"; then
  say "installing ${validators[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${validators[@]}"
fi

say "compose files against the Compose specification"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml deploy/compose/*.yaml

say "Kubernetes manifests against the API of Kubernetes $KUBERNETES_VERSION"
manifests=(deploy/kubernetes/*.yaml)
if command -v kubectl >/dev/null; then
  rendered="$(mktemp)"
  trap 'rm -f "$rendered"' EXIT
  kubectl kustomize deploy/kubernetes >"$rendered"
  manifests=("$rendered")
  say "rendered with kubectl kustomize"
else
  say "kubectl is not installed: validating each file; the kustomization is not rendered"
  manifests=("${manifests[@]/deploy\/kubernetes\/kustomization.yaml/}")
fi
"$venv/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" ${manifests[@]}

if command -v nginx >/dev/null; then
  say "nginx -t on deploy/compose/nginx.conf"
  prefix="$(mktemp -d)"
  mkdir -p "$prefix/logs"
  printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include %s;\n}\n' \
    "$prefix" "$root/deploy/compose/nginx.conf" >"$prefix/nginx.conf"
  nginx -q -t -p "$prefix" -c "$prefix/nginx.conf"
  rm -rf "$prefix"
else
  say "nginx is not installed: deploy/compose/nginx.conf not checked (apt-get install nginx)"
fi
say "passed"
