#!/usr/bin/env bash
# Issue 37's benchmark, side by side in one run on the backup benchmark's
# volume (bench/backup/fill.sh: SIZE_GB GiB, a quarter random, the rest text):
#   first backup:  opsbook backup into a new repository, restic 0.14's backup
#                  into a new repository, and the host's tar | zstd -T0 -3
#   second backup: the same after 1 % of the data changed (10 MiB per GiB of
#                  random.bin overwritten), each into a copy of its repository
#                  as the first backup left it
# then each repository's growth from the second backup against the changed
# data compressed by zstd -3, and opsbook's peak RSS, appended to results.md.
# Needs a Docker engine and the fixture image (scripts/test.sh), hyperfine,
# zstd and restic.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
RUNS="${RUNS:-3}"
SIZE_GB="${SIZE_GB:-1}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-repo
volume=opsbook-bench-backup_data
results="$here/results.md"
trap '"$root/bench/backup/clean.sh"; rm -rf "$out"' EXIT
SIZE_GB="$SIZE_GB" "$root/bench/backup/fill.sh"
mountpoint=$(docker volume inspect --format '{{.Mountpoint}}' $volume)
rm -rf "$out"; mkdir -p "$out/state"
echo "bench password 4d1c" > "$out/password"
export RESTIC_PASSWORD_FILE="$out/password"
ops="$opsbook --runbook $here/opsbook.yaml --state-dir $out/state"
change_mb=$((SIZE_GB * 10))
change="dd if=/dev/urandom of=$mountpoint/random.bin bs=1M count=$change_mb conv=notrunc status=none"

# The repositories as a first backup leaves them (the second backups start from copies).
$ops backup init-repository --quiet
$ops backup --quiet
cp -a "$out/opsbook" "$out/opsbook.first"
restic init --repo "$out/restic" -q
restic backup --repo "$out/restic" -q "$mountpoint"
cp -a "$out/restic" "$out/restic.first"

hyperfine --runs "$RUNS" --export-markdown "$out/first.md" \
  -n "opsbook first" --prepare "rm -rf $out/opsbook && $ops backup init-repository --quiet" \
  "$ops backup --quiet" \
  -n "restic first" --prepare "rm -rf $out/restic && restic init --repo $out/restic -q" \
  "restic backup --repo $out/restic -q --no-cache $mountpoint" \
  -n "tar | zstd" --prepare "rm -f $out/limit.tar.zst" \
  "tar cf - -C $mountpoint . | zstd -q -T0 -3 > $out/limit.tar.zst"
hyperfine --runs "$RUNS" --export-markdown "$out/second.md" \
  -n "opsbook second" --prepare "rm -rf $out/opsbook && cp -a $out/opsbook.first $out/opsbook && $change" \
  "$ops backup --quiet" \
  -n "restic second" --prepare "rm -rf $out/restic && cp -a $out/restic.first $out/restic && $change" \
  "restic backup --repo $out/restic -q --no-cache $mountpoint"

# Growth: each repository as the first backup left it, one change, one second backup.
rm -rf "$out/opsbook" "$out/restic"
cp -a "$out/opsbook.first" "$out/opsbook"; cp -a "$out/restic.first" "$out/restic"
$change
head -c $((change_mb * 1024 * 1024)) "$mountpoint/random.bin" | zstd -q -3 > "$out/changed.zst"
before_ops=$(du -sb "$out/opsbook" | cut -f1); before_restic=$(du -sb "$out/restic" | cut -f1)
/usr/bin/time -v $ops backup --quiet 2>"$out/time-second.txt"
restic backup --repo "$out/restic" -q --no-cache "$mountpoint"
grow_ops=$(( $(du -sb "$out/opsbook" | cut -f1) - before_ops ))
grow_restic=$(( $(du -sb "$out/restic" | cut -f1) - before_restic ))
changed=$(stat -c %s "$out/changed.zst")
rm -rf "$out/opsbook"; $ops backup init-repository --quiet
/usr/bin/time -v $ops backup --quiet 2>"$out/time-first.txt"
rss() { echo $(( $(grep "Maximum resident set size" "$1" | awk '{print $NF}') / 1024 )); }
{
  echo
  echo "## SIZE_GB=$SIZE_GB, RUNS=$RUNS, $(date -u +%Y-%m-%d)"
  echo
  echo "First backup:"
  echo
  cat "$out/first.md"
  echo
  echo "Second backup, after $change_mb MiB of random.bin changed:"
  echo
  cat "$out/second.md"
  echo
  echo "| figure | opsbook | restic 0.14 |"
  echo "|:---|---:|---:|"
  echo "| repository after the first backup (bytes) | $before_ops | $before_restic |"
  echo "| growth from the second backup (bytes) | $grow_ops | $grow_restic |"
  echo "| the changed data, zstd -3 (bytes) | $changed | $changed |"
  echo "| opsbook peak RSS, first / second backup | $(rss "$out/time-first.txt") / $(rss "$out/time-second.txt") MiB | |"
} | tee -a "$results"
