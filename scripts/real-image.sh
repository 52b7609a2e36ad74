#!/usr/bin/env bash
# Builds `opsbook-real:test`, the image of the real software the runbook
# tests run (PostgreSQL, Redis, nginx, SQLite, Mosquitto, Prometheus,
# Alertmanager, Node.js and Python with their database clients), from
# Debian's packages: no registry is reached. Recipe: tests/images/real/.
#
# Two layers, each cached by a hash of its recipe, so a second run reuses
# them: the base, `mmdebstrap` of the package list imported into Docker
# (about 1.5 min and 1 GB the first time), then a small `docker build` on top
# for the entrypoints and applications (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=tests/images/real
TAG="opsbook-real:test"     # keep in step with tests/integration/real.rs
say() { printf '[real-image.sh] %s\n' "$*" >&2; }

packages=$(grep -v '^#' "$recipe/packages" | grep -v '^$' | paste -sd, -)
base_hash=$(printf '%s\n' "$packages" | sha256sum | cut -c1-12)
base="opsbook-real-base:$base_hash"
full_hash=$( (echo "$base_hash"; cd "$recipe" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12)
image="opsbook-real:$full_hash"

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
