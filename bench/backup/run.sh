#!/usr/bin/env bash
# Issue 5's benchmark, side by side in one hyperfine run on the same volume:
#   seed:    docker run --rm -v VOL:/data -v DIR:/backup busybox tar czf /backup/x.tar.gz -C /data .
#   opsbook: opsbook backup (zstd -3, streamed from Docker's archive endpoint)
#   limit:   tar cf - -C <volume mountpoint> . | zstd -T0 -3   (on the host, as root)
# then stored sizes and opsbook's peak RSS; with SIZE_GB=4 again for RSS.
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
trap '"$here/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="${SIZE_GB:-1}" "$here/fill.sh"
mountpoint=$(docker volume inspect --format '{{.Mountpoint}}' $volume)
mkdir -p "$out/seed" "$out/opsbook" "$out/limit" "$out/state"
hyperfine --runs "$RUNS" --export-markdown "$here/results.md" \
  --prepare "rm -rf $out/seed/* $out/opsbook/* $out/opsbook/.[!.]* $out/limit/*" \
  -n seed "docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar czf /backup/x.tar.gz -C /data ." \
  -n opsbook "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state backup --quiet" \
  -n limit "tar cf - -C $mountpoint . | zstd -q -T0 -3 > $out/limit/x.tar.zst"
# Stored sizes, one more run of each (hyperfine's prepare step cleared them).
rm -rf "$out"/seed/* "$out"/opsbook/* "$out"/limit/*
docker run --rm -v $volume:/data -v $out/seed:/backup $IMAGE tar czf /backup/x.tar.gz -C /data .
tar cf - -C "$mountpoint" . | zstd -q -T0 -3 > "$out/limit/x.tar.zst"
/usr/bin/time -v "$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" backup --quiet 2>"$out/time.txt"
echo
echo "stored sizes (bytes):"
du -b "$out/seed/x.tar.gz" "$out"/opsbook/*/volume-data.tar.zst "$out/limit/x.tar.zst"
grep -E "Maximum resident set size|Elapsed" "$out/time.txt"
