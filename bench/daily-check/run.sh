#!/usr/bin/env bash
# Issue 3's benchmark: `opsbook daily-check` (with every container's
# resources) against the by-hand script (with `docker stats --no-stream`) on
# the same 50-container deployment, side by side in one hyperfine run, then
# opsbook's peak RSS. Needs a Docker engine and the fixture image
# (scripts/test.sh provides both) and hyperfine (apt-get install hyperfine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
command -v hyperfine >/dev/null || { echo "needs hyperfine: apt-get install hyperfine" >&2; exit 1; }
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
state="$(mktemp -d)"
trap '"$here/down.sh"; rm -rf "$state"' EXIT
"$here/down.sh"
"$here/up.sh"
sleep 3   # let the healthchecks settle
check=("$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$state" daily-check)
"${check[@]}" --format json | grep -o '"status": "[a-z]*"' | sort | uniq -c >&2 || true
hyperfine --warmup 1 --runs "${RUNS:-10}" -i --export-markdown "$here/results.md" \
  -n by-hand "bash $here/by-hand.sh" \
  -n opsbook "${check[*]} --quiet"
echo >&2
# `|| true`: daily-check exits 1 on a warning, which is not the bench failing.
/usr/bin/time -v "${check[@]}" --quiet 2>&1 >/dev/null | grep -E "Maximum resident set size|Elapsed" >&2 || true
