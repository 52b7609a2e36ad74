#!/usr/bin/env bash
# Issue 16's restore benchmark, side by side in one hyperfine run on the
# volume of the backup benchmark (SIZE_GB GiB: a quarter random bytes, the
# rest log-like text), its service `db` running:
#   seed:    empty the volume, then
#            docker run --rm -v VOL:/data -v DIR:/backup busybox tar xzf /backup/x.tar.gz -C /data
#   direct:  opsbook restore latest --yes --no-safety-backup
#            (unpacked and verified in one pass beside the volume's data while
#            db runs, then db stopped, swapped in by rename, db started)
#   archive: the same with `backup.read: archive` (opsbook-archive.yaml):
#            verify, stop db, empty the volume, stream it back through
#            Docker's archive endpoint, start db
# then opsbook's peak RSS on the direct path and the downtime it reports
# (first stop to last start). DOWNTIME_ONLY=1 skips hyperfine (for
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
# db runs (and stops at once on SIGTERM): what a restore has to stop.
docker rm -f $project-db-1 >/dev/null
docker run -d --name $project-db-1 --label com.docker.compose.project=$project \
  --label com.docker.compose.service=db -v $volume:/data "$IMAGE" \
  sh -c 'trap "exit 0" TERM; sleep 1000000 & wait' >/dev/null
mkdir -p "$out/seed" "$out/state"
# One backup of each kind to restore from.
docker run --rm -v $volume:/data -v "$out/seed":/backup "$IMAGE" tar czf /backup/x.tar.gz -C /data .
"$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" backup --quiet
restore() {
  "$opsbook" --runbook "$here/$1" --state-dir "$out/state" restore latest --yes --no-safety-backup "${@:2}"
}
if [ -z "${DOWNTIME_ONLY:-}" ]; then
  empty="docker run --rm -v $volume:/data $IMAGE sh -c 'rm -rf /data/* /data/.[!.]* /data/..?*'"
  hyperfine --runs "$RUNS" --export-markdown "$out/hyperfine.md" \
    -n seed "$empty && docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar xzf /backup/x.tar.gz -C /data" \
    -n direct "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state restore latest --yes --no-safety-backup --quiet" \
    -n archive "$opsbook --runbook $here/opsbook-archive.yaml --state-dir $out/state restore latest --yes --no-safety-backup --quiet"
  cat "$out/hyperfine.md"
fi
for runbook in opsbook.yaml opsbook-archive.yaml; do
  /usr/bin/time -v "$opsbook" --runbook "$here/$runbook" --state-dir "$out/state" \
    restore latest --yes --no-safety-backup --format json >"$out/restore.json" 2>"$out/time.txt"
  echo "$runbook (SIZE_GB=$SIZE_GB): $(grep -E "Maximum resident set size" "$out/time.txt" | tr -s ' \t' ' ')," \
    "$(grep -E "Elapsed" "$out/time.txt" | tr -s ' \t' ' '), downtime_ms $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["restore"]["downtime_ms"])' "$out/restore.json")"
done
docker run --rm -v $volume:/data "$IMAGE" du -s /data
