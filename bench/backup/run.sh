#!/usr/bin/env bash
# Issue 5's and 16's benchmark, side by side in one hyperfine run on the same volume:
#   seed:    docker run --rm -v VOL:/data -v DIR:/backup busybox tar czf /backup/x.tar.gz -C /data .
#   archive: opsbook backup, read through Docker's archive endpoint (backup.read: archive)
#   direct:  opsbook backup, read from the volume's folder on the host (backup.read: direct)
#   limit:   tar cf - -C <volume mountpoint> . | zstd -T0 -3   (on the host, as root)
# then stored sizes and opsbook's peak RSS on both paths, appended to
# results.md; rss.sh does the RSS again at SIZE_GB=4.
# Needs a Docker engine and the fixture image (scripts/test.sh), hyperfine and zstd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
IMAGE="${IMAGE:-opsbook-fixture:1}"
RUNS="${RUNS:-3}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-backup
volume=opsbook-bench-backup_data
results="$here/results.md"
trap '"$here/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="${SIZE_GB:-1}" "$here/fill.sh"
mountpoint=$(docker volume inspect --format '{{.Mountpoint}}' $volume)
mkdir -p "$out/seed" "$out/opsbook" "$out/limit" "$out/state"
# BEFORE=<an older opsbook binary>: its archive-endpoint backup in the same run.
before=()
if [ -n "${BEFORE:-}" ]; then
  grep -v '^  read:' "$here/opsbook-archive.yaml" > "$out/before.yaml" # it knows no `read`
  before=(-n before "$BEFORE --runbook $out/before.yaml --state-dir $out/state backup --quiet")
fi
hyperfine --runs "$RUNS" --export-markdown "$results" "${before[@]}" \
  --prepare "rm -rf $out/seed/* $out/opsbook/* $out/opsbook/.[!.]* $out/limit/*" \
  -n seed "docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar czf /backup/x.tar.gz -C /data ." \
  -n archive "$opsbook --runbook $here/opsbook-archive.yaml --state-dir $out/state backup --quiet" \
  -n direct "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state backup --quiet" \
  -n limit "tar cf - -C $mountpoint . | zstd -q -T0 -3 > $out/limit/x.tar.zst"
# Stored sizes and peak RSS, one more run of each (hyperfine's prepare step cleared them).
rm -rf "$out"/seed/* "$out"/limit/*
docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar czf /backup/x.tar.gz -C /data .
tar cf - -C "$mountpoint" . | zstd -q -T0 -3 > "$out/limit/x.tar.zst"
{
  echo
  echo "SIZE_GB=${SIZE_GB:-1}, stored sizes (bytes) and opsbook's peak RSS:"
  echo
  echo "| what | stored bytes | peak RSS |"
  echo "|:---|---:|---:|"
  echo "| seed | $(stat -c %s "$out/seed/x.tar.gz") | |"
  for path in archive direct; do
    rm -rf "${out:?}"/opsbook/*
    runbook=opsbook.yaml; [ $path = archive ] && runbook=opsbook-archive.yaml
    /usr/bin/time -v "$opsbook" --runbook "$here/$runbook" --state-dir "$out/state" backup --quiet 2>"$out/time.txt"
    rss=$(grep "Maximum resident set size" "$out/time.txt" | awk '{print $NF}')
    echo "| $path | $(stat -c %s "$out"/opsbook/*/volume-data.tar.zst) | $((rss / 1024)) MiB |"
  done
  echo "| limit | $(stat -c %s "$out/limit/x.tar.zst") | |"
} | tee -a "$results"
