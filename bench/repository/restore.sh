#!/usr/bin/env bash
# Issue 37's restore figure, side by side in one hyperfine run on the backup
# benchmark's volume (SIZE_GB GiB), its container stopped:
#   seed:       empty the volume, then
#               docker run --rm -v VOL:/data -v DIR:/backup busybox tar xzf /backup/x.tar.gz -C /data
#   repository: opsbook restore latest --yes --no-safety-backup from the
#               restic repository (the snapshot read out and checked, then
#               unpacked beside the data and swapped in)
# then, with the service `db` running, opsbook's peak RSS and the downtime
# it reports. Needs a Docker engine, the fixture image (scripts/test.sh),
# hyperfine, and root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
IMAGE="${IMAGE:-opsbook-fixture:1}"
RUNS="${RUNS:-3}"
SIZE_GB="${SIZE_GB:-1}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-repo
project=opsbook-bench-backup
volume=${project}_data
trap '"$root/bench/backup/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="$SIZE_GB" "$root/bench/backup/fill.sh"
rm -rf "$out"; mkdir -p "$out/seed" "$out/state"
echo "bench password 4d1c" > "$out/password"
ops="$opsbook --runbook $here/opsbook.yaml --state-dir $out/state"
docker run --rm -v $volume:/data -v "$out/seed":/backup "$IMAGE" tar czf /backup/x.tar.gz -C /data .
$ops backup init-repository --quiet
$ops backup --quiet
empty="docker run --rm -v $volume:/data $IMAGE sh -c 'rm -rf /data/* /data/.[!.]* /data/..?*'"
hyperfine --runs "$RUNS" --prepare sync --export-markdown "$out/hyperfine.md" \
  -n seed "$empty && docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar xzf /backup/x.tar.gz -C /data" \
  -n repository "$ops restore latest --yes --no-safety-backup --quiet"
# db runs (stops at once on SIGTERM, healthy at once): what a restore has to stop.
docker rm -f $project-db-1 >/dev/null
docker run -d --name $project-db-1 --label com.docker.compose.project=$project \
  --label com.docker.compose.service=db -v $volume:/data \
  --health-cmd true --health-interval 200ms "$IMAGE" \
  sh -c 'trap "exit 0" TERM; sleep 1000000 & wait' >/dev/null
sleep 1
sync
/usr/bin/time -v $ops restore latest --yes --no-safety-backup --format json >"$out/restore.json" 2>"$out/time.txt"
{
  echo
  echo "## restore, SIZE_GB=$SIZE_GB, RUNS=$RUNS, $(date -u +%Y-%m-%d)"
  echo
  cat "$out/hyperfine.md"
  echo
  echo "With db running: peak RSS $(( $(grep "Maximum resident set size" "$out/time.txt" | awk '{print $NF}') / 1024 )) MiB," \
    "$(grep -E "Elapsed" "$out/time.txt" | tr -s ' \t' ' ' | sed 's/^ //'), downtime" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["restore"]["downtime_ms"])' "$out/restore.json") ms"
} | tee -a "$here/results.md"
