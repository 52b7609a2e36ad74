#!/usr/bin/env bash
# opsbook's peak RSS backing up the benchmark volume at SIZE_GB GiB (default 4),
# read directly and through the archive endpoint: memory must not grow with the data.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
cargo build --release --locked -q
out=/tmp/opsbook-bench-backup
trap '"$here/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="${SIZE_GB:-4}" "$here/fill.sh"
mkdir -p "$out/state"
for runbook in opsbook.yaml opsbook-archive.yaml; do
  echo "$runbook:"
  /usr/bin/time -v target/release/opsbook --runbook "$here/$runbook" --state-dir "$out/state" backup --quiet 2>&1 \
    | grep -E "Maximum resident set size|Elapsed"
  rm -rf "${out:?}/opsbook"
done
