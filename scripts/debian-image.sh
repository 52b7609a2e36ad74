#!/usr/bin/env bash
# Builds a test image from Debian's packages, so no registry is reached:
# `scripts/debian-image.sh NAME` builds `opsbook-NAME:test` from the recipe
# in tests/images/NAME/ (a `packages` list and a Dockerfile on top).
#   real: the real software the runbook tests run (PostgreSQL, Redis, nginx,
#         SQLite, Mosquitto, Prometheus, Alertmanager, Node.js and Python
#         with their database clients);
#   node: a Docker engine (Debian's docker.io) for the swarm tests' nodes,
#         run as privileged containers.
#
# Two layers, each cached by a hash of its recipe, so a second run reuses
# them: the base, `mmdebstrap` of the package list imported into Docker
# (a minute or two and up to 1 GB the first time), then a small
# `docker build` on top for the entrypoints and applications (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/debian-image.sh NAME (a folder of tests/images)}
recipe=tests/images/$name
TAG="opsbook-$name:test"    # keep in step with tests/integration/support.rs
say() { printf '[debian-image.sh %s] %s\n' "$name" "$*" >&2; }

packages=$(grep -v '^#' "$recipe/packages" | grep -v '^$' | paste -sd, -)
base_hash=$(printf '%s\n' "$packages" | sha256sum | cut -c1-12)
base="opsbook-$name-base:$base_hash"
full_hash=$( (echo "$base_hash"; cd "$recipe" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12)
image="opsbook-$name:$full_hash"

if docker image inspect "$image" >/dev/null 2>&1; then
  docker tag "$image" "$TAG"
  exit 0
fi
if ! docker image inspect "$base" >/dev/null 2>&1; then
  if ! command -v mmdebstrap >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { say "needs mmdebstrap: sudo apt-get install mmdebstrap"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null
  fi
  say "building $base from Debian bookworm: $packages (the first time takes a minute or two)"
  started=$(date +%s)
  mmdebstrap --quiet --variant=apt --include="$packages" bookworm - | docker import - "$base" >/dev/null
  say "$base built in $(( $(date +%s) - started ))s"
fi
say "building $image on $base"
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" -t "$image" "$recipe" >/dev/null
docker tag "$image" "$TAG"
