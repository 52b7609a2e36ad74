#!/usr/bin/env bash
# Issue 38's figure: the daily-check time the `images` part adds for 20
# services, its answers kept (cached) and not, side by side in one
# hyperfine run with the same daily-check without it. A real registry
# (Debian's docker-registry) on loopback holds 20 repositories; 20
# containers (compose-labelled, project opsbook-bench-images) run them.
# Needs a Docker engine, the fixture image (scripts/test.sh), hyperfine,
# docker-registry and root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
IMAGE="${IMAGE:-opsbook-fixture:1}"
RUNS="${RUNS:-10}"
N="${N:-20}"
cd "$root"
cargo build --release --locked -q
opsbook="$root/target/release/opsbook"
out=/tmp/opsbook-bench-images
project=opsbook-bench-images
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
registry=127.0.0.1:$port
clean() {
  docker ps -aq --filter label=com.docker.compose.project=$project | xargs -r docker rm -f >/dev/null
  docker images -q --filter reference="$registry/*" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null
  rm -rf "$out"
}
trap clean EXIT
rm -rf "$out"; mkdir -p "$out/data" "$out/state"
cat > "$out/config.yml" <<YAML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $out/data } }
http: { addr: $registry }
YAML
/usr/bin/docker-registry serve "$out/config.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
services=""
for i in $(seq 1 "$N"); do
  docker tag "$IMAGE" "$registry/app$i:1.0.0"
  docker push -q "$registry/app$i:1.0.0" >/dev/null
  docker run -d --name $project-s$i-1 --label com.docker.compose.project=$project \
    --label com.docker.compose.service=s$i "$registry/app$i:1.0.0" sleep 1000000 >/dev/null
  services="$services  s$i: {}\n"
done
printf "version: 1\nproject: $project\nservices:\n$services" > "$out/plain.yaml"
printf "version: 1\nproject: $project\nservices:\n${services}images: { check: true, interval: 6h }\n" > "$out/images.yaml"
check="daily-check --only containers,images --quiet --state-dir $out/state"
only="daily-check --only images --quiet --state-dir $out/state"
graded=$("$opsbook" --runbook "$out/images.yaml" daily-check --only images --format json --state-dir "$out/state" \
  | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["results"] if r["section"] == "images" and r["status"] == "ok"))' || true)
[ "$graded" = "$N" ] || { echo "expected $N images graded ok, got $graded" >&2; exit 1; }
drop="rm -rf $out/state/images"
hyperfine --runs "$RUNS" -i --export-markdown "$out/hyperfine.md" \
  --prepare true --prepare true --prepare "$drop" --prepare true --prepare "$drop" \
  -n "containers" "$opsbook --runbook $out/plain.yaml $check" \
  -n "containers + images, answers kept" "$opsbook --runbook $out/images.yaml $check" \
  -n "containers + images, registry asked" "$opsbook --runbook $out/images.yaml $check" \
  -n "images alone, answers kept" "$opsbook --runbook $out/images.yaml $only" \
  -n "images alone, registry asked" "$opsbook --runbook $out/images.yaml $only"
{
  echo
  echo "## daily-check with the images part, N=$N services, RUNS=$RUNS, $(date -u +%Y-%m-%d)"
  echo
  cat "$out/hyperfine.md"
} | tee -a "$here/results.md"
