#!/usr/bin/env bash
# Runs the verifier's fuzz targets (verifier-middleware/fuzz) with libFuzzer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Defaults: 30 seconds each, all six targets (authorization_header token claims jwks discovery verify). Needs the
# nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`, `cargo install cargo-fuzz`);
# exits 2 without them. Each target starts from a fresh copy of its committed seeds
# (fuzz/seeds/<target>) in fuzz/corpus/<target>; findings land in fuzz/artifacts/<target>/.
# Prints one summary line per target and exits 1 if any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly ALL_TARGETS=(authorization_header token claims jwks discovery verify)
readonly FUZZ_DIR=verifier-middleware/fuzz

seconds="${1:-30}"
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${ALL_TARGETS[@]}"); fi

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] (seconds: a positive integer)" >&2
  exit 2
fi
for target in "${targets[@]}"; do
  if [ ! -f "$FUZZ_DIR/fuzz_targets/$target.rs" ]; then
    echo "scripts/fuzz.sh: unknown target '$target' (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
done
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: needs cargo-fuzz: cargo install cargo-fuzz" >&2
  exit 2
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# Built once up front (all targets) so compile time is not taken out of the fuzzing time.
echo "== cargo +nightly fuzz build"
if ! (cd verifier-middleware && cargo +nightly fuzz build) >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log" >&2
  echo "scripts/fuzz.sh: building the fuzz targets failed" >&2
  exit 1
fi

summaries=()
failed=()

for target in "${targets[@]}"; do
  corpus="$FUZZ_DIR/corpus/$target"
  artifacts="$FUZZ_DIR/artifacts/$target"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp "$FUZZ_DIR/seeds/$target"/* "$corpus"/
  log="$logs/$target.log"
  started="$logs/$target.started" # files newer than this are this run's findings
  touch "$started"

  echo "== fuzzing $target for ${seconds}s"
  status=0
  (cd verifier-middleware && cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10) >"$log" 2>&1 ||
    status=$?

  # libFuzzer ends a clean run with "Done N runs in S second(s)"; a crash stops it earlier, so
  # fall back to its last "#N ... exec/s: E" status line.
  runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log" | tail -n 1)
  if [ -z "$runs" ]; then
    runs=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
  fi
  exec_per_s=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  corpus_size=$(find "$corpus" -type f | wc -l)
  findings=$(find "$artifacts" -type f -newer "$started" | wc -l)
  line=$(printf '%-22s runs=%-10s exec/s=%-8s corpus=%-6s findings=%s' \
    "$target" "${runs:-?}" "${exec_per_s:-?}" "$corpus_size" "$findings")
  if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
    line="$line  FAILED (exit $status)"
    failed+=("$target")
    # From the panic or sanitizer report on (the tail is mostly cargo-fuzz's own backtrace).
    first=$(grep -n -m 1 -E 'panicked at|==[0-9]+== ?ERROR|ERROR: libFuzzer|ALARM: working on' \
      "$log" | cut -d: -f1 || true)
    echo "-- $target: libFuzzer output"
    if [ -n "$first" ]; then
      sed -n "${first},$((first + 40))p" "$log"
      sed -n '/^Failing input:/,/^Minimize test case with:/p' "$log"
    else
      tail -n 40 "$log"
    fi
    echo "-- $target: artifacts"
    find "$artifacts" -type f -newer "$started" -print
  fi
  echo "$line"
  summaries+=("$line")
done

echo
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summaries[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "scripts/fuzz.sh: findings in: ${failed[*]} (inputs under $FUZZ_DIR/artifacts/;" \
    "reproduce with: cd verifier-middleware && cargo +nightly fuzz run TARGET ARTIFACT)" >&2
  exit 1
fi
