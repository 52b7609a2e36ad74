#!/usr/bin/env bash
# Issue 6's benchmark, side by side in one hyperfine run on the volume of the
# backup benchmark (1 GiB: a quarter random bytes, the rest log-like text):
#   seed:    empty the volume, then
#            docker run --rm -v VOL:/data -v DIR:/backup busybox tar xzf /backup/x.tar.gz -C /data
#   opsbook: opsbook restore latest --yes --no-safety-backup
#            (verifies the backup first, empties the volume, streams it back
#            through Docker's archive endpoint)
# then opsbook's peak RSS. Needs a Docker engine and the fixture image
# (scripts/test.sh), and hyperfine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
IMAGE="${IMAGE:-opsbook-fixture:1}"
RUNS="${RUNS:-3}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-restore
volume=opsbook-bench-backup_data
trap '"$here/../backup/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="${SIZE_GB:-1}" "$here/../backup/fill.sh"
mkdir -p "$out/seed" "$out/state"
# One backup of each kind to restore from.
docker run --rm -v $volume:/data -v "$out/seed":/backup "$IMAGE" tar czf /backup/x.tar.gz -C /data .
"$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" backup --quiet
empty="docker run --rm -v $volume:/data $IMAGE sh -c 'rm -rf /data/* /data/.[!.]* /data/..?*'"
hyperfine --runs "$RUNS" --export-markdown "$here/results.md" \
  -n seed "$empty && docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar xzf /backup/x.tar.gz -C /data" \
  -n opsbook "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state restore latest --yes --no-safety-backup --quiet"
/usr/bin/time -v "$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" \
  restore latest --yes --no-safety-backup --quiet 2>"$out/time.txt"
grep -E "Maximum resident set size|Elapsed" "$out/time.txt"
docker run --rm -v $volume:/data "$IMAGE" du -s /data
