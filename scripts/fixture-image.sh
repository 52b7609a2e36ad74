#!/usr/bin/env bash
# Builds `opsbook-fixture:1`: FROM scratch plus Debian's static busybox, the
# image of the example deployment (examples/shop) and of the tests. No
# registry is reached. Needs a running Docker engine and /bin/busybox from
# Debian's busybox-static (installed here when run as root).
set -euo pipefail
IMAGE="opsbook-fixture:1"   # keep in step with tests/integration/support.rs
BUSYBOX=/bin/busybox
cd "$(dirname "$0")/.."

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
if ! [ -x "$BUSYBOX" ] || ! "$BUSYBOX" --list >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null
  else
    echo "fixture-image.sh: needs Debian's static busybox: sudo apt-get install busybox-static" >&2
    exit 1
  fi
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp tests/fixture/Dockerfile "$context/"
cp "$BUSYBOX" "$context/busybox"
echo "fixture-image.sh: building $IMAGE from scratch + static busybox" >&2
# The classic builder: Debian's engine has no buildx, and no registry is reached.
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$context" >/dev/null
