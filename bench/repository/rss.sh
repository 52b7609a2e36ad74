#!/usr/bin/env bash
# opsbook's peak RSS and time backing up the benchmark volume at SIZE_GB GiB
# (default 4) into a new repository, then a second backup with nothing
# changed: memory must not grow with the data.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
cargo build --release --locked -q
out=/tmp/opsbook-bench-repo
trap '"$root/bench/backup/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="${SIZE_GB:-4}" "$root/bench/backup/fill.sh"
rm -rf "$out"; mkdir -p "$out/state"
echo "bench password 4d1c" > "$out/password"
ops="target/release/opsbook --runbook $here/opsbook.yaml --state-dir $out/state"
$ops backup init-repository --quiet
for run in first second; do
  echo "$run backup:"
  /usr/bin/time -v $ops backup --quiet 2>&1 | grep -E "Maximum resident set size|Elapsed"
done
