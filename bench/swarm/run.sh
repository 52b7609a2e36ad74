#!/usr/bin/env bash
# Issue 22's figure: time from `opsbook startup` to a converged stack of N
# services (default 10, 2 replicas each, each with a healthcheck that
# passes after 1 s) against the docker CLI's own
# `docker stack deploy --detach=false` of the same stack, side by side in
# one hyperfine run. Both deploy from nothing: hyperfine's prepare step
# removes the stack and waits until its tasks and network are gone.
#
# The swarm is a single node, a Docker engine (Debian's docker.io) in a
# container of the local engine, as the tests run it (node `s1`, started
# here if it does not answer). Needs root, the fixture and node images
# (scripts/test.sh builds them), hyperfine, and a docker CLI with
# `stack deploy --detach` (25.0 or later).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
N="${N:-10}"
RUNS="${RUNS:-5}"
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q hyperfine >/dev/null
target="${TARGET:-$root/target}"
CARGO_TARGET_DIR="$target" cargo build --release --locked -q
opsbook="$target/release/opsbook"

dir=/tmp/opsbook-swarm/s1
H="unix://$dir/docker.sock"
if ! docker -H "$H" version >/dev/null 2>&1; then
  docker rm -f opsbook-swarm-s1 >/dev/null 2>&1 || true
  mkdir -p "$dir"
  # Every capability but CAP_SYS_RESOURCE (this sandbox grants no more),
  # the host's cgroups for the node's engine.
  docker run -d --name opsbook-swarm-s1 --hostname s1 \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run -v "$dir:/run/node" \
    opsbook-node:test --cgroup-parent /opsbook-swarm-s1 >/dev/null
  for _ in $(seq 1 60); do docker -H "$H" version >/dev/null 2>&1 && break; sleep 1; done
fi
[ "$(docker -H "$H" info --format '{{.Swarm.LocalNodeState}}')" = active ] || docker -H "$H" swarm init >/dev/null
docker save opsbook-fixture:1 | docker -H "$H" load >/dev/null

work="$(mktemp -d /tmp/opsbook-bench-swarm.XXXX)"
stack=bench
{
  echo 'version: "3.8"'
  echo 'services:'
  for n in $(seq 1 "$N"); do
    cat <<EOF
  svc$n:
    image: opsbook-fixture:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 1; done"]
    healthcheck: { test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 3 }
    deploy: { replicas: 2 }
EOF
  done
} > "$work/stack.yml"
{
  echo "version: 1"
  echo "project: $stack"
  echo "services:"
  for n in $(seq 1 "$N"); do echo "  svc$n: { critical: true }"; done
  echo "startup:"
  echo "  up: [docker, stack, deploy, -c, stack.yml, $stack]"
  echo "  timeout: 5m"
} > "$work/opsbook.yaml"

remove="docker -H $H stack rm $stack >/dev/null 2>&1 || true;
  while [ -n \"\$(docker -H $H ps -aq --filter label=com.docker.stack.namespace=$stack)\" ] \
     || docker -H $H network inspect ${stack}_default >/dev/null 2>&1; do sleep 0.2; done"
cd "$work"
DOCKER_HOST="$H" hyperfine --runs "$RUNS" --prepare "$remove" \
  --export-markdown "$work/result.md" \
  -n "opsbook startup" "$opsbook startup --quiet --format json > /dev/null" \
  -n "docker stack deploy --detach=false" "docker stack deploy --detach=false -c stack.yml $stack >/dev/null"
bash -c "$remove"
cat "$work/result.md"
rm -rf "$work"
