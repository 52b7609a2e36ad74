#!/usr/bin/env bash
# Issue 36's benchmark: what the host's CPU, iowait and network sample costs
# a daily-check. The same 50-container deployment as run.sh, checked with
# the benchmark runbook as it is (no host sample) and with `cpu`, `iowait`
# and `network` thresholds added (a 250 ms sample of /proc/stat and
# /proc/net/dev beside the rest of the run), side by side in one hyperfine
# run. Needs a Docker engine, the fixture image (scripts/test.sh provides
# both) and hyperfine (apt-get install hyperfine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
command -v hyperfine >/dev/null || { echo "needs hyperfine: apt-get install hyperfine" >&2; exit 1; }
cargo build --release --locked -q
opsbook="${CARGO_TARGET_DIR:-$root/target}/release/opsbook"
work="$(mktemp -d)"
trap '"$here/down.sh"; rm -rf "$work"' EXIT
"$here/down.sh"
"$here/up.sh"
sleep 3   # let the healthchecks settle
cp "$here/opsbook.yaml" "$work/plain.yaml"
# The same runbook with the host sampled: thresholds no run here crosses.
sed 's|^  disk:   { warn: 85%, crit: 90%, paths: \["/"\] }$|&\n  cpu:     { warn: 100%, crit: 100% }\n  iowait:  { warn: 100%, crit: 100% }\n  network: { warn: 10GB/s, crit: 20GB/s }|' \
  "$here/opsbook.yaml" > "$work/sampled.yaml"
grep -q '^  cpu:' "$work/sampled.yaml" || { echo "the sampled runbook has no cpu threshold" >&2; exit 1; }
check() { echo "$opsbook --runbook $work/$1.yaml --state-dir $work/state-$1 daily-check --quiet"; }
# Both graded once, to show what each run grades.
for runbook in plain sampled; do
  echo "$runbook:" >&2
  $(check "$runbook") --format json | grep -o '"name": "\(cpu\|iowait\|network\)"' >&2 || true
done
hyperfine --warmup 2 --runs "${RUNS:-20}" -i --export-markdown "$here/cpu-sample.md" \
  -n without-sample "$(check plain)" \
  -n with-sample "$(check sampled)"
