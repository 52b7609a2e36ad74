#!/usr/bin/env bash
# Issue 16's restore benchmark, side by side in one hyperfine run on the
# volume of the backup benchmark (SIZE_GB GiB: a quarter random bytes, the
# rest log-like text), its container stopped (the seed stops nothing):
#   seed:    empty the volume, then
#            docker run --rm -v VOL:/data -v DIR:/backup busybox tar xzf /backup/x.tar.gz -C /data
#   direct:  opsbook restore latest --yes --no-safety-backup
#            (unpacked and verified in one pass beside the volume's data,
#            swapped in by rename, the old data removed)
#   archive: the same with `backup.read: archive` (opsbook-archive.yaml):
#            verify, empty the volume, stream it back through Docker's
#            archive endpoint
# then opsbook's peak RSS, and with the service `db` running (a healthcheck
# that passes at once) the downtime opsbook reports on each path (first
# stop to last start, ready). DOWNTIME_ONLY=1 skips hyperfine (for
# SIZE_GB=4). Needs a Docker engine, the fixture image (scripts/test.sh),
# hyperfine, and root (the direct path).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
IMAGE="${IMAGE:-opsbook-fixture:1}"
RUNS="${RUNS:-3}"
SIZE_GB="${SIZE_GB:-1}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-restore
project=opsbook-bench-backup
volume=${project}_data
trap '"$here/../backup/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="$SIZE_GB" "$here/../backup/fill.sh"
mkdir -p "$out/seed" "$out/state"
# One backup of each kind to restore from.
docker run --rm -v $volume:/data -v "$out/seed":/backup "$IMAGE" tar czf /backup/x.tar.gz -C /data .
"$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" backup --quiet
if [ -z "${DOWNTIME_ONLY:-}" ]; then
  empty="docker run --rm -v $volume:/data $IMAGE sh -c 'rm -rf /data/* /data/.[!.]* /data/..?*'"
  # Each run starts with nothing left to write back (the runs before it wrote GiBs).
  hyperfine --runs "$RUNS" --prepare sync --export-markdown "$out/hyperfine.md" \
    -n seed "$empty && docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar xzf /backup/x.tar.gz -C /data" \
    -n direct "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state restore latest --yes --no-safety-backup --quiet" \
    -n archive "$opsbook --runbook $here/opsbook-archive.yaml --state-dir $out/state restore latest --yes --no-safety-backup --quiet"
  cat "$out/hyperfine.md"
fi
measure() {
  sync
  /usr/bin/time -v "$opsbook" --runbook "$here/$1" --state-dir "$out/state" \
    restore latest --yes --no-safety-backup --format json >"$out/restore.json" 2>"$out/time.txt"
  echo "$1 (SIZE_GB=$SIZE_GB, $2):$(grep -E "Maximum resident set size" "$out/time.txt" | tr -s ' \t' ' ')," \
    "$(grep -E "Elapsed" "$out/time.txt" | tr -s ' \t' ' '), downtime_ms $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["restore"]["downtime_ms"])' "$out/restore.json")"
}
measure opsbook.yaml "db stopped"
# db runs (stops at once on SIGTERM, healthy at once): what a restore has to stop.
docker rm -f $project-db-1 >/dev/null
docker run -d --name $project-db-1 --label com.docker.compose.project=$project \
  --label com.docker.compose.service=db -v $volume:/data \
  --health-cmd true --health-interval 200ms "$IMAGE" \
  sh -c 'trap "exit 0" TERM; sleep 1000000 & wait' >/dev/null
sleep 1
for runbook in opsbook.yaml opsbook-archive.yaml; do
  measure $runbook "db running"
done
docker run --rm -v $volume:/data "$IMAGE" du -s /data
