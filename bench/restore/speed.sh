#!/usr/bin/env bash
# Issue 33's restore speed benchmark: `opsbook restore latest --yes
# --no-safety-backup` (the direct path: unpacked and verified beside the
# volume's data, flushed, swapped in by rename, the old data removed)
# against the host's own unpack of the very archive opsbook stored, into the
# same filesystem, side by side in one hyperfine run, durable on both sides:
#   host:    zstd -dc STORED | tar -x -C <beside the volume's data> && sync
#   opsbook: opsbook restore latest --yes --no-safety-backup
# on the backup benchmark's mixed data (SIZE_GB GiB: a quarter random bytes,
# the rest log text in ~30 MiB files; bench/backup/fill.sh). Each run starts
# with nothing dirty (`sync`) and the host's folder removed. Run it with
# SIZE_GB=1 and SIZE_GB=2. Needs root, a Docker engine, the fixture image
# (scripts/test.sh), hyperfine and zstd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
RUNS="${RUNS:-5}"
SIZE_GB="${SIZE_GB:-1}"
cd "$root"
cargo build --release --locked -q
opsbook="${OPSBOOK:-$root/target/release/opsbook}"
out=/tmp/opsbook-bench-restore
project=opsbook-bench-backup
volume=${project}_data
trap '"$here/../backup/clean.sh"; rm -rf "$out" "${beside:-/nonexistent}"' EXIT
SIZE_GB="$SIZE_GB" "$here/../backup/fill.sh"
mkdir -p "$out/state"
"$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" backup --quiet
stored=$(ls -d "$out"/opsbook/bench-*/volume-data.tar.zst)
data=$(docker volume inspect --format '{{.Mountpoint}}' $volume)
beside="$(dirname "$data")/.bench-host"
echo "SIZE_GB=$SIZE_GB: stored $(du -h "$stored" | cut -f1), data $(du -sh "$data" | cut -f1)"
hyperfine --runs "$RUNS" --export-markdown "$out/hyperfine.md" \
  --prepare "rm -rf $beside; sync" \
  -n host "mkdir $beside && zstd -q -dc $stored | tar -x -C $beside && sync" \
  --prepare "rm -rf $beside; sync" \
  -n opsbook "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state restore latest --yes --no-safety-backup --quiet"
cat "$out/hyperfine.md"
# Where opsbook's time goes: its own timings of the phases, on one more run.
sync
"$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" restore latest --yes --no-safety-backup 2>&1 >/dev/null | sed 's/^/  /'
