#!/usr/bin/env bash
# opsbook serve under load, release build, on this machine's engine:
#  1. the agent's resident memory (VmRSS, sampled every 10 s) over
#     DURATION seconds (default 3600) of a daily-check every 5 seconds
#     against a 5-service deployment, with heal looking at all five every
#     2 s: first, peak and last sample;
#  2. /metrics and / at 50 concurrent connections for 20 s each (wrk,
#     loopback only): requests per second and the latency percentiles.
# Targets (issue 20): peak RSS at most 40 MiB and flat; p99 under 10 ms.
# Needs the fixture image (scripts/test.sh builds it) and wrk (apt-get).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-3600}"
PROJECT=opsbook-bench-serve
PORT="${PORT:-19808}"

command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
cargo build --release --locked -q
BIN="$PWD/target/release/opsbook"

work="$(mktemp -d)"
cleanup() {
  [ -n "${agent:-}" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
  docker rm -f $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
services=""
for n in 1 2 3 4 5; do
  docker run -d --name "$PROJECT-s$n-1" \
    --label "com.docker.compose.project=$PROJECT" --label "com.docker.compose.service=s$n" \
    --health-cmd true --health-interval 5s opsbook-fixture:1 sleep 1000000 >/dev/null
  services="$services  s$n: {}\n"
done
printf "version: 1\nproject: $PROJECT\nservices:\n${services}\
checks:\n  s1-answers:\n    exec: { service: s1, command: [\"true\"] }\n\
schedule:\n  daily-check: \"*/5 * * * * *\"\n\
heal: { services: [s1, s2, s3, s4, s5] }\n" > "$work/opsbook.yaml"
"$BIN" validate --runbook "$work/opsbook.yaml" >/dev/null

"$BIN" serve --runbook "$work/opsbook.yaml" --state-dir "$work/state" \
  --listen "127.0.0.1:$PORT" 2>"$work/agent.log" &
agent=$!
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 1
done

echo "== resident memory over ${DURATION}s of a daily-check every 5 s"
first="" peak=0 last=0 samples=0
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")
  [ -z "$first" ] && first=$rss
  [ "$rss" -gt "$peak" ] && peak=$rss
  last=$rss samples=$((samples + 1))
  sleep 10
done
runs=$(grep -c 'event=run ' "$work/agent.log" || true)
printf 'rss KiB: first %s, peak %s, last %s (%s samples, %s runs)\n' "$first" "$peak" "$last" "$samples" "$runs"

for path in /metrics /; do
  echo "== wrk -t2 -c50 -d20s http://127.0.0.1:$PORT$path"
  wrk -t2 -c50 -d20s --latency "http://127.0.0.1:$PORT$path" | sed -n '/Latency Distribution/,/Requests\/sec/p'
done
